//! The embedded queue: a `jobs` table in the catalog's SQLite database.
//!
//! Rows are `ready` (fetchable once `available_at` has come; a future
//! `available_at` is a delayed retry), `leased` (with a lease token and
//! expiry) or `dead`. Every change takes the write lock up front.

use super::{DeadFilter, DeadLetter, DeadLetterRetention, Delivery, Failure, LaneStats, NewJob, Queue, QueueError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, QueryBuilder, Row};
use std::collections::BTreeMap;
use std::time::Duration;
use strata_core::clock::{SharedClock, from_millis, to_millis};

/// Rows per multi-row INSERT (6 bound values each, well under SQLite's limit).
const INSERT_CHUNK: usize = 500;

/// The SQLite-backed queue.
#[derive(Debug, Clone)]
pub struct SqliteQueue {
    pool: AnyPool,
    writer: AnyPool,
    clock: SharedClock,
    retention: DeadLetterRetention,
}

fn backend(e: sqlx::Error) -> QueueError {
    QueueError::Backend(e.to_string())
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn dead_from_row(row: &AnyRow) -> Result<DeadLetter, sqlx::Error> {
    Ok(DeadLetter {
        id: row.try_get::<i64, _>("id")?.to_string(),
        lane: row.try_get("lane")?,
        kind: row.try_get("kind")?,
        payload: row.try_get("payload")?,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        last_error: row.try_get::<Option<String>, _>("last_error")?.unwrap_or_default(),
        first_failed_at: row.try_get::<Option<i64>, _>("first_failed_at")?.map(from_millis),
        last_failed_at: row.try_get::<Option<i64>, _>("last_failed_at")?.map(from_millis),
    })
}

fn push_dead_filter(q: &mut QueryBuilder<Any>, filter: &DeadFilter) -> Result<(), QueueError> {
    if let Some(id) = &filter.id {
        let id: i64 = id.parse().map_err(|_| QueueError::NotFound(format!("id {id:?}")))?;
        q.push(" AND id = ").push_bind(id);
    }
    if let Some(lane) = &filter.lane {
        q.push(" AND lane = ").push_bind(lane.clone());
    }
    if let Some(kind) = &filter.kind {
        q.push(" AND kind = ").push_bind(kind.clone());
    }
    if let Some(from) = &filter.from {
        let from: i64 = from.parse().map_err(|_| QueueError::NotFound(format!("id {from:?}")))?;
        q.push(" AND id >= ").push_bind(from);
    }
    Ok(())
}

impl SqliteQueue {
    /// A queue reading through `pool` and writing through `writer` (the
    /// catalog's pools: its migrations created the `jobs` table).
    pub fn new(pool: AnyPool, writer: AnyPool, clock: SharedClock) -> Self {
        Self { pool, writer, clock, retention: DeadLetterRetention::default() }
    }

    /// Keeps dead letters by this count and age instead of the default.
    pub fn with_retention(mut self, retention: DeadLetterRetention) -> Self {
        self.retention = retention;
        self
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<usize, QueueError> {
        let now = to_millis(self.now());
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
        for chunk in jobs.chunks(INSERT_CHUNK) {
            let mut q =
                QueryBuilder::<Any>::new("INSERT INTO jobs (lane, kind, payload, state, enqueued_at, available_at) ");
            q.push_values(chunk, |mut b, job| {
                b.push_bind(&job.lane)
                    .push_bind(&job.kind)
                    .push_bind(&job.payload)
                    .push_bind("ready")
                    .push_bind(now)
                    .push_bind(now);
            });
            q.build().execute(&mut *tx).await.map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(jobs.len())
    }

    async fn fetch(&self, lanes: &[String], max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        let now = to_millis(self.now());
        let lease = uuid::Uuid::new_v4().to_string();
        let lease_until = now.saturating_add(millis(visibility));
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
        // Crash recovery: a lease that ran out makes its job fetchable again.
        sqlx::query("UPDATE jobs SET state = 'ready', lease_token = NULL, lease_until = NULL WHERE state = 'leased' AND lease_until < ?")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let mut out = Vec::new();
        for lane in lanes {
            let room = max.saturating_sub(out.len());
            if room == 0 {
                break;
            }
            let rows = sqlx::query(
                "UPDATE jobs SET state = 'leased', lease_token = ?, lease_until = ?, attempts = attempts + 1
                 WHERE id IN (SELECT id FROM jobs WHERE state = 'ready' AND lane = ? AND available_at <= ?
                              ORDER BY available_at, id LIMIT ?)
                 RETURNING id, lane, kind, payload, attempts, enqueued_at, first_failed_at",
            )
            .bind(&lease)
            .bind(lease_until)
            .bind(lane)
            .bind(now)
            .bind(room as i64)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
            for row in rows {
                out.push(Delivery {
                    id: row.try_get::<i64, _>("id").map_err(backend)?.to_string(),
                    lane: row.try_get("lane").map_err(backend)?,
                    kind: row.try_get("kind").map_err(backend)?,
                    payload: row.try_get("payload").map_err(backend)?,
                    attempts: row.try_get::<i64, _>("attempts").map_err(backend)? as u32,
                    lease: lease.clone(),
                    enqueued_at: from_millis(row.try_get("enqueued_at").map_err(backend)?),
                    first_failed_at: row
                        .try_get::<Option<i64>, _>("first_failed_at")
                        .map_err(backend)?
                        .map(from_millis),
                });
            }
        }
        tx.commit().await.map_err(backend)?;
        out.sort_by_key(|d| d.id.parse::<i64>().unwrap_or_default());
        Ok(out)
    }

    async fn ack(&self, deliveries: &[Delivery]) -> Result<(), QueueError> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let mut by_lease: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for d in deliveries {
            by_lease.entry(&d.lease).or_default().push(d.id.parse().unwrap_or(-1));
        }
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
        for (lease, ids) in by_lease {
            let ids = serde_json::to_string(&ids).unwrap_or_default();
            sqlx::query("DELETE FROM jobs WHERE lease_token = ? AND state = 'leased' AND id IN (SELECT value FROM json_each(?))")
                .bind(lease)
                .bind(ids)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn fail(&self, delivery: &Delivery, error: &str, failure: Failure) -> Result<(), QueueError> {
        let now = to_millis(self.now());
        let (state, available_at, given_back) = match failure {
            Failure::Retry(delay) => ("ready", now.saturating_add(millis(delay)), 0),
            Failure::Transient(delay) => ("ready", now.saturating_add(millis(delay)), 1),
            Failure::Dead => ("dead", now, 0),
        };
        sqlx::query(
            "UPDATE jobs SET state = ?, available_at = ?, attempts = MAX(attempts - ?, 0), lease_token = NULL,
                lease_until = NULL, last_error = ?, first_failed_at = COALESCE(first_failed_at, ?), last_failed_at = ?
             WHERE id = ? AND lease_token = ?",
        )
        .bind(state)
        .bind(available_at)
        .bind(given_back)
        .bind(error)
        .bind(now)
        .bind(now)
        .bind(delivery.id.parse::<i64>().unwrap_or(-1))
        .bind(&delivery.lease)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        if failure == Failure::Dead {
            let cutoff = now.saturating_sub(millis(self.retention.max_age));
            sqlx::query(
                "DELETE FROM jobs WHERE state = 'dead' AND lane = ?1 AND (last_failed_at < ?2 OR id IN
                    (SELECT id FROM jobs WHERE state = 'dead' AND lane = ?1 ORDER BY id DESC LIMIT -1 OFFSET ?3))",
            )
            .bind(&delivery.lane)
            .bind(cutoff)
            .bind(i64::try_from(self.retention.max_count).unwrap_or(i64::MAX))
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        }
        Ok(())
    }

    async fn extend(&self, delivery: &Delivery, visibility: Duration) -> Result<bool, QueueError> {
        let until = to_millis(self.now()).saturating_add(millis(visibility));
        let n = sqlx::query("UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_token = ? AND state = 'leased'")
            .bind(until)
            .bind(delivery.id.parse::<i64>().unwrap_or(-1))
            .bind(&delivery.lease)
            .execute(&self.writer)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok(n == 1)
    }

    async fn release(&self, deliveries: &[Delivery]) -> Result<(), QueueError> {
        let now = to_millis(self.now());
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
        for d in deliveries {
            sqlx::query(
                "UPDATE jobs SET state = 'ready', available_at = ?, lease_token = NULL, lease_until = NULL,
                    attempts = MAX(attempts - 1, 0)
                 WHERE id = ? AND lease_token = ?",
            )
            .bind(now)
            .bind(d.id.parse::<i64>().unwrap_or(-1))
            .bind(&d.lease)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn stats(&self) -> Result<Vec<LaneStats>, QueueError> {
        let now = to_millis(self.now());
        let rows = sqlx::query(
            "SELECT lane,
                SUM(state = 'ready' AND available_at <= ?1) AS waiting,
                SUM(state = 'leased') AS in_flight,
                SUM(state = 'ready' AND available_at > ?1) AS delayed,
                SUM(state = 'dead') AS dead,
                MIN(CASE WHEN state = 'ready' AND available_at <= ?1 THEN enqueued_at END) AS oldest
             FROM jobs GROUP BY lane ORDER BY lane",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|r| {
                let n = |c: &str| r.try_get::<i64, _>(c).map(|v| v as u64);
                Ok(LaneStats {
                    lane: r.try_get("lane")?,
                    waiting: n("waiting")?,
                    in_flight: n("in_flight")?,
                    delayed: n("delayed")?,
                    dead: n("dead")?,
                    oldest_waiting_secs: r
                        .try_get::<Option<i64>, _>("oldest")?
                        .map(|t| (now - t).max(0) as f64 / 1000.0),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(backend)
    }

    async fn dead_letters(&self, filter: &DeadFilter, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let mut q = QueryBuilder::<Any>::new(
            "SELECT id, lane, kind, payload, attempts, last_error, first_failed_at, last_failed_at FROM jobs WHERE state = 'dead'",
        );
        push_dead_filter(&mut q, filter)?;
        q.push(" ORDER BY id LIMIT ").push_bind(limit as i64);
        let rows = q.build().fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter().map(dead_from_row).collect::<Result<_, _>>().map_err(backend)
    }

    async fn retry_dead(&self, filter: &DeadFilter) -> Result<u64, QueueError> {
        let now = to_millis(self.now());
        let mut q = QueryBuilder::<Any>::new(
            "UPDATE jobs SET state = 'ready', attempts = 0, first_failed_at = NULL, last_failed_at = NULL, available_at = ",
        );
        q.push_bind(now);
        q.push(", enqueued_at = ").push_bind(now);
        q.push(" WHERE state = 'dead'");
        push_dead_filter(&mut q, filter)?;
        let n = q.build().execute(&self.writer).await.map_err(backend)?.rows_affected();
        if n == 0 && filter.id.is_some() {
            return Err(QueueError::NotFound(format!("id {}", filter.id.as_deref().unwrap_or_default())));
        }
        Ok(n)
    }

    async fn discard_dead(&self, filter: &DeadFilter) -> Result<u64, QueueError> {
        let mut q = QueryBuilder::<Any>::new("DELETE FROM jobs WHERE state = 'dead'");
        push_dead_filter(&mut q, filter)?;
        let n = q.build().execute(&self.writer).await.map_err(backend)?.rows_affected();
        if n == 0 && filter.id.is_some() {
            return Err(QueueError::NotFound(format!("id {}", filter.id.as_deref().unwrap_or_default())));
        }
        Ok(n)
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
        crate::queue::suite::run_all(|retention| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let path = dir_path.join(format!("q{n}.db"));
            async move {
                let catalog = Catalog::open(&path, 0).await.unwrap();
                let clock = ManualClock::new(Utc::now());
                let q = SqliteQueue::new(
                    catalog.sqlite_pool().clone(),
                    catalog.sqlite_writer().clone(),
                    Arc::new(clock.clone()),
                );
                let q: Box<dyn Queue> = Box::new(q.with_retention(retention));
                (q, clock)
            }
        })
        .await;
    }
}
