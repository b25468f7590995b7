//! Artifacts: streamed upload and download, `HEAD`, `DELETE`, and listing
//! with filters and an opaque cursor. Tenant routes (see [`crate::auth`]).

use super::download::{self, RangeRequest};
use super::params::{self, artifact_key};
use super::views::{ArtifactPage, ArtifactView};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::ApiState;
use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use strata_core::artifact::{Artifact, Tier};
use strata_core::catalog::PageQuery;
use strata_core::id::{TenantId, WorkflowName};
use strata_core::store::{PutOptions, StoreError};
use tokio_util::io::StreamReader;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The tier an artifact was served from.
const TIER_HEADER: HeaderName = HeaderName::from_static("x-strata-tier");
/// Retention class of an upload.
const CLASS_HEADER: &str = "x-strata-class";
/// A tag of an upload, `key=value`; repeatable.
const TAG_HEADER: &str = "x-strata-tag";
/// A metadata entry of an upload, `key=value`; repeatable.
const META_HEADER: &str = "x-strata-meta";

fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// The headers every answer about one artifact carries.
fn entity_headers(a: &Artifact) -> [(HeaderName, HeaderValue); 4] {
    [
        (header::ETAG, header_value(&download::etag(&a.blake3))),
        (header::CONTENT_TYPE, header_value(&a.content_type)),
        (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
        (TIER_HEADER, HeaderValue::from_static(a.tier.as_str())),
    ]
}

fn with_headers(mut response: Response, headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>) -> Response {
    response.headers_mut().extend(headers);
    response
}

fn not_modified(a: &Artifact) -> Response {
    let etag = (header::ETAG, header_value(&download::etag(&a.blake3)));
    with_headers(StatusCode::NOT_MODIFIED.into_response(), [etag])
}

/// Upload options from the query (`class`, `tag`, `meta`, `overwrite`) and
/// headers (`Content-Type`, `X-Strata-Class`, `X-Strata-Tag`, `X-Strata-Meta`).
fn put_options(query: Option<&str>, headers: &HeaderMap, caller: &Caller) -> Result<PutOptions, ApiError> {
    let pairs = params::query_pairs(query, &["class", "tag", "meta", "overwrite"])?;
    let header_values = |name: &str| -> Result<Vec<String>, ApiError> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().map(str::to_owned).map_err(|_| ApiError::BadRequest(format!("{name} is not text"))))
            .collect()
    };
    let mut opts = PutOptions { actor: caller.actor(), ..PutOptions::default() };
    let classes: Vec<String> =
        params::single(&pairs, "class")?.map(str::to_owned).into_iter().chain(header_values(CLASS_HEADER)?).collect();
    if classes.len() > 1 {
        return Err(ApiError::BadRequest("give the retention class once (class or X-Strata-Class)".into()));
    }
    opts.class = classes.into_iter().next();
    let query_values = |name: &'static str| pairs.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.clone());
    for raw in query_values("tag").chain(header_values(TAG_HEADER)?) {
        let (k, v) = params::key_value("tag", &raw)?;
        opts.tags.insert(k, serde_json::Value::String(v));
    }
    for raw in query_values("meta").chain(header_values(META_HEADER)?) {
        let (k, v) = params::key_value("metadata entry", &raw)?;
        opts.meta.insert(k, serde_json::Value::String(v));
    }
    opts.overwrite = params::flag(&pairs, "overwrite")?;
    opts.content_type = match headers.get(header::CONTENT_TYPE) {
        None => None,
        Some(v) => {
            Some(v.to_str().map_err(|_| ApiError::UnsupportedMediaType("Content-Type is not text".into()))?.to_owned())
        }
    };
    Ok(opts)
}

/// Uploads an artifact, streaming the body into the hot tier.
///
/// The body is never held whole. An upload larger than the configured limit
/// is refused (413) and leaves nothing stored.
#[utoipa::path(
    put,
    path = "/v1/tenants/{tenant}/artifacts/{workflow}/{name}",
    tag = "artifacts",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("workflow" = String, Path, description = "Workflow"),
        ("name" = String, Path, description = "Artifact name"),
        ("class" = Option<String>, Query, description = "Retention class (or header X-Strata-Class)"),
        ("tag" = Option<String>, Query, description = "A tag key=value, repeatable (or header X-Strata-Tag)"),
        ("meta" = Option<String>, Query, description = "Metadata key=value, repeatable (or header X-Strata-Meta)"),
        ("overwrite" = Option<bool>, Query, description = "Replace a live artifact of the same name"),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The artifact's bytes; Content-Type is kept as the artifact's"),
    responses(
        (status = 201, description = "Stored in the hot tier", body = ArtifactView),
        (status = 409, description = "Exists (without overwrite) or held"),
        (status = 413, description = "Larger than the upload limit; nothing was stored"),
    )
)]
pub async fn put_artifact(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Path((tenant, workflow, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let key = artifact_key(&tenant, &workflow, &name)?;
    let opts = put_options(query.as_deref(), &headers, &caller)?;
    let limit = state.limits.max_upload_bytes;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let too_large = Arc::new(AtomicBool::new(false));
    let unreadable = Arc::new(AtomicBool::new(false));
    let (too_large_flag, unreadable_flag) = (too_large.clone(), unreadable.clone());
    let mut seen = 0u64;
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| {
            unreadable_flag.store(true, Ordering::Relaxed);
            std::io::Error::other(e)
        })?;
        seen += chunk.len() as u64;
        if seen > limit {
            too_large_flag.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("the upload is larger than the limit"));
        }
        Ok(chunk)
    });
    let stored = match state.store.put(&key, StreamReader::new(stream), opts).await {
        Ok(a) => a,
        Err(_) if too_large.load(Ordering::Relaxed) => return Err(ApiError::PayloadTooLarge { limit }),
        Err(StoreError::Tier(_)) if unreadable.load(Ordering::Relaxed) => {
            return Err(ApiError::BadRequest("the request body could not be read to its end".into()));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(artifact = %key, size = stored.size, actor = %caller.actor(), "Stored an artifact over HTTP");
    let location = format!("/v1/tenants/{}/artifacts/{}/{}", key.tenant, key.workflow, key.name);
    let response = (StatusCode::CREATED, axum::Json(ArtifactView::from(&stored))).into_response();
    Ok(with_headers(
        response,
        [(header::ETAG, header_value(&download::etag(&stored.blake3))), (header::LOCATION, header_value(&location))],
    ))
}

/// Downloads an artifact from whichever tier holds it (decompressed).
///
/// Supports `If-None-Match` (304) and a single `Range: bytes=a-b` (206; 416
/// when outside the artifact). The bytes are checked against the blake3: a
/// range of up to 1 MiB is checked (with the whole blob) before it is sent,
/// so a mismatch answers 500; otherwise a mismatch ends the body early
/// instead of completing it.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/artifacts/{workflow}/{name}",
    tag = "artifacts",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("workflow" = String, Path, description = "Workflow"),
        ("name" = String, Path, description = "Artifact name"),
        ("Range" = Option<String>, Header, description = "One range: bytes=a-b, bytes=a- or bytes=-n"),
        ("If-None-Match" = Option<String>, Header, description = "ETag(s) the client holds"),
    ),
    responses(
        (status = 200, description = "The artifact's bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The requested range", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "Not modified"),
        (status = 416, description = "Range outside the artifact"),
    )
)]
pub async fn get_artifact(
    State(state): State<Arc<ApiState>>,
    Path((tenant, workflow, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = artifact_key(&tenant, &workflow, &name)?;
    let (a, reader) = state.store.open_read(&key).await?;
    if download::not_modified(&headers, &a.blake3) {
        return Ok(not_modified(&a));
    }
    let (status, range) = match download::parse_range(headers.get(header::RANGE), a.size) {
        RangeRequest::Whole => (StatusCode::OK, None),
        RangeRequest::Part(r) => (StatusCode::PARTIAL_CONTENT, Some(r)),
        RangeRequest::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable { size: a.size }),
    };
    let length = range.map_or(a.size, |r| r.len());
    let body = download::response_body(reader, range, key).await?;
    let mut response = (status, body).into_response();
    response.headers_mut().extend(entity_headers(&a));
    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Some(r) = range {
        let content_range = format!("bytes {}-{}/{}", r.start, r.end, a.size);
        response.headers_mut().insert(header::CONTENT_RANGE, header_value(&content_range));
    }
    Ok(response)
}

/// An artifact's headers (`ETag`, `Content-Type`, `Content-Length`, tier), without its bytes.
#[utoipa::path(
    head,
    path = "/v1/tenants/{tenant}/artifacts/{workflow}/{name}",
    tag = "artifacts",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("workflow" = String, Path, description = "Workflow"),
        ("name" = String, Path, description = "Artifact name"),
    ),
    responses((status = 200, description = "It exists"), (status = 304, description = "Not modified"))
)]
pub async fn head_artifact(
    State(state): State<Arc<ApiState>>,
    Path((tenant, workflow, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = artifact_key(&tenant, &workflow, &name)?;
    let a = state.store.find(&key).await?;
    if download::not_modified(&headers, &a.blake3) {
        return Ok(not_modified(&a));
    }
    let mut response = with_headers(StatusCode::OK.into_response(), entity_headers(&a));
    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(a.size));
    Ok(response)
}

/// Deletes an artifact (tombstone first, bytes second); a held one is refused (409).
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant}/artifacts/{workflow}/{name}",
    tag = "artifacts",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("workflow" = String, Path, description = "Workflow"),
        ("name" = String, Path, description = "Artifact name"),
    ),
    responses((status = 204, description = "Deleted"), (status = 409, description = "Held"))
)]
pub async fn delete_artifact(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Path((tenant, workflow, name)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let key = artifact_key(&tenant, &workflow, &name)?;
    state.store.remove(&key, &caller.actor()).await?;
    tracing::info!(artifact = %key, actor = %caller.actor(), "Deleted an artifact over HTTP");
    Ok(StatusCode::NO_CONTENT)
}

/// Encodes a listing position as an opaque cursor.
fn encode_cursor(a: &Artifact) -> String {
    hex::encode(serde_json::json!([a.workflow, a.name, a.id]).to_string())
}

/// Decodes a cursor made by [`encode_cursor`].
fn decode_cursor(cursor: &str) -> Result<(String, String, i64), ApiError> {
    hex::decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::BadRequest("cursor is not one this API returned".into()))
}

/// Lists a tenant's live artifacts by workflow and name, one page at a time.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/artifacts",
    tag = "artifacts",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("workflow" = Option<String>, Query, description = "Only this workflow"),
        ("tier" = Option<String>, Query, description = "Only this tier: hot, warm or cold"),
        ("tag" = Option<String>, Query, description = "Only artifacts with this tag, key=value"),
        ("created_after" = Option<String>, Query, description = "Created at or after (RFC 3339)"),
        ("created_before" = Option<String>, Query, description = "Created before (RFC 3339)"),
        ("limit" = Option<u32>, Query, description = "Page size (default 100, at most 1000)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses((status = 200, description = "One page", body = ArtifactPage))
)]
pub async fn list_artifacts(
    State(state): State<Arc<ApiState>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<ArtifactPage>, ApiError> {
    let tenant = TenantId::parse(&tenant)?;
    let known = ["workflow", "tier", "tag", "created_after", "created_before", "limit", "cursor"];
    let pairs = params::query_pairs(query.as_deref(), &known)?;
    let get = |name: &str| params::single(&pairs, name);
    let limit = params::page_size(&pairs, state.limits.default_page, state.limits.max_page)?;
    let page = PageQuery {
        tenant: tenant.clone(),
        workflow: get("workflow")?.map(WorkflowName::parse).transpose()?,
        tier: get("tier")?.map(|t| t.parse::<Tier>().map_err(|e| ApiError::BadRequest(e.to_string()))).transpose()?,
        tag: get("tag")?.map(|t| params::key_value("tag", t)).transpose()?,
        created_after: get("created_after")?.map(|t| params::instant("created_after", t)).transpose()?,
        created_before: get("created_before")?.map(|t| params::instant("created_before", t)).transpose()?,
        after: get("cursor")?.map(decode_cursor).transpose()?,
        limit: limit + 1,
    };
    state.store.tenant(&tenant).await?;
    let mut artifacts = state.store.catalog.list_page(&page).await.map_err(StoreError::from)?;
    let next_cursor = if artifacts.len() > limit as usize {
        artifacts.truncate(limit as usize);
        artifacts.last().map(encode_cursor)
    } else {
        None
    };
    Ok(axum::Json(ArtifactPage { artifacts: artifacts.iter().map(ArtifactView::from).collect(), next_cursor }))
}

/// The artifact routes (tenant access).
pub fn routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new()
        .routes(routes!(put_artifact, get_artifact, head_artifact, delete_artifact))
        .routes(routes!(list_artifacts))
}
