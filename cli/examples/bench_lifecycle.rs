//! Lifecycle benchmark: ingests N artifacts of 4 KiB, then moves them hot →
//! warm → cold through the real planner, queue and workers, on the embedded
//! profile (SQLite catalog and queue) and on PostgreSQL with the Redis queue
//! (`STRATA_TEST_DATABASE_URL`, `STRATA_TEST_REDIS_URL`, else the local
//! servers; a fresh schema and key prefix, removed afterwards), next to a
//! raw baseline measured in the same run: the same bytes written, copied and
//! compressed between plain directories with the same concurrency. When
//! strata syncs (`storage.fsync`, the default), so does the baseline: each
//! file is fsynced, renamed into place and its directory fsynced before the
//! next step (and before a moved source is deleted). Workers fetch 256 jobs
//! at a time with 256 job slots (`STRATA_WORKER_CONCURRENCY` overrides the
//! slots); the catalog statements each transition costs are counted.
//!
//! Run: `cargo run --release -p strata-cli --example bench_lifecycle [-- N]`
//! (`-- N strata` skips the baseline, for profiling; `-- N sqlite` or
//! `-- N postgres` runs one catalog and the baseline; `STRATA_FSYNC=false`
//! measures both without syncing.)
//!
//! `-- N s3` runs the S3 profile instead: the tiers in a bucket of a moto
//! server on loopback (started here), the catalog on PostgreSQL with the
//! Redis queue, next to plain S3 requests through the same client with the
//! same concurrency: PUT (what ingest does), GET, server-side COPY, and a
//! move by hand (GET, PUT, DELETE: what a tier move does, compressed into
//! the cold tier).

#![allow(clippy::unwrap_used, reason = "a benchmark stops at its first failure")]

use chrono::Duration;
use futures::StreamExt;
use rand::{Rng, SeedableRng};
use redis::AsyncCommands;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use strata_core::catalog::statements;
use strata_core::clock::SystemClock;
use strata_core::config::{Config, Secret, TierLocation, env};
use strata_core::id::{ArtifactKey, TenantId};
use strata_core::store::{PutOptions, Store};
use strata_jobs::handlers::Context;
use strata_queue::Queue;
use strata_queue::lanes::default_lanes;
use strata_queue::plan::plan_and_enqueue;
use strata_queue::sqlite::SqliteQueue;
use strata_workers::pool::{Mode, WorkerPool};
use strata_workers::queue::redis::RedisQueue;

/// Jobs fetched at a time.
const BATCH: usize = 256;

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

/// A step's rate (per second) and the catalog statements it cost per artifact.
#[derive(Clone, Copy)]
struct Step {
    rate: f64,
    statements: f64,
}

impl Step {
    const NONE: Step = Step { rate: f64::NAN, statements: f64::NAN };
}

async fn transition(store: &Store, queue: &Arc<dyn Queue>, days: i64, n: usize) -> Step {
    let (t, before) = (Instant::now(), statements());
    let plan = plan_and_enqueue(store, queue.as_ref(), store.now() + Duration::days(days), "bench").await.unwrap();
    assert_eq!(plan.jobs.len(), n);
    let pool = WorkerPool::new(queue.clone(), Context::new(store.clone(), "bench"), default_lanes());
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let report = pool.run(Mode::UntilDrained, rx).await.unwrap();
    assert_eq!((report.finished(), report.dead_lettered), (n as u64, 0), "{report:?}");
    Step { rate: n as f64 / t.elapsed().as_secs_f64(), statements: (statements() - before) as f64 / n as f64 }
}

/// Ingest, hot → warm and warm → cold on `store` with `queue`.
async fn lifecycle(store: &Store, queue: Arc<dyn Queue>, data: &[Vec<u8>], concurrency: usize) -> [Step; 3] {
    let n = data.len();
    store.add_tenant(&TenantId::parse("bench").unwrap(), "pro", "bench").await.unwrap();
    let (t, before) = (Instant::now(), statements());
    futures::stream::iter(data.iter().enumerate())
        .for_each_concurrent(concurrency, |(i, bytes)| async move {
            let key = ArtifactKey::parse(&format!("bench/run/a{i:06}.bin")).unwrap();
            store.put(&key, &bytes[..], PutOptions::default()).await.unwrap();
        })
        .await;
    let ingest =
        Step { rate: n as f64 / t.elapsed().as_secs_f64(), statements: (statements() - before) as f64 / n as f64 };
    let warm = transition(store, &queue, 8, n).await;
    let cold = transition(store, &queue, 31, n).await;
    [ingest, warm, cold]
}

/// The same lifecycle on PostgreSQL with the Redis queue, when both answer.
async fn on_postgres(config: &Config, data: &[Vec<u8>], concurrency: usize) -> Option<[Step; 3]> {
    const WHO: &str = "bench_lifecycle (PostgreSQL)";
    let (base, redis_url) = (strata_testkit::database_url(WHO)?, strata_testkit::redis_url(WHO)?);
    let schema = strata_testkit::pg::Schema::create(&base);
    let dir = tempfile::tempdir().unwrap();
    let mut config = config.clone();
    config.catalog.url = Some(schema.url().to_owned());
    let store = Store::open(&dir.path().join("strata"), config, Arc::new(SystemClock)).await.unwrap();
    let prefix = format!("strata-bench-{}", uuid::Uuid::new_v4().simple());
    let queue = RedisQueue::connect(&redis_url, &prefix, store.clock().clone()).await.unwrap();
    let steps = lifecycle(&store, Arc::new(queue), data, concurrency).await;
    let mut con = redis::Client::open(redis_url).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = con.keys(format!("{prefix}:*")).await.unwrap();
    if !keys.is_empty() {
        let _: () = con.del(keys).await.unwrap();
    }
    Some(steps)
}

/// The S3 profile: strata on moto, then the same objects by hand.
mod s3 {
    use super::*;
    use object_store::aws::AmazonS3Builder;
    use object_store::path::Path as ObjectPath;
    use object_store::{ObjectStoreExt, PutPayload};
    use strata_testkit::emulators::{Emulator, Kind};

    const BUCKET: &str = "bench";
    const ACCESS_KEY: &str = "strata-bench";
    const SECRET: &str = "strata-bench-secret";

    fn location(endpoint: &str, tier: &str) -> TierLocation {
        TierLocation {
            endpoint: Some(endpoint.to_owned()),
            region: Some("us-east-1".into()),
            allow_http: Some(true),
            access_key_id: Some(ACCESS_KEY.into()),
            secret_access_key: Some(Secret::new(SECRET)),
            ..TierLocation::new(format!("s3://{BUCKET}/{tier}"))
        }
    }

    /// Rates of the plain requests, per object.
    struct Raw {
        put: f64,
        get: f64,
        copy: f64,
        moved: f64,
        compressed: f64,
    }

    async fn each<F: Future<Output = ()>>(n: usize, concurrency: usize, f: impl Fn(usize) -> F) -> f64 {
        let t = Instant::now();
        futures::stream::iter(0..n).for_each_concurrent(concurrency, f).await;
        n as f64 / t.elapsed().as_secs_f64()
    }

    /// The plain requests, through the client strata's tiers use.
    async fn raw(endpoint: &str, data: &[Vec<u8>], concurrency: usize, level: i32) -> Raw {
        let store = AmazonS3Builder::new()
            .with_endpoint(endpoint)
            .with_region("us-east-1")
            .with_allow_http(true)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET)
            .with_bucket_name(BUCKET)
            .build()
            .unwrap();
        let store = &store;
        let path = |dir: &str, i: usize| ObjectPath::from(format!("raw/{dir}/{:02x}/{i}", i % 256));
        let n = data.len();
        let put = each(n, concurrency, |i| async move {
            store.put(&path("hot", i), PutPayload::from(data[i].clone())).await.unwrap();
        })
        .await;
        let get = each(n, concurrency, |i| async move {
            store.get(&path("hot", i)).await.unwrap().bytes().await.unwrap();
        })
        .await;
        let copy = each(n, concurrency, |i| async move {
            store.copy(&path("hot", i), &path("copy", i)).await.unwrap();
        })
        .await;
        let moved = each(n, concurrency, |i| async move {
            let bytes = store.get(&path("hot", i)).await.unwrap().bytes().await.unwrap();
            store.put(&path("warm", i), PutPayload::from(bytes)).await.unwrap();
            store.delete(&path("hot", i)).await.unwrap();
        })
        .await;
        let compressed = each(n, concurrency, |i| async move {
            let bytes = store.get(&path("warm", i)).await.unwrap().bytes().await.unwrap();
            let out = tokio::task::spawn_blocking(move || zstd::encode_all(&bytes[..], level).unwrap()).await.unwrap();
            store.put(&path("cold", i), PutPayload::from(out)).await.unwrap();
            store.delete(&path("warm", i)).await.unwrap();
        })
        .await;
        Raw { put, get, copy, moved, compressed }
    }

    /// Runs the S3 profile and prints its table.
    pub async fn run(config: &Config, data: &[Vec<u8>], concurrency: usize) {
        const WHO: &str = "bench_lifecycle (S3)";
        let Some(moto) = Emulator::start(WHO, Kind::Moto) else { return };
        moto.create_bucket(BUCKET).unwrap();
        let endpoint = moto.endpoint();
        let mut config = config.clone();
        config.storage.hot = Some(location(&endpoint, "hot"));
        config.storage.warm = Some(location(&endpoint, "warm"));
        config.storage.cold = Some(location(&endpoint, "cold"));
        let Some(steps) = on_postgres(&config, data, concurrency).await else { return };
        let level = config.tiers.compression_level;
        let raw = raw(&endpoint, data, concurrency, level).await;
        println!(
            "strata lifecycle benchmark, S3 profile (moto on loopback, PostgreSQL catalog, Redis queue): \
             {} artifacts of {SIZE} B, fetch batch {BATCH}, concurrency {concurrency}, zstd level {level}",
            data.len()
        );
        println!(
            "{:<20} {:>10} {:>8} {:>28} {:>10} {:>7}",
            "step", "strata/s", "stmts", "plain S3", "plain/s", "vs raw"
        );
        let rows = [
            ("ingest (hot)", steps[0], "PUT", raw.put),
            ("hot -> warm", steps[1], "GET, PUT, DELETE", raw.moved),
            ("warm -> cold (zstd)", steps[2], "GET, zstd, PUT, DELETE", raw.compressed),
        ];
        for (step, s, plain, rate) in rows {
            println!(
                "{step:<20} {:>10.0} {:>8.3} {plain:>28} {rate:>10.0} {:>6.2}x",
                s.rate,
                s.statements,
                s.rate / rate
            );
        }
        println!("{:<20} {:>10} {:>8} {:>28} {:>10.0}", "", "", "", "GET", raw.get);
        println!("{:<20} {:>10} {:>8} {:>28} {:>10.0}", "", "", "", "COPY (server-side)", raw.copy);
        println!("stmts: catalog statements per artifact; vs raw: strata's rate over the plain requests' rate");
    }
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let only = std::env::args().nth(2);
    let with_baseline = only.as_deref() != Some("strata");
    let run = |catalog: &str| only.as_deref().is_none_or(|o| o == "strata" || o == catalog);
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::load(None).expect("configuration from the environment");
    if std::env::var_os(env::WORKER_CONCURRENCY).is_none() {
        config.jobs.concurrency = BATCH;
    }
    config.jobs.batch_size = BATCH;
    let concurrency = config.jobs.concurrency;
    if only.as_deref() == Some("s3") {
        s3::run(&config, &payloads(n), concurrency).await;
        return;
    }
    let level = config.tiers.compression_level;
    let sync = config.storage.fsync;
    let data = payloads(n);

    let store = Store::open(&dir.path().join("strata"), config.clone(), Arc::new(SystemClock)).await.unwrap();
    let queue: Arc<dyn Queue> = Arc::new(SqliteQueue::new(store.catalog().job_queue().unwrap(), store.clock().clone()));
    let sqlite = if run("sqlite") { lifecycle(&store, queue, &data, concurrency).await } else { [Step::NONE; 3] };
    drop(store);
    let postgres = if run("postgres") { on_postgres(&config, &data, concurrency).await } else { None };

    // The baseline runs last: deleting many files slows later inode
    // allocation on some filesystems, and the baseline should not gain from it.
    let mut raw = [f64::NAN; 3];
    if with_baseline {
        let root: PathBuf = dir.path().join("raw");
        raw[0] = raw_write(&root.join("hot"), &data, concurrency, sync).await;
        raw[1] = raw_move(&root.join("hot"), &root.join("warm"), n, concurrency, None, sync).await;
        raw[2] = raw_move(&root.join("warm"), &root.join("cold"), n, concurrency, Some(level), sync).await;
    }

    println!(
        "strata lifecycle benchmark: {n} artifacts of {SIZE} B, fetch batch {BATCH}, concurrency {concurrency}, \
         zstd level {level}, fsync {}",
        if sync { "on" } else { "off" }
    );
    println!(
        "{:<20} {:>10} {:>8} {:>7} {:>12} {:>8} {:>7} {:>10}",
        "step", "sqlite/s", "stmts", "vs raw", "postgres/s", "stmts", "vs raw", "raw/s"
    );
    let postgres = postgres.unwrap_or([Step::NONE; 3]);
    for (i, step) in ["ingest (hot)", "hot -> warm", "warm -> cold (zstd)"].into_iter().enumerate() {
        let (s, p) = (sqlite[i], postgres[i]);
        println!(
            "{step:<20} {:>10.0} {:>8.3} {:>6.2}x {:>12.0} {:>8.3} {:>6.2}x {:>10.0}",
            s.rate,
            s.statements,
            s.rate / raw[i],
            p.rate,
            p.statements,
            p.rate / raw[i],
            raw[i]
        );
    }
    println!("stmts: catalog statements per artifact; vs raw: the rate over the raw files' rate");
}
