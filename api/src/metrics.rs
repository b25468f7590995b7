//! `/metrics`: the Prometheus text of the durable state (catalog and queue),
//! of the jobs this process ran, and of the HTTP requests it answered.

use crate::error::ApiError;
use crate::state::ApiState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use strata_queue::metrics::{DURATION_BUCKETS, Histogram, escape, header as metric_header, write_durable};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Requests answered by this process, by method, route and status, and
/// their durations by route.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    inner: Mutex<HttpInner>,
}

#[derive(Debug, Default)]
struct HttpInner {
    requests: BTreeMap<(String, String, u16), u64>,
    durations: BTreeMap<String, Histogram>,
}

impl HttpMetrics {
    /// Counts one answered request. `route` is the route's template (e.g.
    /// `/v1/tenants/{tenant}/artifacts`), never the raw path, so the number
    /// of series stays bounded.
    pub fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *inner.requests.entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
        inner.durations.entry(route.to_owned()).or_insert_with(|| Histogram::new(DURATION_BUCKETS)).observe(seconds);
    }

    /// Appends the request metrics in the text format.
    pub fn write(&self, out: &mut String) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        metric_header(
            out,
            "strata_http_requests_total",
            "counter",
            "HTTP requests answered, by method, route and status.",
        );
        for ((method, route, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "strata_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(method),
                escape(route)
            );
        }
        metric_header(out, "strata_http_request_duration_seconds", "histogram", "Time to answer a request, by route.");
        for (route, h) in &inner.durations {
            h.write(out, "strata_http_request_duration_seconds", &format!("route=\"{}\",", escape(route)));
        }
    }
}

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

    #[test]
    fn requests_are_counted_by_route_template() {
        let m = HttpMetrics::default();
        m.record("GET", "/v1/tenants/{tenant}/artifacts", 200, 0.002);
        m.record("GET", "/v1/tenants/{tenant}/artifacts", 200, 0.004);
        m.record("PUT", "/v1/tenants/{tenant}/artifacts/{workflow}/{name}", 413, 0.001);
        let mut out = String::new();
        m.write(&mut out);
        assert!(
            out.contains(
                "strata_http_requests_total{method=\"GET\",route=\"/v1/tenants/{tenant}/artifacts\",status=\"200\"} 2"
            ),
            "{out}"
        );
        assert!(out.contains("status=\"413\"} 1"), "{out}");
        assert!(
            out.contains("strata_http_request_duration_seconds_count{route=\"/v1/tenants/{tenant}/artifacts\"} 2"),
            "{out}"
        );
    }
}
