//! The embedded queue: the `jobs` table in the catalog's SQLite database,
//! through the core's [`JobQueue`] handle (which holds its statements).
//! Its planner commits claims and their jobs in one transaction (see
//! [`Queue::in_catalog`]).

use crate::{DeadFilter, DeadLetter, DeadLetterRetention, Delivery, Failure, LaneStats, NewJob, Queue, QueueError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;
use strata_core::catalog::{CatalogError, DeadJob, DeadJobFilter, JobFailure, JobQueue};
use strata_core::clock::SharedClock;

/// The SQLite-backed queue.
#[derive(Debug, Clone)]
pub struct SqliteQueue {
    jobs: JobQueue,
    clock: SharedClock,
    retention: DeadLetterRetention,
}

fn backend(e: CatalogError) -> QueueError {
    QueueError::Backend(e.to_string())
}

/// `at + d`, or the latest instant when that is out of range.
fn after(at: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d).ok().and_then(|d| at.checked_add_signed(d)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `at - d`, or the earliest instant when that is out of range.
fn before(at: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d).ok().and_then(|d| at.checked_sub_signed(d)).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A job id as the table has it; an id that is not a number matches no row.
fn row_id(id: &str) -> i64 {
    id.parse().unwrap_or(-1)
}

fn dead_letter(d: DeadJob) -> DeadLetter {
    DeadLetter {
        id: d.id.to_string(),
        lane: d.lane,
        kind: d.kind,
        payload: d.payload,
        attempts: u32::try_from(d.attempts).unwrap_or(u32::MAX),
        last_error: d.last_error,
        first_failed_at: d.first_failed_at,
        last_failed_at: d.last_failed_at,
    }
}

/// The core's filter for `filter`; an id that is not a number is unknown.
fn dead_filter(filter: &DeadFilter) -> Result<DeadJobFilter<'_>, QueueError> {
    let id = |id: &str| id.parse::<i64>().map_err(|_| QueueError::NotFound(format!("id {id:?}")));
    Ok(DeadJobFilter {
        id: filter.id.as_deref().map(id).transpose()?,
        lane: filter.lane.as_deref(),
        kind: filter.kind.as_deref(),
        from: filter.from.as_deref().map(id).transpose()?,
    })
}

impl SqliteQueue {
    /// The queue in `jobs` (the catalog's [`strata_core::catalog::Catalog::job_queue`]),
    /// on `clock`.
    pub fn new(jobs: JobQueue, clock: SharedClock) -> Self {
        Self { jobs, clock, retention: DeadLetterRetention::default() }
    }

    /// Keeps dead letters by this count and age instead of the default.
    pub fn with_retention(mut self, retention: DeadLetterRetention) -> Self {
        self.retention = retention;
        self
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A missing dead letter named by id is an error; a filter without one
    /// matches what it matches.
    fn found(filter: &DeadFilter, n: u64) -> Result<u64, QueueError> {
        if n == 0 && filter.id.is_some() {
            return Err(QueueError::NotFound(format!("id {}", filter.id.as_deref().unwrap_or_default())));
        }
        Ok(n)
    }
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<usize, QueueError> {
        self.jobs.enqueue(jobs, self.now()).await.map_err(backend)?;
        Ok(jobs.len())
    }

    async fn fetch(&self, lanes: &[String], max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        let now = self.now();
        let lease = uuid::Uuid::new_v4().to_string();
        let leased = self.jobs.fetch(lanes, max, &lease, now, after(now, visibility)).await.map_err(backend)?;
        Ok(leased
            .into_iter()
            .map(|j| Delivery {
                id: j.id.to_string(),
                lane: j.lane,
                kind: j.kind,
                payload: j.payload,
                attempts: u32::try_from(j.attempts).unwrap_or(u32::MAX),
                lease: lease.clone(),
                enqueued_at: j.enqueued_at,
                first_failed_at: j.first_failed_at,
            })
            .collect())
    }

    async fn ack(&self, deliveries: &[Delivery]) -> Result<(), QueueError> {
        let done: Vec<(i64, &str)> = deliveries.iter().map(|d| (row_id(&d.id), d.lease.as_str())).collect();
        self.jobs.ack(&done).await.map_err(backend)
    }

    async fn fail(&self, delivery: &Delivery, error: &str, failure: Failure) -> Result<(), QueueError> {
        let now = self.now();
        let failure = match failure {
            Failure::Retry(delay) => JobFailure::Retry(after(now, delay)),
            Failure::Transient(delay) => JobFailure::Transient(after(now, delay)),
            Failure::Dead => {
                JobFailure::Dead { keep: self.retention.max_count, since: before(now, self.retention.max_age) }
            }
        };
        let id = row_id(&delivery.id);
        self.jobs.fail(id, &delivery.lease, &delivery.lane, error, failure, now).await.map_err(backend)
    }

    async fn extend(&self, delivery: &Delivery, visibility: Duration) -> Result<bool, QueueError> {
        let until = after(self.now(), visibility);
        self.jobs.extend(row_id(&delivery.id), &delivery.lease, until).await.map_err(backend)
    }

    async fn release(&self, deliveries: &[Delivery]) -> Result<(), QueueError> {
        let given: Vec<(i64, &str)> = deliveries.iter().map(|d| (row_id(&d.id), d.lease.as_str())).collect();
        self.jobs.release(&given, self.now()).await.map_err(backend)
    }

    async fn stats(&self) -> Result<Vec<LaneStats>, QueueError> {
        let now = self.now();
        let lanes = self.jobs.stats(now).await.map_err(backend)?;
        Ok(lanes
            .into_iter()
            .map(|l| LaneStats {
                lane: l.lane,
                waiting: l.waiting,
                in_flight: l.in_flight,
                delayed: l.delayed,
                dead: l.dead,
                oldest_waiting_secs: l.oldest_waiting.map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0),
            })
            .collect())
    }

    async fn dead_letters(&self, filter: &DeadFilter, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let dead = self.jobs.dead_letters(&dead_filter(filter)?, limit).await.map_err(backend)?;
        Ok(dead.into_iter().map(dead_letter).collect())
    }

    async fn retry_dead(&self, filter: &DeadFilter) -> Result<u64, QueueError> {
        let n = self.jobs.retry_dead(&dead_filter(filter)?, self.now()).await.map_err(backend)?;
        Self::found(filter, n)
    }

    async fn discard_dead(&self, filter: &DeadFilter) -> Result<u64, QueueError> {
        let n = self.jobs.discard_dead(&dead_filter(filter)?).await.map_err(backend)?;
        Self::found(filter, n)
    }

    fn in_catalog(&self) -> Option<&JobQueue> {
        Some(&self.jobs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use strata_core::catalog::Catalog;
    use strata_core::clock::ManualClock;

    #[tokio::test]
    async fn passes_the_shared_queue_suite() {
        let dir = tempfile::tempdir().unwrap();
        let counter = std::sync::atomic::AtomicUsize::new(0);
        let dir_path = dir.path().to_owned();
        crate::suite::run_all(|retention| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let path = dir_path.join(format!("q{n}.db"));
            async move {
                let catalog = Catalog::open(&path, 0).await.unwrap();
                let clock = ManualClock::new(Utc::now());
                let q = SqliteQueue::new(catalog.job_queue().unwrap(), Arc::new(clock.clone()));
                let q: Box<dyn Queue> = Box::new(q.with_retention(retention));
                (q, clock)
            }
        })
        .await;
    }
}
