//! Baselines (named snapshots of artifact sets) and size trends.

use super::sql::{Builder, sql};
use super::{Catalog, CatalogError, WriteTx};
use crate::clock::{from_millis, to_millis};
use crate::id::TenantId;
use crate::insights::{Member, TrendBy, TrendPoint};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

/// A baseline as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BaselineRecord {
    /// The tenant.
    pub tenant: String,
    /// Its name.
    pub name: String,
    /// The set it snapshots, described.
    pub selection: String,
    /// How many artifacts it holds.
    pub artifacts: u64,
    /// Their bytes.
    pub bytes: u64,
    /// When it was marked.
    pub created_at: DateTime<Utc>,
    /// Who marked it.
    pub created_by: String,
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Catalog {
    /// Baselines, of one tenant or of all, by tenant and name.
    pub async fn baselines(&self, tenant: Option<&TenantId>) -> Result<Vec<BaselineRecord>, CatalogError> {
        let rows = sqlx::query(sql("SELECT tenant, name, selection, artifacts, bytes, created_at, created_by \
             FROM baselines WHERE ?1 IS NULL OR tenant = ?1 ORDER BY tenant, name"))
        .bind(tenant.map(TenantId::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BaselineRecord {
                    tenant: r.try_get("tenant")?,
                    name: r.try_get("name")?,
                    selection: r.try_get("selection")?,
                    artifacts: unsigned(r.try_get("artifacts")?),
                    bytes: unsigned(r.try_get("bytes")?),
                    created_at: from_millis(r.try_get("created_at")?),
                    created_by: r.try_get("created_by")?,
                })
            })
            .collect()
    }

    /// The members of baseline `name` of `tenant`, by workflow and name;
    /// `None` when there is no such baseline.
    pub async fn baseline_members(&self, tenant: &TenantId, name: &str) -> Result<Option<Vec<Member>>, CatalogError> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query(sql("SELECT 1 AS one FROM baselines WHERE tenant = ? AND name = ?"))
            .bind(tenant.as_str())
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query(sql("SELECT workflow, name, blake3, size FROM baseline_members \
             WHERE tenant = ? AND baseline = ? ORDER BY workflow, name"))
        .bind(tenant.as_str())
        .bind(name)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(Member {
                    workflow: r.try_get("workflow")?,
                    name: r.try_get("name")?,
                    blake3: r.try_get("blake3")?,
                    size: unsigned(r.try_get("size")?),
                })
            })
            .collect::<Result<Vec<_>, CatalogError>>()
            .map(Some)
    }

    /// What each workflow of `tenant` (or only `workflow`) produced per
    /// group, from `since` on: every artifact row created, whatever became
    /// of it, by workflow then group.
    pub async fn trend(
        &self,
        tenant: &TenantId,
        workflow: Option<&str>,
        by: &TrendBy,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<TrendPoint>, CatalogError> {
        let sums = "COUNT(*) AS artifacts, CAST(SUM(a.size) AS BIGINT) AS bytes, \
                    CAST(SUM(a.stored_size) AS BIGINT) AS stored_bytes, MIN(a.created_at) AS first_at";
        let mut q = match by {
            TrendBy::Day => {
                let mut q = Builder::new(format!(
                    "SELECT a.workflow AS workflow, a.created_at / 86400000 AS day, {sums} FROM artifacts a WHERE a.tenant = "
                ));
                q.push_bind(tenant.as_str().to_owned());
                q
            }
            TrendBy::Tag(key) => {
                let mut q = Builder::new(format!(
                    "SELECT a.workflow AS workflow, t.value AS tag, {sums} FROM artifact_tags t \
                     JOIN artifacts a ON a.id = t.artifact_id WHERE t.tenant = "
                ));
                q.push_bind(tenant.as_str().to_owned()).push(" AND t.key = ").push_bind(key.clone());
                q
            }
        };
        if let Some(w) = workflow {
            q.push(" AND a.workflow = ").push_bind(w.to_owned());
        }
        if let Some(since) = since {
            q.push(" AND a.created_at >= ").push_bind(to_millis(since));
        }
        q.push(match by {
            TrendBy::Day => " GROUP BY a.workflow, a.created_at / 86400000 ORDER BY a.workflow, day",
            TrendBy::Tag(_) => " GROUP BY a.workflow, t.value ORDER BY a.workflow, first_at, tag",
        });
        let rows = q.build(self.dialect)?.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let bucket = match by {
                    TrendBy::Day => {
                        let day: i64 = r.try_get("day")?;
                        from_millis(day.saturating_mul(86_400_000)).format("%Y-%m-%d").to_string()
                    }
                    TrendBy::Tag(_) => r.try_get("tag")?,
                };
                Ok(TrendPoint::new(
                    r.try_get("workflow")?,
                    bucket,
                    from_millis(r.try_get("first_at")?),
                    unsigned(r.try_get("artifacts")?),
                    unsigned(r.try_get("bytes")?),
                    unsigned(r.try_get("stored_bytes")?),
                ))
            })
            .collect()
    }
}

impl WriteTx {
    /// Stores a baseline with its members, replacing one of the same name.
    pub async fn put_baseline(&mut self, record: &BaselineRecord, members: &[Member]) -> Result<(), CatalogError> {
        self.remove_baseline_rows(&record.tenant, &record.name).await?;
        sqlx::query(sql("INSERT INTO baselines (tenant, name, selection, artifacts, bytes, created_at, created_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?)"))
        .bind(&record.tenant)
        .bind(&record.name)
        .bind(&record.selection)
        .bind(i64::try_from(record.artifacts).unwrap_or(i64::MAX))
        .bind(i64::try_from(record.bytes).unwrap_or(i64::MAX))
        .bind(to_millis(record.created_at))
        .bind(&record.created_by)
        .execute(&mut *self.tx)
        .await?;
        for chunk in members.chunks(200) {
            let mut q = Builder::new("INSERT INTO baseline_members (tenant, baseline, workflow, name, blake3, size) ");
            for (i, m) in chunk.iter().enumerate() {
                q.push(if i == 0 { "VALUES (" } else { ", (" });
                q.push_bind(record.tenant.clone()).push(", ");
                q.push_bind(record.name.clone()).push(", ");
                q.push_bind(m.workflow.clone()).push(", ");
                q.push_bind(m.name.clone()).push(", ");
                q.push_bind(m.blake3.clone()).push(", ");
                q.push_bind(i64::try_from(m.size).unwrap_or(i64::MAX)).push(")");
            }
            q.build(self.dialect)?.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Whether `tenant` has a baseline `name`.
    pub async fn has_baseline(&mut self, tenant: &str, name: &str) -> Result<bool, CatalogError> {
        let row = sqlx::query(sql("SELECT 1 AS one FROM baselines WHERE tenant = ? AND name = ?"))
            .bind(tenant)
            .bind(name)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.is_some())
    }

    /// Removes a baseline; false when there was none.
    pub async fn remove_baseline_rows(&mut self, tenant: &str, name: &str) -> Result<bool, CatalogError> {
        sqlx::query(sql("DELETE FROM baseline_members WHERE tenant = ? AND baseline = ?"))
            .bind(tenant)
            .bind(name)
            .execute(&mut *self.tx)
            .await?;
        let done = sqlx::query(sql("DELETE FROM baselines WHERE tenant = ? AND name = ?"))
            .bind(tenant)
            .bind(name)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
