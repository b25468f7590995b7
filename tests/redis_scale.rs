//! The Redis queue at scale and through an outage, end to end: the real
//! `strata` binary, a real SQLite catalog in a temporary data directory, the
//! real planner, the Redis Streams queue and the real worker pool with its
//! real handlers.
//!
//! - Fairness: with 100,000 due artifacts of one tenant and 100 of another
//!   (seeded last, so they are the last the catalog lists as due), every one
//!   of the small tenant's jobs completes among the first 400 completions of
//!   the shared lane: within twice its place (200) had the tenants strictly
//!   taken turns (completion order is the order of `promoted` events, which
//!   are appended in commit order). The worker stops once that is decided;
//!   the rest of the backlog is checked to be still queued.
//! - Outage: a private `redis-server` (append-only file, fsync on every
//!   write) is killed with SIGKILL while a worker and a scheduler run; both
//!   keep running (the worker nearly idle, not spinning on the errors),
//!   commands fail fast naming the URL, and once Redis is back on the same
//!   port and directory the worker resumes within seconds and every job that
//!   was acknowledged as enqueued completes, by the same processes.

mod common;

use common::Strata;
use common::redis::Cleanup;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use strata_core::artifact::{Artifact, Codec, State, Tier};
use strata_core::catalog::{ArtifactFilter, EventFilter};
use strata_core::committer::Ingest;
use strata_core::config::env;
use strata_core::id::{ArtifactKey, TenantId};
use strata_core::store::Store;
use strata_testkit::redis_url;

/// Child processes killed (SIGKILL) and reaped when the test ends, panics
/// included.
#[derive(Default)]
struct Children(Vec<Child>);

impl Children {
    fn add(&mut self, child: Child) -> u32 {
        let pid = child.id();
        self.0.push(child);
        pid
    }

    /// Whether the child `pid` is still running.
    fn running(&mut self, pid: u32) -> bool {
        let child = self.0.iter_mut().find(|c| c.id() == pid).expect("a child of this test");
        child.try_wait().expect("child status").is_none()
    }

    /// Sends `signal` to the child `pid` and waits (bounded) for it to exit.
    fn stop(&mut self, pid: u32, signal: &str, within: Duration) -> std::process::ExitStatus {
        let i = self.0.iter().position(|c| c.id() == pid).expect("a child of this test");
        let mut child = self.0.remove(i);
        let _ = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status();
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().expect("child status") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("process {pid} did not exit within {within:?} of SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `done` every 50 ms until it holds; panics with `what` after `limit`.
fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waiting, in-flight and delayed jobs over every lane (`queue stats`).
fn pending(s: &Strata) -> u64 {
    s.json(&["queue", "stats"])
        .as_array()
        .expect("lanes")
        .iter()
        .map(|l| {
            l["waiting"].as_u64().expect("a count")
                + l["in_flight"].as_u64().expect("a count")
                + l["delayed"].as_u64().expect("a count")
        })
        .sum()
}

/// Ingests small artifacts `TENANT/wf/aNNNNNN` for each N in `range` the way `Store::put`
/// does — bytes landed in the hot tier, then recorded with their events by
/// `Store::ingest_batch` — but 2,000 to a transaction. One `put` per artifact costs about
/// 1 ms in a debug build, too slow for 100,000. Every run of `SHARE`
/// consecutive artifacts has the same bytes, which the tiers store once (as
/// they do identical uploads), so the test does not spend its time creating
/// and deleting 100,000 files.
async fn bulk_ingest(store: &Store, tenant: &str, range: std::ops::Range<usize>) {
    const BATCH: usize = 2_000;
    const SHARE: usize = 20;
    let tenant_id = TenantId::parse(tenant).expect("bulk ingest");
    let plan = store.tenant(&tenant_id).await.expect("bulk ingest").plan;
    for start in range.clone().step_by(BATCH) {
        let end = (start + BATCH).min(range.end);
        let mut landed = std::collections::BTreeMap::new();
        for group in start / SHARE..=(end - 1) / SHARE {
            let bytes = format!("{tenant} artifact group {group}");
            landed.insert(group, store.tiers().land(&tenant_id, bytes.as_bytes()).await.expect("bulk ingest"));
        }
        let mut ingests = Vec::with_capacity(end - start);
        for i in start..end {
            let landing = &landed[&(i / SHARE)];
            let now = store.now();
            let key = ArtifactKey::parse(&format!("{tenant}/wf/a{i:06}")).expect("bulk ingest");
            let d = landing.digests().clone();
            let mut a = Artifact {
                id: 0,
                tenant: key.tenant.clone(),
                workflow: key.workflow.clone(),
                name: key.name.clone(),
                size: d.size,
                stored_size: d.size,
                codec: Codec::None,
                blake3: d.blake3,
                sha256: d.sha256,
                content_type: strata_core::store::guess_content_type(key.name.as_str()).to_owned(),
                tags: serde_json::Map::new(),
                meta: serde_json::Map::new(),
                created_at: now,
                last_accessed_at: now,
                verified_at: now,
                tier: Tier::Hot,
                state: State::Active,
                class: None,
                expires_at: strata_core::lifecycle::expires_at(store.config(), &plan, None, now).expect("bulk ingest"),
                eligible_at: None,
                pinned_hot_until: None,
                next_due_at: None,
                job_token: None,
                generation: 0,
                held: false,
                extended: false,
                plan: plan.clone(),
                newer_live: 0,
                dead_lettered_at: None,
            };
            a.next_due_at = strata_core::lifecycle::decide(&a, store.config(), now).next_due_at;
            ingests.push(Ingest { artifact: a, landing: landing.clone(), overwrite: false, actor: "test".into() });
        }
        store.ingest_batch(&ingests).await.expect("bulk ingest");
    }
}

/// Fairness: a tenant with 100 due artifacts is not starved by one
/// with 100,000 in the shared lane. Seeding, planning (as of 8 days ahead)
/// and enqueueing cover the whole backlog; the real worker, with its real
/// handlers, drains it until the outcome is decided: the small tenant is done,
/// or the limit of completions is reached. With strict turns (big, small,
/// big, small, …: the big tenant is listed first) the small tenant's last job
/// is the 200th; concurrent handlers may finish a few out of order, so the
/// limit is twice that, 400. A full drain of 100,100 jobs would take about
/// 100 s in a debug build (about 1,000 jobs/s), and completions after that
/// point cannot change who was among the first 400. The rest of the backlog
/// is checked to be still queued, not lost, then deleted.
#[test]
fn a_small_tenant_finishes_within_twice_its_turn_taking_place_behind_a_huge_backlog() {
    const TEST: &str = "redis_scale::a_small_tenant_finishes_within_twice_its_turn_taking_place_behind_a_huge_backlog";
    let Some(url) = redis_url(TEST) else { return };
    const BIG: usize = 100_000;
    const SMALL: usize = 100;
    const TOTAL: usize = BIG + SMALL;
    // Strict turns put the small tenant's last job at 2 × SMALL = 200.
    const IDEAL: usize = 2 * SMALL;
    const FIRST: usize = 2 * IDEAL;
    let started = Instant::now();
    let prefix = format!("strata-scale-fair-{}", std::process::id());
    let _cleanup = Cleanup(url.clone(), prefix.clone());
    let s = Strata::new().env(env::REDIS_URL, &url).env(env::REDIS_PREFIX, &prefix);
    s.ok(&["tenant", "add", "big", "--plan", "pro"]);
    s.ok(&["tenant", "add", "small", "--plan", "pro"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let clock = std::sync::Arc::new(strata_core::clock::SystemClock);
    let store = runtime.block_on(Store::open(&s.data(), strata_core::config::Config::default(), clock)).unwrap();
    runtime.block_on(async {
        // The big tenant first: the small tenant's artifacts are then the
        // last the catalog lists as due.
        bulk_ingest(&store, "big", 0..BIG).await;
        bulk_ingest(&store, "small", 0..SMALL).await;
    });
    let seeded = started.elapsed();

    let t = Instant::now();
    s.ok(&["lifecycle", "run", "--live", "--as-of", "+8d"]);
    let stats = s.json(&["queue", "stats"]);
    let default = stats.as_array().unwrap().iter().find(|l| l["lane"] == "default").unwrap().clone();
    assert_eq!(default["waiting"].as_u64(), Some(TOTAL as u64), "every due artifact enqueued: {stats}");
    let planned = t.elapsed();

    let t = Instant::now();
    let mut children = Children::default();
    let worker = children.add(s.command(&["worker"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    // The order of the first completions is final once committed (events
    // are appended in commit order), so the drain can stop as soon as the
    // small tenant is done or 5% of the backlog has completed.
    let promoted = |tenant: Option<&str>| -> usize {
        let filter = EventFilter {
            kind: Some("promoted".into()),
            tenant: tenant.map(|t| TenantId::parse(t).unwrap()),
            ..EventFilter::default()
        };
        runtime.block_on(store.catalog().events(&filter)).unwrap().len()
    };
    wait_for(Duration::from_secs(120), "the small tenant's jobs or the first 400 completions", || {
        promoted(Some("small")) == SMALL || promoted(None) >= FIRST
    });
    assert!(children.stop(worker, "TERM", Duration::from_secs(30)).success(), "graceful stop");
    let drained = t.elapsed();

    let (order, small_warm, done) = runtime.block_on(async {
        let filter = EventFilter { kind: Some("promoted".into()), ..EventFilter::default() };
        let events = store.catalog().events(&filter).await.unwrap();
        let order: Vec<String> = events.iter().map(|e| e.tenant_id.clone().unwrap()).collect();
        let small = ArtifactFilter {
            tenant: Some(TenantId::parse("small").unwrap()),
            tier: Some(Tier::Warm),
            ..ArtifactFilter::default()
        };
        let small_warm = store.list(&small).await.unwrap().len();
        let warm = ArtifactFilter { tier: Some(Tier::Warm), ..ArtifactFilter::default() };
        (order, small_warm, store.list(&warm).await.unwrap().len())
    });
    let small_positions: Vec<usize> =
        order.iter().enumerate().filter(|(_, t)| *t == "small").map(|(i, _)| i + 1).collect();
    let (first_small, last_small) = (small_positions.first(), small_positions.last());
    eprintln!(
        "fairness: seeded {TOTAL} in {seeded:?}, planned and enqueued in {planned:?}, {} completed in {drained:?}; \
         {} of the small tenant's {SMALL} jobs completed, at positions {first_small:?}..={last_small:?} of the drain \
         (turn-taking place {IDEAL}, limit {FIRST})",
        order.len(),
        small_positions.len(),
    );
    assert!(
        small_positions.len() == SMALL && last_small.is_some_and(|&p| p <= FIRST),
        "{} of the small tenant's {SMALL} jobs completed among the first {} of {TOTAL} (last at {last_small:?}; \
         strict turns put it at {IDEAL}, limit 2 × that = {FIRST})",
        small_positions.len(),
        order.len(),
    );
    assert_eq!(small_warm, SMALL, "the catalog agrees: the small tenant's artifacts are warm");
    assert_eq!(done, order.len(), "one promoted event per artifact moved");
    // Nothing was lost: what has not completed is still queued.
    assert_eq!(pending(&s) as usize + done, TOTAL, "completed + still queued = enqueued");
    eprintln!("fairness test took {:?}", started.elapsed());
}

/// Whether `redis-server` can be run; when not, `test` did not run (a
/// failure under CI).
fn redis_server_available(test: &str) -> bool {
    let found = Command::new("redis-server").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    if !found {
        strata_testkit::not_run(test, "redis-server is not on PATH");
    }
    found
}

/// A free TCP port on 127.0.0.1 (free when asked; nothing else here binds it).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// The value of an unlabelled metric on the page a worker serves at
/// `address` (with the tests' admin token).
fn metric(address: &str, name: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let token = common::api::ADMIN;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut page = String::new();
    stream.read_to_string(&mut page).ok()?;
    page.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Starts a private `redis-server` on `port` that persists every write to
/// its append-only file in `dir` before acknowledging it.
fn start_redis(port: u16, dir: &std::path::Path) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
        .args(["--appendonly", "yes", "--appendfsync", "always"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts")
}

/// Whether a Redis server answers PING on `port`.
fn redis_answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    conn.write_all(b"PING\r\n").is_ok() && conn.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

/// The batches the scheduler logged as enqueued (`Scheduler tick planned jobs
/// planned=N`, logged once the queue has accepted them).
fn enqueued(log: &str) -> Vec<usize> {
    let mut plain = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An ANSI colour sequence: ESC [ ... m.
            chars.by_ref().find(|c| *c == 'm');
        } else {
            plain.push(c);
        }
    }
    plain
        .lines()
        .filter(|l| l.contains("Scheduler tick planned jobs"))
        .filter_map(|l| l.split("planned=").nth(1))
        .filter_map(|n| n.split_whitespace().next().and_then(|n| n.parse::<usize>().ok()))
        .collect()
}

/// The CPU time (user and system) process `pid` has used so far, from
/// `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process's stat");
    // The fields after the command name, which is in parentheses and may
    // hold spaces: utime and stime are the 14th and 15th of the line.
    let fields: Vec<&str> = stat.rsplit_once(')').expect("a stat line").1.split_whitespace().collect();
    let ticks: u64 = fields[11..13].iter().map(|f| f.parse::<u64>().expect("clock ticks")).sum();
    let per_second = Command::new("getconf").arg("CLK_TCK").output().expect("getconf runs");
    let per_second: f64 = String::from_utf8_lossy(&per_second.stdout).trim().parse().expect("CLK_TCK");
    Duration::from_secs_f64(ticks as f64 / per_second)
}

/// The `promoted` events and warm artifacts in the catalog.
fn promoted_and_warm(runtime: &tokio::runtime::Runtime, store: &Store) -> (usize, usize) {
    runtime.block_on(async {
        let promoted = EventFilter { kind: Some("promoted".into()), ..EventFilter::default() };
        let warm = ArtifactFilter { tier: Some(Tier::Warm), ..ArtifactFilter::default() };
        (
            store.catalog().events(&promoted).await.expect("events").len(),
            store.list(&warm).await.expect("artifacts").len(),
        )
    })
}

/// Redis unavailable: a worker and a scheduler survive Redis being
/// killed (SIGKILL) mid-drain and restarted on the same port and data
/// directory; commands fail fast naming the URL meanwhile; every job
/// acknowledged as enqueued before the kill completes afterwards, and so do
/// the artifacts the scheduler planned while Redis was down (their enqueue
/// failed, so they are planned again once their claim lapses). Runs only
/// with the other Redis tests (`STRATA_TEST_REDIS_URL`), against a private
/// `redis-server`, never the shared one.
#[test]
fn a_worker_and_a_scheduler_ride_out_a_redis_restart_and_lose_nothing_enqueued() {
    const TEST: &str = "redis_scale::a_worker_and_a_scheduler_ride_out_a_redis_restart_and_lose_nothing_enqueued";
    if redis_url(TEST).is_none() || !redis_server_available(TEST) {
        return;
    }
    const BEFORE: usize = 6_000; // enqueued while Redis is up
    const DURING: usize = 500; // ingested while Redis is down
    let started = Instant::now();
    let redis_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let mut children = Children::default();
    let redis = children.add(start_redis(port, redis_dir.path()));
    wait_for(Duration::from_secs(10), "redis-server to start", || redis_answers(port));

    // Artifacts are due for promotion as soon as they are ingested. The
    // first batch is planned and enqueued by `lifecycle run --live` with the
    // default claim (an hour), so nothing plans it again during the test:
    // each of its jobs must come out of the queue. The scheduler (ticking
    // every second, as of the real time) plans the second batch, ingested
    // while Redis is down, with a 15 s claim, so what it fails to enqueue is
    // planned again soon after.
    let s = Strata::new()
        .env(env::REDIS_URL, &url)
        .env(env::REDIS_PREFIX, "strata-restart")
        .env(env::ADMIN_TOKEN, common::api::ADMIN);
    let config = s.file(
        "strata.toml",
        b"[tiers]\nhot_days = 0\n[jobs]\nartifact_lease_secs = 15\nvisibility_timeout_secs = 2\n\
          backoff_base_ms = 10\nbackoff_max_ms = 200\n[scheduler]\ncron = \"* * * * * *\"\n",
    );
    let hour_claims = s.file("hour.toml", b"[tiers]\nhot_days = 0\n");
    let s = s.env(env::CONFIG, &config);
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut store_config = strata_core::config::Config::default();
    store_config.tiers.hot_days = 0;
    let clock = std::sync::Arc::new(strata_core::clock::SystemClock);
    let store = runtime.block_on(Store::open(&s.data(), store_config, clock)).unwrap();
    runtime.block_on(bulk_ingest(&store, "acme", 0..BEFORE));
    s.ok(&["--config", &hour_claims, "lifecycle", "run", "--live"]);
    assert_eq!(pending(&s), BEFORE as u64, "the first batch is acknowledged as enqueued");

    let spawn_logged = |args: &[&str], log: &str, level: &str| {
        let log = std::fs::File::create(s.path(log)).unwrap();
        s.command(args).env(env::LOG, level).env("NO_COLOR", "1").stdout(Stdio::null()).stderr(log).spawn().unwrap()
    };
    let metrics_at = format!("127.0.0.1:{}", free_port());
    let worker = children.add(spawn_logged(&["worker", "--metrics-listen", &metrics_at], "worker.log", "warn"));
    // At info, the scheduler logs how many jobs each tick enqueued.
    let scheduler = children.add(spawn_logged(&["scheduler"], "scheduler.log", "info"));
    let log = |name: &str| std::fs::read_to_string(s.path(name)).unwrap_or_default();

    // Redis dies with the drain under way.
    wait_for(Duration::from_secs(60), "the drain under way", || promoted_and_warm(&runtime, &store).0 >= 200);
    children.stop(redis, "KILL", Duration::from_secs(10));
    let (at_kill, _) = promoted_and_warm(&runtime, &store);
    assert!(at_kill < BEFORE, "Redis must die mid-drain ({at_kill} of {BEFORE} already done)");
    let outage = Instant::now();

    // Commands fail fast, naming the URL.
    let t = Instant::now();
    let err = s.fails(&["queue", "stats"], 1);
    let failed_in = t.elapsed();
    assert!(err.contains(&url), "the error names the URL: {err}");
    assert!(failed_in < Duration::from_secs(10), "queue stats took {failed_in:?} to fail");

    // More work arrives while Redis is down: the scheduler plans it and
    // cannot enqueue it.
    runtime.block_on(bulk_ingest(&store, "acme", BEFORE..BEFORE + DURING));
    // Fetches fail while Redis is down. For several seconds both processes
    // stay up, and the worker backs off: its own metrics show the failed
    // fetches and a wait that doubles from 200 ms up to its 5 s cap.
    const WINDOW: Duration = Duration::from_secs(8);
    let cpu_at = cpu_time(worker);
    let window = Instant::now();
    let mut waits = std::collections::BTreeSet::new();
    while window.elapsed() < WINDOW {
        assert!(children.running(worker), "the worker exited without Redis:\n{}", log("worker.log"));
        assert!(children.running(scheduler), "the scheduler exited without Redis:\n{}", log("scheduler.log"));
        if let Some(wait) = metric(&metrics_at, "strata_worker_fetch_retry_seconds") {
            waits.insert((wait * 1000.0).round() as u64);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let busy = cpu_time(worker) - cpu_at;
    let failures = metric(&metrics_at, "strata_worker_fetch_failures_total").expect("the worker's metrics answer");
    assert!(failures >= 3.0, "the worker kept trying to fetch ({failures} failed fetches in {WINDOW:?})");
    // Scrapes are slower than the first waits, so not every step is seen;
    // every wait seen is a step of the doubling, and it climbs to the cap.
    let steps = [200, 400, 800, 1600, 3200, 5000];
    let grew: Vec<u64> = waits.iter().copied().filter(|ms| *ms > 0).collect();
    assert!(
        grew.iter().all(|ms| steps.contains(ms)) && grew.len() >= 3 && grew.last() == Some(&5000),
        "the wait between failed fetches doubles from 200 ms up to 5 s: {grew:?} ms"
    );
    let (during_outage, _) = promoted_and_warm(&runtime, &store);
    let down_for = outage.elapsed();

    let failed_enqueues = |log: &str| log.matches("Enqueueing failed").count();
    let failed_while_down = failed_enqueues(&log("scheduler.log"));

    // Redis returns on the same port, from its append-only file. The
    // worker's fetch backoff is capped (5 s), so it resumes within seconds.
    let redis = children.add(start_redis(port, redis_dir.path()));
    wait_for(Duration::from_secs(10), "redis-server to restart", || redis_answers(port));
    let warm_at_restart = promoted_and_warm(&runtime, &store).1;
    let t = Instant::now();
    wait_for(Duration::from_secs(30), "the worker to resume after the restart", || {
        promoted_and_warm(&runtime, &store).1 > warm_at_restart
    });
    let resumed_in = t.elapsed();
    assert_eq!(
        metric(&metrics_at, "strata_worker_fetch_retry_seconds"),
        Some(0.0),
        "the worker fetches without waiting again once Redis is back"
    );
    // The scheduler retries an enqueue for a few seconds; a batch whose
    // retries all fell inside the outage is planned again once its claim
    // lapses.
    wait_for(Duration::from_secs(120), "every artifact promoted after the restart", || {
        promoted_and_warm(&runtime, &store).1 == BEFORE + DURING
    });
    wait_for(Duration::from_secs(60), "the queue drained (stale redeliveries acknowledged)", || pending(&s) == 0);
    let recovered_in = t.elapsed();
    let (promoted, warm) = promoted_and_warm(&runtime, &store);
    assert_eq!(warm, BEFORE + DURING, "every artifact is warm");
    assert_eq!(promoted, BEFORE + DURING, "each promoted exactly once in effect");
    assert!(s.json(&["dlq", "list"]).as_array().unwrap().is_empty(), "nothing dead-lettered");
    assert!(children.running(worker) && children.running(scheduler), "the same processes did the work");
    // The second batch may be enqueued more than once: its claim is short
    // here, and a duplicate delivery is a no-op (each artifact was promoted
    // once, above). The first batch, claimed for an hour, is never planned
    // again: it came back out of Redis.
    let batches = enqueued(&log("scheduler.log"));
    assert!(
        batches.iter().sum::<usize>() >= DURING && batches.iter().all(|n| *n <= DURING),
        "the scheduler enqueued the second batch, and only it: {batches:?}"
    );
    eprintln!(
        "restart: {at_kill} of {BEFORE} promoted when Redis was killed, {during_outage} during the outage \
         ({down_for:?}, worker CPU {busy:?} in {WINDOW:?} of it, {failed_while_down} failed enqueues, queue stats failed \
         in {failed_in:?}); work resumed {resumed_in:?} and all {} was done {recovered_in:?} after the restart ({} \
         failed enqueues after it); test took {:?}",
        BEFORE + DURING,
        failed_enqueues(&log("scheduler.log")) - failed_while_down,
        started.elapsed()
    );
    assert!(children.stop(worker, "TERM", Duration::from_secs(30)).success(), "{}", log("worker.log"));
    assert!(children.stop(scheduler, "TERM", Duration::from_secs(30)).success(), "{}", log("scheduler.log"));
    children.stop(redis, "TERM", Duration::from_secs(10));
}
