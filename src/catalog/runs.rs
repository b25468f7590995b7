//! Lifecycle runs carried out by workers: each finished job is counted once
//! per run, and the worker that finishes a run's last job records its
//! outcome and duration; the eligibility-to-action lag of every action; and
//! the dead-lettered marker on artifacts.

use super::sql::{Builder, sql};
use super::{Catalog, CatalogError, WriteTx};
use crate::clock::{from_millis, to_millis};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

/// Most rows in one statement.
const CHUNK: usize = 256;

/// A job of a lifecycle run that finished: done, skipped or stale
/// (`failed` false), or dead-lettered (`failed` true).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedJob {
    /// The run that planned it.
    pub run_id: i64,
    /// Its claim token (a duplicate delivery carries the same one).
    pub token: String,
    /// Whether it was dead-lettered.
    pub failed: bool,
}

/// A run whose last job just finished.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletedRun {
    /// The run.
    pub id: i64,
    /// `success`, or `failure` when any of its jobs was dead-lettered.
    pub status: &'static str,
    /// From planning to its last job finishing.
    pub duration: std::time::Duration,
}

/// One histogram read from the catalog: counts at or under each bound, then
/// the total count and the sum.
pub type HistogramCounts = (Vec<i64>, i64, f64);

impl WriteTx {
    /// Counts finished jobs towards their runs (once per run and token; a
    /// job that finishes after its dead letter was retried counts as not
    /// failed) and ends each run whose last job this was, at `now`.
    pub async fn finish_jobs(
        &mut self,
        now: DateTime<Utc>,
        jobs: &[FinishedJob],
    ) -> Result<Vec<CompletedRun>, CatalogError> {
        let mut by_run: BTreeMap<i64, Vec<&FinishedJob>> = BTreeMap::new();
        for job in jobs {
            by_run.entry(job.run_id).or_default().push(job);
        }
        let mut completed = Vec::new();
        for (run_id, jobs) in by_run {
            // The run's row is locked until commit (runs in id order), so
            // writers finishing jobs of the same run take turns on its counts.
            let text = format!(
                "SELECT n_planned, n_finished, n_failed, started_at FROM lifecycle_runs WHERE id = ? AND status IS NULL{}",
                self.dialect.for_update()
            );
            let Some(row) = sqlx::query(sql(&text)).bind(run_id).fetch_optional(&mut *self.tx).await? else {
                continue;
            };
            let (planned, mut finished, mut failed): (i64, i64, i64) =
                (row.try_get("n_planned")?, row.try_get("n_finished")?, row.try_get("n_failed")?);
            let started_at: i64 = row.try_get("started_at")?;
            // A token finished twice counts once, failed only if failed each time.
            let mut tokens: BTreeMap<&str, bool> = BTreeMap::new();
            for job in jobs {
                *tokens.entry(job.token.as_str()).or_insert(true) &= job.failed;
            }
            let tokens: Vec<(&str, bool)> = tokens.into_iter().collect();
            let inserted = self.insert_finished(run_id, &tokens).await?;
            let mut again = Vec::new();
            for (token, job_failed) in &tokens {
                if inserted.contains(*token) {
                    finished += 1;
                    failed += i64::from(*job_failed);
                } else if !job_failed {
                    again.push(*token);
                }
            }
            failed -= self.clear_failed(run_id, &again).await?;
            if finished < planned {
                sqlx::query(sql("UPDATE lifecycle_runs SET n_finished = ?, n_failed = ? WHERE id = ?"))
                    .bind(finished)
                    .bind(failed)
                    .bind(run_id)
                    .execute(&mut *self.tx)
                    .await?;
                continue;
            }
            let status = if failed > 0 { "failure" } else { "success" };
            let ms = (to_millis(now) - started_at).max(0);
            sqlx::query(sql(
                "UPDATE lifecycle_runs SET n_finished = ?, n_failed = ?, status = ?, finished_at = ?, duration_ms = ?
                 WHERE id = ?",
            ))
            .bind(finished)
            .bind(failed)
            .bind(status)
            .bind(to_millis(now))
            .bind(ms as f64)
            .bind(run_id)
            .execute(&mut *self.tx)
            .await?;
            sqlx::query(sql("DELETE FROM run_jobs_finished WHERE run_id = ?"))
                .bind(run_id)
                .execute(&mut *self.tx)
                .await?;
            completed.push(CompletedRun {
                id: run_id,
                status,
                duration: std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
            });
        }
        Ok(completed)
    }

    /// Records `tokens` (with whether each failed) as finished jobs of
    /// `run_id`, one statement per [`CHUNK`]; returns the tokens not
    /// recorded before.
    async fn insert_finished(
        &mut self,
        run_id: i64,
        tokens: &[(&str, bool)],
    ) -> Result<BTreeSet<String>, CatalogError> {
        let mut inserted = BTreeSet::new();
        for chunk in tokens.chunks(CHUNK) {
            let mut q = Builder::new("INSERT INTO run_jobs_finished (run_id, token, failed) VALUES ");
            for (n, (token, failed)) in chunk.iter().enumerate() {
                q.push(if n == 0 { "(" } else { ", (" }).push_bind(run_id).push(", ");
                q.push_bind((*token).to_owned()).push(", ").push_bind(i64::from(*failed)).push(")");
            }
            q.push(" ON CONFLICT DO NOTHING RETURNING token");
            for row in q.build(self.dialect)?.fetch_all(&mut *self.tx).await? {
                inserted.insert(row.try_get::<String, _>("token")?);
            }
        }
        Ok(inserted)
    }

    /// Marks `tokens` of `run_id`, recorded as failed, as not failed (their
    /// dead letters were retried and succeeded); returns how many were.
    async fn clear_failed(&mut self, run_id: i64, tokens: &[&str]) -> Result<i64, CatalogError> {
        let mut cleared = 0;
        for chunk in tokens.chunks(CHUNK) {
            let mut q = Builder::new("UPDATE run_jobs_finished SET failed = 0 WHERE run_id = ");
            q.push_bind(run_id).push(" AND failed = 1 AND token IN (");
            q.push_binds(chunk.iter().map(|t| (*t).to_owned())).push(")");
            cleared += i64::try_from(q.build(self.dialect)?.execute(&mut *self.tx).await?.rows_affected()).unwrap_or(0);
        }
        Ok(cleared)
    }

    /// Records how long after becoming due actions of each kind took
    /// effect, one statement per [`CHUNK`].
    pub async fn record_lags(&mut self, lags: &[(String, f64)]) -> Result<(), CatalogError> {
        for chunk in lags.chunks(CHUNK) {
            let mut q = Builder::new("INSERT INTO eligibility_lags (kind, seconds) VALUES ");
            for (n, (kind, seconds)) in chunk.iter().enumerate() {
                q.push(if n == 0 { "(" } else { ", (" }).push_bind(kind.clone()).push(", ");
                q.push_bind(*seconds).push(")");
            }
            q.build(self.dialect)?.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Marks artifact `id` dead-lettered at `at`, while it still carries the
    /// claim `token` of the dead-lettered job.
    pub async fn mark_dead_lettered(&mut self, id: i64, token: &str, at: DateTime<Utc>) -> Result<(), CatalogError> {
        sqlx::query(sql(
            "UPDATE artifacts SET dead_letter_token = job_token, dead_lettered_at = ? WHERE id = ? AND job_token = ?",
        ))
        .bind(to_millis(at))
        .bind(id)
        .bind(token)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

impl Catalog {
    /// [`WriteTx::finish_jobs`] and [`WriteTx::record_lags`] in one
    /// transaction, beside writers on any tenant (it appends no event).
    pub async fn finish_jobs(
        &self,
        now: DateTime<Utc>,
        jobs: &[FinishedJob],
        lags: &[(String, f64)],
    ) -> Result<Vec<CompletedRun>, CatalogError> {
        let mut tx = self.begin_write_in([]).await?;
        let completed = tx.finish_jobs(now, jobs).await?;
        tx.record_lags(lags).await?;
        tx.commit().await?;
        Ok(completed)
    }

    /// Releases the artifacts of dead-lettered jobs (id and claim token) so
    /// the planner takes them up at once: the marker goes and the claim's
    /// lease ends. With `drop_claim` (the dead letter was discarded) the
    /// claim goes too; otherwise the retried job keeps it and may still act,
    /// unless a new plan claims the artifact first.
    pub async fn release_dead_lettered(&self, claims: &[(i64, String)], drop_claim: bool) -> Result<u64, CatalogError> {
        let statement = if drop_claim {
            "UPDATE artifacts SET job_token = NULL, lease_until = NULL, dead_letter_token = NULL, dead_lettered_at = NULL
             WHERE id = ? AND job_token = ?"
        } else {
            "UPDATE artifacts SET lease_until = 0, dead_letter_token = NULL, dead_lettered_at = NULL
             WHERE id = ? AND job_token = ?"
        };
        // Each release is a compare-and-set on the claim token.
        let mut tx = self.begin_write_in([]).await?;
        let mut released = 0;
        for (id, token) in claims {
            released += sqlx::query(sql(statement)).bind(id).bind(token).execute(&mut *tx.tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(released)
    }

    /// Records a run that found nothing due (a scheduler tick): it ends at
    /// `finished_at`, successfully. Returns its id.
    pub async fn record_idle_run(
        &self,
        started_at: DateTime<Utc>,
        as_of: DateTime<Utc>,
        finished_at: DateTime<Utc>,
    ) -> Result<i64, CatalogError> {
        let ms = (to_millis(finished_at) - to_millis(started_at)).max(0);
        Ok(sqlx::query(
            sql("INSERT INTO lifecycle_runs (started_at, as_of, dry_run, n_planned, summary, status, finished_at, duration_ms)
             VALUES (?, ?, 0, 0, '{}', 'success', ?, ?) RETURNING id"),
        )
        .bind(to_millis(started_at))
        .bind(to_millis(as_of))
        .bind(to_millis(finished_at))
        .bind(ms as f64)
        .fetch_one(&self.writer)
        .await?
        .try_get("id")?)
    }

    /// Ended lifecycle runs per outcome (`success`, `failure`), both always present.
    pub async fn run_outcomes(&self) -> Result<Vec<(String, i64)>, CatalogError> {
        let rows =
            sqlx::query(sql("SELECT s.status, (SELECT COUNT(*) FROM lifecycle_runs r WHERE r.status = s.status) AS n
             FROM (SELECT 'failure' AS status UNION ALL SELECT 'success') s ORDER BY s.status"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("status")?, r.try_get("n")?))).collect()
    }

    /// The eligibility-to-action lag per kind as a histogram over `bounds`
    /// (seconds), in one pass.
    pub async fn lag_histograms(&self, bounds: &[f64]) -> Result<Vec<(String, HistogramCounts)>, CatalogError> {
        let per_bound: String =
            bounds.iter().map(|_| ", COALESCE(SUM(CASE WHEN seconds <= ? THEN 1 ELSE 0 END), 0)").collect();
        let text = format!(
            "SELECT kind, COUNT(*), COALESCE(SUM(seconds), 0.0){per_bound} FROM eligibility_lags GROUP BY kind ORDER BY kind"
        );
        let mut query = sqlx::query(sql(&text));
        for bound in bounds {
            query = query.bind(*bound);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let counts = (0..bounds.len()).map(|i| row.try_get::<i64, _>(i + 3)).collect::<Result<Vec<_>, _>>()?;
                Ok((row.try_get(0)?, (counts, row.try_get(1)?, row.try_get(2)?)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run_of(catalog: &Catalog, started: DateTime<Utc>, jobs: i64) -> i64 {
        let mut tx = catalog.begin_write().await.unwrap();
        let id = tx.record_run(started, started, false, jobs, &serde_json::json!({})).await.unwrap();
        tx.commit().await.unwrap();
        id
    }

    fn job(run_id: i64, token: &str, failed: bool) -> FinishedJob {
        FinishedJob { run_id, token: token.into(), failed }
    }

    #[tokio::test]
    async fn a_run_ends_with_its_last_job_counting_duplicates_once() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("c.db"), 0).await.unwrap();
        let t0 = Utc::now();
        let ok = run_of(&catalog, t0, 3).await;
        let bad = run_of(&catalog, t0, 2).await;
        let later = t0 + chrono::Duration::seconds(90);
        let first = catalog.finish_jobs(later, &[job(ok, "a", false), job(ok, "a", false)], &[]).await.unwrap();
        assert!(first.is_empty(), "a duplicate delivery counts once");
        let done = catalog.finish_jobs(later, &[job(ok, "b", false), job(ok, "c", false)], &[]).await.unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!((done[0].id, done[0].status, done[0].duration.as_secs()), (ok, "success", 90));
        assert!(catalog.finish_jobs(later, &[job(ok, "c", false)], &[]).await.unwrap().is_empty(), "ended once");

        let done = catalog.finish_jobs(later, &[job(bad, "x", true), job(bad, "y", false)], &[]).await.unwrap();
        assert_eq!(done[0].status, "failure");
        let outcomes = catalog.run_outcomes().await.unwrap();
        assert_eq!(outcomes, vec![("failure".to_owned(), 1), ("success".to_owned(), 1)]);
        let (counts, total, sum) = catalog.run_duration_histogram(&[60.0, 120.0]).await.unwrap();
        assert_eq!((counts, total, sum), (vec![0, 2], 2, 180.0));
    }

    #[tokio::test]
    async fn a_retried_dead_letter_that_succeeds_turns_the_run_successful() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("c.db"), 0).await.unwrap();
        let t0 = Utc::now();
        let run = run_of(&catalog, t0, 2).await;
        assert!(catalog.finish_jobs(t0, &[job(run, "a", true)], &[]).await.unwrap().is_empty());
        let done = catalog.finish_jobs(t0, &[job(run, "a", false), job(run, "b", false)], &[]).await.unwrap();
        assert_eq!(done[0].status, "success");
    }

    #[tokio::test]
    async fn lags_are_bucketed_per_kind() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("c.db"), 0).await.unwrap();
        assert!(catalog.lag_histograms(&[1.0]).await.unwrap().is_empty());
        let lags = [("promote".to_owned(), 0.5), ("promote".to_owned(), 30.0), ("purge".to_owned(), 2.0)];
        catalog.finish_jobs(Utc::now(), &[], &lags).await.unwrap();
        let got = catalog.lag_histograms(&[1.0, 10.0]).await.unwrap();
        assert_eq!(got[0], ("promote".to_owned(), (vec![1, 1], 2, 30.5)));
        assert_eq!(got[1], ("purge".to_owned(), (vec![0, 1], 1, 2.0)));
    }
}

/// A recorded lifecycle run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LifecycleRun {
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// The instant it planned for.
    pub as_of: DateTime<Utc>,
    /// Whether it only planned.
    pub dry_run: bool,
    /// Jobs planned.
    pub n_planned: i64,
    /// Jobs finished so far (done, skipped or stale).
    pub n_finished: i64,
    /// Jobs dead-lettered so far.
    pub n_failed: i64,
    /// `success` or `failed` once every job ended; absent while under way.
    pub status: Option<String>,
    /// How long it took, once it ended.
    pub duration_secs: Option<f64>,
    /// Counts per action.
    pub summary: serde_json::Value,
}

impl Catalog {
    /// The most recent lifecycle run, if any.
    pub async fn last_run(&self) -> Result<Option<LifecycleRun>, CatalogError> {
        Ok(self.recent_runs(1).await?.pop())
    }

    /// The `limit` most recent lifecycle runs, newest first.
    pub async fn recent_runs(&self, limit: u32) -> Result<Vec<LifecycleRun>, CatalogError> {
        let rows = sqlx::query(sql(
            "SELECT started_at, as_of, dry_run, n_planned, n_finished, n_failed, status, duration_ms, summary
             FROM lifecycle_runs ORDER BY id DESC LIMIT ?",
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let summary: String = r.try_get("summary")?;
                Ok(LifecycleRun {
                    started_at: from_millis(r.try_get("started_at")?),
                    as_of: from_millis(r.try_get("as_of")?),
                    dry_run: super::row::flag(r, "dry_run")?,
                    n_planned: r.try_get("n_planned")?,
                    n_finished: r.try_get("n_finished")?,
                    n_failed: r.try_get("n_failed")?,
                    status: r.try_get("status")?,
                    duration_secs: r.try_get::<Option<f64>, _>("duration_ms")?.map(|ms| ms / 1000.0),
                    summary: serde_json::from_str(&summary).map_err(super::artifacts::bad)?,
                })
            })
            .collect()
    }
}
