//! The scheduler's timing.

use serde::Deserialize;

/// The scheduler's timing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Cron expression (seconds optional) for lifecycle ticks (`STRATA_SCHEDULE`).
    pub cron: String,
    /// Seconds a scheduler's leadership lasts unless renewed (`STRATA_LEADER_TTL_SECS`).
    pub leader_ttl_secs: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self { cron: "*/5 * * * *".into(), leader_ttl_secs: 30 }
    }
}
