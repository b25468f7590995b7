//! Streaming an artifact out: `Range` parsing, conditional requests, and a
//! response body that holds one chunk at a time.
//!
//! Bytes are checked against the artifact's blake3 as they pass, and the
//! check can only finish after the last byte of the blob. So nothing is ever
//! sent complete before the whole blob matched:
//!
//! - A range of at most [`VERIFY_FIRST_MAX`] bytes is read with the whole
//!   blob before anything is sent ([`read_verified`]): a blob that does not
//!   match is answered with a 500 problem, never with bytes.
//! - A whole download, or a larger range, streams and holds back the last
//!   piece it would send ([`body`]) until the blob's end matched. A blob that
//!   does not match ends the body early, which the client sees as a truncated
//!   transfer (shorter than `Content-Length`), never as complete wrong bytes.
//!
//! Either way a range costs a read of the whole blob (see ADR 0009).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;
use strata_core::id::ArtifactKey;
use strata_core::store::StoreError;
use strata_core::tiers::{BlobReader, TierError};

use crate::error::ApiError;

/// The largest range read whole and checked before its answer starts; a
/// larger range streams with its last piece held back.
pub const VERIFY_FIRST_MAX: u64 = 1024 * 1024;

/// An inclusive byte range within an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// Bytes in the range.
    pub fn len(self) -> u64 {
        self.end - self.start + 1
    }
}

/// What a `Range` header asks of an artifact of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: send everything (RFC 9110 lets a server ignore
    /// malformed, multi-part or unknown-unit ranges).
    Whole,
    /// One satisfiable range.
    Part(ByteRange),
    /// A range that lies outside the artifact (416).
    Unsatisfiable,
}

/// Parses a single `bytes=` range against `size`.
pub fn parse_range(value: Option<&HeaderValue>, size: u64) -> RangeRequest {
    let Some(spec) = value.and_then(|v| v.to_str().ok()).and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), number(first), number(last)) {
        (true, _, Some(0)) => RangeRequest::Unsatisfiable,
        (true, _, Some(suffix)) if size > 0 => {
            RangeRequest::Part(ByteRange { start: size.saturating_sub(suffix), end: size - 1 })
        }
        (true, _, Some(_)) => RangeRequest::Unsatisfiable,
        (false, Some(start), _) if start >= size => {
            if last.trim().is_empty() || number(last).is_some_and(|end| end >= start) {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Whole
            }
        }
        (false, Some(start), None) if last.trim().is_empty() => RangeRequest::Part(ByteRange { start, end: size - 1 }),
        (false, Some(start), Some(end)) if end >= start => {
            RangeRequest::Part(ByteRange { start, end: end.min(size - 1) })
        }
        _ => RangeRequest::Whole,
    }
}

/// The strong `ETag` of an artifact: its blake3, quoted.
pub fn etag(blake3: &str) -> String {
    format!("\"{blake3}\"")
}

/// Whether `If-None-Match` names this entity tag (or `*`).
pub fn not_modified(headers: &HeaderMap, blake3: &str) -> bool {
    let tag = etag(blake3);
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |candidate| {
            let candidate = candidate.trim();
            candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == tag
        },
    )
}

struct Streaming {
    reader: BlobReader,
    range: Option<ByteRange>,
    key: ArtifactKey,
    /// Offset in the original bytes of the next chunk the reader returns.
    next_offset: u64,
    /// The last piece to send, held until the next one (or the blob's
    /// verified end) shows it is not the last.
    held_back: Option<Bytes>,
    finished: bool,
}

/// The part of a chunk starting at `offset` that lies in `range`.
fn clip(offset: u64, chunk: Bytes, range: Option<ByteRange>) -> Option<Bytes> {
    let Some(r) = range else {
        return (!chunk.is_empty()).then_some(chunk);
    };
    let end = offset + chunk.len() as u64;
    let (lo, hi) = (offset.max(r.start), end.min(r.end + 1));
    (lo < hi).then(|| chunk.slice((lo - offset) as usize..(hi - offset) as usize))
}

/// A reader's failure as the store reports it, naming the artifact.
fn read_failure(key: &ArtifactKey, e: TierError) -> StoreError {
    match e {
        TierError::Corrupt { tier, expected, found, .. } => {
            StoreError::Corrupt { key: key.clone(), tier, detail: format!("expected blake3 {expected}, read {found}") }
        }
        e => StoreError::Tier(e),
    }
}

/// Reads the whole blob, keeping only `range`, and returns the kept bytes
/// once every byte of the blob matched its digest. Holds at most the range
/// and one chunk.
pub async fn read_verified(mut reader: BlobReader, range: ByteRange, key: &ArtifactKey) -> Result<Bytes, ApiError> {
    let capacity = usize::try_from(range.len()).unwrap_or(0).min(VERIFY_FIRST_MAX as usize);
    let mut kept = Vec::with_capacity(capacity);
    let mut offset = 0u64;
    loop {
        match reader.next_chunk().await {
            Ok(Some(chunk)) => {
                let len = chunk.len() as u64;
                if let Some(part) = clip(offset, chunk, Some(range)) {
                    kept.extend_from_slice(&part);
                }
                offset += len;
            }
            Ok(None) => return Ok(Bytes::from(kept)),
            Err(e) => return Err(read_failure(key, e).into()),
        }
    }
}

/// The body answering for `range` (or the whole blob): read and checked
/// first when the range is small ([`read_verified`], so a corrupt blob is an
/// error before anything is sent), streamed with its end held back otherwise.
pub async fn response_body(reader: BlobReader, range: Option<ByteRange>, key: ArtifactKey) -> Result<Body, ApiError> {
    match range {
        Some(r) if r.len() <= VERIFY_FIRST_MAX => Ok(Body::from(read_verified(reader, r, &key).await?)),
        range => Ok(body(reader, range, key)),
    }
}

/// The response body streaming `reader` (all of it, or `range`). The last
/// piece of what is sent leaves only after the whole blob matched.
fn body(reader: BlobReader, range: Option<ByteRange>, key: ArtifactKey) -> Body {
    let state = Streaming { reader, range, key, next_offset: 0, held_back: None, finished: false };
    let stream = futures::stream::unfold(state, |mut s| async move {
        loop {
            if s.finished {
                return None;
            }
            match s.reader.next_chunk().await {
                Ok(Some(chunk)) => {
                    let offset = s.next_offset;
                    s.next_offset += chunk.len() as u64;
                    if let Some(part) = clip(offset, chunk, s.range)
                        && let Some(previous) = s.held_back.replace(part)
                    {
                        return Some((Ok::<Bytes, std::io::Error>(previous), s));
                    }
                }
                Ok(None) => {
                    s.finished = true;
                    if let Some(last) = s.held_back.take() {
                        return Some((Ok(last), s));
                    }
                }
                Err(e) => {
                    s.finished = true;
                    let e = read_failure(&s.key, e);
                    tracing::error!(artifact = %s.key, error = %e, "Download aborted: the artifact failed its check");
                    return Some((Err(std::io::Error::other("the artifact failed its integrity check")), s));
                }
            }
        }
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(v: &str, size: u64) -> RangeRequest {
        parse_range(Some(&HeaderValue::from_str(v).unwrap()), size)
    }

    #[test]
    fn single_ranges_are_parsed_against_the_size() {
        let part = |start, end| RangeRequest::Part(ByteRange { start, end });
        assert_eq!(parse_range(None, 10), RangeRequest::Whole);
        assert_eq!(range("bytes=0-3", 10), part(0, 3));
        assert_eq!(range("bytes=5-", 10), part(5, 9));
        assert_eq!(range("bytes=5-100", 10), part(5, 9));
        assert_eq!(range("bytes=-4", 10), part(6, 9));
        assert_eq!(range("bytes=-40", 10), part(0, 9));
        assert_eq!(range("bytes=10-", 10), RangeRequest::Unsatisfiable);
        assert_eq!(range("bytes=10-20", 10), RangeRequest::Unsatisfiable);
        assert_eq!(range("bytes=-0", 10), RangeRequest::Unsatisfiable);
        assert_eq!(range("bytes=0-", 0), RangeRequest::Unsatisfiable);
        for ignored in ["bytes=3-1", "bytes=0-1,4-5", "items=0-1", "bytes=a-b", "bytes=5"] {
            assert_eq!(range(ignored, 10), RangeRequest::Whole, "{ignored}");
        }
    }

    #[test]
    fn chunks_are_clipped_to_the_range() {
        let chunk = Bytes::from_static(b"abcdef");
        let r = Some(ByteRange { start: 8, end: 9 });
        assert_eq!(clip(6, chunk.clone(), r).unwrap(), Bytes::from_static(b"cd"));
        assert_eq!(clip(0, chunk.clone(), r), None);
        assert_eq!(clip(0, chunk.clone(), None).unwrap(), chunk);
    }

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_stars() {
        let mut h = HeaderMap::new();
        assert!(!not_modified(&h, "ab"));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"zz\", W/\"ab\""));
        assert!(not_modified(&h, "ab"));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(not_modified(&h, "cd"));
    }
}
