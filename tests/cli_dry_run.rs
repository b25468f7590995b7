//! The dry-run switches (`LIFECYCLE_DRY_RUN`, `RETENTION_DRY_RUN`) hold in
//! every process that could change data — `lifecycle run`, `retention
//! sweep`, `scheduler`, `run`, the API's lifecycle run and `worker` — each
//! says so at start, records its dry run as one `lifecycle_dry_run` event,
//! and changes no tier, state, blob or queue; `--live` on the command line
//! is the one override.

mod common;

use common::Strata;
use common::api::{ADMIN, Api};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use strata_core::config::env;

const NOTICE: &str = "dry run: LIFECYCLE_DRY_RUN=true; nothing will be changed";

/// Everything a run could change: the catalog (tombstones included), the
/// blob files of each tier, the queue, and the events other than dry runs.
#[derive(Debug, PartialEq)]
struct Snapshot {
    catalog: Value,
    blobs: Vec<PathBuf>,
    queue: Value,
    events: Vec<Value>,
}

fn snapshot(s: &Strata) -> Snapshot {
    let blobs = ["hot", "warm", "cold"].iter().flat_map(|t| s.blob_files(t)).collect();
    let events = s.events().into_iter().filter(|e| e["event_type"] != "lifecycle_dry_run").collect();
    Snapshot { catalog: s.catalog(), blobs, queue: s.json(&["queue", "stats"]), events }
}

fn dry_run_events(s: &Strata) -> Vec<Value> {
    s.events().into_iter().filter(|e| e["event_type"] == "lifecycle_dry_run").collect()
}

/// Polls `done` every 100 ms for at most 20 s.
fn wait_for(what: &str, done: &dyn Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends SIGTERM and returns the process's standard error.
fn stop(child: std::process::Child) -> String {
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    let out = child.wait_with_output().expect("the process exits");
    assert!(out.status.success(), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A free tenant whose two artifacts were made eligible at day 31 (so a
/// purge is due from day 38) and a fresh one (due to move at day 8).
fn eligible_and_fresh() -> Strata {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme", "--plan", "free"]);
    for name in ["a", "b"] {
        let input = s.file(name, format!("old {name}").as_bytes());
        s.ok(&["put", &format!("acme/wf/{name}"), &input]);
    }
    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/a")["state"], "eligible");
    let input = s.file("c", b"fresh c");
    s.ok(&["put", "acme/wf/c", &input]);
    s
}

#[test]
fn lifecycle_run_under_the_switch_plans_records_and_changes_nothing_until_live() {
    let s = eligible_and_fresh().env(env::LIFECYCLE_DRY_RUN, "true");
    let before = snapshot(&s);
    let stored = |key: &str| s.artifact(key)["stored_size"].as_u64().unwrap();
    let purge_bytes = stored("acme/wf/a") + stored("acme/wf/b");
    let out = s.run(&["lifecycle", "run", "--as-of", "+400d", "--wait"]);
    assert!(out.status.success());
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stderr.contains(NOTICE), "{stderr}");
    assert!(stdout.contains("Would run 3 actions") && stdout.contains("purge 2"), "{stdout}");
    assert_eq!(snapshot(&s), before, "a dry run changed something");
    let recorded = dry_run_events(&s);
    assert_eq!(recorded.len(), 1, "one event per dry run");
    let data = &recorded[0]["data"];
    assert_eq!((data["dry_run"].as_bool(), data["actions"].as_u64()), (Some(true), Some(3)), "{data}");
    assert_eq!(data["by_kind"]["purge"]["count"], 2, "{data}");
    assert_eq!(data["by_kind"]["purge"]["bytes"], purge_bytes, "{data}");
    assert_eq!(recorded[0]["actor"], "cli");

    // The line the audit export writes says it was a dry run; other lines say they were not.
    let export: Vec<Value> =
        s.ok(&["events", "export"]).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert!(export.iter().all(|l| l["dry_run"].is_boolean()), "every line carries dry_run");
    let dry: Vec<&Value> = export.iter().filter(|l| l["dry_run"] == true).collect();
    assert_eq!(dry.len(), 1);
    assert_eq!(dry[0]["event_type"], "lifecycle_dry_run");

    s.ok(&["lifecycle", "run", "--as-of", "+400d", "--wait", "--live"]);
    s.fails(&["get", "acme/wf/a"], 2);
    assert_eq!(s.count_events("purged"), 2, "--live on the command line overrides the switch");
}

#[test]
fn retention_sweep_under_retention_dry_run_changes_nothing_until_live() {
    let s = eligible_and_fresh().env(env::RETENTION_DRY_RUN, "true");
    let before = snapshot(&s);
    let out = s.run(&["retention", "sweep", "--as-of", "+400d"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("dry run: RETENTION_DRY_RUN=true; nothing will be changed"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 artifacts would become eligible"), "{stdout}");
    assert_eq!(snapshot(&s), before, "a dry sweep changed something");
    let recorded = dry_run_events(&s);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["data"]["by_kind"], json!({"eligibility": {"count": 1, "bytes": 7}}));

    s.ok(&["retention", "sweep", "--as-of", "+400d", "--live"]);
    assert_eq!(s.artifact("acme/wf/c")["state"], "eligible", "--live overrides the switch");
}

/// Configuration under which artifacts are due at once on the real clock:
/// they move on the first tick, free artifacts expire at once and are
/// purged as soon as they are eligible; the cron ticks every second.
fn due_now() -> Strata {
    let s = Strata::new()
        .env(env::HOT_RETENTION_DAYS, "0")
        .env(env::RETENTION_DAYS_FREE, "0")
        .env(env::RETENTION_GRACE_DAYS, "0")
        .env(env::SCHEDULE, "* * * * * *");
    s.ok(&["tenant", "add", "acme", "--plan", "free"]);
    s.ok(&["tenant", "add", "globex", "--plan", "pro"]);
    for key in ["acme/wf/old", "acme/wf/new", "globex/wf/g"] {
        let input = s.file("in", key.as_bytes());
        s.ok(&["put", key, &input]);
    }
    s
}

#[test]
fn the_scheduler_under_the_switch_records_dry_runs_and_changes_nothing_until_live() {
    let s = due_now();
    // One artifact is already eligible: its purge is due now.
    s.ok(&["retention", "sweep"]);
    let s = s.env(env::LIFECYCLE_DRY_RUN, "true");
    let before = snapshot(&s);
    let scheduler = s.command(&["scheduler"]).stderr(std::process::Stdio::piped()).spawn().unwrap();
    wait_for("a dry-run tick", &|| !dry_run_events(&s).is_empty());
    let stderr = stop(scheduler);
    assert!(stderr.contains(NOTICE), "{stderr}");
    assert_eq!(snapshot(&s), before, "the scheduler changed something under the switch");
    let tick = &dry_run_events(&s)[0];
    assert_eq!(tick["actor"], "scheduler");
    assert_eq!(tick["data"]["dry_run"], true);
    assert_eq!(tick["data"]["by_kind"]["purge"]["count"], 2, "two eligible artifacts would be purged: {tick}");

    let live = s.command(&["scheduler", "--live"]).stderr(std::process::Stdio::null()).spawn().unwrap();
    let waiting = || -> u64 {
        s.json(&["queue", "stats"]).as_array().unwrap().iter().map(|l| l["waiting"].as_u64().unwrap()).sum()
    };
    wait_for("the live scheduler to enqueue", &|| waiting() > 0);
    stop(live);
}

#[tokio::test]
async fn strata_run_and_its_api_under_the_switch_answer_what_would_be_done_and_change_nothing() {
    let api = Api::launch(
        "run",
        &[(env::LIFECYCLE_DRY_RUN, "true"), (env::HOT_RETENTION_DAYS, "0"), (env::SCHEDULE, "* * * * * *")],
    );
    api.put("wf", "a.txt", b"alpha").await;
    api.put("wf", "b.txt", b"beta").await;
    let before = snapshot(&api.s);
    // The scheduler in the process ticks as a dry run.
    wait_for("a dry-run tick", &|| dry_run_events(&api.s).iter().any(|e| e["data"]["actions"] == 2));

    let as_of = (chrono::Utc::now() + chrono::Duration::days(400)).to_rfc3339();
    let reply = api.call("POST", "/v1/lifecycle/run").token(ADMIN).json(json!({ "as_of": as_of })).send().await;
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    let plan = reply.json();
    assert_eq!((plan["dry_run"].as_bool(), plan["enqueued"].as_u64()), (Some(true), Some(0)), "{plan}");
    assert_eq!(plan["by_kind"]["eligibility"]["count"], 2, "what would be done: {plan}");
    let by_api: Vec<Value> = dry_run_events(&api.s).into_iter().filter(|e| e["actor"] == "api:admin").collect();
    assert_eq!(by_api.len(), 1, "the API's dry run is recorded once");
    assert_eq!(by_api[0]["data"]["by_kind"]["eligibility"]["count"], 2);

    // No request can lift the switch.
    let live = api
        .call("POST", "/v1/lifecycle/run")
        .token(ADMIN)
        .json(json!({ "as_of": as_of, "live": true, "dry_run": false }))
        .send()
        .await;
    live.problem(400, "bad-request");
    assert_eq!(snapshot(&api.s), before, "strata run changed something under the switch");
    assert!(api.server.terminate().success());
}

#[tokio::test]
async fn the_api_run_route_under_serve_is_a_dry_run_too() {
    let api = Api::start(&[(env::RETENTION_DRY_RUN, "true")]);
    api.put("wf", "a.txt", b"alpha").await;
    let before = snapshot(&api.s);
    let as_of = (chrono::Utc::now() + chrono::Duration::days(8)).to_rfc3339();
    let reply = api.call("POST", "/v1/lifecycle/run").token(ADMIN).json(json!({ "as_of": as_of })).send().await;
    assert_eq!(reply.status, 202);
    let plan = reply.json();
    assert_eq!((plan["dry_run"].as_bool(), plan["enqueued"].as_u64()), (Some(true), Some(0)), "{plan}");
    assert_eq!(plan["by_kind"]["promote"]["count"], 1, "{plan}");
    assert_eq!(snapshot(&api.s), before);
    assert_eq!(dry_run_events(&api.s).len(), 1);
}

#[test]
fn a_worker_under_the_switch_runs_no_lifecycle_job_planned_before_it() {
    let s = Strata::new().env(env::HOT_RETENTION_DAYS, "0");
    s.ok(&["tenant", "add", "globex", "--plan", "pro"]);
    let input = s.file("w", b"warm one");
    s.ok(&["put", "globex/wf/w", &input]);
    s.ok(&["lifecycle", "run", "--wait"]);
    assert_eq!(s.artifact("globex/wf/w")["tier"], "warm");
    // Planned before the switch: a move of a fresh artifact (default lane)
    // and a restore (priority lane, an explicit request).
    let input = s.file("h", b"hot one");
    s.ok(&["put", "globex/wf/h", &input]);
    s.ok(&["lifecycle", "run"]);
    s.ok(&["restore", "globex/wf/w"]);
    let s = s.env(env::LIFECYCLE_DRY_RUN, "true");
    let lane = |name: &str| -> u64 {
        let stats = s.json(&["queue", "stats"]);
        stats.as_array().unwrap().iter().find(|l| l["lane"] == name).map_or(0, |l| l["waiting"].as_u64().unwrap())
    };
    assert_eq!((lane("default"), lane("priority")), (1, 1));

    let refused = s.fails(&["worker", "--lane", "default"], 2);
    assert!(refused.contains("lifecycle jobs") && refused.contains("--live"), "{refused}");

    let worker = s
        .command(&["worker"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the restore", &|| s.artifact("globex/wf/w")["tier"] == "hot");
    let stderr = stop(worker);
    assert!(stderr.contains(NOTICE) && stderr.contains("stay queued"), "{stderr}");
    assert_eq!(lane("default"), 1, "the lifecycle job stays queued");
    assert_eq!(s.artifact("globex/wf/h")["tier"], "hot", "nothing moved");
    assert_eq!(s.count_events("promoted"), 1, "only the move before the switch");

    let live = s.command(&["worker", "--live"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    wait_for("the live worker", &|| s.artifact("globex/wf/h")["tier"] == "warm");
    stop(live);
}

#[tokio::test]
async fn serve_live_on_the_command_line_lifts_the_switch_for_the_api() {
    use std::io::BufRead;
    let s = Strata::new().env(env::LIFECYCLE_DRY_RUN, "true").env(env::ADMIN_TOKEN, ADMIN);
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    let input = s.file("a", b"alpha");
    s.ok(&["put", "acme/wf/a", &input]);
    let mut child = s
        .command(&["serve", "--live", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("a first line");
    let base = line.trim().replace("Listening on ", "");
    let as_of = (chrono::Utc::now() + chrono::Duration::days(8)).to_rfc3339();
    let reply = reqwest::Client::new()
        .post(format!("{base}/v1/lifecycle/run"))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(json!({ "as_of": as_of }).to_string())
        .send()
        .await
        .expect("the server answers");
    assert_eq!(reply.status(), 202);
    let plan: Value = serde_json::from_slice(&reply.bytes().await.expect("a body")).expect("JSON");
    assert_eq!((plan["dry_run"].as_bool(), plan["enqueued"].as_u64()), (Some(false), Some(1)), "{plan}");
    let stderr = stop(child);
    assert!(!stderr.contains("dry run:"), "{stderr}");
    assert!(dry_run_events(&s).is_empty());
}
