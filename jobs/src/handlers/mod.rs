//! One handler per job kind. Every handler follows the same shape: check the
//! claim (token), re-check the decision against the job's planned time, do
//! the side effect, compare-and-set the catalog row with its event, clean up,
//! release the claim. Each step is safe to repeat, so a crash between any two
//! steps is repaired by running the job again.

mod batch;
mod delete;
mod eligibility;
mod erase;
mod purge;
mod scan;
mod tier_move;
mod webhook;

use crate::notify::Sender;
use crate::payload::{Job, JobKind};
use batch::{Batch, Member};
use std::sync::{Arc, OnceLock};
use strata_core::artifact::{Artifact, Codec, Tier};
use strata_core::catalog::CatalogError;
use strata_core::committer::{BlobRelease, Change, LifecycleWrite};
use strata_core::error_kind::ErrorKind;
use strata_core::id::TenantId;
use strata_core::store::{Store, StoreError};
use strata_core::tiers::TierError;

/// How a job ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The action was carried out.
    Done,
    /// The artifact no longer carries this job's token: a duplicate or
    /// superseded delivery, acknowledged as a no-op.
    Stale,
    /// The claim was valid but the action is no longer due (state changed).
    Skipped,
}

impl Outcome {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Stale => "stale",
            Outcome::Skipped => "skipped",
        }
    }
}

/// A job that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The cause lies outside the job (a tier or the catalog unreachable,
    /// an I/O error, a timeout): retried with backoff, without spending
    /// attempts, until `jobs.retry_horizon_secs` after the first failure.
    #[error("{0}")]
    Transient(String),
    /// Worth retrying a few times: retried with backoff until the kind's
    /// attempts are spent.
    #[error("{0}")]
    Retry(String),
    /// Retrying cannot help (corrupt source, missing blob, a bug): dead-letter at once.
    #[error("{0}")]
    Abort(String),
}

impl JobError {
    /// True for [`JobError::Abort`].
    pub fn is_abort(&self) -> bool {
        matches!(self, JobError::Abort(_))
    }

    /// True for [`JobError::Transient`].
    pub fn is_transient(&self) -> bool {
        matches!(self, JobError::Transient(_))
    }
}

impl From<StoreError> for JobError {
    /// Corrupt bytes abort; a transient cause retries without spending
    /// attempts; anything else retries within the kind's attempts (a missing
    /// blob too: its volume may be coming back, and while a whole tier is
    /// gone the pool makes the failure transient).
    fn from(e: StoreError) -> Self {
        match e.kind() {
            ErrorKind::Corrupt => JobError::Abort(e.to_string()),
            ErrorKind::Transient => JobError::Transient(e.to_string()),
            ErrorKind::NotFound
            | ErrorKind::Invalid
            | ErrorKind::Conflict
            | ErrorKind::Refused
            | ErrorKind::NoSpace
            | ErrorKind::Internal => JobError::Retry(e.to_string()),
        }
    }
}

impl From<CatalogError> for JobError {
    fn from(e: CatalogError) -> Self {
        JobError::from(StoreError::from(e))
    }
}

impl From<TierError> for JobError {
    fn from(e: TierError) -> Self {
        JobError::from(StoreError::from(e))
    }
}

/// A fault-injection hook: called with a step name between the steps of a
/// handler; an `Err` stops the handler there as a crash would.
pub type FailPoint = Arc<dyn Fn(&'static str) -> Result<(), String> + Send + Sync>;

/// What handlers run against.
#[derive(Clone)]
pub struct Context {
    /// The store.
    pub store: Store,
    /// Who the worker acts as in events.
    pub actor: String,
    failpoint: Option<FailPoint>,
    /// The batch this job runs in, if any.
    batch: Option<Arc<Member>>,
    /// The webhook sender, made at the first webhook job.
    sender: Arc<OnceLock<Result<Sender, String>>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("actor", &self.actor).finish_non_exhaustive()
    }
}

impl Context {
    /// A context acting as `actor`.
    pub fn new(store: Store, actor: &str) -> Self {
        Self { store, actor: actor.to_owned(), failpoint: None, batch: None, sender: Arc::default() }
    }

    /// One context for each of `jobs` jobs fetched together: their catalog
    /// reads and writes go to the catalog together (see [`run_batch`]).
    /// Each job leaves the batch when its context (and every clone of it)
    /// is dropped.
    pub fn batch(&self, jobs: usize) -> Vec<Context> {
        let batch = Batch::new(self.store.clone(), jobs);
        (0..jobs).map(|_| Self { batch: Some(Arc::new(Member(batch.clone()))), ..self.clone() }).collect()
    }

    /// Installs a fault-injection hook (tests and drills).
    pub fn with_failpoint(mut self, failpoint: FailPoint) -> Self {
        self.failpoint = Some(failpoint);
        self
    }

    /// The process's webhook sender.
    fn sender(&self) -> Result<&Sender, String> {
        self.sender.get_or_init(|| Sender::new(&self.store.config().webhooks)).as_ref().map_err(Clone::clone)
    }

    fn step(&self, name: &'static str) -> Result<(), JobError> {
        match &self.failpoint {
            Some(f) => f(name).map_err(|e| JobError::Retry(format!("stopped at {name}: {e}"))),
            None => Ok(()),
        }
    }

    /// Loads the artifact and checks this job's claim on it.
    async fn claimed(&self, job: &Job) -> Result<Option<Artifact>, JobError> {
        let a = match &self.batch {
            Some(member) => member.0.read(job.artifact_id).await?,
            None => match self.store.catalog().artifact(job.artifact_id).await {
                Ok(a) => Some(a),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e.into()),
            },
        };
        Ok(a.filter(|a| a.job_token.as_deref() == Some(job.token.as_str())))
    }

    /// Applies a lifecycle write, with the batch's others when in a batch.
    async fn write(&self, write: LifecycleWrite) -> Result<bool, JobError> {
        match &self.batch {
            Some(member) => member.0.write(write).await,
            None => Ok(self.store.apply_many(vec![write]).await?.pop().unwrap_or(Ok(false))?),
        }
    }

    /// A compare-and-set with its event; false when the row no longer matches.
    async fn apply(&self, change: Change) -> Result<bool, JobError> {
        self.write(LifecycleWrite::Change(Box::new(change))).await
    }

    /// Ends this job's claim.
    async fn release(&self, job: &Job) -> Result<(), JobError> {
        self.write(LifecycleWrite::ReleaseClaim { id: job.artifact_id, token: job.token.clone() }).await?;
        Ok(())
    }

    /// Deletes the blob from `tier` if no live artifact of the tenant
    /// references it there, ending this job's claim in the same commit.
    async fn release_blob(
        &self,
        job: &Job,
        tenant: &TenantId,
        blake3: &str,
        tier: Tier,
        codec: Codec,
    ) -> Result<bool, JobError> {
        let claim = Some((job.artifact_id, job.token.clone()));
        let release = BlobRelease { tenant: tenant.clone(), blake3: blake3.to_owned(), tier, codec, claim };
        self.write(LifecycleWrite::ReleaseBlob(release)).await
    }
}

/// Runs jobs fetched together as one batch (see [`Context::batch`]): each
/// job's outcome, in order.
pub async fn run_batch(ctx: &Context, jobs: &[Job]) -> Vec<Result<Outcome, JobError>> {
    let contexts = ctx.batch(jobs.len());
    futures::future::join_all(contexts.into_iter().zip(jobs).map(|(ctx, job)| async move { run(&ctx, job).await }))
        .await
}

/// Runs one job to completion.
pub async fn run(ctx: &Context, job: &Job) -> Result<Outcome, JobError> {
    if job.kind == JobKind::Webhook {
        return webhook::run(ctx, job).await;
    }
    let Some(artifact) = ctx.claimed(job).await? else {
        return Ok(Outcome::Stale);
    };
    match job.kind {
        JobKind::Promote | JobKind::Compress | JobKind::Restore => tier_move::run(ctx, job, artifact).await,
        JobKind::Eligibility => eligibility::run(ctx, job, artifact).await,
        JobKind::Purge => purge::run(ctx, job, artifact).await,
        JobKind::Scan => scan::run(ctx, job, artifact).await,
        JobKind::Erase => erase::run(ctx, job, artifact).await,
        JobKind::Webhook => webhook::run(ctx, job).await,
    }
}

/// The common data of a lifecycle event.
fn event_data(job: &Job, mut extra: serde_json::Value) -> serde_json::Value {
    if let Some(map) = extra.as_object_mut() {
        map.insert("job".into(), job.kind.as_str().into());
        map.insert("planned_for".into(), job.planned_for.to_rfc3339().into());
        map.insert("forced".into(), job.forced.into());
        map.insert("requested_by".into(), job.actor.clone().into());
    }
    extra
}

#[cfg(test)]
mod tests;
