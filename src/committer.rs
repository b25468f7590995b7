//! Group commit for lifecycle changes. Handlers hand their catalog changes
//! (a compare-and-set with its event, a blob release, a claim release) to one
//! committer task, which applies every change waiting at that moment in a
//! single write transaction. Each change keeps its own semantics; only the
//! commit is shared, so a burst of jobs costs one commit, not one each.

use crate::artifact::{Artifact, Codec, Tier};
use crate::catalog::{Catalog, WriteTx};
use crate::clock::SharedClock;
use crate::event::NewEvent;
use crate::id::TenantId;
use crate::store::StoreError;
use crate::tiers::{BlobRef, Tiers};
use tokio::sync::{mpsc, oneshot};

/// Most changes applied in one transaction.
const MAX_BATCH: usize = 512;

/// A blob a change needs present in a tier when it commits: a copy written
/// before the transaction, copied again from its source if a concurrent
/// release removed it.
#[derive(Debug, Clone)]
pub struct EnsureBlob {
    /// The tier.
    pub tier: Tier,
    /// Its encoding there.
    pub codec: Codec,
    /// The tier the copy came from (still holding the source until the switch).
    pub from_tier: Tier,
    /// The source's encoding.
    pub from_codec: Codec,
}

/// A compare-and-set of one artifact row with its event.
#[derive(Debug, Clone)]
pub struct Change {
    /// The row as it should become.
    pub artifact: Artifact,
    /// The generation the row must still have.
    pub expected_generation: i64,
    /// The job token the row must still carry.
    pub token: String,
    /// The event recorded when the change applies.
    pub event: NewEvent,
    /// Also end the job's claim (whether or not the change applied).
    pub release_claim: bool,
    /// A blob that must exist when the change commits.
    pub ensure_blob: Option<EnsureBlob>,
}

/// Deletion of a blob that no live artifact references any more, optionally
/// ending a job's claim in the same transaction.
#[derive(Debug, Clone)]
pub struct BlobRelease {
    /// Owning tenant.
    pub tenant: TenantId,
    /// The blob's digest.
    pub blake3: String,
    /// The tier it is in.
    pub tier: Tier,
    /// Its encoding there.
    pub codec: Codec,
    /// `(artifact id, token)` of a claim to end.
    pub claim: Option<(i64, String)>,
}

#[derive(Debug)]
enum Op {
    Change(Box<Change>),
    ReleaseBlob(BlobRelease),
    ReleaseClaim { id: i64, token: String },
}

type Request = (Op, oneshot::Sender<Result<bool, StoreError>>);

/// The handle to the committer task.
#[derive(Debug, Clone)]
pub struct Committer {
    tx: mpsc::Sender<Request>,
}

impl Committer {
    /// Starts the committer task for this catalog and these tiers.
    pub fn start(catalog: Catalog, tiers: Tiers, clock: SharedClock) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(catalog, tiers, clock, rx));
        Self { tx }
    }

    async fn submit(&self, op: Op) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((op, reply)).await.map_err(|_| StoreError::Committer("the committer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Committer("the committer dropped a change".into()))?
    }

    /// Applies a change; false when the row no longer matches (nothing changed).
    pub async fn apply(&self, change: Change) -> Result<bool, StoreError> {
        self.submit(Op::Change(Box::new(change))).await
    }

    /// Releases a blob if unreferenced; true when it was deleted.
    pub async fn release_blob(&self, release: BlobRelease) -> Result<bool, StoreError> {
        self.submit(Op::ReleaseBlob(release)).await
    }

    /// Ends a job's claim on an artifact; false when it no longer held it.
    pub async fn release_claim(&self, id: i64, token: &str) -> Result<bool, StoreError> {
        self.submit(Op::ReleaseClaim { id, token: token.to_owned() }).await
    }
}

async fn run(catalog: Catalog, tiers: Tiers, clock: SharedClock, mut rx: mpsc::Receiver<Request>) {
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let ops: Vec<&Op> = batch.iter().map(|(op, _)| op).collect();
        match apply_all(&catalog, &tiers, &clock, &ops).await {
            Ok(results) => {
                for ((_, reply), result) in batch.drain(..).zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            // One bad change must not fail the others: apply them one by one.
            Err(_) => {
                for (op, reply) in batch.drain(..) {
                    let result = apply_all(&catalog, &tiers, &clock, &[&op]).await.map(|r| r[0]);
                    let _ = reply.send(result);
                }
            }
        }
    }
}

async fn apply_all(
    catalog: &Catalog,
    tiers: &Tiers,
    clock: &SharedClock,
    ops: &[&Op],
) -> Result<Vec<bool>, StoreError> {
    let mut tx = catalog.begin_write().await?;
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        results.push(apply_one(&mut tx, tiers, clock, op).await?);
    }
    tx.commit().await?;
    Ok(results)
}

async fn apply_one(tx: &mut WriteTx, tiers: &Tiers, clock: &SharedClock, op: &Op) -> Result<bool, StoreError> {
    match op {
        Op::Change(c) => {
            let a = &c.artifact;
            if let Some(blob) = &c.ensure_blob {
                // Blobs are only released under this write lock: a copy still
                // present now stays until the change below references it.
                let dest = BlobRef { tenant: &a.tenant, blake3: &a.blake3, codec: blob.codec };
                if !tiers.exists(blob.tier, &dest).await? {
                    let source = BlobRef { codec: blob.from_codec, ..dest.clone() };
                    tiers.copy_verified(blob.from_tier, &source, blob.tier, blob.codec, a.size).await?;
                }
            }
            let saved = tx.save(a, c.expected_generation, Some(&c.token)).await?;
            if saved {
                tx.append_event(clock.now(), None, Some(a), &c.event).await?;
            }
            if c.release_claim {
                tx.release(a.id, &c.token).await?;
            }
            Ok(saved)
        }
        Op::ReleaseBlob(r) => {
            let unreferenced = tx.blob_refs(&r.tenant, &r.blake3, r.tier).await? == 0;
            if unreferenced {
                tiers.delete(r.tier, &BlobRef { tenant: &r.tenant, blake3: &r.blake3, codec: r.codec }).await?;
            }
            if let Some((id, token)) = &r.claim {
                tx.release(*id, token).await?;
            }
            Ok(unreferenced)
        }
        Op::ReleaseClaim { id, token } => Ok(tx.release(*id, token).await?),
    }
}
