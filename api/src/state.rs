//! What every request handler shares: the store, the queue, the admin
//! token's digest and the limits.

use crate::http_metrics::HttpMetrics;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use strata_core::store::Store;
use strata_queue::Queue;
use strata_queue::metrics::JobMetrics;

/// The admin token, kept as its sha256 digest.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken([u8; 32]);

impl AdminToken {
    /// Keeps the digest of `token`.
    pub fn new(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Whether `presented` is the admin token, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.0.iter().zip(presented.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(***)")
    }
}

/// Request limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest artifact upload, in bytes; larger ones get 413.
    pub max_upload_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_upload_bytes: 5 * 1024 * 1024 * 1024 }
    }
}

/// The state shared by every handler; cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The artifact store (catalog and tiers).
    pub store: Store,
    /// The job queue (restores).
    pub queue: Arc<dyn Queue>,
    /// The admin token, when one is configured.
    pub admin_token: Option<AdminToken>,
    /// Request limits.
    pub limits: Limits,
    /// Held while a restore request checks for a restore under way and plans
    /// one, so that repeated requests collapse into one job.
    pub restores: Arc<tokio::sync::Mutex<()>>,
    /// Jobs run by this process's worker pool, when it has one (`strata run`).
    pub jobs: Arc<JobMetrics>,
    /// Requests answered, for `/metrics`.
    pub http: Arc<HttpMetrics>,
    /// Cancelled when the server starts shutting down: endless responses
    /// (the event stream) end, so the shutdown does not wait for them.
    pub closing: tokio_util::sync::CancellationToken,
}

impl ApiState {
    /// State from the store's configuration: `[api] admin_token` (or
    /// `STRATA_ADMIN_TOKEN`) and `[api] max_upload_bytes`.
    pub fn new(store: Store, queue: Arc<dyn Queue>) -> Self {
        let api = &store.config().api;
        let admin_token = api.admin_token.as_ref().map(|t| AdminToken::new(t.expose()));
        let limits = Limits { max_upload_bytes: api.max_upload_bytes };
        Self {
            store,
            queue,
            admin_token,
            limits,
            restores: Arc::default(),
            jobs: Arc::default(),
            http: Arc::default(),
            closing: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// Reports the jobs of this process's worker pool at `/metrics`.
    pub fn with_job_metrics(mut self, jobs: Arc<JobMetrics>) -> Self {
        self.jobs = jobs;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_token_matches_only_itself_and_never_shows() {
        let admin = AdminToken::new("the-admin-token-0123456789");
        assert!(admin.matches("the-admin-token-0123456789"));
        assert!(!admin.matches("the-admin-token-012345678"));
        assert!(!admin.matches(""));
        assert_eq!(format!("{admin:?}"), "AdminToken(***)");
    }
}
