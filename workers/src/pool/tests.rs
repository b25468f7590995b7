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
    let queue: Arc<dyn Queue> = Arc::new(SqliteQueue::new(store.catalog().job_queue().unwrap(), store.clock().clone()));
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
    let queue: Arc<dyn Queue> = Arc::new(SqliteQueue::new(store.catalog().job_queue().unwrap(), store.clock().clone()));
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
