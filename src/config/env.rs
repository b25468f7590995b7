//! The environment variables strata reads. Each configuration variable is
//! declared once, with the dotted key it sets and how its value is read;
//! the names are public so that callers never spell them again.

use super::{Config, ConfigError, Days, Secret, TierLocation};
use std::path::PathBuf;

/// The configuration file the command line reads (`--config`).
pub const CONFIG: &str = "STRATA_CONFIG";
/// The data directory the command line uses (`--data-dir`).
pub const DATA_DIR: &str = "STRATA_DATA_DIR";
/// The log filter of the command line, in `tracing` directive syntax.
pub const LOG: &str = "STRATA_LOG";
/// `json` makes the command line log one JSON object per line.
pub const LOG_FORMAT: &str = "STRATA_LOG_FORMAT";
/// The variables the command line reads itself, beside the configuration's.
pub const COMMAND_LINE: &[&str] = &[CONFIG, DATA_DIR, LOG, LOG_FORMAT];

/// Sets a configuration key from a variable's value, or says what was expected.
type Setter = fn(&mut Config, &str) -> Result<(), String>;

/// One variable the configuration reads.
struct Variable {
    /// The variable's name.
    name: &'static str,
    /// The dotted key it sets.
    key: &'static str,
    /// How it sets the key.
    set: Setter,
}

/// Declares each configuration variable once: its public name constant,
/// the variable, the key it sets and its setter.
macro_rules! variables {
    ($($(#[$doc:meta])* $name:ident = $var:literal => $key:literal, $set:expr;)*) => {
        $($(#[$doc])* pub const $name: &str = $var;)*

        /// Every variable the configuration reads, in the order they apply.
        const VARIABLES: &[Variable] = &[$(Variable { name: $name, key: $key, set: $set }),*];
    };
}

variables! {
    /// Sets `tiers.hot_days`.
    HOT_RETENTION_DAYS = "HOT_RETENTION_DAYS" => "tiers.hot_days", |c, v| number(v).map(|n| c.tiers.hot_days = n);
    /// Sets `tiers.warm_days`.
    WARM_RETENTION_DAYS = "WARM_RETENTION_DAYS" => "tiers.warm_days", |c, v| number(v).map(|n| c.tiers.warm_days = n);
    /// Sets `tiers.cold_days`: a number of days, or `unlimited` for unset.
    COLD_RETENTION_DAYS = "COLD_RETENTION_DAYS" => "tiers.cold_days",
        |c, v| days(v).map(|d| c.tiers.cold_days = d.days());
    /// Sets `retention.grace_days`.
    RETENTION_GRACE_DAYS = "RETENTION_GRACE_DAYS" => "retention.grace_days",
        |c, v| number(v).map(|n| c.retention.grace_days = n);
    /// Sets `tiers.cold_enabled`.
    ENABLE_COLD_ARCHIVE = "ENABLE_COLD_ARCHIVE" => "tiers.cold_enabled",
        |c, v| boolean(v).map(|b| c.tiers.cold_enabled = b);
    /// Sets `tiers.compression_level`.
    COMPRESSION_LEVEL = "STRATA_COMPRESSION_LEVEL" => "tiers.compression_level",
        |c, v| number(v).map(|n| c.tiers.compression_level = n);
    /// Sets `storage.base_path`.
    STORAGE_BASE_PATH = "STORAGE_BASE_PATH" => "storage.base_path",
        |c, v| path(v).map(|p| c.storage.base_path = p);
    /// Sets `storage.hot`.
    STORAGE_HOT_PATH = "STORAGE_HOT_PATH" => "storage.hot", |c, v| location(v).map(|l| c.storage.hot = l);
    /// Sets `storage.warm`.
    STORAGE_WARM_PATH = "STORAGE_WARM_PATH" => "storage.warm", |c, v| location(v).map(|l| c.storage.warm = l);
    /// Sets `storage.cold`.
    STORAGE_COLD_PATH = "STORAGE_COLD_PATH" => "storage.cold", |c, v| location(v).map(|l| c.storage.cold = l);
    /// Sets `storage.fsync`.
    FSYNC = "STRATA_FSYNC" => "storage.fsync", |c, v| boolean(v).map(|b| c.storage.fsync = b);
    /// Sets `gc.min_age_secs`.
    GC_MIN_AGE_SECS = "STRATA_GC_MIN_AGE_SECS" => "gc.min_age_secs", |c, v| number(v).map(|n| c.gc.min_age_secs = n);
    /// Sets `webhooks.expiring_soon_days`.
    WEBHOOKS_EXPIRING_SOON_DAYS = "STRATA_WEBHOOKS_EXPIRING_SOON_DAYS" => "webhooks.expiring_soon_days",
        |c, v| number(v).map(|n| c.webhooks.expiring_soon_days = n);
    /// Sets `webhooks.allow_private`.
    WEBHOOKS_ALLOW_PRIVATE = "STRATA_WEBHOOKS_ALLOW_PRIVATE" => "webhooks.allow_private",
        |c, v| boolean(v).map(|b| c.webhooks.allow_private = b);
    /// Sets `lifecycle.dry_run`.
    LIFECYCLE_DRY_RUN = "LIFECYCLE_DRY_RUN" => "lifecycle.dry_run", |c, v| boolean(v).map(|b| c.lifecycle.dry_run = b);
    /// Sets `lifecycle.dry_run`, under its other name; it wins over `LIFECYCLE_DRY_RUN`.
    RETENTION_DRY_RUN = "RETENTION_DRY_RUN" => "lifecycle.dry_run", |c, v| boolean(v).map(|b| c.lifecycle.dry_run = b);
    /// Sets `retention.tenant_holds`.
    RETENTION_TENANT_HOLDS = "RETENTION_TENANT_HOLDS" => "retention.tenant_holds",
        |c, v| boolean(v).map(|b| c.retention.tenant_holds = b);
    /// Sets `catalog.url`; empty for unset.
    DATABASE_URL = "STRATA_DATABASE_URL" => "catalog.url", |c, v| optional(v).map(|u| c.catalog.url = u);
    /// Sets `queue.redis_url`; empty for unset.
    REDIS_URL = "STRATA_REDIS_URL" => "queue.redis_url", |c, v| optional(v).map(|u| c.queue.redis_url = u);
    /// Sets `queue.redis_prefix`.
    REDIS_PREFIX = "STRATA_REDIS_PREFIX" => "queue.redis_prefix", |c, v| text(v).map(|t| c.queue.redis_prefix = t);
    /// Sets `queue.tenant_lanes`, comma-separated.
    TENANT_LANES = "STRATA_TENANT_LANES" => "queue.tenant_lanes",
        |c, v| list(v).map(|l| c.queue.tenant_lanes = l);
    /// Sets `scheduler.leader_ttl_secs`.
    LEADER_TTL_SECS = "STRATA_LEADER_TTL_SECS" => "scheduler.leader_ttl_secs",
        |c, v| number(v).map(|n| c.scheduler.leader_ttl_secs = n);
    /// Sets `scheduler.cron`.
    SCHEDULE = "STRATA_SCHEDULE" => "scheduler.cron", |c, v| text(v).map(|t| c.scheduler.cron = t);
    /// Sets `jobs.max_attempts`.
    MAX_ATTEMPTS = "STRATA_MAX_ATTEMPTS" => "jobs.max_attempts", |c, v| number(v).map(|n| c.jobs.max_attempts = n);
    /// Sets `jobs.concurrency`.
    WORKER_CONCURRENCY = "STRATA_WORKER_CONCURRENCY" => "jobs.concurrency",
        |c, v| number(v).map(|n| c.jobs.concurrency = n);
    /// Sets `jobs.visibility_timeout_secs`.
    VISIBILITY_TIMEOUT_SECS = "STRATA_VISIBILITY_TIMEOUT_SECS" => "jobs.visibility_timeout_secs",
        |c, v| number(v).map(|n| c.jobs.visibility_timeout_secs = n);
    /// Sets `jobs.shutdown_grace_secs`.
    SHUTDOWN_GRACE_SECS = "STRATA_SHUTDOWN_GRACE_SECS" => "jobs.shutdown_grace_secs",
        |c, v| number(v).map(|n| c.jobs.shutdown_grace_secs = n);
    /// Sets `api.admin_token`; empty for unset.
    ADMIN_TOKEN = "STRATA_ADMIN_TOKEN" => "api.admin_token",
        |c, v| optional(v).map(|t| c.api.admin_token = t.map(Secret::new));
    /// Sets `api.max_upload_bytes`.
    MAX_UPLOAD_BYTES = "STRATA_MAX_UPLOAD_BYTES" => "api.max_upload_bytes",
        |c, v| number(v).map(|n| c.api.max_upload_bytes = n);
    /// Sets `api.header_read_timeout_secs`.
    API_HEADER_READ_TIMEOUT_SECS = "STRATA_API_HEADER_READ_TIMEOUT_SECS" => "api.header_read_timeout_secs",
        |c, v| number(v).map(|n| c.api.header_read_timeout_secs = n);
    /// Sets `api.idle_timeout_secs`.
    API_IDLE_TIMEOUT_SECS = "STRATA_API_IDLE_TIMEOUT_SECS" => "api.idle_timeout_secs",
        |c, v| number(v).map(|n| c.api.idle_timeout_secs = n);
    /// Sets `api.max_connections`.
    API_MAX_CONNECTIONS = "STRATA_API_MAX_CONNECTIONS" => "api.max_connections",
        |c, v| number(v).map(|n| c.api.max_connections = n);
    /// Sets `retention.plans.free`.
    RETENTION_DAYS_FREE = "RETENTION_DAYS_FREE" => "retention.plans.free", |c, v| plan(c, "free", v);
    /// Sets `retention.plans.basic`.
    RETENTION_DAYS_BASIC = "RETENTION_DAYS_BASIC" => "retention.plans.basic", |c, v| plan(c, "basic", v);
    /// Sets `retention.plans.pro`.
    RETENTION_DAYS_PRO = "RETENTION_DAYS_PRO" => "retention.plans.pro", |c, v| plan(c, "pro", v);
    /// Sets `retention.plans.enterprise`.
    RETENTION_DAYS_ENTERPRISE = "RETENTION_DAYS_ENTERPRISE" => "retention.plans.enterprise",
        |c, v| plan(c, "enterprise", v);
}

/// The names of every variable the configuration reads.
pub fn names() -> impl Iterator<Item = &'static str> {
    VARIABLES.iter().map(|v| v.name)
}

/// Applies every variable `lookup` finds, in order, returning the names of
/// those that were set.
pub(super) fn apply(
    config: &mut Config,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<&'static str>, ConfigError> {
    let mut set = Vec::new();
    for var in VARIABLES {
        if let Some(value) = lookup(var.name) {
            (var.set)(config, &value).map_err(|message| ConfigError::Env { var: var.name, value, message })?;
            set.push(var.name);
        }
    }
    Ok(set)
}

/// The variable among `set` that sets `key`, if any.
pub(super) fn setting(key: &str, set: &[&'static str]) -> Option<&'static str> {
    VARIABLES.iter().find(|v| v.key == key && set.contains(&v.name)).map(|v| v.name)
}

fn number<T: std::str::FromStr>(value: &str) -> Result<T, String> {
    value.trim().parse().map_err(|_| format!("expected a {}", std::any::type_name::<T>()))
}

fn boolean(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn days(value: &str) -> Result<Days, String> {
    Days::from_env(value)
}

fn text(value: &str) -> Result<String, String> {
    Ok(value.to_owned())
}

/// The value, or `None` when it is empty.
fn optional(value: &str) -> Result<Option<String>, String> {
    Ok(Some(value.to_owned()).filter(|v| !v.is_empty()))
}

/// The comma-separated items, trimmed, without empty ones.
fn list(value: &str) -> Result<Vec<String>, String> {
    Ok(value.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect())
}

fn path(value: &str) -> Result<Option<PathBuf>, String> {
    Ok(Some(PathBuf::from(value)))
}

fn location(value: &str) -> Result<Option<TierLocation>, String> {
    Ok(Some(TierLocation::new(value)))
}

fn plan(c: &mut Config, plan: &str, value: &str) -> Result<(), String> {
    days(value).map(|d| {
        c.retention.plans.insert(plan.to_owned(), d);
    })
}
