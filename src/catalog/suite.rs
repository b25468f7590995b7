//! The catalog's behaviour, checked on both databases: every case runs on a
//! fresh SQLite catalog and on a fresh PostgreSQL schema
//! (`STRATA_TEST_DATABASE_URL`, or the local server; under CI a missing
//! server fails the case).

use crate::artifact::State;
use crate::catalog::{ArtifactFilter, CatalogError, EventFilter, Principal};
use crate::claims::DueRequest;
use crate::clock::{Clock, ManualClock};
use crate::config::Config;
use crate::id::{ArtifactKey, TenantId};
use crate::retention::Target;
use crate::store::{PutOptions, Store, StoreError};
use chrono::{Duration, Utc};
use sqlx::Executor;
use std::sync::Arc;

/// A store on one of the databases, and what to clean up after it.
struct Case {
    db: &'static str,
    store: Store,
    clock: ManualClock,
    _dir: tempfile::TempDir,
    schema: Option<(sqlx::AnyPool, String)>,
}

impl Case {
    /// Drops the PostgreSQL schema the case ran in.
    async fn finish(self) {
        if let Some((admin, schema)) = self.schema {
            admin.execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE"))).await.unwrap();
        }
    }
}

/// The same case on SQLite and, when it can run, PostgreSQL.
async fn cases(test: &str, configure: impl Fn(&mut Config)) -> Vec<Case> {
    let mut config = Config::default();
    configure(&mut config);
    let clock = ManualClock::new(Utc::now());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config.clone(), Arc::new(clock.clone())).await.unwrap();
    let mut out = vec![Case { db: "sqlite", store, clock, _dir: dir, schema: None }];
    if let Some(base) = strata_testkit::database_url(test) {
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&base).await.unwrap();
        let schema = format!("strata_test_{}", uuid::Uuid::new_v4().simple());
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\""))).await.unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        config.catalog.url = Some(format!("{base}{sep}options[search_path]={schema}"));
        let clock = ManualClock::new(Utc::now());
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), config, Arc::new(clock.clone())).await.unwrap();
        assert!(!store.catalog().is_embedded(), "the case runs on PostgreSQL");
        out.push(Case { db: "postgres", store, clock, _dir: dir, schema: Some((admin, schema)) });
    }
    out
}

fn key(s: &str) -> ArtifactKey {
    ArtifactKey::parse(s).unwrap()
}

async fn put(store: &Store, k: &str, bytes: &[u8]) {
    store.put(&key(k), bytes, PutOptions { actor: "test".into(), ..PutOptions::default() }).await.unwrap();
}

#[tokio::test]
async fn tenants_are_added_once_listed_in_order_and_change_plan() {
    for case in cases("catalog::suite::tenants", |_| {}).await {
        let s = &case.store;
        for name in ["globex", "acme"] {
            s.add_tenant(&TenantId::parse(name).unwrap(), "free", "test").await.unwrap();
        }
        let again = s.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await;
        assert!(matches!(again, Err(StoreError::TenantExists(ref t)) if t == "acme"), "{}: {again:?}", case.db);
        let names: Vec<String> = s.catalog().tenants().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
        assert_eq!(names, ["acme", "globex"], "{}", case.db);
        s.set_plan(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
        assert_eq!(s.tenant(&TenantId::parse("acme").unwrap()).await.unwrap().plan, "pro", "{}", case.db);
        case.finish().await;
    }
}

#[tokio::test]
async fn artifacts_are_stored_listed_by_key_and_removed_with_one_event_each() {
    for case in cases("catalog::suite::artifacts", |_| {}).await {
        let s = &case.store;
        s.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
        for name in ["b.txt", "a.txt", "B.txt"] {
            put(s, &format!("acme/wf/{name}"), name.as_bytes()).await;
        }
        let names: Vec<String> =
            s.list(&ArtifactFilter::default()).await.unwrap().iter().map(|a| a.name.to_string()).collect();
        assert_eq!(names, ["B.txt", "a.txt", "b.txt"], "{}: listed byte by byte", case.db);
        let again = s.put(&key("acme/wf/a.txt"), &b"x"[..], PutOptions::default()).await;
        assert!(matches!(again, Err(StoreError::AlreadyExists(_))), "{}: {again:?}", case.db);
        let removed = s.remove(&key("acme/wf/a.txt"), "test").await.unwrap();
        assert_eq!(removed.key(), key("acme/wf/a.txt"));
        let missing = s.find(&key("acme/wf/a.txt")).await;
        assert!(matches!(missing, Err(StoreError::NotFound(_))), "{}: {missing:?}", case.db);
        let all = ArtifactFilter { include_deleted: true, ..ArtifactFilter::default() };
        let states: Vec<State> = s.list(&all).await.unwrap().iter().map(|a| a.state).collect();
        assert_eq!(states.iter().filter(|st| !st.is_live()).count(), 1, "{}: one tombstone", case.db);
        let ingested = EventFilter { kind: Some("ingested".into()), ..EventFilter::default() };
        assert_eq!(s.catalog().events(&ingested).await.unwrap().len(), 3, "{}", case.db);
        case.finish().await;
    }
}

#[tokio::test]
async fn the_event_log_is_chained_and_refuses_changes() {
    for case in cases("catalog::suite::events", |_| {}).await {
        let s = &case.store;
        s.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
        for i in 0..5 {
            put(s, &format!("acme/wf/{i}"), format!("bytes {i}").as_bytes()).await;
        }
        let report = s.catalog().verify_events().await.unwrap();
        assert_eq!((report.checked, report.problem), (11, None), "{}: 1 tenant + 5 × 2 events", case.db);
        for statement in ["UPDATE events SET actor = 'x'", "DELETE FROM events"] {
            let refused = s.catalog().writer.execute(statement).await;
            assert!(
                matches!(&refused, Err(sqlx::Error::Database(e)) if e.message() == "the event log is append-only"),
                "{}: {statement} refused: {refused:?}",
                case.db
            );
        }
        case.finish().await;
    }
}

#[tokio::test]
async fn leadership_is_one_holder_at_a_time_and_its_fence_grows_on_every_change() {
    for case in cases("catalog::suite::leaders", |_| {}).await {
        let c = case.store.catalog();
        let (t0, ttl) = (case.clock.now(), Duration::seconds(10));
        let first = c.lead("scheduler", "a", t0, ttl).await.unwrap().expect("the first holder leads");
        assert_eq!(c.lead("scheduler", "b", t0, ttl).await.unwrap(), None, "{}: a standby waits", case.db);
        let renewed = c.lead("scheduler", "a", t0 + Duration::seconds(5), ttl).await.unwrap().unwrap();
        assert_eq!(renewed.token, first.token, "{}: renewing keeps the fence", case.db);
        let taken = c.lead("scheduler", "b", t0 + Duration::seconds(16), ttl).await.unwrap().unwrap();
        assert!(taken.token > first.token, "{}: a new holder gets a larger fence", case.db);
        c.abdicate(&first).await.unwrap();
        assert_eq!(c.lead("scheduler", "a", t0 + Duration::seconds(17), ttl).await.unwrap(), None, "{}", case.db);
        c.abdicate(&taken).await.unwrap();
        let back = c.lead("scheduler", "a", t0 + Duration::seconds(17), ttl).await.unwrap().unwrap();
        assert!(back.token > taken.token, "{}", case.db);
        case.finish().await;
    }
}

#[tokio::test]
async fn claims_stamp_each_due_artifact_once_and_a_lost_fence_claims_nothing() {
    for case in cases("catalog::suite::claims", |c| c.tiers.hot_days = 1).await {
        let s = &case.store;
        s.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
        for i in 0..4 {
            put(s, &format!("acme/wf/{i}"), format!("bytes {i}").as_bytes()).await;
        }
        case.clock.advance(Duration::days(2));
        let as_of = case.clock.now();
        let request = |dry_run, fence| DueRequest { as_of, limit: 100, dry_run, fence, actor: "test" };
        let dry = s.claim_due(&request(true, None), |_, _| true, |_| serde_json::json!({})).await.unwrap();
        assert_eq!((dry.claims.len(), dry.run_id), (4, None), "{}: a dry run claims nothing", case.db);
        assert!(dry.claims.iter().all(|c| c.token.is_none()), "{}", case.db);

        let (ttl, now) = (Duration::seconds(30), case.clock.now());
        let lost = s.catalog().lead("scheduler", "old", now, ttl).await.unwrap().unwrap();
        s.catalog().abdicate(&lost).await.unwrap();
        let _new = s.catalog().lead("scheduler", "new", now, ttl).await.unwrap().unwrap();
        let refused = s.claim_due(&request(false, Some(&lost)), |_, _| true, |_| serde_json::json!({})).await;
        assert!(matches!(refused, Err(CatalogError::Conflict(_))), "{}: {refused:?}", case.db);

        let all_but_3 = |a: &crate::artifact::Artifact, _: &_| a.name.as_str() != "3";
        let live = s.claim_due(&request(false, None), all_but_3, |_| serde_json::json!({})).await.unwrap();
        assert_eq!(live.claims.len(), 3, "{}: the selection decides", case.db);
        assert!(live.run_id.is_some() && live.claims.iter().all(|c| c.token.is_some()), "{}", case.db);
        let again = s.claim_due(&request(false, None), |_, _| true, |_| serde_json::json!({})).await.unwrap();
        let names: Vec<String> = again.claims.iter().map(|c| c.artifact.name.to_string()).collect();
        assert_eq!(names, ["3"], "{}: a claimed artifact is not claimed twice", case.db);
        case.finish().await;
    }
}

#[tokio::test]
async fn a_hold_covers_its_artifacts_until_released_by_its_owner() {
    for case in cases("catalog::suite::holds", |_| {}).await {
        let s = &case.store;
        s.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
        put(s, "acme/wf/a", b"a").await;
        put(s, "acme/other/b", b"b").await;
        let target = Target::parse("acme/wf").unwrap();
        let hold = s.place_hold(&target, "case 12", "test").await.unwrap();
        assert!(s.find(&key("acme/wf/a")).await.unwrap().held, "{}", case.db);
        assert!(!s.find(&key("acme/other/b")).await.unwrap().held, "{}", case.db);
        let removed = s.remove(&key("acme/wf/a"), "test").await;
        assert!(matches!(removed, Err(StoreError::Held(_))), "{}: {removed:?}", case.db);
        s.release_hold(&target, hold.id, "case closed", "test", &Principal::Operator).await.unwrap();
        assert!(!s.find(&key("acme/wf/a")).await.unwrap().held, "{}", case.db);
        case.finish().await;
    }
}

#[tokio::test]
async fn a_schema_from_a_newer_binary_is_refused_by_name() {
    for case in cases("catalog::suite::newer_schema", |_| {}).await {
        let checksum = if case.db == "postgres" { "'\\x00'::bytea" } else { "X'00'" };
        let statement = format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', TRUE, {checksum}, 0)"
        );
        case.store.catalog().writer.execute(sqlx::AssertSqlSafe(statement)).await.unwrap();
        let config = case.store.config().clone();
        let clock = Arc::new(case.clock.clone());
        let reopened = Store::open(case.store.data_dir(), config, clock).await;
        let message = match &reopened {
            Err(StoreError::Catalog(CatalogError::Open { message, .. })) => message.clone(),
            other => panic!("{}: a newer schema must be refused: {other:?}", case.db),
        };
        assert!(message.contains("newer than this binary") && message.contains("9999"), "{}: {message}", case.db);
        case.finish().await;
    }
}
