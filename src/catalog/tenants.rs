//! Tenants and their plans.

use super::sql::sql;
use super::{Catalog, CatalogError, WriteTx};
use crate::clock::{from_millis, to_millis};
use crate::event::{EventKind, NewEvent};
use crate::id::{ArtifactKey, TenantId};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::sync::LazyLock;

/// A tenant row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tenant {
    /// Its id.
    pub name: TenantId,
    /// Its plan name.
    pub plan: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

fn tenant_from_row(row: &AnyRow) -> Result<Tenant, CatalogError> {
    let name: String = row.try_get("name")?;
    Ok(Tenant {
        name: TenantId::parse(&name).map_err(|e| CatalogError::BadRow(e.to_string()))?,
        plan: row.try_get("plan")?,
        created_at: from_millis(row.try_get("created_at")?),
    })
}

/// The statement of [`Catalog::put_check`].
static PUT_CHECK: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT t.name, t.plan, t.created_at, a.id AS live_id, {} AS held \
         FROM tenants t LEFT JOIN artifacts a ON a.tenant = t.name AND a.workflow = ? AND a.name = ? \
           AND a.state IN ('active', 'eligible') \
         WHERE t.name = ?",
        super::artifacts::held("a")
    )
});

impl Catalog {
    /// The tenant named `name`.
    pub async fn tenant(&self, name: &TenantId) -> Result<Tenant, CatalogError> {
        let row = sqlx::query(sql("SELECT name, plan, created_at FROM tenants WHERE name = ?"))
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| CatalogError::NotFound(format!("tenant {name:?}")))?;
        tenant_from_row(&row)
    }

    /// What a put must know before it writes a byte, in one statement: the
    /// key's tenant, and whether a live artifact has the key (`Some(held)`).
    pub async fn put_check(&self, key: &ArtifactKey) -> Result<(Tenant, Option<bool>), CatalogError> {
        let row = sqlx::query(sql(&PUT_CHECK))
            .bind(key.workflow.as_str())
            .bind(key.name.as_str())
            .bind(key.tenant.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| CatalogError::NotFound(format!("tenant {:?}", key.tenant)))?;
        let live = match row.try_get::<Option<i64>, _>("live_id")? {
            Some(_) => Some(super::row::flag(&row, "held")?),
            None => None,
        };
        Ok((tenant_from_row(&row)?, live))
    }

    /// Every tenant, by name.
    pub async fn tenants(&self) -> Result<Vec<Tenant>, CatalogError> {
        let rows =
            sqlx::query(sql("SELECT name, plan, created_at FROM tenants ORDER BY name")).fetch_all(&self.pool).await?;
        rows.iter().map(tenant_from_row).collect()
    }
}

impl WriteTx {
    /// Adds a tenant, with its `tenant_created` event.
    pub async fn add_tenant(
        &mut self,
        name: &TenantId,
        plan: &str,
        at: DateTime<Utc>,
        actor: &str,
    ) -> Result<(), CatalogError> {
        let inserted =
            sqlx::query(sql("INSERT INTO tenants (name, plan, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"))
                .bind(name.as_str())
                .bind(plan)
                .bind(to_millis(at))
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
        if inserted == 0 {
            return Err(CatalogError::Conflict(format!("tenant {name:?}")));
        }
        let event = NewEvent::new(EventKind::TenantCreated, actor, serde_json::json!({ "plan": plan }));
        self.append_event(at, Some(name), None, &event).await?;
        Ok(())
    }

    /// Changes a tenant's plan; returns the previous plan.
    pub async fn set_plan(&mut self, name: &TenantId, plan: &str) -> Result<String, CatalogError> {
        let previous: String = sqlx::query(sql("SELECT plan FROM tenants WHERE name = ?"))
            .bind(name.as_str())
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or_else(|| CatalogError::NotFound(format!("tenant {name:?}")))?
            .try_get("plan")?;
        sqlx::query(sql("UPDATE tenants SET plan = ? WHERE name = ?"))
            .bind(plan)
            .bind(name.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(previous)
    }
}
