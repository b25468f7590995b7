//! Baselines, comparisons and trends on both databases.

use super::{cases, key};
use crate::clock::Clock;
use crate::id::{TenantId, WorkflowName};
use crate::insights::{Against, ArtifactSet, InsightError, TrendBy};
use crate::store::{PutOptions, Store, StoreError};
use chrono::Duration;

async fn put(s: &Store, k: &str, bytes: &[u8], tags: &[(&str, &str)], overwrite: bool) {
    let tags = tags.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::String((*v).to_owned()))).collect();
    let opts = PutOptions { tags, overwrite, actor: "test".into(), ..PutOptions::default() };
    s.put(&key(k), bytes, opts).await.unwrap();
}

fn set(tenant: &str, workflow: Option<&str>) -> ArtifactSet {
    ArtifactSet {
        tenant: TenantId::parse(tenant).unwrap(),
        workflow: workflow.map(|w| WorkflowName::parse(w).unwrap()),
        tags: Vec::new(),
        name: None,
    }
}

#[tokio::test]
async fn a_baseline_is_a_snapshot_that_later_sets_are_compared_with() {
    for case in cases("catalog::suite::insights::baseline", |_| {}).await {
        let (s, db) = (&case.store, case.db);
        s.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
        put(s, "acme/build/app.tar", b"app v1", &[("release", "1.0")], false).await;
        put(s, "acme/build/lib.so", b"lib v1!", &[("release", "1.0")], false).await;
        put(s, "acme/build/old.txt", b"old", &[("release", "1.0")], false).await;
        let build = set("acme", Some("build"));
        let marked = s.mark_baseline(&build, "rel-1.0", false, "test").await.unwrap();
        assert_eq!((marked.artifacts, marked.bytes), (3, 16), "{db}");
        let again = s.mark_baseline(&build, "rel-1.0", false, "test").await;
        assert!(matches!(again, Err(StoreError::Insight(InsightError::Exists { .. }))), "{db}: {again:?}");

        // The next build: one changed, one the same, one gone, one new.
        case.clock.advance(Duration::days(1));
        put(s, "acme/build/app.tar", b"app v2 larger", &[("run", "2")], true).await;
        s.remove(&key("acme/build/old.txt"), "test").await.unwrap();
        put(s, "acme/build/new.bin", b"new", &[("run", "2")], false).await;

        let c = s.compare(&build, &Against::Baseline("rel-1.0".into())).await.unwrap();
        let names = |v: &[crate::insights::Change]| v.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&c.added), ["new.bin"], "{db}");
        assert_eq!(names(&c.removed), ["old.txt"], "{db}");
        assert_eq!(names(&c.changed), ["app.tar"], "{db}");
        assert_eq!(c.changed[0].delta_bytes, 7, "{db}");
        assert_eq!((c.unchanged, c.baseline_bytes, c.current_bytes, c.delta_bytes), (1, 16, 23, 7), "{db}");

        // Against a tag: the live artifacts carrying it now (app.tar v1 was replaced).
        let c = s.compare(&build, &Against::Tag("release".into(), "1.0".into())).await.unwrap();
        assert_eq!(
            (c.baseline_artifacts, names(&c.added)),
            (1, vec!["app.tar".to_owned(), "new.bin".to_owned()]),
            "{db}"
        );

        let missing = s.compare(&build, &Against::Baseline("nope".into())).await;
        assert!(matches!(missing, Err(StoreError::Insight(InsightError::NotFound { .. }))), "{db}");
        let listed = s.catalog().baselines(None).await.unwrap();
        assert_eq!(listed.len(), 1, "{db}");
        assert_eq!(listed[0].selection, "acme/build", "{db}");
        s.remove_baseline(&TenantId::parse("acme").unwrap(), "rel-1.0", "test").await.unwrap();
        assert!(s.catalog().baselines(None).await.unwrap().is_empty(), "{db}");
        assert!(s.catalog().baseline_members(&TenantId::parse("acme").unwrap(), "rel-1.0").await.unwrap().is_none());
        case.finish().await;
    }
}

#[tokio::test]
async fn trends_sum_each_workflow_per_day_and_per_run() {
    for case in cases("catalog::suite::insights::trend", |_| {}).await {
        let (s, db) = (&case.store, case.db);
        let acme = TenantId::parse("acme").unwrap();
        s.add_tenant(&acme, "pro", "test").await.unwrap();
        let day0 = case.clock.now().format("%Y-%m-%d").to_string();
        put(s, "acme/nightly/a", &[b'x'; 10], &[("run", "r1")], false).await;
        put(s, "acme/nightly/b", &[b'x'; 20], &[("run", "r1")], false).await;
        put(s, "acme/other/c", &[b'x'; 5], &[], false).await;
        case.clock.advance(Duration::days(1));
        let day1 = case.clock.now().format("%Y-%m-%d").to_string();
        put(s, "acme/nightly/c", &[b'x'; 40], &[("run", "r2")], false).await;

        let by_day = s.trend(&acme, Some("nightly"), &TrendBy::Day, None).await.unwrap();
        let rows: Vec<(String, u64, u64)> = by_day.iter().map(|p| (p.bucket.clone(), p.artifacts, p.bytes)).collect();
        assert_eq!(rows, [(day0, 2, 30), (day1.clone(), 1, 40)], "{db}");
        assert!(by_day.iter().all(|p| p.compression_ratio == 1.0 && p.stored_bytes == p.bytes), "{db}");

        let by_run = s.trend(&acme, None, &TrendBy::Tag("run".into()), None).await.unwrap();
        let rows: Vec<(String, String, u64)> =
            by_run.iter().map(|p| (p.workflow.clone(), p.bucket.clone(), p.bytes)).collect();
        assert_eq!(rows, [("nightly".into(), "r1".into(), 30), ("nightly".into(), "r2".into(), 40)], "{db}");

        let since = s.trend(&acme, None, &TrendBy::Day, Some(case.clock.now() - Duration::hours(1))).await.unwrap();
        assert_eq!(since.iter().map(|p| p.bucket.as_str()).collect::<Vec<_>>(), [day1.as_str()], "{db}");
        let unknown = s.trend(&TenantId::parse("nobody").unwrap(), None, &TrendBy::Day, None).await;
        assert!(unknown.is_err(), "{db}");
        case.finish().await;
    }
}
