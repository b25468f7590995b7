//! Tenant API tokens, stored as the sha256 of the token (hex), never the token.

use super::sql::sql;
use super::{Catalog, CatalogError, WriteTx};
use crate::clock::{from_millis, to_millis};
use crate::id::TenantId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

/// A token as the catalog keeps it (without the token, which it never has).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    /// Its id.
    pub id: i64,
    /// The tenant it reaches.
    pub tenant: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Catalog {
    /// Tokens, of one tenant or of all, by id.
    pub async fn tokens(&self, tenant: Option<&TenantId>) -> Result<Vec<TokenRecord>, CatalogError> {
        let rows = sqlx::query(sql("SELECT id, tenant, created_at, created_by, revoked_at FROM api_tokens \
             WHERE ?1 IS NULL OR tenant = ?1 ORDER BY id"))
        .bind(tenant.map(TenantId::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenRecord {
                    id: r.try_get("id")?,
                    tenant: r.try_get("tenant")?,
                    created_at: from_millis(r.try_get("created_at")?),
                    created_by: r.try_get("created_by")?,
                    revoked_at: r.try_get::<Option<i64>, _>("revoked_at")?.map(from_millis),
                })
            })
            .collect()
    }

    /// The tenant whose unrevoked token hashes to `sha256`, if any.
    pub async fn token_tenant(&self, sha256: &str) -> Result<Option<TenantId>, CatalogError> {
        let row = sqlx::query(sql("SELECT tenant FROM api_tokens WHERE sha256 = ? AND revoked_at IS NULL"))
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
    /// Revokes token `id` of `tenant`; false when there is no such live token.
    pub async fn revoke_token(&mut self, tenant: &TenantId, id: i64, at: DateTime<Utc>) -> Result<bool, CatalogError> {
        let done =
            sqlx::query(sql("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND tenant = ? AND revoked_at IS NULL"))
                .bind(to_millis(at))
                .bind(id)
                .bind(tenant.as_str())
                .execute(&mut *self.tx)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a token of `tenant` by its hash; returns its id.
    pub async fn add_token(
        &mut self,
        tenant: &TenantId,
        sha256: &str,
        at: DateTime<Utc>,
        actor: &str,
    ) -> Result<i64, CatalogError> {
        Ok(sqlx::query(sql(
            "INSERT INTO api_tokens (tenant, sha256, created_at, created_by) VALUES (?, ?, ?, ?) RETURNING id",
        ))
        .bind(tenant.as_str())
        .bind(sha256)
        .bind(to_millis(at))
        .bind(actor)
        .fetch_one(&mut *self.tx)
        .await?
        .try_get("id")?)
    }
}
