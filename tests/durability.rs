//! Durable means synced, in order: the real binary's system calls, traced
//! with strace, show every blob fsynced, renamed into place and its directory
//! fsynced before the catalog commit that references it is synced, and that
//! commit synced before a moved blob's source is unlinked.

mod common;

use common::{Strata, noise};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use strata_core::config::env;

/// One completed system call from the trace.
#[derive(Debug, Clone)]
struct Call {
    name: String,
    /// The file descriptor's path (fsync, fdatasync).
    fd_path: Option<String>,
    /// The quoted path arguments, in order.
    paths: Vec<String>,
}

fn parse_call(text: &str) -> Option<Call> {
    let open = text.find('(')?;
    let name = text[..open].trim().to_owned();
    let args = &text[open + 1..];
    let fd_path = args.find('<').and_then(|s| args[s + 1..].find('>').map(|e| args[s + 1..s + 1 + e].to_owned()));
    let mut paths = Vec::new();
    let mut rest = args;
    while let Some(s) = rest.find('"') {
        let Some(e) = rest[s + 1..].find('"') else { break };
        paths.push(rest[s + 1..s + 1 + e].to_owned());
        rest = &rest[s + e + 2..];
    }
    Some(Call { name, fd_path, paths })
}

/// The trace's successful calls, in the order they completed.
fn parse_trace(text: &str) -> Vec<Call> {
    let mut pending: HashMap<String, String> = HashMap::new();
    let mut calls = Vec::new();
    for line in text.lines() {
        let Some((pid, rest)) = line.split_once(' ') else { continue };
        let rest = rest.trim_start();
        if rest.starts_with("+++") || rest.starts_with("---") {
            continue;
        }
        if let Some(start) = rest.strip_suffix("<unfinished ...>") {
            pending.insert(pid.to_owned(), start.to_owned());
            continue;
        }
        let (text, result) = if rest.starts_with("<...") {
            let Some(start) = pending.remove(pid) else { continue };
            let result = rest.rsplit_once('=').map(|(_, r)| r.trim().to_owned()).unwrap_or_default();
            (start, result)
        } else {
            let Some((call, result)) = rest.rsplit_once(") = ") else { continue };
            (call.to_owned(), result.trim().to_owned())
        };
        if result.starts_with('-') || result.starts_with('?') {
            continue;
        }
        if let Some(call) = parse_call(&text) {
            calls.push(call);
        }
    }
    calls
}

/// Whether strace can trace here; when not, `test` did not run (a failure
/// under CI, which needs this proof of durability).
fn strace_works(test: &str) -> bool {
    let works = std::process::Command::new("strace")
        .args(["-f", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        strata_testkit::not_run(test, "strace cannot trace in this environment");
    }
    works
}

/// Runs strata under strace and returns the calls it made.
fn traced(s: &Strata, args: &[&str]) -> Vec<Call> {
    let trace = s.path("trace.txt");
    let cmd = s.command(args);
    let mut strace = std::process::Command::new("strace");
    strace
        .args(["-f", "-y", "-e", "trace=fsync,fdatasync,rename,renameat,renameat2,unlink,unlinkat,write", "-o"])
        .arg(&trace)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => strace.env(key, v),
            None => strace.env_remove(key),
        };
    }
    let out = strace.output().expect("strace runs");
    assert!(out.status.success(), "strata {args:?} under strace failed: {}", String::from_utf8_lossy(&out.stderr));
    parse_trace(&std::fs::read_to_string(&trace).expect("trace written"))
}

fn is_fsync(c: &Call) -> bool {
    c.name == "fsync" || c.name == "fdatasync"
}

fn position(calls: &[Call], from: usize, what: &str, matches: impl Fn(&Call) -> bool) -> usize {
    calls[from..]
        .iter()
        .position(matches)
        .map(|i| from + i)
        .unwrap_or_else(|| panic!("no {what} after call {from} in {:#?}", &calls[from..]))
}

/// The renames that moved data to `dest`, last first, back to the freshly
/// written file: `(index of the rename, its source)`.
fn renames_into(calls: &[Call], before: usize, dest: &str) -> Vec<(usize, String)> {
    let mut chain = Vec::new();
    let mut target = dest.to_owned();
    let mut end = before;
    while let Some(i) =
        calls[..end].iter().rposition(|c| c.name.starts_with("rename") && c.paths.last() == Some(&target))
    {
        let source = calls[i].paths[0].clone();
        chain.push((i, source.clone()));
        target = source;
        end = i;
    }
    chain
}

/// Asserts: the file whose bytes end at `blob` was fsynced before it was
/// first renamed, the last rename into `blob` was followed by an fsync of
/// `blob`'s directory, and that by a sync of the catalog's WAL. Returns the
/// index of the catalog sync.
fn assert_durable_write(calls: &[Call], blob: &Path, wal: &str) -> usize {
    let blob = blob.to_str().expect("utf-8 path");
    let last_rename = calls
        .iter()
        .rposition(|c| c.name.starts_with("rename") && c.paths.last().is_some_and(|p| p == blob))
        .unwrap_or_else(|| panic!("no rename into {blob}"));
    let chain = renames_into(calls, last_rename + 1, blob);
    let (first_rename, written) = chain.last().cloned().expect("a rename");
    let synced = calls[..first_rename].iter().rposition(|c| is_fsync(c) && c.fd_path.as_deref() == Some(&written));
    assert!(synced.is_some(), "{written} was renamed (toward {blob}) without an fsync before it");
    let dir = Path::new(blob).parent().and_then(Path::to_str).expect("a directory");
    let dir_sync =
        position(calls, last_rename, &format!("fsync of {dir}"), |c| is_fsync(c) && c.fd_path.as_deref() == Some(dir));
    position(calls, dir_sync, "catalog sync", |c| is_fsync(c) && c.fd_path.as_deref() == Some(wal))
}

fn wal(s: &Strata) -> String {
    s.data().join("catalog.db-wal").display().to_string()
}

fn blob_path(s: &Strata, tier: &str, bytes: &[u8], suffix: &str) -> PathBuf {
    let hex = blake3::hash(bytes).to_hex().to_string();
    s.data().join("tiers").join(tier).join("acme").join(&hex[..2]).join(format!("{hex}{suffix}"))
}

/// An artifact's bytes, through `strata get`.
fn get(s: &Strata, key: &str) -> Vec<u8> {
    let out = s.run(&["get", key]);
    assert!(out.status.success(), "strata get {key}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn canonical(s: Strata) -> Strata {
    // strace prints resolved paths; the temp dir may sit behind a symlink.
    let real = std::fs::canonicalize(s.dir.path()).expect("temp dir");
    assert_eq!(real, s.dir.path(), "the test directory must not be reached through a symlink");
    s
}

#[test]
fn an_upload_answers_after_its_blob_its_directory_and_its_row_are_synced() {
    if !strace_works("durability::an_upload_answers_after_its_blob_its_directory_and_its_row_are_synced") {
        return;
    }
    let s = canonical(Strata::new());
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    for (name, bytes) in [("small", noise(1000, 1)), ("large", noise(700_000, 2))] {
        let input = s.file(name, &bytes);
        let key = format!("acme/wf/{name}");
        let calls = traced(&s, &["put", &key, &input]);
        let catalog_sync = assert_durable_write(&calls, &blob_path(&s, "hot", &bytes, ""), &wal(&s));
        let answer = calls
            .iter()
            .position(|c| c.name == "write" && c.paths.first().is_some_and(|p| p.starts_with("Stored")))
            .expect("the answer on standard output");
        assert!(catalog_sync < answer, "the put answered before its catalog row was synced");
        assert!(get(&s, &key) == bytes, "{key} reads back changed");
    }
}

#[test]
fn a_tier_move_syncs_the_copy_then_the_switch_then_deletes_the_source() {
    if !strace_works("durability::a_tier_move_syncs_the_copy_then_the_switch_then_deletes_the_source") {
        return;
    }
    let s = canonical(Strata::new());
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    let bytes = noise(400_000, 3);
    let input = s.file("input", &bytes);
    s.ok(&["put", "acme/wf/moved", &input]);
    for (as_of, from, to, suffix) in [("+8d", "hot", "warm", ""), ("+40d", "warm", "cold", ".zst")] {
        let calls = traced(&s, &["lifecycle", "run", "--as-of", as_of, "--wait"]);
        let catalog_sync = assert_durable_write(&calls, &blob_path(&s, to, &bytes, suffix), &wal(&s));
        let source = blob_path(&s, from, &bytes, "").display().to_string();
        let unlinked = calls.iter().position(|c| c.name.starts_with("unlink") && c.paths.last() == Some(&source));
        let unlinked = unlinked.unwrap_or_else(|| panic!("{source} was never unlinked"));
        assert!(catalog_sync < unlinked, "the source was unlinked before the switch was synced");
        assert_eq!(s.artifact("acme/wf/moved")["tier"], to);
    }
    assert!(get(&s, "acme/wf/moved") == bytes, "the moved artifact reads back changed");
}

#[test]
fn fsync_can_be_turned_off() {
    if !strace_works("durability::fsync_can_be_turned_off") {
        return;
    }
    let s = canonical(Strata::new().env(env::FSYNC, "false"));
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    let input = s.file("input", b"fast, not durable");
    let calls = traced(&s, &["put", "acme/wf/fast", &input]);
    let tiers = s.data().join("tiers").display().to_string();
    let synced: Vec<_> = calls.iter().filter(|c| is_fsync(c)).filter_map(|c| c.fd_path.clone()).collect();
    assert!(!synced.iter().any(|p| p.starts_with(&tiers)), "tier writes were synced: {synced:?}");
    assert_eq!(s.ok(&["get", "acme/wf/fast"]).as_bytes(), b"fast, not durable");
}
