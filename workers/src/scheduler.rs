//! The scheduler: on each cron tick, plan what is due and enqueue it. Cron
//! only enqueues; workers do the work. The planning itself is the queue
//! contract's ([`strata_queue::plan`]); this is the loop around it: the
//! ticks, the leadership among schedulers, garbage collection, and the
//! webhook notices.

use croner::Cron;
use std::str::FromStr;
use strata_core::catalog::Fence;
use strata_core::gc;
use strata_core::store::Store;
use strata_queue::Queue;
use strata_queue::notices;
use strata_queue::plan::{PlanError, dry_run, plan_tick};
use tokio::sync::watch;

/// A scheduler that could not run.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
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
/// Beside the ticks, every scheduler sends webhook notices (see [`notify`]).
pub async fn run(
    store: &Store,
    queue: &dyn Queue,
    cron: &Cron,
    shutdown: watch::Receiver<bool>,
) -> Result<(), SchedulerError> {
    let (ticked, ()) = tokio::join!(ticks(store, queue, cron, shutdown.clone()), notify(store, queue, shutdown));
    ticked
}

/// Looks for webhook notices owed every `webhooks.poll_interval_ms` (and
/// for artifacts entering the `expiring_soon` window every
/// `webhooks.expiring_scan_secs`) and enqueues their delivery jobs, until
/// shutdown. Passes are idempotent, so every scheduler runs them, leader or
/// not. Under the dry-run switch nothing is sent.
pub async fn notify(store: &Store, queue: &dyn Queue, mut shutdown: watch::Receiver<bool>) {
    if store.config().lifecycle.dry_run {
        return;
    }
    let hooks = &store.config().webhooks;
    let every = std::time::Duration::from_millis(hooks.poll_interval_ms.max(10));
    let scan_every = chrono::Duration::seconds(i64::try_from(hooks.expiring_scan_secs).unwrap_or(i64::MAX));
    let mut last_scan: Option<chrono::DateTime<chrono::Utc>> = None;
    while !*shutdown.borrow() {
        let now = store.now();
        let scan = last_scan.is_none_or(|at| now - at >= scan_every);
        match notices::dispatch(store, queue, now, scan).await {
            Ok(report) => {
                if scan {
                    last_scan = Some(now);
                }
                if report.enqueued > 0 {
                    tracing::info!(enqueued = report.enqueued, expiring = report.expiring, "Webhook notices enqueued");
                }
            }
            Err(e) => tracing::warn!(error = %e, "Looking for webhook notices failed; the next pass retries"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            changed = shutdown.changed() => if changed.is_err() { return },
        }
    }
}

async fn ticks(
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
            Err(PlanError::Queue(e)) => {
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
    use std::sync::Arc;
    use strata_core::clock::ManualClock;
    use strata_core::config::Config;
    use strata_queue::sqlite::SqliteQueue;

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
        use strata_queue::plan::plan_and_enqueue;
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
        assert!(matches!(refused, Err(PlanError::Queue(_))), "{refused:?}");
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
