//! Retries that outlast an outage, and dead letters that are seen and let go,
//! through the real binary against real tiers.

mod common;

use common::{Server, Strata, log_text};
use std::time::{Duration, Instant};
use strata_core::config::env;

const ADMIN: &str = "admin-token-for-the-retry-tests-0123456789";

/// Short retry delays (10 ms growing to at most 100 ms), five attempts, and
/// a 30 s horizon for transient failures. Under the old rule (every failure
/// spends an attempt) a job failed five times is dead-lettered.
fn short_retries() -> Strata {
    let s = Strata::new();
    let config = s.file(
        "strata.toml",
        b"[jobs]\nmax_attempts = 5\nbackoff_base_ms = 10\nbackoff_max_ms = 100\nretry_horizon_secs = 30\n",
    );
    s.env(env::CONFIG, &config).env(env::ADMIN_TOKEN, ADMIN)
}

fn put_many(s: &Strata, n: usize) {
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    for i in 0..n {
        let input = s.file(&format!("in{i}"), format!("artifact {i}\n").as_bytes());
        s.ok(&["put", &format!("acme/wf/a{i}.txt"), &input]);
    }
}

fn get(server: &Server, path: &str) -> String {
    server.raw(&format!(
        "GET {path} HTTP/1.1\r\nHost: strata\r\nAuthorization: Bearer {ADMIN}\r\nConnection: close\r\n\r\n"
    ))
}

fn post_json(server: &Server, path: &str, body: &str) -> String {
    server.raw(&format!(
        "POST {path} HTTP/1.1\r\nHost: strata\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
}

/// The value of the sample `series` (name and labels exactly) in a metrics text.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0.0)
}

/// Polls `done` every 20 ms until it holds, failing after `limit`.
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "gave up after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_tier_outage_longer_than_the_attempts_dead_letters_nothing_and_everything_completes() {
    const N: usize = 12;
    let s = short_retries();
    put_many(&s, N);
    let server = s.listen("run");
    // The warm tier becomes unreachable: its directory is replaced by a
    // regular file (which root cannot write through either).
    let warm = s.data().join("tiers").join("warm");
    let away = s.path("warm-away");
    std::fs::rename(&warm, &away).expect("move the warm tier away");
    std::fs::write(&warm, b"not a directory").expect("a file in its place");

    let as_of = (chrono::Utc::now() + chrono::Duration::days(8)).to_rfc3339();
    let planned = post_json(&server, "/v1/lifecycle/run", &format!("{{\"as_of\":\"{as_of}\"}}"));
    assert!(planned.starts_with("HTTP/1.1 202"), "{planned}");

    // Wait until the jobs have failed twice as often as the old rule allowed
    // before dead-lettering every one of them.
    let failures = (N * 5 * 2) as f64;
    let mut metrics = String::new();
    wait_until(Duration::from_secs(30), "the promotions to fail repeatedly", || {
        metrics = get(&server, "/metrics");
        sample(&metrics, "strata_jobs_total{kind=\"promote\",outcome=\"retried\"}") >= failures
    });
    assert_eq!(sample(&metrics, "strata_jobs_total{kind=\"promote\",outcome=\"dead_lettered\"}"), 0.0, "{metrics}");
    assert_eq!(sample(&metrics, "strata_jobs_total{kind=\"promote\",outcome=\"done\"}"), 0.0, "the tier is down");

    // The tier comes back: every job completes, none was dead-lettered.
    std::fs::remove_file(&warm).expect("remove the file");
    std::fs::rename(&away, &warm).expect("the warm tier is back");
    wait_until(Duration::from_secs(30), "every promotion to complete", || {
        sample(&get(&server, "/metrics"), "strata_jobs_total{kind=\"promote\",outcome=\"done\"}") >= N as f64
    });
    drop(server);
    let warm_now = s.json(&["ls", "--tier", "warm"]);
    assert_eq!(warm_now.as_array().map(Vec::len), Some(N), "{warm_now}");
    assert_eq!(s.count_events("promoted"), N);
    assert_eq!(s.count_events("job_dead_lettered"), 0);
    assert_eq!(s.json(&["dlq", "list"]), serde_json::json!([]));
}

/// Overwrites an artifact's stored bytes in place with different bytes of
/// the same length; returns the original bytes.
fn corrupt(s: &Strata, key: &str) -> Vec<u8> {
    let blob = s.blob_of(key);
    let original = std::fs::read(&blob).expect("read the blob");
    let mut bad = original.clone();
    bad[0] ^= 0xff;
    std::fs::write(&blob, &bad).expect("corrupt the blob");
    original
}

/// The keys a dry run as of `as_of` would act on.
fn planned(s: &Strata, as_of: &str) -> Vec<String> {
    let plan = s.json(&["lifecycle", "run", "--dry-run", "--as-of", as_of]);
    let items = plan["items"].as_array().cloned().unwrap_or_default();
    items.iter().filter_map(|i| i["key"].as_str().map(str::to_owned)).collect()
}

#[test]
fn a_corrupt_source_dead_letters_at_once_shows_and_is_released_by_retry_and_discard() {
    let s = short_retries();
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    for name in ["a", "b", "c"] {
        let mut text = log_text(50);
        text.extend_from_slice(name.as_bytes());
        let input = s.file(name, &text);
        s.ok(&["put", &format!("acme/wf/{name}.txt"), &input]);
    }
    let a_bytes = corrupt(&s, "acme/wf/a.txt");
    corrupt(&s, "acme/wf/c.txt");
    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);

    let dead = s.json(&["dlq", "list"]);
    let dead = dead.as_array().expect("a list");
    assert_eq!(dead.len(), 2, "{dead:?}");
    for d in dead {
        assert_eq!(d["attempts"], 1, "dead-lettered at once: {d}");
        assert_eq!(d["kind"], "promote");
        assert_eq!(d["tenant"], "acme", "{d}");
        assert!(d["last_error"].as_str().is_some_and(|e| e.contains("corrupt")), "{d}");
    }
    let artifacts: Vec<&str> = dead.iter().filter_map(|d| d["artifact"].as_str()).collect();
    assert_eq!(artifacts, ["acme/wf/a.txt", "acme/wf/c.txt"]);
    let metrics = s.ok(&["metrics"]);
    assert!(metrics.contains("retention_cleanup_runs_total{status=\"failure\"} 1"), "{metrics}");
    assert!(metrics.contains("retention_cleanup_runs_total{status=\"success\"} 0"), "{metrics}");
    let table = s.ok(&["dlq", "list"]);
    assert!(table.contains("tenant") && table.contains("acme/wf/a.txt"), "{table}");

    // Both are shown as dead-lettered, and kept out of planning.
    for key in ["acme/wf/a.txt", "acme/wf/c.txt"] {
        assert!(s.artifact(key)["dead_lettered_at"].is_string(), "{}", s.artifact(key));
        let explained = s.ok(&["explain", key]);
        assert!(explained.contains("dead-lettered"), "{explained}");
    }
    assert!(s.artifact("acme/wf/b.txt")["dead_lettered_at"].is_null());
    let listing = s.ok(&["ls", "acme"]);
    assert_eq!(listing.matches("dead-lettered").count(), 2, "{listing}");
    assert!(planned(&s, "+8d").is_empty(), "claimed by the dead-lettered jobs");

    // Retrying a's dead letter (its bytes repaired) releases it at once.
    std::fs::write(s.blob_of("acme/wf/a.txt"), &a_bytes).expect("repair");
    let a_id = dead[0]["id"].as_str().expect("an id").to_owned();
    let out = s.ok(&["dlq", "retry", &a_id]);
    assert!(out.contains("Re-queued 1"), "{out}");
    assert_eq!(planned(&s, "+8d"), ["acme/wf/a.txt"], "planned again without waiting out the lease");
    assert!(s.artifact("acme/wf/a.txt")["dead_lettered_at"].is_null());

    // Discarding c's releases it too; its source is still corrupt.
    let out = s.ok(&["dlq", "discard", "--all"]);
    assert!(out.contains("Discarded 1"), "{out}");
    assert_eq!(planned(&s, "+8d"), ["acme/wf/a.txt", "acme/wf/c.txt"]);
    assert!(s.artifact("acme/wf/c.txt")["dead_lettered_at"].is_null());

    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/a.txt")["tier"], "warm");
    assert_eq!(s.count_events("promoted"), 2, "b, then a");
}
