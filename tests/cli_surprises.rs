//! What a new user meets: the numbers a dry run and a `--wait` run report,
//! live totals apart from tombstones, what ended each tombstone, why an
//! erasure is blocked, a readable last run, read-only commands that create
//! nothing, event names, and a tier directory moved away from its blobs.

mod common;

use common::Strata;
use serde_json::Value;
use strata_core::config::env;

fn tenant(plan: &str) -> Strata {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme", "--plan", plan]);
    s
}

fn put(s: &Strata, key: &str, bytes: &[u8]) {
    let input = s.file("in", bytes);
    s.ok(&["put", key, &input]);
}

#[test]
fn a_dry_run_reports_the_first_pass_and_a_wait_run_its_passes() {
    let s = tenant("free");
    for i in 0..3 {
        put(&s, &format!("acme/wf/a{i}"), format!("artifact {i}").as_bytes());
    }
    // At day 400 each artifact is first marked eligible; its scan becomes
    // the next action only once that is done.
    let dry = s.ok(&["lifecycle", "run", "--dry-run", "--as-of", "+400d"]);
    assert!(dry.contains("Would run 3 actions") && dry.contains("eligibility 3"), "{dry}");
    assert!(dry.contains("This is the first pass: one action per artifact"), "{dry}");
    let live = s.ok(&["lifecycle", "run", "--as-of", "+400d", "--wait"]);
    assert!(live.contains("Planned 6 actions") && live.contains("in 2 passes (3 + 3)"), "{live}");
    assert!(live.contains("Each pass plans one action per artifact"), "{live}");
    assert_eq!(s.count_events("deletion_eligible") + s.count_events("verified"), 6, "what was planned was done");
    let json = s.json(&["lifecycle", "run", "--as-of", "+800d", "--wait"]);
    assert_eq!(json["passes"], serde_json::json!([3]), "{json}");
}

#[test]
fn totals_count_live_artifacts_and_tombstones_say_what_ended_them() {
    let s = tenant("free");
    put(&s, "acme/wf/gone", b"12345");
    put(&s, "acme/wf/kept", b"1234567");
    put(&s, "acme/wf/expired", b"1234567890");
    s.ok(&["rm", "acme/wf/gone"]);
    s.ok(&["put", "acme/wf/kept", &s.file("v2", b"abcdefghij"), "--overwrite"]);
    s.ok(&["lifecycle", "run", "--as-of", "+400d", "--wait"]);
    s.ok(&["lifecycle", "run", "--as-of", "+410d", "--wait"]);
    put(&s, "acme/wf/fresh", b"xy");

    let out = s.ok(&["ls", "--all"]);
    assert!(out.contains("1 artifacts, 2 B"), "only the fresh artifact is live: {out}");
    assert!(out.contains("and 4 tombstones, not counted above (1 deleted, 1 overwritten, 2 purged)"), "{out}");
    let states = |v: Value| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["name"].as_str().unwrap().to_owned(), a["state"].as_str().unwrap().to_owned()))
            .collect();
        out.sort();
        out
    };
    let listed = states(s.catalog());
    let expected: Vec<(String, String)> =
        [("expired", "purged"), ("fresh", "active"), ("gone", "deleted"), ("kept", "overwritten"), ("kept", "purged")]
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
    assert_eq!(listed, expected);

    let summary = s.json(&["lifecycle", "summary"]);
    let live: i64 = summary["totals"].as_array().unwrap().iter().map(|t| t["artifacts"].as_i64().unwrap()).sum();
    let bytes: i64 = summary["totals"].as_array().unwrap().iter().map(|t| t["bytes"].as_i64().unwrap()).sum();
    assert_eq!((live, bytes), (1, 2), "only the fresh artifact is live: {summary}");
    let gone: i64 = summary["tombstones"].as_array().unwrap().iter().map(|t| t["artifacts"].as_i64().unwrap()).sum();
    assert_eq!(gone, 4);
    let text = s.ok(&["lifecycle", "summary"]);
    assert!(text.contains("Live: 1 artifacts, 2 B"), "{text}");
    assert!(text.contains("Tombstones (deleted, not counted above): 4 artifacts"), "{text}");
    let rows: Vec<&str> = text.lines().filter(|l| l.contains('┆')).collect();
    assert_eq!(rows.len(), 2, "a header and the one live row: {text}");
    assert!(rows.iter().all(|r| !r.contains("purged")), "no tombstone row in the live table: {text}");
}

#[test]
fn the_last_run_prints_readably() {
    let s = tenant("pro");
    put(&s, "acme/wf/a", b"alpha");
    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    s.ok(&["lifecycle", "run", "--dry-run", "--as-of", "+40d"]);
    let text = s.ok(&["lifecycle", "summary"]);
    let last = text.lines().find(|l| l.starts_with("Last run:")).expect("a last run line");
    assert!(last.ends_with("1 jobs planned: promote 1 (5 B)."), "{last}");
    let dry = text.lines().find(|l| l.starts_with("Last dry run:")).expect("a last dry run line");
    assert!(dry.contains("would run compress 1 (5 B)"), "{dry}");
    assert!(dry.contains(" by cli: would run") && !dry.contains("Z by"), "the instant as the tables show it: {dry}");
    assert!(!last.contains('{') && !dry.contains('{'), "no raw JSON: {text}");
}

#[test]
fn erase_names_what_blocks_it() {
    let s = tenant("pro");
    put(&s, "acme/wf/plain", b"p");
    s.ok(&["put", "acme/wf/record", &s.file("r", b"r"), "--class", "permanent-record"]);
    put(&s, "acme/wf/held", b"h");
    s.ok(&["retention", "hold", "acme/wf/held", "--reason", "litigation"]);
    let out = s.ok(&["erase", "acme", "--reason", "customer left", "--wait"]);
    assert!(out.contains("Blocked by a permanent record (class permanent-record): acme/wf/record"), "{out}");
    assert!(out.contains("Blocked by a hold: acme/wf/held"), "{out}");
    assert!(!out.contains("Blocked by a hold: acme/wf/record"), "{out}");
    s.ok(&["put", "acme/wf/record2", &s.file("r2", b"r2"), "--class", "permanent-record"]);
    let json = s.json(&["erase", "acme/wf/record2", "--reason", "again"]);
    assert_eq!(json["blocked_by"]["acme/wf/record2"], "a permanent record (class permanent-record)", "{json}");
}

#[test]
fn read_only_commands_create_no_data_directory() {
    let s = Strata::new();
    for args in [
        &["ls"][..],
        &["ls", "--all"],
        &["lifecycle", "summary"],
        &["events"],
        &["events", "export"],
        &["events", "verify"],
        &["explain", "acme/wf/a"],
        &["get", "acme/wf/a"],
        &["queue", "stats"],
        &["dlq", "list"],
        &["tenant", "ls"],
        &["retention", "holds"],
        &["metrics"],
    ] {
        let err = s.fails(args, 2);
        assert!(err.contains("no strata data directory at") && err.contains("nothing was created"), "{args:?}: {err}");
        assert!(!s.data().exists(), "{args:?} created {}", s.data().display());
    }
    s.ok(&["tenant", "add", "acme"]);
    assert!(s.data().join("catalog.db").is_file(), "a command that writes creates it");
    s.ok(&["ls"]);
}

#[test]
fn event_names_follow_the_seed_and_the_export_says_dry_run() {
    let s = tenant("pro");
    put(&s, "acme/wf/a", b"alpha");
    s.ok(&["retention", "extend", "acme/wf/a", "--until", "+900d", "--reason", "audit"]);
    assert_eq!(s.count_events("retention.extended"), 1);
    assert_eq!(s.count_events("retention.default_applied"), 1);
    let history = s.json(&["retention", "history", "acme/wf/a"]);
    assert!(history.as_array().unwrap().iter().any(|e| e["event_type"] == "retention.extended"), "{history}");
    let lines: Vec<Value> =
        s.ok(&["events", "export"]).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    for line in &lines {
        for field in ["timestamp", "event_type", "tenant_id", "dry_run"] {
            assert!(line.get(field).is_some(), "{field} missing: {line}");
        }
        assert_eq!(line["dry_run"], false);
    }
}

#[test]
fn a_tier_moved_away_from_its_blobs_stops_the_processes_that_move_blobs() {
    let s = tenant("pro");
    for i in 0..3 {
        put(&s, &format!("acme/wf/a{i}"), format!("artifact {i}").as_bytes());
    }
    let old = s.data().join("tiers").join("hot");
    let new = s.path("new-hot");
    let s = s.env(env::STORAGE_HOT_PATH, new.to_str().unwrap());
    for args in [&["worker"][..], &["scheduler"], &["lifecycle", "run", "--as-of", "+8d", "--wait"]] {
        let err = s.fails(args, 1);
        assert!(err.contains("the hot tier appears to have moved"), "{args:?}: {err}");
        assert!(err.contains(old.to_str().unwrap()) && err.contains(new.to_str().unwrap()), "{args:?}: {err}");
    }
    assert_eq!(s.json(&["ls"]).as_array().unwrap().len(), 3, "reading still works");
    assert_eq!(s.count_events("job_dead_lettered"), 0);

    // Once the files are where the configuration says, the run goes through.
    std::fs::remove_dir_all(&new).unwrap();
    std::fs::rename(&old, &new).unwrap();
    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    assert_eq!(s.json(&["ls", "--tier", "warm"]).as_array().unwrap().len(), 3);
    assert_eq!(s.count_events("job_dead_lettered"), 0);
}
