//! What a tier operation can fail with, and how a store's error is sorted
//! into those kinds.

use crate::artifact::Tier;
use crate::error_kind::ErrorKind;

/// A tier operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum TierError {
    /// A tier location could not be opened (a malformed location, a bucket
    /// or container that does not exist, credentials the store refuses).
    #[error("cannot open {tier} tier at {location}: {message}")]
    Open {
        /// Which tier.
        tier: Tier,
        /// The configured location.
        location: String,
        /// What went wrong.
        message: String,
    },
    /// The blob does not exist.
    #[error("blob {path} is missing from the {tier} tier")]
    Missing {
        /// Which tier.
        tier: Tier,
        /// The blob's key.
        path: String,
    },
    /// The blob's bytes do not match the recorded digest.
    #[error("blob {path} in the {tier} tier is corrupt: expected blake3 {expected}, found {found}")]
    Corrupt {
        /// Which tier.
        tier: Tier,
        /// The blob's key.
        path: String,
        /// The recorded digest.
        expected: String,
        /// The digest of what was read.
        found: String,
    },
    /// The store refused or failed an operation (disk full, permission denied, …).
    #[error("{op} {path} in the {tier} tier failed: {message}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Which tier.
        tier: Tier,
        /// The blob's key or local path.
        path: String,
        /// The underlying error.
        message: String,
    },
    /// The object store refused the credentials, or denied the operation.
    /// Retrying cannot help until the credentials or permissions change.
    #[error("{op} {path} in the {tier} tier was refused: {message}; check the tier's credentials and permissions")]
    Denied {
        /// What was being done.
        op: &'static str,
        /// Which tier.
        tier: Tier,
        /// The blob's key.
        path: String,
        /// The underlying error.
        message: String,
    },
    /// The tier's file system has no space (or quota) left for a write.
    /// Retrying cannot help until space is freed.
    #[error(
        "the {tier} tier is full: no space left to write {path} ({message}); free space in the tier, then try again"
    )]
    NoSpace {
        /// Which tier.
        tier: Tier,
        /// The blob's key or local path.
        path: String,
        /// The underlying error.
        message: String,
    },
    /// Compression or decompression failed.
    #[error("zstd {op} of blob {path} in the {tier} tier failed: {message}")]
    Codec {
        /// `compression` or `decompression`.
        op: &'static str,
        /// Which tier.
        tier: Tier,
        /// The blob's key.
        path: String,
        /// The underlying error.
        message: String,
    },
}

impl TierError {
    /// True when retrying later may succeed (I/O trouble, an unreachable
    /// store, not bad data or refused credentials).
    pub fn is_transient(&self) -> bool {
        self.kind() == ErrorKind::Transient
    }

    /// What this failure means. A missing blob is [`ErrorKind::Internal`]:
    /// the catalog references every blob a tier is asked for, so its absence
    /// is the store's fault, not the caller's. A codec failure is
    /// [`ErrorKind::Internal`] here; a read reports undecodable bytes as the
    /// store's corrupt artifact.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TierError::Io { .. } => ErrorKind::Transient,
            TierError::NoSpace { .. } => ErrorKind::NoSpace,
            TierError::Corrupt { .. } => ErrorKind::Corrupt,
            TierError::Open { .. } | TierError::Missing { .. } | TierError::Denied { .. } | TierError::Codec { .. } => {
                ErrorKind::Internal
            }
        }
    }

    pub(super) fn io(op: &'static str, tier: Tier, path: impl std::fmt::Display, e: impl std::fmt::Display) -> Self {
        TierError::Io { op, tier, path: path.to_string(), message: e.to_string() }
    }

    /// A failed store operation: [`TierError::NoSpace`] when the file system
    /// ran out of space or quota, [`TierError::Denied`] when the store
    /// refused the credentials or the operation, [`TierError::Io`] otherwise.
    pub(super) fn store(op: &'static str, tier: Tier, path: impl std::fmt::Display, e: object_store::Error) -> Self {
        if is_no_space(&e) {
            return TierError::NoSpace { tier, path: path.to_string(), message: e.to_string() };
        }
        match e {
            object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
                TierError::Denied { op, tier, path: path.to_string(), message: e.to_string() }
            }
            e => TierError::io(op, tier, path, e),
        }
    }

    /// A failed read: [`TierError::Missing`] when the blob is not there.
    pub(super) fn read(tier: Tier, path: impl std::fmt::Display, e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => TierError::Missing { tier, path: path.to_string() },
            e => TierError::store("read", tier, path, e),
        }
    }

    pub(super) fn codec(op: &'static str, tier: Tier, path: impl std::fmt::Display, e: impl std::fmt::Display) -> Self {
        TierError::Codec { op, tier, path: path.to_string(), message: e.to_string() }
    }
}

/// Whether an error, or any error it wraps, is "no space left on device" or
/// "disk quota exceeded".
fn is_no_space(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && matches!(io.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// `Ok` for a store's "not found": deleting what is gone succeeds.
pub(super) fn ignore_not_found(e: object_store::Error) -> Result<(), object_store::Error> {
    match e {
        object_store::Error::NotFound { .. } => Ok(()),
        e => Err(e),
    }
}
