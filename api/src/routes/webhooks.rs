//! A tenant's webhook endpoints: register, list, remove, and see their
//! deliveries (tenant access: a tenant token manages its own).

use super::params::PageSize;
use super::paths::{ApiPath, TenantPath, WebhookPath};
use super::views::time;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::query::{NoParams, Query};
use crate::state::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use strata_core::store::StoreError;
use strata_core::webhook::{Webhook, WebhookDelivery};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// An endpoint as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// Its id: `wh_…` when registered, `config-…` when configured.
    pub id: String,
    /// The tenant whose notices it receives.
    pub tenant: String,
    /// Where notices are POSTed.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<String>,
    /// `api` or `config` (configured ones are changed in the file).
    pub source: String,
    /// When it was registered (RFC 3339); absent for configured ones.
    pub created_at: Option<String>,
}

impl From<&Webhook> for WebhookView {
    fn from(w: &Webhook) -> Self {
        Self {
            id: w.id.clone(),
            tenant: w.tenant.clone(),
            url: w.url.clone(),
            events: w.events.iter().map(|e| e.as_str().to_owned()).collect(),
            source: w.source.to_owned(),
            created_at: w.created_at.map(time),
        }
    }
}

/// A registered endpoint, with its signing secret: shown in this answer only.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredWebhook {
    /// The endpoint.
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// The HMAC-SHA256 key its deliveries are signed with.
    pub secret: String,
}

/// An endpoint to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// An absolute http(s) URL on a public address (unless
    /// `webhooks.allow_private`).
    pub url: String,
    /// Event types: `expiring_soon`, `deletion_eligible`, `purged`,
    /// `erased`, `job_dead_lettered`, `restored`.
    #[schema(min_items = 1)]
    pub events: Vec<String>,
    /// The signing secret (at least 16 characters); generated when absent.
    #[schema(min_length = 16)]
    pub secret: Option<String>,
}

/// One notice to an endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Its id (the `Strata-Delivery` header).
    pub id: i64,
    /// The event type.
    pub event: String,
    /// Its idempotency key (`Idempotency-Key` header and the body's `id`).
    pub idempotency_key: String,
    /// When what it tells of happened (RFC 3339).
    pub occurred_at: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last HTTP status received.
    pub last_status: Option<i64>,
    /// When the endpoint acknowledged it with a 2xx (RFC 3339).
    pub delivered_at: Option<String>,
    /// The last failure.
    pub last_error: Option<String>,
}

impl From<WebhookDelivery> for DeliveryView {
    fn from(d: WebhookDelivery) -> Self {
        Self {
            id: d.id,
            event: d.event,
            idempotency_key: d.idempotency_key,
            occurred_at: time(d.occurred_at),
            attempts: d.attempts,
            last_status: d.last_status,
            delivered_at: d.delivered_at.map(time),
            last_error: d.last_error,
        }
    }
}

/// How many deliveries to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// At most this many, newest first (default 100)
    #[param(inline)]
    limit: Option<PageSize>,
}

/// A tenant's endpoints: configured ones, then registered ones.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/webhooks",
    tag = "webhooks",
    params(TenantPath),
    responses((status = 200, body = Vec<WebhookView>), (status = 404, description = "No such tenant"))
)]
pub async fn list_webhooks(
    State(state): State<Arc<ApiState>>,
    ApiPath(TenantPath { tenant }): ApiPath<TenantPath>,
    Query(NoParams {}): Query<NoParams>,
) -> Result<Json<Vec<WebhookView>>, ApiError> {
    state.store.tenant(&tenant).await?;
    let hooks = state.store.webhooks(Some(&tenant)).await?;
    Ok(Json(hooks.iter().map(WebhookView::from).collect()))
}

/// Registers an endpoint for the tenant's notices; its secret is in this answer only.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/webhooks",
    tag = "webhooks",
    params(TenantPath),
    request_body = NewWebhook,
    responses(
        (status = 201, body = RegisteredWebhook),
        (status = 400, description = "Not an http(s) URL, a non-public address, an unknown event or a short secret"),
        (status = 404, description = "No such tenant"),
    )
)]
pub async fn add_webhook(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    ApiPath(TenantPath { tenant }): ApiPath<TenantPath>,
    ApiJson(new): ApiJson<NewWebhook>,
) -> Result<(StatusCode, Json<RegisteredWebhook>), ApiError> {
    let r = state.store.add_webhook(&tenant, &new.url, &new.events, new.secret, &caller.actor()).await?;
    tracing::info!(tenant = %tenant, webhook = %r.webhook.id, "Registered a webhook over HTTP");
    Ok((StatusCode::CREATED, Json(RegisteredWebhook { webhook: WebhookView::from(&r.webhook), secret: r.secret })))
}

/// Removes a registered endpoint; notices not yet delivered to it are dropped.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant}/webhooks/{id}",
    tag = "webhooks",
    params(WebhookPath),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such registered webhook"))
)]
pub async fn remove_webhook(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    ApiPath(WebhookPath { tenant, id }): ApiPath<WebhookPath>,
) -> Result<StatusCode, ApiError> {
    state.store.remove_webhook(&tenant, &id, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint's newest notices: attempts, last status, delivered or not.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(WebhookPath, DeliveriesQuery),
    responses((status = 200, body = Vec<DeliveryView>), (status = 404, description = "No such webhook"))
)]
pub async fn deliveries(
    State(state): State<Arc<ApiState>>,
    ApiPath(WebhookPath { tenant, id }): ApiPath<WebhookPath>,
    Query(query): Query<DeliveriesQuery>,
) -> Result<Json<Vec<DeliveryView>>, ApiError> {
    let found = state.store.find_webhook(&id).await?.filter(|w| w.tenant == tenant.as_str());
    if found.is_none() {
        return Err(StoreError::WebhookNotFound { tenant: tenant.to_string(), id }.into());
    }
    let limit = i64::from(PageSize::or_default(query.limit));
    let list = state.store.catalog().webhook_deliveries(&id, limit).await.map_err(StoreError::from)?;
    Ok(Json(list.into_iter().map(DeliveryView::from).collect()))
}

/// The webhook routes (tenant access).
pub fn routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, add_webhook))
        .routes(routes!(remove_webhook))
        .routes(routes!(deliveries))
}
