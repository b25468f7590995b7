//! What a store operation can fail with, and what each failure means.

use crate::artifact::Tier;
use crate::catalog::CatalogError;
use crate::error_kind::ErrorKind;
use crate::id::ArtifactKey;
use crate::insights::InsightError;
use crate::lifecycle::UnknownClass;
use crate::retention::HoldError;
use crate::tiers::TierError;
use std::path::PathBuf;

/// A store operation that failed. Each variant is something a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The tenant does not exist.
    #[error("unknown tenant {0:?}: add it first with `strata tenant add {0}`")]
    UnknownTenant(String),
    /// The tenant already exists.
    #[error("tenant {0:?} already exists")]
    TenantExists(String),
    /// The plan is not configured.
    #[error("unknown plan {plan:?} (configured: {known})")]
    UnknownPlan {
        /// The plan asked for.
        plan: String,
        /// The configured plans.
        known: String,
    },
    /// No live artifact at this key.
    #[error("artifact {0} not found")]
    NotFound(ArtifactKey),
    /// A live artifact already has this key.
    #[error("artifact {0} already exists (use --overwrite to replace it)")]
    AlreadyExists(ArtifactKey),
    /// The retention class is not configured.
    #[error(transparent)]
    UnknownClass(#[from] UnknownClass),
    /// The stored bytes do not match the recorded digest; nothing was returned.
    #[error("artifact {key} is corrupt in the {tier} tier: {detail}")]
    Corrupt {
        /// The artifact.
        key: ArtifactKey,
        /// Where.
        tier: Tier,
        /// What the check found.
        detail: String,
    },
    /// The artifact's blob is missing from its tier.
    #[error("artifact {key} has no blob in the {tier} tier")]
    BlobMissing {
        /// The artifact.
        key: ArtifactKey,
        /// Where it should be.
        tier: Tier,
    },
    /// A tier operation failed.
    #[error(transparent)]
    Tier(#[from] TierError),
    /// A catalog operation failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// An artifact query that cannot mean anything.
    #[error(transparent)]
    Query(#[from] crate::query::QueryError),
    /// The artifact is held and cannot be deleted or replaced.
    #[error("artifact {0} is held; release its holds first (strata retention holds {0})")]
    Held(ArtifactKey),
    /// A refused baseline, comparison or trend.
    #[error(transparent)]
    Insight(#[from] InsightError),
    /// A webhook endpoint that cannot be registered.
    #[error(transparent)]
    Webhook(#[from] crate::webhook::WebhookError),
    /// The tenant has no registered webhook with this id.
    #[error("tenant {tenant} has no registered webhook {id} (configured ones are removed from the configuration file)")]
    WebhookNotFound {
        /// The tenant given.
        tenant: String,
        /// The webhook id given.
        id: String,
    },
    /// The tenant has no live token with this id.
    #[error("tenant {tenant} has no live token {id}")]
    TokenNotFound {
        /// The tenant given.
        tenant: String,
        /// The token id given.
        id: i64,
    },
    /// No active hold with this id covers the target.
    #[error("no active hold {id} on {target}")]
    HoldNotFound {
        /// The hold id given.
        id: i64,
        /// The target given.
        target: String,
    },
    /// A hold's owner or date refuses the operation.
    #[error(transparent)]
    Hold(#[from] HoldError),
    /// An extension must be strictly later than the current expiry.
    #[error("artifact {key} expires {current}; an extension must be later than that (asked for {requested})")]
    NotLater {
        /// The artifact.
        key: ArtifactKey,
        /// Its current expiry (RFC 3339).
        current: String,
        /// The requested expiry (RFC 3339).
        requested: String,
    },
    /// The artifact never expires, so there is nothing to extend.
    #[error("artifact {0} never expires; there is nothing to extend")]
    NeverExpires(ArtifactKey),
    /// A reason is mandatory.
    #[error("a non-empty --reason is required")]
    MissingReason,
    /// The committer task failed or stopped.
    #[error("catalog commit failed: {0}")]
    Committer(String),
    /// The data directory could not be prepared.
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl StoreError {
    /// True when a tier or the catalog ran out of space: retrying cannot
    /// help until space is freed.
    pub fn is_no_space(&self) -> bool {
        self.kind() == ErrorKind::NoSpace
    }

    /// True when retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind() == ErrorKind::Transient
    }

    /// What this failure means; the one classification the CLI, the API and
    /// the job retries follow. A missing blob is [`ErrorKind::Internal`]: the
    /// catalog lists the artifact, so the store, not the caller, is at fault.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::UnknownTenant(_)
            | StoreError::NotFound(_)
            | StoreError::TokenNotFound { .. }
            | StoreError::WebhookNotFound { .. }
            | StoreError::HoldNotFound { .. }
            | StoreError::Insight(InsightError::NotFound { .. }) => ErrorKind::NotFound,
            StoreError::UnknownPlan { .. }
            | StoreError::UnknownClass(_)
            | StoreError::MissingReason
            | StoreError::Query(_)
            | StoreError::Webhook(_)
            | StoreError::Insight(
                InsightError::Name(_) | InsightError::Against(_) | InsightError::TooLarge { .. } | InsightError::By(_),
            )
            | StoreError::Hold(HoldError::BadDate { .. }) => ErrorKind::Invalid,
            StoreError::TenantExists(_)
            | StoreError::AlreadyExists(_)
            | StoreError::NotLater { .. }
            | StoreError::NeverExpires(_)
            | StoreError::Insight(InsightError::Exists { .. }) => ErrorKind::Conflict,
            StoreError::Held(_)
            | StoreError::Hold(
                HoldError::NotOwner { .. } | HoldError::Locked { .. } | HoldError::TenantHoldsDisabled,
            ) => ErrorKind::Refused,
            StoreError::Corrupt { .. } => ErrorKind::Corrupt,
            StoreError::Committer(_) => ErrorKind::Transient,
            StoreError::BlobMissing { .. } | StoreError::DataDir { .. } => ErrorKind::Internal,
            StoreError::Tier(e) => e.kind(),
            StoreError::Catalog(e) => e.kind(),
        }
    }
}
