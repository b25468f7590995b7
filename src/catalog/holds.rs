//! Holds on an artifact, a workflow or a whole tenant.

use super::sql::sql;
use super::{Catalog, CatalogError, WriteTx, opt_time};
use crate::artifact::Artifact;
use crate::clock::{from_millis, to_millis};
use crate::id::{TenantId, WorkflowName};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::fmt;

/// Who places or releases a hold, which decides what they may release: an
/// operator (the CLI or the admin token) may release any hold whose date has
/// passed; a tenant's token only holds placed with a token of that tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The CLI or the admin token.
    Operator,
    /// A token of this tenant.
    Tenant(TenantId),
}

impl Principal {
    /// `operator` or `tenant`, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Principal::Operator => "operator",
            Principal::Tenant(_) => "tenant",
        }
    }

    /// The tenant, for a tenant's token.
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Principal::Operator => None,
            Principal::Tenant(t) => Some(t),
        }
    }
}

/// Shown as two fields, `owner` (`operator` or `tenant`) and `owner_tenant`
/// (the tenant's name, or null).
impl Serialize for Principal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Principal", 2)?;
        s.serialize_field("owner", self.kind())?;
        s.serialize_field("owner_tenant", &self.tenant().map(TenantId::as_str))?;
        s.end()
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Operator => f.write_str("an operator"),
            Principal::Tenant(t) => write!(f, "tenant {t}"),
        }
    }
}

/// What a new hold says: why, who owns it, and for a compliance hold the
/// date before which nobody can release it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldTerms {
    /// Why (mandatory).
    pub reason: String,
    /// Who places it.
    pub owner: Principal,
    /// For a compliance hold: nobody can release it before this instant;
    /// `None` for a legal hold.
    pub until: Option<DateTime<Utc>>,
}

impl HoldTerms {
    /// An operator's legal hold.
    pub fn legal(reason: &str) -> Self {
        Self { reason: reason.to_owned(), owner: Principal::Operator, until: None }
    }
}

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
    /// The kind of caller that placed it, which decides who may release it.
    #[serde(flatten)]
    pub owner: Principal,
    /// For a compliance hold: nobody can release it before this instant.
    pub until: Option<DateTime<Utc>>,
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
     h.owner, h.owner_tenant, h.locked_until, h.applied_at, h.released_at, h.release_reason, h.released_by FROM holds h LEFT JOIN artifacts a ON a.id = h.artifact_id";

fn hold_from_row(row: &AnyRow) -> Result<Hold, CatalogError> {
    let owner_tenant: Option<String> = row.try_get("owner_tenant")?;
    let owner = match (row.try_get::<String, _>("owner")?.as_str(), owner_tenant) {
        ("tenant", Some(t)) => {
            Principal::Tenant(TenantId::parse(&t).map_err(|e| CatalogError::BadRow(format!("hold owner {t:?}: {e}")))?)
        }
        // Anything else, including a row the CHECK constraints should have
        // refused, is treated as an operator's: no tenant can release it.
        _ => Principal::Operator,
    };
    Ok(Hold {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        workflow: row.try_get("workflow")?,
        artifact: row.try_get("artifact")?,
        artifact_id: row.try_get("artifact_id")?,
        reason: row.try_get("reason")?,
        actor: row.try_get("actor")?,
        owner,
        until: opt_time(row.try_get("locked_until")?),
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
        let text = format!(
            "SELECT {HOLD_COLUMNS} WHERE (?1 IS NULL OR h.tenant = ?1) AND (?2 OR h.released_at IS NULL) ORDER BY h.id"
        );
        let rows = sqlx::query(sql(&text))
            .bind(tenant.map(|t| t.as_str().to_owned()))
            .bind(include_released)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(hold_from_row).collect()
    }
}

impl WriteTx {
    /// Places a hold on these terms; returns its id.
    pub async fn add_hold(
        &mut self,
        tenant: &TenantId,
        workflow: Option<&WorkflowName>,
        artifact_id: Option<i64>,
        terms: &HoldTerms,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, CatalogError> {
        Ok(sqlx::query(
            sql("INSERT INTO holds (tenant, workflow, artifact_id, reason, actor, owner, owner_tenant, locked_until, applied_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"),
        )
        .bind(tenant.as_str())
        .bind(workflow.map(|w| w.as_str().to_owned()))
        .bind(artifact_id)
        .bind(&terms.reason)
        .bind(actor)
        .bind(terms.owner.kind())
        .bind(terms.owner.tenant().map(|t| t.as_str().to_owned()))
        .bind(terms.until.map(to_millis))
        .bind(to_millis(at))
        .fetch_one(&mut *self.tx)
        .await?
        .try_get("id")?)
    }

    /// The hold with this id.
    pub async fn hold(&mut self, id: i64) -> Result<Hold, CatalogError> {
        let row = sqlx::query(sql(&format!("SELECT {HOLD_COLUMNS} WHERE h.id = ?")))
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
            sql("UPDATE holds SET released_at = ?, release_reason = ?, released_by = ? WHERE id = ? AND released_at IS NULL"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
    use std::str::FromStr;

    #[tokio::test]
    async fn holds_placed_before_owners_were_recorded_become_an_operators() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let options = SqliteConnectOptions::from_str("sqlite://").unwrap().filename(&path).create_if_missing(true);
        let old = SqlitePool::connect_with(options).await.unwrap();
        sqlx::migrate!("./migrations/sqlite").run_to(10, &old).await.unwrap();
        sqlx::query(sql("INSERT INTO tenants (name, plan, created_at) VALUES ('acme', 'free', 0)"))
            .execute(&old)
            .await
            .unwrap();
        sqlx::query(sql("INSERT INTO holds (tenant, reason, actor, applied_at) VALUES ('acme', 'old case', 'cli', 0)"))
            .execute(&old)
            .await
            .unwrap();
        old.close().await;

        let catalog = Catalog::open(&path, 0).await.unwrap();
        let holds = catalog.holds(None, false).await.unwrap();
        assert_eq!(holds.len(), 1);
        assert_eq!(
            (&holds[0].reason, &holds[0].owner, holds[0].until),
            (&"old case".to_owned(), &Principal::Operator, None)
        );
        let json = serde_json::to_value(&holds[0]).unwrap();
        let owner = json.as_object().unwrap().get_key_value("owner_tenant");
        assert_eq!(
            (&json["owner"], owner),
            (&serde_json::json!("operator"), Some((&"owner_tenant".to_owned(), &serde_json::Value::Null)))
        );
    }
}
