//! The HTTP API's settings.

use super::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The HTTP API (`strata serve`, `strata run`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address `strata serve` listens on unless `--listen` is given.
    pub listen: String,
    /// Bearer token that reaches operator routes and every tenant (`STRATA_ADMIN_TOKEN`); unset: no admin access.
    pub admin_token: Option<Secret>,
    /// Largest accepted artifact upload, in bytes (`STRATA_MAX_UPLOAD_BYTES`); larger ones get 413.
    pub max_upload_bytes: u64,
    /// Tenant tokens provisioned by configuration: per tenant, the sha256
    /// (64 hex digits) of each token, never the token itself.
    pub tenant_tokens: BTreeMap<String, Vec<String>>,
    /// Seconds a client has to send a whole request head, from its first
    /// byte (`STRATA_API_HEADER_READ_TIMEOUT_SECS`); 1 to 86400.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may wait for its next request before it is
    /// closed (`STRATA_API_IDLE_TIMEOUT_SECS`); 1 to 86400.
    pub idle_timeout_secs: u64,
    /// Connections served at once; more wait to be accepted
    /// (`STRATA_API_MAX_CONNECTIONS`); 1 to 1000000.
    pub max_connections: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            admin_token: None,
            max_upload_bytes: 5 * 1024 * 1024 * 1024,
            tenant_tokens: BTreeMap::new(),
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 1024,
        }
    }
}
