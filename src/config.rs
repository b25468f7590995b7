//! Configuration: defaults, then a TOML file, then environment variables.
//!
//! Every field has a default, so an empty (or absent) file is a valid
//! configuration. Unknown keys are errors, and every error names the key and
//! the file or variable it came from.

use serde::Deserialize;
use std::collections::BTreeMap;
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

/// Retention days for a plan or class: a number of days, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Days {
    /// Expires this many days after creation.
    Days(u32),
    /// `"unlimited"` or `"never"`: never expires.
    Never(NeverWord),
}

/// The words accepted for "never expires".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NeverWord {
    /// Never expires.
    Unlimited,
    /// Never expires.
    Never,
}

impl Days {
    /// The number of days, or `None` for never.
    pub fn days(self) -> Option<u32> {
        match self {
            Days::Days(d) => Some(d),
            Days::Never(_) => None,
        }
    }

    fn parse_env(var: &'static str, value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "unlimited" | "never" | "-1" => Ok(Days::Never(NeverWord::Unlimited)),
            v => v.parse().map(Days::Days).map_err(|_| ConfigError::Env {
                var,
                value: value.to_owned(),
                message: "expected a number of days or \"unlimited\"".into(),
            }),
        }
    }
}

/// What a retention class does to expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassRule {
    /// A fixed number of days, or never.
    Fixed(Days),
    /// `"plan"`: the tenant plan's days.
    Plan(PlanWord),
}

/// The word `"plan"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanWord {
    /// Use the tenant plan's retention.
    Plan,
}

/// Reads a plan's or class's days: a number, `"unlimited"` or `"never"`,
/// and for a class also `"plan"`; anything else is refused saying so.
struct DaysVisitor {
    plan_word: bool,
}

impl serde::de::Visitor<'_> for DaysVisitor {
    type Value = ClassRule;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a number of days or \"unlimited\" (also \"never\")")?;
        if self.plan_word { f.write_str(" or \"plan\" (the tenant plan's days)") } else { Ok(()) }
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ClassRule, E> {
        u32::try_from(v)
            .map(|d| ClassRule::Fixed(Days::Days(d)))
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ClassRule, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(serde::de::Unexpected::Signed(v), &self)),
        }
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ClassRule, E> {
        match v.trim().to_ascii_lowercase().as_str() {
            "unlimited" => Ok(ClassRule::Fixed(Days::Never(NeverWord::Unlimited))),
            "never" => Ok(ClassRule::Fixed(Days::Never(NeverWord::Never))),
            "plan" if self.plan_word => Ok(ClassRule::Plan(PlanWord::Plan)),
            _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
        }
    }
}

impl<'de> Deserialize<'de> for Days {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(DaysVisitor { plan_word: false })? {
            ClassRule::Fixed(days) => Ok(days),
            ClassRule::Plan(_) => Err(serde::de::Error::custom("\"plan\" is a class's word, not a number of days")),
        }
    }
}

impl<'de> Deserialize<'de> for ClassRule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DaysVisitor { plan_word: true })
    }
}

/// Where each tier keeps its bytes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Base directory of the local tiers (`STORAGE_BASE_PATH`); default `<data-dir>/tiers`.
    pub base_path: Option<PathBuf>,
    /// Hot tier location (`STORAGE_HOT_PATH`): a directory, a `file://` URL,
    /// or an object store URL, given as a string or as a `[storage.hot]`
    /// table (see [`TierLocation`]).
    #[serde(deserialize_with = "tier_location")]
    pub hot: Option<TierLocation>,
    /// Warm tier location (`STORAGE_WARM_PATH`).
    #[serde(deserialize_with = "tier_location")]
    pub warm: Option<TierLocation>,
    /// Cold tier location (`STORAGE_COLD_PATH`).
    #[serde(deserialize_with = "tier_location")]
    pub cold: Option<TierLocation>,
    /// Sync every tier write (file, then directory) and every catalog commit
    /// to stable storage before it counts as done (`STRATA_FSYNC`; default
    /// true). False trades durability on power loss for speed.
    pub fsync: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self { base_path: None, hot: None, warm: None, cold: None, fsync: true }
    }
}

/// The kinds of store a tier location can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A local directory: a path or a `file://` URL.
    Local,
    /// An S3-compatible store: `s3://bucket/prefix`.
    S3,
    /// Azure Blob Storage: `az://container/prefix` (also `azure://`).
    Azure,
    /// Google Cloud Storage: `gs://bucket/prefix`.
    Gcs,
}

/// One tier's location: a directory, a `file://` URL, or an object store
/// (`s3://bucket/prefix`, `az://container/prefix` or `azure://…`,
/// `gs://bucket/prefix`).
///
/// Written as a plain string (`hot = "s3://bucket/hot"`) or as a table
/// whose `url` is that string and whose other keys configure the object
/// store's client. What a table leaves out comes from the conventional
/// environment variables (`AWS_*`, `AZURE_*`, `GOOGLE_*`), as the object
/// store clients read them. Secrets are never shown by `Debug`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierLocation {
    /// The location itself.
    pub url: String,
    /// The service endpoint, for S3-compatible stores and emulators
    /// (`AWS_ENDPOINT_URL`, `AZURE_STORAGE_ENDPOINT`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The S3 region (`AWS_REGION`).
    #[serde(default)]
    pub region: Option<String>,
    /// The storage class every blob of the tier is written in: on S3
    /// `STANDARD`, `STANDARD_IA`, `GLACIER_IR`, …; on Azure the access tier
    /// `Hot`, `Cool` or `Cold`; on GCS `STANDARD`, `NEARLINE`, `COLDLINE`, ….
    #[serde(default)]
    pub storage_class: Option<String>,
    /// Allow plain `http://` endpoints (`AWS_ALLOW_HTTP`, `AZURE_ALLOW_HTTP`,
    /// `GOOGLE_ALLOW_HTTP`).
    #[serde(default)]
    pub allow_http: Option<bool>,
    /// S3 access key id (`AWS_ACCESS_KEY_ID`).
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// S3 secret access key (`AWS_SECRET_ACCESS_KEY`).
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// Azure storage account name (`AZURE_STORAGE_ACCOUNT_NAME`).
    #[serde(default)]
    pub account: Option<String>,
    /// Azure storage account key (`AZURE_STORAGE_ACCOUNT_KEY`).
    #[serde(default)]
    pub access_key: Option<Secret>,
    /// Google service account key, the JSON text (`GOOGLE_SERVICE_ACCOUNT_KEY`).
    #[serde(default)]
    pub service_account_key: Option<Secret>,
    /// How many times the client retries a failed request (with backoff)
    /// before the operation fails as transient; default 10.
    #[serde(default)]
    pub max_retries: Option<usize>,
}

impl TierLocation {
    /// A location given by its URL or path alone.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), ..Self::default() }
    }

    /// Which kind of store the location names, or why it names none.
    pub fn backend(&self) -> Result<Backend, String> {
        let Some((scheme, _)) = self.url.split_once("://") else {
            return Ok(Backend::Local);
        };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => Ok(Backend::Local),
            "s3" => Ok(Backend::S3),
            "az" | "azure" => Ok(Backend::Azure),
            "gs" => Ok(Backend::Gcs),
            other => Err(format!(
                "unknown scheme {other:?} in {:?}: a tier location is a directory, a file:// URL, \
                 s3://bucket/prefix, az://container/prefix (also azure://) or gs://bucket/prefix",
                self.url
            )),
        }
    }

    /// The names of the object-store options that are set.
    fn store_options(&self) -> Vec<&'static str> {
        let set = [
            ("endpoint", self.endpoint.is_some()),
            ("region", self.region.is_some()),
            ("storage_class", self.storage_class.is_some()),
            ("allow_http", self.allow_http.is_some()),
            ("access_key_id", self.access_key_id.is_some()),
            ("secret_access_key", self.secret_access_key.is_some()),
            ("account", self.account.is_some()),
            ("access_key", self.access_key.is_some()),
            ("service_account_key", self.service_account_key.is_some()),
            ("max_retries", self.max_retries.is_some()),
        ];
        set.into_iter().filter(|(_, on)| *on).map(|(name, _)| name).collect()
    }

    /// Refuses an unknown scheme, and object-store options on a local directory.
    fn check(&self) -> Result<(), String> {
        if self.url.trim().is_empty() {
            return Err("is empty".into());
        }
        if self.backend()? == Backend::Local
            && let Some(first) = self.store_options().first()
        {
            return Err(format!("{first} applies to object stores only, and {:?} is a local directory", self.url));
        }
        Ok(())
    }
}

/// Reads a tier location from a string (its URL or path) or from a table.
fn tier_location<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<TierLocation>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = TierLocation;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a directory or URL, or a table with `url` and object store options")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TierLocation, E> {
            Ok(TierLocation::new(v))
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<TierLocation, A::Error> {
            TierLocation::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(Visitor).map(Some)
}

/// The longest gc window or interval: 100 years, in seconds.
const GC_MAX_SECS: u64 = 100 * 36_525 * 864;

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

/// Retention: plans, classes and the grace period before purge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Retention for a tenant whose plan has no entry.
    pub default_days: Days,
    /// Days between eligibility and purge.
    pub grace_days: u32,
    /// Retention days per plan (`RETENTION_DAYS_FREE`, `_BASIC`, `_PRO`, `_ENTERPRISE`).
    pub plans: BTreeMap<String, Days>,
    /// Retention classes by name.
    pub classes: BTreeMap<String, ClassRule>,
    /// The newest N live artifacts of every workflow are never eligible; 0 = off.
    pub keep_latest: u32,
    /// `keep_latest` per plan, overriding the default.
    pub keep_latest_by_plan: BTreeMap<String, u32>,
    /// `keep_latest` per tenant, overriding its plan's.
    pub keep_latest_by_tenant: BTreeMap<String, u32>,
    /// Whether tenants' tokens may place holds (`RETENTION_TENANT_HOLDS`).
    pub tenant_holds: bool,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        let plans = [
            ("free", Days::Days(30)),
            ("basic", Days::Days(90)),
            ("pro", Days::Days(365)),
            ("enterprise", Days::Never(NeverWord::Unlimited)),
        ];
        let classes = [
            ("ephemeral", ClassRule::Fixed(Days::Days(7))),
            ("standard", ClassRule::Plan(PlanWord::Plan)),
            ("release-evidence", ClassRule::Fixed(Days::Days(730))),
            ("permanent-record", ClassRule::Fixed(Days::Never(NeverWord::Never))),
        ];
        Self {
            default_days: Days::Days(365),
            grace_days: 7,
            plans: plans.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            classes: classes.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            keep_latest: 0,
            keep_latest_by_plan: BTreeMap::new(),
            keep_latest_by_tenant: BTreeMap::new(),
            tenant_holds: true,
        }
    }
}

/// Job execution: attempts, backoff, concurrency.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Attempts before a job is dead-lettered. Transient failures (a tier or
    /// the catalog unreachable, I/O errors, timeouts) do not spend attempts:
    /// they are retried until `retry_horizon_secs` after the first failure.
    pub max_attempts: u32,
    /// Per-kind overrides of `max_attempts` (e.g. `purge = 3`).
    pub max_attempts_by_kind: BTreeMap<String, u32>,
    /// First retry delay in milliseconds; doubles per attempt, with full jitter.
    pub backoff_base_ms: u64,
    /// Upper bound of a retry delay in milliseconds.
    pub backoff_max_ms: u64,
    /// Seconds after a job's first failure during which transient failures
    /// are retried; then the job is dead-lettered.
    pub retry_horizon_secs: u64,
    /// Jobs run at once by one worker process.
    pub concurrency: usize,
    /// Jobs fetched per queue round trip.
    pub batch_size: usize,
    /// Seconds a fetched job stays leased before another worker may take it.
    pub visibility_timeout_secs: u64,
    /// Seconds a handler may run before it is abandoned and retried.
    pub timeout_secs: u64,
    /// Seconds a stopping worker lets running jobs finish before it abandons
    /// them to redelivery.
    pub shutdown_grace_secs: u64,
    /// Seconds an artifact stays stamped by a planned job before it may be planned again.
    pub artifact_lease_secs: u64,
    /// Most jobs planned per tenant per tick (fairness); 0 = unlimited.
    pub per_tenant_cap: usize,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_attempts_by_kind: BTreeMap::new(),
            backoff_base_ms: 500,
            backoff_max_ms: 60_000,
            retry_horizon_secs: 3600,
            concurrency: 16,
            batch_size: 128,
            visibility_timeout_secs: 30,
            timeout_secs: 300,
            shutdown_grace_secs: 30,
            artifact_lease_secs: 3600,
            per_tenant_cap: 0,
        }
    }
}

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

/// Which catalog database to use.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// PostgreSQL URL of a catalog shared by many hosts (`STRATA_DATABASE_URL`,
    /// `postgres://user@host:5432/db`); unset: the embedded SQLite catalog in
    /// the data directory.
    pub url: Option<String>,
}

/// Which queue backend to use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Redis URL of the scale-out queue (`STRATA_REDIS_URL`); unset: the embedded queue.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key (`STRATA_REDIS_PREFIX`).
    pub redis_prefix: String,
    /// Tenants whose lifecycle jobs go to a lane of their own, consumed by
    /// `strata worker --lane TENANT` (`STRATA_TENANT_LANES`, comma-separated).
    pub tenant_lanes: Vec<String>,
    /// Dead letters kept per lane (the newest).
    pub dead_letter_max_count: u64,
    /// Days a dead letter is kept.
    pub dead_letter_max_age_days: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            redis_prefix: "strata".into(),
            tenant_lanes: Vec::new(),
            dead_letter_max_count: 100_000,
            dead_letter_max_age_days: 30,
        }
    }
}

/// Lifecycle run defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// Make `lifecycle run` a dry run unless `--live` is given (`LIFECYCLE_DRY_RUN`).
    pub dry_run: bool,
}

/// A secret value: deserialized like a string, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; for comparison, never for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The HTTP API (`strata serve`, `strata run`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address `strata serve` listens on unless `--listen` is given.
    pub listen: String,
    /// Bearer token that reaches operator routes and every tenant (`STRATA_ADMIN_TOKEN`); unset: no admin access.
    pub admin_token: Option<Secret>,
    /// Largest accepted artifact upload, in bytes (`STRATA_MAX_UPLOAD_BYTES`); larger ones get 413.
    pub max_upload_bytes: u64,
    /// Tenant tokens provisioned by configuration: per tenant, the sha256
    /// (64 hex digits) of each token, never the token itself.
    pub tenant_tokens: BTreeMap<String, Vec<String>>,
    /// Seconds a client has to send a whole request head, from its first
    /// byte (`STRATA_API_HEADER_READ_TIMEOUT_SECS`); 1 to 86400.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may wait for its next request before it is
    /// closed (`STRATA_API_IDLE_TIMEOUT_SECS`); 1 to 86400.
    pub idle_timeout_secs: u64,
    /// Connections served at once; more wait to be accepted
    /// (`STRATA_API_MAX_CONNECTIONS`); 1 to 1000000.
    pub max_connections: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            admin_token: None,
            max_upload_bytes: 5 * 1024 * 1024 * 1024,
            tenant_tokens: BTreeMap::new(),
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 1024,
        }
    }
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

const ENV_VARS: &[(&str, EnvSetter)] = &[
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
const ENV_KEYS: &[(&str, &str)] = &[
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

/// Where the values of a loaded configuration came from.
#[derive(Debug, Default)]
struct Sources {
    /// The file, if one was read.
    file: Option<String>,
    /// The environment variables that were set.
    env: Vec<&'static str>,
}

impl Sources {
    /// The variable that set `key`, else the file, else the defaults.
    fn of(&self, key: &str) -> String {
        let var = ENV_KEYS.iter().find(|(var, k)| *k == key && self.env.contains(var)).map(|(var, _)| *var);
        match (var, &self.file) {
            (Some(var), _) => format!("environment variable {var}"),
            (None, Some(file)) => file.clone(),
            (None, None) => "defaults".to_owned(),
        }
    }
}

/// A number the configuration bounds: its key, value and allowed range.
struct Bounded {
    key: String,
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
    fn bounds(&self) -> Vec<Bounded> {
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
    fn check_bounds(&self, sources: &Sources) -> Result<(), ConfigError> {
        for b in self.bounds() {
            if !(b.min..=b.max).contains(&b.value) {
                return Err(ConfigError::Invalid {
                    source_name: sources.of(&b.key),
                    message: format!("{} is out of range: it must be from {} to {}", b.value, b.min, b.max),
                    key: b.key,
                });
            }
        }
        Ok(())
    }

    /// Loads defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, |var| std::env::var(var).ok())
    }

    /// Like [`Config::load`] with an explicit environment lookup (for tests).
    pub fn load_with_env(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                Self::from_toml(&text).map_err(|message| ConfigError::Parse { path: path.to_owned(), message })?
            }
            None => Config::default(),
        };
        let mut sources = Sources { file: file.map(|p| p.display().to_string()), env: Vec::new() };
        for (var, set) in ENV_VARS {
            if let Some(value) = env(var) {
                set(&mut config, var, &value)?;
                sources.env.push(var);
            }
        }
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

    fn validate(&self, sources: &Sources) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            source_name: sources.of(key),
            message,
        };
        if self.tiers.warm_days <= self.tiers.hot_days {
            return Err(invalid(
                "tiers.warm_days",
                format!("must be greater than tiers.hot_days ({} <= {})", self.tiers.warm_days, self.tiers.hot_days),
            ));
        }
        if let Some(cold) = self.tiers.cold_days.filter(|d| *d <= self.tiers.warm_days) {
            return Err(invalid(
                "tiers.cold_days",
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
            return Err(invalid("jobs.backoff_max_ms", "must be at least jobs.backoff_base_ms".into()));
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
        if self.scheduler.cron.trim().is_empty() {
            return Err(invalid("scheduler.cron", "must not be empty".into()));
        }
        for (key, secs) in [("gc.min_age_secs", self.gc.min_age_secs), ("gc.interval_secs", self.gc.interval_secs)] {
            if secs > GC_MAX_SECS {
                return Err(invalid(key, format!("{secs} is more than {GC_MAX_SECS} (100 years)")));
            }
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

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
            Config::load_with_env(None, env_of(&[("STORAGE_COLD_PATH", "ftp://host/cold")])).unwrap_err().to_string();
        assert!(
            err.contains("storage.cold") && err.contains("STORAGE_COLD_PATH") && err.contains("unknown scheme \"ftp\""),
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
            env_of(&[("HOT_RETENTION_DAYS", "2"), ("RETENTION_DAYS_PRO", "unlimited")]),
        )
        .unwrap();
        assert_eq!(c.tiers.hot_days, 2);
        assert_eq!(c.tiers.warm_days, 10);
        assert_eq!(c.plan_days("free").days(), Some(5));
        assert_eq!(c.plan_days("pro").days(), None);
    }

    #[test]
    fn the_admin_token_comes_from_the_environment_and_never_shows() {
        let c =
            Config::load_with_env(None, env_of(&[("STRATA_ADMIN_TOKEN", "an-admin-token-of-some-length")])).unwrap();
        assert_eq!(c.api.admin_token.as_ref().map(Secret::expose), Some("an-admin-token-of-some-length"));
        assert!(!format!("{c:?}").contains("an-admin-token"));
        let err = Config::load_with_env(None, env_of(&[("STRATA_ADMIN_TOKEN", "short")])).unwrap_err().to_string();
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

        let err = Config::load_with_env(None, env_of(&[("WARM_RETENTION_DAYS", "abc")])).unwrap_err().to_string();
        assert!(err.contains("WARM_RETENTION_DAYS"), "{err}");

        let err = Config::load_with_env(None, env_of(&[("WARM_RETENTION_DAYS", "3")])).unwrap_err().to_string();
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
            (&[("RETENTION_DAYS_FREE", "200000000")], "retention.plans.free", "RETENTION_DAYS_FREE"),
            (
                &[("HOT_RETENTION_DAYS", "100000000"), ("WARM_RETENTION_DAYS", "100000001")],
                "tiers.hot_days",
                "HOT_RETENTION_DAYS",
            ),
            (&[("COLD_RETENTION_DAYS", "4000000000")], "tiers.cold_days", "COLD_RETENTION_DAYS"),
            (
                &[("STRATA_LEADER_TTL_SECS", "18446744073709551615")],
                "scheduler.leader_ttl_secs",
                "STRATA_LEADER_TTL_SECS",
            ),
            (
                &[("STRATA_SHUTDOWN_GRACE_SECS", "18446744073709551615")],
                "jobs.shutdown_grace_secs",
                "STRATA_SHUTDOWN_GRACE_SECS",
            ),
            (&[("STRATA_MAX_ATTEMPTS", "0")], "jobs.max_attempts", "STRATA_MAX_ATTEMPTS"),
        ];
        for (vars, key, var) in cases {
            let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            let lookup = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let err = Config::load_with_env(None, lookup).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(&format!("environment variable {var}")), "{err}");
        }
    }

    #[test]
    fn the_documented_example_is_valid_and_matches_the_defaults() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/strata.example.toml"));
        Config::load_with_env(Some(path), env_of(&[])).unwrap();
        let example = Config::from_toml(include_str!("../docs/strata.example.toml")).unwrap();
        let defaults = Config::default();
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
}
