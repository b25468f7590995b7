//! `strata doctor`: checks every configured component — the catalog and its
//! schema, the queue, each tier, the clock against the database's — and
//! prints what is fine and what is wrong. It changes nothing: the catalog is
//! opened read-only and never migrated, and each tier's probe object is
//! deleted again.

use crate::args::{DoctorArgs, Global};
use crate::output;
use chrono::{DateTime, Utc};
use serde::Serialize;
use strata_core::catalog::{CatalogProbe, SchemaState, SchemaStatus};
use strata_core::clock::{Clock, SystemClock};
use strata_core::config::Config;
use strata_core::tiers::probe_tiers;
use strata_workers::queue::redis::health;

/// Whether a check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum Status {
    /// Fine.
    #[serde(rename = "ok")]
    Ok,
    /// Something to fix.
    #[serde(rename = "WRONG")]
    Wrong,
}

impl Status {
    fn of(ok: bool) -> Self {
        if ok { Status::Ok } else { Status::Wrong }
    }

    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Wrong => "WRONG",
        }
    }
}

/// One line of the report.
#[derive(Debug, Serialize)]
struct Row {
    component: String,
    check: String,
    status: Status,
    detail: String,
}

/// The rows found so far.
#[derive(Default)]
struct Report(Vec<Row>);

impl Report {
    fn push(&mut self, component: &str, check: &str, ok: bool, detail: impl Into<String>) {
        self.0.push(Row {
            component: component.to_owned(),
            check: check.to_owned(),
            status: Status::of(ok),
            detail: detail.into(),
        });
    }

    fn wrong(&self) -> usize {
        self.0.iter().filter(|r| r.status == Status::Wrong).count()
    }
}

/// The checks found something wrong (exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("strata doctor: {0} check(s) WRONG")]
pub struct Unhealthy(usize);

/// Runs every check and prints the report; fails when any check is WRONG.
pub async fn run(global: &Global, args: &DoctorArgs) -> anyhow::Result<()> {
    let config = Config::load(global.config.as_deref())?;
    let clock = SystemClock;
    let mut report = Report::default();
    let catalog = check_catalog(&config, global, &mut report).await;
    check_queue(&config, catalog.as_ref(), &mut report).await;
    for probe in probe_tiers(&config, &global.data_dir).await {
        let component = format!("tier {}", probe.tier);
        let detail = match &probe.outcome {
            Ok(()) => probe.location.clone(),
            Err(e) => e.to_string(),
        };
        report.push(&component, "write, read, verify, delete", probe.outcome.is_ok(), detail);
        if let (Some(asked), Some(reported)) = (&probe.storage_class, &probe.reported_class) {
            let detail = match reported {
                Ok(reported) => format!("asked for {asked}, the store reports {reported}"),
                Err(e) => format!("asked for {asked}; could not read it back: {e}"),
            };
            let honoured = probe.class_honoured() == Some(true);
            report.push(&component, "storage class honoured", honoured, detail);
        }
    }
    check_clock(catalog.as_ref(), &clock, args.max_skew, &mut report).await;
    if let Some(probe) = catalog {
        probe.close().await;
    }
    if args.json {
        output::json(&serde_json::json!({ "ok": report.wrong() == 0, "checks": report.0 }))?;
    } else {
        let mut table = output::table(&["component", "check", "status", "detail"]);
        for r in &report.0 {
            table.add_row([&r.component, &r.check, r.status.as_str(), &output::text(&r.detail)]);
        }
        println!("{table}");
    }
    match report.wrong() {
        0 => Ok(()),
        n => Err(Unhealthy(n).into()),
    }
}

/// Connects to the catalog read-only and compares its schema with this
/// binary's; returns the connection for the checks that need it.
async fn check_catalog(config: &Config, global: &Global, report: &mut Report) -> Option<CatalogProbe> {
    let opened = match config.catalog.url.as_deref() {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            CatalogProbe::postgres(url).await.map(|p| (p, "PostgreSQL"))
        }
        Some(_) => {
            report.push(
                "catalog",
                "reachable",
                false,
                "catalog.url (STRATA_DATABASE_URL) is not a PostgreSQL URL (postgres://…)",
            );
            return None;
        }
        None => CatalogProbe::sqlite(&global.data_dir.join("catalog.db")).await.map(|p| (p, "SQLite")),
    };
    let probe = match opened {
        Ok((probe, kind)) => {
            report.push("catalog", "reachable", true, format!("{kind} at {}", probe.location()));
            probe
        }
        Err(e) => {
            report.push("catalog", "reachable", false, e.to_string());
            return None;
        }
    };
    match probe.schema_status().await {
        Ok(status) => report.push("catalog", "schema version", status.state() == SchemaState::Equal, schema(&status)),
        Err(e) => report.push("catalog", "schema version", false, e.to_string()),
    }
    Some(probe)
}

/// What a schema status means for the operator.
fn schema(s: &SchemaStatus) -> String {
    let list = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    let applied = s.applied.map_or_else(|| "none".to_owned(), |v| v.to_string());
    match s.state() {
        SchemaState::Equal => format!("equal: migration {applied} applied, as this binary expects"),
        SchemaState::Behind => format!(
            "behind: newest applied {applied}, this binary's {}; migrations {} not applied (run `strata migrate`)",
            s.known,
            list(&s.pending)
        ),
        SchemaState::Ahead => format!(
            "ahead: migrations {} come from a newer strata (this binary knows up to {}); run a strata at least \
             as new as the one that last upgraded it",
            list(&s.unknown),
            s.known
        ),
        SchemaState::Failed => format!("migrations {} started and did not finish", list(&s.failed)),
    }
}

/// The queue: Redis (reachable, version, each lane's consumer group) or the
/// embedded queue (its table in the SQLite catalog).
async fn check_queue(config: &Config, catalog: Option<&CatalogProbe>, report: &mut Report) {
    let lanes = strata_queue::lanes::all_lanes(config);
    let Some(url) = &config.queue.redis_url else {
        let embedded = match config.catalog.url {
            None => catalog,
            Some(_) => {
                report.push(
                    "queue",
                    "reachable",
                    false,
                    "a PostgreSQL catalog needs the Redis queue: set STRATA_REDIS_URL (or [queue] redis_url)",
                );
                return;
            }
        };
        match embedded {
            None => report.push("queue", "reachable", false, "the embedded queue lives in the catalog, unreachable"),
            Some(probe) => match probe.has_table("jobs").await {
                Ok(present) => report.push(
                    "queue",
                    "job table",
                    present,
                    if present {
                        "embedded queue: the jobs table is in the SQLite catalog".to_owned()
                    } else {
                        "embedded queue: the SQLite catalog has no jobs table (run `strata migrate`)".to_owned()
                    },
                ),
                Err(e) => report.push("queue", "job table", false, e.to_string()),
            },
        }
        return;
    };
    let found = match health(url, &config.queue.redis_prefix, &lanes).await {
        Ok(found) => found,
        Err(e) => {
            report.push("queue", "reachable", false, e.to_string());
            return;
        }
    };
    report.push("queue", "reachable", true, format!("Redis at {}", found.url));
    let version = if found.supported {
        format!("Redis {}", found.version)
    } else {
        format!("Redis {}; strata needs Redis 7.0 or later", found.version)
    };
    report.push("queue", "version", found.supported, version);
    for lane in &found.lanes {
        let detail = match (lane.wrong_type, lane.entries, lane.group) {
            (true, _, _) => "its stream key holds something else than a stream (another application's key?)".to_owned(),
            (false, None, _) => "no jobs yet".to_owned(),
            (false, Some(n), true) => format!("{n} entries; consumer group present"),
            (false, Some(n), false) => format!("{n} entries; no consumer group yet (the first worker creates it)"),
        };
        report.push("queue", &format!("lane {}", lane.lane), !lane.wrong_type, detail);
    }
}

/// This host's clock against the database's (PostgreSQL); the SQLite
/// catalog runs on this host's clock.
async fn check_clock(catalog: Option<&CatalogProbe>, clock: &dyn Clock, max_skew: f64, report: &mut Report) {
    let Some(probe) = catalog else {
        report.push("clock", "skew", false, "not measured: the catalog is unreachable");
        return;
    };
    let before = clock.now();
    let theirs = match probe.database_now().await {
        Ok(Some(t)) => t,
        Ok(None) => {
            report.push("clock", "skew", true, "local: the SQLite catalog runs on this host's clock");
            return;
        }
        Err(e) => {
            report.push("clock", "skew", false, format!("cannot read the database's clock: {e}"));
            return;
        }
    };
    let after = clock.now();
    let ours: DateTime<Utc> = before + (after - before) / 2;
    let skew = (theirs - ours).num_milliseconds();
    let ok = (skew.unsigned_abs() as f64) <= max_skew * 1000.0;
    report.push(
        "clock",
        "skew",
        ok,
        format!("the database's clock is {skew:+} ms from this host's (max {max_skew} s)"),
    );
}
