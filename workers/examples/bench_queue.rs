//! Queue benchmark on Redis: enqueue/s and drain/s of no-op jobs through
//! strata's Redis queue (fetch in batches, ack in batches; 1 and 2 concurrent
//! consumers), next to a raw baseline on the same server in the same run — a
//! pipelined `XADD` loop and an `XREADGROUP` + `XACK`/`XDEL` consumer.
//!
//! Run: `STRATA_BENCH_REDIS_URL=redis://127.0.0.1:6379 cargo run --release -p strata-workers --example bench_queue [-- N]`

#![allow(clippy::unwrap_used, reason = "a benchmark stops at its first failure")]

use redis::AsyncCommands;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_core::clock::SystemClock;
use strata_workers::queue::redis::RedisQueue;
use strata_workers::queue::{NewJob, Queue};

const BATCH: usize = 512;

/// `XREADGROUP`'s reply: per stream, its entries (id, fields).
type ReadReply = Vec<(String, Vec<(String, Vec<String>)>)>;

async fn strata_run(url: &str, n: usize, consumers: usize) -> (f64, f64) {
    let prefix = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let queue = Arc::new(RedisQueue::connect(url, &prefix, Arc::new(SystemClock)).await.unwrap());
    let jobs: Vec<NewJob> =
        (0..n).map(|i| NewJob { lane: "default".into(), kind: "noop".into(), payload: i.to_string() }).collect();
    let t = Instant::now();
    for chunk in jobs.chunks(10_000) {
        queue.enqueue(chunk).await.unwrap();
    }
    let enqueue = n as f64 / t.elapsed().as_secs_f64();
    let lanes = vec!["default".to_owned()];
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..consumers {
        let queue = queue.clone();
        let lanes = lanes.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0usize;
            loop {
                let batch = queue.fetch(&lanes, BATCH, Duration::from_secs(30)).await.unwrap();
                if batch.is_empty() {
                    return done;
                }
                done += batch.len();
                queue.ack(&batch).await.unwrap();
            }
        }));
    }
    let mut drained = 0;
    for t in tasks {
        drained += t.await.unwrap();
    }
    assert_eq!(drained, n);
    let drain = n as f64 / t.elapsed().as_secs_f64();
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
    let mut done = 0;
    while done < n {
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
        let mut pipe = redis::pipe();
        pipe.cmd("XACK").arg(&key).arg("g").arg(&ids).ignore();
        pipe.cmd("XDEL").arg(&key).arg(&ids).ignore();
        pipe.query_async::<()>(&mut con).await.unwrap();
    }
    assert_eq!(done, n);
    let drain = n as f64 / t.elapsed().as_secs_f64();
    let _: () = con.del(&key).await.unwrap();
    (enqueue, drain)
}

async fn cleanup(url: &str, prefix: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = con.keys(format!("{prefix}:*")).await.unwrap();
    if !keys.is_empty() {
        let _: () = con.del(keys).await.unwrap();
    }
}

#[tokio::main]
async fn main() {
    let url = std::env::var("STRATA_BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let (raw_enqueue, raw_drain) = raw_run(&url, n).await;
    let (enqueue_1, drain_1) = strata_run(&url, n, 1).await;
    let (_, drain_2) = strata_run(&url, n, 2).await;
    println!(
        "queue benchmark: {n} no-op jobs, batches of {BATCH}, Redis at {}",
        strata_workers::queue::redis::redact(&url)
    );
    println!("{:<34} {:>12} {:>10}", "", "jobs/s", "vs raw");
    println!("{:<34} {:>12.0} {:>10}", "raw pipelined XADD", raw_enqueue, "");
    println!("{:<34} {:>12.0} {:>9.2}x", "strata enqueue", enqueue_1, enqueue_1 / raw_enqueue);
    println!("{:<34} {:>12.0} {:>10}", "raw XREADGROUP + XACK/XDEL", raw_drain, "");
    println!("{:<34} {:>12.0} {:>9.2}x", "strata drain, 1 consumer", drain_1, drain_1 / raw_drain);
    println!("{:<34} {:>12.0} {:>9.2}x", "strata drain, 2 consumers", drain_2, drain_2 / raw_drain);
}
