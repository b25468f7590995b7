//! Which queue backend to use.

use serde::Deserialize;

/// Which queue backend to use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Redis URL of the scale-out queue (`STRATA_REDIS_URL`); unset: the embedded queue.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key (`STRATA_REDIS_PREFIX`).
    pub redis_prefix: String,
    /// Tenants whose lifecycle jobs go to a lane of their own, consumed by
    /// `strata worker --lane TENANT` (`STRATA_TENANT_LANES`, comma-separated).
    pub tenant_lanes: Vec<String>,
    /// Dead letters kept per lane (the newest).
    pub dead_letter_max_count: u64,
    /// Days a dead letter is kept.
    pub dead_letter_max_age_days: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            redis_prefix: "strata".into(),
            tenant_lanes: Vec::new(),
            dead_letter_max_count: 100_000,
            dead_letter_max_age_days: 30,
        }
    }
}
