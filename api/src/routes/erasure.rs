//! Erasure on request (GDPR): `POST /v1/tenants/{tenant}/erasures` queues one
//! erase job per live artifact in scope — the whole tenant, a workflow, or
//! one artifact — whatever its plan, extension or class, except those a hold
//! or a permanent-record class protects, which are listed as blocked.

use super::params;
use super::paths::{ApiPath, TenantPath};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::openapi::{Identifier, Reason};
use crate::state::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use strata_jobs::planner;
use strata_queue::message::to_new_jobs;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What to erase, and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// The workflow to erase; absent: the whole tenant.
    #[schema(value_type = Option<Identifier>)]
    pub workflow: Option<String>,
    /// The artifact to erase (needs `workflow`); absent: the whole workflow.
    #[schema(value_type = Option<Identifier>)]
    pub name: Option<String>,
    /// Why, as the requester said (mandatory; recorded in the events).
    #[schema(value_type = Reason)]
    pub reason: String,
}

/// The erasure as queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureView {
    /// Artifacts whose erase job was queued (`TENANT/WORKFLOW/NAME`).
    pub queued: Vec<String>,
    /// Artifacts in scope that a hold or a permanent-record class protects.
    pub blocked: Vec<String>,
}

/// Queues the erasure of a tenant's artifacts, a workflow's or one artifact; 202.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/erasures",
    tag = "retention",
    params(TenantPath),
    request_body = EraseRequest,
    responses(
        (status = 202, description = "Erase jobs queued", body = ErasureView),
        (status = 400, description = "A name without its workflow, an invalid identifier or an empty reason"),
    )
)]
pub async fn erase(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    ApiPath(TenantPath { tenant }): ApiPath<TenantPath>,
    ApiJson(body): ApiJson<EraseRequest>,
) -> Result<(StatusCode, Json<ErasureView>), ApiError> {
    let target = params::target(tenant, body.workflow.as_deref(), body.name.as_deref(), "erasing an artifact")?;
    let erasure = planner::plan_erase(&state.store, &target, &body.reason, &caller.actor()).await?;
    // If the queue is down this answers 503 after the request was recorded;
    // asking again plans the same artifacts afresh, so a retry is safe.
    state.queue.enqueue(&to_new_jobs(&erasure.jobs, state.store.config())).await?;
    let queued: Vec<String> = erasure.queued.iter().map(ToString::to_string).collect();
    tracing::info!(target = %target, queued = queued.len(), blocked = erasure.blocked.len(), actor = %caller.actor(), "Queued an erasure over HTTP");
    let blocked = erasure.blocked.iter().map(ToString::to_string).collect();
    Ok((StatusCode::ACCEPTED, Json(ErasureView { queued, blocked })))
}

/// The erasure route (tenant access).
pub fn routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new().routes(routes!(erase))
}
