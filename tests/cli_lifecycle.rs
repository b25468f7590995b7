//! The lifecycle through the real binary, with time injected by `--as-of`.

mod common;

use common::{Strata, log_text, noise};
use strata_core::config::env;

fn tenant_with(plan: &str, key: &str, bytes: &[u8]) -> Strata {
    let s = Strata::new();
    let tenant = key.split('/').next().expect("a key");
    s.ok(&["tenant", "add", tenant, "--plan", plan]);
    let input = s.file("input", bytes);
    s.ok(&["put", key, &input]);
    s
}

#[test]
fn dry_run_lists_exactly_and_changes_nothing() {
    let s = tenant_with("pro", "acme/wf/a.txt", &log_text(200));
    let input = s.file("b", &noise(5000, 2));
    s.ok(&["put", "acme/wf/b.bin", &input]);
    let before = (s.catalog(), s.events().len());
    let out = s.ok(&["lifecycle", "run", "--dry-run", "--as-of", "+8d"]);
    assert!(out.contains("acme/wf/a.txt") && out.contains("acme/wf/b.bin"), "{out}");
    assert!(out.contains("Would run 2 actions") && out.contains("promote 2"), "{out}");
    let plan = s.json(&["lifecycle", "run", "--dry-run", "--as-of", "+40d"]);
    let items = plan["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| i["kind"] == "compress"), "{plan}");
    let dry_runs = s.count_events("lifecycle_dry_run");
    assert_eq!(dry_runs, 2, "each dry run is recorded, and only that");
    assert_eq!((s.catalog(), s.events().len() - dry_runs), before, "a dry run changed something");
}

#[test]
fn free_plan_artifact_moves_expires_and_is_purged() {
    let s = tenant_with("free", "acme/wf/log.txt", &log_text(100));
    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/log.txt")["tier"], "warm");
    assert_eq!(s.count_events("promoted"), 1);

    let n = s.events().len();
    s.ok(&["lifecycle", "run", "--as-of", "+20d", "--wait"]);
    assert_eq!(s.events().len(), n, "nothing is due at day 20");

    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    let a = s.artifact("acme/wf/log.txt");
    assert_eq!(a["state"], "eligible", "{a}");
    assert_eq!(s.count_events("deletion_eligible"), 1);
    let n = s.events().len();
    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    assert_eq!(s.events().len(), n, "re-running the same instant emits nothing new");

    s.ok(&["lifecycle", "run", "--as-of", "+38d", "--wait"]);
    s.fails(&["get", "acme/wf/log.txt"], 2);
    let purged: Vec<_> = s.events().into_iter().filter(|e| e["event_type"] == "purged").collect();
    assert_eq!(purged.len(), 1);
    assert!(purged[0]["data"]["bytes_freed"].as_u64().unwrap() > 0);
    assert_eq!(purged[0]["data"]["forced"], true, "planned ahead of the real clock, and the event says so");
    assert!(s.blob_files("hot").is_empty() && s.blob_files("warm").is_empty() && s.blob_files("cold").is_empty());
    let metrics = s.ok(&["metrics"]);
    assert!(metrics.contains("retention_deletes_total{plan=\"free\",reason=\"retention\"} 1"), "{metrics}");
    assert!(metrics.contains("retention_cleanup_seconds_count 3"), "three runs planned work: {metrics}");
    let freed = purged[0]["data"]["bytes_freed"].as_u64().unwrap();
    assert!(
        metrics.contains(&format!("retention_bytes_freed_total{{plan=\"free\",reason=\"retention\"}} {freed}")),
        "{metrics}"
    );
}

#[test]
fn cold_artifacts_are_compressed_exact_and_restorable() {
    let text = log_text(2000);
    let s = tenant_with("pro", "acme/wf/log.txt", &text);
    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    let a = s.artifact("acme/wf/log.txt");
    assert_eq!((a["tier"].as_str(), a["codec"].as_str()), (Some("cold"), Some("zstd")));
    assert!(a["stored_size"].as_u64().unwrap() * 5 < a["size"].as_u64().unwrap(), "{a}");
    assert_eq!(s.ok(&["get", "acme/wf/log.txt"]).as_bytes(), &text[..]);
    assert!(s.blob_files("hot").is_empty(), "the source copy is gone");

    let out = s.ok(&["restore", "acme/wf/log.txt", "--wait"]);
    assert!(out.contains("Restored acme/wf/log.txt to the hot tier"), "{out}");
    let a = s.artifact("acme/wf/log.txt");
    assert_eq!((a["tier"].as_str(), a["codec"].as_str()), (Some("hot"), Some("none")));
    assert_eq!(s.ok(&["get", "acme/wf/log.txt"]).as_bytes(), &text[..]);
    assert!(s.blob_files("cold").is_empty());
    assert_eq!(s.count_events("restored"), 1);
}

#[test]
fn a_corrupt_source_is_dead_lettered_and_operable() {
    let s = tenant_with("pro", "acme/wf/b.bin", &noise(4000, 3));
    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    std::fs::write(s.blob_of("acme/wf/b.bin"), b"bit rot").unwrap();
    let out = s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    assert!(out.contains("1 dead-lettered"), "{out}");
    let dead = s.json(&["dlq", "list"]);
    let dead = dead.as_array().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["kind"], "compress");
    assert!(dead[0]["last_error"].as_str().unwrap().contains("corrupt"), "{}", dead[0]);
    let stats = s.json(&["queue", "stats"]);
    assert_eq!(stats[0]["dead"], 1, "{stats}");
    assert_eq!(s.artifact("acme/wf/b.bin")["tier"], "warm", "nothing moved on");
    assert_eq!(s.count_events("job_dead_lettered"), 1);

    let id = dead[0]["id"].as_str().unwrap().to_owned();
    s.ok(&["dlq", "retry", &id]);
    let stats = s.json(&["queue", "stats"]);
    assert_eq!((stats[0]["dead"].as_u64(), stats[0]["waiting"].as_u64()), (Some(0), Some(1)), "{stats}");
    s.fails(&["dlq", "retry", "999999"], 2);
    s.ok(&["worker", "--help"]);
    s.ok(&["dlq", "discard", "--all"]);
    assert_eq!(s.json(&["dlq", "list"]).as_array().unwrap().len(), 0);
}

#[test]
fn events_export_and_summary() {
    let s = tenant_with("pro", "acme/wf/a.txt", b"alpha");
    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    let out = s.path("audit.jsonl");
    s.ok(&["events", "export", "-o", out.to_str().unwrap()]);
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<&str> = lines.iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["tenant_created", "ingested", "retention.default_applied", "promoted"]);
    assert_eq!(lines[2]["rule"], "plan pro");
    assert!(lines[2]["expires_at"].is_string(), "the computed expiry: {}", lines[2]);
    assert_eq!(lines[3]["from_tier"], "hot");
    assert_eq!(lines[3]["to_tier"], "warm");
    assert!(lines.windows(2).all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64()));
    // `-o -` is standard output, not a file named `-`.
    let stdout = s.ok(&["events", "export", "-o", "-"]);
    assert_eq!(stdout, std::fs::read_to_string(&out).unwrap());
    assert!(!s.path("-").exists() && !std::path::Path::new("-").exists(), "no file named -");

    assert!(s.ok(&["events", "verify"]).contains("intact: 4 events verified"));
    assert_eq!(s.json(&["events", "verify"])["checked"], 4);
    let history = s.json(&["events", "--artifact", "acme/wf/a.txt"]);
    assert_eq!(history.as_array().unwrap().len(), 3);
    let summary = s.json(&["lifecycle", "summary"]);
    assert_eq!(summary["totals"][0]["tier"], "warm");
    assert_eq!(summary["last_run"]["n_planned"], 1);
    assert!(s.ok(&["lifecycle", "summary"]).contains("Last run"));
}

#[test]
fn lifecycle_dry_run_default_needs_live() {
    let s = tenant_with("pro", "acme/wf/a.txt", b"alpha").env(env::LIFECYCLE_DRY_RUN, "true");
    let out = s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    assert!(out.contains("Would run 1 actions"), "{out}");
    assert_eq!(s.artifact("acme/wf/a.txt")["tier"], "hot");
    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait", "--live"]);
    assert_eq!(s.artifact("acme/wf/a.txt")["tier"], "warm");
}

#[test]
fn the_demo_runs_and_leaves_an_inspectable_data_dir() {
    let s = Strata::new();
    let out = s.ok(&["demo", "--count", "40"]);
    assert!(out.contains("Summary") && out.contains("Day 366"), "{out}");
    let cold = s.json(&["ls", "--tier", "cold"]);
    assert!(!cold.as_array().unwrap().is_empty());
    assert!(s.count_events("purged") > 0);
    s.ok(&["lifecycle", "summary"]);
    let err = s.fails(&["demo", "--count", "5"], 2);
    assert!(err.contains("fresh data directory"), "{err}");
}

#[test]
fn a_worker_process_drains_the_queue_and_stops_on_sigterm() {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    for i in 0..20 {
        let input = s.file(&format!("f{i}"), format!("artifact {i}").as_bytes());
        s.ok(&["put", &format!("acme/wf/a{i}.txt"), &input]);
    }
    s.ok(&["lifecycle", "run", "--as-of", "+8d"]);
    let mut worker = s.command(&["worker"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let pending: u64 = s
            .json(&["queue", "stats"])
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["waiting"].as_u64().unwrap() + l["in_flight"].as_u64().unwrap() + l["delayed"].as_u64().unwrap())
            .sum();
        if pending == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the worker did not drain the queue in time");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let warm = s.json(&["ls", "--tier", "warm"]);
    assert_eq!(warm.as_array().unwrap().len(), 20);
    let term = std::process::Command::new("kill").args(["-TERM", &worker.id().to_string()]).status().unwrap();
    assert!(term.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(status) = worker.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the worker did not stop on SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "worker exit: {status:?}");
    let mut report = String::new();
    std::io::Read::read_to_string(worker.stdout.as_mut().unwrap(), &mut report).unwrap();
    assert!(report.contains("Finished 20 jobs"), "{report}");
}

#[test]
fn the_scheduler_plans_on_its_cron_and_stops_on_sigterm() {
    // hot_days = 0 makes a fresh artifact due at once; the cron ticks every second.
    let s = Strata::new().env(env::HOT_RETENTION_DAYS, "0").env(env::SCHEDULE, "* * * * * *");
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    let input = s.file("a", b"alpha");
    s.ok(&["put", "acme/wf/a.txt", &input]);
    let mut scheduler = s.command(&["scheduler"]).spawn().expect("scheduler starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let waiting = loop {
        let stats = s.json(&["queue", "stats"]);
        let waiting: u64 = stats.as_array().unwrap().iter().map(|l| l["waiting"].as_u64().unwrap()).sum();
        if waiting > 0 || std::time::Instant::now() > deadline {
            break waiting;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    std::process::Command::new("kill").args(["-TERM", &scheduler.id().to_string()]).status().unwrap();
    let status = scheduler.wait().unwrap();
    assert_eq!(waiting, 1, "the scheduler planned the due promote");
    assert!(status.success(), "scheduler exit: {status:?}");
    assert_eq!(s.json(&["lifecycle", "summary"])["last_run"]["n_planned"], 1);
    let bad = Strata::new().env(env::SCHEDULE, "every tuesday");
    let err = bad.fails(&["scheduler"], 2);
    assert!(err.contains("cron"), "{err}");
}

#[test]
fn what_if_shows_what_a_new_policy_would_do_and_changes_nothing() {
    let s = tenant_with("free", "acme/wf/a.txt", b"alpha");
    let policy = s.file("new.toml", b"[retention.plans]\nfree = 10\n[tiers]\nhot_days = 20\nwarm_days = 40\n");
    let before = (s.catalog(), s.events().len());
    let out = s.ok(&["lifecycle", "plan", "--policy", &policy, "--as-of", "+15d"]);
    assert!(out.contains("current policy: promote 1") && out.contains("proposed policy: eligibility 1"), "{out}");
    assert!(out.contains("1 artifacts would be treated differently"), "{out}");
    let diff = s.json(&["lifecycle", "plan", "--policy", &policy, "--as-of", "+15d"]);
    assert_eq!(diff["changes"][0]["current"], "promote");
    assert_eq!(diff["changes"][0]["proposed"], "eligibility");
    assert_eq!((s.catalog(), s.events().len()), before, "a what-if changes nothing");
    let bad = s.file("bad.toml", b"[retention]\nnope = 1\n");
    s.fails(&["lifecycle", "plan", "--policy", &bad], 2);
}

#[test]
fn a_tenant_with_its_own_lane_is_served_by_its_own_workers() {
    let s = Strata::new().env(env::TENANT_LANES, "acme");
    for tenant in ["acme", "globex"] {
        s.ok(&["tenant", "add", tenant, "--plan", "pro"]);
        for i in 0..3 {
            let input = s.file("in", format!("{tenant} {i}").as_bytes());
            s.ok(&["put", &format!("{tenant}/wf/a{i}"), &input]);
        }
    }
    s.ok(&["lifecycle", "run", "--as-of", "+8d"]);
    let waiting = |lane: &str| -> u64 {
        let stats = s.json(&["queue", "stats"]);
        stats.as_array().unwrap().iter().find(|l| l["lane"] == lane).map_or(0, |l| l["waiting"].as_u64().unwrap())
    };
    assert_eq!((waiting("acme"), waiting("default")), (3, 3));

    // A default worker serves the shared lane only.
    let mut worker = s.command(&["worker"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while waiting("default") > 0 {
        assert!(std::time::Instant::now() < deadline, "the default worker did not drain its lane");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::process::Command::new("kill").args(["-TERM", &worker.id().to_string()]).status().unwrap();
    assert!(worker.wait().unwrap().success());
    assert_eq!(waiting("acme"), 3, "acme's lane waits for acme's workers");

    // `--wait` runs every lane, tenant lanes included.
    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    assert_eq!(waiting("acme"), 0);
    assert_eq!(s.json(&["ls", "--tier", "warm"]).as_array().unwrap().len(), 6);
}

/// Which scheduler leads, from the catalog's leader row (no command shows
/// it): the holder's process id (a holder is named `PID-SUFFIX`) and the
/// fence of its tenure; `None` before anyone led.
fn scheduler_leader(s: &Strata) -> Option<(u32, i64)> {
    let row = s.catalog_row("SELECT holder, fence FROM leaders WHERE name = 'scheduler'")?;
    let [holder, fence] = &row[..] else { panic!("two columns: {row:?}") };
    let pid = holder.split('-').next().and_then(|p| p.parse().ok());
    Some((pid.unwrap_or_else(|| panic!("a holder named PID-SUFFIX: {row:?}")), fence.parse().expect("a numeric fence")))
}

#[test]
fn one_of_several_schedulers_leads_and_a_standby_takes_over() {
    let s = Strata::new()
        .env(env::HOT_RETENTION_DAYS, "0")
        .env(env::SCHEDULE, "* * * * * *")
        .env(env::LEADER_TTL_SECS, "3");
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    let start = |name: &str| {
        let log = std::fs::File::create(s.path(name)).unwrap();
        s.command(&["scheduler"]).stderr(log).spawn().unwrap()
    };
    let mut schedulers = Schedulers(vec![start("first.log"), start("second.log")]);
    let [first, second] = &mut schedulers.0[..] else { unreachable!("two schedulers") };
    let waiting = || -> u64 {
        s.json(&["queue", "stats"]).as_array().unwrap().iter().map(|l| l["waiting"].as_u64().unwrap()).sum()
    };
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let input = s.file("a", b"a");
    s.ok(&["put", "acme/wf/a", &input]);
    wait_for("the first plan", &|| waiting() == 1);
    let (pid, fence) = scheduler_leader(&s).expect("a scheduler leads");
    let pids = [first.id(), second.id()];
    assert!(pids.contains(&pid), "the leader is one of the two schedulers: {pid} not in {pids:?}");
    let (leader, standby) = if pid == first.id() { (first, pids[1]) } else { (second, pids[0]) };
    leader.kill().unwrap();
    leader.wait().unwrap();

    let input = s.file("b", b"b");
    s.ok(&["put", "acme/wf/b", &input]);
    wait_for("the standby to take over and plan", &|| waiting() == 2);
    let (new_pid, new_fence) = scheduler_leader(&s).expect("a scheduler leads");
    assert_eq!(new_pid, standby, "the standby took over");
    assert!(new_fence > fence, "the take-over grew the fence: {fence} then {new_fence}");
}

/// Scheduler processes, killed and reaped when the test ends, panics
/// included.
struct Schedulers(Vec<std::process::Child>);

impl Drop for Schedulers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
