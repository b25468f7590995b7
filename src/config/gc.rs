//! Garbage collection settings.

use serde::Deserialize;

/// The longest gc window or interval: 100 years, in seconds.
pub(super) const GC_MAX_SECS: u64 = 100 * 36_525 * 864;

/// Garbage collection of bytes no live artifact references.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcConfig {
    /// Files modified more recently than this are never collected: an
    /// in-flight write may still be using them (`STRATA_GC_MIN_AGE_SECS`).
    pub min_age_secs: u64,
    /// How often the scheduler runs a collection; 0 turns it off.
    pub interval_secs: u64,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self { min_age_secs: 3600, interval_secs: 3600 }
    }
}
