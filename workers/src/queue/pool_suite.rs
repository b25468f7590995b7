//! What every queue backend must do under the worker pool, beyond the
//! contract's own suite (`strata_queue::suite`): each check takes a fresh
//! queue and the manual clock it reads.

use crate::pool::{Mode, WorkerPool};
use chrono::Duration as ChronoDuration;
use std::sync::Arc;
use std::time::Duration;
use strata_core::clock::{Clock, ManualClock};
use strata_queue::lanes::default_lanes;
use strata_queue::plan::plan_and_enqueue;
use strata_queue::{DeadFilter, Queue};

const VIS: Duration = Duration::from_secs(30);

/// A job whose consumer dies with it, so that its lease expires, as many
/// times as its kind's attempts allow is dead-lettered by the next worker
/// to fetch it, with an error saying so, instead of being run again; its
/// artifact is left as it was and marked dead-lettered.
pub(crate) async fn a_job_whose_lease_keeps_expiring_is_dead_lettered(q: Arc<dyn Queue>, clock: &ManualClock) {
    use strata_core::catalog::EventFilter;
    use strata_core::id::{ArtifactKey, TenantId};
    use strata_core::store::{PutOptions, Store};
    let dir = tempfile::tempdir().unwrap();
    let mut config = strata_core::config::Config::default();
    config.jobs.max_attempts_by_kind.insert("promote".into(), 3);
    let store = Store::open(dir.path(), config, Arc::new(clock.clone())).await.unwrap();
    store.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
    let key = ArtifactKey::parse("acme/wf/a.txt").unwrap();
    store.put(&key, &b"some bytes"[..], PutOptions::default()).await.unwrap();
    let plan = plan_and_enqueue(&store, q.as_ref(), clock.now() + ChronoDuration::days(8), "test").await.unwrap();
    assert_eq!(plan.jobs.len(), 1);
    for attempt in 1..=3 {
        let d = q.fetch(&default_lanes(), 10, VIS).await.unwrap();
        assert_eq!(d.len(), 1, "delivery {attempt}");
        assert_eq!(d[0].attempts, attempt);
        // Its consumer dies: the lease runs out.
        clock.advance(ChronoDuration::seconds(31));
    }
    let pool = WorkerPool::new(q.clone(), strata_jobs::handlers::Context::new(store.clone(), "test"), default_lanes());
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let report = pool.run(Mode::UntilDrained, shutdown).await.unwrap();
    assert_eq!((report.dead_lettered, report.retried, report.finished()), (1, 0, 0), "{report:?}");
    let dead = q.dead_letters(&DeadFilter::default(), 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 4);
    assert!(
        dead[0].last_error.contains("lost by its worker 3 times (lease expired), over the 3 attempts allowed"),
        "{}",
        dead[0].last_error
    );
    let a = store.find(&key).await.unwrap();
    assert_eq!(a.tier, strata_core::artifact::Tier::Hot, "never run");
    assert!(a.dead_lettered_at.is_some(), "the artifact is marked dead-lettered");
    let events = EventFilter { kind: Some("job_dead_lettered".into()), ..EventFilter::default() };
    assert_eq!(store.catalog().events(&events).await.unwrap().len(), 1);
    assert_eq!(q.stats().await.unwrap().iter().map(|s| s.pending()).sum::<u64>(), 0);
}

#[tokio::test]
async fn the_embedded_queue_passes() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = strata_core::catalog::Catalog::open(&dir.path().join("q.db"), 0).await.unwrap();
    let clock = ManualClock::new(chrono::Utc::now());
    let q = strata_queue::sqlite::SqliteQueue::new(catalog.job_queue().unwrap(), Arc::new(clock.clone()));
    a_job_whose_lease_keeps_expiring_is_dead_lettered(Arc::new(q), &clock).await;
}
