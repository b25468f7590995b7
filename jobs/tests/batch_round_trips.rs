//! A batch of jobs costs a constant number of catalog statements, whatever
//! its size: one read of the claims, one commit of the compare-and-sets with
//! their events, one of the releases. Alone in its test binary, so the
//! process-wide statement count sees only this test.

#![allow(clippy::unwrap_used, reason = "a test stops at its first failure")]

use chrono::{Duration, Utc};
use std::sync::Arc;
use strata_core::catalog::statements;
use strata_core::clock::ManualClock;
use strata_core::config::Config;
use strata_core::id::{ArtifactKey, TenantId};
use strata_core::store::{PutOptions, Store};
use strata_jobs::handlers::{Context, Outcome, run_batch};
use strata_jobs::payload::JobKind;
use strata_jobs::planner;

/// Statements one batch of `n` promotions took, on a fresh catalog: on a
/// new schema of the PostgreSQL at `database` (SQLite when `None`).
async fn statements_for(n: usize, database: Option<&str>) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let schema = database.map(strata_testkit::pg::Schema::create);
    let mut config = Config::default();
    config.catalog.url = schema.as_ref().map(|s| s.url().to_owned());
    let store = Store::open(dir.path(), config, Arc::new(ManualClock::new(Utc::now()))).await.unwrap();
    store.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
    for i in 0..n {
        let key = ArtifactKey::parse(&format!("acme/nightly/a{i}.bin")).unwrap();
        store.put(&key, format!("artifact {i}").as_bytes(), PutOptions::default()).await.unwrap();
    }
    let plan = planner::plan(&store, store.now() + Duration::days(8), false, 1000, "test").await.unwrap();
    let jobs: Vec<_> = plan.jobs.into_iter().filter(|j| j.kind == JobKind::Promote).collect();
    assert_eq!(jobs.len(), n);
    let before = statements();
    let outcomes = run_batch(&Context::new(store.clone(), "test"), &jobs).await;
    let used = statements() - before;
    assert!(outcomes.into_iter().all(|o| o.unwrap() == Outcome::Done));
    used
}

#[tokio::test]
async fn a_batch_costs_the_same_statements_whatever_its_size() {
    let database = strata_testkit::database_url("batch_round_trips::a_batch_costs_the_same_statements");
    for url in [None, database.as_deref()] {
        let (small, large) = (statements_for(4, url).await, statements_for(64, url).await);
        let db = if url.is_some() { "postgres" } else { "sqlite" };
        assert_eq!(small, large, "{db}: a batch of 4 and a batch of 64 take as many statements");
        assert!(large <= 8, "{db}: {large} statements for 64 promotions");
        println!("{db}: {large} catalog statements for a batch of 64 promotions");
    }
}
