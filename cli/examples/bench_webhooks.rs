//! Webhook delivery benchmark, on the embedded profile: N artifacts of one
//! tenant are erased by the real workers; each `erased` event becomes a
//! notice (read from the event log by the scheduler's notice loop), a
//! `webhook` job on the queue, and a signed POST to a receiver on loopback
//! that answers 200 at once. It prints deliveries per second from a backlog
//! of N logged events, and the delay from each event to its delivery (p50,
//! p99, max) at a steady 500 events a second, for the default poll interval
//! and for 100 ms; next to a baseline measured in the same run: the same N
//! signed bodies POSTed to the same receiver through the same client with
//! the same concurrency, with no event log, catalog or queue between.
//!
//! Run: `cargo run --release -p strata-cli --example bench_webhooks [-- N]`

#![allow(clippy::unwrap_used, reason = "a benchmark stops at its first failure")]

use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strata_core::clock::SystemClock;
use strata_core::config::Config;
use strata_core::id::{ArtifactKey, TenantId};
use strata_core::retention::Target;
use strata_core::store::{PutOptions, Store};
use strata_core::webhook::WebhookDelivery;
use strata_jobs::handlers::Context;
use strata_jobs::notify::Sender;
use strata_jobs::payload::{DEFAULT_LANE, PRIORITY_LANE};
use strata_jobs::planner::plan_erase;
use strata_queue::Queue;
use strata_queue::message::to_new_jobs;
use strata_queue::sqlite::SqliteQueue;
use strata_workers::pool::{Mode, WorkerPool};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// What the receiver saw: when each body arrived.
type Seen = Arc<Mutex<Vec<(DateTime<Utc>, String)>>>;

/// Events per second in the steady runs.
const STEADY_RATE: usize = 500;

/// A minimal HTTP/1.1 endpoint with keep-alive that answers 200 to every POST.
async fn receiver() -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let seen = seen2.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if read.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    seen.lock().unwrap().push((Utc::now(), String::from_utf8(body).unwrap()));
                    if write.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, seen)
}

/// p50, p99 and max of `values`, sorted in place.
fn percentiles(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |p: f64| values[((values.len() as f64 * p).ceil() as usize).clamp(1, values.len()) - 1];
    (at(0.50), at(0.99), values[values.len() - 1])
}

/// Delivers N notices through strata; returns (deliveries/s, p50, p99, max
/// delay in ms). With `backlog`, the N events are all logged before the
/// notice loop starts, and the rate counts from its start (the pipeline's
/// throughput); without, erasures log them at [`STEADY_RATE`] a second
/// and the delay is that of steady operation.
async fn through_strata(n: usize, poll_ms: u64, backlog: bool) -> (f64, f64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.webhooks.allow_private = true;
    config.webhooks.poll_interval_ms = poll_ms;
    let store = Store::open(dir.path(), config, Arc::new(SystemClock)).await.unwrap();
    let queue = SqliteQueue::new(store.catalog().job_queue().unwrap(), store.clock().clone());
    let acme = TenantId::parse("acme").unwrap();
    store.add_tenant(&acme, "free", "bench").await.unwrap();
    for i in 0..n {
        let key = ArtifactKey::parse(&format!("acme/wf/a{i:06}")).unwrap();
        store.put(&key, format!("artifact {i}").as_bytes(), PutOptions::default()).await.unwrap();
    }
    let (url, seen) = receiver().await;
    let events = vec!["erased".to_owned()];
    store.add_webhook(&acme, &url, &events, Some("a-signing-secret-for-bench".into()), "bench").await.unwrap();

    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let queue: Arc<dyn Queue> = Arc::new(queue);
    // Erasures (the priority lane) and deliveries (the default lane) have
    // pools of their own, so deliveries never wait behind the erasures.
    let pool = |lanes: &[&str]| {
        let pool = WorkerPool::new(
            queue.clone(),
            Context::new(store.clone(), "bench"),
            lanes.iter().map(|l| (*l).to_owned()).collect(),
        );
        let shutdown = shutdown.clone();
        tokio::spawn(async move { pool.run(Mode::UntilShutdown, shutdown).await })
    };
    let erasers = pool(&[PRIORITY_LANE]);
    let erasure = plan_erase(&store, &Target::Tenant(acme), "bench", "bench").await.unwrap();
    let jobs = to_new_jobs(&erasure.jobs, store.config());
    let start_notices = || {
        let (store, queue, shutdown) = (store.clone(), queue.clone(), shutdown.clone());
        tokio::spawn(async move { strata_workers::scheduler::notify(&store, queue.as_ref(), shutdown).await })
    };
    let (notices, deliverers) = if backlog {
        queue.enqueue(&jobs).await.unwrap();
        while queue.stats().await.unwrap().iter().map(|s| s.pending()).sum::<u64>() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (start_notices(), pool(&[DEFAULT_LANE]))
    } else {
        let started = (start_notices(), pool(&[DEFAULT_LANE]));
        // Events at a steady STEADY_RATE per second, below what the
        // pipeline carries, in chunks every 100 ms.
        for chunk in jobs.chunks(STEADY_RATE / 10) {
            queue.enqueue(chunk).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        started
    };
    let started = Utc::now();
    let deadline = Instant::now() + Duration::from_secs(600);
    while seen.lock().unwrap().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    erasers.await.unwrap().unwrap();
    deliverers.await.unwrap().unwrap();
    notices.await.unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), n, "every notice delivered once (a receiver that always answers sees no duplicate)");
    let mut delays: Vec<f64> = seen
        .iter()
        .map(|(at, body)| {
            let body: serde_json::Value = serde_json::from_str(body).unwrap();
            let occurred: DateTime<Utc> = body["occurred_at"].as_str().unwrap().parse().unwrap();
            (*at - occurred).num_microseconds().unwrap() as f64 / 1000.0
        })
        .collect();
    let first = if backlog { started } else { seen.iter().map(|(at, _)| *at).min().unwrap() };
    let last = seen.iter().map(|(at, _)| *at).max().unwrap();
    let span = (last - first).num_microseconds().unwrap().max(1) as f64 / 1e6;
    let (p50, p99, max) = percentiles(&mut delays);
    (n as f64 / span, p50, p99, max)
}

/// The same N signed POSTs straight from the sender, 16 at a time (the
/// workers' default concurrency); returns deliveries/s.
async fn raw(n: usize) -> f64 {
    let (url, seen) = receiver().await;
    let mut config = Config::default().webhooks;
    config.allow_private = true;
    let sender = Sender::new(&config).unwrap();
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..Config::default().jobs.concurrency {
        let (sender, url, next) = (sender.clone(), url.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let body = serde_json::json!({ "id": format!("evt-{i}"), "type": "erased", "tenant": "acme",
                    "sequence": i, "occurred_at": Utc::now().to_rfc3339(), "artifact": { "workflow": "wf", "name": format!("a{i:06}") },
                    "actor": "bench", "reason": "bench", "data": {} });
                let notice = WebhookDelivery {
                    id: i as i64,
                    webhook_id: "wh_bench".into(),
                    tenant: "acme".into(),
                    event: "erased".into(),
                    idempotency_key: format!("evt-{i}"),
                    body: body.to_string(),
                    occurred_at: Utc::now(),
                    attempts: 0,
                    delivered_at: None,
                    last_status: None,
                    last_error: None,
                };
                sender.send(&url, "a-signing-secret-for-bench", &notice, Utc::now().timestamp()).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    assert_eq!(seen.lock().unwrap().len(), n);
    rate
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5000);
    println!("webhook deliveries of {n} `erased` notices to a receiver on loopback (embedded profile)");
    let baseline = raw(n).await;
    println!("{:<44} {:>10.0} deliveries/s", "raw signed POSTs (same client, 16 at a time)", baseline);
    let default_poll = Config::default().webhooks.poll_interval_ms;
    let (rate, ..) = through_strata(n, default_poll, true).await;
    println!(
        "{:<44} {:>10.0} deliveries/s ({:.2}x raw)",
        "strata, a backlog of N logged events",
        rate,
        rate / baseline
    );
    for poll in [default_poll, 100] {
        let (rate, p50, p99, max) = through_strata(n, poll, false).await;
        println!(
            "{:<44} {:>10.0} deliveries/s  event→delivery p50 {:.0} ms  p99 {:.0} ms  max {:.0} ms",
            format!("strata, {STEADY_RATE} events/s, poll_interval_ms = {poll}"),
            rate,
            p50,
            p99,
            max
        );
    }
}
