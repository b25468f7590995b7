//! Operator routes on tenants: list, add, and create, list and revoke API
//! tokens (admin access).

use super::paths::{ApiPath, TenantPath, TokenPath};
use super::views::time;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::openapi::Identifier;
use crate::query::{NoParams, Query};
use crate::state::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use strata_core::catalog::Tenant;
use strata_core::id::TenantId;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A tenant as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantView {
    /// Its id.
    pub name: String,
    /// Its plan.
    pub plan: String,
    /// When it was added (RFC 3339).
    pub created_at: String,
}

impl From<&Tenant> for TenantView {
    fn from(t: &Tenant) -> Self {
        Self { name: t.name.to_string(), plan: t.plan.clone(), created_at: time(t.created_at) }
    }
}

/// A tenant to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// Its id.
    #[schema(value_type = Identifier)]
    pub name: String,
    /// Its plan (`free` when absent): one of the configured plans.
    pub plan: Option<String>,
}

/// A token, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Its id.
    pub id: i64,
    /// The tenant it reaches.
    pub tenant: String,
    /// The bearer token. It is not stored and cannot be shown again.
    pub token: String,
}

/// Every tenant, by name.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", responses((status = 200, body = Vec<TenantView>)))]
pub async fn list_tenants(
    State(state): State<Arc<ApiState>>,
    _: Query<NoParams>,
) -> Result<Json<Vec<TenantView>>, ApiError> {
    let tenants = state.store.catalog().tenants().await.map_err(strata_core::store::StoreError::from)?;
    Ok(Json(tenants.iter().map(TenantView::from).collect()))
}

/// Adds a tenant on a configured plan.
#[utoipa::path(
    post,
    path = "/v1/tenants",
    tag = "tenants",
    request_body = NewTenant,
    responses((status = 201, body = TenantView), (status = 409, description = "It exists (problem `conflict`)"))
)]
pub async fn add_tenant(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    ApiJson(new): ApiJson<NewTenant>,
) -> Result<(StatusCode, Json<TenantView>), ApiError> {
    let name = TenantId::parse(&new.name)?;
    let plan = new.plan.as_deref().unwrap_or("free");
    let tenant = state.store.add_tenant(&name, plan, &caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(TenantView::from(&tenant))))
}

/// Creates an API token for a tenant; the token is in this answer only.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/tokens",
    tag = "tenants",
    params(TenantPath),
    responses((status = 201, body = TokenView), (status = 404, description = "No such tenant"))
)]
pub async fn create_token(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    ApiPath(TenantPath { tenant }): ApiPath<TenantPath>,
) -> Result<(StatusCode, Json<TokenView>), ApiError> {
    let created = state.store.create_token(&tenant, &caller.actor()).await?;
    tracing::info!(tenant = %tenant, token_id = created.id, "Created a tenant token over HTTP");
    Ok((
        StatusCode::CREATED,
        Json(TokenView { id: created.id, tenant: created.tenant.to_string(), token: created.token }),
    ))
}

/// A token as listed: never the token itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenInfo {
    /// Its id.
    pub id: i64,
    /// The tenant it reaches.
    pub tenant: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// When it was revoked (RFC 3339), if it was.
    pub revoked_at: Option<String>,
}

/// A tenant's tokens, by id (revoked ones included).
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/tokens",
    tag = "tenants",
    params(TenantPath),
    responses((status = 200, body = Vec<TokenInfo>), (status = 404, description = "No such tenant"))
)]
pub async fn list_tokens(
    State(state): State<Arc<ApiState>>,
    ApiPath(TenantPath { tenant }): ApiPath<TenantPath>,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    state.store.tenant(&tenant).await?;
    let tokens = state.store.catalog().tokens(Some(&tenant)).await.map_err(strata_core::store::StoreError::from)?;
    Ok(Json(
        tokens
            .into_iter()
            .map(|t| TokenInfo {
                id: t.id,
                tenant: t.tenant,
                created_at: time(t.created_at),
                created_by: t.created_by,
                revoked_at: t.revoked_at.map(time),
            })
            .collect(),
    ))
}

/// Revokes a tenant's token: it stops working at once.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant}/tokens/{id}",
    tag = "tenants",
    params(TokenPath),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such live token"))
)]
pub async fn revoke_token(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    ApiPath(TokenPath { tenant, id }): ApiPath<TokenPath>,
) -> Result<StatusCode, ApiError> {
    state.store.revoke_token(&tenant, id, &caller.actor()).await?;
    tracing::info!(tenant = %tenant, token_id = id, "Revoked a tenant token over HTTP");
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant administration routes (admin access).
pub fn routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, add_tenant))
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
}
