//! Planning what is due and putting it on a queue, and dry runs: what the
//! scheduler's tick, the command line and the API's run route share.

use crate::message::to_new_jobs;
use crate::{Queue, QueueError};
use strata_core::catalog::{CatalogError, Fence, JobQueue};
use strata_core::config::env;
use strata_core::event::{EventKind, NewEvent};
use strata_core::store::Store;
use strata_jobs::planner::{self, Plan};

/// Most artifacts planned in one tick; the rest wait for the next.
pub const PLAN_LIMIT: i64 = 1_000_000;

/// A planning pass that failed.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Planning failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Enqueueing failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Plans everything due as of `as_of` and enqueues it. With the embedded
/// queue in the store's catalog, the claims and their jobs commit in one
/// transaction. With another queue, the jobs are enqueued after the claims
/// commit, and if enqueueing fails the claims of the jobs not enqueued are
/// released at once, so the next pass plans those artifacts again.
pub async fn plan_and_enqueue(
    store: &Store,
    queue: &dyn Queue,
    as_of: chrono::DateTime<chrono::Utc>,
    actor: &str,
) -> Result<Plan, PlanError> {
    if let Some(jobs) = in_catalog(store, queue) {
        return Ok(planner::plan_into(store, jobs, as_of, PLAN_LIMIT, actor, None).await?);
    }
    let plan = planner::plan(store, as_of, false, PLAN_LIMIT, actor).await?;
    enqueue_or_release(store, queue, &plan, 1).await?;
    Ok(plan)
}

/// The queue's job table when it lives in the store's catalog.
fn in_catalog<'q>(store: &Store, queue: &'q dyn Queue) -> Option<&'q JobQueue> {
    queue.in_catalog().filter(|jobs| jobs.is_in(store.catalog()))
}

/// What set the dry-run switch, for the line every process prints at start:
/// the environment variable when one of them did, else the configuration key.
pub fn dry_run_switch() -> &'static str {
    let set = |var: &str| {
        std::env::var(var).is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
    };
    if set(env::LIFECYCLE_DRY_RUN) {
        "LIFECYCLE_DRY_RUN=true"
    } else if set(env::RETENTION_DRY_RUN) {
        "RETENTION_DRY_RUN=true"
    } else {
        "lifecycle.dry_run = true"
    }
}

/// The line a process prints at start when the dry-run switch holds.
pub fn dry_run_notice() -> String {
    format!("dry run: {}; nothing will be changed", dry_run_switch())
}

/// Plans what is due as of `as_of` (only `kinds`, or all) without changing
/// anything, and records the dry run as one `lifecycle_dry_run` event with
/// its counts and bytes per action.
pub async fn dry_run(
    store: &Store,
    as_of: chrono::DateTime<chrono::Utc>,
    actor: &str,
    kinds: Option<&[strata_jobs::payload::JobKind]>,
) -> Result<Plan, PlanError> {
    let plan = planner::plan_kinds(store, as_of, true, PLAN_LIMIT, actor, kinds).await?;
    let by_kind: serde_json::Map<String, serde_json::Value> = plan
        .by_kind()
        .into_iter()
        .map(|(k, t)| (k.as_str().to_owned(), serde_json::json!({ "count": t.count, "bytes": t.bytes })))
        .collect();
    let data = serde_json::json!({
        "dry_run": true,
        "as_of": as_of,
        "forced": plan.forced,
        "actions": plan.items.len(),
        "bytes": plan.items.iter().map(|i| i.bytes).sum::<u64>(),
        "by_kind": by_kind,
    });
    store.record_event(None, None, &NewEvent::new(EventKind::LifecycleDryRun, actor, data)).await?;
    Ok(plan)
}

/// Attempts of a scheduler's enqueue before its plan's claims are released.
const ENQUEUE_ATTEMPTS: u32 = 6;

/// Jobs per enqueue call.
const ENQUEUE_CHUNK: usize = 10_000;

/// Enqueues a plan a chunk at a time, making up to `attempts` attempts per
/// chunk with backoff (six take about 6 s: a queue that just came back may
/// refuse the first command after its connection is restored). A chunk sent
/// twice is harmless: the second delivery of a job finds its claim token
/// spent and is a no-op. When a chunk fails for good, the claims of its jobs
/// and of every later chunk are released in one statement, so the next pass
/// plans them again instead of waiting out their lease; a job of that chunk
/// that reached the queue all the same finds its token spent.
async fn enqueue_or_release(store: &Store, queue: &dyn Queue, plan: &Plan, attempts: u32) -> Result<(), PlanError> {
    for (n, chunk) in plan.jobs.chunks(ENQUEUE_CHUNK).enumerate() {
        let jobs = to_new_jobs(chunk, store.config());
        let mut delay = std::time::Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            match queue.enqueue(&jobs).await {
                Ok(_) => break,
                Err(e) if attempt < attempts => {
                    tracing::warn!(error = %e, attempt, retry_in_ms = delay.as_millis() as u64, "Enqueueing failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err(e) => {
                    let unsent = &plan.jobs[n * ENQUEUE_CHUNK..];
                    let claims: Vec<(i64, &str)> = unsent.iter().map(|j| (j.artifact_id, j.token.as_str())).collect();
                    match store.release_claims(&claims).await {
                        Ok(released) => tracing::warn!(released, "Enqueueing failed; the claims are released"),
                        Err(r) => tracing::warn!(
                            error = %r,
                            "Enqueueing failed, and so did releasing the claims: the artifacts are planned again \
                             after their lease"
                        ),
                    }
                    return Err(e.into());
                }
            }
        }
    }
    Ok(())
}

/// One tick of the leading scheduler: plans what is due as of `tick` under
/// `fence` (nothing commits once the fence no longer holds the leadership)
/// and enqueues it: in the planning transaction with the embedded queue in
/// the store's catalog; else after it, retrying with backoff, and releasing
/// the claims whose jobs could not be enqueued.
pub async fn plan_tick(
    store: &Store,
    queue: &dyn Queue,
    fence: &Fence,
    tick: chrono::DateTime<chrono::Utc>,
) -> Result<Plan, PlanError> {
    if let Some(jobs) = in_catalog(store, queue) {
        return Ok(planner::plan_into(store, jobs, tick, PLAN_LIMIT, "scheduler", Some(fence)).await?);
    }
    let plan = planner::plan_fenced(store, tick, PLAN_LIMIT, "scheduler", fence).await?;
    enqueue_or_release(store, queue, &plan, ENQUEUE_ATTEMPTS).await?;
    Ok(plan)
}
