//! `GET /`: the operator dashboard, one self-contained page. It holds no
//! data: it asks the admin routes for everything, with the admin token the
//! operator types in (kept in the browser session only).

use axum::http::header;
use axum::response::IntoResponse;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::ApiState;

const PAGE: &str = include_str!("../dashboard.html");

/// The operator dashboard (HTML): queue depth, dead letters with retry and
/// discard and tier totals refreshed every few seconds, and the event log
/// live from `/v1/events/stream`.
#[utoipa::path(get, path = "/", tag = "meta", responses((status = 200, description = "The page", content_type = "text/html")))]
pub async fn dashboard() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        PAGE,
    )
}

/// The dashboard route (public: the page itself carries no data).
pub fn routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new().routes(routes!(dashboard))
}
