//! `/healthz` (the process is up) and `/readyz` (catalog, queue and tiers answer).

use crate::error::{Kind, problem_response};
use crate::state::ApiState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when answered.
    pub status: &'static str,
}

/// The process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The catalog, the queue and every tier answer; 503 names the first that does not.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "meta",
    responses((status = 200, body = Health), (status = 503, description = "The catalog, the queue or a tier does not answer"))
)]
pub async fn readyz(State(state): State<Arc<ApiState>>) -> Response {
    let failed = if let Err(e) = state.store.catalog().ping().await {
        tracing::warn!(error = %e, "Readiness: the catalog does not answer");
        Some("catalog")
    } else if let Err(e) = state.queue.stats().await {
        tracing::warn!(error = %e, "Readiness: the queue does not answer");
        Some("queue")
    } else if let Err(e) = state.store.tiers().check().await {
        tracing::warn!(error = %e, "Readiness: a tier is not reachable");
        Some("tier storage")
    } else {
        None
    };
    match failed {
        None => Json(Health { status: "ok" }).into_response(),
        Some(what) => problem_response(&Kind::Unavailable.problem(format!("the {what} is not reachable"))),
    }
}

/// The health routes (public).
pub fn routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz))
}
