//! The command line, as clap types.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use strata_core::artifact::Tier;
use strata_core::config::env;
use strata_core::id::{ArtifactKey, IdError, Scope, TenantId};
use strata_core::query::{NamePattern, SortKey};

mod retention;

pub use retention::{EraseArgs, ExplainArgs, RestoreArgs, RetentionCommand};

/// strata: a durable, job-queue-driven lifecycle engine for stored artifacts.
///
/// Artifacts live in hot, warm and cold tiers by age; expired ones become
/// eligible and are purged after a grace period; every change is an event.
#[derive(Debug, Parser)]
#[command(name = "strata", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Data directory (catalog, embedded queue, local tiers).
    #[arg(long, global = true, env = env::DATA_DIR, default_value = "./strata-data")]
    pub data_dir: PathBuf,
    /// Configuration file (TOML); see docs/strata.example.toml.
    #[arg(long, global = true, env = env::CONFIG)]
    pub config: Option<PathBuf>,
}

/// A `key=value` pair.
#[derive(Debug, Clone)]
pub struct KeyValue(pub String, pub String);

fn key_value(s: &str) -> Result<KeyValue, String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !k.chars().any(char::is_control) && !v.chars().any(char::is_control) => {
            Ok(KeyValue(k.to_owned(), v.to_owned()))
        }
        _ => Err(format!("{s:?} is not of the form key=value")),
    }
}

/// Parses an identifier argument. Unlike a plain function parser, its error
/// does not echo the raw argument: the identifier error shows the value
/// escaped, so an invisible bidi control in it cannot reorder the line.
#[derive(Clone)]
struct IdParser<T>(fn(&str) -> Result<T, IdError>);

impl<T: Clone + Send + Sync + 'static> clap::builder::TypedValueParser for IdParser<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let name = arg.map_or_else(|| "argument".to_owned(), |a| a.get_id().to_string().to_uppercase());
        let invalid = |message: String| {
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("invalid {name}: {message}\n"))
                .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| invalid(format!("{} is not UTF-8", value.to_string_lossy().escape_debug())))?;
        (self.0)(text).map_err(|e| invalid(e.to_string()))
    }
}

fn tier(s: &str) -> Result<Tier, String> {
    s.parse().map_err(|e: strata_core::artifact::UnknownValue| e.to_string())
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Store a file as an artifact in the hot tier.
    Put(PutArgs),
    /// Write an artifact's exact bytes to a file or standard output.
    Get(GetArgs),
    /// List artifacts.
    Ls(LsArgs),
    /// Delete an artifact (tombstone first, bytes second).
    Rm(RmArgs),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage tenants' webhook endpoints and see their deliveries.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Mark, list and remove baselines: named snapshots of a set of artifacts.
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// Compare a set of artifacts with a baseline or a tag: added, removed,
    /// changed by digest, and the size delta per artifact and in total.
    Compare(CompareArgs),
    /// What each workflow stored over time, per day or per run, with the
    /// compression ratio.
    Trend(TrendArgs),
    /// Plan and run the lifecycle, or summarize it.
    #[command(subcommand)]
    Lifecycle(LifecycleCommand),
    /// Bring a warm or cold artifact back to the hot tier (a priority job).
    Restore(RestoreArgs),
    /// Holds, extensions and retention history.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Why an artifact is where it is, what protects it, and what happens next.
    Explain(ExplainArgs),
    /// Erase a tenant's data (or a workflow's, or one artifact) on request,
    /// whatever its plan or class; held artifacts are listed as blocked.
    Erase(EraseArgs),
    /// Serve the HTTP API until interrupted (SIGINT/SIGTERM).
    Serve(ServeArgs),
    /// Run the HTTP API, the scheduler and workers on every lane in one
    /// process until interrupted (SIGINT/SIGTERM).
    Run(ServeArgs),
    /// Run workers until interrupted (SIGINT/SIGTERM).
    Worker(WorkerArgs),
    /// Plan due work on a cron schedule until interrupted.
    Scheduler(SchedulerArgs),
    /// Queue depth per lane.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// List, retry or discard dead-lettered jobs.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Read the event log.
    Events(EventsArgs),
    /// Seed a fresh data dir and step simulated time through the lifecycle.
    Demo(DemoArgs),
    /// Print metrics in the Prometheus text format (retention deletes and
    /// bytes freed per plan, tier totals, queue depth).
    Metrics,
    /// Create or upgrade the catalog schema, then exit.
    Migrate,
    /// Remove crash leftovers and blobs no live artifact references (once
    /// older than gc.min_age_secs), and report live artifacts whose blob is
    /// missing.
    Gc(GcArgs),
    /// Check every configured component (catalog, queue, tiers, clock) and
    /// print what is fine and what is wrong; exit 1 when anything is wrong.
    /// Changes nothing.
    Doctor(DoctorArgs),
}

/// `strata doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// The largest clock difference with the database, in seconds, that is fine.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub max_skew: f64,
}

/// `strata gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Report what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Remove even when LIFECYCLE_DRY_RUN / RETENTION_DRY_RUN (or
    /// `lifecycle.dry_run`) makes this a dry run.
    #[arg(long, conflicts_with = "dry_run")]
    pub live: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `strata put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// Where to store it: TENANT/WORKFLOW/NAME.
    #[arg(value_parser = IdParser(ArtifactKey::parse))]
    pub key: ArtifactKey,
    /// The file to read (`-` for standard input).
    pub file: PathBuf,
    /// Retention class (see `[retention.classes]`); default: the tenant's plan.
    #[arg(long)]
    pub class: Option<String>,
    /// A tag, repeatable.
    #[arg(long = "tag", value_name = "K=V", value_parser = key_value)]
    pub tags: Vec<KeyValue>,
    /// A metadata entry, repeatable.
    #[arg(long = "meta", value_name = "K=V", value_parser = key_value)]
    pub meta: Vec<KeyValue>,
    /// MIME type (guessed from the name otherwise).
    #[arg(long)]
    pub content_type: Option<String>,
    /// Replace an existing artifact of the same name.
    #[arg(long)]
    pub overwrite: bool,
    /// Print the stored artifact as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `strata get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// TENANT/WORKFLOW/NAME.
    #[arg(value_parser = IdParser(ArtifactKey::parse))]
    pub key: ArtifactKey,
    /// Output file (default, or `-`: standard output). A regular file is
    /// replaced atomically; a character device or FIFO is written in place;
    /// a symbolic link, directory, block device or socket is refused.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// `strata ls`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    strata ls acme/nightly --latest 5\n  \
    strata ls acme --tag branch=main --tag kind=release --sort created --desc\n  \
    strata ls acme --name 'nightly-*.json' --created-after=-7d --min-size 1048576")]
pub struct LsArgs {
    /// TENANT or TENANT/WORKFLOW (default: everything).
    #[arg(value_parser = IdParser(Scope::parse), default_value = "")]
    pub scope: Scope,
    /// Only this tier.
    #[arg(long, value_parser = tier)]
    pub tier: Option<Tier>,
    /// Only names matching this pattern: `*` any run of characters, `?` one
    /// character (case-sensitive; quote it from the shell).
    #[arg(long, value_name = "PATTERN", value_parser = name_pattern)]
    pub name: Option<NamePattern>,
    /// Only artifacts with this tag; repeatable: all of them.
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = key_value)]
    pub tags: Vec<KeyValue>,
    /// Only artifacts with at least one of these tags; repeatable.
    #[arg(long = "any-tag", value_name = "KEY=VALUE", value_parser = key_value)]
    pub any_tags: Vec<KeyValue>,
    /// Only artifacts created at or after this time (RFC 3339, a date, or
    /// an offset from now such as `-7d`: write `--created-after=-7d`).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub created_after: Option<String>,
    /// Only artifacts created before this time (as `--created-after`).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub created_before: Option<String>,
    /// Only artifacts of at least this many bytes.
    #[arg(long, value_name = "BYTES")]
    pub min_size: Option<u64>,
    /// Only artifacts of at most this many bytes.
    #[arg(long, value_name = "BYTES")]
    pub max_size: Option<u64>,
    /// Of the artifacts the other filters select, only the newest N of each workflow.
    #[arg(long, value_name = "N", conflicts_with = "all")]
    pub latest: Option<u32>,
    /// Sort by name (tenant, workflow, name), created or size.
    #[arg(long, default_value = "name", value_parser = sort_key)]
    pub sort: SortKey,
    /// Reverse the order: last name, newest or largest first.
    #[arg(long)]
    pub desc: bool,
    /// At most this many.
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// Include purged and deleted tombstones.
    #[arg(long)]
    pub all: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn name_pattern(s: &str) -> Result<NamePattern, String> {
    NamePattern::parse(s).map_err(|e| e.to_string())
}

fn sort_key(s: &str) -> Result<SortKey, String> {
    s.parse()
}

/// `strata rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// TENANT/WORKFLOW/NAME.
    #[arg(value_parser = IdParser(ArtifactKey::parse))]
    pub key: ArtifactKey,
}

/// `strata tenant …`.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Add a tenant.
    Add {
        /// Tenant id.
        #[arg(value_parser = IdParser(TenantId::parse))]
        name: TenantId,
        /// Plan (see `[retention.plans]`).
        #[arg(long, default_value = "free")]
        plan: String,
    },
    /// Move a tenant to another plan; recomputes its artifacts' expiry.
    SetPlan {
        /// Tenant id.
        #[arg(value_parser = IdParser(TenantId::parse))]
        name: TenantId,
        /// The new plan.
        plan: String,
    },
    /// List tenants.
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage a tenant's API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `strata tenant token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a tenant; it is printed once, alone on the last line.
    Create {
        /// Tenant id.
        #[arg(value_parser = IdParser(TenantId::parse))]
        name: TenantId,
    },
    /// List tokens (ids, creation, revocation; never the tokens themselves).
    Ls {
        /// Only this tenant's.
        #[arg(value_parser = IdParser(TenantId::parse))]
        name: Option<TenantId>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: it stops working at once.
    Revoke {
        /// Tenant id.
        #[arg(value_parser = IdParser(TenantId::parse))]
        name: TenantId,
        /// The token's id (from `token ls`).
        id: i64,
    },
}

/// `strata webhook …`.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Register an endpoint for a tenant's events; prints its signing secret once.
    Add {
        /// Tenant id.
        #[arg(value_parser = IdParser(TenantId::parse))]
        tenant: TenantId,
        /// Where notices are POSTed (http or https).
        url: String,
        /// Event types, comma-separated: expiring_soon, deletion_eligible,
        /// purged, erased, job_dead_lettered, restored.
        #[arg(long, value_delimiter = ',', required = true)]
        events: Vec<String>,
        /// The signing secret (at least 16 characters); generated when not given.
        #[arg(long, env = "STRATA_WEBHOOK_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
    /// List endpoints (configured and registered; never their secrets).
    Ls {
        /// Only this tenant's.
        #[arg(value_parser = IdParser(TenantId::parse))]
        tenant: Option<TenantId>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a registered endpoint; notices not yet delivered to it are dropped.
    Rm {
        /// Tenant id.
        #[arg(value_parser = IdParser(TenantId::parse))]
        tenant: TenantId,
        /// The endpoint's id (from `webhook ls`).
        id: String,
    },
    /// An endpoint's newest notices: attempts, last status, delivered or not.
    Deliveries {
        /// The endpoint's id.
        id: String,
        /// How many.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A set of live artifacts: a tenant or one of its workflows, narrowed by
/// tags and a name pattern.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// TENANT or TENANT/WORKFLOW.
    #[arg(value_parser = IdParser(Scope::parse))]
    pub scope: Scope,
    /// Only artifacts with this tag; repeatable: all of them.
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = key_value)]
    pub tags: Vec<KeyValue>,
    /// Only names matching this pattern (`*`, `?`).
    #[arg(long, value_name = "PATTERN", value_parser = name_pattern)]
    pub name: Option<NamePattern>,
}

/// `strata baseline …`.
#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Mark a baseline: the set's artifacts as they are now (key, digest, size).
    Set {
        /// Its name (letters, digits, '.', '_', '-').
        #[arg(value_name = "NAME")]
        baseline: String,
        /// The set.
        #[command(flatten)]
        set: SetArgs,
        /// Replace a baseline of the same name.
        #[arg(long)]
        replace: bool,
    },
    /// List baselines.
    Ls {
        /// Only this tenant's.
        #[arg(value_parser = IdParser(TenantId::parse))]
        tenant: Option<TenantId>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a baseline.
    Rm {
        /// Tenant id.
        #[arg(value_parser = IdParser(TenantId::parse))]
        tenant: TenantId,
        /// Its name.
        name: String,
    },
}

/// `strata compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The set compared.
    #[command(flatten)]
    pub set: SetArgs,
    /// A baseline's name, or tag:KEY=VALUE (the live artifacts of the same
    /// tenant and workflow carrying that tag).
    #[arg(long, value_name = "BASELINE|tag:KEY=VALUE")]
    pub against: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `strata trend`.
#[derive(Debug, Args)]
pub struct TrendArgs {
    /// TENANT or TENANT/WORKFLOW.
    #[arg(value_parser = IdParser(Scope::parse))]
    pub scope: Scope,
    /// Group by day (UTC), by run (the `run` tag), or by tag:KEY.
    #[arg(long, default_value = "day", value_name = "day|run|tag:KEY")]
    pub by: String,
    /// Only artifacts created at or after this time (RFC 3339, a date, or
    /// `-30d`: write `--since=-30d`).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `strata serve` and `strata run`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default `api.listen`, 127.0.0.1:8080); port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Change data even when LIFECYCLE_DRY_RUN / RETENTION_DRY_RUN (or
    /// `lifecycle.dry_run`) makes this process a dry run.
    #[arg(long)]
    pub live: bool,
}

/// `strata scheduler`.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Plan and enqueue for real even when LIFECYCLE_DRY_RUN / RETENTION_DRY_RUN
    /// (or `lifecycle.dry_run`) makes each tick a recorded dry run.
    #[arg(long)]
    pub live: bool,
}

/// `strata lifecycle …`.
#[derive(Debug, Subcommand)]
pub enum LifecycleCommand {
    /// Plan what is due as of a time and enqueue it (or only print it).
    Run(RunArgs),
    /// What-if: the actions a different policy file would take, next to the current one's.
    Plan {
        /// The policy (configuration file) to compare against the current one.
        #[arg(long, value_name = "NEW.toml")]
        policy: PathBuf,
        /// Compare as of this time (default now).
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Artifacts and bytes per tier and tenant, the last run, recent events.
    Summary {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `strata lifecycle run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Only print the plan; change nothing (the default when `lifecycle.dry_run` / LIFECYCLE_DRY_RUN is set).
    #[arg(long, conflicts_with = "live")]
    pub dry_run: bool,
    /// Run for real even when `lifecycle.dry_run` / LIFECYCLE_DRY_RUN makes dry runs the default.
    #[arg(long)]
    pub live: bool,
    /// List every planned action, not only the totals.
    #[arg(long, short)]
    pub verbose: bool,
    /// Plan as of this time: RFC 3339, a date, or relative (+30d, +12h). Default: now.
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Run workers in this process until the queue is drained, then report.
    #[arg(long)]
    pub wait: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `strata worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Lane to consume, repeatable (default: priority, then default).
    #[arg(long = "lane")]
    pub lanes: Vec<String>,
    /// Also serve this worker's `/metrics` (jobs by kind and outcome,
    /// durations, lag; admin token) on ADDR, e.g. 127.0.0.1:9187.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Run lifecycle jobs even when LIFECYCLE_DRY_RUN / RETENTION_DRY_RUN
    /// holds (under the switch a worker takes only the priority lane:
    /// restores and erasures).
    #[arg(long)]
    pub live: bool,
}

/// `strata queue …`.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Waiting, in-flight, delayed and dead jobs per lane.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Which dead letters.
#[derive(Debug, Args)]
pub struct DlqSelect {
    /// One dead letter by id.
    pub id: Option<String>,
    /// Only this job kind.
    #[arg(long)]
    pub kind: Option<String>,
    /// Only this lane.
    #[arg(long)]
    pub lane: Option<String>,
    /// Every dead letter.
    #[arg(long)]
    pub all: bool,
}

/// `strata dlq …`.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters with their last error.
    List {
        /// Only this job kind.
        #[arg(long)]
        kind: Option<String>,
        /// Only this lane.
        #[arg(long)]
        lane: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put dead letters back on their lanes with fresh attempts.
    Retry(DlqSelect),
    /// Delete dead letters.
    Discard(DlqSelect),
}

/// `strata events`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EventsArgs {
    /// Export or verify instead of listing.
    #[command(subcommand)]
    pub command: Option<EventsCommand>,
    /// Filters.
    #[command(flatten)]
    pub filter: EventFilterArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Event filters.
#[derive(Debug, Args)]
pub struct EventFilterArgs {
    /// Only this tenant's events.
    #[arg(long, value_parser = IdParser(TenantId::parse))]
    pub tenant: Option<TenantId>,
    /// Only this artifact's events (TENANT/WORKFLOW/NAME, live or deleted).
    #[arg(long, value_parser = IdParser(ArtifactKey::parse))]
    pub artifact: Option<ArtifactKey>,
    /// Only this event kind (e.g. promoted, purged).
    #[arg(long)]
    pub kind: Option<String>,
    /// The newest N events (default 50 when listing; all when exporting).
    #[arg(long)]
    pub limit: Option<i64>,
}

/// `strata events export`.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Write events as JSON Lines (one event per line), oldest first.
    Export {
        /// Filters.
        #[command(flatten)]
        filter: EventFilterArgs,
        /// Output file (default, or `-`: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Check the event log's hash chain; names the first modified or deleted event.
    Verify {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `strata demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Artifacts to seed.
    #[arg(long, default_value_t = 300)]
    pub count: usize,
    /// Seed only this tenant (on the pro plan) instead of the four demo tenants.
    #[arg(long, value_parser = IdParser(TenantId::parse))]
    pub tenant: Option<TenantId>,
    /// Random seed for reproducible content.
    #[arg(long, default_value_t = 26)]
    pub seed: u64,
}
