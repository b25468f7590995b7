//! The same commands on the Redis Streams queue (`STRATA_REDIS_URL`).

mod common;

use common::redis::Cleanup;
use common::{Strata, noise};
use strata_core::config::env;
use strata_testkit::redis_url;

#[test]
fn the_lifecycle_and_dead_letters_run_on_redis() {
    let Some(url) = redis_url("cli_redis::the_lifecycle_and_dead_letters_run_on_redis") else { return };
    let prefix = format!("strata-cli-test-{}", std::process::id());
    let _cleanup = Cleanup(url.clone(), prefix.clone());
    let s = Strata::new().env(env::REDIS_URL, &url).env(env::REDIS_PREFIX, &prefix);
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    for i in 0..5 {
        let input = s.file("in", &noise(3000, i));
        s.ok(&["put", &format!("acme/wf/a{i}"), &input]);
    }
    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    assert_eq!(s.json(&["ls", "--tier", "warm"]).as_array().unwrap().len(), 5);

    std::fs::write(s.blob_of("acme/wf/a0"), b"bit rot").unwrap();
    let out = s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    assert!(out.contains("1 dead-lettered"), "{out}");
    let dead = s.json(&["dlq", "list"]);
    assert_eq!(dead.as_array().unwrap().len(), 1);
    let id = dead[0]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("default@"), "{id}");
    assert!(dead[0]["last_error"].as_str().unwrap().contains("corrupt"));
    let stats = s.json(&["queue", "stats"]);
    let default = stats.as_array().unwrap().iter().find(|l| l["lane"] == "default").unwrap().clone();
    assert_eq!((default["dead"].as_u64(), default["waiting"].as_u64()), (Some(1), Some(0)), "{stats}");
    s.ok(&["dlq", "retry", &id]);
    let stats = s.json(&["queue", "stats"]);
    let default = stats.as_array().unwrap().iter().find(|l| l["lane"] == "default").unwrap().clone();
    assert_eq!((default["dead"].as_u64(), default["waiting"].as_u64()), (Some(0), Some(1)), "{stats}");
    s.fails(&["dlq", "retry", "default@0-1"], 2);
    s.ok(&["restore", "acme/wf/a1", "--wait"]);
    assert_eq!(s.artifact("acme/wf/a1")["tier"], "hot");

    // A data directory that exists, so that reading it reaches the queue.
    let bad = Strata::new();
    bad.ok(&["tenant", "add", "acme"]);
    let bad = bad.env(env::REDIS_URL, "redis://127.0.0.1:1/");
    let err = bad.fails(&["queue", "stats"], 1);
    assert!(err.contains("redis://127.0.0.1:1/"), "the error names the URL: {err}");
}

#[test]
fn a_job_failing_past_the_retry_horizon_is_dead_lettered_on_redis() {
    let Some(url) = redis_url("cli_redis::a_job_failing_past_the_retry_horizon_is_dead_lettered_on_redis") else {
        return;
    };
    let prefix = format!("strata-cli-poison-{}", std::process::id());
    let _cleanup = Cleanup(url.clone(), prefix.clone());
    let s = Strata::new().env(env::REDIS_URL, &url).env(env::REDIS_PREFIX, &prefix);
    let cfg = s.file(
        "strata.toml",
        b"[jobs]\nbackoff_base_ms = 1\nbackoff_max_ms = 5\nretry_horizon_secs = 1\n[jobs.max_attempts_by_kind]\npromote = 3\n",
    );
    let run = |args: &[&str]| {
        let mut all = vec!["--config", cfg.as_str()];
        all.extend_from_slice(args);
        s.ok(&all)
    };
    run(&["tenant", "add", "acme", "--plan", "pro"]);
    let input = s.file("in", b"payload");
    run(&["put", "acme/wf/a", &input]);
    // The warm tier cannot take the tenant's files: every promote fails with
    // an I/O error, which is transient: retried without spending attempts
    // until the retry horizon (1 s here) after the first failure.
    let warm = s.data().join("tiers/warm");
    std::fs::create_dir_all(&warm).unwrap();
    std::fs::write(warm.join("acme"), b"not a directory").unwrap();
    let out = run(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    assert!(out.contains("; 1 dead-lettered"), "{out}");
    let retried: u64 = out
        .split("Finished 0 jobs; ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(retried > 3, "more tries than the kind's 3 attempts: {out}");
    let dead: serde_json::Value = serde_json::from_str(&run(&["dlq", "list", "--json"])).unwrap();
    assert_eq!(dead[0]["attempts"], 1, "transient failures spend no attempts: {dead}");
    let error = dead[0]["last_error"].as_str().unwrap();
    assert!(error.contains("warm tier") && error.contains("retry_horizon_secs = 1"), "{dead}");
    assert_eq!(dead[0]["artifact"], "acme/wf/a", "{dead}");
    assert_eq!(s.artifact("acme/wf/a")["tier"], "hot", "nothing half-done");

    // Fixed, retried from the dead letters, done.
    std::fs::remove_file(warm.join("acme")).unwrap();
    let id = dead[0]["id"].as_str().unwrap().to_owned();
    run(&["dlq", "retry", &id]);
    let out = run(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    assert!(out.contains("0 dead-lettered"), "{out}");
    assert_eq!(s.artifact("acme/wf/a")["tier"], "warm");
    run(&["dlq", "discard", "--all"]);
}

#[test]
fn three_workers_share_the_work_and_a_killed_ones_jobs_are_redelivered() {
    let Some(url) = redis_url("cli_redis::three_workers_share_the_work_and_a_killed_ones_jobs_are_redelivered") else {
        return;
    };
    const N: usize = 20_000;
    let prefix = format!("strata-cli-multi-{}", std::process::id());
    let _cleanup = Cleanup(url.clone(), prefix.clone());
    let s =
        Strata::new().env(env::REDIS_URL, &url).env(env::REDIS_PREFIX, &prefix).env(env::VISIBILITY_TIMEOUT_SECS, "2");
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    // Bulk ingest through the library, into the same data directory.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use strata_core::store::{PutOptions, Store};
        let clock = std::sync::Arc::new(strata_core::clock::SystemClock);
        let store = Store::open(&s.data(), strata_core::config::Config::default(), clock).await.unwrap();
        for i in 0..N {
            let key = strata_core::id::ArtifactKey::parse(&format!("acme/wf/a{i:05}")).unwrap();
            store.put(&key, format!("artifact {i}").as_bytes(), PutOptions::default()).await.unwrap();
        }
    });
    s.ok(&["lifecycle", "run", "--as-of", "+8d"]);
    let pending = || -> u64 {
        s.json(&["queue", "stats"])
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["waiting"].as_u64().unwrap() + l["in_flight"].as_u64().unwrap() + l["delayed"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(pending(), N as u64);
    let mut workers: Vec<_> =
        (0..3).map(|_| s.command(&["worker"]).stdout(std::process::Stdio::null()).spawn().unwrap()).collect();
    // Kill one worker with SIGKILL once work is under way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while pending() > (N as u64) * 3 / 4 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Freeze the victim until it holds leased jobs, then kill it: those
    // jobs can only finish by being delivered again to another worker.
    let mut victim = workers.remove(0);
    let stream = format!("{prefix}:{{default}}:stream");
    let signal = |sig: &str, pid: u32| {
        assert!(std::process::Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success());
    };
    let held = loop {
        assert!(std::time::Instant::now() < deadline, "the victim never held a lease");
        signal("-STOP", victim.id());
        let held = held_by(&url, &stream, victim.id());
        if held > 0 {
            break held;
        }
        signal("-CONT", victim.id());
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    signal("-KILL", victim.id());
    victim.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while pending() > 0 {
        assert!(std::time::Instant::now() < deadline, "the remaining workers did not finish ({} left)", pending());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    for mut w in workers {
        std::process::Command::new("kill").args(["-TERM", &w.id().to_string()]).status().unwrap();
        assert!(w.wait().unwrap().success());
    }
    assert_eq!(
        held_by(&url, &stream, victim.id()),
        0,
        "the {held} jobs the killed worker held were taken over by the others"
    );
    assert_eq!(s.json(&["ls", "--tier", "warm"]).as_array().unwrap().len(), N, "every job done");
    assert_eq!(s.count_events("promoted"), N, "each exactly once in effect");
    assert!(s.json(&["dlq", "list"]).as_array().unwrap().is_empty());
}

/// The entries of `stream` delivered to, and not yet acknowledged by, the
/// worker process `pid` (its consumers are named `{host}-{pid}-…`).
fn held_by(url: &str, stream: &str, pid: u32) -> u64 {
    let out = std::process::Command::new("redis-cli")
        .args(["-u", url, "XINFO", "CONSUMERS", stream, "workers"])
        .output()
        .expect("redis-cli runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("redis-cli prints text");
    assert!(!text.starts_with("ERR"), "{stream}: {text}");
    let lines: Vec<&str> = text.lines().collect();
    let marker = format!("-{pid}-");
    let mut held = 0;
    let mut ours = false;
    for pair in lines.chunks(2) {
        match pair {
            ["name", name] => ours = name.contains(&marker),
            ["pending", n] if ours => held += n.parse::<u64>().unwrap_or_else(|_| panic!("{text}")),
            _ => {}
        }
    }
    held
}
