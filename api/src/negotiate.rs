//! Content negotiation for the answers that come as JSON or CBOR.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The CBOR media type (RFC 8949).
pub const CBOR: &str = "application/cbor";

/// Whether `Accept` prefers CBOR to JSON: of the media ranges it lists,
/// the one with the highest weight (the first among equals) that names
/// `application/cbor`, `application/json` or a wildcard is CBOR's.
pub fn prefers_cbor(headers: &HeaderMap) -> bool {
    let mut best: Option<(f32, bool)> = None;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
                .next()
                .unwrap_or(1.0);
            let cbor = match media.as_str() {
                CBOR => true,
                "application/json" | "application/*" | "*/*" => false,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, cbor));
            }
        }
    }
    best.is_some_and(|(_, cbor)| cbor)
}

/// `value` as CBOR when the request prefers it, else as JSON (with a
/// `Vary: Accept`, as the answer depends on it).
pub fn json_or_cbor<T: Serialize>(headers: &HeaderMap, value: &T) -> Response {
    if prefers_cbor(headers) {
        let mut bytes = Vec::new();
        let mut serializer = minicbor_serde::Serializer::new(&mut bytes);
        // JSON's null (a unit to serde) is CBOR's null, not an empty array.
        serializer.serialize_unit_as_null(true);
        match value.serialize(&mut serializer) {
            Ok(()) => {
                let headers = [
                    (header::CONTENT_TYPE, HeaderValue::from_static(CBOR)),
                    (header::VARY, HeaderValue::from_static("accept")),
                ];
                return (headers, bytes).into_response();
            }
            // Not expected of the API's own types; JSON says the same.
            Err(e) => tracing::error!(error = %e, "Could not encode an answer as CBOR; answering JSON"),
        }
    }
    ([(header::VARY, HeaderValue::from_static("accept"))], axum::Json(value)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn cbor_only_when_it_is_preferred() {
        assert!(prefers_cbor(&accept("application/cbor")));
        assert!(prefers_cbor(&accept("application/cbor, application/json;q=0.5")));
        assert!(prefers_cbor(&accept("application/json;q=0.4, application/cbor;q=0.9")));
        assert!(!prefers_cbor(&accept("application/json, application/cbor")));
        assert!(!prefers_cbor(&accept("*/*")));
        assert!(!prefers_cbor(&accept("application/cbor;q=0, */*")));
        assert!(!prefers_cbor(&accept("text/html")));
        assert!(!prefers_cbor(&HeaderMap::new()));
    }
}
