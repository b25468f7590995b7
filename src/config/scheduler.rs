//! The scheduler's timing.

use serde::Deserialize;
use std::str::FromStr;

/// The scheduler's timing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Cron expression (seconds optional) for lifecycle ticks (`STRATA_SCHEDULE`);
    /// parsed when the configuration loads, as the scheduler parses it.
    pub cron: String,
    /// Seconds a scheduler's leadership lasts unless renewed (`STRATA_LEADER_TTL_SECS`).
    pub leader_ttl_secs: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self { cron: "*/5 * * * *".into(), leader_ttl_secs: 30 }
    }
}

impl SchedulerConfig {
    /// Refuses a cron expression the scheduler could not tick on.
    pub(super) fn check_cron(&self) -> Result<(), String> {
        if self.cron.trim().is_empty() {
            return Err("must not be empty".into());
        }
        croner::Cron::from_str(&self.cron)
            .map(drop)
            .map_err(|e| format!("{:?} is not a cron expression (5 fields, or 6 with seconds first): {e}", self.cron))
    }
}
