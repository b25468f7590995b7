//! Tenant API tokens, stored as the sha256 of the token (hex), never the token.

use super::{Catalog, CatalogError, WriteTx};
use crate::clock::to_millis;
use crate::id::TenantId;
use chrono::{DateTime, Utc};
use sqlx::Row;

impl Catalog {
    /// The tenant whose unrevoked token hashes to `sha256`, if any.
    pub async fn token_tenant(&self, sha256: &str) -> Result<Option<TenantId>, CatalogError> {
        let row = sqlx::query("SELECT tenant FROM api_tokens WHERE sha256 = ? AND revoked_at IS NULL")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let tenant: String = r.try_get("tenant")?;
            TenantId::parse(&tenant).map_err(|e| CatalogError::BadRow(e.to_string()))
        })
        .transpose()
    }
}

impl WriteTx {
    /// Records a token of `tenant` by its hash; returns its id.
    pub async fn add_token(
        &mut self,
        tenant: &TenantId,
        sha256: &str,
        at: DateTime<Utc>,
        actor: &str,
    ) -> Result<i64, CatalogError> {
        Ok(sqlx::query(
            "INSERT INTO api_tokens (tenant, sha256, created_at, created_by) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(tenant.as_str())
        .bind(sha256)
        .bind(to_millis(at))
        .bind(actor)
        .fetch_one(&mut *self.tx)
        .await?
        .try_get("id")?)
    }
}
