//! Crash-safety tests: every handler is stopped between each pair of its
//! steps, the state is checked for consistency (the bytes stay readable,
//! the row is old or new, never in between), and the job is run again.

use super::{Context, FailPoint, JobError, Outcome, run, run_batch};
use crate::payload::{Job, JobKind};
use crate::planner;
use chrono::{Duration, Utc};
use std::sync::Arc;
use strata_core::artifact::{Codec, State, Tier};
use strata_core::catalog::EventFilter;
use strata_core::clock::{ManualClock, from_millis, to_millis};
use strata_core::config::Config;
use strata_core::id::{ArtifactKey, TenantId};
use strata_core::store::{PutOptions, Store, StoreError};
use strata_core::tiers::BlobRef;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    key: ArtifactKey,
    bytes: Vec<u8>,
}

async fn fixture(plan: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let store = Store::open(dir.path(), Config::default(), Arc::new(clock)).await.unwrap();
    let tenant = TenantId::parse("acme").unwrap();
    store.add_tenant(&tenant, plan, "test").await.unwrap();
    let key = ArtifactKey::parse("acme/nightly/report.txt").unwrap();
    let bytes = "line of a compressible build log\n".repeat(2000).into_bytes();
    store.put(&key, &bytes[..], PutOptions { actor: "test".into(), ..PutOptions::default() }).await.unwrap();
    Fixture { _dir: dir, store, key, bytes }
}

fn crash_at(step: &'static str) -> FailPoint {
    Arc::new(move |s| if s == step { Err("simulated crash".into()) } else { Ok(()) })
}

async fn plan_one(f: &Fixture, days: i64, kind: JobKind) -> Job {
    let as_of = f.store.now() + Duration::days(days);
    let plan = planner::plan(&f.store, as_of, false, 100, "test").await.unwrap();
    let jobs: Vec<Job> = plan.jobs.into_iter().filter(|j| j.kind == kind).collect();
    assert_eq!(jobs.len(), 1, "expected one {kind} job at +{days}d");
    jobs.into_iter().next().unwrap()
}

async fn read_back(f: &Fixture) -> Vec<u8> {
    let out = f._dir.path().join("read-back");
    f.store.get_to_file(&f.key, &out).await.unwrap();
    std::fs::read(out).unwrap()
}

async fn events_of(f: &Fixture, kind: &str) -> usize {
    let filter = EventFilter { key: Some(f.key.clone()), kind: Some(kind.into()), ..EventFilter::default() };
    f.store.catalog().events(&filter).await.unwrap().len()
}

/// Files under `dir`, recursively, staging excluded.
fn count_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type().unwrap().is_dir() {
            true if e.file_name() != ".staging" => count_files(&e.path()),
            true => 0,
            false => 1,
        })
        .sum()
}

/// Blob files of tenant `acme` in `tier` (staging excluded).
fn blob_files(f: &Fixture, tier: Tier) -> usize {
    count_files(&f.store.tiers().root(tier).unwrap().join("acme"))
}

async fn crash_then_rerun(f: &Fixture, job: &Job, step: &'static str) {
    let crashing = Context::new(f.store.clone(), "test").with_failpoint(crash_at(step));
    let err = run(&crashing, job).await.unwrap_err();
    assert!(matches!(err, JobError::Retry(ref m) if m.contains(step)), "{step}: {err:?}");
    assert_eq!(read_back(f).await, f.bytes, "bytes must stay readable after a crash at {step}");
    let clean = Context::new(f.store.clone(), "test");
    assert_eq!(run(&clean, job).await.unwrap(), Outcome::Done, "rerun after {step}");
    assert_eq!(run(&clean, job).await.unwrap(), Outcome::Stale, "a duplicate delivery is a no-op");
}

#[tokio::test]
async fn promote_survives_a_crash_at_every_step() {
    for step in ["after_write", "after_switch"] {
        let f = fixture("pro").await;
        let job = plan_one(&f, 8, JobKind::Promote).await;
        crash_then_rerun(&f, &job, step).await;
        let a = f.store.find(&f.key).await.unwrap();
        assert_eq!((a.tier, a.codec), (Tier::Warm, Codec::None), "{step}");
        assert_eq!(events_of(&f, "promoted").await, 1, "exactly one event after a crash at {step}");
        assert_eq!(blob_files(&f, Tier::Hot), 0, "source deleted after {step}");
        assert_eq!(blob_files(&f, Tier::Warm), 1);
        assert_eq!(read_back(&f).await, f.bytes);
    }
}

#[tokio::test]
async fn compress_survives_a_crash_at_every_step() {
    for step in ["after_write", "after_switch"] {
        let f = fixture("pro").await;
        let job = plan_one(&f, 31, JobKind::Compress).await;
        crash_then_rerun(&f, &job, step).await;
        let a = f.store.find(&f.key).await.unwrap();
        assert_eq!((a.tier, a.codec), (Tier::Cold, Codec::Zstd), "{step}");
        assert!(a.stored_size < a.size / 10, "compressed: {} of {}", a.stored_size, a.size);
        assert_eq!(events_of(&f, "compressed").await, 1, "{step}");
        assert_eq!(blob_files(&f, Tier::Hot), 0, "{step}");
        assert_eq!(read_back(&f).await, f.bytes);
    }
}

#[tokio::test]
async fn restore_survives_a_crash_at_every_step() {
    for step in ["after_write", "after_switch"] {
        let f = fixture("pro").await;
        let compress = plan_one(&f, 31, JobKind::Compress).await;
        run(&Context::new(f.store.clone(), "test"), &compress).await.unwrap();
        let at = from_millis(to_millis(f.store.now() + Duration::days(40)));
        let job = planner::plan_restore(&f.store, &f.key, Some(3), at, "test").await.unwrap();
        crash_then_rerun(&f, &job, step).await;
        let a = f.store.find(&f.key).await.unwrap();
        assert_eq!((a.tier, a.codec, a.stored_size), (Tier::Hot, Codec::None, a.size), "{step}");
        assert_eq!(a.pinned_hot_until, Some(at + Duration::days(3)));
        assert_eq!(blob_files(&f, Tier::Cold), 0, "{step}");
        assert_eq!(events_of(&f, "restored").await, 1);
        // Pinned: nothing moves it while the pin holds; afterwards it goes cold again.
        let during = planner::plan(&f.store, at + Duration::days(2), true, 100, "test").await.unwrap();
        assert!(during.items.iter().all(|i| i.kind != JobKind::Compress), "{:?}", during.items);
        let after = planner::plan(&f.store, at + Duration::days(4), true, 100, "test").await.unwrap();
        assert!(after.items.iter().any(|i| i.kind == JobKind::Compress));
    }
}

#[tokio::test]
async fn a_restore_pin_past_the_last_date_fails_the_job_without_a_panic() {
    let f = fixture("pro").await;
    let compress = plan_one(&f, 31, JobKind::Compress).await;
    run(&Context::new(f.store.clone(), "test"), &compress).await.unwrap();
    let job = planner::plan_restore(&f.store, &f.key, Some(u32::MAX), f.store.now(), "test").await.unwrap();
    let err = run(&Context::new(f.store.clone(), "test"), &job).await.unwrap_err();
    assert!(matches!(err, JobError::Abort(_)), "{err:?}");
    assert!(err.to_string().contains("4294967295 days"), "{err}");
    let a = f.store.find(&f.key).await.unwrap();
    assert_eq!(a.tier, Tier::Cold, "nothing switched");
    assert_eq!(blob_files(&f, Tier::Hot), 0, "nothing copied");
    assert_eq!(read_back(&f).await, f.bytes);
}

#[tokio::test]
async fn eligibility_and_purge_survive_crashes() {
    let f = fixture("free").await;
    let eligibility = plan_one(&f, 30, JobKind::Eligibility).await;
    let clean = Context::new(f.store.clone(), "test");
    assert_eq!(run(&clean, &eligibility).await.unwrap(), Outcome::Done);
    assert_eq!(f.store.find(&f.key).await.unwrap().state, State::Eligible);
    assert_eq!(events_of(&f, "deletion_eligible").await, 1);
    assert_eq!(run(&clean, &eligibility).await.unwrap(), Outcome::Stale, "a duplicate delivery is a no-op");

    // Inside the grace period nothing is due; after it, purge.
    let early = planner::plan(&f.store, f.store.now() + Duration::days(36), true, 100, "test").await.unwrap();
    assert!(early.items.iter().all(|i| i.kind != JobKind::Purge));
    let purge = plan_one(&f, 37, JobKind::Purge).await;
    let crashing = Context::new(f.store.clone(), "test").with_failpoint(crash_at("after_tombstone"));
    let crashed = run(&crashing, &purge).await;
    assert!(
        matches!(&crashed, Err(JobError::Retry(m)) if m == "stopped at after_tombstone: simulated crash"),
        "the purge stops at the crash, to be retried: {crashed:?}"
    );
    let found = f.store.find(&f.key).await;
    assert!(matches!(&found, Err(StoreError::NotFound(k)) if *k == f.key), "tombstoned before the bytes go: {found:?}");
    assert_eq!(blob_files(&f, Tier::Hot), 1, "the crash left the bytes behind");
    assert_eq!(run(&clean, &purge).await.unwrap(), Outcome::Done, "rerun after the tombstone");
    assert_eq!(events_of(&f, "purged").await, 1);
    assert_eq!(blob_files(&f, Tier::Hot), 0, "bytes deleted by the rerun");
    assert_eq!(run(&clean, &purge).await.unwrap(), Outcome::Stale);
}

#[tokio::test]
async fn shared_blobs_are_never_deleted_while_referenced() {
    let f = fixture("pro").await;
    let twin = ArtifactKey::parse("acme/other/copy.txt").unwrap();
    f.store.put(&twin, &f.bytes[..], PutOptions::default()).await.unwrap();
    assert_eq!(blob_files(&f, Tier::Hot), 1, "identical bytes are stored once per tenant");
    // Move only the first artifact: the twin still needs the hot blob.
    let job = plan_one_of(&f, 8, &f.key).await;
    run(&Context::new(f.store.clone(), "test"), &job).await.unwrap();
    assert_eq!(blob_files(&f, Tier::Hot), 1);
    let out = f._dir.path().join("twin");
    f.store.get_to_file(&twin, &out).await.unwrap();
    assert_eq!(std::fs::read(out).unwrap(), f.bytes);
    f.store.remove(&twin, "test").await.unwrap();
    assert_eq!(blob_files(&f, Tier::Hot), 0, "released once the last reference went");
}

async fn plan_one_of(f: &Fixture, days: i64, key: &ArtifactKey) -> Job {
    let as_of = f.store.now() + Duration::days(days);
    let plan = planner::plan(&f.store, as_of, false, 100, "test").await.unwrap();
    let id = f.store.find(key).await.unwrap().id;
    plan.jobs.into_iter().find(|j| j.artifact_id == id).unwrap()
}

#[tokio::test]
async fn a_job_planned_before_a_change_is_skipped_or_stale() {
    let f = fixture("pro").await;
    let job = plan_one(&f, 8, JobKind::Promote).await;
    // The artifact is claimed anew (a restore takes the claim over): the old token is dead.
    f.store.claim_live(&f.key).await.unwrap();
    assert_eq!(run(&Context::new(f.store.clone(), "test"), &job).await.unwrap(), Outcome::Stale);
    assert_eq!(f.store.find(&f.key).await.unwrap().tier, Tier::Hot);

    // A job whose time condition no longer holds at its planned time is skipped.
    let f = fixture("pro").await;
    let mut early = plan_one(&f, 8, JobKind::Promote).await;
    early.planned_for = f.store.now() + Duration::days(1);
    assert_eq!(run(&Context::new(f.store.clone(), "test"), &early).await.unwrap(), Outcome::Skipped);
    assert_eq!(f.store.find(&f.key).await.unwrap().tier, Tier::Hot);
}

#[tokio::test]
async fn a_corrupt_source_aborts_and_keeps_the_data() {
    let f = fixture("pro").await;
    let a = f.store.find(&f.key).await.unwrap();
    let blob = BlobRef { tenant: &a.tenant, blake3: &a.blake3, codec: a.codec };
    std::fs::write(f.store.tiers().local_path(Tier::Hot, &blob).unwrap(), b"rot").unwrap();
    let job = plan_one(&f, 8, JobKind::Promote).await;
    let err = run(&Context::new(f.store.clone(), "test"), &job).await.unwrap_err();
    assert!(err.is_abort(), "{err:?}");
    assert!(err.to_string().contains("corrupt"), "{err}");
    assert_eq!(f.store.find(&f.key).await.unwrap().tier, Tier::Hot);
    assert_eq!(blob_files(&f, Tier::Warm), 0, "corrupt bytes are not copied onward");
}

#[tokio::test]
async fn a_hold_placed_after_planning_stops_the_purge_but_not_a_move() {
    use strata_core::retention::Target;
    let f = fixture("free").await;
    let eligibility = plan_one(&f, 30, JobKind::Eligibility).await;
    run(&Context::new(f.store.clone(), "test"), &eligibility).await.unwrap();
    let purge = plan_one(&f, 37, JobKind::Purge).await;
    f.store.place_hold(&Target::Artifact(f.key.clone()), "late hold", "test").await.unwrap();
    assert_eq!(run(&Context::new(f.store.clone(), "test"), &purge).await.unwrap(), Outcome::Skipped);
    assert_eq!(read_back(&f).await, f.bytes, "held bytes survive a purge planned before the hold");
    assert_eq!(events_of(&f, "purged").await, 0);

    // A move planned before a hold still completes: holds do not pin tiers.
    let f = fixture("pro").await;
    let promote = plan_one(&f, 8, JobKind::Promote).await;
    f.store.place_hold(&Target::Artifact(f.key.clone()), "hold mid-flight", "test").await.unwrap();
    assert_eq!(run(&Context::new(f.store.clone(), "test"), &promote).await.unwrap(), Outcome::Done);
    let a = f.store.find(&f.key).await.unwrap();
    assert_eq!((a.tier, a.held), (Tier::Warm, true));
    assert_eq!(blob_files(&f, Tier::Hot), 0);
    assert_eq!(read_back(&f).await, f.bytes);
}

#[tokio::test]
async fn erase_survives_a_crash_and_never_touches_held_artifacts() {
    use strata_core::retention::Target;
    let f = fixture("enterprise").await;
    let erasure = planner::plan_erase(&f.store, &Target::Tenant(f.key.tenant.clone()), "gdpr", "test").await.unwrap();
    assert_eq!(erasure.jobs.len(), 1);
    let crashing = Context::new(f.store.clone(), "test").with_failpoint(crash_at("after_tombstone"));
    let crashed = run(&crashing, &erasure.jobs[0]).await;
    assert!(
        matches!(&crashed, Err(JobError::Retry(m)) if m == "stopped at after_tombstone: simulated crash"),
        "the erasure stops at the crash, to be retried: {crashed:?}"
    );
    let found = f.store.find(&f.key).await;
    assert!(matches!(&found, Err(StoreError::NotFound(k)) if *k == f.key), "tombstoned first: {found:?}");
    assert_eq!(blob_files(&f, Tier::Hot), 1);
    let clean = Context::new(f.store.clone(), "test");
    assert_eq!(run(&clean, &erasure.jobs[0]).await.unwrap(), Outcome::Done);
    assert_eq!(blob_files(&f, Tier::Hot), 0);
    assert_eq!(events_of(&f, "erased").await, 1);

    let f = fixture("enterprise").await;
    let erasure = planner::plan_erase(&f.store, &Target::Artifact(f.key.clone()), "gdpr", "test").await.unwrap();
    f.store.place_hold(&Target::Artifact(f.key.clone()), "hold after the request", "test").await.unwrap();
    assert_eq!(run(&Context::new(f.store.clone(), "test"), &erasure.jobs[0]).await.unwrap(), Outcome::Skipped);
    assert_eq!(read_back(&f).await, f.bytes);
}

#[tokio::test]
async fn large_artifacts_stream_through_every_move() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Config::default(), Arc::new(ManualClock::new(Utc::now()))).await.unwrap();
    store.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
    let key = ArtifactKey::parse("acme/big/log.txt").unwrap();
    let bytes: Vec<u8> = (0..60_000).flat_map(|i| format!("line {i} of a long build log\n").into_bytes()).collect();
    assert!(bytes.len() > 1_500_000);
    store.put(&key, &bytes[..], PutOptions::default()).await.unwrap();
    let f = Fixture { _dir: dir, store, key, bytes };
    let compress = plan_one(&f, 31, JobKind::Compress).await;
    crash_then_rerun(&f, &compress, "after_write").await;
    let a = f.store.find(&f.key).await.unwrap();
    assert_eq!((a.tier, a.codec), (Tier::Cold, Codec::Zstd));
    assert!(a.stored_size * 10 < a.size, "{} of {}", a.stored_size, a.size);
    // Scans stream too.
    let scan = plan_one(&f, 62, JobKind::Scan).await;
    assert_eq!(run(&Context::new(f.store.clone(), "test"), &scan).await.unwrap(), Outcome::Done);
    assert_eq!(events_of(&f, "verified").await, 1);
    let at = from_millis(to_millis(f.store.now() + Duration::days(70)));
    let restore = planner::plan_restore(&f.store, &f.key, None, at, "test").await.unwrap();
    crash_then_rerun(&f, &restore, "after_switch").await;
    let a = f.store.find(&f.key).await.unwrap();
    assert_eq!((a.tier, a.codec, a.stored_size), (Tier::Hot, Codec::None, a.size));
    assert_eq!(blob_files(&f, Tier::Cold), 0);
}

#[tokio::test]
async fn a_corrupt_large_source_never_lands_in_the_target_tier() {
    let f = fixture("pro").await;
    let key = ArtifactKey::parse("acme/big/blob.bin").unwrap();
    let bytes = vec![42u8; 1_000_000];
    f.store.put(&key, &bytes[..], PutOptions::default()).await.unwrap();
    let a = f.store.find(&key).await.unwrap();
    let blob = BlobRef { tenant: &a.tenant, blake3: &a.blake3, codec: a.codec };
    let path = f.store.tiers().local_path(Tier::Hot, &blob).unwrap();
    let mut rotten = std::fs::read(&path).unwrap();
    rotten[500_000] ^= 1;
    std::fs::write(&path, rotten).unwrap();
    let as_of = f.store.now() + Duration::days(31);
    let plan = planner::plan(&f.store, as_of, false, 100, "test").await.unwrap();
    let job = plan.jobs.iter().find(|j| j.artifact_id == a.id).unwrap();
    let err = run(&Context::new(f.store.clone(), "test"), job).await.unwrap_err();
    assert!(err.is_abort() && err.to_string().contains("corrupt"), "{err}");
    let cold = f.store.tiers().local_path(Tier::Cold, &BlobRef { codec: Codec::Zstd, ..blob.clone() }).unwrap();
    assert!(!cold.exists(), "a corrupt stream is aborted, never renamed into place");
    assert_eq!(f.store.find(&key).await.unwrap().tier, Tier::Hot);
}

/// Artifacts of tenant `acme` in one store, on SQLite or on a fresh
/// PostgreSQL schema, for the batch tests.
struct Many {
    db: &'static str,
    store: Store,
    keys: Vec<ArtifactKey>,
    bytes: Vec<Vec<u8>>,
    _dir: tempfile::TempDir,
    _schema: Option<strata_testkit::pg::Schema>,
}

/// `n` artifacts on each database: SQLite, and PostgreSQL when it runs.
async fn many(test: &str, plan: &str, n: usize) -> Vec<Many> {
    let mut out = Vec::new();
    let schemas = std::iter::once(None)
        .chain(strata_testkit::database_url(test).map(|base| Some(strata_testkit::pg::Schema::create(&base))));
    for schema in schemas {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.catalog.url = schema.as_ref().map(|s| s.url().to_owned());
        let store = Store::open(dir.path(), config, Arc::new(ManualClock::new(Utc::now()))).await.unwrap();
        store.add_tenant(&TenantId::parse("acme").unwrap(), plan, "test").await.unwrap();
        let (mut keys, mut bytes) = (Vec::new(), Vec::new());
        for i in 0..n {
            let key = ArtifactKey::parse(&format!("acme/nightly/report-{i}.txt")).unwrap();
            let b = format!("line {i} of a compressible build log\n").repeat(500).into_bytes();
            store.put(&key, &b[..], PutOptions { actor: "test".into(), ..PutOptions::default() }).await.unwrap();
            keys.push(key);
            bytes.push(b);
        }
        let db = if schema.is_some() { "postgres" } else { "sqlite" };
        out.push(Many { db, store, keys, bytes, _dir: dir, _schema: schema });
    }
    out
}

impl Many {
    async fn plan(&self, days: i64, kind: JobKind) -> Vec<Job> {
        let as_of = self.store.now() + Duration::days(days);
        let plan = planner::plan(&self.store, as_of, false, 1000, "test").await.unwrap();
        let jobs: Vec<Job> = plan.jobs.into_iter().filter(|j| j.kind == kind).collect();
        assert_eq!(jobs.len(), self.keys.len(), "{}: one {kind} job per artifact at +{days}d", self.db);
        jobs
    }

    /// Every artifact still reads back its own bytes (live ones only).
    async fn readable(&self, when: &str) {
        for (key, bytes) in self.keys.iter().zip(&self.bytes) {
            if self.store.find(key).await.is_err() {
                continue;
            }
            let out = self._dir.path().join("read-back");
            self.store.get_to_file(key, &out).await.unwrap();
            assert_eq!(&std::fs::read(out).unwrap(), bytes, "{}: {key} readable {when}", self.db);
        }
    }

    async fn events(&self, kind: &str) -> usize {
        let filter = EventFilter { kind: Some(kind.into()), ..EventFilter::default() };
        self.store.catalog().events(&filter).await.unwrap().len()
    }

    fn files(&self, tier: Tier) -> usize {
        count_files(&self.store.tiers().root(tier).unwrap().join("acme"))
    }
}

/// Stops every job of a batch at `step`, checks that nothing was lost or
/// done twice, then reruns the batch: every job is done, once.
async fn crash_batch_then_rerun(m: &Many, jobs: &[Job], step: &'static str, event: &str) {
    let crashing = Context::new(m.store.clone(), "test").with_failpoint(crash_at(step));
    for result in run_batch(&crashing, jobs).await {
        assert!(matches!(&result, Err(JobError::Retry(e)) if e.contains(step)), "{}: {step}: {result:?}", m.db);
    }
    m.readable(&format!("after a crash at {step}")).await;
    let before = m.events(event).await;
    assert!(before == 0 || before == jobs.len(), "{}: the batch's changes commit together: {before}", m.db);
    let clean = Context::new(m.store.clone(), "test");
    for result in run_batch(&clean, jobs).await {
        assert_eq!(result.unwrap(), Outcome::Done, "{}: rerun after {step}", m.db);
    }
    for result in run_batch(&clean, jobs).await {
        assert_eq!(result.unwrap(), Outcome::Stale, "{}: a duplicate delivery is a no-op", m.db);
    }
    assert_eq!(m.events(event).await, jobs.len(), "{}: exactly one {event} event each after {step}", m.db);
    m.readable(&format!("after the rerun from {step}")).await;
}

#[tokio::test]
async fn a_batch_of_moves_stopped_between_any_two_steps_is_finished_by_its_rerun() {
    const TEST: &str = "strata_jobs::handlers::tests::a_batch_of_moves_stopped_between_any_two_steps";
    for (kind, days, tier, event) in
        [(JobKind::Promote, 8, Tier::Warm, "promoted"), (JobKind::Compress, 31, Tier::Cold, "compressed")]
    {
        for step in ["after_write", "after_switch"] {
            for m in many(TEST, "pro", 8).await {
                let jobs = m.plan(days, kind).await;
                crash_batch_then_rerun(&m, &jobs, step, event).await;
                for key in &m.keys {
                    assert_eq!(m.store.find(key).await.unwrap().tier, tier, "{}: {key} after {step}", m.db);
                }
                assert_eq!((m.files(Tier::Hot), m.files(tier)), (0, m.keys.len()), "{}: {kind} {step}", m.db);
            }
        }
    }
}

#[tokio::test]
async fn a_batch_of_deletions_stopped_after_its_tombstones_is_finished_by_its_rerun() {
    use strata_core::retention::Target;
    const TEST: &str = "strata_jobs::handlers::tests::a_batch_of_deletions_stopped_after_its_tombstones";
    for m in many(TEST, "free", 8).await {
        let eligibility = m.plan(30, JobKind::Eligibility).await;
        let clean = Context::new(m.store.clone(), "test");
        for result in run_batch(&clean, &eligibility).await {
            assert_eq!(result.unwrap(), Outcome::Done, "{}", m.db);
        }
        assert_eq!(m.events("deletion_eligible").await, m.keys.len(), "{}", m.db);
        let purges = m.plan(37, JobKind::Purge).await;
        crash_batch_then_rerun(&m, &purges, "after_tombstone", "purged").await;
        assert_eq!(m.files(Tier::Hot), 0, "{}: every purged blob deleted", m.db);
        for key in &m.keys {
            assert!(m.store.find(key).await.is_err(), "{}: {key} purged", m.db);
        }
    }
    for m in many(TEST, "enterprise", 8).await {
        let target = Target::Tenant(m.keys[0].tenant.clone());
        let jobs = planner::plan_erase(&m.store, &target, "gdpr", "test").await.unwrap().jobs;
        assert_eq!(jobs.len(), m.keys.len());
        crash_batch_then_rerun(&m, &jobs, "after_tombstone", "erased").await;
        assert_eq!(m.files(Tier::Hot), 0, "{}: every erased blob deleted", m.db);
    }
}
