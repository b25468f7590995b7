//! `strata lifecycle run|summary`, plus [`drain`], the in-process worker run
//! shared with the demo and `strata restore`.

use crate::app::{App, UsageError};
use crate::args::RunArgs;
use crate::output;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;
use strata_core::catalog::EventFilter;
use strata_core::clock::parse_instant;
use strata_core::event::EventKind;
use strata_jobs::handlers::Context;
use strata_jobs::planner::{self, Plan};
use strata_queue::lanes::all_lanes;
use strata_queue::notices;
use strata_queue::plan::{dry_run, plan_and_enqueue};
use strata_workers::pool::{Mode, RunReport, WorkerPool};

/// Planning passes per `--wait` run: each pass picks up actions that the
/// previous pass's jobs made due at the same instant.
const MAX_PASSES: usize = 5;

/// Parses `--as-of` (default now).
pub fn as_of(value: Option<&str>) -> anyhow::Result<DateTime<Utc>> {
    let now = Utc::now();
    match value {
        None => Ok(now),
        Some(v) => parse_instant(v, now).map_err(|e| UsageError(format!("--as-of: {e}")).into()),
    }
}

/// Runs workers in this process on `lanes` until they are drained.
pub async fn drain(app: &App, lanes: Vec<String>, show_progress: bool) -> anyhow::Result<RunReport> {
    let ctx = Context::new(app.store.clone(), "worker");
    let pool = WorkerPool::new(app.queue.clone(), ctx, lanes.clone());
    let pending: u64 = app.queue.stats().await?.iter().filter(|s| lanes.contains(&s.lane)).map(|s| s.pending()).sum();
    let bar = if show_progress { ProgressBar::new(pending) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} jobs {per_sec} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watcher = {
        let pool = pool.clone();
        let bar = bar.clone();
        tokio::spawn(async move {
            loop {
                let r = pool.report();
                bar.set_position(r.finished() + r.dead_lettered);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let result = pool.run(Mode::UntilDrained, stop_rx).await;
    watcher.abort();
    bar.finish_and_clear();
    Ok(result?)
}

/// Enqueues the webhook notices owed as of `as_of` (what the run logged,
/// and the artifacts entering the `expiring_soon` window); returns how many.
/// A failure is reported and left to the next run or scheduler pass.
async fn notify(app: &App, as_of: DateTime<Utc>) -> usize {
    match notices::dispatch(&app.store, app.queue.as_ref(), as_of, true).await {
        Ok(report) => report.enqueued,
        Err(e) => {
            tracing::warn!(error = %e, "Could not enqueue webhook notices; the next run or scheduler pass does");
            0
        }
    }
}

/// Prints a plan; `passes` holds the actions each planning pass added (a
/// `--wait` run plans again after each drain).
fn print_plan(plan: &Plan, list: bool, passes: &[usize]) {
    if list && !plan.items.is_empty() {
        let mut t = output::table(&["artifact", "tier", "action", "bytes", "rule", "due"]);
        for item in &plan.items {
            t.add_row(vec![
                item.key.clone(),
                item.tier.to_string(),
                item.kind.to_string(),
                output::bytes(item.bytes),
                item.rule.to_string(),
                output::time_or(item.due_at, "-"),
            ]);
        }
        println!("{t}");
    }
    let mut t = output::table(&["tenant", "tier", "action", "count", "bytes"]);
    for ((tenant, tier, kind), tally) in plan.by_tenant_tier_kind() {
        t.add_row(vec![
            tenant,
            tier.to_string(),
            kind.to_string(),
            tally.count.to_string(),
            output::bytes(tally.bytes),
        ]);
    }
    if !plan.items.is_empty() {
        println!("{t}");
    }
    let totals: Vec<String> =
        plan.by_kind().iter().map(|(k, t)| format!("{k} {} ({})", t.count, output::bytes(t.bytes))).collect();
    let verb = if plan.dry_run { "Would run" } else { "Planned" };
    let ahead = if plan.forced { " (ahead of the real clock)" } else { "" };
    let in_passes = if passes.len() > 1 {
        let each: Vec<String> = passes.iter().map(ToString::to_string).collect();
        format!(" in {} passes ({})", passes.len(), each.join(" + "))
    } else {
        String::new()
    };
    println!(
        "{verb} {} actions as of {}{ahead}{in_passes}{}{}",
        plan.items.len(),
        plan.as_of.to_rfc3339(),
        if totals.is_empty() { "." } else { ": " },
        totals.join(", ")
    );
    if passes.len() > 1 {
        println!(
            "Each pass plans one action per artifact; the later passes planned what was still due at the same \
             instant once the earlier passes' jobs were done."
        );
    }
    if plan.dry_run && !plan.items.is_empty() {
        println!(
            "This is the first pass: one action per artifact. Where an artifact has several actions due at \
             this instant (marked eligible, then scanned), the next is planned once the first is done, so a \
             live run with --wait, which plans again after each pass, can carry out more."
        );
    }
}

/// Prints a worker run's outcome table.
pub fn print_report(report: &RunReport) {
    let mut t = output::table(&["job", "done", "stale", "skipped"]);
    for (kind, outcomes) in &report.outcomes {
        let n = |o: &str| outcomes.get(o).copied().unwrap_or(0).to_string();
        t.add_row(vec![kind.clone(), n("done"), n("stale"), n("skipped")]);
    }
    if !report.outcomes.is_empty() {
        println!("{t}");
    }
    println!(
        "Finished {} jobs; {} retried; {} dead-lettered{}.",
        report.finished(),
        report.retried,
        report.dead_lettered,
        if report.dead_lettered > 0 { " (see `strata dlq list`)" } else { "" }
    );
}

/// Plans and enqueues as of `as_of`, then (with `wait`) drains and replans
/// until nothing more is due at that instant.
pub async fn run_lifecycle(
    app: &App,
    as_of: DateTime<Utc>,
    wait: bool,
    progress: bool,
) -> anyhow::Result<(Plan, Option<RunReport>)> {
    let (plan, report, _) = run_in_passes(app, as_of, wait, progress).await?;
    Ok((plan, report))
}

/// [`run_lifecycle`], also returning how many actions each pass planned.
async fn run_in_passes(
    app: &App,
    as_of: DateTime<Utc>,
    wait: bool,
    progress: bool,
) -> anyhow::Result<(Plan, Option<RunReport>, Vec<usize>)> {
    let started = std::time::Instant::now();
    let mut plan = plan_and_enqueue(&app.store, app.queue.as_ref(), as_of, "cli").await?;
    let mut passes = vec![plan.items.len()];
    if !wait {
        notify(app, as_of).await;
        return Ok((plan, None, passes));
    }
    let mut report = drain(app, all_lanes(app.store.config()), progress).await?;
    for _ in 1..MAX_PASSES {
        let next = plan_and_enqueue(&app.store, app.queue.as_ref(), as_of, "cli").await?;
        if next.items.is_empty() {
            break;
        }
        passes.push(next.items.len());
        plan.items.extend(next.items);
        let more = drain(app, all_lanes(app.store.config()), progress).await?;
        for (kind, outcomes) in more.outcomes {
            for (outcome, n) in outcomes {
                *report.outcomes.entry(kind.clone()).or_default().entry(outcome).or_default() += n;
            }
        }
        report.retried += more.retried;
        report.dead_lettered += more.dead_lettered;
    }
    if let Some(id) = plan.run_id {
        app.store.catalog().finish_run(id, started.elapsed()).await?;
    }
    if notify(app, as_of).await > 0 {
        let sent = drain(app, all_lanes(app.store.config()), progress).await?;
        for (kind, outcomes) in sent.outcomes {
            for (outcome, n) in outcomes {
                *report.outcomes.entry(kind.clone()).or_default().entry(outcome).or_default() += n;
            }
        }
        report.retried += sent.retried;
        report.dead_lettered += sent.dead_lettered;
    }
    Ok((plan, Some(report), passes))
}

pub async fn run(app: &App, args: RunArgs) -> anyhow::Result<()> {
    let as_of = as_of(args.as_of.as_deref())?;
    if app.announce_dry_run() || args.dry_run {
        let plan = dry_run(&app.store, as_of, "cli", None).await?;
        if args.json {
            return output::json(&plan);
        }
        print_plan(&plan, true, &[plan.items.len()]);
        return Ok(());
    }
    let (plan, report, passes) = run_in_passes(app, as_of, args.wait, !args.json).await?;
    if args.json {
        return output::json(&serde_json::json!({ "plan": plan, "report": report, "passes": passes }));
    }
    print_plan(&plan, args.verbose, &passes);
    match report {
        Some(r) => print_report(&r),
        None if !plan.items.is_empty() => {
            println!("Jobs are queued: run `strata worker`, or pass --wait to run them here.")
        }
        None => {}
    }
    Ok(())
}

/// The artifacts a restore command names: one key, or with `--bulk` every
/// warm or cold artifact in a scope.
/// A run's counts per action (`{"promote": {"count": 2, "bytes": 10}}`) as
/// a line: `promote 2 (10 B), purge 1 (3 B)`.
fn actions_line(summary: &serde_json::Value) -> String {
    let Some(by_kind) = summary.as_object().filter(|m| !m.is_empty()) else {
        return "nothing".to_owned();
    };
    by_kind
        .iter()
        .map(|(kind, tally)| {
            let count = tally["count"].as_u64().unwrap_or(0);
            match tally["bytes"].as_u64() {
                Some(bytes) => format!("{kind} {count} ({})", output::bytes(bytes)),
                None => format!("{kind} {count}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn summary(app: &App, json: bool) -> anyhow::Result<()> {
    let (live, tombstones): (Vec<_>, Vec<_>) =
        app.store.catalog().tier_totals().await?.into_iter().partition(|t| t.state.is_live());
    let last_run = app.store.catalog().last_run().await?;
    let last_dry_run = app
        .store
        .catalog()
        .events(&EventFilter {
            kind: Some(EventKind::LifecycleDryRun.as_str().to_owned()),
            limit: Some(1),
            newest: true,
            ..EventFilter::default()
        })
        .await?
        .pop();
    let recent =
        app.store.catalog().events(&EventFilter { limit: Some(10), newest: true, ..EventFilter::default() }).await?;
    if json {
        return output::json(&serde_json::json!({
            "totals": live,
            "tombstones": tombstones,
            "last_run": last_run,
            "last_dry_run": last_dry_run,
            "recent_events": recent,
        }));
    }
    let mut t = output::table(&["tenant", "tier", "state", "artifacts", "bytes", "stored"]);
    for row in &live {
        t.add_row(vec![
            row.tenant.clone(),
            row.tier.to_string(),
            row.state.to_string(),
            row.artifacts.to_string(),
            output::bytes(row.bytes as u64),
            output::bytes(row.stored_bytes as u64),
        ]);
    }
    println!("{t}");
    let sum = |rows: &[strata_core::catalog::TierTotal]| {
        rows.iter().fold((0i64, 0i64, 0i64), |(n, b, s), r| (n + r.artifacts, b + r.bytes, s + r.stored_bytes))
    };
    let (n, bytes, stored) = sum(&live);
    println!(
        "Live: {n} artifacts, {} ({} stored).",
        output::bytes(bytes.max(0) as u64),
        output::bytes(stored.max(0) as u64)
    );
    let (gone, gone_bytes, _) = sum(&tombstones);
    if gone > 0 {
        println!(
            "Tombstones (deleted, not counted above): {gone} artifacts, which held {}.",
            output::bytes(gone_bytes.max(0) as u64)
        );
    }
    match last_run {
        Some(r) => println!(
            "Last run: {} as of {}{}, {} jobs planned: {}.",
            output::time(r.started_at),
            output::time(r.as_of),
            if r.dry_run { " (dry run)" } else { "" },
            r.n_planned,
            actions_line(&r.summary)
        ),
        None => println!("No lifecycle run yet."),
    }
    if let Some(e) = last_dry_run {
        println!(
            "Last dry run: {} as of {} by {}: would run {}.",
            output::time(e.timestamp),
            output::time_or(e.data["as_of"].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok()), "-"),
            output::text(&e.actor),
            actions_line(&e.data["by_kind"])
        );
    }
    println!("Recent events:");
    for e in recent {
        println!(
            "  #{} {} {:<18} {}",
            e.seq,
            output::time(e.timestamp),
            e.event_type,
            [e.tenant_id, e.workflow_id, e.artifact_id].into_iter().flatten().collect::<Vec<_>>().join("/")
        );
    }
    Ok(())
}

/// `lifecycle plan --policy`: the current policy's actions next to a proposed one's.
pub async fn what_if(
    app: &App,
    global: &crate::args::Global,
    policy: &std::path::Path,
    as_of_arg: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let as_of = as_of(as_of_arg)?;
    let proposed_config = strata_core::config::Config::load(Some(policy))?;
    let proposed_store =
        strata_core::store::Store::open(&global.data_dir, proposed_config, app.store.clock().clone()).await?;
    let current = planner::what_if(&app.store, as_of).await?;
    let proposed = planner::what_if(&proposed_store, as_of).await?;
    let index = |items: &[planner::PlannedItem]| -> std::collections::BTreeMap<String, (String, String)> {
        items.iter().map(|i| (i.key.clone(), (i.kind.to_string(), i.rule.to_string()))).collect()
    };
    let (before, after) = (index(&current), index(&proposed));
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let kind =
        |m: &std::collections::BTreeMap<String, (String, String)>, k: &str| m.get(k).map(|(kind, _)| kind.clone());
    let rule =
        |m: &std::collections::BTreeMap<String, (String, String)>, k: &str| m.get(k).map(|(_, rule)| rule.clone());
    let changes: Vec<serde_json::Value> = keys
        .into_iter()
        .filter(|k| kind(&before, k) != kind(&after, k))
        .map(|k| {
            serde_json::json!({
                "artifact": k,
                "current": kind(&before, k),
                "current_rule": rule(&before, k),
                "proposed": kind(&after, k),
                "proposed_rule": rule(&after, k),
            })
        })
        .collect();
    if json {
        return output::json(&serde_json::json!({
            "as_of": as_of,
            "current": current,
            "proposed": proposed,
            "changes": changes,
        }));
    }
    let mut t = output::table(&["artifact", "current policy", "proposed policy"]);
    for c in &changes {
        let show = |action: &serde_json::Value, rule: &serde_json::Value| match (action.as_str(), rule.as_str()) {
            (Some(action), Some(rule)) => format!("{action} (by {rule})"),
            _ => "-".to_owned(),
        };
        let artifact = c["artifact"].as_str().unwrap_or_default().to_owned();
        t.add_row(vec![artifact, show(&c["current"], &c["current_rule"]), show(&c["proposed"], &c["proposed_rule"])]);
    }
    if !changes.is_empty() {
        println!("{t}");
    }
    let totals = |items: &[planner::PlannedItem]| {
        let mut by: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
        for i in items {
            *by.entry(i.kind.to_string()).or_default() += 1;
        }
        if by.is_empty() {
            return "nothing due".to_owned();
        }
        by.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
    };
    println!("As of {}: current policy: {}", output::time(as_of), totals(&current));
    println!("As of {}: proposed policy: {}", output::time(as_of), totals(&proposed));
    println!("{} artifacts would be treated differently. Nothing was changed.", changes.len());
    Ok(())
}
