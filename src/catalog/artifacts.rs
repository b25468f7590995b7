//! Artifact rows: lookups, listings, compare-and-set saves and blob
//! reference counts (the planner's due query is in `due.rs`).

use super::batch::Save;
use super::sql::sql;
use super::{Catalog, CatalogError, WriteTx, opt_time};
use crate::artifact::{Artifact, State, Tier};
use crate::clock::{from_millis, to_millis};
use crate::id::{ArtifactKey, ArtifactName, TenantId, WorkflowName};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

const COLUMNS: &str = "id, tenant, workflow, name, size, stored_size, codec, blake3, sha256, content_type, tags, meta, \
     created_at, last_accessed_at, verified_at, tier, state, class, expires_at, eligible_at, pinned_hot_until, \
     next_due_at, job_token, generation, extended, \
     CASE WHEN dead_letter_token = job_token THEN dead_lettered_at END AS dead_lettered_at";

/// 1 when an active hold covers the artifact row `row` (a table name or
/// alias) — on itself, its workflow or its tenant — else 0; 0 for a row of
/// NULLs (an outer join that found no artifact).
pub(super) fn held(row: &str) -> String {
    format!(
        "CASE WHEN EXISTS (SELECT 1 FROM holds h WHERE h.released_at IS NULL AND h.tenant = {row}.tenant \
           AND (h.workflow IS NULL OR h.workflow = {row}.workflow) \
           AND (h.artifact_id IS NULL OR h.artifact_id = {row}.id)) THEN 1 ELSE 0 END"
    )
}

/// The artifact columns, with the count of newer live artifacts in the same
/// workflow capped at `keep_latest_cap` (the largest keep-latest-N
/// configured): it costs O(cap) per row, and nothing when keep-latest is off.
pub(super) fn columns(keep_latest_cap: u32) -> String {
    let held = held("artifacts");
    let base =
        format!("{COLUMNS}, {held} AS held, (SELECT plan FROM tenants t WHERE t.name = artifacts.tenant) AS plan");
    if keep_latest_cap == 0 {
        return format!("{base}, 0 AS newer_live");
    }
    format!(
        "{base}, (SELECT COUNT(*) FROM (SELECT 1 FROM artifacts n WHERE n.tenant = artifacts.tenant \
           AND n.workflow = artifacts.workflow AND n.state IN ('active', 'eligible') \
           AND (n.created_at > artifacts.created_at OR (n.created_at = artifacts.created_at AND n.id > artifacts.id)) \
           LIMIT {keep_latest_cap}) AS newer) AS newer_live"
    )
}

/// Which artifacts to list.
#[derive(Debug, Clone, Default)]
pub struct ArtifactFilter {
    /// Only this tenant's.
    pub tenant: Option<TenantId>,
    /// Only this workflow's.
    pub workflow: Option<WorkflowName>,
    /// Only this tier's.
    pub tier: Option<Tier>,
    /// Include purged and erased tombstones.
    pub include_deleted: bool,
}

/// Artifact and byte totals for one (tenant, tier, state).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierTotal {
    /// The tenant.
    pub tenant: String,
    /// The tier.
    pub tier: Tier,
    /// The state.
    pub state: State,
    /// Number of artifacts.
    pub artifacts: i64,
    /// Original bytes.
    pub bytes: i64,
    /// Bytes as stored.
    pub stored_bytes: i64,
}

pub(super) fn bad(e: impl std::fmt::Display) -> CatalogError {
    CatalogError::BadRow(e.to_string())
}

fn json_map(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, CatalogError> {
    serde_json::from_str(text).map_err(bad)
}

pub(super) fn artifact_from_row(row: &AnyRow) -> Result<Artifact, CatalogError> {
    let text = |name: &str| -> Result<String, CatalogError> { Ok(row.try_get::<String, _>(name)?) };
    Ok(Artifact {
        id: row.try_get("id")?,
        tenant: TenantId::parse(&text("tenant")?).map_err(bad)?,
        workflow: WorkflowName::parse(&text("workflow")?).map_err(bad)?,
        name: ArtifactName::parse(&text("name")?).map_err(bad)?,
        size: row.try_get::<i64, _>("size")? as u64,
        stored_size: row.try_get::<i64, _>("stored_size")? as u64,
        codec: text("codec")?.parse().map_err(bad)?,
        blake3: text("blake3")?,
        sha256: text("sha256")?,
        content_type: text("content_type")?,
        tags: json_map(&text("tags")?)?,
        meta: json_map(&text("meta")?)?,
        created_at: from_millis(row.try_get("created_at")?),
        last_accessed_at: from_millis(row.try_get("last_accessed_at")?),
        verified_at: from_millis(row.try_get("verified_at")?),
        tier: text("tier")?.parse().map_err(bad)?,
        state: text("state")?.parse().map_err(bad)?,
        class: row.try_get("class")?,
        expires_at: opt_time(row.try_get("expires_at")?),
        eligible_at: opt_time(row.try_get("eligible_at")?),
        pinned_hot_until: opt_time(row.try_get("pinned_hot_until")?),
        next_due_at: opt_time(row.try_get("next_due_at")?),
        job_token: row.try_get("job_token")?,
        generation: row.try_get("generation")?,
        held: super::row::flag(row, "held")?,
        extended: super::row::flag(row, "extended")?,
        plan: row.try_get("plan")?,
        newer_live: row.try_get::<i64, _>("newer_live")? as u64,
        dead_lettered_at: opt_time(row.try_get("dead_lettered_at")?),
    })
}

pub(super) fn select(columns: &str, tail: &str) -> sqlx::AssertSqlSafe<String> {
    super::sql::sql(&format!("SELECT {columns} FROM artifacts {tail}"))
}

/// The live artifact at `key`, if any, through any executor (pool or transaction).
async fn find_live_in<'e, E>(executor: E, columns: &str, key: &ArtifactKey) -> Result<Option<Artifact>, CatalogError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query(select(
        columns,
        "WHERE tenant = ? AND workflow = ? AND name = ? AND state IN ('active', 'eligible')",
    ))
    .bind(key.tenant.as_str())
    .bind(key.workflow.as_str())
    .bind(key.name.as_str())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(artifact_from_row).transpose()
}

impl Catalog {
    /// The artifact with catalog id `id`, live or not.
    pub async fn artifact(&self, id: i64) -> Result<Artifact, CatalogError> {
        let row = sqlx::query(select(&self.columns, "WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| CatalogError::NotFound(format!("artifact #{id}")))?;
        artifact_from_row(&row)
    }

    /// The live artifact at `key`.
    pub async fn find_live(&self, key: &ArtifactKey) -> Result<Artifact, CatalogError> {
        find_live_in(&self.pool, &self.columns, key)
            .await?
            .ok_or_else(|| CatalogError::NotFound(format!("artifact {key}")))
    }

    /// Lists artifacts, ordered by tenant, workflow, name: the query of
    /// the same filters, whole.
    pub async fn list(&self, filter: &ArtifactFilter) -> Result<Vec<Artifact>, CatalogError> {
        let query = crate::query::ArtifactQuery {
            tenant: filter.tenant.clone(),
            workflow: filter.workflow.clone(),
            tier: filter.tier,
            include_deleted: filter.include_deleted,
            ..crate::query::ArtifactQuery::default()
        };
        self.query(&query).await
    }

    /// Records a read.
    pub async fn touch(&self, id: i64, at: DateTime<Utc>) -> Result<(), CatalogError> {
        sqlx::query(sql("UPDATE artifacts SET last_accessed_at = CASE WHEN last_accessed_at > ?1 THEN last_accessed_at ELSE ?1 END WHERE id = ?2"))
            .bind(to_millis(at))
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Artifact and byte totals per tenant, tier and state (live and tombstoned).
    pub async fn tier_totals(&self) -> Result<Vec<TierTotal>, CatalogError> {
        let rows = sqlx::query(sql("SELECT tenant, tier, state, COUNT(*) AS n, CAST(SUM(size) AS BIGINT) AS bytes,
                    CAST(SUM(stored_size) AS BIGINT) AS stored
             FROM artifacts GROUP BY tenant, tier, state ORDER BY tenant, tier, state"))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TierTotal {
                    tenant: r.try_get("tenant")?,
                    tier: r.try_get::<String, _>("tier")?.parse().map_err(bad)?,
                    state: r.try_get::<String, _>("state")?.parse().map_err(bad)?,
                    artifacts: r.try_get("n")?,
                    bytes: r.try_get("bytes")?,
                    stored_bytes: r.try_get("stored")?,
                })
            })
            .collect()
    }
}

impl WriteTx {
    /// The live artifact at `key`, if any, read under the write lock.
    pub async fn find_live(&mut self, key: &ArtifactKey) -> Result<Option<Artifact>, CatalogError> {
        find_live_in(&mut *self.tx, &self.columns, key).await
    }

    /// Inserts a new artifact (its `id` is ignored) and returns it with its id.
    pub async fn insert_artifact(&mut self, a: &Artifact) -> Result<Artifact, CatalogError> {
        let mut inserted = self.insert_artifacts(&[a]).await?;
        inserted.pop().ok_or_else(|| CatalogError::BadRow(format!("no id for {}", a.key())))
    }

    /// Compare-and-set: writes `a`'s mutable columns if the row still has
    /// `expected_generation` and, when `token` is given, that job token.
    /// Bumps the generation. Returns false (and changes nothing) otherwise.
    /// A row that stops being live records `now` as its deletion time.
    pub async fn save(
        &mut self,
        a: &Artifact,
        expected_generation: i64,
        token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, CatalogError> {
        let saved = self.save_many(&[Save { artifact: a, expected_generation, token }], now).await?;
        Ok(saved.first().copied().unwrap_or(false))
    }

    /// Every live (active or eligible) artifact, read under the write lock,
    /// in id order: for a policy recompute.
    pub async fn live_artifacts(&mut self) -> Result<Vec<Artifact>, CatalogError> {
        let rows = sqlx::query(select(&self.columns, "WHERE state IN ('active', 'eligible') ORDER BY id"))
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(artifact_from_row).collect()
    }

    /// The lifecycle policy last applied to the stored artifacts: its
    /// fingerprint and the policy, if one was recorded.
    pub async fn applied_policy(&mut self) -> Result<Option<(String, serde_json::Value)>, CatalogError> {
        let row = sqlx::query(sql("SELECT fingerprint, policy FROM policy WHERE id = 1"))
            .fetch_optional(&mut *self.tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let policy: String = row.try_get("policy")?;
        let policy = serde_json::from_str(&policy).map_err(|e| CatalogError::BadRow(format!("policy: {e}")))?;
        Ok(Some((row.try_get("fingerprint")?, policy)))
    }

    /// Records `policy` (with its fingerprint) as the one applied at `at`.
    pub async fn set_applied_policy(
        &mut self,
        fingerprint: &str,
        policy: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<(), CatalogError> {
        sqlx::query(sql("INSERT INTO policy (id, fingerprint, policy, applied_at) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET fingerprint = ?1, policy = ?2, applied_at = ?3"))
        .bind(fingerprint)
        .bind(policy.to_string())
        .bind(to_millis(at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Records a lifecycle run for `lifecycle summary`; returns its id.
    pub async fn record_run(
        &mut self,
        started_at: DateTime<Utc>,
        as_of: DateTime<Utc>,
        dry_run: bool,
        n_planned: i64,
        summary: &serde_json::Value,
    ) -> Result<i64, CatalogError> {
        Ok(sqlx::query(
            sql("INSERT INTO lifecycle_runs (started_at, as_of, dry_run, n_planned, summary) VALUES (?, ?, ?, ?, ?) RETURNING id"),
        )
        .bind(to_millis(started_at))
        .bind(to_millis(as_of))
        .bind(i64::from(dry_run))
        .bind(n_planned)
        .bind(summary.to_string())
        .fetch_one(&mut *self.tx)
        .await?
        .try_get("id")?)
    }
}

impl Catalog {
    /// Records how long a run took to plan and carry out, as a success,
    /// unless its workers already ended it.
    pub async fn finish_run(&self, id: i64, duration: std::time::Duration) -> Result<(), CatalogError> {
        sqlx::query(sql("UPDATE lifecycle_runs SET duration_ms = ?, status = COALESCE(status, 'success')
             WHERE id = ? AND duration_ms IS NULL"))
        .bind(duration.as_secs_f64() * 1000.0)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Durations of finished runs as a histogram: counts of runs at or under
    /// each bound (seconds), then the total count and the sum of seconds.
    pub async fn run_duration_histogram(&self, bounds: &[f64]) -> Result<(Vec<i64>, i64, f64), CatalogError> {
        // One pass in SQLite, returning one row: the count, the sum and a
        // count per bound, however many runs were recorded.
        let per_bound: String = bounds
            .iter()
            .map(|_| ", COALESCE(SUM(CASE WHEN duration_ms / 1000.0 <= ? THEN 1 ELSE 0 END), 0)")
            .collect();
        let text = format!(
            "SELECT COUNT(*), COALESCE(SUM(duration_ms / 1000.0), 0.0){per_bound} \
             FROM lifecycle_runs WHERE duration_ms IS NOT NULL"
        );
        let mut query = sqlx::query(sql(&text));
        for bound in bounds {
            query = query.bind(*bound);
        }
        let row = query.fetch_one(&self.pool).await?;
        let counts = (0..bounds.len()).map(|i| row.try_get::<i64, _>(i + 2)).collect::<Result<Vec<_>, _>>()?;
        Ok((counts, row.try_get(0)?, row.try_get(1)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn run_durations_are_bucketed_in_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("c.db"), 0).await.unwrap();
        let bounds = [0.1, 1.0, 10.0];
        assert_eq!(catalog.run_duration_histogram(&bounds).await.unwrap(), (vec![0, 0, 0], 0, 0.0));
        let now = Utc::now();
        for ms in [50, 500, 500, 5_000, 50_000] {
            let mut tx = catalog.begin_write().await.unwrap();
            let id = tx.record_run(now, now, false, 1, &serde_json::json!({})).await.unwrap();
            tx.commit().await.unwrap();
            catalog.finish_run(id, std::time::Duration::from_millis(ms)).await.unwrap();
        }
        // A run that never finished has no duration and is not counted.
        let mut tx = catalog.begin_write().await.unwrap();
        tx.record_run(now, now, false, 1, &serde_json::json!({})).await.unwrap();
        tx.commit().await.unwrap();
        let (counts, total, sum) = catalog.run_duration_histogram(&bounds).await.unwrap();
        assert_eq!(counts, [1, 3, 4], "cumulative per bound");
        assert_eq!(total, 5);
        assert!((sum - 56.05).abs() < 1e-9, "{sum}");
    }
}
