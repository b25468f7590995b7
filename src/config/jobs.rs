//! Job execution settings.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Job execution: attempts, backoff, concurrency.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Attempts before a job is dead-lettered. Transient failures (a tier or
    /// the catalog unreachable, I/O errors, timeouts) do not spend attempts:
    /// they are retried until `retry_horizon_secs` after the first failure.
    pub max_attempts: u32,
    /// Per-kind overrides of `max_attempts` (e.g. `purge = 3`).
    pub max_attempts_by_kind: BTreeMap<String, u32>,
    /// First retry delay in milliseconds; doubles per attempt, with full jitter.
    pub backoff_base_ms: u64,
    /// Upper bound of a retry delay in milliseconds.
    pub backoff_max_ms: u64,
    /// Seconds after a job's first failure during which transient failures
    /// are retried; then the job is dead-lettered.
    pub retry_horizon_secs: u64,
    /// Jobs run at once by one worker process.
    pub concurrency: usize,
    /// Jobs fetched per queue round trip.
    pub batch_size: usize,
    /// Seconds a fetched job stays leased before another worker may take it.
    pub visibility_timeout_secs: u64,
    /// Seconds a handler may run before it is abandoned and retried.
    pub timeout_secs: u64,
    /// Seconds a stopping worker lets running jobs finish before it abandons
    /// them to redelivery.
    pub shutdown_grace_secs: u64,
    /// Seconds an artifact stays stamped by a planned job before it may be planned again.
    pub artifact_lease_secs: u64,
    /// Most jobs planned per tenant per tick (fairness); 0 = unlimited.
    pub per_tenant_cap: usize,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_attempts_by_kind: BTreeMap::new(),
            backoff_base_ms: 500,
            backoff_max_ms: 60_000,
            retry_horizon_secs: 3600,
            concurrency: 16,
            batch_size: 128,
            visibility_timeout_secs: 30,
            timeout_secs: 300,
            shutdown_grace_secs: 30,
            artifact_lease_secs: 3600,
            per_tenant_cap: 0,
        }
    }
}
