//! Artifacts: streamed upload and download, `HEAD`, `DELETE`, and listing
//! with filters and an opaque cursor. Tenant routes (see [`crate::auth`]).

use super::download::{self, RangeRequest};
use super::params::{self, ByteCount, Instant, Latest, PageSize, Pair};
use super::paths::{ApiPath, ArtifactPath, TenantPath};
use super::views::{ArtifactPage, ArtifactView};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::{Binary, Identifier, KeyValues, NameGlob, SortName, TierName};
use crate::query::Query;
use crate::state::ApiState;
use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use strata_core::artifact::{Artifact, Tier};
use strata_core::id::{TenantId, WorkflowName};
use strata_core::query::{ArtifactQuery, NamePattern, Position, SortKey, SortValue};
use strata_core::store::{PutOptions, StoreError};
use tokio_util::io::StreamReader;
use utoipa::IntoParams;
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

/// The query of an upload.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PutQuery {
    /// Retention class (or header X-Strata-Class); one of the configured classes
    class: Option<String>,
    /// Tags key=value, repeatable (or header X-Strata-Tag)
    #[serde(default)]
    #[param(value_type = Option<KeyValues>, inline)]
    tag: Vec<String>,
    /// Metadata key=value, repeatable (or header X-Strata-Meta)
    #[serde(default)]
    #[param(value_type = Option<KeyValues>, inline)]
    meta: Vec<String>,
    /// Replace a live artifact of the same name
    #[serde(default)]
    #[param(value_type = Option<bool>)]
    overwrite: bool,
}

/// Upload options from the query (`class`, `tag`, `meta`, `overwrite`) and
/// headers (`Content-Type`, `X-Strata-Class`, `X-Strata-Tag`, `X-Strata-Meta`).
fn put_options(query: PutQuery, headers: &HeaderMap, caller: &Caller) -> Result<PutOptions, ApiError> {
    let header_values = |name: &str| -> Result<Vec<String>, ApiError> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().map(str::to_owned).map_err(|_| ApiError::BadRequest(format!("{name} is not text"))))
            .collect()
    };
    let mut opts = PutOptions { actor: caller.actor(), ..PutOptions::default() };
    let classes: Vec<String> = query.class.into_iter().chain(header_values(CLASS_HEADER)?).collect();
    if classes.len() > 1 {
        return Err(ApiError::BadRequest("give the retention class once (class or X-Strata-Class)".into()));
    }
    opts.class = classes.into_iter().next();
    for raw in query.tag.into_iter().chain(header_values(TAG_HEADER)?) {
        let (k, v) = params::key_value("tag", &raw)?;
        opts.tags.insert(k, serde_json::Value::String(v));
    }
    for raw in query.meta.into_iter().chain(header_values(META_HEADER)?) {
        let (k, v) = params::key_value("metadata entry", &raw)?;
        opts.meta.insert(k, serde_json::Value::String(v));
    }
    opts.overwrite = query.overwrite;
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
    params(ArtifactPath, PutQuery),
    request_body(
        description = "The artifact's bytes; any Content-Type, kept as the artifact's",
        content(
            (inline(Binary) = "application/octet-stream"),
            (inline(Binary) = "*/*"),
        ),
    ),
    responses(
        (status = 201, description = "Stored in the hot tier", body = ArtifactView, headers(
            ("ETag" = String, description = "The artifact's blake3, quoted"),
            ("Location" = String, description = "The artifact's URL"),
        )),
        (status = 409, description = "Exists (without overwrite) or held (problem `conflict` or `held`)"),
        (status = 413, description = "Larger than the upload limit; nothing was stored (problem `payload-too-large`)"),
        (status = 415, description = "The Content-Type header is not text (problem `unsupported-media-type`)"),
    )
)]
pub async fn put_artifact(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<ArtifactPath>,
    Query(query): Query<PutQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let key = path.key();
    let opts = put_options(query, &headers, &caller)?;
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
    let location = format!(
        "/v1/tenants/{}/artifacts/{}/{}",
        path_segment(key.tenant.as_str()),
        path_segment(key.workflow.as_str()),
        path_segment(key.name.as_str())
    );
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
        ArtifactPath,
        ("Range" = Option<String>, Header, nullable = false, description = "One range: bytes=a-b, bytes=a- or bytes=-n (anything else: the whole artifact)"),
        ("If-None-Match" = Option<String>, Header, nullable = false, description = "ETag(s) the client holds, or *"),
    ),
    responses(
        (status = 200, description = "The artifact's bytes, with its own Content-Type", content((inline(Binary) = "*/*")), headers(
            ("ETag" = String, description = "The artifact's blake3, quoted"),
            ("Content-Length" = u64, description = "The artifact's size"),
            ("Accept-Ranges" = String, description = "`bytes`"),
            ("X-Strata-Tier" = inline(TierName), description = "The tier it was read from"),
        )),
        (status = 206, description = "The requested range, with the artifact's Content-Type", content((inline(Binary) = "*/*")), headers(
            ("ETag" = String, description = "The artifact's blake3, quoted"),
            ("Content-Range" = String, description = "`bytes FIRST-LAST/SIZE`"),
            ("Content-Length" = u64, description = "The range's length"),
            ("Accept-Ranges" = String, description = "`bytes`"),
            ("X-Strata-Tier" = inline(TierName), description = "The tier it was read from"),
        )),
        (status = 304, description = "Not modified: If-None-Match names its ETag", headers(
            ("ETag" = String, description = "The artifact's blake3, quoted"),
        )),
        (status = 416, description = "Range outside the artifact"),
    )
)]
pub async fn get_artifact(
    State(state): State<Arc<ApiState>>,
    ApiPath(path): ApiPath<ArtifactPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = path.key();
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
        ArtifactPath,
        ("If-None-Match" = Option<String>, Header, nullable = false, description = "ETag(s) the client holds, or *"),
    ),
    responses(
        (status = 200, description = "It exists", headers(
            ("ETag" = String, description = "The artifact's blake3, quoted"),
            ("Content-Length" = u64, description = "The artifact's size"),
            ("Accept-Ranges" = String, description = "`bytes`"),
            ("X-Strata-Tier" = inline(TierName), description = "The tier that holds it"),
        )),
        (status = 304, description = "Not modified: If-None-Match names its ETag", headers(
            ("ETag" = String, description = "The artifact's blake3, quoted"),
        )),
    )
)]
pub async fn head_artifact(
    State(state): State<Arc<ApiState>>,
    ApiPath(path): ApiPath<ArtifactPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = path.key();
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
    params(ArtifactPath),
    responses((status = 204, description = "Deleted"), (status = 409, description = "Held (problem `held`)"))
)]
pub async fn delete_artifact(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<ArtifactPath>,
) -> Result<StatusCode, ApiError> {
    let key = path.key();
    state.store.remove(&key, &caller.actor()).await?;
    tracing::info!(artifact = %key, actor = %caller.actor(), "Deleted an artifact over HTTP");
    Ok(StatusCode::NO_CONTENT)
}

/// Encodes a listing position as a cursor: `HEX(workflow).HEX(name).id` by
/// name, `c.MILLIS.id` by creation, `s.SIZE.id` by size.
fn encode_cursor(a: &Artifact, sort: SortKey) -> String {
    match SortValue::of(a, sort) {
        SortValue::Name { workflow, name, .. } => {
            format!("{}.{}.{}", hex::encode(workflow), hex::encode(name), a.id)
        }
        SortValue::Created(at) => format!("c.{at}.{}", a.id),
        SortValue::Size(size) => format!("s.{size}.{}", a.id),
    }
}

/// Decodes a cursor made by [`encode_cursor`] for a listing of `tenant`. Any
/// text of its documented shape
/// (`^(?:(?:[0-9a-f]{2})*\.(?:[0-9a-f]{2})*|[cs]\.-?[0-9]{1,18})\.[0-9]{1,18}$`) is a position (the listing goes
/// on after it), so what the pattern admits is never refused as a cursor;
/// the query refuses a position of another sort order than its own.
fn decode_cursor(tenant: &TenantId, cursor: &str) -> Result<Position, ApiError> {
    let bad = || ApiError::BadRequest("cursor is not one this API returned".into());
    let mut parts = cursor.split('.');
    let (Some(first), Some(second), Some(id), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let number = |part: &str, signed: bool| -> Result<i64, ApiError> {
        let digits = part.strip_prefix('-').filter(|_| signed).unwrap_or(part);
        let shaped = !digits.is_empty() && digits.len() <= 18 && digits.bytes().all(|b| b.is_ascii_digit());
        part.parse::<i64>().ok().filter(|_| shaped).ok_or_else(bad)
    };
    let text = |part: &str| -> Result<String, ApiError> {
        let lower = part.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let bytes = hex::decode(part).ok().filter(|_| lower).ok_or_else(bad)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    let value = match first {
        "c" => SortValue::Created(number(second, true)?),
        "s" => SortValue::Size(number(second, true)?),
        _ => SortValue::Name { tenant: tenant.to_string(), workflow: text(first)?, name: text(second)? },
    };
    Ok(Position { value, id: number(id, false)? })
}

/// A path segment as a URI writes it: unreserved ASCII as is, every other
/// byte percent-encoded (RFC 3986).
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The filters, order and page of an artifact listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this workflow
    #[param(value_type = Option<Identifier>, inline)]
    workflow: Option<String>,
    /// Only this tier
    #[serde(default, deserialize_with = "params::parsed")]
    #[param(value_type = Option<TierName>, inline)]
    tier: Option<Tier>,
    /// Only names matching this pattern: `*` any run of characters, `?` one character (case-sensitive)
    #[serde(default, deserialize_with = "params::parsed")]
    #[param(value_type = Option<NameGlob>, inline)]
    name: Option<NamePattern>,
    /// Only artifacts with this tag, key=value; repeatable: all of them
    #[serde(default)]
    #[param(value_type = Option<KeyValues>, inline)]
    tag: Vec<Pair>,
    /// Only artifacts with at least one of these tags, key=value; repeatable
    #[serde(default)]
    #[param(value_type = Option<KeyValues>, inline)]
    any_tag: Vec<Pair>,
    /// Created at or after (RFC 3339)
    #[param(inline)]
    created_after: Option<Instant>,
    /// Created before (RFC 3339)
    #[param(inline)]
    created_before: Option<Instant>,
    /// At least this many bytes (original size)
    #[param(inline)]
    min_size: Option<ByteCount>,
    /// At most this many bytes (original size)
    #[param(inline)]
    max_size: Option<ByteCount>,
    /// Of the artifacts the other filters select, only the newest N of each workflow
    #[param(inline)]
    latest: Option<Latest>,
    /// Sort by name (workflow, name; the default), created or size
    #[serde(default, deserialize_with = "params::parsed")]
    #[param(value_type = Option<SortName>, inline)]
    sort: Option<SortKey>,
    /// Reverse the order: last name, newest or largest first
    #[serde(default)]
    #[param(value_type = Option<bool>)]
    desc: bool,
    /// Page size (default 100)
    #[param(inline)]
    limit: Option<PageSize>,
    /// next_cursor of the previous page (of the same sort)
    #[param(pattern = "^(?:(?:[0-9a-f]{2})*\\.(?:[0-9a-f]{2})*|[cs]\\.-?[0-9]{1,18})\\.[0-9]{1,18}$")]
    cursor: Option<String>,
}

/// Lists a tenant's live artifacts, filtered and sorted, one page at a time.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/artifacts",
    tag = "artifacts",
    params(TenantPath, ListQuery),
    responses((status = 200, description = "One page", body = ArtifactPage))
)]
pub async fn list_artifacts(
    State(state): State<Arc<ApiState>>,
    ApiPath(TenantPath { tenant }): ApiPath<TenantPath>,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<ArtifactPage>, ApiError> {
    let limit = PageSize::or_default(query.limit);
    let sort = query.sort.unwrap_or_default();
    let pairs = |tags: Vec<Pair>| tags.into_iter().map(|t| t.0).collect();
    let q = ArtifactQuery {
        tenant: Some(tenant.clone()),
        workflow: query.workflow.as_deref().map(WorkflowName::parse).transpose()?,
        tier: query.tier,
        name: query.name,
        all_tags: pairs(query.tag),
        any_tags: pairs(query.any_tag),
        created_after: query.created_after.map(|t| t.0),
        created_before: query.created_before.map(|t| t.0),
        min_size: query.min_size.map(|s| s.0),
        max_size: query.max_size.map(|s| s.0),
        latest: query.latest.map(|n| n.0),
        sort,
        descending: query.desc,
        include_deleted: false,
        after: query.cursor.as_deref().map(|c| decode_cursor(&tenant, c)).transpose()?,
        limit: Some(limit + 1),
    };
    state.store.tenant(&tenant).await?;
    let mut artifacts = state.store.query(&q).await?;
    let next_cursor = if artifacts.len() > limit as usize {
        artifacts.truncate(limit as usize);
        artifacts.last().map(|a| encode_cursor(a, sort))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_percent_encoded() {
        assert_eq!(path_segment("caf\u{e9} r.txt"), "caf%C3%A9%20r.txt");
        assert_eq!(path_segment("a-b_c.d~e"), "a-b_c.d~e");
    }

    #[test]
    fn every_cursor_of_the_documented_shape_is_a_position() {
        let tenant = TenantId::parse("acme").unwrap();
        let decode = |c: &str| decode_cursor(&tenant, c);
        let name = |w: &str, n: &str| SortValue::Name { tenant: "acme".into(), workflow: w.into(), name: n.into() };
        assert_eq!(decode("7766.612e62696e.42").unwrap(), Position { value: name("wf", "a.bin"), id: 42 });
        assert_eq!(decode("..0").unwrap(), Position { value: name("", ""), id: 0 });
        assert_eq!(decode("c.-5.7").unwrap(), Position { value: SortValue::Created(-5), id: 7 });
        assert_eq!(decode("s.123456789012345678.7").unwrap().value, SortValue::Size(123_456_789_012_345_678));
        assert!(matches!(decode("ff.00.1").unwrap().value, SortValue::Name { workflow, .. } if workflow == "\u{fffd}"));
        for bad in [
            "",
            "zz",
            "7766.61",
            "7766.61.x",
            "776.61.1",
            "7766.61.1.1",
            "AA.61.1",
            "61.61.1234567890123456789",
            "c..1",
            "c.1234567890123456789.1",
            "s.-.1",
            "c.1.-1",
            "x.1.1",
        ] {
            let err = decode(bad).unwrap_err();
            assert!(
                matches!(&err, ApiError::BadRequest(m) if m == "cursor is not one this API returned"),
                "{bad:?}: {err:?}"
            );
        }
    }
}
