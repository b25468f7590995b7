//! The planner's side of the artifact table: the due query, and the claim
//! stamps, releases and next-due times a planning pass writes, a chunk of
//! rows per statement.

use super::artifacts::{artifact_from_row, select};
use super::sql::Builder;
use super::{CatalogError, WriteTx, opt_millis};
use crate::artifact::Artifact;
use crate::clock::to_millis;
use chrono::{DateTime, Utc};

/// Rows per multi-row statement: two arguments each, well under the
/// argument limits of SQLite (32,766) and PostgreSQL (65,535).
const CHUNK: usize = 1000;

impl WriteTx {
    /// Artifacts whose next action is due by `as_of` and that no live job
    /// holds (no token, or its lease ran out before `now`), soonest first.
    pub async fn due(
        &mut self,
        as_of: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Artifact>, CatalogError> {
        let rows = sqlx::query(select(
            &self.columns,
            "WHERE next_due_at IS NOT NULL AND next_due_at <= ? AND (job_token IS NULL OR lease_until < ?)
             ORDER BY next_due_at, id LIMIT ?",
        ))
        .bind(to_millis(as_of))
        .bind(to_millis(now))
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(artifact_from_row).collect()
    }

    /// Stamps an artifact with a job token and lease (a claim).
    pub async fn stamp(&mut self, id: i64, token: &str, lease_until: DateTime<Utc>) -> Result<(), CatalogError> {
        self.stamp_many(&[(id, token)], lease_until).await
    }

    /// Stamps each artifact `(id, token)` with its job token, all with the
    /// same lease: one statement per chunk of rows.
    pub async fn stamp_many(&mut self, claims: &[(i64, &str)], lease_until: DateTime<Utc>) -> Result<(), CatalogError> {
        for chunk in claims.chunks(CHUNK) {
            let mut q = Builder::new("UPDATE artifacts SET job_token = v.column2, lease_until = ");
            q.push_bind(to_millis(lease_until)).push(" FROM (VALUES ");
            for (i, (id, token)) in chunk.iter().enumerate() {
                q.push(if i == 0 { "(" } else { ", (" }).push_bind(*id).push(", ").push_bind(*token).push(")");
            }
            q.push(") AS v WHERE artifacts.id = v.column1");
            q.build(self.dialect)?.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Corrects the planner index of an artifact with nothing due yet.
    pub async fn set_next_due(&mut self, id: i64, at: Option<DateTime<Utc>>) -> Result<(), CatalogError> {
        self.set_next_dues(&[(id, at)]).await
    }

    /// Corrects the planner index of each artifact `(id, next due time)`:
    /// one statement per chunk of rows.
    pub async fn set_next_dues(&mut self, dues: &[(i64, Option<DateTime<Utc>>)]) -> Result<(), CatalogError> {
        for chunk in dues.chunks(CHUNK) {
            let mut q = Builder::new("UPDATE artifacts SET next_due_at = v.column2 FROM (VALUES ");
            for (i, (id, at)) in chunk.iter().enumerate() {
                q.push(if i == 0 { "(" } else { ", (" }).push_bind(*id).push(", ").push_bind(opt_millis(*at)).push(")");
            }
            q.push(") AS v WHERE artifacts.id = v.column1");
            q.build(self.dialect)?.execute(&mut *self.tx).await?;
        }
        Ok(())
    }
}
