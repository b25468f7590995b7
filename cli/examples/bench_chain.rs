//! Event-chain benchmark: K writers, each a separate store (as separate
//! processes would be: its own connections and its own group committer),
//! each committing N uploads one after another (one transaction each: the
//! artifact row with its two events). Measured on PostgreSQL with every
//! write taking the catalog lock exclusively (the baseline: one lock for the
//! cluster) against per-tenant chain locks, with each writer on its own
//! tenant and with all writers on one tenant, and on SQLite (K stores on one
//! file). Configurations alternate over the rounds; each line prints the
//! transactions per second of every round and their median, and the
//! catalog's `events verify` after the round.
//!
//! Run: `STRATA_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/strata_bench \
//! cargo run --release -p strata-cli --example bench_chain [-- K N ROUNDS]`
//! (defaults 8 200 3). The database must exist; each round adds its own
//! tenants, so a scratch database is best. Tier writes are not synced, so
//! the catalog's commits dominate.

#![allow(clippy::unwrap_used, reason = "a benchmark stops at its first failure")]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use strata_core::catalog::set_one_write_lock;
use strata_core::clock::SystemClock;
use strata_core::config::Config;
use strata_core::id::{ArtifactKey, TenantId};
use strata_core::store::{PutOptions, Store};

/// Where the catalog is and how writes lock.
#[derive(Clone, Copy, PartialEq)]
enum Catalog {
    Sqlite,
    PostgresOneLock,
    PostgresChains,
}

impl Catalog {
    fn label(self) -> &'static str {
        match self {
            Catalog::Sqlite => "SQLite (one writer)",
            Catalog::PostgresOneLock => "PostgreSQL, one lock",
            Catalog::PostgresChains => "PostgreSQL, per-chain locks",
        }
    }
}

/// One measured configuration.
#[derive(Clone, Copy)]
struct Setup {
    catalog: Catalog,
    /// Every writer on the same tenant (else each on its own).
    one_tenant: bool,
}

impl Setup {
    fn label(self) -> String {
        let tenants = if self.one_tenant { "one tenant" } else { "a tenant each" };
        format!("{:<28} {:<14}", self.catalog.label(), tenants)
    }
}

/// Opens `k` stores on the catalog of `setup` (SQLite: one file under `dir`).
async fn stores(setup: Setup, url: &str, dir: &Path, k: usize) -> Vec<Store> {
    let mut out = Vec::with_capacity(k);
    for w in 0..k {
        let mut config = Config::default();
        config.storage.fsync = false;
        let data_dir = match setup.catalog {
            Catalog::Sqlite => dir.join("shared"),
            _ => {
                config.catalog.url = Some(url.to_owned());
                dir.join(format!("w{w}"))
            }
        };
        out.push(Store::open(&data_dir, config, Arc::new(SystemClock)).await.unwrap());
    }
    out
}

/// Runs one round of `setup`; returns transactions per second and whether
/// the event log verified afterwards.
async fn round(setup: Setup, url: &str, k: usize, n: usize, run: &str) -> (f64, bool) {
    set_one_write_lock(setup.catalog == Catalog::PostgresOneLock);
    let dir = tempfile::tempdir().unwrap();
    let stores = stores(setup, url, dir.path(), k).await;
    let tenants: Vec<TenantId> =
        (0..k).map(|w| TenantId::parse(&format!("{run}-{}", if setup.one_tenant { 0 } else { w })).unwrap()).collect();
    for tenant in tenants.iter().collect::<std::collections::BTreeSet<_>>() {
        stores[0].add_tenant(tenant, "free", "bench").await.unwrap();
    }
    let start = Instant::now();
    let writers = stores.iter().zip(&tenants).enumerate().map(|(w, (store, tenant))| async move {
        for i in 0..n {
            let key = ArtifactKey::parse(&format!("{tenant}/w{w}/{i}")).unwrap();
            let bytes = format!("writer {w} upload {i}");
            let opts = PutOptions { actor: "bench".into(), ..PutOptions::default() };
            store.put(&key, bytes.as_bytes(), opts).await.unwrap();
        }
    });
    futures::future::join_all(writers).await;
    let rate = (k * n) as f64 / start.elapsed().as_secs_f64();
    let report = stores[0].catalog().verify_events().await.unwrap();
    (rate, report.problem.is_none())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("K N ROUNDS")).collect();
    let (k, n, rounds) =
        (args.first().copied().unwrap_or(8), args.get(1).copied().unwrap_or(200), args.get(2).copied().unwrap_or(3));
    let url = std::env::var("STRATA_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/strata_bench".to_owned());
    println!("{k} writers × {n} uploads (one transaction each), {rounds} rounds, configurations alternated");
    let setups: Vec<Setup> = [Catalog::PostgresOneLock, Catalog::PostgresChains, Catalog::Sqlite]
        .into_iter()
        .flat_map(|catalog| [false, true].map(|one_tenant| Setup { catalog, one_tenant }))
        .collect();
    let mut rates = vec![Vec::new(); setups.len()];
    let stamp = chrono::Utc::now().timestamp_millis();
    for r in 0..rounds {
        for (i, setup) in setups.iter().enumerate() {
            let (rate, intact) = round(*setup, &url, k, n, &format!("bench{stamp}r{r}s{i}")).await;
            assert!(intact, "{}: the event log must verify", setup.label());
            rates[i].push(rate);
        }
    }
    let medians: Vec<f64> = rates.iter().map(|r| median(r.clone())).collect();
    println!("{:<43} {:>10} {:>12}  rounds (tx/s)", "configuration", "median", "× one lock");
    for (i, (setup, rates)) in setups.iter().zip(&rates).enumerate() {
        // The baseline: PostgreSQL with one lock, same tenants.
        let baseline = medians[usize::from(setup.one_tenant)];
        let each: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "{} {:>10.0} {:>11.2}×  {}  (log verified)",
            setup.label(),
            medians[i],
            medians[i] / baseline,
            each.join(" ")
        );
    }
}
