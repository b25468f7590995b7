//! The scheduler: on each cron tick, plan what is due and enqueue it. Cron
//! only enqueues; workers do the work.

use crate::queue::{NewJob, Queue, QueueError};
use croner::Cron;
use std::str::FromStr;
use strata_core::catalog::CatalogError;
use strata_core::config::Config;
use strata_core::store::Store;
use strata_jobs::payload::Job;
use strata_jobs::planner::{self, Plan};
use tokio::sync::watch;

/// Most artifacts planned in one tick; the rest wait for the next.
pub const PLAN_LIMIT: i64 = 1_000_000;

/// A scheduling step that failed.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// Planning failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Enqueueing failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The cron expression is invalid.
    #[error("invalid cron expression {expr:?} (scheduler.cron): {message}")]
    Cron {
        /// The expression.
        expr: String,
        /// The parser's complaint.
        message: String,
    },
}

/// Parses a cron expression (5 fields, or 6 with seconds first).
pub fn parse_cron(expr: &str) -> Result<Cron, SchedulerError> {
    Cron::from_str(expr).map_err(|e| SchedulerError::Cron { expr: expr.to_owned(), message: e.to_string() })
}

/// The queue form of planned jobs, each on its lane.
pub fn to_new_jobs(jobs: &[Job], config: &Config) -> Vec<NewJob> {
    let lanes = &config.queue.tenant_lanes;
    jobs.iter()
        .map(|j| NewJob { lane: j.lane(lanes).to_owned(), kind: j.kind.as_str().to_owned(), payload: j.to_json() })
        .collect()
}

/// Plans everything due as of `as_of` and enqueues it. If enqueueing fails,
/// the stamped artifacts are planned again once their lease runs out.
pub async fn plan_and_enqueue(
    store: &Store,
    queue: &dyn Queue,
    as_of: chrono::DateTime<chrono::Utc>,
    actor: &str,
) -> Result<Plan, SchedulerError> {
    let plan = planner::plan(store, as_of, false, PLAN_LIMIT, actor).await?;
    for chunk in plan.jobs.chunks(10_000) {
        queue.enqueue(&to_new_jobs(chunk, &store.config)).await?;
    }
    Ok(plan)
}

/// Ticks on `cron` until shutdown, planning as of each tick's real time.
pub async fn run(
    store: &Store,
    queue: &dyn Queue,
    cron: &Cron,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SchedulerError> {
    loop {
        let now = store.clock.now();
        let next = cron
            .find_next_occurrence(&now, false)
            .map_err(|e| SchedulerError::Cron { expr: cron.pattern.to_string(), message: e.to_string() })?;
        let wait = (next - now).to_std().unwrap_or_default();
        tracing::info!(next = %next.to_rfc3339(), "Scheduler waiting for the next tick");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return Ok(()),
        }
        if *shutdown.borrow() {
            return Ok(());
        }
        match plan_and_enqueue(store, queue, store.clock.now(), "scheduler").await {
            Ok(plan) => tracing::info!(planned = plan.jobs.len(), "Scheduler tick planned jobs"),
            Err(e) => tracing::warn!(error = %e, "Scheduler tick failed; the next tick retries"),
        }
    }
}
