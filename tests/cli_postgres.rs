//! The `strata` binary on a PostgreSQL catalog (`STRATA_DATABASE_URL`) with
//! the Redis queue: each test in a schema of its own, dropped afterwards.

mod common;

use common::redis::Cleanup;
use common::{Strata, noise};
use sqlx::Executor;
use strata_testkit::{database_url, redis_url};

/// A fresh PostgreSQL schema, and the catalog URL that uses it.
struct Schema {
    base: String,
    name: String,
    url: String,
}

impl Schema {
    fn create(base: &str) -> Self {
        let name = format!("strata_test_{}", uuid::Uuid::new_v4().simple());
        run_sql(base, &format!("CREATE SCHEMA \"{name}\""));
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={name}");
        Self { base: base.to_owned(), name, url }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        run_sql(&self.base, &format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name));
    }
}

/// Child processes, killed (SIGKILL) and reaped when the test ends, panics included.
struct Children(Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs one statement on the database at `url`.
fn run_sql(url: &str, statement: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(url).await.expect("the test database answers");
        pool.execute(sqlx::AssertSqlSafe(statement.to_owned())).await.expect("the statement runs");
        pool.close().await;
    });
}

#[test]
fn the_lifecycle_and_retention_run_on_a_postgres_catalog() {
    const TEST: &str = "cli_postgres::the_lifecycle_and_retention_run_on_a_postgres_catalog";
    let (Some(db), Some(redis)) = (database_url(TEST), redis_url(TEST)) else { return };
    let schema = Schema::create(&db);
    let prefix = format!("strata-pg-test-{}", std::process::id());
    let _cleanup = Cleanup(redis.clone(), prefix.clone());
    let s = Strata::new()
        .env("STRATA_DATABASE_URL", &schema.url)
        .env("STRATA_REDIS_URL", &redis)
        .env("STRATA_REDIS_PREFIX", &prefix);
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
    let s = Strata::new().env("STRATA_DATABASE_URL", &schema.url);
    let err = s.fails(&["queue", "stats"], 1);
    assert!(err.contains("STRATA_REDIS_URL"), "{err}");
}

#[test]
fn an_unreachable_or_foreign_catalog_url_is_one_clear_error_without_the_password() {
    let s = Strata::new().env("STRATA_DATABASE_URL", "postgres://strata:s3cret@127.0.0.1:1/catalog");
    let err = s.fails(&["tenant", "ls"], 1);
    assert!(err.contains("postgres://strata:***@127.0.0.1:1/catalog"), "names the URL: {err}");
    assert!(!err.contains("s3cret"), "the password is never printed: {err}");

    let s = Strata::new().env("STRATA_DATABASE_URL", "mysql://db/catalog");
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
    let schema = Schema::create(&db);
    let prefix = format!("strata-pg-multi-{}", std::process::id());
    let _cleanup = Cleanup(redis.clone(), prefix.clone());
    let tiers = tempfile::tempdir().unwrap();
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        "[tiers]\nhot_days = 0\n[jobs]\nvisibility_timeout_secs = 2\n[scheduler]\ncron = \"* * * * * *\"\nleader_ttl_secs = 3\n",
    )
    .unwrap();
    let node = || {
        Strata::new()
            .env("STRATA_DATABASE_URL", &schema.url)
            .env("STRATA_REDIS_URL", &redis)
            .env("STRATA_REDIS_PREFIX", &prefix)
            .env("STORAGE_BASE_PATH", tiers.path().to_str().unwrap())
            .env("STRATA_CONFIG", config.path().to_str().unwrap())
    };
    let seed = node();
    seed.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime.block_on(async {
        let mut config = strata_core::config::Config::default();
        config.catalog.url = Some(schema.url.clone());
        config.storage.base_path = Some(tiers.path().to_owned());
        config.tiers.hot_days = 0;
        let clock = std::sync::Arc::new(strata_core::clock::SystemClock);
        strata_core::store::Store::open(&seed.data(), config, clock).await.unwrap()
    });
    let ingest = |range: std::ops::Range<usize>| {
        runtime.block_on(async {
            for i in range {
                let key = strata_core::id::ArtifactKey::parse(&format!("acme/wf/a{i:04}")).unwrap();
                let opts = strata_core::store::PutOptions::default();
                store.put(&key, format!("artifact {i}").as_bytes(), opts).await.unwrap();
            }
        })
    };
    ingest(0..N);
    let nodes: Vec<Strata> = (0..5).map(|_| node()).collect();
    let mut children = Children(
        nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let role = if i < 3 { "worker" } else { "scheduler" };
                let log = std::fs::File::create(n.path("log")).unwrap();
                n.command(&[role]).stdout(std::process::Stdio::null()).stderr(log).spawn().unwrap()
            })
            .collect(),
    );
    let warm = || {
        let filter = strata_core::catalog::ArtifactFilter {
            tier: Some(strata_core::artifact::Tier::Warm),
            ..Default::default()
        };
        runtime.block_on(store.list(&filter)).unwrap().len()
    };
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let leader = || -> Option<u32> {
        let admin = runtime.block_on(sqlx::AnyPool::connect(&schema.url)).unwrap();
        let row = runtime
            .block_on(sqlx::query("SELECT holder FROM leaders WHERE name = 'scheduler'").fetch_optional(&admin))
            .unwrap()?;
        let holder: String = sqlx::Row::try_get(&row, 0).unwrap();
        holder.split('-').next()?.parse().ok()
    };
    wait_for("the drain under way", &|| warm() >= N / 10);
    let leading = leader().expect("a scheduler leads");
    let (killed_scheduler, killed_worker) = {
        let at = children.0.iter().position(|c| c.id() == leading).expect("the leader is one of the schedulers");
        assert!(at >= 3, "the leader is a scheduler");
        (at, 0)
    };
    for at in [killed_scheduler, killed_worker] {
        let child = &mut children.0[at];
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(warm() < N, "the kills came mid-run");
    // Work that only the standby can plan.
    ingest(N..N + LATER);
    wait_for("every artifact promoted", &|| warm() == N + LATER);
    let standby = leader().expect("the standby leads");
    assert_ne!(standby, leading, "the standby took over");
    for (at, child) in children.0.iter().enumerate() {
        if at != killed_scheduler && at != killed_worker {
            let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        }
    }
    for (at, (child, node)) in children.0.iter_mut().zip(&nodes).enumerate() {
        if at != killed_scheduler && at != killed_worker {
            let log = std::fs::read_to_string(node.path("log")).unwrap_or_default();
            assert!(child.wait().unwrap().success(), "every surviving process stops cleanly:\n{log}");
        }
    }
    let promoted = strata_core::catalog::EventFilter { kind: Some("promoted".into()), ..Default::default() };
    let events = runtime.block_on(store.catalog().events(&promoted)).unwrap();
    let artifacts: std::collections::BTreeSet<_> = events.iter().map(|e| e.artifact_id.clone()).collect();
    assert_eq!((events.len(), artifacts.len()), (N + LATER, N + LATER), "one promotion event per artifact");
    let verified = seed.ok(&["events", "verify"]);
    assert!(verified.contains("intact"), "{verified}");
}

/// Connections killed under a running worker and scheduler
/// (`pg_terminate_backend`, again and again, once both are at work): both
/// keep running, retry, and every artifact is promoted exactly once.
#[test]
fn a_worker_and_a_scheduler_ride_out_killed_database_connections() {
    const TEST: &str = "cli_postgres::a_worker_and_a_scheduler_ride_out_killed_database_connections";
    let (Some(db), Some(redis)) = (database_url(TEST), redis_url(TEST)) else { return };
    const N: usize = 2_000;
    let schema = Schema::create(&db);
    // The processes' connections carry a name of their own: only they are killed.
    let app = format!("strata_kill_{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}&application_name={app}", schema.url);
    let prefix = format!("strata-pg-kill-{}", std::process::id());
    let _cleanup = Cleanup(redis.clone(), prefix.clone());
    let tiers = tempfile::tempdir().unwrap();
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "[tiers]\nhot_days = 0\n[scheduler]\ncron = \"* * * * * *\"\n").unwrap();
    let node = || {
        Strata::new()
            .env("STRATA_DATABASE_URL", &url)
            .env("STRATA_REDIS_URL", &redis)
            .env("STRATA_REDIS_PREFIX", &prefix)
            .env("STORAGE_BASE_PATH", tiers.path().to_str().unwrap())
            .env("STRATA_CONFIG", config.path().to_str().unwrap())
    };
    let seed = node();
    seed.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime.block_on(async {
        let mut config = strata_core::config::Config::default();
        config.catalog.url = Some(schema.url.clone());
        config.storage.base_path = Some(tiers.path().to_owned());
        config.tiers.hot_days = 0;
        let clock = std::sync::Arc::new(strata_core::clock::SystemClock);
        let store = strata_core::store::Store::open(&seed.data(), config, clock).await.unwrap();
        for i in 0..N {
            let key = strata_core::id::ArtifactKey::parse(&format!("acme/wf/a{i:04}")).unwrap();
            store.put(&key, format!("artifact {i}").as_bytes(), Default::default()).await.unwrap();
        }
        store
    });
    let nodes = [node(), node()];
    let mut children = Children(
        nodes
            .iter()
            .zip(["worker", "scheduler"])
            .map(|(n, role)| {
                let log = std::fs::File::create(n.path("log")).unwrap();
                n.command(&[role]).stdout(std::process::Stdio::null()).stderr(log).spawn().unwrap()
            })
            .collect(),
    );
    let logs = || nodes.iter().map(|n| std::fs::read_to_string(n.path("log")).unwrap_or_default()).collect::<Vec<_>>();
    let warm = || {
        let filter = strata_core::catalog::ArtifactFilter {
            tier: Some(strata_core::artifact::Tier::Warm),
            ..Default::default()
        };
        runtime.block_on(store.list(&filter)).unwrap().len()
    };
    let alive = |children: &mut Children| {
        for child in &mut children.0 {
            assert!(child.try_wait().unwrap().is_none(), "a process exited on a killed connection: {:?}", logs());
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while warm() < 20 {
        assert!(std::time::Instant::now() < deadline, "the work never started: {:?}", logs());
        alive(&mut children);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Kill every connection of theirs every 200 ms for 4 s. The victims are
    // chosen first (a materialized CTE), so no other session is touched,
    // whatever order the planner picks.
    let kill = format!(
        "WITH victims AS MATERIALIZED (SELECT pid FROM pg_stat_activity WHERE application_name = '{app}') \
         SELECT COUNT(*) FROM victims WHERE pg_terminate_backend(pid)"
    );
    let admin = runtime.block_on(sqlx::AnyPool::connect(&db)).unwrap();
    let (mut killed, at_first_kill) = (0, warm());
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(4) {
        let row = runtime.block_on(sqlx::query(sqlx::AssertSqlSafe(kill.clone())).fetch_one(&admin)).unwrap();
        killed += sqlx::Row::try_get::<i64, _>(&row, 0).unwrap();
        alive(&mut children);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(killed >= 5, "connections were killed under the processes ({killed})");
    assert!(at_first_kill < N, "the kills came mid-run");
    while warm() < N {
        assert!(std::time::Instant::now() < deadline, "{} of {N} promoted in 120 s: {:?}", warm(), logs());
        alive(&mut children);
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let promoted = strata_core::catalog::EventFilter { kind: Some("promoted".into()), ..Default::default() };
    let events = runtime.block_on(store.catalog().events(&promoted)).unwrap();
    let artifacts: std::collections::BTreeSet<_> = events.iter().map(|e| e.artifact_id.clone()).collect();
    assert_eq!((events.len(), artifacts.len()), (N, N), "one promotion event per artifact");
    let verified = seed.ok(&["events", "verify"]);
    assert!(verified.contains("intact"), "{verified}");
}
