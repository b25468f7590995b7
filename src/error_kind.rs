//! What a failure means, decided once for every error of the core.
//!
//! [`StoreError`](crate::store::StoreError),
//! [`CatalogError`](crate::catalog::CatalogError) and
//! [`TierError`](crate::tiers::TierError) each sort themselves into an
//! [`ErrorKind`] with `kind()`. The CLI's exit code, the API's HTTP status
//! and a job's retry decision are each one `match` on it, so a new variant
//! is classified in one place and every edge follows.

/// The class of a failure: what it means for the caller, not where it arose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The named thing does not exist.
    NotFound,
    /// The input is malformed or names something not configured; nothing changed.
    Invalid,
    /// The operation clashes with the current state (already exists, an
    /// expiry not later than the current one, a concurrent write).
    Conflict,
    /// A rule refuses the operation as things stand: a hold, its owner or
    /// its date, or the configuration.
    Refused,
    /// Stored bytes do not match their recorded digest; retrying cannot help.
    Corrupt,
    /// A tier or the catalog has no space left; retrying cannot help until
    /// space is freed.
    NoSpace,
    /// Retrying later may succeed: I/O trouble, a busy or unreachable
    /// backend, a serialization failure.
    Transient,
    /// A fault of the server, its configuration or its data that none of
    /// the above describes.
    Internal,
}

#[cfg(test)]
mod tests {
    use super::ErrorKind;
    use crate::artifact::Tier;
    use crate::catalog::CatalogError;
    use crate::id::ArtifactKey;
    use crate::retention::HoldError;
    use crate::store::StoreError;
    use crate::tiers::TierError;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
    use sqlx::{ConnectOptions, Connection, Executor};

    fn key() -> ArtifactKey {
        ArtifactKey::parse("acme/wf/x").unwrap()
    }

    fn tier(make: fn(Tier, String, String) -> TierError) -> TierError {
        make(Tier::Hot, "acme/ab/blob".into(), "why".into())
    }

    #[test]
    fn store_errors_sort_into_kinds() {
        let cases = [
            (StoreError::UnknownTenant("acme".into()), ErrorKind::NotFound),
            (StoreError::NotFound(key()), ErrorKind::NotFound),
            (StoreError::TokenNotFound { tenant: "acme".into(), id: 1 }, ErrorKind::NotFound),
            (StoreError::HoldNotFound { id: 1, target: "acme".into() }, ErrorKind::NotFound),
            (StoreError::UnknownPlan { plan: "gold".into(), known: "free".into() }, ErrorKind::Invalid),
            (StoreError::MissingReason, ErrorKind::Invalid),
            (StoreError::Hold(HoldError::BadDate { now: "a".into(), until: "b".into() }), ErrorKind::Invalid),
            (StoreError::TenantExists("acme".into()), ErrorKind::Conflict),
            (StoreError::AlreadyExists(key()), ErrorKind::Conflict),
            (StoreError::NeverExpires(key()), ErrorKind::Conflict),
            (StoreError::NotLater { key: key(), current: "a".into(), requested: "b".into() }, ErrorKind::Conflict),
            (StoreError::Held(key()), ErrorKind::Refused),
            (StoreError::Hold(HoldError::TenantHoldsDisabled), ErrorKind::Refused),
            (StoreError::Hold(HoldError::Locked { id: 1, target: "t".into(), until: "u".into() }), ErrorKind::Refused),
            (StoreError::Corrupt { key: key(), tier: Tier::Cold, detail: "rot".into() }, ErrorKind::Corrupt),
            (StoreError::Committer("stopped".into()), ErrorKind::Transient),
            (StoreError::BlobMissing { key: key(), tier: Tier::Warm }, ErrorKind::Internal),
            (StoreError::Catalog(CatalogError::NotFound("artifact #1".into())), ErrorKind::NotFound),
            (StoreError::Catalog(CatalogError::Conflict("tenant".into())), ErrorKind::Conflict),
            (StoreError::Catalog(CatalogError::BadRow("bad".into())), ErrorKind::Internal),
            (StoreError::Catalog(CatalogError::Db(sqlx::Error::PoolTimedOut)), ErrorKind::Transient),
            (
                StoreError::Tier(tier(|tier, path, message| TierError::NoSpace { tier, path, message })),
                ErrorKind::NoSpace,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error:?}");
        }
        assert!(StoreError::Committer("gone".into()).is_transient());
        let full = StoreError::Tier(tier(|tier, path, message| TierError::NoSpace { tier, path, message }));
        assert!(full.is_no_space() && !full.is_transient());
    }

    #[test]
    fn tier_errors_sort_into_kinds() {
        let io = TierError::Io { op: "write", tier: Tier::Hot, path: "p".into(), message: "reset".into() };
        let denied = TierError::Denied { op: "write", tier: Tier::Hot, path: "p".into(), message: "403".into() };
        let codec = TierError::Codec { op: "decompression", tier: Tier::Cold, path: "p".into(), message: "x".into() };
        let corrupt = TierError::Corrupt { tier: Tier::Hot, path: "p".into(), expected: "a".into(), found: "b".into() };
        let open = TierError::Open { tier: Tier::Cold, location: "s3://nope".into(), message: "no bucket".into() };
        let missing = TierError::Missing { tier: Tier::Warm, path: "p".into() };
        let full = tier(|tier, path, message| TierError::NoSpace { tier, path, message });
        assert_eq!(io.kind(), ErrorKind::Transient);
        assert!(io.is_transient());
        assert_eq!(full.kind(), ErrorKind::NoSpace);
        assert_eq!(corrupt.kind(), ErrorKind::Corrupt);
        for e in [denied, codec, open, missing] {
            assert_eq!(e.kind(), ErrorKind::Internal, "{e:?}");
            assert!(!e.is_transient(), "{e:?}");
        }
        let wrapped =
            StoreError::from(TierError::Io { op: "read", tier: Tier::Hot, path: "p".into(), message: "x".into() });
        assert_eq!(wrapped.kind(), ErrorKind::Transient);
    }

    #[tokio::test]
    async fn sqlite_failures_are_sorted_by_result_code() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new().filename(dir.path().join("kinds.db")).create_if_missing(true);
        let mut first = options.connect().await.unwrap();
        first.execute("CREATE TABLE t (name TEXT PRIMARY KEY)").await.unwrap();
        first.execute("INSERT INTO t VALUES ('a')").await.unwrap();
        let duplicate = first.execute("INSERT INTO t VALUES ('a')").await.unwrap_err();
        assert_eq!(CatalogError::Db(duplicate).kind(), ErrorKind::Conflict);

        let syntax = first.execute("SELEC 1").await.unwrap_err();
        assert_eq!(CatalogError::Db(syntax).kind(), ErrorKind::Internal);

        let mut second: SqliteConnection =
            options.clone().busy_timeout(std::time::Duration::ZERO).connect().await.unwrap();
        first.execute("BEGIN IMMEDIATE").await.unwrap();
        let busy = second.execute("BEGIN IMMEDIATE").await.unwrap_err();
        let busy = CatalogError::Db(busy);
        assert_eq!(busy.kind(), ErrorKind::Transient, "{busy:?}");
        assert!(busy.is_transient() && !busy.is_no_space());
        first.execute("ROLLBACK").await.unwrap();
        second.close().await.unwrap();
        first.close().await.unwrap();
    }
}
