//! The environment variables the configuration reads.

use super::{Config, ConfigError, Days, Secret, TierLocation};
use std::path::PathBuf;

/// The environment variables read, with the setter applied to each.
type EnvSetter = fn(&mut Config, &'static str, &str) -> Result<(), ConfigError>;

fn parse_env<T: std::str::FromStr>(var: &'static str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Env {
        var,
        value: value.to_owned(),
        message: format!("expected a {}", std::any::type_name::<T>()),
    })
}

fn parse_bool(var: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Env { var, value: value.to_owned(), message: "expected true or false".into() }),
    }
}

pub(super) const ENV_VARS: &[(&str, EnvSetter)] = &[
    ("HOT_RETENTION_DAYS", |c, k, v| {
        c.tiers.hot_days = parse_env(k, v)?;
        Ok(())
    }),
    ("WARM_RETENTION_DAYS", |c, k, v| {
        c.tiers.warm_days = parse_env(k, v)?;
        Ok(())
    }),
    ("COLD_RETENTION_DAYS", |c, k, v| {
        c.tiers.cold_days = Days::parse_env(k, v)?.days();
        Ok(())
    }),
    ("RETENTION_GRACE_DAYS", |c, k, v| {
        c.retention.grace_days = parse_env(k, v)?;
        Ok(())
    }),
    ("ENABLE_COLD_ARCHIVE", |c, k, v| {
        c.tiers.cold_enabled = parse_bool(k, v)?;
        Ok(())
    }),
    ("STRATA_COMPRESSION_LEVEL", |c, k, v| {
        c.tiers.compression_level = parse_env(k, v)?;
        Ok(())
    }),
    ("STORAGE_BASE_PATH", |c, _, v| {
        c.storage.base_path = Some(PathBuf::from(v));
        Ok(())
    }),
    ("STORAGE_HOT_PATH", |c, _, v| {
        c.storage.hot = Some(TierLocation::new(v));
        Ok(())
    }),
    ("STORAGE_WARM_PATH", |c, _, v| {
        c.storage.warm = Some(TierLocation::new(v));
        Ok(())
    }),
    ("STORAGE_COLD_PATH", |c, _, v| {
        c.storage.cold = Some(TierLocation::new(v));
        Ok(())
    }),
    ("STRATA_FSYNC", |c, k, v| {
        c.storage.fsync = parse_bool(k, v)?;
        Ok(())
    }),
    ("STRATA_GC_MIN_AGE_SECS", |c, k, v| {
        c.gc.min_age_secs = parse_env(k, v)?;
        Ok(())
    }),
    ("LIFECYCLE_DRY_RUN", |c, k, v| {
        c.lifecycle.dry_run = parse_bool(k, v)?;
        Ok(())
    }),
    ("RETENTION_DRY_RUN", |c, k, v| {
        c.lifecycle.dry_run = parse_bool(k, v)?;
        Ok(())
    }),
    ("RETENTION_TENANT_HOLDS", |c, k, v| {
        c.retention.tenant_holds = parse_bool(k, v)?;
        Ok(())
    }),
    ("STRATA_DATABASE_URL", |c, _, v| {
        c.catalog.url = Some(v.to_owned()).filter(|u| !u.is_empty());
        Ok(())
    }),
    ("STRATA_REDIS_URL", |c, _, v| {
        c.queue.redis_url = Some(v.to_owned()).filter(|u| !u.is_empty());
        Ok(())
    }),
    ("STRATA_REDIS_PREFIX", |c, _, v| {
        c.queue.redis_prefix = v.to_owned();
        Ok(())
    }),
    ("STRATA_TENANT_LANES", |c, _, v| {
        c.queue.tenant_lanes = v.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
        Ok(())
    }),
    ("STRATA_LEADER_TTL_SECS", |c, k, v| {
        c.scheduler.leader_ttl_secs = parse_env(k, v)?;
        Ok(())
    }),
    ("STRATA_SCHEDULE", |c, _, v| {
        c.scheduler.cron = v.to_owned();
        Ok(())
    }),
    ("STRATA_MAX_ATTEMPTS", |c, k, v| {
        c.jobs.max_attempts = parse_env(k, v)?;
        Ok(())
    }),
    ("STRATA_WORKER_CONCURRENCY", |c, k, v| {
        c.jobs.concurrency = parse_env(k, v)?;
        Ok(())
    }),
    ("STRATA_VISIBILITY_TIMEOUT_SECS", |c, k, v| {
        c.jobs.visibility_timeout_secs = parse_env(k, v)?;
        Ok(())
    }),
    ("STRATA_SHUTDOWN_GRACE_SECS", |c, k, v| {
        c.jobs.shutdown_grace_secs = parse_env(k, v)?;
        Ok(())
    }),
    ("STRATA_ADMIN_TOKEN", |c, _, v| {
        c.api.admin_token = Some(Secret::new(v)).filter(|t| !t.expose().is_empty());
        Ok(())
    }),
    ("STRATA_MAX_UPLOAD_BYTES", |c, k, v| {
        c.api.max_upload_bytes = parse_env(k, v)?;
        Ok(())
    }),
    ("STRATA_API_HEADER_READ_TIMEOUT_SECS", |c, k, v| {
        c.api.header_read_timeout_secs = parse_env(k, v)?;
        Ok(())
    }),
    ("STRATA_API_IDLE_TIMEOUT_SECS", |c, k, v| {
        c.api.idle_timeout_secs = parse_env(k, v)?;
        Ok(())
    }),
    ("STRATA_API_MAX_CONNECTIONS", |c, k, v| {
        c.api.max_connections = parse_env(k, v)?;
        Ok(())
    }),
    ("RETENTION_DAYS_FREE", |c, k, v| plan_env(c, "free", k, v)),
    ("RETENTION_DAYS_BASIC", |c, k, v| plan_env(c, "basic", k, v)),
    ("RETENTION_DAYS_PRO", |c, k, v| plan_env(c, "pro", k, v)),
    ("RETENTION_DAYS_ENTERPRISE", |c, k, v| plan_env(c, "enterprise", k, v)),
];

fn plan_env(c: &mut Config, plan: &str, var: &'static str, value: &str) -> Result<(), ConfigError> {
    c.retention.plans.insert(plan.to_owned(), Days::parse_env(var, value)?);
    Ok(())
}

/// The dotted key each environment variable sets, so that an error about
/// a value names the variable it came from.
pub(super) const ENV_KEYS: &[(&str, &str)] = &[
    ("HOT_RETENTION_DAYS", "tiers.hot_days"),
    ("WARM_RETENTION_DAYS", "tiers.warm_days"),
    ("COLD_RETENTION_DAYS", "tiers.cold_days"),
    ("RETENTION_GRACE_DAYS", "retention.grace_days"),
    ("STRATA_COMPRESSION_LEVEL", "tiers.compression_level"),
    ("STRATA_LEADER_TTL_SECS", "scheduler.leader_ttl_secs"),
    ("STRATA_SCHEDULE", "scheduler.cron"),
    ("STRATA_MAX_ATTEMPTS", "jobs.max_attempts"),
    ("STRATA_WORKER_CONCURRENCY", "jobs.concurrency"),
    ("STRATA_VISIBILITY_TIMEOUT_SECS", "jobs.visibility_timeout_secs"),
    ("STRATA_SHUTDOWN_GRACE_SECS", "jobs.shutdown_grace_secs"),
    ("STRATA_ADMIN_TOKEN", "api.admin_token"),
    ("STRATA_MAX_UPLOAD_BYTES", "api.max_upload_bytes"),
    ("STRATA_API_HEADER_READ_TIMEOUT_SECS", "api.header_read_timeout_secs"),
    ("STRATA_API_IDLE_TIMEOUT_SECS", "api.idle_timeout_secs"),
    ("STRATA_API_MAX_CONNECTIONS", "api.max_connections"),
    ("STORAGE_HOT_PATH", "storage.hot"),
    ("STORAGE_WARM_PATH", "storage.warm"),
    ("STORAGE_COLD_PATH", "storage.cold"),
    ("RETENTION_DAYS_FREE", "retention.plans.free"),
    ("RETENTION_DAYS_BASIC", "retention.plans.basic"),
    ("RETENTION_DAYS_PRO", "retention.plans.pro"),
    ("RETENTION_DAYS_ENTERPRISE", "retention.plans.enterprise"),
];
