use super::*;
use crate::handlers::{Context, run};
use std::sync::Arc;
use strata_core::clock::ManualClock;
use strata_core::config::Config;
use strata_core::id::{ArtifactKey, TenantId};
use strata_core::store::PutOptions;

fn keyed(plan: &Plan) -> Vec<(String, JobKind)> {
    let mut v: Vec<_> = plan.items.iter().map(|i| (i.key.clone(), i.kind)).collect();
    v.sort();
    v
}

#[tokio::test]
async fn the_live_run_does_exactly_what_the_dry_run_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Config::default(), Arc::new(ManualClock::new(Utc::now()))).await.unwrap();
    let classes = [None, Some("ephemeral"), Some("permanent-record"), Some("release-evidence")];
    for (t, plan) in [("free-co", "free"), ("pro-co", "pro"), ("big-co", "enterprise")] {
        store.add_tenant(&TenantId::parse(t).unwrap(), plan, "test").await.unwrap();
        for i in 0..12 {
            let key = ArtifactKey::parse(&format!("{t}/wf/a{i}")).unwrap();
            let opts = PutOptions { class: classes[i % 4].map(str::to_owned), ..PutOptions::default() };
            store.put(&key, format!("{t} {i}").as_bytes(), opts).await.unwrap();
        }
    }
    let ctx = Context::new(store.clone(), "test");
    let mut total = 0;
    for days in [3, 8, 31, 40, 100, 400, 800] {
        let as_of = store.now() + Duration::days(days);
        let dry = plan(&store, as_of, true, 10_000, "test").await.unwrap();
        let live = plan(&store, as_of, false, 10_000, "test").await.unwrap();
        assert_eq!(keyed(&dry), keyed(&live), "day {days}");
        assert_eq!(live.jobs.len(), live.items.len());
        for job in &live.jobs {
            assert_eq!(run(&ctx, job).await.unwrap(), crate::handlers::Outcome::Done, "day {days}: {job:?}");
        }
        total += live.jobs.len();
        let again = plan(&store, as_of, true, 10_000, "test").await.unwrap();
        assert!(
            again.items.iter().all(|i| i.kind == JobKind::Scan),
            "day {days}: only follow-up scans may be due: {:?}",
            keyed(&again)
        );
    }
    assert!(total > 36, "the catalog went through several actions ({total})");
}

/// Property: for random catalogs (plans, classes, artifact, workflow and
/// tenant holds, extensions, ages) under random policies that change
/// partway, at random instants, the live run performs exactly the actions
/// its dry run listed, and each one succeeds. 32 cases from a base seed
/// drawn per run (`STRATA_PROPERTY_SEED` replays one), named in every
/// failure; the cases together must plan promotions, eligibility and
/// purges, so a planner that plans nothing cannot pass.
#[tokio::test]
async fn property_live_equals_dry_run_for_random_catalogs() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use strata_core::id::WorkflowName;
    use strata_core::retention::Target;
    const CASES: u64 = 32;
    let base: u64 = match std::env::var("STRATA_PROPERTY_SEED") {
        Ok(seed) => seed.parse().expect("STRATA_PROPERTY_SEED is a number"),
        Err(_) => rand::rng().random(),
    };
    let mut planned: BTreeMap<JobKind, usize> = BTreeMap::new();
    for case in 0..CASES {
        let seed = base.wrapping_add(case);
        let replay = format!("case {case}: rerun with STRATA_PROPERTY_SEED={base}");
        let mut rng = StdRng::seed_from_u64(seed);
        let mut config = Config::default();
        config.tiers.hot_days = rng.random_range(1..10);
        config.tiers.warm_days = config.tiers.hot_days + rng.random_range(1..40);
        config.tiers.scan_interval_days = [0, 30][rng.random_range(0..2)];
        config.retention.grace_days = rng.random_range(0..10);
        config.retention.keep_latest = rng.random_range(0..3);
        for days in config.retention.plans.values_mut() {
            if rng.random_bool(0.7) {
                *days = strata_core::config::Days::Days(rng.random_range(5..120));
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(Utc::now());
        let mut store = Store::open(dir.path(), config.clone(), Arc::new(clock.clone())).await.unwrap();
        let plans = ["free", "basic", "pro", "enterprise"];
        let classes = [None, None, Some("ephemeral"), Some("standard"), Some("permanent-record")];
        for t in 0..3 {
            let tenant = TenantId::parse(&format!("t{t}")).unwrap();
            store.add_tenant(&tenant, plans[rng.random_range(0..4)], "test").await.unwrap();
        }
        for i in 0..rng.random_range(15..35) {
            clock.advance(Duration::hours(rng.random_range(0..72)));
            let key =
                ArtifactKey::parse(&format!("t{}/w{}/a{i}", rng.random_range(0..3), rng.random_range(0..2))).unwrap();
            let class = classes[rng.random_range(0..classes.len())].map(str::to_owned);
            let bytes = format!("artifact {seed} {i} {}", rng.random::<u32>()).repeat(rng.random_range(1..50));
            store.put(&key, bytes.as_bytes(), PutOptions { class, ..PutOptions::default() }).await.unwrap();
            if rng.random_bool(0.1) {
                store.place_hold(&Target::Artifact(key.clone()), "random hold", "test").await.unwrap();
            }
            if rng.random_bool(0.2) {
                let until = store.now() + Duration::days(rng.random_range(20..500));
                // An extension must be later than the current expiry; an
                // earlier one is refused and changes nothing.
                let _ = store.extend(&key, until, "random extension", "test").await;
            }
        }
        let hold_some = |rng: &mut StdRng| -> Vec<Target> {
            let mut targets = Vec::new();
            for t in 0..3 {
                let tenant = TenantId::parse(&format!("t{t}")).unwrap();
                if rng.random_bool(0.1) {
                    targets.push(Target::Tenant(tenant.clone()));
                }
                for w in 0..2 {
                    if rng.random_bool(0.1) {
                        targets.push(Target::Workflow(tenant.clone(), WorkflowName::parse(&format!("w{w}")).unwrap()));
                    }
                }
            }
            targets
        };
        for target in hold_some(&mut rng) {
            store.place_hold(&target, "random hold", "test").await.unwrap();
        }
        let mut as_of = store.now();
        let change_at = rng.random_range(1..6);
        for step in 0..6 {
            if step == change_at {
                // The policy changes between runs, and more holds come.
                config = changed_policy(&mut rng, &config);
                drop(store);
                store = Store::open(dir.path(), config.clone(), Arc::new(clock.clone())).await.unwrap();
                for target in hold_some(&mut rng) {
                    store.place_hold(&target, "random hold", "test").await.unwrap();
                }
            }
            as_of += Duration::days(rng.random_range(1..90));
            let dry = plan(&store, as_of, true, 10_000, "test").await.unwrap();
            let live = plan(&store, as_of, false, 10_000, "test").await.unwrap();
            assert_eq!(keyed(&dry), keyed(&live), "seed {seed} step {step} ({replay})");
            let ctx = Context::new(store.clone(), "test");
            for job in &live.jobs {
                *planned.entry(job.kind).or_default() += 1;
                let outcome = run(&ctx, job).await.unwrap();
                assert_eq!(outcome, crate::handlers::Outcome::Done, "seed {seed} step {step} ({replay}): {job:?}");
            }
        }
    }
    let total: usize = planned.values().sum();
    eprintln!("{CASES} cases from base seed {base} planned {planned:?}");
    assert!(
        total >= CASES as usize
            && [JobKind::Promote, JobKind::Eligibility, JobKind::Purge].iter().all(|k| planned.contains_key(k)),
        "the cases planned too little to test anything: {planned:?} (base seed {base})"
    );
}

/// A random change of `config`: plan days up or down, tier ages,
/// classes, the cold tier's limit and the grace period.
fn changed_policy(rng: &mut rand::rngs::StdRng, config: &Config) -> Config {
    use rand::Rng;
    use strata_core::config::{ClassRule, Days, PlanWord};
    let mut c = config.clone();
    for days in c.retention.plans.values_mut() {
        *days = match rng.random_range(0..4) {
            0 => Days::Never(strata_core::config::NeverWord::Unlimited),
            1 => *days,
            _ => Days::Days(rng.random_range(3..400)),
        };
    }
    if rng.random_bool(0.6) {
        c.tiers.hot_days = rng.random_range(0..20);
        c.tiers.warm_days = c.tiers.hot_days + rng.random_range(1..60);
    }
    c.tiers.cold_days = rng.random_bool(0.5).then(|| c.tiers.warm_days + rng.random_range(1..200));
    c.retention.grace_days = rng.random_range(0..10);
    let ephemeral = ClassRule::Fixed(Days::Days(rng.random_range(1..30)));
    c.retention.classes.insert("ephemeral".into(), ephemeral);
    let standard =
        if rng.random_bool(0.5) { ClassRule::Plan(PlanWord::Plan) } else { ClassRule::Fixed(Days::Days(50)) };
    c.retention.classes.insert("standard".into(), standard);
    c
}

/// Property: after a random policy change over a random catalog (plans,
/// classes, holds, extensions, artifacts already moved or eligible under
/// the old policy), what `explain` predicts for an instant T is exactly
/// what the live run plans at T, and each job succeeds.
#[tokio::test]
async fn property_explain_predicts_the_live_run_after_random_policy_changes() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use strata_core::retention::Target;
    for seed in 0..8u64 {
        let mut rng = StdRng::seed_from_u64(1000 + seed);
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(Utc::now());
        let before = changed_policy(&mut rng, &Config::default());
        let store = Store::open(dir.path(), before.clone(), Arc::new(clock.clone())).await.unwrap();
        let plans = ["free", "basic", "pro", "enterprise"];
        let classes = [None, None, Some("ephemeral"), Some("standard"), Some("release-evidence")];
        for t in 0..3 {
            let tenant = TenantId::parse(&format!("t{t}")).unwrap();
            store.add_tenant(&tenant, plans[rng.random_range(0..4)], "test").await.unwrap();
        }
        let mut keys = Vec::new();
        for i in 0..rng.random_range(15..30) {
            clock.advance(Duration::hours(rng.random_range(0..96)));
            let key =
                ArtifactKey::parse(&format!("t{}/w{}/a{i}", rng.random_range(0..3), rng.random_range(0..2))).unwrap();
            let class = classes[rng.random_range(0..classes.len())].map(str::to_owned);
            let opts = PutOptions { class, ..PutOptions::default() };
            store.put(&key, format!("artifact {seed} {i}").as_bytes(), opts).await.unwrap();
            if rng.random_bool(0.1) {
                store.place_hold(&Target::Artifact(key.clone()), "random hold", "test").await.unwrap();
            }
            if rng.random_bool(0.2) {
                let until = store.now() + Duration::days(rng.random_range(20..500));
                // An extension must be later than the current expiry; an
                // earlier one is refused and changes nothing.
                let _ = store.extend(&key, until, "random extension", "test").await;
            }
            keys.push(key);
        }
        // Some artifacts move and become eligible under the old policy.
        let ctx = Context::new(store.clone(), "test");
        let first = store.now() + Duration::days(rng.random_range(5..200));
        for job in plan(&store, first, false, 10_000, "test").await.unwrap().jobs {
            run(&ctx, &job).await.unwrap();
        }
        drop(ctx);
        drop(store);

        let after = changed_policy(&mut rng, &before);
        let store = Store::open(dir.path(), after, Arc::new(clock.clone())).await.unwrap();
        let ctx = Context::new(store.clone(), "test");
        let mut at = first;
        for step in 0..6 {
            at += Duration::days(rng.random_range(0..25));
            let mut predicted = Vec::new();
            for key in &keys {
                let Ok(e) = store.explain(key, at).await else { continue };
                if let Some(due) = e.due {
                    predicted.push((key.to_string(), job_kind(due.action)));
                }
            }
            predicted.sort();
            let live = plan(&store, at, false, 10_000, "test").await.unwrap();
            assert_eq!(keyed(&live), predicted, "seed {seed} step {step}");
            for job in &live.jobs {
                assert_eq!(run(&ctx, job).await.unwrap(), crate::handlers::Outcome::Done, "seed {seed}: {job:?}");
            }
        }
        let events = |kind: &str| {
            let filter = strata_core::catalog::EventFilter { kind: Some(kind.into()), ..Default::default() };
            let catalog = store.catalog().clone();
            async move { catalog.events(&filter).await.unwrap().len() }
        };
        assert_eq!(events("policy_changed").await, 1, "seed {seed}: one recompute per change");
    }
}

#[tokio::test]
async fn a_dry_run_sees_a_changed_policy_and_changes_nothing() {
    use strata_core::clock::Clock;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let store = Store::open(dir.path(), Config::default(), Arc::new(clock.clone())).await.unwrap();
    store.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
    let key = ArtifactKey::parse("acme/wf/a").unwrap();
    store.put(&key, b"a".as_slice(), PutOptions::default()).await.unwrap();
    assert!(plan(&store, clock.now() + Duration::days(3), false, 100, "test").await.unwrap().items.is_empty());
    drop(store);
    let mut config = Config::default();
    config.tiers.hot_days = 2;
    let store = Store::open(dir.path(), config, Arc::new(clock.clone())).await.unwrap();
    let as_of = clock.now() + Duration::days(3);
    let count = |kind: &str| {
        let filter = strata_core::catalog::EventFilter { kind: Some(kind.into()), ..Default::default() };
        let catalog = store.catalog().clone();
        async move { catalog.events(&filter).await.unwrap().len() }
    };
    let before = store.find(&key).await.unwrap();
    let dry = plan(&store, as_of, true, 100, "test").await.unwrap();
    assert_eq!(keyed(&dry), [("acme/wf/a".to_owned(), JobKind::Promote)]);
    assert_eq!(dry.items[0].rule.to_string(), "tiers.hot_days: 2 days");
    assert_eq!(store.find(&key).await.unwrap(), before, "a dry run writes nothing");
    assert_eq!(count("policy_changed").await, 0);
    let live = plan(&store, as_of, false, 100, "test").await.unwrap();
    assert_eq!(keyed(&live), keyed(&dry));
    assert_eq!(count("policy_changed").await, 1);
    let event = store.catalog().events(&Default::default()).await.unwrap();
    let changed = event.iter().find(|e| e.event_type == "policy_changed").unwrap();
    assert_eq!(changed.data["difference"]["tiers.hot_days"], serde_json::json!({ "from": 7, "to": 2 }));
    assert_eq!(changed.data["recomputed"], 0, "no expiry changed");
    assert_eq!(changed.data["rescheduled"], 1, "the due date moved");
    plan(&store, as_of, false, 100, "test").await.unwrap();
    assert_eq!(count("policy_changed").await, 1, "applied once");
}

/// A scheduler whose fence no longer holds the leadership lease (another
/// took over, or its own lease ran out) is refused the plan: nothing is
/// stamped, no run is recorded, no event appended, so it has nothing to
/// enqueue. The holder's plan commits.
#[tokio::test]
async fn a_planner_that_lost_the_lease_cannot_commit_a_plan() {
    use strata_core::catalog::{ArtifactFilter, CatalogError};
    use strata_core::clock::Clock;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let store = Store::open(dir.path(), Config::default(), Arc::new(clock.clone())).await.unwrap();
    store.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
    for i in 0..3 {
        let key = ArtifactKey::parse(&format!("acme/wf/a{i}")).unwrap();
        store.put(&key, format!("artifact {i}").as_bytes(), PutOptions::default()).await.unwrap();
    }
    let ttl = Duration::seconds(30);
    let old = store.catalog().lead("scheduler", "old", clock.now(), ttl).await.unwrap().unwrap();
    clock.advance(Duration::seconds(31));
    let new = store.catalog().lead("scheduler", "new", clock.now(), ttl).await.unwrap().unwrap();
    assert!(new.token > old.token, "a take-over grows the fence: {old:?} then {new:?}");

    let as_of = clock.now() + Duration::days(8);
    let artifacts_before = store.list(&ArtifactFilter::default()).await.unwrap();
    let events_before = store.catalog().events(&Default::default()).await.unwrap().len();
    let refused = plan_fenced(&store, as_of, 100, "old", &old).await;
    assert!(matches!(&refused, Err(CatalogError::Conflict(m)) if m.contains("scheduler")), "{refused:?}");
    assert_eq!(store.list(&ArtifactFilter::default()).await.unwrap(), artifacts_before, "nothing stamped");
    assert!(artifacts_before.iter().all(|a| a.job_token.is_none()));
    assert_eq!(store.catalog().events(&Default::default()).await.unwrap().len(), events_before);
    assert!(store.catalog().last_run().await.unwrap().is_none(), "no run recorded");

    let plan = plan_fenced(&store, as_of, 100, "new", &new).await.unwrap();
    assert_eq!(plan.jobs.len(), 3, "the holder plans");
    let stamped = store.list(&ArtifactFilter::default()).await.unwrap();
    let mut tokens: Vec<_> = stamped.iter().filter_map(|a| a.job_token.clone()).collect();
    let mut planned: Vec<_> = plan.jobs.iter().map(|j| j.token.clone()).collect();
    tokens.sort();
    planned.sort();
    assert_eq!(tokens, planned, "each artifact carries the holder's job token");

    // A holder that did not renew is fenced off once its lease runs out,
    // even with no one else leading.
    clock.advance(Duration::seconds(31));
    let late = ArtifactKey::parse("acme/wf/late").unwrap();
    store.put(&late, b"late".as_slice(), PutOptions::default()).await.unwrap();
    let lapsed = plan_fenced(&store, clock.now() + Duration::days(8), 100, "new", &new).await;
    assert!(matches!(&lapsed, Err(CatalogError::Conflict(_))), "{lapsed:?}");
    assert_eq!(store.find(&late).await.unwrap().job_token, None, "nothing stamped after the lease ran out");
}

#[tokio::test]
async fn tenants_take_turns_so_a_backlog_cannot_starve_a_small_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Config::default(), Arc::new(ManualClock::new(Utc::now()))).await.unwrap();
    for (tenant, n) in [("big", 60), ("small", 3)] {
        store.add_tenant(&TenantId::parse(tenant).unwrap(), "pro", "test").await.unwrap();
        for i in 0..n {
            let key = ArtifactKey::parse(&format!("{tenant}/wf/a{i}")).unwrap();
            store.put(&key, format!("{tenant} {i}").as_bytes(), PutOptions::default()).await.unwrap();
        }
    }
    let plan = plan(&store, store.now() + Duration::days(8), false, 10_000, "test").await.unwrap();
    assert_eq!(plan.jobs.len(), 63);
    let first: Vec<&str> = plan.jobs.iter().take(6).map(|j| j.tenant.as_str()).collect();
    assert_eq!(first.iter().filter(|t| **t == "small").count(), 3, "{first:?}");
}
