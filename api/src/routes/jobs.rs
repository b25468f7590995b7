//! Restore jobs: `POST …/{name}/restore` (a tenant route) queues one on the
//! priority lane; `GET /v1/jobs/{id}` (any token, scoped to the caller's
//! tenant) tells how it went.
//!
//! A repeated restore request for an artifact whose restore is still under
//! way answers with that job instead of queueing another: the check and the
//! planning run under one lock in this process, and across processes the
//! artifact's claim token makes a second job a no-op.

use super::params::Bounded;
use super::paths::{ApiPath, ArtifactPath};
use super::views::{JobView, time};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::query::Query;
use crate::state::ApiState;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use std::sync::Arc;
use strata_core::artifact::Tier;
use strata_core::catalog::{EventFilter, RestoreJob};
use strata_core::store::StoreError;
use strata_jobs::payload::PRIORITY_LANE;
use strata_jobs::planner;
use strata_queue::DeadFilter;
use strata_queue::message::to_new_jobs;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Longest a restored artifact can be kept hot, in days.
const MAX_RESTORE_DAYS: u32 = 3650;
/// Dead letters of the priority lane looked through for a failed restore.
const DEAD_LETTERS_SCANNED: usize = 10_000;

/// How a restore job stands, from the catalog, the event log and the dead letters.
async fn status(state: &ApiState, job: &RestoreJob) -> Result<&'static str, ApiError> {
    let restored = EventFilter { key: Some(job.key.clone()), kind: Some("restored".into()), ..EventFilter::default() };
    let events = state.store.catalog().events(&restored).await.map_err(StoreError::from)?;
    if events.iter().any(|e| e.timestamp >= job.requested_at) {
        return Ok("succeeded");
    }
    let artifact = state.store.catalog().artifact(job.artifact_id).await.map_err(StoreError::from)?;
    if !artifact.state.is_live() || artifact.job_token.as_deref() != Some(job.id.as_str()) {
        return Ok("failed");
    }
    let filter = DeadFilter { lane: Some(PRIORITY_LANE.into()), kind: Some("restore".into()), ..DeadFilter::default() };
    let dead = state.queue.dead_letters(&filter, DEAD_LETTERS_SCANNED).await?;
    let token = format!("\"token\":\"{}\"", job.id);
    Ok(if dead.iter().any(|d| d.payload.contains(&token)) { "failed" } else { "pending" })
}

async fn view(state: &ApiState, job: &RestoreJob) -> Result<JobView, ApiError> {
    Ok(JobView {
        id: job.id.clone(),
        kind: "restore".into(),
        status: status(state, job).await?.into(),
        tenant: job.key.tenant.to_string(),
        workflow: job.key.workflow.to_string(),
        name: job.key.name.to_string(),
        requested_at: time(job.requested_at),
        requested_by: job.requested_by.clone(),
        days: job.days,
    })
}

fn accepted(job: JobView) -> Response {
    let location = HeaderValue::from_str(&format!("/v1/jobs/{}", job.id)).ok();
    let mut response = (StatusCode::ACCEPTED, Json(job)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Days a restored artifact stays hot.
type RestoreDays = Bounded<MAX_RESTORE_DAYS>;

/// How long a restored artifact stays hot.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RestoreQuery {
    /// Days to keep it hot once restored (default `tiers.restore_days`)
    #[param(inline)]
    days: Option<RestoreDays>,
}

/// Queues a restore of a warm or cold artifact to the hot tier (decompressing);
/// it then stays hot for `days` (default `tiers.restore_days`).
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/artifacts/{workflow}/{name}/restore",
    tag = "jobs",
    params(ArtifactPath, RestoreQuery),
    responses(
        (status = 202, description = "Queued, or already under way (the same job)", body = JobView, headers(
            ("Location" = String, description = "The job's URL"),
        )),
        (status = 409, description = "Already in the hot tier (problem `conflict`)"),
    )
)]
pub async fn restore(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<ArtifactPath>,
    Query(query): Query<RestoreQuery>,
) -> Result<Response, ApiError> {
    let key = path.key();
    let days = query.days.map(|d| d.0);
    let _one_at_a_time = state.restores.lock().await;
    let a = state.store.find(&key).await?;
    if let Some(job) = state.store.catalog().pending_restore(a.id).await.map_err(StoreError::from)? {
        return Ok(accepted(view(&state, &job).await?));
    }
    if a.tier == Tier::Hot {
        return Err(ApiError::Conflict(format!(
            "artifact {key} is already in the hot tier; there is nothing to restore"
        )));
    }
    let now = state.store.now();
    let planned = planner::plan_restore(&state.store, &key, days, now, &caller.actor()).await?;
    let job = RestoreJob {
        id: planned.token.clone(),
        key: key.clone(),
        artifact_id: planned.artifact_id,
        requested_at: now,
        requested_by: caller.actor(),
        days,
    };
    state.store.record_restore_job(&job).await?;
    state.queue.enqueue(&to_new_jobs(std::slice::from_ref(&planned), state.store.config())).await?;
    tracing::info!(artifact = %key, job = %job.id, actor = %caller.actor(), "Queued a restore over HTTP");
    Ok(accepted(view(&state, &job).await?))
}

/// A job's status. A tenant token sees only its tenant's jobs.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView))
)]
pub async fn job(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let shown: String = id.chars().take(64).collect();
    let not_found = || ApiError::NotFound(format!("job {shown:?} not found"));
    let job = state.store.catalog().restore_job(&id).await.map_err(StoreError::from)?.ok_or_else(not_found)?;
    if !caller.can_access(&job.key.tenant) {
        return Err(not_found());
    }
    Ok(Json(view(&state, &job).await?))
}

/// The restore route (tenant access).
pub fn tenant_routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new().routes(routes!(restore))
}

/// The job status route (any token; scoped by the handler).
pub fn caller_routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new().routes(routes!(job))
}
