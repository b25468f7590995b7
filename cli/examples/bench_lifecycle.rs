//! Lifecycle benchmark on the embedded profile: ingests N artifacts of 4 KiB,
//! then moves them hot → warm → cold through the real planner, queue and
//! workers, next to a raw baseline measured in the same run: the same bytes
//! written, copied and compressed between plain directories with the same
//! concurrency. When strata syncs (`storage.fsync`, the default), so does
//! the baseline: each file is fsynced, renamed into place and its directory
//! fsynced before the next step (and before a moved source is deleted).
//!
//! Run: `cargo run --release -p strata-cli --example bench_lifecycle [-- N]`
//! (`-- N strata` skips the baseline, for profiling; `STRATA_FSYNC=false`
//! measures both without syncing.)

#![allow(clippy::unwrap_used, reason = "a benchmark stops at its first failure")]

use chrono::Duration;
use futures::StreamExt;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use strata_core::clock::SystemClock;
use strata_core::config::Config;
use strata_core::id::{ArtifactKey, TenantId};
use strata_core::store::{PutOptions, Store};
use strata_jobs::handlers::Context;
use strata_workers::pool::{Mode, WorkerPool, default_lanes};
use strata_workers::queue::Queue;
use strata_workers::queue::sqlite::SqliteQueue;
use strata_workers::scheduler::plan_and_enqueue;

const SIZE: usize = 4096;

fn payloads(n: usize) -> Vec<Vec<u8>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    (0..n)
        .map(|i| {
            // Half text-like (compressible), half random, all distinct.
            let mut b = vec![0u8; SIZE];
            if i % 2 == 0 {
                let line = format!("artifact {i:08} build log line with some repetition\n");
                for (k, byte) in b.iter_mut().enumerate() {
                    *byte = line.as_bytes()[k % line.len()];
                }
            } else {
                rng.fill(&mut b[..]);
            }
            b[..8].copy_from_slice(&(i as u64).to_le_bytes());
            b
        })
        .collect()
}

/// The raw files use the same two-hex-digit fan-out as strata's tiers.
fn raw_path(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("{:02x}", i % 256)).join(i.to_string())
}

async fn make_fan_out(dir: &Path) {
    for k in 0..256 {
        tokio::fs::create_dir_all(dir.join(format!("{k:02x}"))).await.unwrap();
    }
}

/// Writes `bytes` to a temporary file and renames it to `dest`; with `sync`,
/// the file is fsynced before the rename and the directory after it.
fn write_file(dest: &Path, bytes: &[u8], sync: bool) {
    use std::io::Write;
    let tmp = dest.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).unwrap();
    file.write_all(bytes).unwrap();
    if sync {
        file.sync_all().unwrap();
    }
    drop(file);
    std::fs::rename(&tmp, dest).unwrap();
    if sync {
        std::fs::File::open(dest.parent().unwrap()).unwrap().sync_all().unwrap();
    }
}

async fn raw_write(dir: &Path, data: &[Vec<u8>], concurrency: usize, sync: bool) -> f64 {
    make_fan_out(dir).await;
    let t = Instant::now();
    futures::stream::iter(data.iter().enumerate())
        .for_each_concurrent(concurrency, |(i, bytes)| async move {
            let dest = raw_path(dir, i);
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || write_file(&dest, &bytes, sync)).await.unwrap();
        })
        .await;
    data.len() as f64 / t.elapsed().as_secs_f64()
}

async fn raw_move(from: &Path, to: &Path, n: usize, concurrency: usize, level: Option<i32>, sync: bool) -> f64 {
    make_fan_out(to).await;
    let t = Instant::now();
    futures::stream::iter(0..n)
        .for_each_concurrent(concurrency, |i| async move {
            let src = raw_path(from, i);
            let bytes = tokio::fs::read(&src).await.unwrap();
            let out = match level {
                Some(l) => tokio::task::spawn_blocking(move || zstd::encode_all(&bytes[..], l).unwrap()).await.unwrap(),
                None => bytes,
            };
            let dest = raw_path(to, i);
            tokio::task::spawn_blocking(move || write_file(&dest, &out, sync)).await.unwrap();
            tokio::fs::remove_file(src).await.unwrap();
        })
        .await;
    n as f64 / t.elapsed().as_secs_f64()
}

async fn transition(store: &Store, queue: &Arc<dyn Queue>, days: i64) -> (usize, f64) {
    let t = Instant::now();
    let plan = plan_and_enqueue(store, queue.as_ref(), store.now() + Duration::days(days), "bench").await.unwrap();
    let pool = WorkerPool::new(queue.clone(), Context::new(store.clone(), "bench"), default_lanes());
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let report = pool.run(Mode::UntilDrained, rx).await.unwrap();
    assert_eq!(report.dead_lettered, 0);
    (plan.jobs.len(), plan.jobs.len() as f64 / t.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let with_baseline = std::env::args().nth(2).is_none_or(|s| s != "strata");
    let dir = tempfile::tempdir().unwrap();
    let config = Config::load(None).expect("configuration from the environment");
    let concurrency = config.jobs.concurrency;
    let level = config.tiers.compression_level;
    let sync = config.storage.fsync;
    let data = payloads(n);

    let store = Store::open(&dir.path().join("strata"), config, Arc::new(SystemClock)).await.unwrap();
    let tenant = TenantId::parse("bench").unwrap();
    store.add_tenant(&tenant, "pro", "bench").await.unwrap();
    let queue: Arc<dyn Queue> = Arc::new(SqliteQueue::new(store.catalog().job_queue().unwrap(), store.clock().clone()));
    let t = Instant::now();
    futures::stream::iter(data.iter().enumerate())
        .for_each_concurrent(concurrency, |(i, bytes)| {
            let store = &store;
            async move {
                let key = ArtifactKey::parse(&format!("bench/run/a{i:06}.bin")).unwrap();
                store.put(&key, &bytes[..], PutOptions::default()).await.unwrap();
            }
        })
        .await;
    let ingest = n as f64 / t.elapsed().as_secs_f64();
    let (n_warm, warm) = transition(&store, &queue, 8).await;
    let (n_cold, cold) = transition(&store, &queue, 31).await;
    assert_eq!((n_warm, n_cold), (n, n));

    // The baseline runs second: deleting many files slows later inode
    // allocation on some filesystems, and the baseline should not gain from it.
    let (mut raw_ingest, mut raw_warm, mut raw_cold) = (f64::NAN, f64::NAN, f64::NAN);
    if with_baseline {
        let raw: PathBuf = dir.path().join("raw");
        raw_ingest = raw_write(&raw.join("hot"), &data, concurrency, sync).await;
        raw_warm = raw_move(&raw.join("hot"), &raw.join("warm"), n, concurrency, None, sync).await;
        raw_cold = raw_move(&raw.join("warm"), &raw.join("cold"), n, concurrency, Some(level), sync).await;
    }

    println!(
        "strata lifecycle benchmark: {n} artifacts of {SIZE} B, concurrency {concurrency}, zstd level {level}, fsync {}",
        if sync { "on" } else { "off" }
    );
    println!("{:<22} {:>14} {:>14} {:>7}", "step", "strata /s", "raw files /s", "ratio");
    for (step, ours, base) in
        [("ingest (hot)", ingest, raw_ingest), ("hot -> warm", warm, raw_warm), ("warm -> cold (zstd)", cold, raw_cold)]
    {
        println!("{step:<22} {ours:>14.0} {base:>14.0} {:>6.2}x", ours / base);
    }
}
