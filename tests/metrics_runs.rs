//! Lifecycle runs and their metrics, whoever plans and whoever carries them
//! out, through the real binary; the exposition checked by `promtool`.

mod common;

use common::{Strata, log_text};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use strata_core::config::env;

const ADMIN: &str = "admin-token-for-the-metrics-tests-0123456789";

fn with_artifacts(n: usize) -> Strata {
    let s = Strata::new().env(env::ADMIN_TOKEN, ADMIN);
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    for i in 0..n {
        let mut text = log_text(40);
        text.extend_from_slice(format!("artifact {i}\n").as_bytes());
        let input = s.file(&format!("in{i}"), &text);
        s.ok(&["put", &format!("acme/wf/a{i}.txt"), &input]);
    }
    s
}

/// The value of the sample `series` (name and labels exactly), if present.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

/// `promtool`, or `None` when it is not installed: then `test`'s check by
/// promtool did not run (a failure under CI, where `.ci/run` installs it).
fn promtool(test: &str) -> Option<&'static str> {
    let found = Command::new("promtool").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        strata_testkit::not_run(test, "promtool is not installed (apt-get install prometheus)");
    }
    found.then_some("promtool")
}

/// Asserts that `promtool check metrics` accepts `text` without a complaint
/// (for `test`).
fn promtool_accepts(test: &str, text: &str) {
    let Some(promtool) = promtool(test) else { return };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("feed promtool");
    let out = child.wait_with_output().expect("promtool finishes");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics: {said}\n{text}");
}

#[test]
fn a_run_planned_by_the_cli_and_carried_out_by_a_worker_process_is_recorded() {
    let s = with_artifacts(3);
    let out = s.ok(&["lifecycle", "run", "--as-of", "+8d"]);
    assert!(out.contains("Jobs are queued"), "{out}");
    let before = s.ok(&["metrics"]);
    assert_eq!(sample(&before, "retention_cleanup_runs_total{status=\"success\"}"), Some(0.0), "{before}");
    assert_eq!(sample(&before, "retention_cleanup_seconds_count"), Some(0.0), "{before}");

    let mut worker =
        s.command(&["worker"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("strata worker starts");
    let started = Instant::now();
    let metrics = loop {
        let metrics = s.ok(&["metrics"]);
        if sample(&metrics, "retention_cleanup_runs_total{status=\"success\"}") == Some(1.0) {
            break metrics;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = worker.kill();
            panic!("the worker did not finish the run within 30 s:\n{metrics}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = worker.kill();
    let _ = worker.wait();
    assert_eq!(sample(&metrics, "retention_cleanup_runs_total{status=\"failure\"}"), Some(0.0), "{metrics}");
    assert_eq!(sample(&metrics, "retention_cleanup_seconds_count"), Some(1.0), "{metrics}");
    assert_eq!(sample(&metrics, "strata_eligibility_lag_seconds_count{kind=\"promote\"}"), Some(3.0), "{metrics}");
    assert_eq!(s.count_events("promoted"), 3);
    promtool_accepts(
        "metrics_runs::a_run_planned_by_the_cli_and_carried_out_by_a_worker_process_is_recorded",
        &metrics,
    );
}

#[test]
fn forced_runs_record_the_lag_of_every_promote_compress_and_purge() {
    let s = with_artifacts(2);
    for as_of in ["+8d", "+31d", "+400d", "+408d"] {
        s.ok(&["lifecycle", "run", "--as-of", as_of, "--wait"]);
    }
    assert_eq!(s.count_events("purged"), 2, "{:?}", s.events());
    let metrics = s.ok(&["metrics"]);
    for kind in ["promote", "compress", "purge"] {
        let count = sample(&metrics, &format!("strata_eligibility_lag_seconds_count{{kind=\"{kind}\"}}"));
        assert_eq!(count, Some(2.0), "{kind}: {metrics}");
        let sum = sample(&metrics, &format!("strata_eligibility_lag_seconds_sum{{kind=\"{kind}\"}}"));
        assert!(sum.is_some_and(|s| s > 0.0), "forced runs act after the due instant on their timeline: {metrics}");
    }
    let runs = sample(&metrics, "retention_cleanup_runs_total{status=\"success\"}").unwrap_or(0.0);
    assert!(runs >= 4.0, "{metrics}");
    assert_eq!(sample(&metrics, "retention_cleanup_seconds_count"), Some(runs), "{metrics}");
    promtool_accepts("metrics_runs::forced_runs_record_the_lag_of_every_promote_compress_and_purge", &metrics);
}

#[test]
fn the_metrics_endpoint_of_a_populated_store_passes_promtool() {
    let s = with_artifacts(3);
    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    let server = s.serve();
    let reply = server.raw(&format!(
        "GET /metrics HTTP/1.1\r\nHost: strata\r\nAuthorization: Bearer {ADMIN}\r\nConnection: close\r\n\r\n"
    ));
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let (_, body) = reply.split_once("\r\n\r\n").expect("a body");
    assert!(body.contains("retention_cleanup_runs_total{status=\"success\"} 1"), "{body}");
    assert!(body.contains("strata_http_requests_total"), "{body}");
    promtool_accepts("metrics_runs::the_metrics_endpoint_of_a_populated_store_passes_promtool", body);
}
