//! The embedded job queue's table: `jobs`, in the catalog's SQLite file.
//! [`JobQueue`] is the narrow handle the workers' embedded queue wraps;
//! a planning transaction adds its jobs through [`WriteTx::insert_jobs`],
//! so that its claims and their jobs commit together.
//!
//! Rows are `ready` (fetchable once `available_at` has come; a future
//! `available_at` is a delayed retry), `leased` (with a lease token and
//! expiry) or `dead`. Every change takes the write lock up front.

use super::sql::{Builder, sql};
use super::{Catalog, CatalogError, Dialect, WriteTx};
use crate::clock::{from_millis, to_millis};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

/// Rows per multi-row INSERT (6 arguments each, well under SQLite's limit).
const INSERT_CHUNK: usize = 500;

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The lane (stream) it goes to.
    pub lane: String,
    /// The job kind's stable name.
    pub kind: String,
    /// The serialized payload.
    pub payload: String,
}

/// A job leased by [`JobQueue::fetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedJob {
    /// Its row id.
    pub id: i64,
    /// Its lane.
    pub lane: String,
    /// Its kind.
    pub kind: String,
    /// Its payload.
    pub payload: String,
    /// Deliveries so far, including this one.
    pub attempts: i64,
    /// When it was first enqueued.
    pub enqueued_at: DateTime<Utc>,
    /// When a delivery of it first failed, if one has.
    pub first_failed_at: Option<DateTime<Utc>>,
}

/// What becomes of a failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFailure {
    /// Fetchable again from this instant, the delivery counted as an attempt.
    Retry(DateTime<Utc>),
    /// Fetchable again from this instant, the attempt given back.
    Transient(DateTime<Utc>),
    /// A dead letter. Its lane then keeps the newest `keep` dead letters
    /// that failed at or after `since`.
    Dead {
        /// Dead letters kept per lane.
        keep: u64,
        /// Older dead letters are dropped.
        since: DateTime<Utc>,
    },
}

/// Counts of one lane's jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneCounts {
    /// The lane.
    pub lane: String,
    /// Ready to fetch now.
    pub waiting: u64,
    /// Leased.
    pub in_flight: u64,
    /// Waiting for a retry delay.
    pub delayed: u64,
    /// Dead letters.
    pub dead: u64,
    /// When the oldest waiting job was enqueued.
    pub oldest_waiting: Option<DateTime<Utc>>,
}

/// A dead letter's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadJob {
    /// Its row id.
    pub id: i64,
    /// Its lane.
    pub lane: String,
    /// Its kind.
    pub kind: String,
    /// Its payload.
    pub payload: String,
    /// Deliveries made.
    pub attempts: i64,
    /// The last error.
    pub last_error: String,
    /// When it first failed.
    pub first_failed_at: Option<DateTime<Utc>>,
    /// When it last failed.
    pub last_failed_at: Option<DateTime<Utc>>,
}

/// Which dead letters an operation applies to; empty: all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeadJobFilter<'a> {
    /// Only this id.
    pub id: Option<i64>,
    /// Only this lane.
    pub lane: Option<&'a str>,
    /// Only this kind.
    pub kind: Option<&'a str>,
    /// Only this id and those after it.
    pub from: Option<i64>,
}

impl DeadJobFilter<'_> {
    fn push(&self, q: &mut Builder) {
        if let Some(id) = self.id {
            q.push(" AND id = ").push_bind(id);
        }
        if let Some(lane) = self.lane {
            q.push(" AND lane = ").push_bind(lane.to_owned());
        }
        if let Some(kind) = self.kind {
            q.push(" AND kind = ").push_bind(kind.to_owned());
        }
        if let Some(from) = self.from {
            q.push(" AND id >= ").push_bind(from);
        }
    }
}

/// The embedded queue's table, in the catalog's SQLite database.
#[derive(Debug, Clone)]
pub struct JobQueue {
    catalog: Catalog,
}

impl Catalog {
    /// The embedded job queue, which lives in the embedded SQLite catalog;
    /// a PostgreSQL catalog has none (its jobs go through Redis).
    pub fn job_queue(&self) -> Result<JobQueue, CatalogError> {
        if self.dialect != Dialect::Sqlite {
            return Err(CatalogError::NotFound(format!(
                "the embedded job queue in {} (a PostgreSQL catalog needs the Redis queue)",
                self.location
            )));
        }
        Ok(JobQueue { catalog: self.clone() })
    }
}

fn dead_from_row(row: &AnyRow) -> Result<DeadJob, sqlx::Error> {
    Ok(DeadJob {
        id: row.try_get("id")?,
        lane: row.try_get("lane")?,
        kind: row.try_get("kind")?,
        payload: row.try_get("payload")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get::<Option<String>, _>("last_error")?.unwrap_or_default(),
        first_failed_at: row.try_get::<Option<i64>, _>("first_failed_at")?.map(from_millis),
        last_failed_at: row.try_get::<Option<i64>, _>("last_failed_at")?.map(from_millis),
    })
}

fn count(row: &AnyRow, column: &str) -> Result<u64, sqlx::Error> {
    Ok(u64::try_from(row.try_get::<Option<i64>, _>(column)?.unwrap_or(0)).unwrap_or(0))
}

impl WriteTx {
    /// Adds `jobs`, ready at `now`.
    pub(crate) async fn insert_jobs(&mut self, jobs: &[NewJob], now: DateTime<Utc>) -> Result<(), CatalogError> {
        let now = to_millis(now);
        for chunk in jobs.chunks(INSERT_CHUNK) {
            let mut q =
                Builder::new("INSERT INTO jobs (lane, kind, payload, state, enqueued_at, available_at) VALUES ");
            for (i, job) in chunk.iter().enumerate() {
                q.push(if i == 0 { "(" } else { ", (" });
                q.push_bind(job.lane.clone()).push(", ").push_bind(job.kind.clone()).push(", ");
                q.push_bind(job.payload.clone()).push(", 'ready', ").push_bind(now).push(", ").push_bind(now);
                q.push(")");
            }
            q.build(self.dialect)?.execute(&mut *self.tx).await?;
        }
        Ok(())
    }
}

impl JobQueue {
    /// Whether this queue's table is in `catalog`'s database (a planning
    /// pass on `catalog` can then add its jobs in its own transaction).
    pub fn is_in(&self, catalog: &Catalog) -> bool {
        catalog.dialect == Dialect::Sqlite && self.catalog.location == catalog.location
    }

    /// Adds `jobs`, ready at `now`, in one transaction.
    pub async fn enqueue(&self, jobs: &[NewJob], now: DateTime<Utc>) -> Result<(), CatalogError> {
        let mut tx = self.catalog.begin_write().await?;
        tx.insert_jobs(jobs, now).await?;
        tx.commit().await
    }

    /// Leases up to `max` ready jobs, taking `lanes` in order, under `lease`
    /// until `lease_until`, counting an attempt each; first, every lease that
    /// ran out before `now` makes its job ready again. In id order.
    pub async fn fetch(
        &self,
        lanes: &[String],
        max: usize,
        lease: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<LeasedJob>, CatalogError> {
        let (now, lease_until) = (to_millis(now), to_millis(lease_until));
        let mut tx = self.catalog.begin_write().await?;
        sqlx::query(sql("UPDATE jobs SET state = 'ready', lease_token = NULL, lease_until = NULL
             WHERE state = 'leased' AND lease_until < ?"))
        .bind(now)
        .execute(&mut *tx.tx)
        .await?;
        let mut out = Vec::new();
        for lane in lanes {
            let room = max.saturating_sub(out.len());
            if room == 0 {
                break;
            }
            let rows = sqlx::query(sql(
                "UPDATE jobs SET state = 'leased', lease_token = ?, lease_until = ?, attempts = attempts + 1
                 WHERE id IN (SELECT id FROM jobs WHERE state = 'ready' AND lane = ? AND available_at <= ?
                              ORDER BY available_at, id LIMIT ?)
                 RETURNING id, lane, kind, payload, attempts, enqueued_at, first_failed_at",
            ))
            .bind(lease)
            .bind(lease_until)
            .bind(lane.as_str())
            .bind(now)
            .bind(i64::try_from(room).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx.tx)
            .await?;
            for row in rows {
                out.push(LeasedJob {
                    id: row.try_get("id")?,
                    lane: row.try_get("lane")?,
                    kind: row.try_get("kind")?,
                    payload: row.try_get("payload")?,
                    attempts: row.try_get("attempts")?,
                    enqueued_at: from_millis(row.try_get("enqueued_at")?),
                    first_failed_at: row.try_get::<Option<i64>, _>("first_failed_at")?.map(from_millis),
                });
            }
        }
        tx.commit().await?;
        out.sort_by_key(|j| j.id);
        Ok(out)
    }

    /// Deletes the jobs `(id, lease)` still leased under their lease, in
    /// one transaction.
    pub async fn ack(&self, deliveries: &[(i64, &str)]) -> Result<(), CatalogError> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let mut by_lease: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (id, lease) in deliveries {
            by_lease.entry(lease).or_default().push(*id);
        }
        let mut tx = self.catalog.begin_write().await?;
        for (lease, ids) in by_lease {
            let ids = serde_json::Value::from(ids).to_string();
            sqlx::query(sql("DELETE FROM jobs WHERE lease_token = ? AND state = 'leased'
                 AND id IN (SELECT value FROM json_each(?))"))
            .bind(lease)
            .bind(ids)
            .execute(&mut *tx.tx)
            .await?;
        }
        tx.commit().await
    }

    /// Records the failure of job `id` under `lease`, at `now`, with `error`.
    pub async fn fail(
        &self,
        id: i64,
        lease: &str,
        lane: &str,
        error: &str,
        failure: JobFailure,
        now: DateTime<Utc>,
    ) -> Result<(), CatalogError> {
        let now = to_millis(now);
        let (state, available_at, given_back) = match failure {
            JobFailure::Retry(at) => ("ready", to_millis(at), 0),
            JobFailure::Transient(at) => ("ready", to_millis(at), 1),
            JobFailure::Dead { .. } => ("dead", now, 0),
        };
        sqlx::query(sql(
            "UPDATE jobs SET state = ?, available_at = ?, attempts = MAX(attempts - ?, 0), lease_token = NULL,
                lease_until = NULL, last_error = ?, first_failed_at = COALESCE(first_failed_at, ?), last_failed_at = ?
             WHERE id = ? AND lease_token = ?",
        ))
        .bind(state)
        .bind(available_at)
        .bind(given_back)
        .bind(error)
        .bind(now)
        .bind(now)
        .bind(id)
        .bind(lease)
        .execute(&self.catalog.writer)
        .await?;
        if let JobFailure::Dead { keep, since } = failure {
            sqlx::query(sql("DELETE FROM jobs WHERE state = 'dead' AND lane = ?1 AND (last_failed_at < ?2 OR id IN
                    (SELECT id FROM jobs WHERE state = 'dead' AND lane = ?1 ORDER BY id DESC LIMIT -1 OFFSET ?3))"))
            .bind(lane)
            .bind(to_millis(since))
            .bind(i64::try_from(keep).unwrap_or(i64::MAX))
            .execute(&self.catalog.writer)
            .await?;
        }
        Ok(())
    }

    /// Extends the lease of job `id` under `lease` to `until`; false when
    /// that lease was lost.
    pub async fn extend(&self, id: i64, lease: &str, until: DateTime<Utc>) -> Result<bool, CatalogError> {
        let n =
            sqlx::query(sql("UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_token = ? AND state = 'leased'"))
                .bind(to_millis(until))
                .bind(id)
                .bind(lease)
                .execute(&self.catalog.writer)
                .await?
                .rows_affected();
        Ok(n == 1)
    }

    /// Makes the jobs `(id, lease)` ready again at `now`, giving their
    /// attempts back, in one transaction.
    pub async fn release(&self, deliveries: &[(i64, &str)], now: DateTime<Utc>) -> Result<(), CatalogError> {
        let now = to_millis(now);
        let mut tx = self.catalog.begin_write().await?;
        for (id, lease) in deliveries {
            sqlx::query(sql(
                "UPDATE jobs SET state = 'ready', available_at = ?, lease_token = NULL, lease_until = NULL,
                    attempts = MAX(attempts - 1, 0)
                 WHERE id = ? AND lease_token = ?",
            ))
            .bind(now)
            .bind(*id)
            .bind(*lease)
            .execute(&mut *tx.tx)
            .await?;
        }
        tx.commit().await
    }

    /// Counts per lane that has jobs, as of `now`.
    pub async fn stats(&self, now: DateTime<Utc>) -> Result<Vec<LaneCounts>, CatalogError> {
        let rows = sqlx::query(sql("SELECT lane,
                SUM(state = 'ready' AND available_at <= ?1) AS waiting,
                SUM(state = 'leased') AS in_flight,
                SUM(state = 'ready' AND available_at > ?1) AS delayed,
                SUM(state = 'dead') AS dead,
                MIN(CASE WHEN state = 'ready' AND available_at <= ?1 THEN enqueued_at END) AS oldest
             FROM jobs GROUP BY lane ORDER BY lane"))
        .bind(to_millis(now))
        .fetch_all(&self.catalog.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LaneCounts {
                    lane: r.try_get("lane")?,
                    waiting: count(r, "waiting")?,
                    in_flight: count(r, "in_flight")?,
                    delayed: count(r, "delayed")?,
                    dead: count(r, "dead")?,
                    oldest_waiting: r.try_get::<Option<i64>, _>("oldest")?.map(from_millis),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(CatalogError::from)
    }

    /// Dead letters matching `filter`, oldest first, at most `limit`.
    pub async fn dead_letters(&self, filter: &DeadJobFilter<'_>, limit: usize) -> Result<Vec<DeadJob>, CatalogError> {
        let mut q = Builder::new(
            "SELECT id, lane, kind, payload, attempts, last_error, first_failed_at, last_failed_at FROM jobs \
             WHERE state = 'dead'",
        );
        filter.push(&mut q);
        q.push(" ORDER BY id LIMIT ").push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = q.build(self.catalog.dialect)?.fetch_all(&self.catalog.pool).await?;
        Ok(rows.iter().map(dead_from_row).collect::<Result<_, _>>()?)
    }

    /// Makes matching dead letters ready at `now` with fresh attempts;
    /// returns how many.
    pub async fn retry_dead(&self, filter: &DeadJobFilter<'_>, now: DateTime<Utc>) -> Result<u64, CatalogError> {
        let now = to_millis(now);
        let mut q = Builder::new(
            "UPDATE jobs SET state = 'ready', attempts = 0, first_failed_at = NULL, last_failed_at = NULL, \
             available_at = ",
        );
        q.push_bind(now).push(", enqueued_at = ").push_bind(now).push(" WHERE state = 'dead'");
        filter.push(&mut q);
        Ok(q.build(self.catalog.dialect)?.execute(&self.catalog.writer).await?.rows_affected())
    }

    /// Deletes matching dead letters; returns how many.
    pub async fn discard_dead(&self, filter: &DeadJobFilter<'_>) -> Result<u64, CatalogError> {
        let mut q = Builder::new("DELETE FROM jobs WHERE state = 'dead'");
        filter.push(&mut q);
        Ok(q.build(self.catalog.dialect)?.execute(&self.catalog.writer).await?.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ArtifactFilter;
    use crate::claims::{DueClaims, DueRequest};
    use crate::clock::{Clock, ManualClock};
    use crate::config::Config;
    use crate::id::{ArtifactKey, TenantId};
    use crate::store::{PutOptions, Store};
    use sqlx::Executor;
    use std::sync::Arc;

    /// The claims' jobs: one per claim on the default lane, carrying its
    /// artifact id and token.
    fn jobs(claims: &DueClaims) -> Vec<NewJob> {
        let payload = |c: &crate::claims::DueClaim| format!("{} {}", c.artifact.id, c.token.as_deref().unwrap_or(""));
        claims
            .claims
            .iter()
            .map(|c| NewJob { lane: "default".into(), kind: "promote".into(), payload: payload(c) })
            .collect()
    }

    #[tokio::test]
    async fn a_refused_enqueue_leaves_nothing_claimed_and_nothing_enqueued() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(Utc::now());
        let store = Store::open(dir.path(), Config::default(), Arc::new(clock.clone())).await.unwrap();
        store.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
        for i in 0..3 {
            let key = ArtifactKey::parse(&format!("acme/wf/a{i}")).unwrap();
            store.put(&key, format!("artifact {i}").as_bytes(), PutOptions::default()).await.unwrap();
        }
        let queue = store.catalog().job_queue().unwrap();
        let as_of = clock.now() + chrono::Duration::days(8);
        let request = DueRequest { as_of, limit: 100, dry_run: false, fence: None, actor: "test" };
        let summary = |_: &[crate::claims::DueClaim]| serde_json::json!({});

        // The queue's table refuses every row: the real insert fails inside
        // the planning transaction.
        let writer = &store.catalog().writer;
        writer
            .execute(
                "CREATE TRIGGER refuse_jobs BEFORE INSERT ON jobs BEGIN SELECT RAISE(ABORT, 'the queue refuses'); END",
            )
            .await
            .unwrap();
        let refused = store.claim_due_and_enqueue(&request, &queue, |_, _| true, summary, jobs).await;
        assert!(matches!(&refused, Err(e) if e.to_string().contains("the queue refuses")), "{refused:?}");
        let artifacts = store.list(&ArtifactFilter::default()).await.unwrap();
        assert_eq!(artifacts.len(), 3);
        assert!(artifacts.iter().all(|a| a.job_token.is_none()), "no artifact stays claimed: {artifacts:?}");
        assert!(store.catalog().last_run().await.unwrap().is_none(), "no run recorded");
        assert!(queue.stats(clock.now()).await.unwrap().is_empty(), "no job enqueued");

        // Once the queue takes rows again, the next pass claims the same
        // artifacts, and each job carries the token its artifact holds.
        writer.execute("DROP TRIGGER refuse_jobs").await.unwrap();
        let claimed = store.claim_due_and_enqueue(&request, &queue, |_, _| true, summary, jobs).await.unwrap();
        assert_eq!(claimed.claims.len(), 3);
        let lease = "lease";
        let fetched = queue.fetch(&["default".to_owned()], 10, lease, clock.now(), clock.now()).await.unwrap();
        let mut enqueued: Vec<String> = fetched.into_iter().map(|j| j.payload).collect();
        let mut stamped: Vec<String> = store
            .list(&ArtifactFilter::default())
            .await
            .unwrap()
            .into_iter()
            .map(|a| format!("{} {}", a.id, a.job_token.unwrap_or_default()))
            .collect();
        enqueued.sort();
        stamped.sort();
        assert_eq!(enqueued, stamped, "one job per claim, with its token");
    }

    #[tokio::test]
    async fn a_queue_in_another_database_cannot_commit_with_the_claims() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Config::default(), Arc::new(ManualClock::new(Utc::now()))).await.unwrap();
        let elsewhere = Catalog::open(&dir.path().join("queue.db"), 0).await.unwrap().job_queue().unwrap();
        assert!(!elsewhere.is_in(store.catalog()) && store.catalog().job_queue().unwrap().is_in(store.catalog()));
        let request = DueRequest { as_of: store.now(), limit: 100, dry_run: false, fence: None, actor: "test" };
        let refused =
            store.claim_due_and_enqueue(&request, &elsewhere, |_, _| true, |_| serde_json::json!({}), jobs).await;
        assert!(matches!(refused, Err(CatalogError::Conflict(_))), "{refused:?}");
    }
}
