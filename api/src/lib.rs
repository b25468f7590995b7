//! strata's HTTP API: an axum router over the store and the queue.
//!
//! - [`router`] builds every route; [`serve`] runs it on a listener until a
//!   shutdown signal, finishing requests in flight.
//! - [`server`]: the accept loop, with header-read and idle timeouts and a
//!   cap on connections.
//! - [`state`]: what handlers share ([`state::ApiState`]), the admin token's
//!   digest among it.
//! - [`auth`]: bearer tokens and access levels; a route's level is the group
//!   it is registered in ([`routes::build`]).
//! - [`error`]: [`error::ApiError`], the one mapping of failures to
//!   `application/problem+json` answers.
//! - [`routes`]: one module per resource.
//! - [`query`]: [`query::Query`], a route's query string as one typed struct.
//! - [`openapi`]: the OpenAPI document generated from the handlers, at `/openapi.json`.
//! - [`metrics`]: `/metrics`, and the middleware counting requests into
//!   [`http_metrics::HttpMetrics`].
//!
//! This is the only crate that names axum.

pub mod auth;
pub mod error;
pub mod extract;
pub mod http_metrics;
pub mod metrics;
pub mod negotiate;
pub mod openapi;
pub mod query;
pub mod routes;
pub mod server;
pub mod state;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use error::ApiError;
use extract::MAX_JSON_BYTES;
use state::ApiState;
use std::future::Future;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

/// Answers paths that no route serves.
async fn no_route(request: Request) -> Response {
    ApiError::NoRoute(request.uri().path().chars().take(200).collect()).into_response()
}

/// One span per request; logs the outcome (never the Authorization header).
async fn trace_request(request: Request, next: Next) -> Response {
    let span = tracing::info_span!("request", method = %request.method(), path = %request.uri().path());
    async move {
        let started = std::time::Instant::now();
        let response = next.run(request).await;
        let status = response.status().as_u16();
        tracing::info!(status, elapsed_ms = started.elapsed().as_millis() as u64, "Answered a request");
        response
    }
    .instrument(span)
    .await
}

/// What every served router is wrapped in: answers axum produced by itself
/// get the problem shape, and a handler that panics is answered with a 500
/// problem (the panic is logged) while the server keeps serving.
fn guarded(router: Router) -> Router {
    router.layer(middleware::map_response(error::problem_details)).layer(CatchPanicLayer::custom(error::panic_response))
}

/// The API's router, with every route, the OpenAPI document, problem+json
/// errors and request tracing.
pub fn router(state: ApiState) -> Router {
    let state = Arc::new(state);
    let (router, doc) = routes::build(&state);
    let rendered = openapi::Rendered(Arc::new(doc.to_pretty_json().expect("the OpenAPI document serializes")));
    let routes = router
        .route_layer(middleware::from_fn_with_state(state.clone(), metrics::record))
        .fallback(no_route)
        .with_state(state)
        .layer(axum::Extension(rendered))
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES));
    guarded(routes).layer(middleware::from_fn(trace_request))
}

/// Serves only `/metrics` (admin token), for a worker process that runs no
/// API, until `shutdown` completes; connections are bounded as `[api]` says.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = server::Limits::from_config(&state.store.config().api);
    let state = Arc::new(state);
    let router = Router::new()
        .route("/metrics", axum::routing::get(metrics::metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_admin))
        .fallback(no_route)
        .with_state(state);
    server::serve(listener, guarded(router), limits, shutdown).await
}

/// Serves the API on `listener` until `shutdown` completes, then stops
/// accepting and waits for requests in flight. Connections are bounded as
/// `[api]` says (see [`server`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = server::Limits::from_config(&state.store.config().api);
    let closing = state.closing.clone();
    let shutdown = async move {
        shutdown.await;
        closing.cancel();
    };
    server::serve(listener, router(state), limits, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tower::ServiceExt as _;

    async fn boom() -> &'static str {
        panic!("a handler bug at /secret/path")
    }

    /// A router with a handler that panics, as every served router is wrapped.
    fn panicking() -> Router {
        let routes = Router::new()
            .route("/boom", axum::routing::get(boom))
            .route("/fine", axum::routing::get(|| async { "fine" }));
        guarded(routes)
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_problem() {
        let request = axum::http::Request::get("/boom").body(Body::empty()).unwrap();
        let response = panicking().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers().get("content-type").unwrap(), error::PROBLEM_JSON);
        let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["type"], format!("{}internal", error::PROBLEM_BASE));
        assert_eq!(problem["status"], 500);
        assert!(!problem.to_string().contains("/secret/path"), "{problem}");
    }

    /// One request over a fresh connection; the whole answer.
    async fn get(address: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: strata\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn the_server_keeps_serving_after_a_handler_panicked() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let limits = server::Limits {
            header_read_timeout: std::time::Duration::from_secs(5),
            idle_timeout: std::time::Duration::from_secs(5),
            max_connections: 4,
        };
        let serving = tokio::spawn(server::serve(listener, panicking(), limits, async move {
            let _ = stopped.await;
        }));
        for _ in 0..3 {
            let boom = get(address, "/boom").await;
            assert!(boom.starts_with("HTTP/1.1 500"), "{boom}");
            assert!(boom.contains("application/problem+json"), "{boom}");
            let fine = get(address, "/fine").await;
            assert!(fine.starts_with("HTTP/1.1 200") && fine.ends_with("fine"), "{fine}");
        }
        stop.send(()).unwrap();
        serving.await.unwrap().unwrap();
    }
}
