//! strata's queue contract: the [`Queue`] trait every backend implements and
//! the types it speaks, and what the crates above need of a queue without
//! running workers.
//!
//! Semantics every backend shares: batched enqueue; batched fetch that leases
//! each job for a visibility timeout and counts the delivery as an attempt;
//! an expired lease makes the job fetchable again (crash recovery); ack
//! deletes; a failure either delays the job (retry) or dead-letters it with
//! its last error; dead letters can be listed, retried and discarded.
//!
//! - [`sqlite::SqliteQueue`]: the embedded backend, over the core's job table
//!   in the catalog (the Redis backend lives in `strata-workers`).
//! - [`lanes`]: the lanes jobs go on and their depth.
//! - [`message`]: a planned job as a queue message.
//! - [`plan`]: planning what is due and enqueueing it; dry runs.
//! - [`notices`]: the webhook notices owed, and their delivery jobs.
//! - [`dead`]: an operator's retry or discard of dead letters.
//! - [`metrics`]: the Prometheus exposition of the durable state and of a
//!   pool's job counters.
//! - `suite` (feature `testing`): the behavioural suite every backend passes.

pub mod dead;
pub mod lanes;
pub mod message;
pub mod metrics;
pub mod notices;
pub mod plan;
pub mod sqlite;
#[cfg(any(test, feature = "testing"))]
pub mod suite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;

/// A queue operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The backend could not be reached or refused the operation.
    #[error("queue backend error: {0}")]
    Backend(String),
    /// A dead letter or job id is not known.
    #[error("no dead letter matches {0}")]
    NotFound(String),
}

/// A job to enqueue (the core's type: a planning pass on the embedded
/// catalog adds its jobs in its own transaction).
pub use strata_core::catalog::NewJob;

/// A fetched job, leased to this consumer until acked, failed or expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The job's id in its backend.
    pub id: String,
    /// Its lane.
    pub lane: String,
    /// Its kind.
    pub kind: String,
    /// Its payload.
    pub payload: String,
    /// Deliveries so far, including this one.
    pub attempts: u32,
    /// The lease this delivery holds; acks and failures must present it.
    pub lease: String,
    /// When it was first enqueued.
    pub enqueued_at: DateTime<Utc>,
    /// When a delivery of it first failed (`None` until one has): retries
    /// of transient failures are bounded by the time since.
    pub first_failed_at: Option<DateTime<Utc>>,
}

/// What to do with a failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Make it fetchable again after this delay.
    Retry(Duration),
    /// Make it fetchable again after this delay without counting this
    /// delivery as an attempt: it failed for a reason outside the job (a
    /// tier or the catalog unreachable), so only the time since its first
    /// failure bounds its retries.
    Transient(Duration),
    /// Move it to the dead letters.
    Dead,
}

/// Depth of one lane.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LaneStats {
    /// The lane (`priority`, `default` or a tenant's own).
    pub lane: String,
    /// Jobs ready to be fetched now.
    pub waiting: u64,
    /// Jobs leased to a worker.
    pub in_flight: u64,
    /// Failed jobs waiting out their retry delay.
    pub delayed: u64,
    /// Dead-lettered jobs.
    pub dead: u64,
    /// Age of the oldest waiting job, in seconds.
    pub oldest_waiting_secs: Option<f64>,
}

impl LaneStats {
    /// Jobs not yet finished (waiting, in flight or delayed).
    pub fn pending(&self) -> u64 {
        self.waiting + self.in_flight + self.delayed
    }
}

/// A job that exhausted its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// Its id.
    pub id: String,
    /// Its lane.
    pub lane: String,
    /// Its kind.
    pub kind: String,
    /// Its payload.
    pub payload: String,
    /// Deliveries made.
    pub attempts: u32,
    /// The last error.
    pub last_error: String,
    /// When it first failed.
    pub first_failed_at: Option<DateTime<Utc>>,
    /// When it last failed.
    pub last_failed_at: Option<DateTime<Utc>>,
}

/// How many dead letters a lane keeps, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadLetterRetention {
    /// The newest this many are kept per lane.
    pub max_count: u64,
    /// Older ones are dropped.
    pub max_age: Duration,
}

impl Default for DeadLetterRetention {
    fn default() -> Self {
        Self { max_count: 100_000, max_age: Duration::from_secs(30 * 86_400) }
    }
}

/// Which dead letters an operation applies to. Empty = all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadFilter {
    /// Only this id.
    pub id: Option<String>,
    /// Only this lane.
    pub lane: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this id and those listed after it (for paging: the id the next
    /// page starts at, which need not exist any more).
    pub from: Option<String>,
}

/// A durable job queue.
#[async_trait]
pub trait Queue: Send + Sync + std::fmt::Debug {
    /// Enqueues jobs in one batch; returns how many were enqueued.
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<usize, QueueError>;

    /// Leases up to `max` jobs, polling `lanes` in order (the first lane has
    /// priority), each for `visibility`. Jobs whose lease expired are fetched
    /// again. Returns at once, possibly with nothing.
    async fn fetch(&self, lanes: &[String], max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError>;

    /// Acknowledges finished deliveries (deleting the jobs). A delivery whose
    /// lease was lost is ignored.
    async fn ack(&self, deliveries: &[Delivery]) -> Result<(), QueueError>;

    /// Records a failed delivery: retry after a delay, or dead-letter it.
    async fn fail(&self, delivery: &Delivery, error: &str, failure: Failure) -> Result<(), QueueError>;

    /// Extends a delivery's lease; false when the lease was already lost. A
    /// backend may extend the lease of the delivery's whole fetch with it.
    async fn extend(&self, delivery: &Delivery, visibility: Duration) -> Result<bool, QueueError>;

    /// Gives deliveries back for immediate redelivery without counting the
    /// attempt (graceful shutdown).
    async fn release(&self, deliveries: &[Delivery]) -> Result<(), QueueError>;

    /// Depth of every lane that has or had jobs.
    async fn stats(&self) -> Result<Vec<LaneStats>, QueueError>;

    /// Lists dead letters, oldest first.
    async fn dead_letters(&self, filter: &DeadFilter, limit: usize) -> Result<Vec<DeadLetter>, QueueError>;

    /// Moves matching dead letters back to their lanes with fresh attempts.
    async fn retry_dead(&self, filter: &DeadFilter) -> Result<u64, QueueError>;

    /// Deletes matching dead letters.
    async fn discard_dead(&self, filter: &DeadFilter) -> Result<u64, QueueError>;

    /// The job table behind this queue when it lives in a catalog's
    /// database (the embedded queue): a planner on that catalog then commits
    /// its claims and their jobs in one transaction. `None` for a queue
    /// elsewhere.
    fn in_catalog(&self) -> Option<&strata_core::catalog::JobQueue> {
        None
    }
}
