//! strata's HTTP API: an axum router over the store and the queue.
//!
//! - [`router`] builds every route; [`serve`] runs it on a listener until a
//!   shutdown signal, finishing requests in flight.
//! - [`state`]: what handlers share ([`state::ApiState`]).
//! - [`auth`]: bearer tokens and access levels; a route's level is the group
//!   it is registered in ([`routes::build`]).
//! - [`error`]: [`error::ApiError`], the one mapping of failures to
//!   `application/problem+json` answers.
//! - [`routes`]: one module per resource.
//! - [`openapi`]: the OpenAPI document generated from the handlers, at `/openapi.json`.
//!
//! This is the only crate that names axum.

pub mod auth;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod state;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use error::ApiError;
use state::{ApiState, MAX_JSON_BYTES};
use std::future::Future;
use std::sync::Arc;
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

/// The API's router, with every route, the OpenAPI document, problem+json
/// errors and request tracing.
pub fn router(state: ApiState) -> Router {
    let state = Arc::new(state);
    let (router, doc) = routes::build(&state);
    let rendered = openapi::Rendered(Arc::new(doc.to_pretty_json().expect("the OpenAPI document serializes")));
    router
        .route_layer(middleware::from_fn_with_state(state.clone(), metrics::record))
        .fallback(no_route)
        .with_state(state)
        .layer(axum::Extension(rendered))
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .layer(middleware::map_response(error::problem_details))
        .layer(middleware::from_fn(trace_request))
}

/// Serves only `/metrics` (admin token), for a worker process that runs no
/// API, until `shutdown` completes.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = Arc::new(state);
    let router = Router::new()
        .route("/metrics", axum::routing::get(metrics::metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_admin))
        .fallback(no_route)
        .with_state(state)
        .layer(middleware::map_response(error::problem_details));
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

/// Serves the API on `listener` until `shutdown` completes, then stops
/// accepting and waits for requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
