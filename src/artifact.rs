//! The artifact record and the small enums that describe where and how its
//! bytes are kept.

use crate::id::{ArtifactKey, ArtifactName, TenantId, WorkflowName};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable lowercase name used in the catalog, CLI and JSON.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue {
                        what: stringify!($name),
                        value: s.to_owned(),
                        expected: concat!($($text, " "),+),
                    }),
                }
            }
        }
    };
}

/// A value that does not name any member of an enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?} (expected one of: {expected})")]
pub struct UnknownValue {
    /// The enum's name.
    pub what: &'static str,
    /// The rejected text.
    pub value: String,
    /// The accepted values.
    pub expected: &'static str,
}

string_enum!(
    /// A storage tier, from fastest to cheapest.
    Tier {
        /// Recent data, fast access.
        Hot = "hot",
        /// Older data.
        Warm = "warm",
        /// Archive, compressed.
        Cold = "cold",
    }
);

string_enum!(
    /// Where an artifact is in its retention life.
    State {
        /// Live and readable.
        Active = "active",
        /// Expired and unprotected: will be purged after the grace period.
        Eligible = "eligible",
        /// Deleted (by purge, `rm` or overwrite); the row is a tombstone.
        Purged = "purged",
        /// Deleted by an erasure request.
        Erased = "erased",
    }
);

string_enum!(
    /// How the stored bytes are encoded.
    Codec {
        /// Stored as uploaded.
        None = "none",
        /// Zstandard-compressed.
        Zstd = "zstd",
    }
);

impl State {
    /// True while the artifact's bytes are kept and readable.
    pub fn is_live(self) -> bool {
        matches!(self, State::Active | State::Eligible)
    }
}

/// One artifact as the catalog knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Artifact {
    /// Catalog row id.
    pub id: i64,
    /// Owning tenant.
    pub tenant: TenantId,
    /// Workflow namespace.
    pub workflow: WorkflowName,
    /// Name within the workflow.
    pub name: ArtifactName,
    /// Original size in bytes.
    pub size: u64,
    /// Size as stored in its tier (after compression).
    pub stored_size: u64,
    /// Encoding of the stored bytes.
    pub codec: Codec,
    /// blake3 of the original bytes, hex.
    pub blake3: String,
    /// sha256 of the original bytes, hex.
    pub sha256: String,
    /// MIME type given or guessed at ingest.
    pub content_type: String,
    /// User tags.
    pub tags: serde_json::Map<String, serde_json::Value>,
    /// User metadata.
    pub meta: serde_json::Map<String, serde_json::Value>,
    /// When it was ingested.
    pub created_at: DateTime<Utc>,
    /// When it was last read.
    pub last_accessed_at: DateTime<Utc>,
    /// When its digest was last verified.
    pub verified_at: DateTime<Utc>,
    /// The tier holding its bytes.
    pub tier: Tier,
    /// Its retention state.
    pub state: State,
    /// Its retention class, if one was given.
    pub class: Option<String>,
    /// When it expires; `None` means never.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it became eligible for deletion.
    pub eligible_at: Option<DateTime<Utc>>,
    /// While set and in the future, a restore keeps it hot.
    pub pinned_hot_until: Option<DateTime<Utc>>,
    /// When the next lifecycle action is due (planner index).
    pub next_due_at: Option<DateTime<Utc>>,
    /// The token of the job currently allowed to act on it.
    #[serde(skip)]
    pub job_token: Option<String>,
    /// Compare-and-set counter, bumped by every change.
    pub generation: i64,
    /// Whether an unreleased hold covers it (on it, its workflow or its tenant).
    pub held: bool,
    /// Whether its expiry was set by an extension.
    pub extended: bool,
    /// Its tenant's plan.
    pub plan: String,
    /// How many live artifacts of its workflow are newer (keep-latest-N).
    pub newer_live: u64,
    /// When the job holding its claim was dead-lettered (`strata dlq`);
    /// `None` unless that job still holds it.
    pub dead_lettered_at: Option<DateTime<Utc>>,
}

impl Artifact {
    /// The artifact's `TENANT/WORKFLOW/NAME` key.
    pub fn key(&self) -> ArtifactKey {
        ArtifactKey { tenant: self.tenant.clone(), workflow: self.workflow.clone(), name: self.name.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip() {
        for t in Tier::ALL {
            assert_eq!(t.as_str().parse::<Tier>().unwrap(), *t);
        }
        let err = "lukewarm".parse::<Tier>().unwrap_err();
        assert!(err.to_string().contains("hot warm cold"), "{err}");
        assert!(Tier::Hot < Tier::Warm && Tier::Warm < Tier::Cold);
    }
}
