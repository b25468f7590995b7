//! Checks of a loaded configuration: bounds and relations between keys.

use super::env;
use super::gc::GC_MAX_SECS;
use super::{ClassRule, Config, ConfigError, Days, MAX_DAYS, MAX_RESTORE_DAYS, TierLocation};
use std::collections::BTreeMap;

/// Where the values of a loaded configuration came from.
#[derive(Debug, Default)]
pub(super) struct Sources {
    /// The file, if one was read.
    pub(super) file: Option<String>,
    /// The environment variables that were set.
    pub(super) env: Vec<&'static str>,
}

impl Sources {
    /// The variable that set `key`, else one that set a key among `beside`
    /// (those its value was judged against), else the file, else the defaults.
    fn of(&self, key: &str, beside: &[&str]) -> String {
        let var = std::iter::once(key).chain(beside.iter().copied()).find_map(|k| env::setting(k, &self.env));
        match (var, &self.file) {
            (Some(var), _) => format!("environment variable {var}"),
            (None, Some(file)) => file.clone(),
            (None, None) => "defaults".to_owned(),
        }
    }
}

/// A number the configuration bounds: its key, value and allowed range.
pub(super) struct Bounded {
    pub(super) key: String,
    value: u64,
    min: u64,
    max: u64,
}

fn bounded(key: impl Into<String>, value: impl Into<u64>, min: u64, max: impl Into<u64>) -> Bounded {
    Bounded { key: key.into(), value: value.into(), min, max: max.into() }
}

/// Most retry delay in milliseconds: one day.
const MAX_BACKOFF_MS: u64 = 86_400_000;
/// The largest count keys (attempts aside) accept.
const MAX_COUNT: u32 = 1_000_000;
/// The largest accepted upload limit: 1 TiB.
const MAX_UPLOAD_BYTES: u64 = 1 << 40;

impl Config {
    /// Every bounded number in the configuration with its bounds; the README
    /// and `docs/strata.example.toml` document the same.
    pub(super) fn bounds(&self) -> Vec<Bounded> {
        let (t, r, j) = (&self.tiers, &self.retention, &self.jobs);
        let days = |key: String, d: &Days| d.days().map(|n| bounded(key, n, 0, MAX_DAYS));
        let mut out = vec![
            bounded("tiers.hot_days", t.hot_days, 0, MAX_DAYS),
            bounded("tiers.warm_days", t.warm_days, 1, MAX_DAYS),
            bounded("tiers.restore_days", t.restore_days, 0, MAX_RESTORE_DAYS),
            bounded("tiers.scan_interval_days", t.scan_interval_days, 0, MAX_DAYS),
            bounded("retention.grace_days", r.grace_days, 0, MAX_DAYS),
            bounded("retention.keep_latest", r.keep_latest, 0, MAX_COUNT),
            bounded("jobs.max_attempts", j.max_attempts, 1, 1_000u32),
            bounded("jobs.backoff_base_ms", j.backoff_base_ms, 0, MAX_BACKOFF_MS),
            bounded("jobs.backoff_max_ms", j.backoff_max_ms, 0, MAX_BACKOFF_MS),
            bounded("jobs.retry_horizon_secs", j.retry_horizon_secs, 0, 30 * 86_400u64),
            bounded("jobs.concurrency", j.concurrency as u64, 1, 4_096u64),
            bounded("jobs.batch_size", j.batch_size as u64, 1, 10_000u64),
            bounded("jobs.visibility_timeout_secs", j.visibility_timeout_secs, 1, 86_400u64),
            bounded("jobs.timeout_secs", j.timeout_secs, 1, 7 * 86_400u64),
            bounded("jobs.shutdown_grace_secs", j.shutdown_grace_secs, 0, 86_400u64),
            bounded("jobs.artifact_lease_secs", j.artifact_lease_secs, 1, 30 * 86_400u64),
            bounded("jobs.per_tenant_cap", j.per_tenant_cap as u64, 0, MAX_COUNT),
            bounded("scheduler.leader_ttl_secs", self.scheduler.leader_ttl_secs, 3, 86_400u64),
            bounded("queue.dead_letter_max_count", self.queue.dead_letter_max_count, 0, 100_000_000u64),
            bounded("queue.dead_letter_max_age_days", self.queue.dead_letter_max_age_days, 0, MAX_DAYS),
            bounded("api.max_upload_bytes", self.api.max_upload_bytes, 1, MAX_UPLOAD_BYTES),
            bounded("api.header_read_timeout_secs", self.api.header_read_timeout_secs, 1, 86_400u64),
            bounded("api.idle_timeout_secs", self.api.idle_timeout_secs, 1, 86_400u64),
            bounded("api.max_connections", u64::from(self.api.max_connections), 1, 1_000_000u64),
        ];
        out.extend(days("retention.default_days".into(), &r.default_days));
        out.extend(t.cold_days.map(|d| bounded("tiers.cold_days", d, 1, MAX_DAYS)));
        out.extend(r.plans.iter().filter_map(|(plan, d)| days(format!("retention.plans.{plan}"), d)));
        out.extend(r.classes.iter().filter_map(|(class, rule)| match rule {
            ClassRule::Fixed(d) => days(format!("retention.classes.{class}"), d),
            ClassRule::Plan(_) => None,
        }));
        let counts = |prefix: &str, map: &BTreeMap<String, u32>, min: u64, max: u32| {
            map.iter().map(|(k, n)| bounded(format!("{prefix}.{k}"), *n, min, max)).collect::<Vec<_>>()
        };
        out.extend(counts("jobs.max_attempts_by_kind", &j.max_attempts_by_kind, 1, 1_000));
        out.extend(counts("retention.keep_latest_by_plan", &r.keep_latest_by_plan, 0, MAX_COUNT));
        out.extend(counts("retention.keep_latest_by_tenant", &r.keep_latest_by_tenant, 0, MAX_COUNT));
        out
    }

    /// Checks every bounded number; the error names the key and where its
    /// value came from.
    pub(super) fn check_bounds(&self, sources: &Sources) -> Result<(), ConfigError> {
        for b in self.bounds() {
            if !(b.min..=b.max).contains(&b.value) {
                return Err(ConfigError::Invalid {
                    source_name: sources.of(&b.key, &[]),
                    message: format!("{} is out of range: it must be from {} to {}", b.value, b.min, b.max),
                    key: b.key,
                });
            }
        }
        Ok(())
    }

    pub(super) fn validate(&self, sources: &Sources) -> Result<(), ConfigError> {
        let invalid_beside = |key: &str, beside: &[&str], message: String| ConfigError::Invalid {
            key: key.to_owned(),
            source_name: sources.of(key, beside),
            message,
        };
        let invalid = |key: &str, message: String| invalid_beside(key, &[], message);
        if self.tiers.warm_days <= self.tiers.hot_days {
            return Err(invalid_beside(
                "tiers.warm_days",
                &["tiers.hot_days"],
                format!("must be greater than tiers.hot_days ({} <= {})", self.tiers.warm_days, self.tiers.hot_days),
            ));
        }
        if let Some(cold) = self.tiers.cold_days.filter(|d| *d <= self.tiers.warm_days) {
            return Err(invalid_beside(
                "tiers.cold_days",
                &["tiers.warm_days"],
                format!("must be greater than tiers.warm_days ({cold} <= {})", self.tiers.warm_days),
            ));
        }
        for (key, location) in [
            ("storage.hot", &self.storage.hot),
            ("storage.warm", &self.storage.warm),
            ("storage.cold", &self.storage.cold),
        ] {
            if let Some(Err(message)) = location.as_ref().map(TierLocation::check) {
                return Err(invalid(key, message));
            }
        }
        if !(1..=22).contains(&self.tiers.compression_level) {
            return Err(invalid(
                "tiers.compression_level",
                format!("{} is not in 1..=22", self.tiers.compression_level),
            ));
        }
        if self.jobs.backoff_max_ms < self.jobs.backoff_base_ms {
            return Err(invalid_beside(
                "jobs.backoff_max_ms",
                &["jobs.backoff_base_ms"],
                "must be at least jobs.backoff_base_ms".into(),
            ));
        }
        if self.api.admin_token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            return Err(invalid("api.admin_token", "must be at least 16 characters".into()));
        }
        for (tenant, digests) in &self.api.tenant_tokens {
            let key = format!("api.tenant_tokens.{tenant}");
            crate::id::TenantId::parse(tenant).map_err(|e| invalid(&key, e.to_string()))?;
            if let Some(bad) = digests.iter().find(|d| d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit())) {
                let shown: String = bad.chars().take(16).collect();
                return Err(invalid(&key, format!("{shown:?}… is not the sha256 of a token (64 hex digits)")));
            }
        }
        self.scheduler.check_cron().map_err(|message| invalid("scheduler.cron", message))?;
        for (key, secs) in [("gc.min_age_secs", self.gc.min_age_secs), ("gc.interval_secs", self.gc.interval_secs)] {
            if secs > GC_MAX_SECS {
                return Err(invalid(key, format!("{secs} is more than {GC_MAX_SECS} (100 years)")));
            }
        }
        let hooks = &self.webhooks;
        if hooks.expiring_soon_days > 3650 {
            return Err(invalid("webhooks.expiring_soon_days", "must be at most 3650 (10 years)".into()));
        }
        for (key, value, range) in [
            ("webhooks.timeout_secs", hooks.timeout_secs, 1..=300),
            ("webhooks.poll_interval_ms", hooks.poll_interval_ms, 10..=3_600_000),
            ("webhooks.expiring_scan_secs", hooks.expiring_scan_secs, 1..=86_400),
        ] {
            if !range.contains(&value) {
                return Err(invalid(key, format!("{value} is outside {}..={}", range.start(), range.end())));
            }
        }
        for (i, e) in hooks.endpoints.iter().enumerate() {
            let key = format!("webhooks.endpoints[{i}]");
            crate::id::TenantId::parse(&e.tenant).map_err(|err| invalid(&key, err.to_string()))?;
            crate::webhook::check_endpoint(&e.url, &e.events, e.secret.expose(), hooks.allow_private)
                .map_err(|err| invalid(&key, err.to_string()))?;
        }
        Ok(())
    }
}
