//! README behaviours through the real binary and server, each asserted so it
//! fails when the behaviour breaks.

mod common;

use common::{Strata, noise};
use strata_core::config::env;

/// A data directory with tenant `acme` on `plan`, configured by `toml`.
fn configured(plan: &str, toml: &str) -> Strata {
    let s = Strata::new();
    let cfg = s.file("strata.toml", toml.as_bytes());
    let s = s.env(env::CONFIG, &cfg);
    s.ok(&["tenant", "add", "acme", "--plan", plan]);
    s
}

fn put(s: &Strata, key: &str, bytes: &[u8]) {
    let input = s.file("input", bytes);
    s.ok(&["put", key, &input]);
}

/// What identifies an artifact's stored copy.
fn stored_copy(a: &serde_json::Value) -> [serde_json::Value; 6] {
    ["tier", "codec", "blake3", "size", "stored_size", "state"].map(|k| a[k].clone())
}

#[test]
fn a_scan_mismatch_records_scan_failed_and_repairs_nothing() {
    let s = configured("pro", "[tiers]\nscan_interval_days = 1\nhot_days = 100\nwarm_days = 200\n");
    put(&s, "acme/wf/corrupt.bin", &noise(4000, 1));
    put(&s, "acme/wf/missing.bin", &noise(3000, 2));
    put(&s, "acme/wf/intact.bin", &noise(2000, 3));
    let corrupt = s.blob_of("acme/wf/corrupt.bin");
    let mut tampered = std::fs::read(&corrupt).unwrap();
    tampered[100] ^= 0xff;
    std::fs::write(&corrupt, &tampered).unwrap();
    let missing = s.blob_of("acme/wf/missing.bin");
    std::fs::remove_file(&missing).unwrap();
    let before: Vec<_> =
        ["corrupt", "missing", "intact"].map(|n| stored_copy(&s.artifact(&format!("acme/wf/{n}.bin")))).into();
    let files_before = s.blob_files("hot");

    s.ok(&["lifecycle", "run", "--as-of", "+2d", "--wait"]);

    let failed: Vec<_> = s.events().into_iter().filter(|e| e["event_type"] == "scan_failed").collect();
    let mut names: Vec<_> = failed.iter().map(|e| e["artifact_id"].as_str().unwrap_or_default().to_owned()).collect();
    names.sort();
    assert_eq!(names, ["corrupt.bin", "missing.bin"], "{failed:?}");
    assert!(failed.iter().all(|e| e["data"]["tier"] == "hot" && e["data"]["error"].is_string()), "{failed:?}");
    assert_eq!(s.count_events("verified"), 1, "the intact blob is verified");
    let after: Vec<_> =
        ["corrupt", "missing", "intact"].map(|n| stored_copy(&s.artifact(&format!("acme/wf/{n}.bin")))).into();
    assert_eq!(after, before, "no artifact was rewritten");
    assert_eq!(std::fs::read(&corrupt).unwrap(), tampered, "the corrupt bytes are left as they are");
    assert!(!missing.exists(), "the missing blob is not recreated");
    assert_eq!(s.blob_files("hot"), files_before, "no blob was written");
    assert!(s.blob_files("warm").is_empty() && s.blob_files("cold").is_empty());
}

#[test]
fn events_verify_names_a_modified_event_and_exits_1() {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme"]);
    put(&s, "acme/wf/a.bin", &noise(100, 1));
    put(&s, "acme/wf/b.bin", &noise(100, 2));
    assert!(s.ok(&["events", "verify"]).contains("intact"));
    let events = s.events();
    let target = events.iter().find(|e| e["artifact_id"] == "a.bin").expect("a.bin's event");
    let seq = target["seq"].as_i64().expect("seq");
    let sql = format!("DROP TRIGGER events_append_only_update; UPDATE events SET actor = 'mallory' WHERE seq = {seq};");
    let status = std::process::Command::new("sqlite3")
        .arg(s.data().join("catalog.db"))
        .arg(&sql)
        .status()
        .expect("the sqlite3 command runs");
    assert!(status.success());

    let err = s.fails(&["events", "verify"], 1);
    assert!(err.contains(&format!("event #{seq} was modified")), "{err}");
    let out = s.command(&["events", "verify", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["problem"], serde_json::json!({ "problem": "modified", "seq": seq }), "{report}");
    assert_eq!(report["checked"].as_i64(), Some(seq - 1), "the events before it are intact: {report}");
}

/// Runs SQL on the catalog with the `sqlite3` command (no process is open on it).
fn sql(s: &Strata, statement: &str) {
    let status = std::process::Command::new("sqlite3")
        .arg(s.data().join("catalog.db"))
        .arg(statement)
        .status()
        .expect("the sqlite3 command runs");
    assert!(status.success(), "{statement}");
}

#[test]
fn without_the_cold_archive_nothing_goes_cold() {
    let s = Strata::new().env(env::ENABLE_COLD_ARCHIVE, "false");
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    put(&s, "acme/wf/log.bin", &noise(5000, 4));
    let plan = s.json(&["lifecycle", "run", "--dry-run", "--as-of", "+40d"]);
    let kinds: Vec<_> = plan["items"].as_array().unwrap().iter().map(|i| i["kind"].clone()).collect();
    assert_eq!(kinds, ["promote"], "an artifact overdue for cold only goes warm: {plan}");
    s.ok(&["lifecycle", "run", "--as-of", "+40d", "--wait"]);
    s.ok(&["lifecycle", "run", "--as-of", "+200d", "--wait"]);
    let a = s.artifact("acme/wf/log.bin");
    assert_eq!((a["tier"].as_str(), a["codec"].as_str()), (Some("warm"), Some("none")), "{a}");
    assert_eq!((s.count_events("promoted"), s.count_events("compressed")), (1, 0));
    assert!(s.blob_files("cold").is_empty());

    // The same artifact with the archive enabled goes cold at day 40.
    let control = Strata::new();
    control.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    put(&control, "acme/wf/log.bin", &noise(5000, 4));
    control.ok(&["lifecycle", "run", "--as-of", "+40d", "--wait"]);
    assert_eq!(control.artifact("acme/wf/log.bin")["tier"], "cold");
}

/// `acme/wf/a.bin` stored as if 10 days ago, with the next action the put
/// would have scheduled under `hot_days = 7` (day 7, three days ago).
fn stored_ten_days_ago(age_from: &str) -> Strata {
    let s = configured("pro", &format!("[tiers]\nage_from = \"{age_from}\"\nhot_days = 7\n"));
    put(&s, "acme/wf/a.bin", &noise(1000, 5));
    let day = 86_400_000;
    sql(
        &s,
        &format!(
            "UPDATE artifacts SET created_at = created_at - 10 * {day}, last_accessed_at = last_accessed_at - 10 * {day}, \
             verified_at = verified_at - 10 * {day}, next_due_at = created_at - 3 * {day};"
        ),
    );
    s
}

#[test]
fn with_age_from_last_access_a_recently_read_artifact_stays_hot() {
    let s = stored_ten_days_ago("last_access");
    s.ok(&["get", "acme/wf/a.bin", "-o", &s.path("out").display().to_string()]);
    s.ok(&["lifecycle", "run", "--wait"]);
    assert_eq!(s.artifact("acme/wf/a.bin")["tier"], "hot", "read today: 0 days old, not 10");
    assert_eq!(s.count_events("promoted"), 0);
    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/a.bin")["tier"], "warm", "8 days after the read");

    // Not read, it is promoted at its creation age.
    let unread = stored_ten_days_ago("last_access");
    unread.ok(&["lifecycle", "run", "--wait"]);
    assert_eq!(unread.artifact("acme/wf/a.bin")["tier"], "warm");
    // Read, but with age counted from creation, it is promoted too.
    let by_creation = stored_ten_days_ago("created");
    by_creation.ok(&["get", "acme/wf/a.bin", "-o", &by_creation.path("out").display().to_string()]);
    by_creation.ok(&["lifecycle", "run", "--wait"]);
    assert_eq!(by_creation.artifact("acme/wf/a.bin")["tier"], "warm");
}

/// `acme/wf/cold.bin` and `acme/other/cold.bin` in cold, `acme/wf/warm.bin`
/// in warm, `acme/wf/hot.bin` in hot.
fn in_every_tier() -> Strata {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    put(&s, "acme/wf/cold.bin", &noise(3000, 6));
    put(&s, "acme/other/cold.bin", &noise(3000, 7));
    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    put(&s, "acme/wf/warm.bin", &noise(2000, 8));
    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    put(&s, "acme/wf/hot.bin", &noise(1000, 9));
    let tiers: Vec<_> = ["wf/cold", "other/cold", "wf/warm", "wf/hot"]
        .map(|k| s.artifact(&format!("acme/{k}.bin"))["tier"].as_str().expect("a tier").to_owned())
        .into();
    assert_eq!(tiers, ["cold", "cold", "warm", "hot"]);
    s
}

#[test]
fn a_bulk_restore_dry_run_lists_and_changes_nothing_and_from_tier_filters() {
    let s = in_every_tier();
    let before = (s.catalog(), s.events(), s.json(&["queue", "stats"]));
    let out = s.ok(&["restore", "acme/wf", "--bulk", "--from-tier", "cold", "--dry-run"]);
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines, ["Would restore acme/wf/cold.bin from the cold tier (2.9 KiB)."], "{out}");
    let everything = s.ok(&["restore", "acme/wf", "--bulk", "--dry-run"]);
    assert_eq!(everything.lines().count(), 2, "warm and cold, this workflow only: {everything}");
    assert!(everything.contains("acme/wf/cold.bin") && everything.contains("acme/wf/warm.bin"), "{everything}");
    assert_eq!((s.catalog(), s.events(), s.json(&["queue", "stats"])), before, "a dry run changed something");

    s.ok(&["restore", "acme/wf", "--bulk", "--from-tier", "cold", "--wait"]);
    let tiers: Vec<_> = ["wf/cold", "other/cold", "wf/warm", "wf/hot"]
        .map(|k| s.artifact(&format!("acme/{k}.bin"))["tier"].as_str().unwrap().to_owned())
        .into();
    assert_eq!(tiers, ["hot", "cold", "warm", "hot"], "only the workflow's cold artifact is restored");
    assert_eq!(s.count_events("restored"), 1);
}

#[test]
fn restore_days_keeps_the_artifact_hot_until_that_many_days() {
    let s = in_every_tier();
    let asked = chrono::Utc::now();
    s.ok(&["restore", "acme/wf/warm.bin", "--days", "30", "--wait"]);
    let a = s.artifact("acme/wf/warm.bin");
    let until = chrono::DateTime::parse_from_rfc3339(a["pinned_hot_until"].as_str().expect("pinned"))
        .expect("a time")
        .with_timezone(&chrono::Utc);
    let days = (until - asked).num_minutes() as f64 / 1440.0;
    assert!((29.99..30.01).contains(&days), "pinned {days} days: {a}");
    s.ok(&["lifecycle", "run", "--as-of", "+29d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/warm.bin")["tier"], "hot", "pinned: it would be back in warm at 29 days otherwise");
    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/warm.bin")["tier"], "cold", "the pin has ended");
}

#[test]
fn put_dash_reads_standard_input() {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme"]);
    let bytes = noise(300_000, 10);
    let mut child = s
        .command(&["put", "acme/wf/piped.bin", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("strata runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let sent = bytes.clone();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &sent));
    let out = child.wait_with_output().expect("strata exits");
    writer.join().expect("the writer").expect("all bytes written");
    assert!(out.status.success(), "{out:?}");
    assert!(!s.path("-").exists() && !std::path::Path::new("-").exists(), "no file named - is read or made");
    let a = s.artifact("acme/wf/piped.bin");
    assert_eq!(a["size"].as_u64(), Some(bytes.len() as u64), "{a}");
    let got = s.command(&["get", "acme/wf/piped.bin"]).output().unwrap();
    assert!(got.status.success());
    assert!(got.stdout == bytes, "the stored bytes are what standard input carried");
}

#[test]
fn log_format_json_writes_one_json_object_per_stderr_line() {
    let run = |json: bool| {
        let mut s = Strata::new().env(env::LOG, "info");
        if json {
            s = s.env(env::LOG_FORMAT, "json");
        }
        s.ok(&["tenant", "add", "acme"]);
        put(&s, "acme/wf/a.bin", &noise(100, 11));
        let out = s.run(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
        assert!(out.status.success());
        String::from_utf8(out.stderr).expect("utf-8")
    };
    let stderr = run(true);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}")))
        .collect();
    assert!(lines.iter().all(|l| l["level"].is_string() && l["timestamp"].is_string()), "{stderr}");
    let finished = lines.iter().find(|l| l["fields"]["message"] == "Lifecycle run finished").expect(&stderr);
    assert_eq!(finished["fields"]["status"], "success", "{finished}");

    let text = run(false);
    let line = text.lines().find(|l| l.contains("Lifecycle run finished")).expect(&text);
    assert!(serde_json::from_str::<serde_json::Value>(line).is_err(), "plain text by default: {line}");
}

#[tokio::test]
async fn upload_headers_set_tags_and_metadata() {
    let api = common::api::Api::start(&[]);
    let reply = api
        .call("PUT", "/v1/tenants/acme/artifacts/nightly/report.json")
        .token(&api.acme)
        .header("X-Strata-Tag", "branch=main")
        .header("X-Strata-Tag", "env=ci")
        .header("X-Strata-Meta", "commit=0a1b2c")
        .body("application/json", b"{}".to_vec())
        .send()
        .await;
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    api.put("nightly", "other.json", b"{}").await;
    let a = api.s.artifact("acme/nightly/report.json");
    assert_eq!(a["tags"], serde_json::json!({ "branch": "main", "env": "ci" }), "{a}");
    assert_eq!(a["meta"], serde_json::json!({ "commit": "0a1b2c" }), "{a}");
    let listed = api.call("GET", "/v1/tenants/acme/artifacts?tag=env=ci").token(&api.acme).send().await.json();
    let names: Vec<_> = listed["artifacts"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .map(|i| i["name"].clone())
        .collect();
    assert_eq!(names, ["report.json"], "{listed}");

    let bad = api
        .call("PUT", "/v1/tenants/acme/artifacts/nightly/bad.json")
        .token(&api.acme)
        .header("X-Strata-Tag", "no-equals-sign")
        .body("application/json", b"{}".to_vec())
        .send()
        .await;
    assert_eq!(bad.status, 400, "{}", String::from_utf8_lossy(&bad.body));
    api.s.fails(&["get", "acme/nightly/bad.json"], 2);
}

#[test]
fn keep_latest_by_tenant_overrides_the_plan_both_ways() {
    let s = Strata::new();
    let cfg = s.file(
        "strata.toml",
        b"[retention]\nkeep_latest = 1\n[retention.keep_latest_by_plan]\nfree = 2\n\
          [retention.keep_latest_by_tenant]\ninitech = 3\nglobex = 0\n",
    );
    let s = s.env(env::CONFIG, &cfg);
    for tenant in ["acme", "initech", "globex"] {
        s.ok(&["tenant", "add", tenant, "--plan", "free"]);
        for n in 1..=4 {
            put(&s, &format!("{tenant}/wf/{n}"), format!("{tenant} {n}").as_bytes());
        }
    }
    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    s.ok(&["lifecycle", "run", "--as-of", "+40d", "--wait"]);
    let live: Vec<String> = s
        .json(&["ls"])
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}/{}", a["tenant"].as_str().unwrap(), a["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        live,
        ["acme/3", "acme/4", "initech/2", "initech/3", "initech/4"],
        "the free plan keeps 2, initech 3 and globex none"
    );
}

#[tokio::test]
async fn readiness_fails_naming_the_catalog_when_the_catalog_is_unreadable() {
    let api = common::api::Api::start(&[]);
    assert_eq!(api.call("GET", "/readyz").send().await.status, 200);
    // Move every page into the database file, then overwrite it in place:
    // the server's open connections read zeros from now on.
    let catalog = api.s.data().join("catalog.db");
    let out = std::process::Command::new("sqlite3")
        .arg(&catalog)
        .arg("PRAGMA wal_checkpoint(TRUNCATE);")
        .output()
        .expect("the sqlite3 command runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0|0|0", "a complete checkpoint");
    let len = std::fs::metadata(&catalog).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&catalog).unwrap();
    std::io::Write::write_all(&mut &file, &vec![0; usize::try_from(len).unwrap()]).unwrap();
    file.sync_all().unwrap();

    let p = api.call("GET", "/readyz").send().await.problem(503, "unavailable");
    assert_eq!(p["detail"], "the catalog is not reachable");
    assert_eq!(api.call("GET", "/healthz").send().await.status, 200, "the process is still up");
}

/// A private `redis-server` on a free port, stopped when dropped.
struct PrivateRedis(std::process::Child);

impl PrivateRedis {
    /// Starts one for `test`; `None` after `strata_testkit::not_run` when
    /// `redis-server` cannot be started (a failure under CI).
    fn start(test: &str, dir: &std::path::Path) -> Option<(Self, String)> {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("an address").port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) => {
                strata_testkit::not_run(test, &format!("redis-server cannot be started ({e})"));
                return None;
            }
        };
        let redis = Self(child);
        let url = format!("redis://127.0.0.1:{port}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some((redis, url));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("redis-server did not listen on {port} within 5 s");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn readiness_fails_naming_the_queue_when_redis_is_gone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = "readme_behaviours::readiness_fails_naming_the_queue_when_redis_is_gone";
    let Some((redis, url)) = PrivateRedis::start(test, dir.path()) else { return };
    let api = common::api::Api::start(&[(env::REDIS_URL, &url)]);
    assert_eq!(api.call("GET", "/readyz").send().await.status, 200);
    drop(redis);
    let p = api.call("GET", "/readyz").send().await.problem(503, "unavailable");
    assert_eq!(p["detail"], "the queue is not reachable");
    assert_eq!(api.call("GET", "/healthz").send().await.status, 200, "the process is still up");
}

/// The value of one sample line of the exposition.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

#[test]
fn tier_bytes_oldest_waiting_and_dead_letters_are_exposed() {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    put(&s, "acme/wf/old.bin", &noise(5000, 12));
    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    put(&s, "acme/wf/new.bin", &noise(1234, 13));
    let metrics = s.ok(&["metrics"]);
    let bytes = |tier: &str| {
        sample(&metrics, &format!("strata_tier_bytes{{tenant=\"acme\",tier=\"{tier}\",state=\"active\"}}"))
    };
    assert_eq!((bytes("hot"), bytes("warm")), (Some(1234.0), Some(5000.0)), "{metrics}");
    for lane in ["default", "priority"] {
        let idle = sample(&metrics, &format!("strata_queue_oldest_waiting_seconds{{lane=\"{lane}\"}}"));
        assert_eq!(idle, Some(0.0), "nothing waits: {metrics}");
        assert_eq!(sample(&metrics, &format!("strata_dead_letters{{lane=\"{lane}\"}}")), Some(0.0), "{metrics}");
    }

    // A restore queued without a worker waits on the priority lane.
    let queued_at = std::time::Instant::now();
    s.ok(&["restore", "acme/wf/old.bin"]);
    let metrics = s.ok(&["metrics"]);
    let waiting = sample(&metrics, "strata_queue_oldest_waiting_seconds{lane=\"priority\"}").expect(&metrics);
    assert!(waiting > 0.0 && waiting <= queued_at.elapsed().as_secs_f64() + 1.0, "{metrics}");
    assert_eq!(sample(&metrics, "strata_queue_oldest_waiting_seconds{lane=\"default\"}"), Some(0.0), "{metrics}");

    // Its source is corrupt: the restore fails and is dead-lettered.
    let blob = s.blob_of("acme/wf/old.bin");
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    s.fails(&["restore", "acme/wf/old.bin", "--wait"], 1);
    let metrics = s.ok(&["metrics"]);
    assert_eq!(sample(&metrics, "strata_dead_letters{lane=\"priority\"}"), Some(1.0), "{metrics}");
    assert_eq!(sample(&metrics, "strata_dead_letters{lane=\"default\"}"), Some(0.0), "{metrics}");
    assert_eq!(sample(&metrics, "strata_queue_oldest_waiting_seconds{lane=\"priority\"}"), Some(0.0), "{metrics}");
}
