//! The `strata` binary on a PostgreSQL catalog (`STRATA_DATABASE_URL`) with
//! the Redis queue: each test in a schema of its own, dropped afterwards.
//! (The lifecycle and retention tests of `cli_lifecycle`, `cli_retention`,
//! `cli_policy` and `api_retention` also run on this profile under
//! `.ci/run`, with `STRATA_TEST_CATALOG=postgres`.)

mod common;

use std::sync::Arc;
use strata_core::config::env;

use common::cluster::Cluster;
use common::postgres::{ScaleOut, Schema};
use common::{Strata, noise};
use strata_testkit::{database_url, redis_url};

#[test]
fn the_lifecycle_and_retention_run_on_a_postgres_catalog() {
    const TEST: &str = "cli_postgres::the_lifecycle_and_retention_run_on_a_postgres_catalog";
    let (Some(db), Some(redis)) = (database_url(TEST), redis_url(TEST)) else { return };
    let s = Strata::on(Arc::new(ScaleOut::create(&db, &redis)));
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    let inputs: Vec<Vec<u8>> = (0..5).map(|i| noise(3000, i)).collect();
    for (i, bytes) in inputs.iter().enumerate() {
        let input = s.file("in", bytes);
        s.ok(&["put", &format!("acme/wf/a{i}"), &input]);
    }
    assert!(!s.data().join("catalog.db").exists(), "nothing of the catalog is on local disk");
    s.ok(&["retention", "hold", "acme/wf/a4", "--reason", "case 12"]);
    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    assert_eq!(s.json(&["ls", "--tier", "warm"]).as_array().unwrap().len(), 5);
    let out = s.path("a0.out");
    s.ok(&["get", "acme/wf/a0", "-o", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), inputs[0], "the bytes come back from the warm tier");

    // Past the plan's 365 days (eligible), then past the grace: everything
    // but the held one is purged.
    s.ok(&["lifecycle", "run", "--as-of", "+400d", "--wait"]);
    s.ok(&["lifecycle", "run", "--as-of", "+420d", "--wait"]);
    let live = s.json(&["ls"]);
    let names: Vec<&str> = live.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a4"], "only the held artifact is left: {live}");
    let refused = s.fails(&["rm", "acme/wf/a4"], 2);
    assert!(refused.contains("is held"), "{refused}");
    let verified = s.ok(&["events", "verify"]);
    assert!(verified.contains("intact"), "{verified}");
}

#[test]
fn a_postgres_catalog_without_redis_is_refused_naming_what_is_missing() {
    const TEST: &str = "cli_postgres::a_postgres_catalog_without_redis_is_refused_naming_what_is_missing";
    let Some(db) = database_url(TEST) else { return };
    let schema = Schema::create(&db);
    let s = Strata::embedded().env(env::DATABASE_URL, schema.url());
    let err = s.fails(&["queue", "stats"], 1);
    assert!(err.contains(env::REDIS_URL), "{err}");
}

#[test]
fn an_unreachable_or_foreign_catalog_url_is_one_clear_error_without_the_password() {
    let s = Strata::embedded().env(env::DATABASE_URL, "postgres://strata:s3cret@127.0.0.1:1/catalog");
    let err = s.fails(&["tenant", "ls"], 1);
    assert!(err.contains("postgres://strata:***@127.0.0.1:1/catalog"), "names the URL: {err}");
    assert!(!err.contains("s3cret"), "the password is never printed: {err}");

    let s = Strata::embedded().env(env::DATABASE_URL, "mysql://db/catalog");
    let err = s.fails(&["tenant", "ls"], 1);
    assert!(err.contains("not a PostgreSQL URL"), "{err}");
}

/// Three workers and two schedulers, each with a data directory of its own,
/// share one PostgreSQL catalog, one Redis queue and one tier directory. One
/// worker and the leading scheduler are killed (SIGKILL) mid-run; the
/// standby takes over and plans what arrives afterwards, the killed worker's
/// jobs are redelivered, every artifact is promoted exactly once, and the
/// event log verifies.
#[test]
fn workers_and_schedulers_on_separate_data_directories_share_one_catalog_through_kills() {
    const TEST: &str =
        "cli_postgres::workers_and_schedulers_on_separate_data_directories_share_one_catalog_through_kills";
    let (Some(db), Some(redis)) = (database_url(TEST), redis_url(TEST)) else { return };
    const N: usize = 1_000;
    const LATER: usize = 200;
    let config = "[tiers]\nhot_days = 0\n[jobs]\nvisibility_timeout_secs = 2\n\
                  [scheduler]\ncron = \"* * * * * *\"\nleader_ttl_secs = 3\n";
    let mut cluster = Cluster::new(&db, &redis, config, None);
    cluster.ingest(0..N);
    cluster.spawn(&["worker", "worker", "worker", "scheduler", "scheduler"]);
    cluster.wait_for("the drain under way", &|c| c.warm() >= N / 10, &|_| {});
    let (leading, killed) = cluster.kill_the_leader_and_a_worker();
    assert!(cluster.warm() < N, "the kills came mid-run");
    // Work that only the standby can plan.
    cluster.ingest(N..N + LATER);
    cluster.wait_for("every artifact promoted", &|c| c.warm() == N + LATER, &|_| {});
    let standby = cluster.leader().expect("the standby leads");
    assert_ne!(standby, leading, "the standby took over");
    cluster.stop_all_but(&killed);
    cluster.assert_promoted_once(N + LATER);
}

/// Connections killed under a running worker and scheduler
/// (`pg_terminate_backend`, again and again, once both are at work): both
/// keep running, retry, and every artifact is promoted exactly once.
#[test]
fn a_worker_and_a_scheduler_ride_out_killed_database_connections() {
    const TEST: &str = "cli_postgres::a_worker_and_a_scheduler_ride_out_killed_database_connections";
    let (Some(db), Some(redis)) = (database_url(TEST), redis_url(TEST)) else { return };
    const N: usize = 2_000;
    // The processes' connections carry a name of their own: only they are killed.
    let app = format!("strata_kill_{}", uuid::Uuid::new_v4().simple());
    let config = "[tiers]\nhot_days = 0\n[scheduler]\ncron = \"* * * * * *\"\n";
    let mut cluster = Cluster::new(&db, &redis, config, Some(&app));
    cluster.ingest(0..N);
    cluster.spawn(&["worker", "scheduler"]);
    cluster.wait_for("the work started", &|c| c.warm() >= 20, &Cluster::assert_alive);
    // Kill every connection of theirs every 200 ms for 4 s. The victims are
    // chosen first (a materialized CTE), so no other session is touched,
    // whatever order the planner picks.
    let kill = format!(
        "WITH victims AS MATERIALIZED (SELECT pid FROM pg_stat_activity WHERE application_name = '{app}') \
         SELECT COUNT(*) FROM victims WHERE pg_terminate_backend(pid)"
    );
    let admin = cluster.runtime.block_on(sqlx::AnyPool::connect(&db)).expect("the test database answers");
    let (mut killed, at_first_kill) = (0, cluster.warm());
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(4) {
        let query = sqlx::query(sqlx::AssertSqlSafe(kill.clone()));
        let row = cluster.runtime.block_on(query.fetch_one(&admin)).expect("the kill runs");
        killed += sqlx::Row::try_get::<i64, _>(&row, 0).expect("a count");
        cluster.assert_alive();
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(killed >= 5, "connections were killed under the processes ({killed})");
    assert!(at_first_kill < N, "the kills came mid-run");
    cluster.wait_for("every artifact promoted", &|c| c.warm() == N, &Cluster::assert_alive);
    cluster.assert_promoted_once(N);
}
