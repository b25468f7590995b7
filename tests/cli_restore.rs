//! `strata restore` conveniences through the real binary: a list of what is
//! restorable, a restore by name alone when it is unambiguous, the
//! candidates when it is not, and a pick at a real terminal.

mod common;

use common::Strata;
use std::io::Write;
use std::process::Stdio;

/// Four warm artifacts, two of them named `report.json` in acme, and one hot.
fn warm_store() -> Strata {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    s.ok(&["tenant", "add", "globex", "--plan", "pro"]);
    let input = s.file("input", b"bytes of an artifact");
    for key in ["acme/wf/report.json", "acme/other/report.json", "acme/wf/only.bin", "globex/ci/log.txt"] {
        s.ok(&["put", key, &input]);
    }
    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    s.ok(&["put", "acme/wf/fresh.txt", &input]);
    s
}

fn tier(s: &Strata, key: &str) -> String {
    s.artifact(key)["tier"].as_str().expect("a tier").to_owned()
}

#[test]
fn list_shows_what_is_restorable_in_a_scope() {
    let s = warm_store();
    let all = s.ok(&["restore", "--list"]);
    for key in ["acme/wf/report.json", "acme/other/report.json", "acme/wf/only.bin", "globex/ci/log.txt"] {
        assert!(all.contains(key), "{key} in {all}");
    }
    assert!(!all.contains("fresh.txt"), "a hot artifact is not restorable: {all}");
    let acme = s.json(&["restore", "--list", "acme/wf"]);
    let keys: Vec<String> = acme
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}/{}/{}", a["tenant"], a["workflow"], a["name"]).replace('"', ""))
        .collect();
    assert_eq!(keys, ["acme/wf/only.bin", "acme/wf/report.json"]);
    let cold = s.ok(&["restore", "--list", "--from-tier", "cold"]);
    assert!(cold.contains("Nothing is restorable"), "{cold}");
}

#[test]
fn a_name_alone_restores_when_unambiguous_and_lists_the_candidates_when_not() {
    let s = warm_store();
    let out = s.ok(&["restore", "only.bin", "--wait"]);
    assert!(out.contains("Restored acme/wf/only.bin to the hot tier"), "{out}");
    assert_eq!(tier(&s, "acme/wf/only.bin"), "hot");

    // Not a terminal: the candidates are listed and nothing changes.
    let before = s.catalog();
    let err = s.fails(&["restore", "report.json", "--wait"], 2);
    assert!(err.contains("acme/wf/report.json") && err.contains("acme/other/report.json"), "{err}");
    assert!(err.contains("ambiguous"), "{err}");
    let err = s.fails(&["restore", "missing.txt"], 2);
    assert!(err.contains("no live artifact is named \"missing.txt\""), "{err}");
    let err = s.fails(&["restore", "wf/report.json"], 2);
    assert!(err.contains("neither TENANT/WORKFLOW/NAME nor a name alone"), "{err}");
    let out = s.ok(&["restore", "fresh.txt"]);
    assert!(out.contains("Nothing to restore"), "already hot: {out}");
    s.fails(&["restore"], 2);
    assert_eq!(s.catalog(), before, "nothing changed");
}

/// Runs `strata ARGS` as [`Strata::command`] would, but on a pseudo-terminal
/// (util-linux `script`), typing `input`.
fn at_terminal(s: &Strata, args: &[&str], input: &str) -> (bool, String) {
    let strata = s.command(args);
    let quoted = |a: &std::ffi::OsStr| format!("'{}'", a.to_string_lossy().replace('\'', "'\\''"));
    let line: Vec<String> = std::iter::once(strata.get_program()).chain(strata.get_args()).map(quoted).collect();
    let mut terminal = std::process::Command::new("script");
    for (key, value) in strata.get_envs() {
        match value {
            Some(v) => terminal.env(key, v),
            None => terminal.env_remove(key),
        };
    }
    let mut child = terminal
        .args(["-qec", &line.join(" "), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script runs");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("typed");
    let out = child.wait_with_output().expect("script ends");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn at_a_terminal_one_of_several_is_picked() {
    let s = warm_store();
    let (ok, screen) = at_terminal(&s, &["restore", "report.json"], "\n");
    assert!(!ok && screen.contains("cancelled: nothing restored"), "{screen}");
    let (ok, screen) = at_terminal(&s, &["restore", "report.json"], "7\n");
    assert!(!ok && screen.contains("not a number from 1 to 2"), "{screen}");
    assert_eq!(tier(&s, "acme/wf/report.json"), "warm", "nothing restored");
    // Numbered in listing order: acme/other/report.json is 1, acme/wf/report.json 2.
    let (ok, screen) = at_terminal(&s, &["restore", "report.json", "--wait"], "2\n");
    assert!(ok, "{screen}");
    assert!(screen.contains("Restore which one? [1-2"), "{screen}");
    assert!(screen.contains("Restored acme/wf/report.json to the hot tier"), "{screen}");
    assert_eq!(tier(&s, "acme/wf/report.json"), "hot");
    assert_eq!(tier(&s, "acme/other/report.json"), "warm");
}
