//! Jobs fetched together run as one batch. Each job's handler runs as it
//! would alone, step by step, and its bytes move concurrently with the
//! others'; but its catalog reads and writes wait at the batch's barrier
//! until every job still running has one waiting too (or has finished),
//! then go to the catalog together: one multi-row read for the claims, one
//! commit with multi-row statements for the compare-and-sets, events and
//! releases. N jobs that take the same steps cost a constant number of
//! catalog round trips, not N.
//!
//! A job that ends (done, skipped, failed, timed out, panicked) leaves the
//! batch, so the others never wait for it; a request that has waited
//! [`MAX_WAIT`] for a slow job's copy is sent without it.

use super::JobError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use strata_core::artifact::Artifact;
use strata_core::committer::LifecycleWrite;
use strata_core::store::Store;
use tokio::sync::oneshot;

/// How long a request waits for the rest of its batch at most.
pub const MAX_WAIT: Duration = Duration::from_millis(250);

type ReadReply = oneshot::Sender<Result<Option<Artifact>, JobError>>;
type WriteReply = oneshot::Sender<Result<bool, JobError>>;

/// Requests waiting at the barrier.
#[derive(Default)]
struct Pending {
    reads: Vec<(i64, ReadReply)>,
    writes: Vec<(LifecycleWrite, WriteReply)>,
}

impl Pending {
    fn len(&self) -> usize {
        self.reads.len() + self.writes.len()
    }
}

struct State {
    /// Jobs of the batch still running.
    active: usize,
    pending: Pending,
    /// Counts the barrier's releases, so a timer set for an earlier round
    /// does not release a later one.
    round: u64,
}

/// The barrier shared by the jobs of one batch.
pub(super) struct Batch {
    store: Store,
    state: Mutex<State>,
}

impl Batch {
    pub(super) fn new(store: Store, jobs: usize) -> Arc<Self> {
        Arc::new(Self { store, state: Mutex::new(State { active: jobs, pending: Pending::default(), round: 0 }) })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads one artifact with the batch's other reads.
    pub(super) async fn read(self: &Arc<Self>, id: i64) -> Result<Option<Artifact>, JobError> {
        let (reply, answer) = oneshot::channel();
        self.wait(|p| p.reads.push((id, reply)));
        answer.await.unwrap_or_else(|_| Err(JobError::Transient("the batch's catalog read was lost".into())))
    }

    /// Applies one lifecycle write with the batch's other writes.
    pub(super) async fn write(self: &Arc<Self>, write: LifecycleWrite) -> Result<bool, JobError> {
        let (reply, answer) = oneshot::channel();
        self.wait(|p| p.writes.push((write, reply)));
        answer.await.unwrap_or_else(|_| Err(JobError::Transient("the batch's catalog write was lost".into())))
    }

    /// Adds a request to the barrier; releases the barrier when every
    /// running job waits at it, or sets the timer for the first request.
    fn wait(self: &Arc<Self>, add: impl FnOnce(&mut Pending)) {
        let mut state = self.lock();
        let first = state.pending.len() == 0;
        add(&mut state.pending);
        if state.pending.len() >= state.active {
            self.release(state);
        } else if first {
            let (batch, round) = (self.clone(), state.round);
            tokio::spawn(async move {
                tokio::time::sleep(MAX_WAIT).await;
                let state = batch.lock();
                if state.round == round && state.pending.len() > 0 {
                    batch.release(state);
                }
            });
        }
    }

    /// One job of the batch ended.
    pub(super) fn leave(self: &Arc<Self>) {
        let mut state = self.lock();
        state.active = state.active.saturating_sub(1);
        if state.pending.len() > 0 && state.pending.len() >= state.active {
            self.release(state);
        }
    }

    /// Sends what waits at the barrier, in a task of its own, so that no
    /// waiting job's end (a timeout, say) can cut the round trip short.
    fn release(&self, mut state: MutexGuard<'_, State>) {
        let pending = std::mem::take(&mut state.pending);
        state.round += 1;
        drop(state);
        tokio::spawn(send(self.store.clone(), pending));
    }
}

/// One catalog read for the waiting reads, one commit for the waiting writes.
async fn send(store: Store, pending: Pending) {
    let Pending { reads, writes } = pending;
    let read = async {
        if reads.is_empty() {
            return;
        }
        let ids: Vec<i64> = reads.iter().map(|(id, _)| *id).collect();
        match store.catalog().artifacts_by_id(&ids).await {
            Ok(found) => {
                let by_id: HashMap<i64, Artifact> = found.into_iter().map(|a| (a.id, a)).collect();
                for (id, reply) in reads {
                    let _ = reply.send(Ok(by_id.get(&id).cloned()));
                }
            }
            Err(e) => {
                let e = JobError::from(e);
                for (_, reply) in reads {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    };
    let write = async {
        if writes.is_empty() {
            return;
        }
        let (writes, replies): (Vec<LifecycleWrite>, Vec<WriteReply>) = writes.into_iter().unzip();
        match store.apply_many(writes).await {
            Ok(outcomes) => {
                for (outcome, reply) in outcomes.into_iter().zip(replies) {
                    let _ = reply.send(outcome.map_err(JobError::from));
                }
            }
            Err(e) => {
                let e = JobError::from(e);
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    };
    tokio::join!(read, write);
}

/// A job's place in its batch; the job leaves the batch when the last
/// clone of its context is dropped, however its handler ended.
pub(super) struct Member(pub(super) Arc<Batch>);

impl Drop for Member {
    fn drop(&mut self) {
        self.0.leave();
    }
}
