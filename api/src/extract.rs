//! Extractors whose rejections are [`ApiError`]s, so a bad body gets the
//! same problem+json answer as every other error.

use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// The largest JSON body any route accepts, in bytes.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// A JSON object body (`Content-Type: application/json`, at most
/// [`MAX_JSON_BYTES`]): 415 for another content type, 400 for
/// malformed JSON, a body that is not an object (serde would read an array
/// as a struct's fields in order), or unknown fields; 413 when too large.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) =
            axum::Json::<serde_json::Value>::from_request(request, state).await.map_err(rejected)?;
        if !value.is_object() {
            return Err(ApiError::BadRequest("invalid JSON body: it must be a JSON object".into()));
        }
        let value =
            serde_json::from_value(value).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
        Ok(Self(value))
    }
}

/// The answer to a body axum's JSON extractor refused.
fn rejected(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::UnsupportedMediaType("the body must be JSON (Content-Type: application/json)".into())
        }
        JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(format!("malformed JSON: {}", e.body_text())),
        JsonRejection::JsonDataError(e) => ApiError::BadRequest(format!("invalid JSON body: {}", e.body_text())),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge { limit: MAX_JSON_BYTES as u64 }
        }
        other => ApiError::BadRequest(format!("unreadable body: {}", other.body_text())),
    }
}
