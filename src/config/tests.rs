use super::*;
use std::path::Path;

fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
}

#[test]
fn a_tier_location_is_a_string_or_a_table() {
    let c = Config::from_toml(
        "[storage]\nhot = \"/srv/hot\"\n[storage.warm]\nurl = \"s3://bucket/warm\"\nregion = \"eu-west-1\"\n\
         storage_class = \"STANDARD_IA\"\nmax_retries = 3\n",
    )
    .unwrap();
    assert_eq!(c.storage.hot, Some(TierLocation::new("/srv/hot")));
    let warm = c.storage.warm.unwrap();
    assert_eq!(warm.url, "s3://bucket/warm");
    assert_eq!(warm.backend(), Ok(Backend::S3));
    assert_eq!((warm.region.as_deref(), warm.storage_class.as_deref()), (Some("eu-west-1"), Some("STANDARD_IA")));
    assert_eq!(warm.max_retries, Some(3));
    assert!(c.storage.cold.is_none());
    for (url, backend) in [
        ("relative/dir", Backend::Local),
        ("FILE:///srv/x", Backend::Local),
        ("az://container/p", Backend::Azure),
        ("azure://container/p", Backend::Azure),
        ("gs://bucket", Backend::Gcs),
    ] {
        assert_eq!(TierLocation::new(url).backend(), Ok(backend), "{url}");
    }
    let err = Config::from_toml("[storage.cold]\nurl = \"s3://b/c\"\nstorage_klass = \"X\"\n").unwrap_err();
    assert!(err.contains("storage_klass"), "{err}");
}

#[test]
fn a_tier_location_with_an_unknown_scheme_or_misplaced_options_is_refused() {
    let err =
        Config::load_with_env(None, env_of(&[(env::STORAGE_COLD_PATH, "ftp://host/cold")])).unwrap_err().to_string();
    assert!(
        err.contains("storage.cold") && err.contains(env::STORAGE_COLD_PATH) && err.contains("unknown scheme \"ftp\""),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[storage.hot]\nurl = \"/srv/hot\"\nstorage_class = \"GLACIER\"\n").unwrap();
    let err = Config::load_with_env(Some(&path), env_of(&[])).unwrap_err().to_string();
    assert!(err.contains("storage.hot") && err.contains("storage_class applies to object stores only"), "{err}");
}

#[test]
fn defaults_follow_the_seeds() {
    let c = Config::load_with_env(None, env_of(&[])).unwrap();
    assert_eq!((c.tiers.hot_days, c.tiers.warm_days), (7, 30));
    assert_eq!(c.plan_days("free").days(), Some(30));
    assert_eq!(c.plan_days("enterprise").days(), None);
    assert_eq!(c.plan_days("unknown-plan").days(), Some(365));
}

#[test]
fn env_overrides_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("strata.toml");
    std::fs::write(&path, "[tiers]\nhot_days = 3\nwarm_days = 10\n[retention.plans]\nfree = 5\n").unwrap();
    let c = Config::load_with_env(
        Some(&path),
        env_of(&[(env::HOT_RETENTION_DAYS, "2"), (env::RETENTION_DAYS_PRO, "unlimited")]),
    )
    .unwrap();
    assert_eq!(c.tiers.hot_days, 2);
    assert_eq!(c.tiers.warm_days, 10);
    assert_eq!(c.plan_days("free").days(), Some(5));
    assert_eq!(c.plan_days("pro").days(), None);
}

#[test]
fn the_admin_token_comes_from_the_environment_and_never_shows() {
    let c = Config::load_with_env(None, env_of(&[(env::ADMIN_TOKEN, "an-admin-token-of-some-length")])).unwrap();
    assert_eq!(c.api.admin_token.as_ref().map(Secret::expose), Some("an-admin-token-of-some-length"));
    assert!(!format!("{c:?}").contains("an-admin-token"));
    let err = Config::load_with_env(None, env_of(&[(env::ADMIN_TOKEN, "short")])).unwrap_err().to_string();
    assert!(err.contains("api.admin_token"), "{err}");
}

#[test]
fn errors_name_the_key_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[tiers]\nhot_dayz = 3\n").unwrap();
    let err = Config::load_with_env(Some(&path), env_of(&[])).unwrap_err().to_string();
    assert!(err.contains("hot_dayz") && err.contains("bad.toml"), "{err}");

    std::fs::write(&path, "[tiers]\nhot_days = \"seven\"\n").unwrap();
    let err = Config::load_with_env(Some(&path), env_of(&[])).unwrap_err().to_string();
    assert!(err.contains("hot_days") && err.contains("bad.toml"), "{err}");

    let err = Config::load_with_env(None, env_of(&[(env::WARM_RETENTION_DAYS, "abc")])).unwrap_err().to_string();
    assert!(err.contains(env::WARM_RETENTION_DAYS), "{err}");

    let err = Config::load_with_env(None, env_of(&[(env::WARM_RETENTION_DAYS, "3")])).unwrap_err().to_string();
    assert!(err.contains("tiers.warm_days"), "{err}");
}

/// Each bounded key: its table, name, least and greatest value, and
/// lines the value needs beside it to be valid otherwise.
const BOUNDS: &[(&str, &str, u64, u64, &str)] = &[
    ("tiers", "hot_days", 0, 36_499, "warm_days = 36500"),
    ("tiers", "warm_days", 1, 36_500, "hot_days = 0"),
    ("tiers", "restore_days", 0, 3_650, ""),
    ("tiers", "scan_interval_days", 0, 36_500, ""),
    ("tiers", "cold_days", 31, 36_500, ""),
    ("retention", "default_days", 0, 36_500, ""),
    ("retention", "grace_days", 0, 36_500, ""),
    ("retention", "keep_latest", 0, 1_000_000, ""),
    ("retention.plans", "free", 0, 36_500, ""),
    ("retention.classes", "audit", 0, 36_500, ""),
    ("retention.keep_latest_by_plan", "pro", 0, 1_000_000, ""),
    ("retention.keep_latest_by_tenant", "acme", 0, 1_000_000, ""),
    ("jobs", "max_attempts", 1, 1_000, ""),
    ("jobs.max_attempts_by_kind", "purge", 1, 1_000, ""),
    ("jobs", "backoff_base_ms", 0, 60_000, ""),
    ("jobs", "backoff_max_ms", 500, 86_400_000, ""),
    ("jobs", "retry_horizon_secs", 0, 2_592_000, ""),
    ("jobs", "concurrency", 1, 4_096, ""),
    ("jobs", "batch_size", 1, 10_000, ""),
    ("jobs", "visibility_timeout_secs", 1, 86_400, ""),
    ("jobs", "timeout_secs", 1, 604_800, ""),
    ("jobs", "shutdown_grace_secs", 0, 86_400, ""),
    ("jobs", "artifact_lease_secs", 1, 2_592_000, ""),
    ("jobs", "per_tenant_cap", 0, 1_000_000, ""),
    ("scheduler", "leader_ttl_secs", 3, 86_400, ""),
    ("queue", "dead_letter_max_count", 0, 100_000_000, ""),
    ("queue", "dead_letter_max_age_days", 0, 36_500, ""),
    ("api", "max_upload_bytes", 1, 1 << 40, ""),
    ("api", "header_read_timeout_secs", 1, 86_400, ""),
    ("api", "idle_timeout_secs", 1, 86_400, ""),
    ("api", "max_connections", 1, 1_000_000, ""),
];

#[test]
fn every_bound_is_checked_at_load_and_names_the_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bounds.toml");
    let load = |table: &str, key: &str, value: u64, extra: &str| {
        std::fs::write(&path, format!("[{table}]\n{key} = {value}\n{extra}\n")).unwrap();
        Config::load_with_env(Some(&path), env_of(&[]))
    };
    for &(table, key, min, max, extra) in BOUNDS {
        let dotted = format!("{table}.{key}");
        for ok in [min, max] {
            if let Err(e) = load(table, key, ok, extra) {
                panic!("{dotted} = {ok} must be accepted: {e}");
            }
        }
        let mut refused = vec![max + 1, u64::from(u32::MAX).max(max + 1)];
        if min > 0 {
            refused.push(min - 1);
        }
        for bad in refused {
            let err = load(table, key, bad, extra).unwrap_err().to_string();
            assert!(err.contains(&dotted) && err.contains("bounds.toml"), "{dotted} = {bad}: {err}");
        }
    }
    // The table covers every bound the configuration checks.
    let config = Config::default();
    let mut checked: Vec<String> = config.bounds().into_iter().map(|b| b.key).collect();
    checked.retain(|k| !k.starts_with("retention.plans.") && !k.starts_with("retention.classes."));
    for key in checked {
        assert!(BOUNDS.iter().any(|(t, k, ..)| format!("{t}.{k}") == key), "{key} is not in the table");
    }
}

#[test]
fn out_of_range_environment_values_name_the_variable() {
    type Vars = &'static [(&'static str, &'static str)];
    let cases: &[(Vars, &str, &str)] = &[
        (&[(env::RETENTION_DAYS_FREE, "200000000")], "retention.plans.free", env::RETENTION_DAYS_FREE),
        (
            &[(env::HOT_RETENTION_DAYS, "100000000"), (env::WARM_RETENTION_DAYS, "100000001")],
            "tiers.hot_days",
            env::HOT_RETENTION_DAYS,
        ),
        (&[(env::COLD_RETENTION_DAYS, "4000000000")], "tiers.cold_days", env::COLD_RETENTION_DAYS),
        (&[(env::LEADER_TTL_SECS, "18446744073709551615")], "scheduler.leader_ttl_secs", env::LEADER_TTL_SECS),
        (&[(env::SHUTDOWN_GRACE_SECS, "18446744073709551615")], "jobs.shutdown_grace_secs", env::SHUTDOWN_GRACE_SECS),
        (&[(env::MAX_ATTEMPTS, "0")], "jobs.max_attempts", env::MAX_ATTEMPTS),
    ];
    for (vars, key, var) in cases {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let lookup = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let err = Config::load_with_env(None, lookup).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains(&format!("environment variable {var}")), "{err}");
    }
}

#[test]
fn an_error_from_an_environment_variable_names_the_variable_not_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("strata.toml");
    std::fs::write(&path, "[tiers]\nwarm_days = 30\ncold_days = 60\n[gc]\ninterval_secs = 60\n").unwrap();
    let cases: &[(&str, &str, &str)] = &[
        (env::HOT_RETENTION_DAYS, "40", "tiers.warm_days"),
        (env::WARM_RETENTION_DAYS, "90", "tiers.cold_days"),
        (env::GC_MIN_AGE_SECS, "18446744073709551615", "gc.min_age_secs"),
        (env::COMPRESSION_LEVEL, "23", "tiers.compression_level"),
        (env::STORAGE_HOT_PATH, "", "storage.hot"),
        (env::FSYNC, "maybe", env::FSYNC),
    ];
    for &(var, value, key) in cases {
        let err = Config::load_with_env(Some(&path), |k| (k == var).then(|| value.to_owned())).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains(&format!("environment variable {var}")), "{var}={value:?}: {err}");
        assert!(!err.contains("strata.toml"), "{var}={value:?}: {err}");
    }
}

#[test]
fn a_bad_cron_expression_is_refused_at_load_naming_the_setting() {
    let err = Config::load_with_env(None, |k| (k == env::SCHEDULE).then(|| "every tuesday".to_owned()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("scheduler.cron") && err.contains(&format!("environment variable {}", env::SCHEDULE)),
        "{err}"
    );
    assert!(err.contains("\"every tuesday\" is not a cron expression"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cron.toml");
    std::fs::write(&path, "[scheduler]\ncron = \"61 * * * *\"\n").unwrap();
    let err = Config::load_with_env(Some(&path), env_of(&[])).unwrap_err().to_string();
    assert!(
        err.contains("scheduler.cron") && err.contains("cron.toml") && err.contains("not a cron expression"),
        "{err}"
    );
    for good in ["*/5 * * * *", "* * * * * *", "0 30 2 * * MON-FRI"] {
        std::fs::write(&path, format!("[scheduler]\ncron = {good:?}\n")).unwrap();
        Config::load_with_env(Some(&path), env_of(&[])).unwrap();
    }
}

#[test]
fn the_documented_example_is_valid_and_matches_the_defaults() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/strata.example.toml"));
    Config::load_with_env(Some(path), env_of(&[])).unwrap();
    let example = Config::from_toml(include_str!("../../docs/strata.example.toml")).unwrap();
    let defaults = Config::default();
    assert_eq!(example.webhooks.expiring_soon_days, defaults.webhooks.expiring_soon_days);
    assert_eq!(example.webhooks.allow_private, defaults.webhooks.allow_private);
    assert_eq!(example.webhooks.timeout_secs, defaults.webhooks.timeout_secs);
    assert_eq!(example.webhooks.poll_interval_ms, defaults.webhooks.poll_interval_ms);
    assert_eq!(example.webhooks.expiring_scan_secs, defaults.webhooks.expiring_scan_secs);
    assert_eq!(example.tiers.hot_days, defaults.tiers.hot_days);
    assert_eq!(example.tiers.warm_days, defaults.tiers.warm_days);
    assert_eq!(example.tiers.compression_level, defaults.tiers.compression_level);
    assert_eq!(example.retention.plans, defaults.retention.plans);
    assert_eq!(example.retention.classes, defaults.retention.classes);
    assert_eq!(example.retention.grace_days, defaults.retention.grace_days);
    assert_eq!(example.jobs.max_attempts, defaults.jobs.max_attempts);
    assert_eq!(example.jobs.concurrency, defaults.jobs.concurrency);
    assert_eq!(example.jobs.shutdown_grace_secs, defaults.jobs.shutdown_grace_secs);
    assert_eq!(example.scheduler.cron, defaults.scheduler.cron);
    assert_eq!(example.lifecycle.dry_run, defaults.lifecycle.dry_run);
    assert_eq!(example.queue.redis_url, defaults.queue.redis_url);
    assert_eq!(example.queue.redis_prefix, defaults.queue.redis_prefix);
    assert_eq!(example.api.listen, defaults.api.listen);
    assert_eq!(example.api.max_upload_bytes, defaults.api.max_upload_bytes);
    assert_eq!(example.api.header_read_timeout_secs, defaults.api.header_read_timeout_secs);
    assert_eq!(example.api.idle_timeout_secs, defaults.api.idle_timeout_secs);
    assert_eq!(example.api.max_connections, defaults.api.max_connections);
    assert!(example.api.admin_token.is_none());
    assert_eq!(example.storage.fsync, defaults.storage.fsync);
    assert_eq!(example.gc.min_age_secs, defaults.gc.min_age_secs);
    assert_eq!(example.gc.interval_secs, defaults.gc.interval_secs);
}
