//! The scheduler: on each cron tick, plan what is due and enqueue it. Cron
//! only enqueues; workers do the work.

use crate::queue::{NewJob, Queue, QueueError};
use croner::Cron;
use std::str::FromStr;
use strata_core::catalog::{CatalogError, Fence, JobQueue};
use strata_core::config::Config;
use strata_core::event::{EventKind, NewEvent};
use strata_core::gc;
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
    planner::queued(jobs, config)
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
) -> Result<Plan, SchedulerError> {
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
    if set("LIFECYCLE_DRY_RUN") {
        "LIFECYCLE_DRY_RUN=true"
    } else if set("RETENTION_DRY_RUN") {
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
) -> Result<Plan, SchedulerError> {
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
async fn enqueue_or_release(
    store: &Store,
    queue: &dyn Queue,
    plan: &Plan,
    attempts: u32,
) -> Result<(), SchedulerError> {
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
) -> Result<Plan, SchedulerError> {
    if let Some(jobs) = in_catalog(store, queue) {
        return Ok(planner::plan_into(store, jobs, tick, PLAN_LIMIT, "scheduler", Some(fence)).await?);
    }
    let plan = planner::plan_fenced(store, tick, PLAN_LIMIT, "scheduler", fence).await?;
    enqueue_or_release(store, queue, &plan, ENQUEUE_ATTEMPTS).await?;
    Ok(plan)
}

/// Takes or renews the scheduler's leadership, logging changes of state.
async fn lead(store: &Store, holder: &str, current: Option<Fence>) -> Option<Fence> {
    let ttl = i64::try_from(store.config().scheduler.leader_ttl_secs)
        .ok()
        .and_then(chrono::Duration::try_seconds)
        .unwrap_or(chrono::Duration::MAX);
    let next = match store.catalog().lead(LEADERSHIP, holder, store.now(), ttl).await {
        Ok(fence) => fence,
        Err(e) => {
            tracing::warn!(error = %e, "Could not renew the scheduler's leadership; standing by");
            None
        }
    };
    match (&current, &next) {
        (None, Some(f)) => tracing::info!(holder, fence = f.token, "This scheduler now leads"),
        (Some(_), None) => tracing::warn!(holder, "This scheduler lost the leadership; planning stops"),
        _ => {}
    }
    next
}

/// The leadership lease schedulers compete for.
pub const LEADERSHIP: &str = "scheduler";

/// Collects garbage (see [`strata_core::gc`]) when `gc.interval_secs` has
/// passed since `last` (or on the first call), returning when it last ran.
async fn collect_if_due(
    store: &Store,
    last: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let interval = store.config().gc.interval_secs;
    let now = store.now();
    let due = interval > 0 && last.is_none_or(|l| (now - l).num_seconds() >= interval as i64);
    if !due {
        return last;
    }
    match gc::collect(store, false, "scheduler").await {
        Ok(report) => {
            let removed = report.removed();
            tracing::info!(
                files = removed.files,
                bytes = removed.bytes,
                missing_blobs = report.missing.len(),
                "Garbage collection done"
            );
        }
        Err(e) => tracing::warn!(error = %e, "Garbage collection failed; the next one retries"),
    }
    Some(now)
}

/// Ticks on `cron` until shutdown, planning as of each tick's real time.
/// Any number of schedulers may run: they hold a leadership lease in the
/// catalog (renewed every third of `scheduler.leader_ttl_secs`) and only the
/// holder plans; a plan commits only while its fence still holds the lease.
/// Under the dry-run switch (`lifecycle.dry_run`) each tick is a [`dry_run`].
/// The leader also collects garbage every `gc.interval_secs`.
pub async fn run(
    store: &Store,
    queue: &dyn Queue,
    cron: &Cron,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SchedulerError> {
    let holder = format!("{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let renew_every = std::time::Duration::from_secs((store.config().scheduler.leader_ttl_secs / 3).max(1));
    let mut fence = lead(store, &holder, None).await;
    let mut last_gc = None;
    loop {
        let now = store.now();
        let next = cron
            .find_next_occurrence(&now, false)
            .map_err(|e| SchedulerError::Cron { expr: cron.pattern.to_string(), message: e.to_string() })?;
        tracing::info!(next = %next.to_rfc3339(), leader = fence.is_some(), "Scheduler waiting for the next tick");
        loop {
            let wait = (next - store.now()).to_std().unwrap_or_default();
            if wait.is_zero() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait.min(renew_every)) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                if let Some(f) = &fence {
                    let _ = store.catalog().abdicate(f).await;
                }
                return Ok(());
            }
            fence = lead(store, &holder, fence).await;
        }
        fence = lead(store, &holder, fence).await;
        let Some(f) = &fence else {
            tracing::info!("Another scheduler leads; standing by");
            continue;
        };
        let tick = store.now();
        if store.config().lifecycle.dry_run {
            match dry_run(store, tick, "scheduler", None).await {
                Ok(plan) => tracing::info!(would_run = plan.items.len(), "dry run: the tick planned, changed nothing"),
                Err(e) => tracing::warn!(error = %e, "Scheduler dry run failed; the next tick retries"),
            }
            continue;
        }
        match plan_tick(store, queue, f, tick).await {
            // A tick with nothing due is a run all the same, ended at once
            // (retention_cleanup_runs_total counts it).
            Ok(plan) if plan.jobs.is_empty() && !plan.dry_run => {
                if let Err(e) = store.catalog().record_idle_run(tick, plan.as_of, store.now()).await {
                    tracing::warn!(error = %e, "Could not record an idle scheduler tick");
                }
            }
            Ok(plan) => tracing::info!(planned = plan.jobs.len(), "Scheduler tick planned jobs"),
            Err(SchedulerError::Queue(e)) => {
                tracing::warn!(error = %e, "Enqueueing failed; the next tick plans the released artifacts again")
            }
            Err(e) => tracing::warn!(error = %e, "Scheduler tick failed; the next tick retries"),
        }
        last_gc = collect_if_due(store, last_gc).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::sqlite::SqliteQueue;
    use std::sync::Arc;
    use strata_core::clock::ManualClock;

    #[tokio::test]
    async fn a_tick_with_nothing_due_counts_as_a_successful_run() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(chrono::Utc::now());
        let mut config = Config::default();
        config.scheduler.leader_ttl_secs = 3;
        let store = Store::open(dir.path(), config, Arc::new(clock.clone())).await.unwrap();
        let queue = SqliteQueue::new(store.catalog().job_queue().unwrap(), store.clock().clone());
        let cron = parse_cron("*/10 * * * * *").unwrap();
        let (stop, shutdown) = watch::channel(false);
        let scheduler = {
            let (store, queue) = (store.clone(), queue.clone());
            tokio::spawn(async move { run(&store, &queue, &cron, shutdown).await })
        };
        let started = std::time::Instant::now();
        let succeeded = |outcomes: Vec<(String, i64)>| outcomes.iter().any(|(s, n)| s == "success" && *n >= 1);
        while !succeeded(store.catalog().run_outcomes().await.unwrap()) {
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "no tick was recorded");
            clock.advance(chrono::Duration::seconds(10));
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        stop.send(true).unwrap();
        scheduler.await.unwrap().unwrap();
        let outcomes = store.catalog().run_outcomes().await.unwrap();
        assert_eq!(outcomes[0], ("failure".to_owned(), 0));
        let (_, total, _) = store.catalog().run_duration_histogram(&[1.0]).await.unwrap();
        assert_eq!(total, outcomes[1].1, "each idle tick has a duration");
        assert!(store.catalog().last_run().await.unwrap().is_some_and(|r| r.n_planned == 0));
    }

    /// With a queue outside the catalog, a plan whose enqueue is known to
    /// have failed releases its claims at once: the next pass plans the same
    /// artifacts instead of waiting out their lease.
    #[tokio::test]
    async fn a_refused_enqueue_releases_the_claims_and_the_next_pass_plans_them() {
        use crate::queue::redis::RedisQueue;
        use redis::AsyncCommands;
        use strata_core::catalog::ArtifactFilter;
        use strata_core::id::{ArtifactKey, TenantId};
        use strata_core::store::PutOptions;
        use strata_testkit::proxy::{Claim, RedisProxy};
        const TEST: &str = "scheduler::tests::a_refused_enqueue_releases_the_claims_and_the_next_pass_plans_them";
        let Some(url) = strata_testkit::redis_url(TEST) else { return };
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(chrono::Utc::now());
        let store = Store::open(dir.path(), Config::default(), Arc::new(clock.clone())).await.unwrap();
        store.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
        for i in 0..3 {
            let key = ArtifactKey::parse(&format!("acme/wf/a{i}")).unwrap();
            store.put(&key, format!("artifact {i}").as_bytes(), PutOptions::default()).await.unwrap();
        }
        let prefix = format!("strata-test-{}", uuid::Uuid::new_v4().simple());
        let as_of = store.now() + chrono::Duration::days(8);

        // The queue is reached through a proxy, which is then cut.
        let proxy = RedisProxy::start(&url, Claim::Actual).unwrap();
        let cut = RedisQueue::connect(proxy.url(), &prefix, store.clock().clone()).await.unwrap();
        drop(proxy);
        let refused = plan_and_enqueue(&store, &cut, as_of, "test").await;
        assert!(matches!(refused, Err(SchedulerError::Queue(_))), "{refused:?}");
        let artifacts = store.list(&ArtifactFilter::default()).await.unwrap();
        assert_eq!(artifacts.len(), 3);
        assert!(artifacts.iter().all(|a| a.job_token.is_none()), "every claim is released: {artifacts:?}");

        // The next pass, with the queue reachable, plans them all again.
        let queue = RedisQueue::connect(&url, &prefix, store.clock().clone()).await.unwrap();
        let plan = plan_and_enqueue(&store, &queue, as_of, "test").await.unwrap();
        assert_eq!(plan.jobs.len(), 3);
        let waiting: u64 = queue.stats().await.unwrap().iter().map(|l| l.waiting).sum();
        assert_eq!(waiting, 3, "the jobs are in the queue");
        let mut stamped: Vec<String> =
            store.list(&ArtifactFilter::default()).await.unwrap().into_iter().filter_map(|a| a.job_token).collect();
        let mut planned: Vec<String> = plan.jobs.iter().map(|j| j.token.clone()).collect();
        stamped.sort();
        planned.sort();
        assert_eq!(stamped, planned, "each artifact carries its job's token");

        let mut con = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = con.keys(format!("{prefix}:*")).await.unwrap();
        if !keys.is_empty() {
            let _: () = con.del(keys).await.unwrap();
        }
    }
}
