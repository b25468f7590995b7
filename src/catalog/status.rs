//! A read-only look at a catalog for health checks: whether it answers,
//! how its schema compares with this binary's migrations, whether the
//! embedded queue's table is there, and the database's clock. Opening a
//! [`CatalogProbe`] creates and migrates nothing (unlike [`super::Catalog::open`]).

use super::CatalogError;
use super::dialect::{Dialect, redacted};
use chrono::{DateTime, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, ConnectOptions};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// How long connecting may take before the catalog counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the catalog's schema compares with this binary's migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The newest migration applied to the catalog (`None`: none).
    pub applied: Option<i64>,
    /// The newest migration this binary knows.
    pub known: i64,
    /// Migrations of this binary not applied yet.
    pub pending: Vec<i64>,
    /// Applied migrations this binary does not know (a newer binary's).
    pub unknown: Vec<i64>,
    /// Migrations that started but did not finish.
    pub failed: Vec<i64>,
}

/// Where a catalog's schema stands against this binary's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaState {
    /// Every migration of this binary is applied, and no other.
    Equal,
    /// Some migrations of this binary are not applied (`strata migrate` applies them).
    Behind,
    /// The catalog holds migrations of a newer binary.
    Ahead,
    /// A migration started and did not finish.
    Failed,
}

impl SchemaStatus {
    /// Where the schema stands; a newer binary's migration outweighs pending ones.
    pub fn state(&self) -> SchemaState {
        if !self.failed.is_empty() {
            SchemaState::Failed
        } else if !self.unknown.is_empty() {
            SchemaState::Ahead
        } else if !self.pending.is_empty() {
            SchemaState::Behind
        } else {
            SchemaState::Equal
        }
    }
}

/// A read-only connection to a catalog (see the module documentation).
#[derive(Debug)]
pub struct CatalogProbe {
    pool: AnyPool,
    dialect: Dialect,
    location: String,
}

impl CatalogProbe {
    /// Connects to the SQLite catalog file at `path` read-only; a missing
    /// file is an error, never created.
    pub async fn sqlite(path: &Path) -> Result<Self, CatalogError> {
        let location = path.display().to_string();
        let open_err = |message: String| CatalogError::Open { path: location.clone(), message };
        if !path.is_file() {
            return Err(open_err("no catalog file there (`strata migrate` creates one)".into()));
        }
        sqlx::any::install_default_drivers();
        let url = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|e| open_err(e.to_string()))?
            .filename(path)
            .read_only(true)
            .create_if_missing(false)
            .to_url_lossy();
        let options = AnyConnectOptions::from_url(&url).map_err(|e| open_err(e.to_string()))?;
        Self::connect(options, Dialect::Sqlite, location).await
    }

    /// Connects to the PostgreSQL catalog at `url`; only reads follow.
    pub async fn postgres(url: &str) -> Result<Self, CatalogError> {
        let location = redacted(url);
        let open_err = |message: String| CatalogError::Open { path: location.clone(), message };
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(url).map_err(|e| open_err(e.to_string()))?;
        Self::connect(options, Dialect::Postgres, location).await
    }

    /// One connection with `options`; a failure names `location`.
    async fn connect(options: AnyConnectOptions, dialect: Dialect, location: String) -> Result<Self, CatalogError> {
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| CatalogError::Open { path: location.clone(), message: e.to_string() })?;
        Ok(Self { pool, dialect, location })
    }

    /// Where the catalog is: its file, or its URL with the password replaced.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether this is the embedded SQLite catalog.
    pub fn is_embedded(&self) -> bool {
        self.dialect == Dialect::Sqlite
    }

    /// Compares the migrations recorded in the catalog with this binary's.
    pub async fn schema_status(&self) -> Result<SchemaStatus, CatalogError> {
        let migrator = match self.dialect {
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        let known: std::collections::BTreeSet<i64> = migrator.iter().map(|m| m.version).collect();
        // `success` read as a number: the Any driver decodes no SQLite boolean.
        let recorded: Vec<(i64, i64)> = if self.has_table("_sqlx_migrations").await? {
            sqlx::query_as(
                "SELECT version, CAST(CASE WHEN success THEN 1 ELSE 0 END AS BIGINT) FROM _sqlx_migrations \
                 ORDER BY version",
            )
            .fetch_all(&self.pool)
            .await?
        } else {
            Vec::new()
        };
        let applied: std::collections::BTreeSet<i64> = recorded.iter().filter(|r| r.1 == 1).map(|r| r.0).collect();
        Ok(SchemaStatus {
            applied: applied.last().copied(),
            known: known.last().copied().unwrap_or(0),
            pending: known.difference(&applied).copied().collect(),
            unknown: applied.difference(&known).copied().collect(),
            failed: recorded.iter().filter(|r| r.1 != 1).map(|r| r.0).collect(),
        })
    }

    /// Whether the catalog has a table named `name` (in the current schema
    /// on PostgreSQL).
    pub async fn has_table(&self, name: &str) -> Result<bool, CatalogError> {
        let query = match self.dialect {
            Dialect::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
            Dialect::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
            }
        };
        let count: i64 = sqlx::query_scalar(query).bind(name).fetch_one(&self.pool).await?;
        Ok(count > 0)
    }

    /// The database server's clock (`None` for SQLite, which runs on this
    /// host's clock).
    pub async fn database_now(&self) -> Result<Option<DateTime<Utc>>, CatalogError> {
        if self.dialect == Dialect::Sqlite {
            return Ok(None);
        }
        let millis: i64 = sqlx::query_scalar("SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)")
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(crate::clock::from_millis(millis)))
    }

    /// Closes the connection.
    pub async fn close(self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fresh_catalog_is_equal_and_a_missing_file_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.db");
        assert!(CatalogProbe::sqlite(&missing).await.is_err());
        assert!(!missing.exists(), "nothing created");

        let path = dir.path().join("catalog.db");
        super::super::Catalog::open(&path, 0).await.unwrap();
        let probe = CatalogProbe::sqlite(&path).await.unwrap();
        let status = probe.schema_status().await.unwrap();
        assert_eq!(status.state(), SchemaState::Equal, "{status:?}");
        assert_eq!(status.applied, Some(status.known));
        assert!(probe.has_table("jobs").await.unwrap());
        assert_eq!(probe.database_now().await.unwrap(), None);
    }
}
