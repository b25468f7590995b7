//! Hostile and careless input through the real binary: configuration values
//! past their bounds, out-of-range days and instants, look-alike names, a
//! restore that fails, and log output that is not a terminal. Each must be
//! refused or reported plainly, never panic (exit 101) and never change
//! anything it should not.

mod common;

use common::{Strata, noise};
use strata_core::config::env;

fn with_tenant() -> Strata {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    s
}

#[test]
fn configured_durations_past_their_bounds_exit_2_naming_the_key_and_store_nothing() {
    type Vars = &'static [(&'static str, &'static str)];
    let env_cases: &[(Vars, &str, &str)] = &[
        (&[(env::RETENTION_DAYS_FREE, "200000000")], "retention.plans.free", env::RETENTION_DAYS_FREE),
        (
            &[(env::HOT_RETENTION_DAYS, "100000000"), (env::WARM_RETENTION_DAYS, "100000001")],
            "tiers.hot_days",
            env::HOT_RETENTION_DAYS,
        ),
    ];
    for (vars, key, var) in env_cases {
        let s = with_tenant();
        let input = s.file("in.bin", &noise(1_000, 1));
        let s = vars.iter().fold(s, |s, (k, v)| s.env(k, v));
        let err = s.fails(&["put", "acme/wf/x.bin", &input], 2);
        assert!(err.contains(key) && err.contains(var), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(s.blob_files("hot").is_empty(), "nothing stored");
    }
    let file_cases = [
        ("[tiers]\nscan_interval_days = 4294967295\n", "tiers.scan_interval_days"),
        ("[retention.classes]\nhuge = 4000000000\n", "retention.classes.huge"),
        ("[tiers]\nrestore_days = 4294967295\n", "tiers.restore_days"),
    ];
    for (toml, key) in file_cases {
        let s = with_tenant();
        let input = s.file("in.bin", &noise(1_000, 2));
        let config = s.file("strata.toml", toml.as_bytes());
        let err = s.fails(&["--config", &config, "put", "acme/wf/x.bin", &input], 2);
        assert!(err.contains(key) && err.contains("strata.toml") && err.contains("out of range"), "{err}");
        assert!(s.blob_files("hot").is_empty(), "nothing stored");
    }
}

#[test]
fn restore_days_and_as_of_offsets_are_bounded() {
    let s = with_tenant();
    s.ok(&["put", "acme/wf/x.bin", &s.file("in.bin", &noise(1_000, 3))]);
    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    for days in ["0", "3651", "4294967295"] {
        let err = s.fails(&["restore", "acme/wf/x.bin", "--days", days, "--wait"], 2);
        assert!(err.contains("--days"), "{err}");
    }
    assert_eq!(s.artifact("acme/wf/x.bin")["tier"], "warm", "nothing restored");
    for bad in ["+-5d", "++5d", "-+5d", "+99999999999999d"] {
        let err = s.fails(&["lifecycle", "run", "--dry-run", &format!("--as-of={bad}")], 2);
        assert!(err.contains("--as-of"), "{bad}: {err}");
    }
}

#[test]
fn a_failed_restore_with_wait_says_so_and_exits_1() {
    let s = with_tenant();
    s.ok(&["put", "acme/wf/x.bin", &s.file("in.bin", &noise(4_000, 4))]);
    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/x.bin")["tier"], "cold");
    std::fs::write(s.blob_of("acme/wf/x.bin"), b"bit rot").unwrap();
    let out = s.run(&["restore", "acme/wf/x.bin", "--wait"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains("Restored"), "{stdout}");
    assert!(stderr.contains("Restore of acme/wf/x.bin failed: it is still in the cold tier"), "{stderr}");
    assert!(stderr.contains("1 of 1 restores failed"), "{stderr}");
}

#[test]
fn composed_and_decomposed_names_are_one_artifact() {
    let s = with_tenant();
    let bytes = noise(2_000, 5);
    s.ok(&["put", "acme/wf/cafe\u{301}.bin", &s.file("in.bin", &bytes)]);
    let got = s.command(&["get", "acme/wf/caf\u{e9}.bin"]).output().unwrap();
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
    assert_eq!(got.stdout, bytes);
    let err = s.fails(&["put", "acme/wf/caf\u{e9}.bin", &s.file("other.bin", b"other")], 2);
    assert!(err.contains("already exists"), "the NFC spelling is the same name: {err}");
    let listed = s.json(&["ls"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "caf\u{e9}.bin", "stored in NFC");
}

#[test]
fn invisible_characters_and_edge_spaces_are_refused_plainly() {
    let s = with_tenant();
    let input = s.file("in.bin", &noise(500, 6));
    let err = s.fails(&["put", "acme/wf/invoice\u{202e}fdp.exe", &input], 2);
    assert!(err.contains("U+202E") && err.contains("invisible"), "{err}");
    assert!(!err.contains('\u{202e}'), "the error does not reorder the terminal: {err}");
    let err = s.fails(&["put", "acme/wf/zero\u{200b}width", &input], 2);
    assert!(err.contains("U+200B"), "{err}");
    let err = s.fails(&["put", "acme/wf/trailing ", &input], 2);
    assert!(err.contains("must not end with a space") && !err.contains("forbidden character"), "{err}");
    let err = s.fails(&["put", "acme/wf/ leading", &input], 2);
    assert!(err.contains("must not start with a space"), "{err}");
    assert!(s.json(&["ls"]).as_array().unwrap().is_empty(), "nothing stored");
    assert!(s.blob_files("hot").is_empty());
}

#[test]
fn log_lines_carry_no_colours_when_standard_error_is_not_a_terminal() {
    let s = with_tenant().env(env::LOG, "debug");
    let input = s.file("in.bin", &noise(500, 7));
    // Without NO_COLOR, only the terminal check can keep colours out.
    let out = s.command(&["put", "acme/wf/x.bin", &input]).env_remove("NO_COLOR").output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DEBUG") || stderr.contains("INFO"), "some log lines: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "no escape sequences: {stderr:?}");
}
