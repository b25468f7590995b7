//! No orphaned bytes: refused, failed and lost uploads leave no blob, and
//! `strata gc` collects crash leftovers and unreferenced blobs after its
//! safety window, through the real binary on real files.

mod common;

use common::{Strata, noise};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use strata_core::config::env;

/// Every file under a tier, staging area included.
fn all_files(s: &Strata, tier: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() { walk(&p, out) } else { out.push(p) }
        }
    }
    let mut out = Vec::new();
    walk(&s.data().join("tiers").join(tier), &mut out);
    out.sort();
    out
}

fn with_tenant() -> Strata {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    s
}

/// Writes a file and sets its modification time `age` in the past.
fn file_aged(path: &Path, bytes: &[u8], age: Duration) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create the directory");
    std::fs::write(path, bytes).expect("write the file");
    set_age(path, age);
}

/// Sets a file's modification time `age` in the past.
fn set_age(path: &Path, age: Duration) {
    let f = std::fs::File::options().write(true).open(path).expect("open the file");
    f.set_modified(SystemTime::now() - age).expect("set its modification time");
}

const TWO_HOURS: Duration = Duration::from_secs(7200);

#[test]
fn refused_overwrites_of_a_held_artifact_leave_no_blob() {
    let s = with_tenant();
    let original = s.file("original", b"the evidence");
    s.ok(&["put", "acme/wf/evidence", &original]);
    s.ok(&["retention", "hold", "acme/wf/evidence", "--reason", "litigation"]);
    let before = all_files(&s, "hot");
    assert_eq!(before.len(), 1);
    for i in 0..10u64 {
        // Small ones land in place, large ones stream through staging.
        let bytes = if i % 2 == 0 { noise(250_000, i) } else { noise(600_000, i) };
        let input = s.file(&format!("attempt{i}"), &bytes);
        let err = s.fails(&["put", "acme/wf/evidence", &input, "--overwrite"], 2);
        assert!(err.contains("held"), "{err}");
    }
    assert_eq!(all_files(&s, "hot"), before, "refused uploads left bytes behind");
    assert_eq!(s.ok(&["get", "acme/wf/evidence"]).as_bytes(), b"the evidence");
}

#[test]
fn racing_puts_that_lose_leave_no_blob() {
    let s = with_tenant();
    let inputs: Vec<String> = (0..8u64).map(|i| s.file(&format!("racer{i}"), &noise(100_000, i))).collect();
    let children: Vec<_> = inputs
        .iter()
        .map(|input| {
            s.command(&["put", "acme/wf/raced", input])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outcomes: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| o.status.success()).count(), 1, "exactly one racer wins");
    for lost in outcomes.iter().filter(|o| !o.status.success()) {
        assert!(String::from_utf8_lossy(&lost.stderr).contains("already exists"));
    }
    assert_eq!(all_files(&s, "hot").len(), 1, "the winner's blob only, none from the losers");
}

#[test]
fn an_upload_whose_catalog_write_fails_leaves_no_blob() {
    let s = with_tenant();
    let kept = s.file("kept", b"shared bytes");
    s.ok(&["put", "acme/wf/kept", &kept]);
    let catalog = s.data().join("catalog.db");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sql = |q: &'static str| {
        rt.block_on(async {
            use sqlx::ConnectOptions;
            let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&catalog).connect().await.unwrap();
            sqlx::raw_sql(q).execute(&mut conn).await.unwrap();
        })
    };
    sql("CREATE TRIGGER refuse_ingest BEFORE INSERT ON events WHEN NEW.kind = 'ingested' \
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
    let inputs = [
        ("small", s.file("small", b"other bytes")),
        ("same", s.file("same", b"shared bytes")),
        ("large", s.file("large", &noise(700_000, 3))),
    ];
    for (name, input) in &inputs {
        let err = s.fails(&["put", &format!("acme/wf/{name}"), input], 1);
        assert!(err.contains("injected failure"), "{err}");
    }
    sql("DROP TRIGGER refuse_ingest;");
    assert_eq!(all_files(&s, "hot").len(), 1, "only the live artifact's blob: {:?}", all_files(&s, "hot"));
    assert_eq!(s.ok(&["get", "acme/wf/kept"]).as_bytes(), b"shared bytes", "a shared address stays");
}

/// A content address for `bytes` in `tier`, as strata names it.
fn address(s: &Strata, tier: &str, bytes: &[u8], suffix: &str) -> PathBuf {
    let hex = blake3::hash(bytes).to_hex().to_string();
    s.data().join("tiers").join(tier).join("acme").join(&hex[..2]).join(format!("{hex}{suffix}"))
}

#[test]
fn gc_collects_old_leftovers_and_unreferenced_blobs_and_keeps_everything_else() {
    let s = with_tenant();
    let live = s.file("live", b"live bytes");
    s.ok(&["put", "acme/wf/live", &live]);
    let live_blob = s.blob_of("acme/wf/live");
    set_age(&live_blob, TWO_HOURS);

    let hot = s.data().join("tiers/hot");
    let old_staging = hot.join("acme/.staging/3f/3f0123456789abcdef");
    file_aged(&old_staging, &[1; 1000], TWO_HOURS);
    let young_staging = hot.join("acme/.staging/4e/4e0123456789abcdef#1");
    file_aged(&young_staging, &[2; 300], Duration::from_secs(60));
    let old_partial = address(&s, "cold", b"moved", ".zst#1");
    file_aged(&old_partial, &[3; 500], TWO_HOURS);
    let orphan = address(&s, "hot", b"orphan", "");
    file_aged(&orphan, b"orphan", TWO_HOURS);
    let young_orphan = address(&s, "hot", b"young orphan", "");
    file_aged(&young_orphan, b"young orphan", Duration::from_secs(60));
    let unknown = hot.join("notes.txt");
    file_aged(&unknown, b"an operator's notes", TWO_HOURS);
    let everything = [&live_blob, &old_staging, &young_staging, &old_partial, &orphan, &young_orphan, &unknown];

    let dry = s.json(&["gc", "--dry-run"]);
    assert!(everything.iter().all(|p| p.exists()), "a dry run removed something");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["tiers"][0]["removed"], serde_json::json!({ "files": 2, "bytes": 1006 }), "{dry}");
    assert_eq!(s.count_events("gc_completed"), 0, "a dry run records nothing");

    let report = s.json(&["gc"]);
    assert!(!old_staging.exists() && !old_partial.exists() && !orphan.exists(), "{report}");
    assert!(live_blob.exists() && young_staging.exists() && young_orphan.exists() && unknown.exists());
    let tiers = report["tiers"].as_array().unwrap();
    assert_eq!(tiers[0]["tier"], "hot");
    assert_eq!(tiers[0]["leftovers"], serde_json::json!({ "files": 1, "bytes": 1000 }));
    assert_eq!(tiers[0]["unreferenced"], serde_json::json!({ "files": 1, "bytes": 6 }));
    assert_eq!(tiers[0]["too_young"], serde_json::json!({ "files": 2, "bytes": 312 }));
    assert_eq!(tiers[2]["tier"], "cold");
    assert_eq!(tiers[2]["removed"], serde_json::json!({ "files": 1, "bytes": 500 }));
    let strays = report["strays"].as_array().unwrap();
    assert!(strays.iter().any(|x| x["path"] == "notes.txt" && x["kind"] == "unknown" && x["removed"] == false));
    assert_eq!(report["missing"], serde_json::json!([]));
    assert_eq!(s.ok(&["get", "acme/wf/live"]).as_bytes(), b"live bytes");

    let events: Vec<_> = s.events().into_iter().filter(|e| e["event_type"] == "gc_completed").collect();
    assert_eq!(events.len(), 1, "one event per run");
    assert_eq!(events[0]["data"]["removed_files"], 3);
    assert_eq!(events[0]["data"]["removed_bytes"], 1506);
    assert_eq!(events[0]["data"]["tiers"]["cold"]["bytes"], 500);

    // A second run finds nothing more to do, and says so in its own event.
    let again = s.json(&["gc"]);
    assert_eq!(again["tiers"][0]["removed"]["files"], 0);
    assert_eq!(s.count_events("gc_completed"), 2);
}

#[test]
fn gc_reports_live_artifacts_whose_blob_is_missing() {
    let s = with_tenant();
    let input = s.file("input", b"soon gone");
    s.ok(&["put", "acme/wf/lost", &input]);
    std::fs::remove_file(s.blob_of("acme/wf/lost")).unwrap();
    let report = s.json(&["gc", "--dry-run"]);
    let missing = report["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{report}");
    assert_eq!(missing[0]["artifact"], "acme/wf/lost");
    assert_eq!(missing[0]["tier"], "hot");
    let text = s.ok(&["gc"]);
    assert!(text.contains("acme/wf/lost") && text.contains("missing"), "{text}");
}

#[test]
fn the_window_is_configurable() {
    let s = with_tenant().env(env::GC_MIN_AGE_SECS, "30");
    let leftover = s.data().join("tiers/hot/acme/.staging/aa/aa00#1");
    file_aged(&leftover, b"x", Duration::from_secs(120));
    s.ok(&["gc"]);
    assert!(!leftover.exists(), "older than a 30 s window");
}

#[test]
fn gc_under_the_dry_run_switch_removes_nothing_until_live() {
    let s = with_tenant().env(env::GC_MIN_AGE_SECS, "30").env(env::LIFECYCLE_DRY_RUN, "true");
    let leftover = s.data().join("tiers/hot/acme/.staging/aa/aa00#1");
    file_aged(&leftover, b"x", Duration::from_secs(120));
    let out = s.command(&["gc"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dry run: LIFECYCLE_DRY_RUN=true"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Would remove 1 file(s)"));
    assert!(leftover.exists(), "the switch keeps gc from removing anything");
    assert!(s.events().iter().all(|e| e["event_type"] != "gc_completed"));
    s.ok(&["gc", "--live"]);
    assert!(!leftover.exists(), "--live lifts the switch");
}

#[test]
fn the_scheduler_collects_garbage() {
    let s = with_tenant().env(env::SCHEDULE, "* * * * * *").env(env::GC_MIN_AGE_SECS, "0");
    let leftover = s.data().join("tiers/hot/acme/.staging/aa/aa00#1");
    file_aged(&leftover, b"x", Duration::from_secs(5));
    let mut scheduler = s.command(&["scheduler"]).spawn().unwrap();
    // The file goes first and the pass's event is recorded after it: wait
    // for both before stopping the scheduler.
    let collected = || s.events().into_iter().filter(|e| e["event_type"] == "gc_completed").collect::<Vec<_>>();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while (leftover.exists() || collected().is_empty()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    scheduler.kill().unwrap();
    scheduler.wait().unwrap();
    assert!(!leftover.exists(), "the scheduler never collected");
    let events = collected();
    assert!(!events.is_empty() && events[0]["actor"] == "scheduler", "{events:?}");
}

#[test]
fn gc_refuses_tiers_that_share_a_directory() {
    let s = Strata::new();
    let shared = s.path("shared").display().to_string();
    let s = s.env(env::STORAGE_HOT_PATH, &shared).env(env::STORAGE_WARM_PATH, &shared);
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    let input = s.file("input", b"in the shared directory");
    s.ok(&["put", "acme/wf/x", &input]);
    let err = s.fails(&["gc"], 1);
    assert!(err.contains("overlaps"), "{err}");
    assert_eq!(s.ok(&["get", "acme/wf/x"]).as_bytes(), b"in the shared directory");
}
