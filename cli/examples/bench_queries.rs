//! Query benchmark: pages of 100 from a catalog of 1,000,000 artifacts, on
//! SQLite and on PostgreSQL, against the target of 10 ms at the 99th
//! percentile for every query shape `strata ls` and the listing API offer.
//!
//! The catalog is bulk-seeded (rows only: a query reads no bytes) over 4
//! tenants of 50 workflows each; every workflow holds 3,990 `nightly-N`
//! artifacts tagged `branch=main`, 1,000 `dev-N` tagged `branch=dev` and 10
//! `hotfix-N` tagged `branch=hotfix`, created over 90 days, of sizes spread
//! over 1 MiB. Each shape runs 20 times to warm up, then `RUNS` times timed,
//! through `Store::query` (the one path of the CLI and the API). The
//! baseline in the same run is the plainest page there is: the first 100 of
//! one workflow by name, a walk of the primary listing index.
//!
//! Run: `cargo run --release -p strata-cli --example bench_queries [-- TOTAL]`
//! PostgreSQL runs when `STRATA_TEST_DATABASE_URL` is set, in a fresh schema
//! removed after.

#![allow(clippy::unwrap_used, reason = "a benchmark stops at its first failure")]

use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use std::time::Instant;
use strata_core::artifact::{Artifact, Codec, State, Tier};
use strata_core::catalog::SeedCopies;
use strata_core::clock::SystemClock;
use strata_core::config::Config;
use strata_core::id::{ArtifactName, TenantId, WorkflowName};
use strata_core::query::{ArtifactQuery, NamePattern, Position, SortKey, SortValue};
use strata_core::store::Store;

const TENANTS: u64 = 4;
const WORKFLOWS: u64 = 50;
const PAGE: u32 = 100;
const RUNS: usize = 200;
const TARGET_MS: f64 = 10.0;

/// The kinds of artifact each workflow holds: name prefix, branch tag, share
/// of the workflow in parts per 5,000.
const KINDS: [(&str, &str, u64); 3] = [("nightly-", "main", 3990), ("dev-", "dev", 1000), ("hotfix-", "hotfix", 10)];

fn template(tenant: &TenantId, workflow: &WorkflowName, branch: &str, created: DateTime<Utc>) -> Artifact {
    let mut tags = serde_json::Map::new();
    tags.insert("branch".into(), branch.into());
    Artifact {
        id: 0,
        tenant: tenant.clone(),
        workflow: workflow.clone(),
        name: ArtifactName::parse("template").unwrap(),
        size: 1024,
        stored_size: 1024,
        codec: Codec::None,
        blake3: "0".repeat(64),
        sha256: "0".repeat(64),
        content_type: "application/json".into(),
        tags,
        meta: Default::default(),
        created_at: created,
        last_accessed_at: created,
        verified_at: created,
        tier: Tier::Hot,
        state: State::Active,
        class: None,
        expires_at: None,
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
    }
}

/// Seeds `total` artifacts; returns the seconds it took.
async fn seed(store: &Store, total: u64) -> f64 {
    let per_workflow = total / TENANTS / WORKFLOWS;
    let from = store.now() - Duration::days(90);
    let started = Instant::now();
    for t in 0..TENANTS {
        let tenant = TenantId::parse(&format!("tenant{t}")).unwrap();
        store.add_tenant(&tenant, "pro", "bench").await.unwrap();
        for w in 0..WORKFLOWS {
            let workflow = WorkflowName::parse(&format!("wf{w:03}")).unwrap();
            for (prefix, branch, share) in KINDS {
                let count = (per_workflow * share / 5000).max(1);
                let spacing = Duration::milliseconds(Duration::days(90).num_milliseconds() / count as i64);
                let a = template(&tenant, &workflow, branch, from);
                let copies = SeedCopies { template: &a, prefix, first: 0, count, spacing, sizes: 1 << 20 };
                store.catalog().seed_copies(&copies).await.unwrap();
            }
        }
    }
    started.elapsed().as_secs_f64()
}

/// The query shapes measured, by name.
fn shapes(now: DateTime<Utc>) -> Vec<(&'static str, ArtifactQuery)> {
    let tenant = TenantId::parse("tenant1").unwrap();
    let base = ArtifactQuery { tenant: Some(tenant), limit: Some(PAGE), ..ArtifactQuery::default() };
    let workflow = Some(WorkflowName::parse("wf025").unwrap());
    let branch = |b: &str| vec![("branch".to_owned(), b.to_owned())];
    let pattern = |p: &str| Some(NamePattern::parse(p).unwrap());
    let middle = Position {
        value: SortValue::Name { tenant: "tenant1".into(), workflow: "wf025".into(), name: "nightly-2000".into() },
        id: 0,
    };
    vec![
        ("baseline: one workflow by name", ArtifactQuery { workflow: workflow.clone(), ..base.clone() }),
        ("by name, first page", base.clone()),
        ("by name, a page in the middle", ArtifactQuery { after: Some(middle), ..base.clone() }),
        ("newest first", ArtifactQuery { sort: SortKey::Created, descending: true, ..base.clone() }),
        ("largest first", ArtifactQuery { sort: SortKey::Size, descending: true, ..base.clone() }),
        ("latest 5 of a workflow", ArtifactQuery { workflow: workflow.clone(), latest: Some(5), ..base.clone() }),
        ("latest 1 of each workflow (50)", ArtifactQuery { latest: Some(1), ..base.clone() }),
        (
            "latest 2 per workflow, tag main",
            ArtifactQuery { latest: Some(2), all_tags: branch("main"), ..base.clone() },
        ),
        ("tag branch=main (80%)", ArtifactQuery { all_tags: branch("main"), ..base.clone() }),
        ("tag branch=hotfix (0.2%)", ArtifactQuery { all_tags: branch("hotfix"), ..base.clone() }),
        (
            "any tag dev|hotfix, newest first",
            ArtifactQuery {
                any_tags: [branch("dev"), branch("hotfix")].concat(),
                sort: SortKey::Created,
                descending: true,
                ..base.clone()
            },
        ),
        ("name nightly-12* in a workflow", ArtifactQuery { workflow, name: pattern("nightly-12*"), ..base.clone() }),
        ("name hotfix-* in the tenant", ArtifactQuery { name: pattern("hotfix-*"), ..base.clone() }),
        (
            "created in one day, by creation",
            ArtifactQuery {
                created_after: Some(now - Duration::days(30)),
                created_before: Some(now - Duration::days(29)),
                sort: SortKey::Created,
                ..base.clone()
            },
        ),
        (
            "size 512-513 KiB, by size",
            ArtifactQuery { min_size: Some(512 << 10), max_size: Some(513 << 10), sort: SortKey::Size, ..base },
        ),
    ]
}

/// (p50, p99) in ms of `RUNS` runs of `q`, and the rows it returned.
async fn time(store: &Store, q: &ArtifactQuery) -> (f64, f64, usize) {
    let mut rows = 0;
    for _ in 0..20 {
        rows = store.query(q).await.unwrap().len();
    }
    let mut ms: Vec<f64> = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        let found = store.query(q).await.unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(found.len(), rows, "the same answer every time");
    }
    ms.sort_by(f64::total_cmp);
    (ms[RUNS / 2], ms[RUNS * 99 / 100], rows)
}

/// Seeds, times every shape and prints a line per shape; returns how many miss the target.
async fn measure(db: &str, store: &Store, total: u64) -> usize {
    let seconds = seed(store, total).await;
    println!("{db}: seeded {total} artifacts in {seconds:.1} s");
    println!("{:<10} {:<34} {:>5} {:>9} {:>9}", "catalog", "query", "rows", "p50 ms", "p99 ms");
    let mut missed = 0;
    for (name, q) in shapes(store.now()) {
        let (p50, p99, rows) = time(store, &q).await;
        let miss = p99 > TARGET_MS;
        missed += usize::from(miss);
        println!("{db:<10} {name:<34} {rows:>5} {p50:>9.2} {p99:>9.2}{}", if miss { "  MISSES" } else { "" });
    }
    missed
}

#[tokio::main]
async fn main() {
    let total: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let config = Config::load(None).expect("configuration from the environment");
    println!("queries: pages of {PAGE} from {total} artifacts; target p99 ≤ {TARGET_MS:.0} ms; {RUNS} runs each");
    let shapes = shapes(Utc::now()).len();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(dir.path(), config.clone(), Arc::new(SystemClock)).await.unwrap();
    let missed = measure("sqlite", &sqlite, total).await;
    println!("sqlite: {} of {shapes} shapes meet p99 ≤ {TARGET_MS:.0} ms", shapes - missed);
    drop(sqlite);
    match std::env::var("STRATA_TEST_DATABASE_URL") {
        Ok(base) => {
            let schema = strata_testkit::pg::Schema::create(&base);
            let mut config = config.clone();
            config.catalog.url = Some(schema.url().to_owned());
            let pg_dir = tempfile::tempdir().unwrap();
            let store = Store::open(pg_dir.path(), config, Arc::new(SystemClock)).await.unwrap();
            let missed = measure("postgres", &store, total).await;
            println!("postgres: {} of {shapes} shapes meet p99 ≤ {TARGET_MS:.0} ms", shapes - missed);
        }
        Err(_) => println!("postgres not run: set STRATA_TEST_DATABASE_URL"),
    }
}
