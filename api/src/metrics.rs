//! `/metrics`: the Prometheus text of the durable state (catalog and queue),
//! of the jobs this process ran, and of the HTTP requests it answered.

use crate::error::ApiError;
use crate::state::ApiState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Instant;
use strata_queue::metrics::{header as metric_header, write_durable};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The label for a request's method: the standard methods by name, any
/// other (a client may send any token) as `other`, so made-up methods cannot
/// add series.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Records every routed request (layered on the matched routes, so the
/// route's template is known).
pub async fn record(State(state): State<Arc<ApiState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method()).to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let response = next.run(request).await;
    state.http.record(&method, &route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// Prometheus metrics: jobs by kind and outcome with durations and the
/// eligibility-to-action lag, queue depth by lane and state, dead letters,
/// artifacts and bytes per tier, retention deletes and bytes freed per
/// plan, lifecycle run durations, HTTP requests by route and status.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<Arc<ApiState>>) -> Result<Response, ApiError> {
    // The durable part needs the catalog and the queue; when either is
    // down, this process's own counters (failed fetches among them) are
    // still served, and `strata_durable_metrics_up` says what is missing.
    let mut durable = String::new();
    let up = match write_durable(&state.store, state.queue.as_ref(), &mut durable).await {
        Ok(()) => 1,
        Err(e) => {
            tracing::warn!(error = %e, "Metrics from the catalog and the queue are unavailable");
            durable.clear();
            0
        }
    };
    let mut out = String::new();
    metric_header(
        &mut out,
        "strata_durable_metrics_up",
        "gauge",
        "1 when the catalog and the queue answered for this page, 0 when their metrics are missing from it.",
    );
    out.push_str(&format!("strata_durable_metrics_up {up}\n"));
    out.push_str(&durable);
    state.jobs.write(&mut out);
    state.http.write(&mut out);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response())
}

/// The metrics route (admin access).
pub fn routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new().routes(routes!(metrics))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        let card = axum::http::Method::from_bytes(b"CARD1").expect("a valid token");
        let other = axum::http::Method::from_bytes(b"CARD2").expect("a valid token");
        assert_eq!(method_label(&card), "other");
        assert_eq!(method_label(&other), "other");
        assert_eq!(method_label(&axum::http::Method::GET), "GET");
    }
}
