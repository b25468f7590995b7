//! Queue benchmark on Redis, every row measured in the same run on the same
//! server:
//!
//! - a raw baseline: a pipelined `XADD` loop, and an `XREADGROUP` consumer
//!   that keeps reading while its `XACK`/`XDEL`s are in flight on a second
//!   connection;
//! - strata's queue API: enqueue, and a drain that fetches 512 jobs at a time
//!   and acknowledges each batch from a second task, with no handler (1 and 2
//!   consumer processes, and 1 process polling an empty priority lane first);
//! - the worker pool (`strata_workers::pool::WorkerPool`, its own fetch,
//!   lease, concurrency, handler task per job and batched acknowledgement)
//!   in this process, on no-op jobs: promote jobs whose artifact is not in
//!   the catalog, which the handler finds stale after one catalog read and
//!   acknowledges, changing nothing;
//! - `strata worker` processes (the release binary next to this example,
//!   `target/release/strata`) running real promote jobs (hot -> warm) of 4 KiB
//!   artifacts seeded in a fresh data directory and planned by the scheduler.
//!
//! With `STRATA_BENCH_BULLMQ_DIR` set to a directory holding the BullMQ peer
//! (`../shared/bench/bullmq` after `npm install`), its `bench.js` runs on the
//! same Redis in every round; its drain runs a handler per job that returns
//! at once, at concurrency 50.
//!
//! Drain rows also print the Redis server's CPU use (its `used_cpu_user` and
//! `used_cpu_sys` over the drain's wall time): 1.00 is one core kept busy.
//!
//! Run: `cargo build --release -p strata-cli && STRATA_BENCH_REDIS_URL=redis://127.0.0.1:6379 cargo run --release -p strata-workers --example bench_queue [-- N [ROUNDS [PROMOTE_N]]]`
//! (defaults: 100,000 no-op jobs, 3 rounds, 2,000 promote jobs; each figure
//! is the median of the rounds). Every key it writes is under a prefix of its
//! own, deleted after each row.

#![allow(clippy::unwrap_used, reason = "a benchmark stops at its first failure")]

use futures::StreamExt;
use redis::AsyncCommands;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_core::artifact::{Codec, Tier};
use strata_core::catalog::ArtifactFilter;
use strata_core::clock::SystemClock;
use strata_core::config::Config;
use strata_core::id::{ArtifactKey, TenantId};
use strata_core::store::{PutOptions, Store};
use strata_jobs::handlers::{Context, Outcome};
use strata_jobs::payload::{DEFAULT_LANE, Job, JobKind};
use strata_queue::lanes::default_lanes;
use strata_queue::plan::plan_and_enqueue;
use strata_queue::{Delivery, NewJob, Queue};
use strata_workers::pool::{Mode, WorkerPool};
use strata_workers::queue::redis::RedisQueue;
use tokio::sync::{mpsc, watch};

/// Jobs per fetch of the queue API drain.
const BATCH: usize = 512;
/// The BullMQ worker's concurrency, as its `bench.js` is run.
const BULLMQ_CONCURRENCY: usize = 50;
/// Bytes of each seeded artifact.
const ARTIFACT_SIZE: usize = 4096;
/// How long a `strata worker` row may take before the benchmark gives up.
const WORKER_DEADLINE: Duration = Duration::from_secs(900);

/// `XREADGROUP`'s reply: per stream, its entries (id, fields).
type ReadReply = Vec<(String, Vec<(String, Vec<String>)>)>;

/// One drain: jobs per second, and the Redis server's CPU seconds per second.
#[derive(Debug, Clone, Copy)]
struct Drain {
    rate: f64,
    redis_cpu: f64,
}

/// The Redis server's CPU seconds so far (user and system).
async fn redis_cpu(url: &str) -> f64 {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO").arg("cpu").query_async(&mut con).await.unwrap();
    let field = |name: &str| {
        info.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse::<f64>().ok()).unwrap()
    };
    field("used_cpu_user") + field("used_cpu_sys")
}

/// Measures a drain of `n` jobs, which `run` does; returns what it returns.
async fn timed<T, F: Future<Output = T>>(url: &str, n: usize, run: F) -> (Drain, T) {
    let cpu = redis_cpu(url).await;
    let t = Instant::now();
    let out = run.await;
    let secs = t.elapsed().as_secs_f64();
    (Drain { rate: n as f64 / secs, redis_cpu: (redis_cpu(url).await - cpu) / secs }, out)
}

/// Drains the strata queue under `prefix` until it is empty; returns the count.
async fn strata_consume(url: &str, prefix: &str, lanes: &str) -> usize {
    let queue = Arc::new(RedisQueue::connect(url, prefix, Arc::new(SystemClock)).await.unwrap());
    let lanes: Vec<String> = lanes.split(',').map(str::to_owned).collect();
    let (tx, mut rx) = mpsc::channel::<Vec<Delivery>>(4);
    let acker = {
        let queue = queue.clone();
        tokio::spawn(async move {
            while let Some(batch) = rx.recv().await {
                queue.ack(&batch).await.unwrap();
            }
        })
    };
    let mut done = 0;
    loop {
        let batch = queue.fetch(&lanes, BATCH, Duration::from_secs(30)).await.unwrap();
        if batch.is_empty() {
            break;
        }
        done += batch.len();
        tx.send(batch).await.unwrap();
    }
    drop(tx);
    acker.await.unwrap();
    done
}

/// A fresh key prefix for one row.
fn fresh_prefix() -> String {
    format!("bench-{}", uuid::Uuid::new_v4().simple())
}

/// Enqueues `n` jobs on the default lane, then drains them with `processes`
/// queue API consumer processes polling `lanes` (comma-separated, in order).
async fn strata_run(url: &str, n: usize, processes: usize, lanes: &str) -> (f64, Drain) {
    let prefix = fresh_prefix();
    let queue = RedisQueue::connect(url, &prefix, Arc::new(SystemClock)).await.unwrap();
    let jobs: Vec<NewJob> =
        (0..n).map(|i| NewJob { lane: DEFAULT_LANE.into(), kind: "noop".into(), payload: i.to_string() }).collect();
    let t = Instant::now();
    for chunk in jobs.chunks(10_000) {
        queue.enqueue(chunk).await.unwrap();
    }
    let enqueue = n as f64 / t.elapsed().as_secs_f64();
    let exe = std::env::current_exe().unwrap();
    let (drain, ()) = timed(url, n, async {
        let children: Vec<_> = (0..processes)
            .map(|_| {
                std::process::Command::new(&exe)
                    .args(["consume", url, &prefix, lanes])
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut drained = 0;
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success());
            drained += String::from_utf8(out.stdout).unwrap().trim().parse::<usize>().unwrap();
        }
        assert_eq!(drained, n);
    })
    .await;
    assert_nothing_pending(&queue, 0).await;
    cleanup(url, &prefix).await;
    (enqueue, drain)
}

async fn raw_run(url: &str, n: usize) -> (f64, Drain) {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("bench-raw-{}", uuid::Uuid::new_v4().simple());
    let t = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.cmd("XADD").arg(&key).arg("*").arg("p").arg(i).ignore();
        }
        pipe.query_async::<()>(&mut con).await.unwrap();
    }
    let enqueue = n as f64 / t.elapsed().as_secs_f64();
    let _: () = redis::cmd("XGROUP").arg("CREATE").arg(&key).arg("g").arg("0").query_async(&mut con).await.unwrap();
    let (drain, ()) = timed(url, n, async {
        let (tx, mut rx) = mpsc::channel::<Vec<String>>(4);
        let acker = {
            let mut con = client.get_multiplexed_async_connection().await.unwrap();
            let key = key.clone();
            tokio::spawn(async move {
                while let Some(ids) = rx.recv().await {
                    let mut pipe = redis::pipe();
                    pipe.cmd("XACK").arg(&key).arg("g").arg(&ids).ignore();
                    pipe.cmd("XDEL").arg(&key).arg(&ids).ignore();
                    pipe.query_async::<()>(&mut con).await.unwrap();
                }
            })
        };
        let mut done = 0;
        loop {
            let reply: Option<ReadReply> = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg("g")
                .arg("c")
                .arg("COUNT")
                .arg(BATCH)
                .arg("STREAMS")
                .arg(&key)
                .arg(">")
                .query_async(&mut con)
                .await
                .unwrap();
            let ids: Vec<String> = reply
                .unwrap_or_default()
                .into_iter()
                .flat_map(|(_, entries)| entries.into_iter().map(|(id, _)| id))
                .collect();
            if ids.is_empty() {
                break;
            }
            done += ids.len();
            tx.send(ids).await.unwrap();
        }
        drop(tx);
        acker.await.unwrap();
        assert_eq!(done, n);
    })
    .await;
    let left: usize = redis::cmd("XLEN").arg(&key).query_async(&mut con).await.unwrap();
    assert_eq!(left, 0, "every raw entry acknowledged and deleted");
    let _: () = con.del(&key).await.unwrap();
    (enqueue, drain)
}

/// A promote job of an artifact the catalog does not hold: its handler reads
/// the catalog once, finds the job stale and returns; the pool acknowledges it.
fn noop_job(i: usize) -> NewJob {
    let id = -1 - i64::try_from(i).unwrap();
    let job = Job {
        kind: JobKind::Promote,
        artifact_id: id,
        tenant: "bench".into(),
        token: format!("noop-{i}"),
        generation: 1,
        from_tier: Tier::Hot,
        from_codec: Codec::None,
        to_tier: Some(Tier::Warm),
        planned_for: chrono::Utc::now(),
        forced: false,
        actor: "bench".into(),
        restore_days: None,
        reason: None,
        run_id: None,
        due_at: None,
        notice: None,
    };
    NewJob { lane: DEFAULT_LANE.into(), kind: JobKind::Promote.as_str().into(), payload: job.to_json() }
}

/// The worker pool in this process, with `concurrency` job slots and the
/// default lanes (priority, then default), draining `n` no-op jobs.
async fn pool_run(url: &str, n: usize, concurrency: usize) -> Drain {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::load(None).expect("configuration from the environment");
    config.jobs.concurrency = concurrency;
    let store = Store::open(dir.path(), config, Arc::new(SystemClock)).await.unwrap();
    let prefix = fresh_prefix();
    let queue: Arc<dyn Queue> = Arc::new(RedisQueue::connect(url, &prefix, store.clock().clone()).await.unwrap());
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let jobs: Vec<NewJob> = chunk.iter().map(|&i| noop_job(i)).collect();
        queue.enqueue(&jobs).await.unwrap();
    }
    let pool = WorkerPool::new(queue.clone(), Context::new(store.clone(), "bench"), default_lanes());
    let (drain, ()) = timed(url, n, async {
        let (_stop, shutdown) = watch::channel(false);
        let report = pool.run(Mode::UntilDrained, shutdown).await.unwrap();
        assert_eq!(report.count(JobKind::Promote.as_str(), Outcome::Stale), n as u64, "{report:?}");
        assert_eq!((report.finished(), report.retried, report.dead_lettered), (n as u64, 0, 0), "{report:?}");
    })
    .await;
    assert_nothing_pending(queue.as_ref(), 0).await;
    cleanup(url, &prefix).await;
    drain
}

/// Seeds `n` artifacts of 4 KiB in a fresh data directory, plans their
/// promotion to warm into the Redis queue, then runs `processes` `strata
/// worker` processes on it from their start until the queue holds nothing
/// more; checks that every artifact is warm.
async fn worker_run(url: &str, strata: &Path, n: usize, processes: usize) -> Drain {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = Config::load(None).expect("configuration from the environment");
    let concurrency = config.jobs.concurrency;
    let store = Store::open(&data, config, Arc::new(SystemClock)).await.unwrap();
    store.add_tenant(&TenantId::parse("bench").unwrap(), "pro", "bench").await.unwrap();
    futures::stream::iter(0..n)
        .for_each_concurrent(concurrency, |i| {
            let store = &store;
            async move {
                let key = ArtifactKey::parse(&format!("bench/run/a{i:06}.bin")).unwrap();
                let mut bytes = vec![b'.'; ARTIFACT_SIZE];
                bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
                store.put(&key, &bytes[..], PutOptions::default()).await.unwrap();
            }
        })
        .await;
    let prefix = fresh_prefix();
    let queue = RedisQueue::connect(url, &prefix, store.clock().clone()).await.unwrap();
    let plan = plan_and_enqueue(&store, &queue, store.now() + chrono::Duration::days(8), "bench").await.unwrap();
    assert_eq!(plan.jobs.len(), n);
    assert!(plan.jobs.iter().all(|j| j.kind == JobKind::Promote && j.to_tier == Some(Tier::Warm)));
    let (drain, mut workers) = timed(url, n, async {
        let mut workers = Workers(
            (0..processes)
                .map(|k| {
                    std::process::Command::new(strata)
                        .args(["worker", "--live"])
                        .env("STRATA_DATA_DIR", &data)
                        .env("STRATA_REDIS_URL", url)
                        .env("STRATA_REDIS_PREFIX", &prefix)
                        .stdout(Stdio::null())
                        .stderr(std::fs::File::create(dir.path().join(format!("worker-{k}.log"))).unwrap())
                        .spawn()
                        .unwrap()
                })
                .collect(),
        );
        let t = Instant::now();
        loop {
            let stats = queue.stats().await.unwrap();
            if stats.iter().all(|s| s.pending() == 0) {
                break;
            }
            for child in &mut workers.0 {
                assert!(child.try_wait().unwrap().is_none(), "a worker exited early: {}", worker_logs(dir.path()));
            }
            assert!(
                t.elapsed() < WORKER_DEADLINE,
                "the workers did not drain {n} jobs within {WORKER_DEADLINE:?}: {stats:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        workers
    })
    .await;
    for child in &mut workers.0 {
        let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        assert!(child.wait().unwrap().success(), "a worker did not stop cleanly: {}", worker_logs(dir.path()));
    }
    assert_nothing_pending(&queue, 0).await;
    let warm = store.list(&ArtifactFilter { tier: Some(Tier::Warm), ..ArtifactFilter::default() }).await.unwrap();
    assert_eq!(warm.len(), n, "every artifact promoted");
    cleanup(url, &prefix).await;
    drain
}

/// The BullMQ peer's enqueue and drain rates in one run of its `bench.js`
/// (`addBulk` of 1,000; a worker whose handler returns at once, concurrency
/// 50), if its directory is given.
fn bullmq_run(dir: &str, url: &str, n: usize) -> Option<(f64, f64)> {
    let port = url.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse::<u16>().ok()).unwrap_or(6379);
    let out = std::process::Command::new("node")
        .args(["bench.js", &n.to_string(), &BULLMQ_CONCURRENCY.to_string(), "1000"])
        .current_dir(dir)
        .env("REDIS_PORT", port.to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let rate = |label: &str| {
        text.lines()
            .find(|l| l.starts_with(label))
            .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("rate=")))
            .and_then(|r| r.trim_end_matches("/s").parse::<f64>().ok())
    };
    match (rate("ENQUEUE"), rate("DRAIN")) {
        (Some(e), Some(d)) => Some((e, d)),
        _ => {
            eprintln!("the BullMQ peer printed no rates: {text}{}", String::from_utf8_lossy(&out.stderr));
            None
        }
    }
}

/// `strata worker` processes; any still running when this is dropped (the
/// benchmark failed before stopping them) are killed.
struct Workers(Vec<std::process::Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// What the `strata worker` processes logged in `dir`.
fn worker_logs(dir: &Path) -> String {
    let mut logs = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "log") {
            logs.push_str(&format!("\n{}:\n{}", path.display(), std::fs::read_to_string(&path).unwrap_or_default()));
        }
    }
    logs
}

/// Asserts that no lane under the queue holds a waiting, in-flight or
/// delayed job, and that `dead` jobs were dead-lettered.
async fn assert_nothing_pending(queue: &dyn Queue, dead: u64) {
    let stats = queue.stats().await.unwrap();
    assert!(stats.iter().all(|s| s.pending() == 0), "{stats:?}");
    assert_eq!(stats.iter().map(|s| s.dead).sum::<u64>(), dead, "{stats:?}");
}

async fn cleanup(url: &str, prefix: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = con.keys(format!("{prefix}:*")).await.unwrap();
    if !keys.is_empty() {
        let _: () = con.del(keys).await.unwrap();
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The medians of each drain's rate and Redis CPU.
fn median_drain(v: &[Drain]) -> Drain {
    Drain {
        rate: median(v.iter().map(|d| d.rate).collect()),
        redis_cpu: median(v.iter().map(|d| d.redis_cpu).collect()),
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, mode, url, prefix, lanes] = args.as_slice()
        && mode == "consume"
    {
        println!("{}", strata_consume(url, prefix, lanes).await);
        return;
    }
    let url = std::env::var("STRATA_BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3).max(1);
    let promote_n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2_000);
    let bullmq_dir = std::env::var("STRATA_BENCH_BULLMQ_DIR").ok();
    // target/release/examples/bench_queue -> target/release/strata
    let strata = std::env::current_exe().unwrap().parent().and_then(Path::parent).map(|d| d.join("strata"));
    let strata = strata.filter(|p| p.is_file());
    if strata.is_none() {
        eprintln!(
            "no strata binary next to this example: build it (cargo build --release -p strata-cli) for the strata worker rows"
        );
    }
    let config = Config::load(None).expect("configuration from the environment");
    let (default_concurrency, fsync) = (config.jobs.concurrency, config.storage.fsync);
    let load_before = load_average();

    let mut enqueues: [Vec<f64>; 3] = Default::default();
    let mut drains: [Vec<Drain>; 9] = Default::default();
    let mut bullmq_ok = bullmq_dir.is_some();
    for round in 0..rounds {
        eprintln!("round {} of {rounds}", round + 1);
        let (raw_enqueue, raw_drain) = raw_run(&url, n).await;
        let (enqueue_1, drain_1) = strata_run(&url, n, 1, "default").await;
        let (_, drain_2) = strata_run(&url, n, 2, "default").await;
        let (_, drain_lanes) = strata_run(&url, n, 1, "priority,default").await;
        let pool_default = pool_run(&url, n, default_concurrency).await;
        let pool_50 = pool_run(&url, n, BULLMQ_CONCURRENCY).await;
        let mut row = vec![raw_drain, drain_1, drain_2, drain_lanes, pool_default, pool_50];
        if let Some(strata) = &strata {
            row.push(worker_run(&url, strata, promote_n, 1).await);
            row.push(worker_run(&url, strata, promote_n, 2).await);
        }
        enqueues[0].push(raw_enqueue);
        enqueues[1].push(enqueue_1);
        if let Some(dir) = bullmq_dir.as_deref().filter(|_| bullmq_ok) {
            match bullmq_run(dir, &url, n) {
                Some((enqueue, drain)) => {
                    enqueues[2].push(enqueue);
                    row.push(Drain { rate: drain, redis_cpu: f64::NAN });
                }
                None => bullmq_ok = false,
            }
        }
        for (all, d) in drains.iter_mut().zip(row) {
            all.push(d);
        }
    }
    let load_after = load_average();
    let enqueue = enqueues.map(|v| if v.len() == rounds { median(v) } else { f64::NAN });
    let d: Vec<Option<Drain>> = drains.iter().map(|v| (v.len() == rounds).then(|| median_drain(v))).collect();
    let (raw_drain, pool_default, pool_50) = (d[0].unwrap(), d[4].unwrap(), d[5].unwrap());
    let (worker_1, worker_2) = if strata.is_some() { (d[6], d[7]) } else { (None, None) };
    let bullmq = if bullmq_ok { d[if strata.is_some() { 8 } else { 6 }] } else { None };

    println!(
        "queue benchmark: Redis at {}, median of {rounds} rounds, load average {load_before} before, {load_after} after",
        strata_workers::queue::redis::redact(&url)
    );
    println!(
        "{n} no-op jobs per row; {promote_n} promote jobs (hot -> warm, {ARTIFACT_SIZE} B, fsync {}) per strata worker row",
        if fsync { "on" } else { "off" }
    );
    println!("{:<62} {:>10} {:>8} {:>10}", "", "jobs/s", "vs raw", "Redis CPU");
    let line = |label: &str, rate: f64, base: Option<f64>, cpu: Option<f64>| {
        let ratio = base.map_or_else(String::new, |b| match rate / b {
            r if r < 0.1 => format!("{r:.3}x"),
            r => format!("{r:.2}x"),
        });
        let cpu = cpu.filter(|c| c.is_finite()).map_or_else(String::new, |c| format!("{c:.2}"));
        println!("{label:<62} {rate:>10.0} {ratio:>8} {cpu:>10}");
    };
    line("raw pipelined XADD", enqueue[0], None, None);
    line("strata enqueue (queue API, 10,000 per call)", enqueue[1], Some(enqueue[0]), None);
    if bullmq.is_some() {
        line("BullMQ addBulk (1,000 per call)", enqueue[2], Some(enqueue[0]), None);
    }
    let drain_line = |label: &str, d: Drain| line(label, d.rate, Some(raw_drain.rate), Some(d.redis_cpu));
    line("raw XREADGROUP, XACK/XDEL in flight", raw_drain.rate, None, Some(raw_drain.redis_cpu));
    drain_line("queue API drain, no handler, 1 process", d[1].unwrap());
    drain_line("queue API drain, no handler, 2 processes", d[2].unwrap());
    drain_line("queue API drain, no handler, 1 process, 2 lanes", d[3].unwrap());
    drain_line(&format!("worker pool, no-op jobs, 1 process, concurrency {default_concurrency}"), pool_default);
    drain_line(&format!("worker pool, no-op jobs, 1 process, concurrency {BULLMQ_CONCURRENCY}"), pool_50);
    if let Some(b) = bullmq {
        drain_line(&format!("BullMQ worker, no-op handler, concurrency {BULLMQ_CONCURRENCY}"), b);
    }
    for (k, w) in [(1, worker_1), (2, worker_2)] {
        if let Some(w) = w {
            let s = if k == 1 { "" } else { "es" };
            drain_line(&format!("strata worker, promote jobs, {k} process{s}, concurrency {default_concurrency}"), w);
        }
    }
    println!(
        "worker pool (no-op jobs) vs queue API drain (no handler), 1 process: {:.2}x at concurrency {default_concurrency}, \
         {:.2}x at {BULLMQ_CONCURRENCY}",
        pool_default.rate / d[1].unwrap().rate,
        pool_50.rate / d[1].unwrap().rate
    );
    if let Some(b) = bullmq {
        println!(
            "BullMQ worker vs worker pool, both a handler per job at concurrency {BULLMQ_CONCURRENCY}: {:.2}x",
            b.rate / pool_50.rate
        );
    }
    if let Some(w) = worker_1 {
        println!(
            "promote jobs vs no-op jobs, 1 process at concurrency {default_concurrency}: {:.3}x",
            w.rate / pool_default.rate
        );
    }
}
