//! Restore jobs requested over the API: who asked, for which artifact, and
//! the claim token that identifies the job.

use super::sql::sql;
use super::{Catalog, CatalogError, WriteTx};
use crate::clock::{from_millis, to_millis};
use crate::id::{ArtifactKey, ArtifactName, TenantId, WorkflowName};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A requested restore job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreJob {
    /// The job's id: the claim token it stamped on the artifact.
    pub id: String,
    /// The artifact's key when it was requested.
    pub key: ArtifactKey,
    /// The artifact's catalog id.
    pub artifact_id: i64,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    /// Who requested it.
    pub requested_by: String,
    /// Days to keep the artifact hot, if given.
    pub days: Option<u32>,
}

const COLUMNS: &str = "r.id, r.tenant, r.workflow, r.name, r.artifact_id, r.requested_at, r.requested_by, r.days";

fn from_row(row: &AnyRow) -> Result<RestoreJob, CatalogError> {
    let bad = |e: crate::id::IdError| CatalogError::BadRow(e.to_string());
    let text = |name: &str| -> Result<String, CatalogError> { Ok(row.try_get::<String, _>(name)?) };
    Ok(RestoreJob {
        id: text("id")?,
        key: ArtifactKey {
            tenant: TenantId::parse(&text("tenant")?).map_err(bad)?,
            workflow: WorkflowName::parse(&text("workflow")?).map_err(bad)?,
            name: ArtifactName::parse(&text("name")?).map_err(bad)?,
        },
        artifact_id: row.try_get("artifact_id")?,
        requested_at: from_millis(row.try_get("requested_at")?),
        requested_by: text("requested_by")?,
        days: row.try_get::<Option<i64>, _>("days")?.map(|d| d as u32),
    })
}

impl Catalog {
    /// The restore job with this id.
    pub async fn restore_job(&self, id: &str) -> Result<Option<RestoreJob>, CatalogError> {
        let text = format!("SELECT {COLUMNS} FROM restore_jobs r WHERE r.id = ?");
        let row = sqlx::query(sql(&text)).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The restore job that still holds the claim on an artifact, if one does.
    pub async fn pending_restore(&self, artifact_id: i64) -> Result<Option<RestoreJob>, CatalogError> {
        let text = format!(
            "SELECT {COLUMNS} FROM restore_jobs r JOIN artifacts a ON a.id = r.artifact_id AND a.job_token = r.id \
             WHERE r.artifact_id = ?"
        );
        let row = sqlx::query(sql(&text)).bind(artifact_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(from_row).transpose()
    }
}

impl WriteTx {
    /// Records a requested restore job.
    pub async fn add_restore_job(&mut self, job: &RestoreJob) -> Result<(), CatalogError> {
        sqlx::query(sql(
            "INSERT INTO restore_jobs (id, tenant, workflow, name, artifact_id, requested_at, requested_by, days)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(&job.id)
        .bind(job.key.tenant.as_str())
        .bind(job.key.workflow.as_str())
        .bind(job.key.name.as_str())
        .bind(job.artifact_id)
        .bind(to_millis(job.requested_at))
        .bind(&job.requested_by)
        .bind(job.days.map(i64::from))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
