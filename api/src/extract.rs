//! Extractors whose rejections are [`ApiError`]s, so a bad body gets the
//! same problem+json answer as every other error.

use crate::error::ApiError;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// A JSON object body (`Content-Type: application/json`, at most
/// [`crate::state::MAX_JSON_BYTES`]): 415 for another content type, 400 for
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
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(request, state).await?;
        if !value.is_object() {
            return Err(ApiError::BadRequest("invalid JSON body: it must be a JSON object".into()));
        }
        let value =
            serde_json::from_value(value).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
        Ok(Self(value))
    }
}
