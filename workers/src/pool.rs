//! The worker pool: fetches jobs in batches, runs their handlers with a
//! concurrency limit, a per-job timeout and lease extension, acknowledges
//! successes in batches (counting each towards its lifecycle run, whose
//! outcome the worker finishing its last job records), and retries failures
//! with backoff and full jitter: transient ones (a tier or the catalog
//! unreachable, I/O, timeouts) until `jobs.retry_horizon_secs` after the
//! job's first failure, others until the kind's attempts are spent; a job
//! that cannot succeed (corrupt source, undecodable payload, a panic) is
//! dead-lettered at once.

use crate::backoff::{full_jitter, since_first_failure};
use futures::FutureExt;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strata_core::catalog::FinishedJob;
use strata_core::claims::DeadClaim;
use strata_core::event::{EventKind, NewEvent};
use strata_core::id::TenantId;
use strata_jobs::handlers::{self, Context, JobError, Outcome};
use strata_jobs::payload::{Job, JobKind};
use strata_queue::metrics::JobMetrics;
use strata_queue::{Delivery, Failure, Queue, QueueError};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// How long a fetch waits for the slots of jobs still ending to come back.
const GATHER: Duration = Duration::from_millis(5);

/// When [`WorkerPool::run`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Once the pool's lanes hold no waiting, in-flight or delayed job.
    UntilDrained,
    /// Only when shutdown is signalled.
    UntilShutdown,
}

/// What a run did, by job kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// Finished jobs by kind, then outcome (`done`, `stale`, `skipped`).
    pub outcomes: BTreeMap<String, BTreeMap<String, u64>>,
    /// Failures scheduled for a retry.
    pub retried: u64,
    /// Jobs moved to the dead letters.
    pub dead_lettered: u64,
}

impl RunReport {
    /// Jobs finished (acknowledged) in all.
    pub fn finished(&self) -> u64 {
        self.outcomes.values().flat_map(|m| m.values()).sum()
    }

    /// Jobs of `kind` with `outcome`.
    pub fn count(&self, kind: &str, outcome: Outcome) -> u64 {
        self.outcomes.get(kind).and_then(|m| m.get(outcome.as_str())).copied().unwrap_or(0)
    }
}

/// A pool of concurrent job runners in one process.
#[derive(Debug, Clone)]
pub struct WorkerPool {
    queue: Arc<dyn Queue>,
    ctx: Context,
    lanes: Vec<String>,
    report: Arc<Mutex<RunReport>>,
    metrics: Arc<JobMetrics>,
}

impl WorkerPool {
    /// A pool consuming `lanes` (in priority order) of `queue`.
    pub fn new(queue: Arc<dyn Queue>, ctx: Context, lanes: Vec<String>) -> Self {
        Self { queue, ctx, lanes, report: Arc::default(), metrics: Arc::default() }
    }

    /// Records job counts and durations into `metrics` (shared with
    /// the process's `/metrics`).
    pub fn with_metrics(mut self, metrics: Arc<JobMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// A snapshot of what this pool has done so far.
    pub fn report(&self) -> RunReport {
        self.report.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn settings(&self) -> &strata_core::config::JobsConfig {
        &self.ctx.store.config().jobs
    }

    /// Runs until `mode` says stop. It fetches only as many jobs as it has
    /// free slots, so every fetched job starts at once, within its lease.
    /// On shutdown it stops fetching, lets running jobs finish for up to
    /// `jobs.shutdown_grace_secs`, then abandons the rest and gives them
    /// back for immediate redelivery without spending an attempt (handlers
    /// are crash-safe and idempotent, so an abandoned job is redone, never
    /// half-done).
    pub async fn run(&self, mode: Mode, mut shutdown: watch::Receiver<bool>) -> Result<RunReport, QueueError> {
        let settings = self.settings().clone();
        let visibility = Duration::from_secs(settings.visibility_timeout_secs.max(1));
        // Handlers and acks run in their own tasks: a handler may hold the
        // catalog's write lock across an await, so nothing that waits for
        // that lock may be polled by the same future as the handler.
        let (ack_tx, mut ack_rx) = tokio::sync::mpsc::unbounded_channel::<Finished>();
        let queue = self.queue.clone();
        let store = self.ctx.store.clone();
        let batch_size = settings.batch_size;
        let acker = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(batch_size);
            while ack_rx.recv_many(&mut batch, batch_size).await > 0 {
                // The jobs of a batch end together: the first to end waits a
                // moment for the others, so they are counted and acknowledged
                // together, not one and then the rest.
                let gather = Instant::now() + GATHER;
                while batch.len() < batch_size {
                    let room = batch_size - batch.len();
                    match tokio::time::timeout_at(gather.into(), ack_rx.recv_many(&mut batch, room)).await {
                        Ok(n) if n > 0 => {}
                        _ => break,
                    }
                }
                // Counted before the ack: a crash in between redelivers the
                // jobs as no-ops, which count once more without effect.
                let runs: Vec<FinishedJob> = batch.iter().filter_map(|f| f.run.clone()).collect();
                let lags: Vec<(String, f64)> = batch.iter().filter_map(|f| f.lag.clone()).collect();
                if !(runs.is_empty() && lags.is_empty()) {
                    match store.catalog().finish_jobs(store.now(), &runs, &lags).await {
                        Ok(ended) => {
                            for run in ended {
                                tracing::info!(
                                    run_id = run.id,
                                    status = run.status,
                                    duration_secs = run.duration.as_secs_f64(),
                                    "Lifecycle run finished"
                                );
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, n = batch.len(), "Recording finished jobs failed; they will be redelivered as no-ops");
                            batch.clear();
                            continue;
                        }
                    }
                }
                let deliveries: Vec<Delivery> = batch.drain(..).map(|f| f.delivery).collect();
                if let Err(e) = queue.ack(&deliveries).await {
                    tracing::warn!(error = %e, n = deliveries.len(), "Acknowledging jobs failed; they will be redelivered as no-ops");
                }
            }
        });
        let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        let mut running = Running::default();
        let mut idle = Duration::from_millis(2);
        let mut failing = false;
        while !*shutdown.borrow() {
            running.reap();
            // Fetch only what can start at once: a fetched job left waiting
            // for a slot would let its lease run out.
            let first = tokio::select! {
                biased;
                () = stop_requested(&mut shutdown) => break,
                slot = slots.clone().acquire_owned() => slot.map_err(|_| QueueError::Backend("the job slots closed".into()))?,
            };
            let mut free = vec![first];
            // The jobs of a batch end together: give the others a moment to
            // hand their slots back, so the next fetch takes a whole batch
            // (one set of catalog round trips), not a job and then the rest.
            let gather = Instant::now() + GATHER;
            while free.len() < settings.batch_size.min(settings.concurrency.max(1)) {
                match slots.clone().try_acquire_owned() {
                    Ok(slot) => free.push(slot),
                    Err(_) if running.is_empty() => break,
                    Err(_) => match tokio::time::timeout_at(gather.into(), slots.clone().acquire_owned()).await {
                        Ok(Ok(slot)) => free.push(slot),
                        _ => break,
                    },
                }
            }
            let fetched = self.queue.fetch(&self.lanes, free.len(), visibility).await;
            if failing && fetched.is_ok() {
                failing = false;
                self.metrics.record_fetch(false, Duration::ZERO);
            }
            match fetched {
                Ok(batch) if !batch.is_empty() => {
                    idle = Duration::from_millis(2);
                    // The jobs fetched together go to the catalog together.
                    let contexts = self.ctx.batch(batch.len());
                    for ((d, slot), ctx) in batch.into_iter().zip(free).zip(contexts) {
                        let this = self.clone();
                        let ack_tx = ack_tx.clone();
                        let job = d.clone();
                        running.spawn(d, async move {
                            let _slot = slot;
                            if let Some(done) = this.handle(ctx, job, visibility).await {
                                let _ = ack_tx.send(done);
                            }
                        });
                    }
                    continue;
                }
                Ok(_) if mode == Mode::UntilDrained && running.is_empty() && self.drained().await => break,
                Ok(_) => {}
                Err(e) => {
                    // The wait doubles from 200 ms after each failure in a row.
                    idle = idle.max(Duration::from_millis(200));
                    failing = true;
                    self.metrics.record_fetch(true, idle);
                    tracing::warn!(error = %e, retry_in_ms = idle.as_millis() as u64, "Fetching jobs failed; retrying");
                }
            }
            tokio::select! {
                biased;
                () = stop_requested(&mut shutdown) => {}
                () = running.next_finished() => {}
                () = tokio::time::sleep(idle) => {}
            }
            idle = (idle * 2).min(Duration::from_secs(if mode == Mode::UntilDrained { 1 } else { 5 }));
        }
        let grace = Duration::from_secs(settings.shutdown_grace_secs);
        let abandoned = running.wind_down(grace).await;
        if !abandoned.is_empty() {
            tracing::warn!(
                n = abandoned.len(),
                grace_secs = grace.as_secs(),
                "Jobs still running after the grace period were abandoned"
            );
            self.give_back(abandoned).await;
        }
        drop(ack_tx);
        if let Err(e) = acker.await {
            tracing::error!(error = %e, "The acknowledging task failed");
        }
        Ok(self.report())
    }

    /// Gives deliveries back to the queue for immediate redelivery.
    async fn give_back(&self, deliveries: Vec<Delivery>) {
        if deliveries.is_empty() {
            return;
        }
        match self.queue.release(&deliveries).await {
            Ok(()) => tracing::info!(n = deliveries.len(), "Gave back jobs not carried out"),
            Err(e) => {
                tracing::warn!(error = %e, n = deliveries.len(), "Could not give jobs back; their leases will expire instead")
            }
        }
    }

    async fn drained(&self) -> bool {
        match self.queue.stats().await {
            Ok(stats) => stats.iter().filter(|s| self.lanes.contains(&s.lane)).all(|s| s.pending() == 0),
            Err(_) => false,
        }
    }

    /// Runs one delivery in `ctx` (its place in its batch, left as soon as
    /// the handler ends); returns it when it should be acknowledged.
    async fn handle(&self, ctx: Context, d: Delivery, visibility: Duration) -> Option<Finished> {
        let job = match Job::from_json(&d.payload) {
            Ok(job) => job,
            Err(e) => {
                drop(ctx);
                self.dead_letter(&d, None, &format!("payload does not decode: {e}"), Duration::ZERO).await;
                return None;
            }
        };
        let max_attempts = self.ctx.store.config().max_attempts(job.kind.as_str());
        if d.attempts > max_attempts {
            drop(ctx);
            let error = format!(
                "lost by its worker {} times (lease expired), over the {max_attempts} attempts allowed",
                d.attempts - 1
            );
            self.dead_letter(&d, Some(&job), &error, Duration::ZERO).await;
            return None;
        }
        let timeout = Duration::from_secs(self.settings().timeout_secs.max(1));
        let started = Instant::now();
        let ran = tokio::time::timeout(timeout, self.run_with_lease(&ctx, &d, &job, visibility)).await;
        drop(ctx);
        let result = match ran {
            Ok(Some(r)) => r,
            Ok(None) => {
                self.lost(&d, &job, started.elapsed());
                return None;
            }
            Err(_) => Err(JobError::Transient(format!("timed out after {}s", timeout.as_secs()))),
        };
        let kind = job.kind.as_str();
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(e) => {
                self.failed(&d, &job, e, max_attempts, started.elapsed()).await;
                return None;
            }
        };
        self.metrics.record(kind, outcome.as_str(), started.elapsed());
        let mut report = self.report.lock().unwrap_or_else(|e| e.into_inner());
        *report.outcomes.entry(kind.to_owned()).or_default().entry(outcome.as_str().to_owned()).or_default() += 1;
        drop(report);
        let run = job.run_id.map(|run_id| FinishedJob { run_id, token: job.token.clone(), failed: false });
        let lag = if outcome == Outcome::Done { self.lag(&job) } else { None };
        Some(Finished { delivery: d, run, lag })
    }

    /// How long after its action became due a job took effect, on the
    /// timeline it was planned on: a forced job (planned ahead of the real
    /// clock) takes effect at the instant it was planned for. Lifecycle jobs
    /// planned before jobs carried their due instant count from that instant.
    fn lag(&self, job: &Job) -> Option<(String, f64)> {
        let lifecycle = matches!(job.kind, JobKind::Promote | JobKind::Compress | JobKind::Purge);
        let due = job.due_at.or_else(|| lifecycle.then_some(job.planned_for))?;
        let at = if job.forced { job.planned_for } else { self.ctx.store.now() };
        Some((job.kind.as_str().to_owned(), (at - due).num_milliseconds().max(0) as f64 / 1000.0))
    }

    /// Retries a failed delivery or dead-letters it: a transient failure is
    /// retried until the horizon after the job's first failure has passed
    /// (without spending attempts), another until the kind's attempts are
    /// spent, and one that retrying cannot help at once.
    async fn failed(&self, d: &Delivery, job: &Job, e: JobError, max_attempts: u32, took: Duration) {
        let s = self.settings();
        let (base, max) = (Duration::from_millis(s.backoff_base_ms), Duration::from_millis(s.backoff_max_ms));
        // A blob that looks missing or unwritable may only be so because its
        // whole tier (or the catalog) is gone: then the failure is transient.
        // A panic is a bug wherever the data lives.
        let e = match e {
            JobError::Abort(m) if m.starts_with(PANICKED) => JobError::Abort(m),
            e @ (JobError::Abort(_) | JobError::Retry(_)) if e.is_abort() || d.attempts >= max_attempts => {
                match self.backend_down().await {
                    Some(down) => JobError::Transient(format!("{e} ({down})")),
                    None => e,
                }
            }
            e => e,
        };
        let failure = match &e {
            JobError::Abort(_) => None,
            JobError::Retry(_) if d.attempts >= max_attempts => None,
            JobError::Retry(_) => {
                let delay = full_jitter(d.attempts, base, max);
                Some((Failure::Retry(delay), delay))
            }
            JobError::Transient(message) => {
                let now = self.ctx.store.now();
                let failing = d.first_failed_at.map_or(Duration::ZERO, |t| (now - t).to_std().unwrap_or_default());
                if failing >= Duration::from_secs(s.retry_horizon_secs) {
                    let error = format!(
                        "still failing {}s after its first failure (jobs.retry_horizon_secs = {}): {message}",
                        failing.as_secs(),
                        s.retry_horizon_secs
                    );
                    self.dead_letter(d, Some(job), &error, took).await;
                    return;
                }
                let delay = since_first_failure(failing, base, max);
                Some((Failure::Transient(delay), delay))
            }
        };
        let Some((failure, delay)) = failure else {
            self.dead_letter(d, Some(job), &e.to_string(), took).await;
            return;
        };
        self.metrics.record(job.kind.as_str(), "retried", took);
        tracing::info!(kind = %job.kind, artifact_id = job.artifact_id, attempt = d.attempts, transient = e.is_transient(), error = %e, delay_ms = delay.as_millis() as u64, "Job failed; retrying");
        if let Err(qe) = self.queue.fail(d, &e.to_string(), failure).await {
            tracing::warn!(error = %qe, "Could not schedule a retry; the lease will expire instead");
        }
        self.report.lock().unwrap_or_else(|e| e.into_inner()).retried += 1;
    }

    /// Runs the handler, extending the lease while it runs. A panic in the
    /// handler fails the job for good (retrying would panic again): it is
    /// dead-lettered with the panic's message, and the worker goes on.
    /// Returns `None`, the handler stopped, when an extension finds the lease
    /// lost: another consumer took the job over, and carries it out.
    async fn run_with_lease(
        &self,
        ctx: &Context,
        d: &Delivery,
        job: &Job,
        visibility: Duration,
    ) -> Option<Result<Outcome, JobError>> {
        let work = AssertUnwindSafe(handlers::run(ctx, job))
            .catch_unwind()
            .map(|result| result.unwrap_or_else(|panic| Err(JobError::Abort(panic_message(panic.as_ref())))));
        tokio::pin!(work);
        let mut tick = tokio::time::interval(visibility / 2);
        tick.tick().await;
        loop {
            tokio::select! {
                result = &mut work => return Some(result),
                _ = tick.tick() => match self.queue.extend(d, visibility).await {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(e) => tracing::warn!(error = %e, "Could not extend a job's lease"),
                },
            }
        }
    }

    /// Counts a delivery whose lease was lost while its handler ran as
    /// stale: it is neither acknowledged nor counted towards its run, which
    /// the consumer that took it over does (handlers are crash-safe and
    /// idempotent, so the stopped one left nothing half-done).
    fn lost(&self, d: &Delivery, job: &Job, took: Duration) {
        let kind = job.kind.as_str();
        tracing::warn!(kind, id = %d.id, attempt = d.attempts, "A job's lease was taken over while it ran; stopped it");
        self.metrics.record(kind, Outcome::Stale.as_str(), took);
        let mut report = self.report.lock().unwrap_or_else(|e| e.into_inner());
        *report.outcomes.entry(kind.to_owned()).or_default().entry(Outcome::Stale.as_str().to_owned()).or_default() +=
            1;
    }

    /// Why the tiers or the catalog cannot be used right now, if they cannot.
    async fn backend_down(&self) -> Option<String> {
        let store = &self.ctx.store;
        if let Err(e) = store.tiers().check().await {
            return Some(format!("a tier is unreachable: {e}"));
        }
        store.catalog().ping().await.err().map(|e| format!("the catalog is unreachable: {e}"))
    }

    /// Dead-letters a delivery whose handler ran for `took` (zero when it
    /// did not run). Its artifact is marked dead-lettered (while the job
    /// holds its claim) and the job counts as failed towards its run, in one
    /// commit with the `job_dead_lettered` event.
    async fn dead_letter(&self, d: &Delivery, job: Option<&Job>, error: &str, took: Duration) {
        self.metrics.record(&d.kind, "dead_lettered", took);
        tracing::warn!(kind = %d.kind, id = %d.id, attempts = d.attempts, error, "Job dead-lettered");
        if let Err(e) = self.queue.fail(d, error, Failure::Dead).await {
            tracing::warn!(error = %e, "Could not dead-letter a job; the lease will expire instead");
            return;
        }
        self.report.lock().unwrap_or_else(|e| e.into_inner()).dead_lettered += 1;
        let store = &self.ctx.store;
        let tenant = job.and_then(|j| TenantId::parse(&j.tenant).ok());
        let data = serde_json::json!({ "job_id": d.id, "kind": d.kind, "lane": d.lane, "attempts": d.attempts, "error": error });
        let event = NewEvent::new(EventKind::JobDeadLettered, &self.ctx.actor, data);
        let claim = job.map(|j| DeadClaim { artifact_id: j.artifact_id, token: &j.token, run_id: j.run_id });
        let recorded = store.record_dead_letter(tenant.as_ref(), claim, &event).await.map(|runs| {
            for run in runs {
                tracing::warn!(run_id = run.id, status = run.status, "Lifecycle run finished with a dead letter");
            }
        });
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "Could not record a dead letter event");
        }
    }
}

/// A job that finished, to acknowledge: its delivery, what it counts
/// towards its lifecycle run, and its eligibility-to-action lag.
struct Finished {
    delivery: Delivery,
    run: Option<FinishedJob>,
    lag: Option<(String, f64)>,
}

/// What a caught panic said, as a job error.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let said = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-text payload");
    format!("{PANICKED}: {said}")
}

/// How the error of a job whose handler panicked begins.
const PANICKED: &str = "the handler panicked";

/// Resolves once `shutdown` turns true; never when its sender is gone
/// without having said so.
async fn stop_requested(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The job tasks a pool is running, with the delivery each carries out.
#[derive(Default)]
struct Running {
    tasks: JoinSet<()>,
    deliveries: HashMap<tokio::task::Id, Delivery>,
}

impl Running {
    fn spawn(&mut self, delivery: Delivery, task: impl Future<Output = ()> + Send + 'static) {
        let id = self.tasks.spawn(task).id();
        self.deliveries.insert(id, delivery);
    }

    fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    fn finished(&mut self, result: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        match result {
            Ok((id, ())) => {
                self.deliveries.remove(&id);
            }
            Err(e) => {
                self.deliveries.remove(&e.id());
                if e.is_panic() {
                    tracing::error!(error = %e, "A job task panicked; its lease will expire and it will be redelivered");
                }
            }
        }
    }

    /// Forgets the tasks that have finished.
    fn reap(&mut self) {
        while let Some(result) = self.tasks.try_join_next_with_id() {
            self.finished(result);
        }
    }

    /// Waits for one task to finish (forever when none runs).
    async fn next_finished(&mut self) {
        match self.tasks.join_next_with_id().await {
            Some(result) => self.finished(result),
            None => std::future::pending().await,
        }
    }

    /// Waits up to `grace` for every task; aborts the rest and returns
    /// their deliveries.
    async fn wind_down(mut self, grace: Duration) -> Vec<Delivery> {
        let now = tokio::time::Instant::now();
        let deadline = now.checked_add(grace).unwrap_or_else(|| now + Duration::from_secs(86_400 * 365));
        loop {
            match tokio::time::timeout_at(deadline, self.tasks.join_next_with_id()).await {
                Ok(Some(result)) => self.finished(result),
                Ok(None) => return Vec::new(),
                Err(_) => break,
            }
        }
        self.tasks.abort_all();
        let mut abandoned = Vec::new();
        while let Some(result) = self.tasks.join_next_with_id().await {
            if let Err(e) = &result
                && e.is_cancelled()
                && let Some(d) = self.deliveries.remove(&e.id())
            {
                abandoned.push(d);
                continue;
            }
            self.finished(result);
        }
        abandoned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration as Days;
    use strata_core::artifact::Tier;
    use strata_core::catalog::{ArtifactFilter, EventFilter};
    use strata_core::clock::SystemClock;
    use strata_core::config::Config;
    use strata_core::id::{ArtifactKey, TenantId};
    use strata_core::store::{PutOptions, Store};
    use strata_jobs::payload::{DEFAULT_LANE, PRIORITY_LANE};
    use strata_queue::lanes::default_lanes;
    use strata_queue::message::to_new_jobs;
    use strata_queue::plan::plan_and_enqueue;
    use strata_queue::sqlite::SqliteQueue;
    use strata_queue::{DeadFilter, DeadLetter, LaneStats, NewJob};

    async fn setup(n: usize) -> (tempfile::TempDir, Store, Arc<dyn Queue>) {
        setup_with(n, |_| {}).await
    }

    async fn setup_with(n: usize, tune: impl FnOnce(&mut Config)) -> (tempfile::TempDir, Store, Arc<dyn Queue>) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.jobs.max_attempts_by_kind.insert("promote".into(), 3);
        config.jobs.backoff_base_ms = 1;
        config.jobs.backoff_max_ms = 5;
        tune(&mut config);
        let store = Store::open(dir.path(), config, Arc::new(SystemClock)).await.unwrap();
        store.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
        for i in 0..n {
            let key = ArtifactKey::parse(&format!("acme/wf/a{i}.txt")).unwrap();
            store.put(&key, format!("artifact {i}").as_bytes(), PutOptions::default()).await.unwrap();
        }
        let queue: Arc<dyn Queue> =
            Arc::new(SqliteQueue::new(store.catalog().job_queue().unwrap(), store.clock().clone()));
        (dir, store, queue)
    }

    async fn drain(queue: &Arc<dyn Queue>, ctx: Context) -> RunReport {
        let pool = WorkerPool::new(queue.clone(), ctx, default_lanes());
        let (_tx, rx) = watch::channel(false);
        pool.run(Mode::UntilDrained, rx).await.unwrap()
    }

    #[tokio::test]
    async fn every_job_runs_exactly_once_in_effect() {
        let (_dir, store, queue) = setup(300).await;
        let plan = plan_and_enqueue(&store, queue.as_ref(), store.now() + Days::days(8), "test").await.unwrap();
        assert_eq!(plan.jobs.len(), 300);
        // Deliver every job twice: the duplicates must be harmless no-ops.
        queue.enqueue(&to_new_jobs(&plan.jobs, store.config())).await.unwrap();
        let report = drain(&queue, Context::new(store.clone(), "test")).await;
        assert_eq!(report.count("promote", Outcome::Done), 300);
        assert_eq!(report.count("promote", Outcome::Stale), 300);
        let warm = store.list(&ArtifactFilter { tier: Some(Tier::Warm), ..ArtifactFilter::default() }).await.unwrap();
        assert_eq!(warm.len(), 300);
        let promoted = EventFilter { kind: Some("promoted".into()), ..EventFilter::default() };
        assert_eq!(store.catalog().events(&promoted).await.unwrap().len(), 300, "one event per state change");
        assert!(queue.stats().await.unwrap().iter().all(|s| s.pending() == 0 && s.dead == 0));
    }

    #[tokio::test]
    async fn a_poison_job_is_dead_lettered_after_exactly_max_attempts() {
        let (_dir, store, queue) = setup(1).await;
        plan_and_enqueue(&store, queue.as_ref(), store.now() + Days::days(8), "test").await.unwrap();
        let always_fail: handlers::FailPoint =
            Arc::new(|step| if step == "after_write" { Err("disk on fire".into()) } else { Ok(()) });
        let report = drain(&queue, Context::new(store.clone(), "test").with_failpoint(always_fail)).await;
        assert_eq!((report.retried, report.dead_lettered, report.finished()), (2, 1, 0));
        let dead = queue.dead_letters(&DeadFilter::default(), 10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].attempts, 3, "max_attempts_by_kind.promote = 3");
        assert!(dead[0].last_error.contains("disk on fire"), "{}", dead[0].last_error);
        let events = EventFilter { kind: Some("job_dead_lettered".into()), ..EventFilter::default() };
        assert_eq!(store.catalog().events(&events).await.unwrap().len(), 1);
        assert_eq!(store.list(&ArtifactFilter::default()).await.unwrap()[0].tier, Tier::Hot, "nothing half-done");

        // Once the cause is gone, a retried dead letter completes.
        assert_eq!(queue.retry_dead(&DeadFilter::default()).await.unwrap(), 1);
        let report = drain(&queue, Context::new(store.clone(), "test")).await;
        assert_eq!(report.count("promote", Outcome::Done), 1);
        assert_eq!(store.list(&ArtifactFilter::default()).await.unwrap()[0].tier, Tier::Warm);
    }

    #[tokio::test]
    async fn a_panicking_handler_is_dead_lettered_at_once_and_the_worker_goes_on() {
        let (_dir, store, queue) = setup(3).await;
        plan_and_enqueue(&store, queue.as_ref(), store.now() + Days::days(8), "test").await.unwrap();
        let panicked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let once = panicked.clone();
        let panic_once: handlers::FailPoint = Arc::new(move |step| {
            if step == "after_write" && !once.swap(true, std::sync::atomic::Ordering::SeqCst) {
                panic!("the handler tripped over a bug");
            }
            Ok(())
        });
        let report = drain(&queue, Context::new(store.clone(), "test").with_failpoint(panic_once)).await;
        assert!(panicked.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!((report.dead_lettered, report.retried), (1, 0), "dead at once, never retried");
        assert_eq!(report.count("promote", Outcome::Done), 2, "the worker carried on with the others");
        let dead = queue.dead_letters(&DeadFilter::default(), 10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].attempts, 1);
        assert!(dead[0].last_error.contains("panicked: the handler tripped over a bug"), "{}", dead[0].last_error);
        let events = EventFilter { kind: Some("job_dead_lettered".into()), ..EventFilter::default() };
        assert_eq!(store.catalog().events(&events).await.unwrap().len(), 1);
        assert!(queue.stats().await.unwrap().iter().all(|s| s.pending() == 0), "nothing left to loop on");
    }

    #[tokio::test]
    async fn transient_failures_outlive_the_attempts_and_end_at_the_horizon() {
        let clock = strata_core::clock::ManualClock::new(chrono::Utc::now());
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.jobs.max_attempts = 3;
        config.jobs.backoff_base_ms = 0;
        config.jobs.backoff_max_ms = 0;
        config.jobs.retry_horizon_secs = 30;
        config.jobs.visibility_timeout_secs = 3600;
        let store = Store::open(dir.path(), config, Arc::new(clock.clone())).await.unwrap();
        store.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
        let key = ArtifactKey::parse("acme/wf/a.txt").unwrap();
        store.put(&key, &b"some bytes"[..], PutOptions::default()).await.unwrap();
        let queue: Arc<dyn Queue> =
            Arc::new(SqliteQueue::new(store.catalog().job_queue().unwrap(), store.clock().clone()));
        plan_and_enqueue(&store, queue.as_ref(), store.now() + Days::days(8), "test").await.unwrap();
        // The warm tier becomes unreachable: a file where its directory was.
        let warm = dir.path().join("tiers").join("warm");
        std::fs::remove_dir_all(&warm).unwrap();
        std::fs::write(&warm, b"not a directory").unwrap();
        // Time runs fast: a second of the store's clock per millisecond.
        let ticking = clock.clone();
        let ticker = tokio::spawn(async move {
            loop {
                ticking.advance(Days::seconds(1));
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        let report = drain(&queue, Context::new(store.clone(), "test")).await;
        ticker.abort();
        assert_eq!(report.dead_lettered, 1);
        assert!(report.retried > 3, "transient failures spend no attempts: {report:?}");
        let dead = queue.dead_letters(&DeadFilter::default(), 10).await.unwrap();
        assert_eq!(dead[0].attempts, 1, "{dead:?}");
        assert!(dead[0].last_error.contains("jobs.retry_horizon_secs = 30"), "{}", dead[0].last_error);
        let (first, last) = (dead[0].first_failed_at.unwrap(), dead[0].last_failed_at.unwrap());
        assert!(last - first >= Days::seconds(30), "retried until the horizon: {first} .. {last}");
        let a = store.find(&key).await.unwrap();
        assert!(a.dead_lettered_at.is_some(), "the artifact is marked dead-lettered");
    }

    #[tokio::test]
    async fn a_tier_that_is_gone_makes_missing_blobs_transient_until_it_is_back() {
        let (dir, store, queue) = setup_with(4, |c| {
            c.jobs.backoff_base_ms = 1;
            c.jobs.backoff_max_ms = 5;
            c.jobs.max_attempts = 2;
        })
        .await;
        plan_and_enqueue(&store, queue.as_ref(), store.now() + Days::days(8), "test").await.unwrap();
        // The hot tier's directory disappears (an unmounted volume): its
        // blobs read as missing, which alone would spend the attempts.
        let hot = dir.path().join("tiers").join("hot");
        let away = dir.path().join("hot-away");
        std::fs::rename(&hot, &away).unwrap();
        let metrics = Arc::new(JobMetrics::default());
        let pool = WorkerPool::new(queue.clone(), Context::new(store.clone(), "test"), default_lanes())
            .with_metrics(metrics.clone());
        let (_tx, rx) = watch::channel(false);
        let running = tokio::spawn(async move { pool.run(Mode::UntilDrained, rx).await });
        let started = Instant::now();
        while metrics.count("promote", "retried") < 4 * 5 {
            assert!(started.elapsed() < Duration::from_secs(20), "the jobs did not fail repeatedly");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(metrics.count("promote", "dead_lettered"), 0);
        std::fs::rename(&away, &hot).unwrap();
        let report = running.await.unwrap().unwrap();
        assert_eq!((report.count("promote", Outcome::Done), report.dead_lettered), (4, 0));
        let warm = store.list(&ArtifactFilter { tier: Some(Tier::Warm), ..ArtifactFilter::default() }).await.unwrap();
        assert_eq!(warm.len(), 4);
    }

    #[tokio::test]
    async fn an_undecodable_payload_is_dead_lettered_at_once() {
        let (_dir, store, queue) = setup(0).await;
        let bad = NewJob { lane: DEFAULT_LANE.into(), kind: "promote".into(), payload: "{not json".into() };
        queue.enqueue(&[bad]).await.unwrap();
        let report = drain(&queue, Context::new(store.clone(), "test")).await;
        assert_eq!((report.dead_lettered, report.retried), (1, 0));
        let dead = queue.dead_letters(&DeadFilter::default(), 10).await.unwrap();
        assert!(dead[0].last_error.contains("does not decode"), "{}", dead[0].last_error);
    }

    #[tokio::test]
    async fn a_stopping_pool_finishes_what_runs_and_leaves_the_rest_ready() {
        let (_dir, store, queue) = setup_with(20, |c| {
            c.jobs.concurrency = 1;
            c.jobs.batch_size = 20;
        })
        .await;
        plan_and_enqueue(&store, queue.as_ref(), store.now() + Days::days(8), "test").await.unwrap();
        let (stop, shutdown) = watch::channel(false);
        let stop = Arc::new(stop);
        let signal = stop.clone();
        // The first job to write its copy asks the pool to stop.
        let stop_at_first_write: handlers::FailPoint = Arc::new(move |step| {
            if step == "after_write" {
                let _ = signal.send(true);
            }
            Ok(())
        });
        let ctx = Context::new(store.clone(), "test").with_failpoint(stop_at_first_write);
        let pool = WorkerPool::new(queue.clone(), ctx, default_lanes());
        let report = pool.run(Mode::UntilShutdown, shutdown).await.unwrap();
        assert_eq!(report.count("promote", Outcome::Done), 1, "the running job finished");
        let warm = store.list(&ArtifactFilter { tier: Some(Tier::Warm), ..ArtifactFilter::default() }).await.unwrap();
        assert_eq!(warm.len(), 1);
        // The pool fetched only what it could start, so nothing else is
        // leased: the other 19 are ready at once, without an attempt spent.
        let stats = queue.stats().await.unwrap();
        assert!(stats.iter().all(|s| s.in_flight == 0), "{stats:?}");
        let again = queue.fetch(&default_lanes(), 100, Duration::from_secs(30)).await.unwrap();
        assert_eq!(again.len(), 19);
        assert!(again.iter().all(|d| d.attempts == 1), "{again:?}");
        drop(stop);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 6)]
    async fn jobs_in_flight_at_shutdown_finish_within_the_grace_and_nothing_more_is_fetched() {
        const SLOW: std::time::Duration = std::time::Duration::from_millis(300);
        let (_dir, store, queue) = setup_with(20, |c| {
            c.jobs.concurrency = 4;
            c.jobs.batch_size = 4;
            c.jobs.shutdown_grace_secs = 30;
        })
        .await;
        plan_and_enqueue(&store, queue.as_ref(), store.now() + Days::days(8), "test").await.unwrap();
        let (stop, shutdown) = watch::channel(false);
        let stop = Arc::new(stop);
        let signal = stop.clone();
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = started.clone();
        // The first fetch leases 4 jobs, one per slot. The first of them to
        // write its copy asks the pool to stop; each then takes a while
        // longer, so all 4 are still running when the pool is told to stop.
        let slow_after_write: handlers::FailPoint = Arc::new(move |step| {
            if step == "after_write" {
                if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    let _ = signal.send(true);
                }
                std::thread::sleep(SLOW);
            }
            Ok(())
        });
        let ctx = Context::new(store.clone(), "test").with_failpoint(slow_after_write);
        let pool = WorkerPool::new(queue.clone(), ctx, default_lanes());
        let t = std::time::Instant::now();
        let report = pool.run(Mode::UntilShutdown, shutdown).await.unwrap();
        let took = t.elapsed();
        assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 4, "no job started after the stop");
        assert_eq!(report.count("promote", Outcome::Done), 4, "the 4 jobs in flight finished, none abandoned");
        assert!(took >= SLOW && took < Duration::from_secs(10), "waited for them, well within the grace: {took:?}");
        let warm = store.list(&ArtifactFilter { tier: Some(Tier::Warm), ..ArtifactFilter::default() }).await.unwrap();
        assert_eq!(warm.len(), 4);
        let stats = queue.stats().await.unwrap();
        assert!(stats.iter().all(|s| s.in_flight == 0), "the finished jobs were acknowledged: {stats:?}");
        let again = queue.fetch(&default_lanes(), 100, Duration::from_secs(30)).await.unwrap();
        assert_eq!(again.len(), 16, "the rest were never fetched");
        assert!(again.iter().all(|d| d.attempts == 1), "{again:?}");
        drop(stop);
    }

    /// A queue that passes every call on to `inner`, recording what the pool
    /// fetched and acknowledged, what its lease extensions answered and
    /// which failures it reported.
    #[derive(Debug)]
    struct Recording {
        inner: Arc<dyn Queue>,
        fetched: Mutex<Vec<Delivery>>,
        acked: Mutex<Vec<Delivery>>,
        extended: Mutex<Vec<bool>>,
        failed: Mutex<Vec<(String, Failure)>>,
    }

    impl Recording {
        fn seen<T: Clone>(list: &Mutex<Vec<T>>) -> Vec<T> {
            list.lock().unwrap().clone()
        }
    }

    #[async_trait::async_trait]
    impl Queue for Recording {
        async fn enqueue(&self, jobs: &[NewJob]) -> Result<usize, QueueError> {
            self.inner.enqueue(jobs).await
        }
        async fn fetch(&self, lanes: &[String], max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
            let batch = self.inner.fetch(lanes, max, visibility).await?;
            self.fetched.lock().unwrap().extend(batch.iter().cloned());
            Ok(batch)
        }
        async fn ack(&self, deliveries: &[Delivery]) -> Result<(), QueueError> {
            self.acked.lock().unwrap().extend(deliveries.iter().cloned());
            self.inner.ack(deliveries).await
        }
        async fn fail(&self, delivery: &Delivery, error: &str, failure: Failure) -> Result<(), QueueError> {
            self.failed.lock().unwrap().push((error.to_owned(), failure));
            self.inner.fail(delivery, error, failure).await
        }
        async fn extend(&self, delivery: &Delivery, visibility: Duration) -> Result<bool, QueueError> {
            let kept = self.inner.extend(delivery, visibility).await?;
            self.extended.lock().unwrap().push(kept);
            Ok(kept)
        }
        async fn release(&self, deliveries: &[Delivery]) -> Result<(), QueueError> {
            self.inner.release(deliveries).await
        }
        async fn stats(&self) -> Result<Vec<LaneStats>, QueueError> {
            self.inner.stats().await
        }
        async fn dead_letters(&self, filter: &DeadFilter, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
            self.inner.dead_letters(filter, limit).await
        }
        async fn retry_dead(&self, filter: &DeadFilter) -> Result<u64, QueueError> {
            self.inner.retry_dead(filter).await
        }
        async fn discard_dead(&self, filter: &DeadFilter) -> Result<u64, QueueError> {
            self.inner.discard_dead(filter).await
        }
    }

    /// A store on the system clock with `n` artifacts, and a recording queue
    /// in a database of its own on `queue_clock`: while a test holds the
    /// catalog's write lock, handlers stall at their commit, but the queue
    /// (fetches, lease extensions) goes on.
    async fn setup_apart(
        n: usize,
        tune: impl FnOnce(&mut Config),
        queue_clock: strata_core::clock::SharedClock,
    ) -> (tempfile::TempDir, Store, Arc<Recording>) {
        let (dir, store, _) = setup_with(n, tune).await;
        let catalog = strata_core::catalog::Catalog::open(&dir.path().join("queue.db"), 0).await.unwrap();
        let inner = SqliteQueue::new(catalog.job_queue().unwrap(), queue_clock);
        let queue = Arc::new(Recording {
            inner: Arc::new(inner),
            fetched: Mutex::default(),
            acked: Mutex::default(),
            extended: Mutex::default(),
            failed: Mutex::default(),
        });
        (dir, store, queue)
    }

    /// Polls `done` every 20 ms until it holds; panics naming `what` after 20 s.
    async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
        let started = Instant::now();
        while !done().await {
            assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn in_flight(queue: &dyn Queue) -> u64 {
        queue.stats().await.unwrap().iter().map(|s| s.in_flight).sum()
    }

    /// Takes the catalog's write lock from a connection of the test's own
    /// (`BEGIN IMMEDIATE`), so the store cannot commit until it is dropped.
    async fn hold_write_lock(store: &Store) -> sqlx::SqliteConnection {
        use sqlx::{Connection, Executor};
        let path = store.data_dir().join("catalog.db");
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
        conn.execute("BEGIN IMMEDIATE").await.unwrap();
        conn
    }

    async fn event_seqs(store: &Store, kind: &str) -> Vec<i64> {
        let filter = EventFilter { kind: Some(kind.into()), ..EventFilter::default() };
        store.catalog().events(&filter).await.unwrap().iter().map(|e| e.seq).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_long_job_keeps_its_lease_past_the_visibility_timeout() {
        const HELD: Duration = Duration::from_secs(5);
        let (_dir, store, queue) = setup_apart(
            1,
            |c| {
                c.jobs.visibility_timeout_secs = 2;
                c.jobs.timeout_secs = 60;
            },
            Arc::new(SystemClock),
        )
        .await;
        plan_and_enqueue(&store, queue.as_ref(), store.clock().now() + Days::days(8), "test").await.unwrap();
        // The handler cannot commit while the test holds the write lock.
        let lock = hold_write_lock(&store).await;
        let pool = WorkerPool::new(queue.clone(), Context::new(store.clone(), "test"), default_lanes());
        let (_tx, rx) = watch::channel(false);
        let running = tokio::spawn(async move { pool.run(Mode::UntilDrained, rx).await });
        wait_until("the job to be leased", async || in_flight(queue.as_ref()).await == 1).await;
        // Another consumer polls all along, for more than twice the
        // visibility timeout: the job is never redelivered to it.
        let t = Instant::now();
        while t.elapsed() < HELD {
            let taken = queue.inner.fetch(&default_lanes(), 10, Duration::from_secs(2)).await.unwrap();
            assert!(taken.is_empty(), "redelivered {:?} into the run: {taken:?}", t.elapsed());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        drop(lock);
        let report = running.await.unwrap().unwrap();
        assert_eq!((report.count("promote", Outcome::Done), report.retried, report.dead_lettered), (1, 0, 0));
        let extended = Recording::seen(&queue.extended);
        assert!(extended.len() >= 3 && extended.iter().all(|kept| *kept), "extended while it ran: {extended:?}");
        assert_eq!(Recording::seen(&queue.fetched).len(), 1, "delivered once");
        assert_eq!(event_seqs(&store, "promoted").await.len(), 1);
        assert!(queue.stats().await.unwrap().iter().all(|s| s.pending() == 0 && s.dead == 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_job_over_its_timeout_is_stopped_and_retried_as_a_transient_failure() {
        let (_dir, store, queue) = setup_apart(
            1,
            |c| {
                c.jobs.timeout_secs = 1;
                c.jobs.visibility_timeout_secs = 30;
            },
            Arc::new(SystemClock),
        )
        .await;
        plan_and_enqueue(&store, queue.as_ref(), store.clock().now() + Days::days(8), "test").await.unwrap();
        let lock = hold_write_lock(&store).await;
        let metrics = Arc::new(JobMetrics::default());
        let pool = WorkerPool::new(queue.clone(), Context::new(store.clone(), "test"), default_lanes())
            .with_metrics(metrics.clone());
        let (_tx, rx) = watch::channel(false);
        let running = tokio::spawn(async move { pool.run(Mode::UntilDrained, rx).await });
        // Stalled at its commit, the job runs into its 1 s timeout twice.
        wait_until("two timeouts", async || queue.failed.lock().unwrap().len() >= 2).await;
        drop(lock);
        let report = running.await.unwrap().unwrap();
        let failed = Recording::seen(&queue.failed);
        assert!(
            failed[..2].iter().all(|(e, f)| e.contains("timed out after 1s") && matches!(f, Failure::Transient(_))),
            "stopped at the timeout and retried as transient: {failed:?}"
        );
        assert_eq!(report.retried, failed.len() as u64);
        assert_eq!(metrics.count("promote", "retried"), failed.len() as u64);
        assert_eq!(report.dead_lettered, 0);
        // A timed-out attempt's commit, queued before the timeout, may still
        // land once the lock is free: an attempt running then finds the
        // artifact changed, and the next one its claim spent. Either way the
        // job took effect once.
        assert_eq!(report.count("promote", Outcome::Done) + report.count("promote", Outcome::Stale), 1, "{report:?}");
        assert_eq!(event_seqs(&store, "promoted").await.len(), 1);
        let attempts: Vec<u32> = Recording::seen(&queue.fetched).iter().map(|d| d.attempts).collect();
        assert!(attempts.len() > 2 && attempts[..3].iter().all(|a| *a == 1), "timeouts spend no attempt: {attempts:?}");
        let warm = store.list(&ArtifactFilter { tier: Some(Tier::Warm), ..ArtifactFilter::default() }).await.unwrap();
        assert_eq!(warm.len(), 1);
        assert!(queue.stats().await.unwrap().iter().all(|s| s.pending() == 0 && s.dead == 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_job_whose_lease_is_taken_over_is_stopped_counted_stale_and_not_acknowledged() {
        let queue_clock = strata_core::clock::ManualClock::new(chrono::Utc::now());
        let (_dir, store, queue) = setup_apart(
            1,
            |c| {
                c.jobs.visibility_timeout_secs = 1;
                c.jobs.timeout_secs = 60;
            },
            Arc::new(queue_clock.clone()),
        )
        .await;
        plan_and_enqueue(&store, queue.as_ref(), store.clock().now() + Days::days(8), "test").await.unwrap();
        let lock = hold_write_lock(&store).await;
        let metrics = Arc::new(JobMetrics::default());
        let pool = WorkerPool::new(queue.clone(), Context::new(store.clone(), "test"), default_lanes())
            .with_metrics(metrics.clone());
        let (_tx, rx) = watch::channel(false);
        let running = tokio::spawn(async move { pool.run(Mode::UntilDrained, rx).await });
        wait_until("the job to be leased", async || in_flight(queue.as_ref()).await == 1).await;
        // The lease runs out on the queue's clock and another consumer takes
        // the job over while the pool's handler is still stalled.
        queue_clock.advance(Days::seconds(5));
        let taken = queue.inner.fetch(&default_lanes(), 10, Duration::from_secs(1)).await.unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].attempts, 2);
        wait_until("the pool to give the job up", async || metrics.count("promote", "stale") == 1).await;
        assert_eq!(Recording::seen(&queue.extended).last(), Some(&false));
        assert_eq!(event_seqs(&store, "promoted").await.len(), 0, "stopped before it took effect");
        drop(lock);
        // The new holder gives it back; the pool runs it to its end.
        queue.inner.release(&taken).await.unwrap();
        let report = running.await.unwrap().unwrap();
        let lost = &Recording::seen(&queue.fetched)[0];
        let acked = Recording::seen(&queue.acked);
        assert!(acked.iter().all(|d| d.lease != lost.lease), "the lost delivery is never acknowledged: {acked:?}");
        assert_eq!(acked.len(), 1);
        assert_eq!(report.count("promote", Outcome::Done) + report.count("promote", Outcome::Stale), 2, "{report:?}");
        assert!(report.count("promote", Outcome::Stale) >= 1);
        assert_eq!((report.retried, report.dead_lettered), (0, 0));
        assert_eq!(event_seqs(&store, "promoted").await.len(), 1, "took effect once");
        let warm = store.list(&ArtifactFilter { tier: Some(Tier::Warm), ..ArtifactFilter::default() }).await.unwrap();
        assert_eq!(warm.len(), 1);
        assert!(queue.stats().await.unwrap().iter().all(|s| s.pending() == 0 && s.dead == 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_priority_job_overtakes_the_waiting_default_backlog() {
        const N: usize = 300;
        let (_dir, store, queue) = setup_with(N, |c| {
            c.jobs.concurrency = 2;
            c.jobs.batch_size = 2;
        })
        .await;
        plan_and_enqueue(&store, queue.as_ref(), store.clock().now() + Days::days(8), "test").await.unwrap();
        // Put after the plan, so only the erasure below concerns it.
        let key = ArtifactKey::parse("acme/other/subject.txt").unwrap();
        store.put(&key, &b"personal data"[..], PutOptions::default()).await.unwrap();
        let metrics = Arc::new(JobMetrics::default());
        let pool = WorkerPool::new(queue.clone(), Context::new(store.clone(), "test"), default_lanes())
            .with_metrics(metrics.clone());
        let (_tx, rx) = watch::channel(false);
        let running = tokio::spawn(async move { pool.run(Mode::UntilDrained, rx).await });
        wait_until("the backlog under way", async || metrics.count("promote", "done") >= 10).await;
        let target = strata_core::retention::Target::Artifact(key.clone());
        let erasure = strata_jobs::planner::plan_erase(&store, &target, "subject request", "test").await.unwrap();
        let jobs = to_new_jobs(&erasure.jobs, store.config());
        assert_eq!(jobs.iter().map(|j| j.lane.as_str()).collect::<Vec<_>>(), [PRIORITY_LANE]);
        let before = event_seqs(&store, "promoted").await.len();
        queue.enqueue(&jobs).await.unwrap();
        let report = running.await.unwrap().unwrap();
        assert_eq!((report.count("erase", Outcome::Done), report.count("promote", Outcome::Done)), (1, N as u64));
        let erased = event_seqs(&store, "erased").await;
        assert_eq!(erased.len(), 1);
        let ahead = event_seqs(&store, "promoted").await.iter().filter(|seq| **seq < erased[0]).count();
        assert!(before < N / 3, "a backlog was waiting: {before} of {N} done when the erasure came");
        // Only the jobs already running (2 slots, one batch) finish first.
        assert!(ahead <= before + 4, "{ahead} promotions finished before the erasure, {before} when it was enqueued");
    }
}
