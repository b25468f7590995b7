//! Planner benchmark: one scheduler tick over a large catalog, on SQLite
//! with the embedded queue and on PostgreSQL with Redis, against the target
//! of 1 s for 10,000 due artifacts in a catalog of 1,000,000.
//!
//! The catalog is bulk-seeded (rows only: planning reads no bytes) with
//! artifacts consistent with the policy: most are fresh, `DUE` of them were
//! created past `tiers.hot_days` ago and are due for warm. The tick is the
//! scheduler's own (`strata_queue::plan::plan_tick`: the fenced claim, then the
//! enqueue); the baseline next to it, in the same run, is a dry run of the
//! same pass, which reads and decides but writes nothing.
//!
//! Run: `cargo run --release -p strata-cli --example bench_planner [-- TOTAL DUE]`
//! PostgreSQL runs when `STRATA_TEST_DATABASE_URL` and `STRATA_TEST_REDIS_URL`
//! are set: in a fresh schema and under a fresh key prefix, both removed after.

#![allow(clippy::unwrap_used, reason = "a benchmark stops at its first failure")]

use chrono::{DateTime, Duration, Utc};
use redis::AsyncCommands;
use std::sync::Arc;
use std::time::Instant;
use strata_core::artifact::{Artifact, Codec, State, Tier};
use strata_core::catalog::SeedCopies;
use strata_core::clock::SystemClock;
use strata_core::config::Config;
use strata_core::id::{ArtifactName, TenantId, WorkflowName};
use strata_core::lifecycle::{decide, expires_at};
use strata_core::store::Store;
use strata_jobs::planner;
use strata_queue::Queue;
use strata_queue::plan::{PLAN_LIMIT, plan_tick};
use strata_queue::sqlite::SqliteQueue;
use strata_workers::queue::redis::RedisQueue;
use strata_workers::scheduler::LEADERSHIP;

const TENANTS: u64 = 4;
const TARGET_SECS: f64 = 1.0;

/// An artifact of `tenant` created at `created`, with its expiry and
/// `next_due_at` as the policy derives them.
fn template(config: &Config, tenant: &TenantId, created: DateTime<Utc>) -> Artifact {
    let mut a = Artifact {
        id: 0,
        tenant: tenant.clone(),
        workflow: WorkflowName::parse("build").unwrap(),
        name: ArtifactName::parse("template").unwrap(),
        size: 4096,
        stored_size: 4096,
        codec: Codec::None,
        blake3: "0".repeat(64),
        sha256: "0".repeat(64),
        content_type: "application/octet-stream".into(),
        tags: Default::default(),
        meta: Default::default(),
        created_at: created,
        last_accessed_at: created,
        verified_at: created,
        tier: Tier::Hot,
        state: State::Active,
        class: None,
        expires_at: expires_at(config, "pro", None, created).unwrap(),
        eligible_at: None,
        pinned_hot_until: None,
        next_due_at: None,
        job_token: None,
        generation: 0,
        held: false,
        extended: false,
        plan: "pro".into(),
        newer_live: 0,
        dead_lettered_at: None,
    };
    a.next_due_at = decide(&a, config, created).next_due_at;
    a
}

/// Seeds `total` artifacts over the tenants, `due` of them due now.
async fn seed(store: &Store, total: u64, due: u64) -> f64 {
    let config = store.config();
    let now = store.now();
    let hot = Duration::days(i64::from(config.tiers.hot_days));
    let started = Instant::now();
    for t in 0..TENANTS {
        let tenant = TenantId::parse(&format!("tenant{t}")).unwrap();
        store.add_tenant(&tenant, "pro", "bench").await.unwrap();
        let (fresh, old) = ((total - due) / TENANTS, due / TENANTS);
        // Fresh artifacts are spread over the last hot period minus a day;
        // due ones over the day before the hot period ended.
        let fresh_from = now - hot + Duration::days(1);
        let spacing = Duration::milliseconds((hot - Duration::days(1)).num_milliseconds() / fresh.max(1) as i64);
        let fresh_template = template(config, &tenant, fresh_from);
        let seeded = SeedCopies { template: &fresh_template, prefix: "f", first: 0, count: fresh, spacing, sizes: 0 };
        assert_eq!(store.catalog().seed_copies(&seeded).await.unwrap(), fresh);
        let due_from = now - hot - Duration::days(2);
        let spacing = Duration::milliseconds(Duration::days(1).num_milliseconds() / old.max(1) as i64);
        let due_template = template(config, &tenant, due_from);
        let seeded = SeedCopies { template: &due_template, prefix: "d", first: 0, count: old, spacing, sizes: 0 };
        assert_eq!(store.catalog().seed_copies(&seeded).await.unwrap(), old);
    }
    started.elapsed().as_secs_f64()
}

/// Seeds, then times a dry run and the scheduler's tick; prints one line.
async fn measure(db: &str, store: &Store, queue: &dyn Queue, total: u64, due: u64) {
    // The policy is recorded on the empty catalog, as on any running
    // deployment: the tick measured is not a policy change.
    planner::plan(store, store.now(), false, PLAN_LIMIT, "bench").await.unwrap();
    let seeding = seed(store, total, due).await;
    let now = store.now();
    let t = Instant::now();
    let dry = planner::plan(store, now, true, PLAN_LIMIT, "bench").await.unwrap();
    let dry_secs = t.elapsed().as_secs_f64();
    assert_eq!(dry.items.len() as u64, due / TENANTS * TENANTS, "{db}: the dry run sees every due artifact");

    let ttl = Duration::seconds(60);
    let fence = store.catalog().lead(LEADERSHIP, "bench", store.now(), ttl).await.unwrap().unwrap();
    let t = Instant::now();
    let plan = plan_tick(store, queue, &fence, now).await.unwrap();
    let tick_secs = t.elapsed().as_secs_f64();
    assert_eq!(plan.jobs.len(), dry.items.len(), "{db}: the tick plans what the dry run listed");

    let waiting: u64 = queue.stats().await.unwrap().iter().map(|l| l.waiting).sum();
    assert_eq!(waiting, plan.jobs.len() as u64, "{db}: every planned job is in the queue");
    let again = planner::plan(store, now, true, PLAN_LIMIT, "bench").await.unwrap();
    assert!(again.items.is_empty(), "{db}: the claimed artifacts are not planned twice");
    let verdict = if tick_secs <= TARGET_SECS { "meets" } else { "MISSES" };
    println!(
        "{db:<9} {total:>9} artifacts (seeded in {seeding:5.1} s), {:>6} due: dry run {:7.3} s, tick {:7.3} s \
         (claim + enqueue; target ≤ {TARGET_SECS:.1} s: {verdict})",
        plan.jobs.len(),
        dry_secs,
        tick_secs,
    );
}

async fn on_sqlite(config: &Config, total: u64, due: u64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config.clone(), Arc::new(SystemClock)).await.unwrap();
    let queue = SqliteQueue::new(store.catalog().job_queue().unwrap(), store.clock().clone());
    measure("sqlite", &store, &queue, total, due).await;
}

async fn on_postgres(config: &Config, base: &str, redis: &str, total: u64, due: u64) {
    let schema = strata_testkit::pg::Schema::create(base);
    let prefix = format!("strata-bench-{}", uuid::Uuid::new_v4().simple());
    let mut config = config.clone();
    config.catalog.url = Some(schema.url().to_owned());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config, Arc::new(SystemClock)).await.unwrap();
    let queue = RedisQueue::connect(redis, &prefix, store.clock().clone()).await.unwrap();
    measure("postgres", &store, &queue, total, due).await;
    drop(store);
    let mut con = redis::Client::open(redis).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = con.keys(format!("{prefix}:*")).await.unwrap();
    if !keys.is_empty() {
        let _: () = con.del(keys).await.unwrap();
    }
}

#[tokio::main]
async fn main() {
    let total: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let due: u64 = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let config = Config::load(None).expect("configuration from the environment");
    println!(
        "planner tick: {due} due in {total} artifacts over {TENANTS} tenants; target ≤ {TARGET_SECS:.1} s per tick"
    );
    on_sqlite(&config, total, due).await;
    match (std::env::var("STRATA_TEST_DATABASE_URL"), std::env::var("STRATA_TEST_REDIS_URL")) {
        (Ok(db), Ok(redis)) => on_postgres(&config, &db, &redis, total, due).await,
        _ => println!("postgres  not run: set STRATA_TEST_DATABASE_URL and STRATA_TEST_REDIS_URL"),
    }
}
