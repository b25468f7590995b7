//! The catalog: tenants, API tokens, artifacts, events, lifecycle runs and
//! restore jobs requested over the API, in SQLite
//! (WAL mode) through `sqlx`. This is the only core module that names sqlx.
//!
//! Reads go through [`Catalog`]; every change goes through a [`WriteTx`], so
//! that a change and its event commit together. On SQLite a write
//! transaction takes the write lock up front (`BEGIN IMMEDIATE`). On
//! PostgreSQL it takes the catalog lock exclusively, or shared with the locks
//! of the tenants whose rows and event chains it touches (ADR 0017), so blob
//! reference checks and blob deletions are still serialized against ingests
//! of the same bytes.

mod artifacts;
mod batch;
mod blobs;
mod dialect;
mod due;
mod events;
mod holds;
mod insights;
mod inspect;
mod jobqueue;
mod leaders;
mod query;
mod restores;
mod row;
mod runs;
mod seed;
mod sql;
mod status;
#[cfg(test)]
mod suite;
mod tenants;
mod tokens;
mod webhooks;

use crate::error_kind::ErrorKind;
use crate::id::TenantId;
pub use artifacts::{ArtifactFilter, TierTotal};
pub(crate) use batch::Save;
pub use blobs::LiveBlob;
pub(crate) use events::EventRow;
pub use events::{ChainProblem, ChainReport, EventFilter};
pub use holds::{Hold, HoldTerms, Principal};
pub use insights::BaselineRecord;
pub use inspect::SampledBlob;
pub use jobqueue::{DeadJob, DeadJobFilter, JobFailure, JobQueue, LaneCounts, LeasedJob, NewJob};
pub use leaders::Fence;
pub use restores::RestoreJob;
pub use runs::{CompletedRun, FinishedJob, HistogramCounts, LifecycleRun};
pub use seed::SeedCopies;
pub use sql::statements;
pub use status::{CatalogProbe, SchemaState, SchemaStatus};
pub use tenants::Tenant;

pub(crate) use dialect::{Dialect, redacted};

use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Executor};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// A catalog operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The database could not be opened or migrated.
    #[error("cannot open catalog {path}: {message}")]
    Open {
        /// The database file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A query failed.
    #[error("catalog query failed: {0}")]
    Db(#[from] sqlx::Error),
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The named thing already exists.
    #[error("{0} already exists")]
    Conflict(String),
    /// A stored row could not be decoded.
    #[error("catalog row is invalid: {0}")]
    BadRow(String),
}

impl CatalogError {
    /// True for "does not exist".
    pub fn is_not_found(&self) -> bool {
        matches!(self, CatalogError::NotFound(_))
    }

    /// True when the database's file system has no space left.
    pub fn is_no_space(&self) -> bool {
        self.kind() == ErrorKind::NoSpace
    }

    /// True when retrying later may succeed (a busy or locked database, a
    /// file that cannot be opened or written, I/O, a lost connection).
    pub fn is_transient(&self) -> bool {
        self.kind() == ErrorKind::Transient
    }

    /// What this failure means, from the driver's typed error: SQLite's
    /// result code, PostgreSQL's SQLSTATE, sqlx's constraint kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CatalogError::NotFound(_) => ErrorKind::NotFound,
            CatalogError::Conflict(_) => ErrorKind::Conflict,
            CatalogError::Open { .. } | CatalogError::BadRow(_) => ErrorKind::Internal,
            CatalogError::Db(sqlx::Error::Database(e)) => database_kind(e.as_ref()),
            CatalogError::Db(sqlx::Error::Io(e)) if is_storage_full(e.kind()) => ErrorKind::NoSpace,
            CatalogError::Db(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut) => ErrorKind::Transient,
            CatalogError::Db(_) => ErrorKind::Internal,
        }
    }
}

fn is_storage_full(kind: std::io::ErrorKind) -> bool {
    matches!(kind, std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

/// SQLite's primary result codes (the low byte of an extended code).
mod sqlite_code {
    pub const BUSY: i32 = 5;
    pub const LOCKED: i32 = 6;
    pub const IOERR: i32 = 10;
    pub const FULL: i32 = 13;
    pub const CANTOPEN: i32 = 14;
}

/// The kind of an error the database reported.
fn database_kind(e: &dyn sqlx::error::DatabaseError) -> ErrorKind {
    if e.kind() == sqlx::error::ErrorKind::UniqueViolation {
        return ErrorKind::Conflict;
    }
    let Some(code) = e.code() else { return ErrorKind::Internal };
    if e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return match code.parse::<i32>().map(|c| c & 0xff) {
            Ok(sqlite_code::FULL) => ErrorKind::NoSpace,
            Ok(sqlite_code::BUSY | sqlite_code::LOCKED | sqlite_code::IOERR | sqlite_code::CANTOPEN) => {
                ErrorKind::Transient
            }
            _ => ErrorKind::Internal,
        };
    }
    sqlstate_kind(&code)
}

/// The kind of a PostgreSQL SQLSTATE.
fn sqlstate_kind(code: &str) -> ErrorKind {
    match code {
        // disk_full
        "53100" => ErrorKind::NoSpace,
        // A lost connection (class 08), a server shutting down or starting
        // (57P01–57P03), a serialization failure or deadlock (40001, 40P01),
        // too many connections (53300).
        c if c.starts_with("08") => ErrorKind::Transient,
        "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "53300" => ErrorKind::Transient,
        _ => ErrorKind::Internal,
    }
}

/// The catalog handle; cheap to clone.
#[derive(Debug, Clone)]
pub struct Catalog {
    pool: AnyPool,
    writer: AnyPool,
    dialect: Dialect,
    /// The file, or the URL with its password replaced, for messages.
    location: std::sync::Arc<str>,
    columns: std::sync::Arc<str>,
}

/// When set, every PostgreSQL write transaction in this process takes the
/// catalog lock exclusively, as all did before per-chain locks.
static ONE_WRITE_LOCK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every PostgreSQL write transaction in this process take the catalog
/// lock exclusively (`true`), as every write did before the event log had a
/// chain per tenant, or lets tenant-scoped writes run side by side again
/// (`false`, the default). The chain benchmark measures one against the
/// other; the event log is the same either way.
pub fn set_one_write_lock(on: bool) {
    ONE_WRITE_LOCK.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// A write transaction holding the locks it needs (see the module
/// documentation). Dropping it rolls back.
pub(crate) struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    dialect: Dialect,
    /// Whether no other writer runs beside this one (SQLite, or the
    /// PostgreSQL catalog lock held exclusively).
    exclusive: bool,
    /// The event chains locked so far (PostgreSQL, catalog lock shared).
    locked: std::collections::BTreeSet<String>,
    /// Each chain's last position and hash, once known in this transaction.
    heads: std::collections::HashMap<String, (i64, String)>,
    /// The last event sequence number this transaction used.
    last_seq: Option<i64>,
    columns: std::sync::Arc<str>,
}

impl Catalog {
    /// Opens (creating if needed) the catalog at `path` and applies
    /// migrations. `keep_latest_cap` is the largest keep-latest-N configured
    /// (0 when keep-latest is off): artifact reads count newer artifacts up to it.
    /// Every commit is synced to stable storage before it returns.
    pub async fn open(path: &Path, keep_latest_cap: u32) -> Result<Self, CatalogError> {
        Self::open_with(path, keep_latest_cap, true).await
    }

    /// Like [`Catalog::open`]; with `durable` false, commits return before
    /// they are synced (SQLite `synchronous=NORMAL`: a power loss may undo
    /// the latest commits, though never corrupt the database).
    pub async fn open_with(path: &Path, keep_latest_cap: u32, durable: bool) -> Result<Self, CatalogError> {
        let open_err = |message: String| CatalogError::Open { path: path.display().to_string(), message };
        sqlx::any::install_default_drivers();
        let url = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|e| open_err(e.to_string()))?
            .filename(path)
            .create_if_missing(true)
            .to_url_lossy();
        let options = AnyConnectOptions::from_url(&url).map_err(|e| open_err(e.to_string()))?;
        // FULL: in WAL mode, every commit syncs the WAL before it returns.
        let pragmas: std::sync::Arc<str> = format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON;",
            if durable { "FULL" } else { "NORMAL" }
        )
        .into();
        let connect = move |pool: AnyPoolOptions| {
            let pragmas = pragmas.clone();
            pool.after_connect(move |conn, _| {
                let pragmas = pragmas.clone();
                Box::pin(async move { conn.execute(sqlx::AssertSqlSafe(pragmas.to_string())).await.map(|_| ()) })
            })
        };
        // One connection writes: writers in this process queue on the pool
        // (an async wait) instead of on SQLite's busy handler (a sleep loop).
        let writer = connect(AnyPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(120)))
            .connect_with(options.clone())
            .await
            .map_err(|e| open_err(e.to_string()))?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await.map_err(|e| open_err(migration_failure(&e)))?;
        let pool = connect(AnyPoolOptions::new().max_connections(8))
            .connect_with(options)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        Ok(Self {
            pool,
            writer,
            dialect: Dialect::Sqlite,
            location: path.display().to_string().into(),
            columns: artifacts::columns(keep_latest_cap).into(),
        })
    }

    /// Opens the PostgreSQL catalog at `url` (`postgres://…`) and applies
    /// its migrations (`migrations/postgres/`); every process of a
    /// deployment, on any host, opens the same one. Writers on different
    /// tenants run side by side; each tenant's writers take turns (ADR 0017).
    pub async fn open_postgres(url: &str, keep_latest_cap: u32) -> Result<Self, CatalogError> {
        let open_err = |message: String| CatalogError::Open { path: dialect::redacted(url), message };
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(url).map_err(|e| open_err(e.to_string()))?;
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await.map_err(|e| open_err(migration_failure(&e)))?;
        Ok(Self {
            pool: pool.clone(),
            writer: pool,
            dialect: Dialect::Postgres,
            location: dialect::redacted(url).into(),
            columns: artifacts::columns(keep_latest_cap).into(),
        })
    }

    /// Where the catalog is: its file, or its URL with the password replaced.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether this catalog is the embedded SQLite file, which also holds
    /// the embedded queue.
    pub fn is_embedded(&self) -> bool {
        self.dialect == Dialect::Sqlite
    }

    /// Checks that the database answers (for readiness probes): reads its
    /// schema, so an unreadable file fails here, not only a lost connection.
    pub async fn ping(&self) -> Result<(), CatalogError> {
        sqlx::query(self.dialect.probe()).fetch_one(&self.pool).await?;
        Ok(())
    }

    /// Starts a write transaction that no other writer runs beside: on
    /// PostgreSQL it takes the catalog lock exclusively. For changes that
    /// read and write across tenants (planning, holds, retention, erasure,
    /// tenants and tokens).
    pub(crate) async fn begin_write(&self) -> Result<WriteTx, CatalogError> {
        self.begin(true, &[]).await
    }

    /// Starts a write transaction whose reads-then-writes stay within the
    /// rows and event chains of `tenants` (`None`: the chain of events about
    /// no tenant). On PostgreSQL it takes the catalog lock shared and the
    /// locks of those chains, so writers on other tenants run beside it; on
    /// SQLite it is [`Catalog::begin_write`]. An event appended later to
    /// another chain locks that chain then.
    pub(crate) async fn begin_write_in<'a>(
        &self,
        tenants: impl IntoIterator<Item = Option<&'a TenantId>>,
    ) -> Result<WriteTx, CatalogError> {
        let chains: Vec<&str> = tenants.into_iter().map(|t| t.map_or("", TenantId::as_str)).collect();
        let exclusive = ONE_WRITE_LOCK.load(std::sync::atomic::Ordering::Relaxed);
        self.begin(exclusive, &chains).await
    }

    async fn begin(&self, exclusive: bool, chains: &[&str]) -> Result<WriteTx, CatalogError> {
        let mut tx = self.writer.begin_with(self.dialect.begin_write()).await?;
        if let Some(locks) = self.dialect.write_locks(exclusive, chains.iter().copied()) {
            sqlx::query(sql::sql(&locks)).execute(&mut *tx).await?;
        }
        Ok(WriteTx {
            tx,
            dialect: self.dialect,
            exclusive: exclusive || self.dialect == Dialect::Sqlite,
            locked: chains.iter().map(|c| (*c).to_owned()).collect(),
            heads: std::collections::HashMap::new(),
            last_seq: None,
            columns: self.columns.clone(),
        })
    }
}

impl WriteTx {
    /// Commits every change made through this transaction.
    pub async fn commit(self) -> Result<(), CatalogError> {
        Ok(self.tx.commit().await?)
    }
}

/// What a failed migration means for the user: a schema from a newer
/// binary is named as such.
fn migration_failure(e: &sqlx::migrate::MigrateError) -> String {
    match e {
        sqlx::migrate::MigrateError::VersionMissing(version) => format!(
            "the catalog's schema is newer than this binary (its migration {version} is unknown here): run a \
             strata at least as new as the one that last upgraded it"
        ),
        other => other.to_string(),
    }
}

fn opt_time(ms: Option<i64>) -> Option<chrono::DateTime<chrono::Utc>> {
    ms.map(crate::clock::from_millis)
}

fn opt_millis(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<i64> {
    t.map(crate::clock::to_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_failures_are_sorted_by_sqlstate() {
        for code in ["08006", "57P01", "40001", "40P01", "53300"] {
            assert_eq!(sqlstate_kind(code), ErrorKind::Transient, "{code}");
        }
        assert_eq!(sqlstate_kind("53100"), ErrorKind::NoSpace);
        for code in ["42601", "23503", "P0001"] {
            assert_eq!(sqlstate_kind(code), ErrorKind::Internal, "{code}");
        }
    }

    async fn synchronous(catalog: &Catalog) -> i64 {
        let row = sqlx::query_scalar::<_, i64>("PRAGMA synchronous").fetch_one(&catalog.writer).await.unwrap();
        let reader = sqlx::query_scalar::<_, i64>("PRAGMA synchronous").fetch_one(&catalog.pool).await.unwrap();
        assert_eq!(row, reader, "both pools sync alike");
        row
    }

    #[tokio::test]
    async fn commits_are_synced_unless_durability_is_turned_off() {
        let dir = tempfile::tempdir().unwrap();
        let durable = Catalog::open(&dir.path().join("a.db"), 0).await.unwrap();
        assert_eq!(synchronous(&durable).await, 2, "FULL");
        let fast = Catalog::open_with(&dir.path().join("b.db"), 0, false).await.unwrap();
        assert_eq!(synchronous(&fast).await, 1, "NORMAL");
    }
}
