//! Lifecycle run defaults.

use serde::Deserialize;

/// Lifecycle run defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// Make `lifecycle run` a dry run unless `--live` is given (`LIFECYCLE_DRY_RUN`).
    pub dry_run: bool,
}
