//! Holds on an artifact, a workflow or a whole tenant.

use super::{Catalog, CatalogError, WriteTx, opt_time};
use crate::artifact::Artifact;
use crate::clock::{from_millis, to_millis};
use crate::id::{TenantId, WorkflowName};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// A hold as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hold {
    /// Its id.
    pub id: i64,
    /// The tenant it covers (all of it when `workflow` is `None`).
    pub tenant: String,
    /// The workflow it covers (all of it when `artifact` is `None`).
    pub workflow: Option<String>,
    /// The artifact's name, for a hold on one artifact.
    pub artifact: Option<String>,
    /// The artifact's catalog id, for a hold on one artifact.
    pub artifact_id: Option<i64>,
    /// Why it was placed.
    pub reason: String,
    /// Who placed it.
    pub actor: String,
    /// When it was placed.
    pub applied_at: DateTime<Utc>,
    /// When it was released, if it was.
    pub released_at: Option<DateTime<Utc>>,
    /// Why it was released.
    pub release_reason: Option<String>,
    /// Who released it.
    pub released_by: Option<String>,
}

const HOLD_COLUMNS: &str = "h.id, h.tenant, h.workflow, a.name AS artifact, h.artifact_id, h.reason, h.actor, \
     h.applied_at, h.released_at, h.release_reason, h.released_by FROM holds h LEFT JOIN artifacts a ON a.id = h.artifact_id";

fn hold_from_row(row: &SqliteRow) -> Result<Hold, CatalogError> {
    Ok(Hold {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        workflow: row.try_get("workflow")?,
        artifact: row.try_get("artifact")?,
        artifact_id: row.try_get("artifact_id")?,
        reason: row.try_get("reason")?,
        actor: row.try_get("actor")?,
        applied_at: from_millis(row.try_get("applied_at")?),
        released_at: opt_time(row.try_get("released_at")?),
        release_reason: row.try_get("release_reason")?,
        released_by: row.try_get("released_by")?,
    })
}

impl Catalog {
    /// Holds of a tenant (or all tenants), oldest first; released ones only
    /// when `include_released`.
    pub async fn holds(&self, tenant: Option<&TenantId>, include_released: bool) -> Result<Vec<Hold>, CatalogError> {
        let sql = format!(
            "SELECT {HOLD_COLUMNS} WHERE (?1 IS NULL OR h.tenant = ?1) AND (?2 OR h.released_at IS NULL) ORDER BY h.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.map(|t| t.as_str().to_owned()))
            .bind(include_released)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(hold_from_row).collect()
    }
}

impl WriteTx {
    /// Places a hold; returns its id.
    pub async fn add_hold(
        &mut self,
        tenant: &TenantId,
        workflow: Option<&WorkflowName>,
        artifact_id: Option<i64>,
        reason: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, CatalogError> {
        Ok(sqlx::query(
            "INSERT INTO holds (tenant, workflow, artifact_id, reason, actor, applied_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(tenant.as_str())
        .bind(workflow.map(|w| w.as_str().to_owned()))
        .bind(artifact_id)
        .bind(reason)
        .bind(actor)
        .bind(to_millis(at))
        .fetch_one(&mut *self.tx)
        .await?
        .try_get("id")?)
    }

    /// The hold with this id.
    pub async fn hold(&mut self, id: i64) -> Result<Hold, CatalogError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {HOLD_COLUMNS} WHERE h.id = ?")))
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or_else(|| CatalogError::NotFound(format!("hold {id}")))?;
        hold_from_row(&row)
    }

    /// Releases an active hold; false when it was already released.
    pub async fn release_hold(
        &mut self,
        id: i64,
        reason: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, CatalogError> {
        let n = sqlx::query(
            "UPDATE holds SET released_at = ?, release_reason = ?, released_by = ? WHERE id = ? AND released_at IS NULL",
        )
        .bind(to_millis(at))
        .bind(reason)
        .bind(actor)
        .bind(id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// The live artifacts a hold scope covers, read under the write lock.
    pub async fn live_in_scope(
        &mut self,
        tenant: &TenantId,
        workflow: Option<&WorkflowName>,
        artifact_id: Option<i64>,
    ) -> Result<Vec<Artifact>, CatalogError> {
        let rows = sqlx::query(super::artifacts::select(
            &self.columns,
            "WHERE tenant = ?1 AND (?2 IS NULL OR workflow = ?2) AND (?3 IS NULL OR id = ?3)
             AND state IN ('active', 'eligible') ORDER BY id",
        ))
        .bind(tenant.as_str())
        .bind(workflow.map(|w| w.as_str().to_owned()))
        .bind(artifact_id)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(super::artifacts::artifact_from_row).collect()
    }
}
