//! Long-running processes and operator commands: `strata worker`,
//! `strata scheduler`, `strata queue stats`, `strata dlq …`.

use crate::app::{App, UsageError};
use crate::args::{DlqCommand, DlqSelect, WorkerArgs};
use crate::commands::lifecycle::print_report;
use crate::output;
use anyhow::Context as _;
use std::sync::Arc;
use strata_api::state::ApiState;
use strata_jobs::handlers::Context;
use strata_jobs::payload::Job;
use strata_jobs::payload::PRIORITY_LANE;
use strata_queue::dead::{DeadAction, act_on_dead_letters};
use strata_queue::lanes::{default_lanes, lane_stats};
use strata_queue::metrics::JobMetrics;
use strata_queue::{DeadFilter, DeadLetter};
use strata_workers::pool::{Mode, WorkerPool};
use strata_workers::scheduler;
use tokio::sync::watch;

/// A channel that turns true on SIGINT or SIGTERM.
pub fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "Cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    let _ = tx.send(true);
                    return;
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("Shutdown requested; finishing work in flight");
        let _ = tx.send(true);
    });
    rx
}

/// The lanes a worker consumes. Under the dry-run switch a worker carries out
/// no lifecycle job (promote, compress, scan, eligibility, purge), planned
/// before the switch or not: it takes only the priority lane, whose restores
/// and erasures are explicit requests, and leaves the other lanes' jobs
/// queued for a live worker.
pub fn worker_lanes(app: &App, lanes: Vec<String>) -> anyhow::Result<Vec<String>> {
    if !app.announce_dry_run() {
        return Ok(lanes);
    }
    let (kept, left): (Vec<String>, Vec<String>) = lanes.into_iter().partition(|l| l == PRIORITY_LANE);
    if kept.is_empty() {
        return Err(UsageError(format!(
            "lanes {} carry lifecycle jobs, which no worker runs in a dry run; pass --live to run them",
            left.join(", ")
        ))
        .into());
    }
    if !left.is_empty() {
        eprintln!(
            "dry run: lifecycle jobs on lanes {} stay queued; this worker takes only the {PRIORITY_LANE} lane \
             (restores and erasures); pass --live to run them",
            left.join(", ")
        );
    }
    Ok(kept)
}

pub async fn worker(app: &App, args: WorkerArgs) -> anyhow::Result<()> {
    let lanes = worker_lanes(app, if args.lanes.is_empty() { default_lanes() } else { args.lanes })?;
    let actor = format!("worker:{}", std::process::id());
    let jobs = Arc::new(JobMetrics::default());
    let pool = WorkerPool::new(app.queue.clone(), Context::new(app.store.clone(), &actor), lanes.clone())
        .with_metrics(jobs.clone());
    let stop = shutdown_signal();
    let metrics = match args.metrics_listen {
        Some(addr) => {
            let listener =
                tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("cannot listen on {addr}"))?;
            eprintln!("Worker metrics on http://{}/metrics", listener.local_addr()?);
            let state = ApiState::new(app.store.clone(), app.queue.clone()).with_job_metrics(jobs);
            let mut stop = stop.clone();
            let shutdown = async move {
                let _ = stop.wait_for(|stop| *stop).await;
            };
            Some(tokio::spawn(strata_api::serve_metrics(listener, state, shutdown)))
        }
        None => None,
    };
    eprintln!("Worker {} consuming lanes {} (Ctrl-C to stop).", actor, lanes.join(", "));
    let report = pool.run(Mode::UntilShutdown, stop).await?;
    if let Some(server) = metrics {
        server.await??;
    }
    print_report(&report);
    Ok(())
}

pub async fn scheduler(app: &App) -> anyhow::Result<()> {
    let expr = app.store.config().scheduler.cron.clone();
    let cron = scheduler::parse_cron(&expr).map_err(|e| UsageError(e.to_string()))?;
    app.announce_dry_run();
    eprintln!("Scheduler planning on {expr:?} (Ctrl-C to stop).");
    scheduler::run(&app.store, app.queue.as_ref(), &cron, shutdown_signal()).await?;
    Ok(())
}

pub async fn queue_stats(app: &App, json: bool) -> anyhow::Result<()> {
    let stats = lane_stats(app.queue.as_ref(), app.store.config()).await?;
    if json {
        return output::json(&stats);
    }
    let mut t = output::table(&["lane", "waiting", "in flight", "delayed", "dead", "oldest waiting"]);
    for s in &stats {
        t.add_row(vec![
            s.lane.clone(),
            s.waiting.to_string(),
            s.in_flight.to_string(),
            s.delayed.to_string(),
            s.dead.to_string(),
            s.oldest_waiting_secs.map_or_else(|| "-".to_owned(), |a| format!("{a:.1}s")),
        ]);
    }
    println!("{t}");
    Ok(())
}

fn filter_of(select: DlqSelect) -> anyhow::Result<DeadFilter> {
    if select.id.is_none() && select.kind.is_none() && select.lane.is_none() && !select.all {
        return Err(UsageError("name a dead letter by ID, or select with --kind, --lane or --all".into()).into());
    }
    Ok(DeadFilter { id: select.id, lane: select.lane, kind: select.kind, from: None })
}

/// A dead letter as `dlq list` shows it: the queue's fields, plus the
/// tenant and the artifact (`TENANT/WORKFLOW/NAME`) its job acts on.
#[derive(serde::Serialize)]
struct DeadLetterRow {
    #[serde(flatten)]
    dead: DeadLetter,
    tenant: Option<String>,
    artifact: Option<String>,
}

async fn dead_letter_row(app: &App, dead: DeadLetter) -> DeadLetterRow {
    let job = Job::from_json(&dead.payload).ok();
    let artifact = match &job {
        Some(j) => app.store.catalog().artifact(j.artifact_id).await.ok().map(|a| a.key().to_string()),
        None => None,
    };
    DeadLetterRow { tenant: job.map(|j| j.tenant), artifact, dead }
}

pub async fn dlq(app: &App, cmd: DlqCommand) -> anyhow::Result<()> {
    match cmd {
        DlqCommand::List { kind, lane, limit, json } => {
            let dead = app.queue.dead_letters(&DeadFilter { lane, kind, ..DeadFilter::default() }, limit).await?;
            let mut rows = Vec::with_capacity(dead.len());
            for d in dead {
                rows.push(dead_letter_row(app, d).await);
            }
            if json {
                return output::json(&rows);
            }
            let mut t = output::table(&[
                "id",
                "lane",
                "kind",
                "tenant",
                "artifact",
                "attempts",
                "first failed",
                "last failed",
                "error",
            ]);
            for r in &rows {
                let d = &r.dead;
                t.add_row(vec![
                    d.id.clone(),
                    d.lane.clone(),
                    d.kind.clone(),
                    r.tenant.clone().unwrap_or_else(|| "-".into()),
                    r.artifact.clone().unwrap_or_else(|| "-".into()),
                    d.attempts.to_string(),
                    output::time_or(d.first_failed_at, "-"),
                    output::time_or(d.last_failed_at, "-"),
                    d.last_error.clone(),
                ]);
            }
            println!("{t}");
            println!("{} dead letters.", rows.len());
        }
        DlqCommand::Retry(select) => {
            let filter = filter_of(select)?;
            let n = act_on_dead_letters(app.queue.as_ref(), &app.store, &filter, DeadAction::Retry).await?;
            println!("Re-queued {n} dead letters; their artifacts are planned again at the next run.");
        }
        DlqCommand::Discard(select) => {
            let filter = filter_of(select)?;
            let n = act_on_dead_letters(app.queue.as_ref(), &app.store, &filter, DeadAction::Discard).await?;
            println!("Discarded {n} dead letters; their artifacts are planned again at the next run.");
        }
    }
    Ok(())
}
