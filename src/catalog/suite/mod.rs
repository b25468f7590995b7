//! The catalog's behaviour, checked on both databases: every case runs on a
//! fresh SQLite catalog and on a fresh PostgreSQL schema
//! (`STRATA_TEST_DATABASE_URL`, or the local server; under CI a missing
//! server fails the case).

mod insights;
mod queries;

use crate::artifact::State;
use crate::catalog::{ArtifactFilter, CatalogError, ChainProblem, EventFilter, Principal};
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
async fn a_put_knows_its_tenant_and_the_live_artifact_at_its_key_before_writing() {
    for case in cases("catalog::suite::put_check", |_| {}).await {
        let s = &case.store;
        let missing = s.catalog().put_check(&key("nobody/wf/a")).await;
        assert!(matches!(missing, Err(CatalogError::NotFound(_))), "{}: {missing:?}", case.db);
        s.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
        let (tenant, live) = s.catalog().put_check(&key("acme/wf/a")).await.unwrap();
        assert_eq!((tenant.name.as_str(), tenant.plan.as_str(), live), ("acme", "pro", None), "{}", case.db);
        put(s, "acme/wf/a", b"a").await;
        put(s, "acme/other/b", b"b").await;
        s.place_hold(&Target::parse("acme/wf").unwrap(), "case 7", "test").await.unwrap();
        assert_eq!(s.catalog().put_check(&key("acme/wf/a")).await.unwrap().1, Some(true), "{}", case.db);
        assert_eq!(s.catalog().put_check(&key("acme/other/b")).await.unwrap().1, Some(false), "{}", case.db);
        s.remove(&key("acme/other/b"), "test").await.unwrap();
        assert_eq!(s.catalog().put_check(&key("acme/other/b")).await.unwrap().1, None, "{}: a tombstone", case.db);
        let held = s.put(&key("acme/wf/a"), &b"x"[..], PutOptions { overwrite: true, ..PutOptions::default() }).await;
        assert!(matches!(held, Err(StoreError::Held(_))), "{}: {held:?}", case.db);
        let unknown = s.put(&key("nobody/wf/a"), &b"x"[..], PutOptions::default()).await;
        assert!(matches!(unknown, Err(StoreError::UnknownTenant(ref t)) if t == "nobody"), "{}: {unknown:?}", case.db);
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

/// An event about nothing in particular, numbered for the test.
fn verified(i: usize) -> crate::event::NewEvent {
    crate::event::NewEvent::new(crate::event::EventKind::Verified, "test", serde_json::json!({ "i": i }))
}

/// `(seq, chain_pos, tenant)` of every event, in order.
async fn positions(case: &Case) -> Vec<(i64, Option<i64>, Option<String>)> {
    use sqlx::Row;
    let rows =
        case.store.catalog().pool.fetch_all("SELECT seq, chain_pos, tenant FROM events ORDER BY seq").await.unwrap();
    rows.iter().map(|r| (r.get("seq"), r.get("chain_pos"), r.get("tenant"))).collect()
}

/// Runs `statement` with the append-only triggers dropped.
async fn tamper(case: &Case, statement: &str) {
    let on = if case.db == "postgres" { " ON events" } else { "" };
    let pool = &case.store.catalog().writer;
    for trigger in ["events_append_only_update", "events_append_only_delete"] {
        pool.execute(sqlx::AssertSqlSafe(format!("DROP TRIGGER IF EXISTS {trigger}{on}"))).await.unwrap();
    }
    pool.execute(sqlx::AssertSqlSafe(statement.to_owned())).await.unwrap();
}

#[tokio::test]
async fn concurrent_writers_on_many_tenants_and_on_one_keep_every_chain_verifiable() {
    const ROUNDS: usize = 15;
    for case in cases("catalog::suite::concurrent_chains", |_| {}).await {
        let c = case.store.catalog();
        let tenants: Vec<TenantId> = ["t0", "t1", "t2", "t3"].iter().map(|t| TenantId::parse(t).unwrap()).collect();
        // Writers 0–3 each on their own tenant, 4–5 both on t0, 6 on no
        // tenant, 7 on t1 and no tenant in one transaction.
        let writers = (0..8).map(|w| {
            let (c, tenants) = (c.clone(), tenants.clone());
            tokio::spawn(async move {
                for i in 0..ROUNDS {
                    let at = Utc::now();
                    let event = verified(w * 1000 + i);
                    match w {
                        0..=5 => {
                            let t = &tenants[if w < 4 { w } else { 0 }];
                            let mut tx = c.begin_write_in([Some(t)]).await?;
                            tx.append_event(at, Some(t), None, &event).await?;
                            tx.commit().await?;
                        }
                        6 => {
                            let mut tx = c.begin_write_in([None]).await?;
                            tx.append_event(at, None, None, &event).await?;
                            tx.commit().await?;
                        }
                        _ => {
                            let t = &tenants[1];
                            let mut tx = c.begin_write_in([Some(t), None]).await?;
                            let rows = [
                                crate::catalog::EventRow { tenant: Some(t), artifact: None, event: &event, at: None },
                                crate::catalog::EventRow { tenant: None, artifact: None, event: &event, at: None },
                                crate::catalog::EventRow { tenant: Some(t), artifact: None, event: &event, at: None },
                            ];
                            tx.append_events(at, &rows).await?;
                            tx.commit().await?;
                        }
                    }
                }
                Ok::<_, CatalogError>(())
            })
        });
        for writer in futures::future::join_all(writers).await {
            writer.unwrap().unwrap_or_else(|e| panic!("{}: a writer failed: {e}", case.db));
        }
        let report = c.verify_events().await.unwrap();
        let expected = 7 * ROUNDS + 3 * ROUNDS;
        assert_eq!(report.problem, None, "{}", case.db);
        assert_eq!((report.checked, report.chains), (expected as u64, 5), "{}: t0–t3 and no tenant", case.db);
        // Each chain's positions run 1, 2, 3, … in the order of sequence numbers.
        let mut next: std::collections::HashMap<Option<String>, i64> = std::collections::HashMap::new();
        for (seq, pos, tenant) in positions(&case).await {
            let want = next.entry(tenant.clone()).or_insert(1);
            assert_eq!(pos, Some(*want), "{}: event #{seq} of {tenant:?}", case.db);
            *want += 1;
        }
        let per_chain: Vec<i64> = [Some("t0"), Some("t1"), Some("t2"), Some("t3"), None]
            .iter()
            .map(|t| next[&t.map(String::from)] - 1)
            .collect();
        let r = ROUNDS as i64;
        assert_eq!(per_chain, [3 * r, 3 * r, r, r, 2 * r], "{}: events per chain", case.db);
        case.finish().await;
    }
}

#[tokio::test]
async fn tampering_is_named_in_the_chain_where_it_happened() {
    for case in cases("catalog::suite::chain_tampering", |_| {}).await {
        let s = &case.store;
        let (acme, globex) = (TenantId::parse("acme").unwrap(), TenantId::parse("globex").unwrap());
        for t in [&acme, &globex] {
            s.add_tenant(t, "pro", "test").await.unwrap();
        }
        // seq 3..=14: acme, globex and no tenant in turn.
        for i in 0..12 {
            let tenant = [Some(&acme), Some(&globex), None][i % 3];
            s.record_event(tenant, None, &verified(i)).await.unwrap();
        }
        let intact = s.catalog().verify_events().await.unwrap();
        assert_eq!((intact.checked, intact.chains, intact.problem), (14, 3, None), "{}", case.db);

        // globex's events are #2, #4, #7, #10, #13: deleting #10 leaves a
        // gap after #7 in its chain, though #8 and #9 are intact.
        tamper(&case, "DELETE FROM events WHERE seq = 10").await;
        let report = s.catalog().verify_events().await.unwrap();
        let missing = ChainProblem::Missing { after: 7, seq: 13, tenant: Some("globex".into()) };
        assert_eq!((report.checked, report.problem.as_ref()), (11, Some(&missing)), "{}", case.db);
        assert_eq!(missing.to_string(), "events of tenant globex between #7 and #13 were deleted");

        // acme's #6, modified and rehashed, no longer links to acme's next
        // event, #9, which is found before the gap in globex's chain.
        tamper(&case, "UPDATE events SET actor = 'mallory' WHERE seq = 6").await;
        let report = s.catalog().verify_events().await.unwrap();
        assert_eq!(report.problem, Some(ChainProblem::Modified { seq: 6 }), "{}", case.db);
        let forged = {
            use sqlx::Row;
            let row = s
                .catalog()
                .pool
                .fetch_one("SELECT prev_hash, chain_pos, at, tenant, kind, data FROM events WHERE seq = 6")
                .await
                .unwrap();
            let (prev, data, kind): (String, String, String) = (row.get("prev_hash"), row.get("data"), row.get("kind"));
            let tenant: Option<String> = row.get("tenant");
            crate::catalog::events::chain_hash(
                &prev,
                6,
                row.get("chain_pos"),
                row.get("at"),
                tenant.as_deref(),
                None,
                None,
                None,
                &kind,
                "mallory",
                None,
                &data,
            )
        };
        tamper(&case, &format!("UPDATE events SET hash = '{forged}' WHERE seq = 6")).await;
        let report = s.catalog().verify_events().await.unwrap();
        let broken = ChainProblem::Broken { seq: 9, tenant: Some("acme".into()) };
        assert_eq!((report.checked, report.problem), (8, Some(broken)), "{}", case.db);
        case.finish().await;
    }
}

#[tokio::test]
async fn a_log_from_before_per_tenant_chains_still_verifies_and_is_continued() {
    for case in cases("catalog::suite::legacy_chain", |_| {}).await {
        let c = case.store.catalog();
        // Three events as the log recorded them before it had a chain per
        // tenant: numbered by the writer, no position, one chain.
        let mut prev = crate::catalog::events::GENESIS.to_owned();
        for seq in 1..=3_i64 {
            let tenant = ["acme", "globex", "acme"][usize::try_from(seq).unwrap() - 1];
            let hash = crate::catalog::events::chain_hash(
                &prev,
                seq,
                None,
                seq,
                Some(tenant),
                None,
                None,
                None,
                "verified",
                "old",
                None,
                "{}",
            );
            let insert = format!(
                "INSERT INTO events (seq, at, tenant, kind, actor, data, prev_hash, hash) \
                 VALUES ({seq}, {seq}, '{tenant}', 'verified', 'old', '{{}}', '{prev}', '{hash}')"
            );
            c.writer.execute(sqlx::AssertSqlSafe(insert)).await.unwrap();
            prev = hash;
        }
        if case.db == "postgres" {
            // As the migration does for a log written before it.
            let restart = "SELECT setval(pg_get_serial_sequence('events', 'seq'), \
                           COALESCE((SELECT MAX(seq) FROM events), 0) + 1, false)";
            c.writer.execute(restart).await.unwrap();
        }
        let acme = TenantId::parse("acme").unwrap();
        for tenant in [Some(&acme), None, Some(&acme), None] {
            case.store.record_event(tenant, None, &verified(0)).await.unwrap();
        }
        let report = c.verify_events().await.unwrap();
        assert_eq!((report.checked, report.chains, report.problem), (7, 2, None), "{}", case.db);
        let chained = positions(&case).await;
        let chained: Vec<(Option<i64>, Option<&str>)> = chained.iter().map(|(_, p, t)| (*p, t.as_deref())).collect();
        assert_eq!(
            chained,
            [(None, Some("acme")), (None, Some("globex")), (None, Some("acme"))]
                .into_iter()
                .chain([(Some(1), Some("acme")), (Some(1), None), (Some(2), Some("acme")), (Some(2), None)])
                .collect::<Vec<_>>(),
            "{}",
            case.db
        );
        // The chain of events about no tenant starts at the old log's last
        // event, so deleting that event is found.
        tamper(&case, "DELETE FROM events WHERE seq = 3").await;
        let report = c.verify_events().await.unwrap();
        assert_eq!(report.problem, Some(ChainProblem::Broken { seq: 5, tenant: None }), "{}", case.db);
        case.finish().await;
    }
}

#[tokio::test]
async fn events_of_several_chains_appended_in_calls_of_256_are_in_order_and_verify() {
    for case in cases("catalog::suite::event_batch", |_| {}).await {
        let c = case.store.catalog();
        let (acme, globex) = (TenantId::parse("acme").unwrap(), TenantId::parse("globex").unwrap());
        let events: Vec<crate::event::NewEvent> = (0..512).map(verified).collect();
        let rows: Vec<crate::catalog::EventRow<'_>> = events
            .iter()
            .enumerate()
            .map(|(i, event)| crate::catalog::EventRow {
                tenant: [Some(&acme), Some(&globex), None][i % 3],
                artifact: None,
                event,
                at: None,
            })
            .collect();
        let mut tx = c.begin_write_in([Some(&acme), Some(&globex), None]).await.unwrap();
        let seqs = tx.append_events(case.clock.now(), &rows[..256]).await.unwrap();
        let more = tx.append_events(case.clock.now(), &rows[256..]).await.unwrap();
        tx.commit().await.unwrap();
        let all: Vec<i64> = seqs.into_iter().chain(more).collect();
        assert!(all.windows(2).all(|w| w[0] < w[1]) && all.len() == 512, "{}: in order", case.db);
        let report = c.verify_events().await.unwrap();
        assert_eq!((report.checked, report.chains, report.problem), (512, 3, None), "{}", case.db);
        let last: Vec<(Option<i64>, Option<String>)> =
            positions(&case).await.into_iter().rev().take(3).map(|(_, p, t)| (p, t)).collect();
        let want = [(Some(171), Some("globex".to_owned())), (Some(171), Some("acme".to_owned())), (Some(170), None)];
        assert_eq!(last, want, "{}: 171 + 171 + 170 events", case.db);
        case.finish().await;
    }
}

#[tokio::test]
async fn concurrent_uploads_commit_together_each_with_its_rows_and_events() {
    for case in cases("catalog::suite::concurrent_uploads", |_| {}).await {
        let s = &case.store;
        for t in ["acme", "globex"] {
            s.add_tenant(&TenantId::parse(t).unwrap(), "pro", "test").await.unwrap();
        }
        for i in 0..20 {
            put(s, &format!("acme/wf/a{i}"), format!("first {i}").as_bytes()).await;
        }
        // 60 uploads at once: 20 overwrite a live artifact, 40 are new (some
        // with the bytes of another, so their blobs are shared).
        let uploads = (0..60).map(|i| {
            let (k, bytes) = match i {
                0..20 => (format!("acme/wf/a{i}"), format!("second {i}")),
                20..40 => (format!("globex/wf/b{i}"), format!("shared {}", i % 5)),
                _ => (format!("acme/other/c{i}"), format!("new {i}")),
            };
            async move {
                let options = PutOptions { actor: "test".into(), overwrite: true, ..PutOptions::default() };
                s.put(&key(&k), bytes.as_bytes(), options).await.map(|_| (k, bytes))
            }
        });
        let stored = futures::future::join_all(uploads).await;
        for result in &stored {
            let (k, bytes) = result.as_ref().unwrap();
            let out = case._dir.path().join("read-back");
            s.get_to_file(&key(k), &out).await.unwrap();
            assert_eq!(std::fs::read_to_string(&out).unwrap(), *bytes, "{}: {k}", case.db);
        }
        let count = |kind: &'static str| async move {
            let filter = EventFilter { kind: Some(kind.into()), ..EventFilter::default() };
            s.catalog().events(&filter).await.unwrap().len()
        };
        assert_eq!(count("ingested").await, 80, "{}: one ingested event per upload", case.db);
        assert_eq!(count("overwritten").await, 20, "{}: one overwritten event per replaced artifact", case.db);
        let live = s.catalog().list(&ArtifactFilter::default()).await.unwrap();
        assert_eq!(live.len(), 60, "{}: the replaced artifacts are no longer live", case.db);
        let report = s.catalog().verify_events().await.unwrap();
        assert_eq!(report.problem, None, "{}", case.db);
        let refused = s.put(&key("acme/wf/a1"), &b"third"[..], PutOptions::default()).await;
        assert!(matches!(refused, Err(StoreError::AlreadyExists(_))), "{}: {refused:?}", case.db);
        case.finish().await;
    }
}
