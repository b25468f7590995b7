//! Retention: extensions, holds (apply, list, release), history and
//! explain. Tenant routes; every change goes through the store's retention
//! operations, so each one is recorded as events.

use super::params::{self, Instant, artifact_key};
use super::paths::{ApiPath, ArtifactPath, HoldPath, TenantPath};
use super::views::{ArtifactView, EventView, ExplanationView, HoldView, time};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::negotiate::json_or_cbor;
use crate::openapi::{ArtifactKeyText, Identifier, Reason};
use crate::query::Query;
use crate::state::ApiState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use strata_core::catalog::{EventFilter, HoldTerms};
use strata_core::event::RETENTION_HISTORY;
use strata_core::id::WorkflowName;
use strata_core::retention::Target;
use strata_core::store::StoreError;
use strata_core::upcoming::{Upcoming, window_end};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A later expiry for an artifact.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExtension {
    /// The new expiry (RFC 3339), strictly later than the current one.
    #[schema(format = DateTime)]
    pub until: String,
    /// Why (mandatory; recorded in the event).
    #[schema(value_type = Reason)]
    pub reason: String,
}

/// A hold to place on an artifact, a workflow or the whole tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHold {
    /// The workflow it covers; absent: the whole tenant.
    #[schema(value_type = Option<Identifier>)]
    pub workflow: Option<String>,
    /// The artifact it covers (needs `workflow`); absent: the whole workflow.
    #[schema(value_type = Option<Identifier>)]
    pub name: Option<String>,
    /// Why (mandatory).
    #[schema(value_type = Reason)]
    pub reason: String,
    /// For a compliance hold: the date (RFC 3339) before which nobody, an
    /// operator included, can release it; later than now and at most 36525
    /// days ahead (else 400). Absent: a legal hold.
    #[schema(format = DateTime)]
    pub until: Option<String>,
}

/// Why a hold is released.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// Why (mandatory).
    #[schema(value_type = Reason)]
    pub reason: String,
}

/// Moves an artifact's expiry later, with a reason; an eligible artifact
/// whose new expiry is in the future leaves eligibility.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/artifacts/{workflow}/{name}/extensions",
    tag = "retention",
    params(ArtifactPath),
    request_body = NewExtension,
    responses(
        (status = 200, description = "The artifact with its new expiry", body = ArtifactView),
        (status = 409, description = "Not later than the current expiry, or never expires (problem `conflict`)"),
    )
)]
pub async fn extend(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<ArtifactPath>,
    ApiJson(body): ApiJson<NewExtension>,
) -> Result<Json<ArtifactView>, ApiError> {
    let key = path.key();
    let until = params::instant("until", &body.until)?;
    let a = state.store.extend(&key, until, &body.reason, &caller.actor()).await?;
    Ok(Json(ArtifactView::from(&a)))
}

/// Places a hold: nothing it covers becomes eligible, is purged or deleted
/// until it is released. It is owned by the caller's kind: the admin token
/// places an operator's hold, a tenant's token a hold of that tenant (when
/// `retention.tenant_holds` allows tenants to place holds).
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/holds",
    tag = "retention",
    params(TenantPath),
    request_body = NewHold,
    responses(
        (status = 201, description = "The hold", body = HoldView),
        (status = 400, description = "A name without its workflow, an invalid identifier or date, or an empty reason"),
        (status = 403, description = "Tenants may not place holds here (`tenant-holds-disabled`)"),
    )
)]
pub async fn place_hold(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    ApiPath(TenantPath { tenant }): ApiPath<TenantPath>,
    ApiJson(body): ApiJson<NewHold>,
) -> Result<(StatusCode, Json<HoldView>), ApiError> {
    let target = params::target(tenant, body.workflow.as_deref(), body.name.as_deref(), "a hold on an artifact")?;
    let until = body.until.as_deref().map(|t| params::instant("until", t)).transpose()?;
    let terms = HoldTerms { reason: body.reason, owner: caller.principal(), until };
    let hold = state.store.place_hold_on(&target, &terms, &caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(HoldView::from(&hold))))
}

/// Which holds a listing shows.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HoldsQuery {
    /// Include released holds
    #[serde(default)]
    #[param(value_type = Option<bool>)]
    all: bool,
}

/// The tenant's active holds (`all=true`: with released ones), oldest first.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/holds",
    tag = "retention",
    params(TenantPath, HoldsQuery),
    responses((status = 200, body = Vec<HoldView>))
)]
pub async fn list_holds(
    State(state): State<Arc<ApiState>>,
    ApiPath(TenantPath { tenant }): ApiPath<TenantPath>,
    Query(query): Query<HoldsQuery>,
) -> Result<Json<Vec<HoldView>>, ApiError> {
    state.store.tenant(&tenant).await?;
    let holds = state.store.catalog().holds(Some(&tenant), query.all).await.map_err(StoreError::from)?;
    Ok(Json(holds.iter().map(HoldView::from).collect()))
}

/// Releases one of the tenant's active holds; what it covered is rescheduled
/// under the normal rules. A tenant's token releases only holds placed with a
/// token of the same tenant, never an operator's; nobody releases a
/// compliance hold before its date. A refused release is recorded
/// (`hold_release_refused`).
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/holds/{id}/release",
    tag = "retention",
    params(HoldPath),
    request_body = Release,
    responses(
        (status = 200, description = "The released hold", body = HoldView),
        (status = 403, description = "An operator placed it; a tenant's token cannot release it (`hold-not-owned`)"),
        (status = 409, description = "A compliance hold before its date (`hold-locked`)"),
    )
)]
pub async fn release_hold(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    ApiPath(HoldPath { tenant, id }): ApiPath<HoldPath>,
    ApiJson(body): ApiJson<Release>,
) -> Result<Json<HoldView>, ApiError> {
    let not_found = || StoreError::HoldNotFound { id, target: tenant.to_string() };
    let holds = state.store.catalog().holds(Some(&tenant), false).await.map_err(StoreError::from)?;
    let hold = holds.into_iter().find(|h| h.id == id).ok_or_else(not_found)?;
    let target = match (hold.workflow.as_deref(), hold.artifact.as_deref()) {
        (None, _) => Target::Tenant(tenant),
        (Some(w), None) => Target::Workflow(tenant, WorkflowName::parse(w)?),
        (Some(w), Some(n)) => Target::Artifact(artifact_key(tenant.as_str(), w, n)?),
    };
    let released = state.store.release_hold(&target, id, &body.reason, &caller.actor(), &caller.principal()).await?;
    Ok(Json(HoldView::from(&released)))
}

/// An artifact's retention events, oldest first (every version of the
/// name); as CBOR when `Accept` prefers `application/cbor`.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/artifacts/{workflow}/{name}/history",
    tag = "retention",
    params(ArtifactPath),
    responses((
        status = 200,
        description = "The events, as JSON or CBOR",
        content((Vec<EventView> = "application/json"), (Vec<EventView> = "application/cbor"))
    ))
)]
pub async fn history(
    State(state): State<Arc<ApiState>>,
    ApiPath(path): ApiPath<ArtifactPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = path.key();
    let filter = EventFilter { key: Some(key.clone()), ..EventFilter::default() };
    let events = state.store.catalog().events(&filter).await.map_err(StoreError::from)?;
    let history: Vec<EventView> =
        events.iter().filter(|e| RETENTION_HISTORY.contains(&e.event_type.as_str())).map(EventView::from).collect();
    if history.is_empty() {
        return Err(StoreError::NotFound(key).into());
    }
    Ok(json_or_cbor(&headers, &history))
}

/// The instant an explanation is for.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExplainQuery {
    /// Explain as of this time (RFC 3339); default now
    #[param(inline)]
    as_of: Option<Instant>,
}

/// Why an artifact is where it is, what protects it and what happens next,
/// as of now or `as_of` (RFC 3339).
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/artifacts/{workflow}/{name}/explain",
    tag = "retention",
    params(ArtifactPath, ExplainQuery),
    responses((status = 200, body = ExplanationView))
)]
pub async fn explain(
    State(state): State<Arc<ApiState>>,
    ApiPath(path): ApiPath<ArtifactPath>,
    Query(query): Query<ExplainQuery>,
) -> Result<Json<ExplanationView>, ApiError> {
    let key = path.key();
    let as_of = query.as_of.map_or_else(|| state.store.now(), |t| t.0);
    let explanation = state.store.explain(&key, as_of).await?;
    Ok(Json(ExplanationView::from(&explanation)))
}

/// The window of an upcoming-deletions listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UpcomingQuery {
    /// How far ahead to look: a number of days, hours, minutes or seconds (`7d`, `12h`); default `7d`
    #[param(pattern = r"^\+?[0-9]{1,5}[dhms]$", example = "7d")]
    within: Option<String>,
    /// Start the window at this time (RFC 3339); default now
    #[param(inline)]
    as_of: Option<Instant>,
}

/// One step towards deletion within the window.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpcomingView {
    /// `tenant/workflow/name`.
    #[schema(value_type = ArtifactKeyText)]
    pub key: String,
    /// `deletion_eligible` or `purged`: the event the step records.
    #[schema(value_type = String, example = "deletion_eligible")]
    pub event: &'static str,
    /// When it is due (RFC 3339); before the window's start when overdue.
    #[schema(format = DateTime)]
    pub at: String,
    /// The rule that sets the time, as `explain` names it.
    #[schema(example = "plan free: 30 days")]
    pub rule: String,
    /// Whether the step follows an eligibility in the same window (a
    /// purge whose grace period counts from it).
    pub follows: bool,
    /// The artifact's tier now.
    #[schema(example = "cold")]
    pub tier: String,
    /// Its size in bytes.
    pub size: u64,
}

impl From<&Upcoming> for UpcomingView {
    fn from(u: &Upcoming) -> Self {
        Self {
            key: u.key.clone(),
            event: u.event.as_str(),
            at: time(u.at),
            rule: u.rule.to_string(),
            follows: u.follows,
            tier: u.tier.to_string(),
            size: u.size,
        }
    }
}

/// Notice before deletion: what the current policy will make eligible for
/// deletion, or purge, within the window, soonest first, with the rule for
/// each. Held artifacts and those kept by keep-latest are left out: nothing
/// deletes them.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/retention/upcoming",
    tag = "retention",
    params(TenantPath, UpcomingQuery),
    responses(
        (status = 200, body = Vec<UpcomingView>),
        (status = 400, description = "A window that is not a positive span such as 7d, or a bad time"),
    )
)]
pub async fn upcoming(
    State(state): State<Arc<ApiState>>,
    ApiPath(TenantPath { tenant }): ApiPath<TenantPath>,
    Query(query): Query<UpcomingQuery>,
) -> Result<Json<Vec<UpcomingView>>, ApiError> {
    let now = query.as_of.map_or_else(|| state.store.now(), |t| t.0);
    let within = query.within.as_deref().unwrap_or("7d");
    let until = window_end(within, now).map_err(|e| ApiError::BadRequest(format!("within: {e}")))?;
    state.store.tenant(&tenant).await?;
    let steps = state.store.upcoming(Some(&tenant), now, until).await?;
    Ok(Json(steps.iter().map(UpcomingView::from).collect()))
}

/// The retention routes (tenant access).
pub fn routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new()
        .routes(routes!(extend))
        .routes(routes!(place_hold, list_holds))
        .routes(routes!(release_hold))
        .routes(routes!(history))
        .routes(routes!(explain))
        .routes(routes!(upcoming))
}
