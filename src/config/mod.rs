//! Configuration: defaults, then a TOML file, then environment variables.
//!
//! Every field has a default, so an empty (or absent) file is a valid
//! configuration. Unknown keys are errors, and every error names the key and
//! the file or variable it came from.

mod api;
mod catalog;
mod days;
pub mod env;
mod gc;
mod jobs;
mod lifecycle;
mod queue;
mod retention;
mod scheduler;
mod secret;
mod storage;
#[cfg(test)]
mod tests;
mod tiers;
mod validate;
mod webhooks;

pub use api::ApiConfig;
pub use catalog::CatalogConfig;
pub use days::{ClassRule, Days, NeverWord, PlanWord};
pub use gc::GcConfig;
pub use jobs::JobsConfig;
pub use lifecycle::LifecycleConfig;
pub use queue::QueueConfig;
pub use retention::RetentionConfig;
pub use scheduler::SchedulerConfig;
pub use secret::Secret;
pub use storage::{Backend, StorageConfig, TierLocation};
pub use tiers::{AgeFrom, TierConfig};
pub use webhooks::{EndpointConfig, WebhooksConfig};

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The longest span of days any key accepts: 100 years.
pub const MAX_DAYS: u32 = 36_500;
/// The longest a restored artifact may be kept hot, in days: 10 years
/// (`tiers.restore_days`, `strata restore --days`, the API's `days`).
pub const MAX_RESTORE_DAYS: u32 = 3_650;

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or holds an unknown or mistyped key.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the key and line.
        message: String,
    },
    /// An environment variable holds a value of the wrong type.
    #[error("invalid environment variable {var}={value:?}: {message}")]
    Env {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        message: String,
    },
    /// A value parsed but makes no sense.
    #[error("invalid config key {key} (from {source_name}): {message}")]
    Invalid {
        /// The dotted key.
        key: String,
        /// The file or variable it came from, or `defaults`.
        source_name: String,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Tier locations.
    pub storage: StorageConfig,
    /// Tier transitions and compression.
    pub tiers: TierConfig,
    /// Retention.
    pub retention: RetentionConfig,
    /// Job execution.
    pub jobs: JobsConfig,
    /// Scheduler.
    pub scheduler: SchedulerConfig,
    /// Lifecycle run defaults.
    pub lifecycle: LifecycleConfig,
    /// Catalog database.
    pub catalog: CatalogConfig,
    /// Queue backend.
    pub queue: QueueConfig,
    /// HTTP API.
    pub api: ApiConfig,
    /// Garbage collection.
    pub gc: GcConfig,
    /// Webhooks.
    pub webhooks: WebhooksConfig,
}

/// The dotted key whose value starts at byte `at` of a TOML text: the
/// nearest table header above it and the key on its line.
fn key_at(text: &str, at: usize) -> Option<String> {
    let before = text.get(..at)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = text[line_start..].lines().next()?.split_once('=')?;
    let key = key.trim().trim_matches('"');
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .and_then(|l| l.split(']').next())
        .map(|l| l.trim_start_matches('[').trim());
    match table {
        Some(table) if !table.is_empty() => Some(format!("{table}.{key}")),
        _ if !key.is_empty() => Some(key.to_owned()),
        _ => None,
    }
}

impl Config {
    /// Loads defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, |var| std::env::var(var).ok())
    }

    /// Like [`Config::load`] with an explicit environment lookup (for tests).
    pub fn load_with_env(file: Option<&Path>, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                Self::from_toml(&text).map_err(|message| ConfigError::Parse { path: path.to_owned(), message })?
            }
            None => Config::default(),
        };
        let set = env::apply(&mut config, lookup)?;
        let sources = validate::Sources { file: file.map(|p| p.display().to_string()), env: set };
        config.check_bounds(&sources)?;
        config.validate(&sources)?;
        Ok(config)
    }

    /// Parses TOML text; the error message names the offending key and line.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| {
            let message = e.to_string().trim().replace('\n', " ");
            match e.span().and_then(|span| key_at(text, span.start)) {
                Some(key) => format!("{key}: {message}"),
                None => message,
            }
        })
    }

    /// The retention days of a plan, falling back to `retention.default_days`.
    pub fn plan_days(&self, plan: &str) -> Days {
        self.retention.plans.get(plan).copied().unwrap_or(self.retention.default_days)
    }

    /// How many of a workflow's newest live artifacts are kept for this tenant.
    pub fn keep_latest(&self, tenant: &str, plan: &str) -> u32 {
        let r = &self.retention;
        r.keep_latest_by_tenant
            .get(tenant)
            .or_else(|| r.keep_latest_by_plan.get(plan))
            .copied()
            .unwrap_or(r.keep_latest)
    }

    /// The largest keep-latest-N configured anywhere (0: keep-latest is off).
    pub fn keep_latest_cap(&self) -> u32 {
        let r = &self.retention;
        r.keep_latest_by_tenant.values().chain(r.keep_latest_by_plan.values()).copied().fold(r.keep_latest, u32::max)
    }

    /// Whether `class` is a permanent record: a class that never expires.
    /// Permanent records outrank erasure.
    pub fn is_permanent_record(&self, class: Option<&str>) -> bool {
        class
            .and_then(|c| self.retention.classes.get(c))
            .is_some_and(|rule| matches!(rule, ClassRule::Fixed(Days::Never(_))))
    }

    /// Whether `plan` names a configured plan.
    pub fn has_plan(&self, plan: &str) -> bool {
        self.retention.plans.contains_key(plan)
    }

    /// The attempts allowed for a job kind.
    pub fn max_attempts(&self, kind: &str) -> u32 {
        self.jobs.max_attempts_by_kind.get(kind).copied().unwrap_or(self.jobs.max_attempts)
    }
}
