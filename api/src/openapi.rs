//! The OpenAPI document, generated from the code.
//!
//! Every route is registered through `utoipa_axum`'s `routes!`, which takes
//! the path and methods from the handler's `#[utoipa::path]`, so the router
//! and the document cannot disagree on what exists. The access level of a
//! route's group becomes its operations' `security` here, and every
//! operation gets the problem+json `default` response.

use crate::auth::Access;
use crate::error::{PROBLEM_JSON, Problem};
use axum::Extension;
use axum::http::header;
use axum::response::IntoResponse;
use std::sync::Arc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, Ref, RefOr, ResponseBuilder,
    path::Operation,
};

/// Security scheme of tenant tokens (`strata tenant token create`).
pub const TENANT_TOKEN: &str = "tenant_token";
/// Security scheme of the admin token (`STRATA_ADMIN_TOKEN`).
pub const ADMIN_TOKEN: &str = "admin_token";

/// The document with no paths: info, security schemes, the problem schema.
pub fn base() -> OpenApi {
    let bearer = || SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer));
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("strata")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("Artifacts, retention and restore jobs of a strata deployment."))
                .build(),
        )
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(TENANT_TOKEN, bearer())
                .security_scheme(ADMIN_TOKEN, bearer())
                .schema_from::<Problem>()
                .build(),
        ))
        .build()
}

/// Every operation of a path item.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.head,
        &mut item.patch,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// States `access` on every operation of a group's document and adds the
/// problem+json `default` response.
pub fn declare(doc: &mut OpenApi, access: Access) {
    let problem = ResponseBuilder::new()
        .description("An error, as application/problem+json (RFC 9457).")
        .content(PROBLEM_JSON, ContentBuilder::new().schema(Some(RefOr::Ref(Ref::from_schema_name("Problem")))).build())
        .build();
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            op.security =
                Some(access.schemes().iter().map(|s| SecurityRequirement::new(*s, Vec::<String>::new())).collect());
            op.responses.responses.entry("default".into()).or_insert_with(|| problem.clone().into());
        }
    }
}

/// The rendered document, served by [`openapi_json`].
#[derive(Debug, Clone)]
pub struct Rendered(pub Arc<String>);

/// The OpenAPI document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn openapi_json(Extension(doc): Extension<Rendered>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], doc.0.as_str().to_owned())
}
