//! What the API shows of catalog records: stable JSON shapes with schemas,
//! independent of the core types' fields.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use strata_core::artifact::Artifact;
use utoipa::ToSchema;

/// An instant as RFC 3339 with milliseconds, UTC.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An artifact as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ArtifactView {
    /// Owning tenant.
    pub tenant: String,
    /// Workflow namespace.
    pub workflow: String,
    /// Name within the workflow.
    pub name: String,
    /// Original size in bytes.
    pub size: u64,
    /// Size as stored in its tier (after compression).
    pub stored_size: u64,
    /// `none` or `zstd`.
    pub codec: String,
    /// blake3 of the original bytes, hex (also the `ETag`).
    pub blake3: String,
    /// sha256 of the original bytes, hex.
    pub sha256: String,
    /// MIME type given or guessed at upload.
    pub content_type: String,
    /// Tags.
    #[schema(value_type = Object)]
    pub tags: serde_json::Map<String, serde_json::Value>,
    /// User metadata.
    #[schema(value_type = Object)]
    pub meta: serde_json::Map<String, serde_json::Value>,
    /// When it was uploaded (RFC 3339).
    pub created_at: String,
    /// When it was last read (RFC 3339).
    pub last_accessed_at: String,
    /// `hot`, `warm` or `cold`.
    pub tier: String,
    /// `active` or `eligible` (or `purged` / `erased` for a deleted one).
    pub state: String,
    /// Retention class, if one was given.
    pub class: Option<String>,
    /// When it expires (RFC 3339); absent: never.
    pub expires_at: Option<String>,
    /// Whether an active hold covers it.
    pub held: bool,
    /// Whether its expiry was extended.
    pub extended: bool,
}

impl From<&Artifact> for ArtifactView {
    fn from(a: &Artifact) -> Self {
        Self {
            tenant: a.tenant.to_string(),
            workflow: a.workflow.to_string(),
            name: a.name.to_string(),
            size: a.size,
            stored_size: a.stored_size,
            codec: a.codec.to_string(),
            blake3: a.blake3.clone(),
            sha256: a.sha256.clone(),
            content_type: a.content_type.clone(),
            tags: a.tags.clone(),
            meta: a.meta.clone(),
            created_at: time(a.created_at),
            last_accessed_at: time(a.last_accessed_at),
            tier: a.tier.to_string(),
            state: a.state.to_string(),
            class: a.class.clone(),
            expires_at: a.expires_at.map(time),
            held: a.held,
            extended: a.extended,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ArtifactPage {
    /// The artifacts, by workflow and name.
    pub artifacts: Vec<ArtifactView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}
