//! When artifacts change tier.

use serde::Deserialize;

/// When artifacts change tier.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TierConfig {
    /// Age in days at which hot artifacts move to warm (`HOT_RETENTION_DAYS`).
    pub hot_days: u32,
    /// Age in days at which artifacts move to cold (`WARM_RETENTION_DAYS`).
    pub warm_days: u32,
    /// Age in days at which artifacts leave the cold tier: purged, when the
    /// plan would keep them longer (`COLD_RETENTION_DAYS`); unset: the plan
    /// alone decides. Classes with days of their own and extensions outrank it.
    pub cold_days: Option<u32>,
    /// Whether age counts from creation (`created`) or last access (`last_access`).
    pub age_from: AgeFrom,
    /// Whether the cold tier is used at all (`ENABLE_COLD_ARCHIVE`).
    pub cold_enabled: bool,
    /// Compress on entering cold (zstd).
    pub compress: bool,
    /// zstd level, 1–22 (`STRATA_COMPRESSION_LEVEL`).
    pub compression_level: i32,
    /// How long a restored artifact stays hot before the age rules apply again.
    pub restore_days: u32,
    /// Days between digest scans of an artifact; 0 disables periodic scans.
    pub scan_interval_days: u32,
}

impl Default for TierConfig {
    fn default() -> Self {
        Self {
            hot_days: 7,
            warm_days: 30,
            cold_days: None,
            age_from: AgeFrom::Created,
            cold_enabled: true,
            compress: true,
            compression_level: 3,
            restore_days: 7,
            scan_interval_days: 30,
        }
    }
}

/// The instant an artifact's age is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgeFrom {
    /// Creation time.
    Created,
    /// Last read.
    LastAccess,
}
