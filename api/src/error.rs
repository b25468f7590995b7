//! Every error the API answers, as `application/problem+json` (RFC 9457).
//!
//! [`ApiError`] is the one place where failures become HTTP statuses. Each
//! answer carries a stable `type` URI (`https://strata.dev/problems/{slug}`),
//! a fixed title and a detail a person can act on. Failures of the server
//! itself (I/O, database, corrupt blobs) are logged with their cause and
//! answered with a generic detail: no internals ever reach a client.
//! [`problem_details`] turns the few answers axum produces by itself
//! (unknown methods, rejected extractors) into the same shape.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use strata_core::catalog::CatalogError;
use strata_core::error_kind::ErrorKind;
use strata_core::id::IdError;
use strata_core::retention::HoldError;
use strata_core::store::StoreError;
use strata_queue::QueueError;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Where problem types live; a type is this prefix plus its slug.
pub const PROBLEM_BASE: &str = "https://strata.dev/problems/";

/// A failed request, as the API answers it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed: bad query, header, cursor or JSON.
    #[error("{0}")]
    BadRequest(String),
    /// A tenant, workflow or artifact name is not a valid identifier.
    #[error(transparent)]
    InvalidIdentifier(#[from] IdError),
    /// No bearer token, or one that is not known.
    #[error("a valid bearer token is required (Authorization: Bearer TOKEN)")]
    Unauthorized,
    /// The token is valid but this route needs the admin token.
    #[error("this route needs the admin token")]
    Forbidden,
    /// The thing asked for does not exist (or belongs to another tenant).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// No route has this path.
    #[error("no route matches {0}")]
    NoRoute(String),
    /// The path exists, the method does not.
    #[error("this route does not accept the method {0}")]
    MethodNotAllowed(String),
    /// The body is larger than the route accepts.
    #[error("the body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The body's content type is not one the route accepts.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A `Range` that does not overlap the artifact.
    #[error("the requested range is not within the artifact's {size} bytes")]
    RangeNotSatisfiable {
        /// The artifact's size.
        size: u64,
    },
    /// A store operation failed; mapped by what it says.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A queue operation failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A route lacks the path parameter `0` that its handler or middleware
    /// reads: a bug, logged where it is found.
    #[error("this route is misconfigured; it has been logged")]
    MissingPathParameter(&'static str),
}

/// An RFC 9457 problem, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// Stable URI naming the kind of problem.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short, fixed summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request, and what to do about it.
    pub detail: String,
}

/// The kinds of problem: (slug, title) per kind, each with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 400.
    BadRequest,
    /// 400, for identifiers.
    InvalidIdentifier,
    /// 401.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 404, for paths no route serves.
    NoRoute,
    /// 405.
    MethodNotAllowed,
    /// 409.
    Conflict,
    /// 409, for held artifacts.
    Held,
    /// 403, for a tenant's token releasing a hold it does not own.
    HoldNotOwned,
    /// 409, for a compliance hold before its date.
    HoldLocked,
    /// 403, for a tenant placing a hold where tenants may not.
    TenantHoldsDisabled,
    /// 413.
    PayloadTooLarge,
    /// 415.
    UnsupportedMediaType,
    /// 416.
    RangeNotSatisfiable,
    /// 500.
    Internal,
    /// 503.
    Unavailable,
    /// 507, when storage is full.
    InsufficientStorage,
}

impl Kind {
    /// The status, slug and title of this kind.
    pub fn parts(self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Kind::BadRequest => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            Kind::InvalidIdentifier => (StatusCode::BAD_REQUEST, "invalid-identifier", "Invalid identifier"),
            Kind::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Kind::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            Kind::NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Kind::NoRoute => (StatusCode::NOT_FOUND, "no-route", "No such route"),
            Kind::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed"),
            Kind::Conflict => (StatusCode::CONFLICT, "conflict", "Conflict"),
            Kind::Held => (StatusCode::CONFLICT, "held", "Artifact is held"),
            Kind::HoldNotOwned => (StatusCode::FORBIDDEN, "hold-not-owned", "Hold placed by someone else"),
            Kind::HoldLocked => (StatusCode::CONFLICT, "hold-locked", "Compliance hold before its date"),
            Kind::TenantHoldsDisabled => {
                (StatusCode::FORBIDDEN, "tenant-holds-disabled", "Tenants may not place holds")
            }
            Kind::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Payload too large"),
            Kind::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported media type")
            }
            Kind::RangeNotSatisfiable => {
                (StatusCode::RANGE_NOT_SATISFIABLE, "range-not-satisfiable", "Range not satisfiable")
            }
            Kind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
            Kind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable"),
            Kind::InsufficientStorage => {
                (StatusCode::INSUFFICIENT_STORAGE, "insufficient-storage", "Insufficient storage")
            }
        }
    }

    /// The problem of this kind with `detail`.
    pub fn problem(self, detail: impl Into<String>) -> Problem {
        let (status, slug, title) = self.parts();
        Problem {
            problem_type: format!("{PROBLEM_BASE}{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
        }
    }
}

const INTERNAL_DETAIL: &str = "the server failed to handle the request; it has been logged";
const UNAVAILABLE_DETAIL: &str = "a backend (catalog, queue or tier) is unavailable; retry later";

impl ApiError {
    /// The problem this error answers with. Server-side failures are logged
    /// here, with their cause, and answered generically.
    pub fn problem(&self) -> Problem {
        match self {
            ApiError::BadRequest(d) => Kind::BadRequest.problem(d),
            ApiError::InvalidIdentifier(e) => Kind::InvalidIdentifier.problem(e.to_string()),
            ApiError::Unauthorized => Kind::Unauthorized.problem(self.to_string()),
            ApiError::Forbidden => Kind::Forbidden.problem(self.to_string()),
            ApiError::NotFound(d) => Kind::NotFound.problem(d),
            ApiError::Conflict(d) => Kind::Conflict.problem(d),
            ApiError::NoRoute(_) => Kind::NoRoute.problem(self.to_string()),
            ApiError::MethodNotAllowed(_) => Kind::MethodNotAllowed.problem(self.to_string()),
            ApiError::PayloadTooLarge { .. } => Kind::PayloadTooLarge.problem(self.to_string()),
            ApiError::UnsupportedMediaType(d) => Kind::UnsupportedMediaType.problem(d),
            ApiError::RangeNotSatisfiable { .. } => Kind::RangeNotSatisfiable.problem(self.to_string()),
            ApiError::Store(e) => store_problem(e),
            ApiError::Queue(QueueError::NotFound(what)) => Kind::NotFound.problem(format!("{what} not found")),
            ApiError::MissingPathParameter(_) => Kind::Internal.problem(self.to_string()),
            ApiError::Queue(e @ QueueError::Backend(_)) => {
                tracing::error!(error = %e, "Queue backend failed during a request");
                Kind::Unavailable.problem(UNAVAILABLE_DETAIL)
            }
        }
    }
}

/// The one mapping of store errors to problems: by the error's kind, with
/// the variants whose answer is worded for HTTP, or has a type of its own,
/// named first.
fn store_problem(e: &StoreError) -> Problem {
    match e {
        StoreError::UnknownTenant(t) => Kind::NotFound.problem(format!("tenant {t} not found")),
        StoreError::NotFound(key) => Kind::NotFound.problem(format!("artifact {key} not found")),
        StoreError::AlreadyExists(key) => {
            Kind::Conflict.problem(format!("artifact {key} already exists; add ?overwrite=true to replace it"))
        }
        StoreError::Held(key) => Kind::Held
            .problem(format!("artifact {key} is held; release its holds first (GET /v1/tenants/{}/holds)", key.tenant)),
        StoreError::Hold(h @ HoldError::NotOwner { .. }) => Kind::HoldNotOwned.problem(h.to_string()),
        StoreError::Hold(h @ HoldError::Locked { .. }) => Kind::HoldLocked.problem(h.to_string()),
        StoreError::Hold(h @ HoldError::TenantHoldsDisabled) => Kind::TenantHoldsDisabled.problem(h.to_string()),
        StoreError::MissingReason => Kind::BadRequest.problem("a non-empty \"reason\" is required"),
        StoreError::Catalog(CatalogError::Db(_)) if e.kind() == ErrorKind::Conflict => {
            Kind::Conflict.problem("the request clashed with a concurrent change; retry it")
        }
        e => match e.kind() {
            ErrorKind::NotFound => Kind::NotFound.problem(e.to_string()),
            ErrorKind::Invalid => Kind::BadRequest.problem(e.to_string()),
            ErrorKind::Conflict | ErrorKind::Refused => Kind::Conflict.problem(e.to_string()),
            ErrorKind::NoSpace => {
                tracing::error!(error = %e, "Storage is full");
                Kind::InsufficientStorage
                    .problem("storage is full, so nothing was stored; retrying fails until an operator frees space")
            }
            ErrorKind::Transient => {
                tracing::warn!(error = %e, "Store unavailable during a request");
                Kind::Unavailable.problem(UNAVAILABLE_DETAIL)
            }
            ErrorKind::Corrupt | ErrorKind::Internal => {
                tracing::error!(error = %e, "Store failed during a request");
                Kind::Internal.problem(INTERNAL_DETAIL)
            }
        },
    }
}

/// A problem as a response, with its media type.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = problem_response(&self.problem());
        match &self {
            ApiError::Unauthorized => {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::RangeNotSatisfiable { size } => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, v);
                }
            }
            _ => {}
        }
        response
    }
}

/// Gives answers that axum produced by itself (a 405, a rejected path or
/// query) the problem shape, keeping their status and headers (`Allow`).
pub async fn problem_details(response: Response) -> Response {
    let status = response.status();
    let is_problem =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let problem = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            Kind::MethodNotAllowed.problem("this route does not accept that method; see Allow")
        }
        StatusCode::NOT_FOUND => Kind::NoRoute.problem("no route matches this path"),
        StatusCode::PAYLOAD_TOO_LARGE => Kind::PayloadTooLarge.problem("the body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Kind::UnsupportedMediaType.problem("unsupported content type"),
        s if s.is_client_error() => Kind::BadRequest.problem("the request's path, query or body is malformed"),
        _ => Kind::Internal.problem(INTERNAL_DETAIL),
    };
    let body = serde_json::to_vec(&Problem { status: status.as_u16(), ..problem }).unwrap_or_default();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// The problem for an answer the HTTP stack gives by itself, before any
/// route sees the request: a request head it cannot parse or will not hold.
pub fn protocol_problem(status: StatusCode) -> Problem {
    let own = |slug: &str, title: &str, detail: &str| Problem {
        problem_type: format!("{PROBLEM_BASE}{slug}"),
        title: title.to_owned(),
        status: status.as_u16(),
        detail: detail.to_owned(),
    };
    match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => own(
            "headers-too-large",
            "Request headers too large",
            "the request has more headers, or a larger head, than the server accepts",
        ),
        StatusCode::URI_TOO_LONG => {
            own("uri-too-long", "URI too long", "the request's URI is longer than the server accepts")
        }
        _ => Problem {
            status: status.as_u16(),
            ..Kind::BadRequest.problem("the request's line, headers or framing are malformed")
        },
    }
}

/// Answers a request whose handler panicked: a 500 problem with the generic
/// detail. The panic's message is logged, never sent.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "A request handler panicked");
    problem_response(&Kind::Internal.problem(INTERNAL_DETAIL))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::id::ArtifactKey;

    #[test]
    fn store_errors_map_to_statuses_and_never_leak_internals() {
        let key = ArtifactKey::parse("acme/wf/x").unwrap();
        let cases = [
            (StoreError::NotFound(key.clone()), 404, "not-found"),
            (StoreError::UnknownTenant("acme".into()), 404, "not-found"),
            (StoreError::AlreadyExists(key.clone()), 409, "conflict"),
            (StoreError::Held(key.clone()), 409, "held"),
            (StoreError::MissingReason, 400, "bad-request"),
            (StoreError::Committer("disk on fire at /secret/path".into()), 503, "unavailable"),
            (
                StoreError::Tier(strata_core::tiers::TierError::NoSpace {
                    tier: strata_core::artifact::Tier::Hot,
                    path: "/secret/path".into(),
                    message: "No space left on device (os error 28)".into(),
                }),
                507,
                "insufficient-storage",
            ),
            (
                StoreError::Corrupt { key, tier: strata_core::artifact::Tier::Cold, detail: "/secret/path".into() },
                500,
                "internal",
            ),
        ];
        for (error, status, slug) in cases {
            let p = ApiError::from(error).problem();
            assert_eq!((p.status, p.problem_type.as_str()), (status, format!("{PROBLEM_BASE}{slug}").as_str()));
            assert!(!p.detail.contains("/secret/path"), "{p:?}");
        }
    }

    #[test]
    fn identifiers_are_bad_requests() {
        let e = ApiError::from(ArtifactKey::parse("acme/wf/..").unwrap_err());
        assert_eq!(e.problem().status, 400);
        assert!(e.problem().problem_type.ends_with("/invalid-identifier"));
    }
}
