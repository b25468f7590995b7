//! The routes, one module per resource, registered in groups by access level.
//!
//! To add a route: write the handler with `#[utoipa::path(...)]` in the
//! module of its resource, register it with `routes!` in that module's
//! `routes()`, and make sure that function is in the right group in
//! [`build`]. The group decides both who may call it (its middleware) and
//! what the OpenAPI document says about it (`security`), so the two cannot
//! drift apart.

pub mod admin;
pub mod artifacts;
pub mod dashboard;
mod download;
pub mod erasure;
pub mod health;
pub mod insights;
pub mod jobs;
pub mod lifecycle;
mod params;
mod paths;
pub mod queues;
pub mod retention;
pub mod stream;
pub mod views;
pub mod webhooks;

use crate::auth::{self, Access};
use crate::openapi;
use crate::state::ApiState;
use axum::Router;
use axum::middleware::from_fn_with_state;
use std::sync::Arc;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route with its access level.
fn groups() -> Vec<(Access, OpenApiRouter<Arc<ApiState>>)> {
    vec![
        (Access::Public, health::routes().routes(routes!(openapi::openapi_json)).merge(dashboard::routes())),
        (Access::Caller, jobs::caller_routes().merge(stream::routes())),
        (
            Access::Tenant,
            artifacts::routes()
                .merge(retention::routes())
                .merge(jobs::tenant_routes())
                .merge(erasure::routes())
                .merge(webhooks::routes())
                .merge(insights::routes()),
        ),
        (
            Access::Admin,
            admin::routes().merge(queues::routes()).merge(lifecycle::routes()).merge(crate::metrics::routes()),
        ),
    ]
}

/// The router of every route (without its state) and its OpenAPI document.
pub fn build(state: &Arc<ApiState>) -> (Router<Arc<ApiState>>, OpenApi) {
    let mut router = Router::new();
    let mut doc = openapi::base();
    for (access, group) in groups() {
        let group = match access {
            Access::Public => group,
            Access::Caller => group.route_layer(from_fn_with_state(state.clone(), auth::require_caller)),
            Access::Tenant => group.route_layer(from_fn_with_state(state.clone(), auth::require_tenant)),
            Access::Admin => group.route_layer(from_fn_with_state(state.clone(), auth::require_admin)),
        };
        let (group_router, mut group_doc) = group.split_for_parts();
        openapi::declare(&mut group_doc, access);
        router = router.merge(group_router);
        doc.merge(group_doc);
    }
    openapi::configure(&mut doc, state.store.config());
    (router, doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::clock::SystemClock;
    use strata_core::config::Config;
    use strata_core::store::Store;
    use strata_queue::sqlite::SqliteQueue;

    #[tokio::test]
    async fn every_operation_states_its_access_and_its_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Config::default(), Arc::new(SystemClock)).await.unwrap();
        let queue = SqliteQueue::new(store.catalog().job_queue().unwrap(), store.clock().clone());
        let state = Arc::new(ApiState::new(store, Arc::new(queue)));
        let (_, doc) = build(&state);
        let json = serde_json::to_value(&doc).unwrap();
        let mut public = std::collections::BTreeSet::new();
        for (path, item) in json["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let security = op["security"].as_array().unwrap_or_else(|| panic!("{method} {path} has no security"));
                if security.is_empty() {
                    public.insert(path.as_str());
                }
                let responses = op["responses"].as_object().unwrap();
                assert!(!responses.contains_key("default"), "{method} {path} has a catch-all response");
                for (status, response) in responses.iter().filter(|(s, _)| s.starts_with('4') || s.starts_with('5')) {
                    let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/Problem", "{method} {path} {status}");
                }
                if security.is_empty() {
                    continue;
                }
                assert!(responses.contains_key("401"), "{method} {path} says who may call it");
                assert!(responses["401"]["headers"]["WWW-Authenticate"].is_object(), "{method} {path}");
            }
        }
        assert_eq!(public.into_iter().collect::<Vec<_>>(), ["/", "/healthz", "/openapi.json", "/readyz"]);
    }
}
