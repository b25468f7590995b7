//! Which catalog database to use.

use serde::Deserialize;

/// Which catalog database to use.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// PostgreSQL URL of a catalog shared by many hosts (`STRATA_DATABASE_URL`,
    /// `postgres://user@host:5432/db`); unset: the embedded SQLite catalog in
    /// the data directory.
    pub url: Option<String>,
}
