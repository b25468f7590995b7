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
        // Whether the backends were up when the last attempt began: a tier
        // that comes back while the attempt runs must not make a failure
        // caused by its absence look like the job's own.
        let down_before = if d.attempts >= max_attempts { self.backend_down().await } else { None };
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
                self.failed(&d, &job, e, max_attempts, down_before, started.elapsed()).await;
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
    async fn failed(
        &self,
        d: &Delivery,
        job: &Job,
        e: JobError,
        max_attempts: u32,
        down_before: Option<String>,
        took: Duration,
    ) {
        let s = self.settings();
        let (base, max) = (Duration::from_millis(s.backoff_base_ms), Duration::from_millis(s.backoff_max_ms));
        // A blob that looks missing or unwritable may only be so because its
        // whole tier (or the catalog) is gone, now or when the last attempt
        // began (`down_before`): then the failure is transient. A panic is a
        // bug wherever the data lives.
        let e = match e {
            JobError::Abort(m) if m.starts_with(PANICKED) => JobError::Abort(m),
            e @ (JobError::Abort(_) | JobError::Retry(_)) if e.is_abort() || d.attempts >= max_attempts => {
                match self.backend_down().await.or(down_before) {
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
mod tests;
