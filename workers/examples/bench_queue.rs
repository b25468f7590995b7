//! Queue benchmark on Redis: enqueue/s and drain/s of no-op jobs through
//! strata's Redis queue with 1 and 2 consumer processes, next to a raw
//! baseline on the same server in the same run: a pipelined `XADD` loop and
//! an `XREADGROUP` consumer that keeps reading while its `XACK`/`XDEL`s are
//! in flight on a second connection. Every consumer, raw or strata, fetches
//! in batches and hands each batch to an acknowledging task, as the worker
//! pool does.
//!
//! With `STRATA_BENCH_BULLMQ_DIR` set to a directory holding the BullMQ peer
//! (`../shared/bench/bullmq` after `npm install`), its `bench.js` runs on the
//! same Redis in the same run and its figures are printed alongside.
//!
//! Run: `STRATA_BENCH_REDIS_URL=redis://127.0.0.1:6379 cargo run --release -p strata-workers --example bench_queue [-- N [ROUNDS]]`
//! (defaults: 100,000 jobs, 3 rounds; each figure is the median of the rounds)

#![allow(clippy::unwrap_used, reason = "a benchmark stops at its first failure")]

use redis::AsyncCommands;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_core::clock::SystemClock;
use strata_workers::queue::redis::RedisQueue;
use strata_workers::queue::{Delivery, NewJob, Queue};
use tokio::sync::mpsc;

const BATCH: usize = 512;

/// `XREADGROUP`'s reply: per stream, its entries (id, fields).
type ReadReply = Vec<(String, Vec<(String, Vec<String>)>)>;

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

/// Enqueues `n` jobs on the default lane, then drains them with `processes`
/// consumer processes polling `lanes` (comma-separated, in order).
async fn strata_run(url: &str, n: usize, processes: usize, lanes: &str) -> (f64, f64) {
    let prefix = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let queue = RedisQueue::connect(url, &prefix, Arc::new(SystemClock)).await.unwrap();
    let jobs: Vec<NewJob> =
        (0..n).map(|i| NewJob { lane: "default".into(), kind: "noop".into(), payload: i.to_string() }).collect();
    let t = Instant::now();
    for chunk in jobs.chunks(10_000) {
        queue.enqueue(chunk).await.unwrap();
    }
    let enqueue = n as f64 / t.elapsed().as_secs_f64();
    let exe = std::env::current_exe().unwrap();
    let t = Instant::now();
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
    let drain = n as f64 / t.elapsed().as_secs_f64();
    assert_eq!(drained, n);
    cleanup(url, &prefix).await;
    (enqueue, drain)
}

async fn raw_run(url: &str, n: usize) -> (f64, f64) {
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
    let t = Instant::now();
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
    let drain = n as f64 / t.elapsed().as_secs_f64();
    let _: () = con.del(&key).await.unwrap();
    (enqueue, drain)
}

/// The BullMQ peer's enqueue and drain rates, if its directory is given.
fn bullmq_run(url: &str, n: usize) -> Option<(f64, f64)> {
    let dir = std::env::var("STRATA_BENCH_BULLMQ_DIR").ok()?;
    let port = url.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse::<u16>().ok()).unwrap_or(6379);
    let out = std::process::Command::new("node")
        .args(["bench.js", &n.to_string(), "50", "1000"])
        .current_dir(&dir)
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
    // raw enqueue, raw drain, strata enqueue, strata drain with 1 and 2
    // processes, and with 1 process polling an empty priority lane first (as
    // a default worker does)
    let mut figures: [Vec<f64>; 6] = Default::default();
    for _ in 0..rounds {
        let (raw_enqueue, raw_drain) = raw_run(&url, n).await;
        let (enqueue_1, drain_1) = strata_run(&url, n, 1, "default").await;
        let (_, drain_2) = strata_run(&url, n, 2, "default").await;
        let (_, drain_lanes) = strata_run(&url, n, 1, "priority,default").await;
        for (all, v) in figures.iter_mut().zip([raw_enqueue, raw_drain, enqueue_1, drain_1, drain_2, drain_lanes]) {
            all.push(v);
        }
    }
    let [raw_enqueue, raw_drain, enqueue_1, drain_1, drain_2, drain_lanes] = figures.map(median);
    let bullmq = bullmq_run(&url, n);
    println!(
        "queue benchmark: {n} no-op jobs, batches of {BATCH}, Redis at {}, median of {rounds} rounds",
        strata_workers::queue::redis::redact(&url)
    );
    println!("{:<36} {:>12} {:>10}", "", "jobs/s", "vs raw");
    println!("{:<36} {:>12.0} {:>10}", "raw pipelined XADD", raw_enqueue, "");
    println!("{:<36} {:>12.0} {:>9.2}x", "strata enqueue", enqueue_1, enqueue_1 / raw_enqueue);
    if let Some((enqueue, _)) = bullmq {
        println!("{:<36} {:>12.0} {:>9.2}x", "BullMQ addBulk", enqueue, enqueue / raw_enqueue);
    }
    println!("{:<36} {:>12.0} {:>10}", "raw XREADGROUP, XACK/XDEL in flight", raw_drain, "");
    println!("{:<36} {:>12.0} {:>9.2}x", "strata drain, 1 process", drain_1, drain_1 / raw_drain);
    println!("{:<36} {:>12.0} {:>9.2}x", "strata drain, 2 processes", drain_2, drain_2 / raw_drain);
    println!("{:<36} {:>12.0} {:>9.2}x", "strata drain, 1 process, 2 lanes", drain_lanes, drain_lanes / raw_drain);
    if let Some((_, drain)) = bullmq {
        println!("{:<36} {:>12.0} {:>9.2}x", "BullMQ drain, concurrency 50", drain, drain / raw_drain);
    }
}
