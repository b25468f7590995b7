//! Artifacts through the real binary: put, get, ls, rm, and bad input that
//! must change nothing.

mod common;

use common::{Strata, log_text, noise};
use strata_core::config::env;

fn with_tenant(plan: &str) -> Strata {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme", "--plan", plan]);
    s
}

#[test]
fn put_get_round_trip_is_exact_and_listed() {
    let s = with_tenant("pro");
    let bytes = noise(300_000, 1);
    let input = s.file("in.bin", &bytes);
    s.ok(&["put", "acme/nightly/bundle.bin", &input, "--tag", "branch=main", "--meta", "commit=9f3a"]);

    let out = s.path("out.bin");
    s.ok(&["get", "acme/nightly/bundle.bin", "-o", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    let stdout = s.command(&["get", "acme/nightly/bundle.bin"]).output().unwrap();
    assert!(stdout.status.success());
    assert_eq!(stdout.stdout, bytes, "get to standard output is exact too");

    let a = s.artifact("acme/nightly/bundle.bin");
    for field in [
        "tenant",
        "workflow",
        "name",
        "tier",
        "state",
        "size",
        "stored_size",
        "codec",
        "blake3",
        "sha256",
        "created_at",
        "last_accessed_at",
        "expires_at",
    ] {
        assert!(a.get(field).is_some(), "ls --json lacks {field}: {a}");
    }
    assert_eq!(a["tier"], "hot");
    assert_eq!(a["state"], "active");
    assert_eq!(a["size"], 300_000);
    assert_eq!(a["codec"], "none");
    assert_eq!(a["tags"]["branch"], "main");
    assert_eq!(a["meta"]["commit"], "9f3a");
    assert_eq!(a["blake3"].as_str().unwrap().len(), 64);
    assert_eq!(s.count_events("ingested"), 1);
}

#[test]
fn identical_bytes_are_stored_once_per_tenant() {
    let s = with_tenant("pro");
    let input = s.file("in.txt", &log_text(100));
    s.ok(&["put", "acme/a/one.txt", &input]);
    s.ok(&["put", "acme/b/two.txt", &input]);
    assert_eq!(s.blob_files("hot").len(), 1);
    s.ok(&["tenant", "add", "globex"]);
    s.ok(&["put", "globex/a/one.txt", &input]);
    assert_eq!(s.blob_files("hot").len(), 2, "tenants never share blobs");
    // Removing one name keeps the blob the other still uses.
    s.ok(&["rm", "acme/a/one.txt"]);
    assert_eq!(s.blob_files("hot").len(), 2);
    let out = s.path("two.txt");
    s.ok(&["get", "acme/b/two.txt", "-o", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(out).unwrap(), log_text(100));
}

#[test]
fn existing_names_need_overwrite_and_rm_deletes() {
    let s = with_tenant("pro");
    let first = s.file("1.txt", b"first");
    let second = s.file("2.txt", b"second");
    s.ok(&["put", "acme/wf/x.txt", &first]);
    let err = s.fails(&["put", "acme/wf/x.txt", &second], 2);
    assert!(err.contains("already exists") && err.contains("--overwrite"), "{err}");
    s.ok(&["put", "acme/wf/x.txt", &second, "--overwrite"]);
    assert_eq!(s.ok(&["get", "acme/wf/x.txt"]), "second");
    assert_eq!(s.count_events("overwritten"), 1);
    assert_eq!(s.blob_files("hot").len(), 1, "the replaced bytes are released");

    s.ok(&["rm", "acme/wf/x.txt"]);
    let err = s.fails(&["get", "acme/wf/x.txt"], 2);
    assert!(err.contains("not found"), "{err}");
    assert!(s.blob_files("hot").is_empty());
    assert_eq!(s.count_events("deleted"), 1);
    let tombstones = s.catalog();
    assert_eq!(tombstones.as_array().unwrap().len(), 2, "tombstones stay for the audit trail");
}

#[test]
fn bad_input_is_refused_with_exit_2_and_changes_nothing() {
    let s = with_tenant("free");
    let good = s.file("good.txt", b"hello");
    s.ok(&["put", "acme/wf/keep.txt", &good]);
    let before = (s.catalog(), s.blob_files("hot"), s.events().len());
    let long = format!("acme/wf/{}", "n".repeat(200));
    let dir = s.dir.path().display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["put", "acme/../x", &good], "relative"),
        (vec!["put", "acme/wf/a\\b", &good], "forbidden"),
        (vec!["put", "acme/wf", &good], "TENANT/WORKFLOW/NAME"),
        (vec!["put", &long, &good], "longer than"),
        (vec!["put", "acme/wf/%2e%2e", &good], "forbidden"),
        (vec!["put", "acme/wf/new.txt", "/no/such/file"], "cannot read input file"),
        (vec!["put", "acme/wf/new.txt", &dir], "directory"),
        (vec!["put", "nobody/wf/new.txt", &good], "unknown tenant"),
        (vec!["put", "acme/wf/new.txt", &good, "--class", "forever-ish"], "unknown retention class"),
        (vec!["put", "acme/wf/new.txt", &good, "--tag", "novalue"], "key=value"),
        (vec!["get", "acme/wf/missing.txt"], "not found"),
        (vec!["rm", "acme/wf/missing.txt"], "not found"),
        (vec!["tenant", "add", "globex", "--plan", "platinum"], "unknown plan"),
        (vec!["tenant", "add", "acme"], "already exists"),
        (vec!["lifecycle", "run", "--as-of", "next tuesday"], "not a time"),
        (vec!["dlq", "retry"], "name a dead letter"),
    ];
    for (args, message) in cases {
        let err = s.fails(&args, 2);
        assert!(err.contains(message), "{args:?}: expected {message:?} in {err}");
    }
    assert_eq!((s.catalog(), s.blob_files("hot"), s.events().len()), before, "bad input changed something");
    assert!(s.json(&["tenant", "ls"]).as_array().unwrap().len() == 1);
}

#[test]
fn invalid_config_names_the_key_and_file() {
    let s = Strata::new();
    let cfg = s.file("strata.toml", b"[tiers]\nhot_dayz = 3\n");
    let err = s.fails(&["--config", &cfg, "tenant", "ls"], 2);
    assert!(err.contains("hot_dayz") && err.contains("strata.toml"), "{err}");
    let s = Strata::new().env(env::WARM_RETENTION_DAYS, "soon");
    let err = s.fails(&["tenant", "ls"], 2);
    assert!(err.contains(env::WARM_RETENTION_DAYS), "{err}");
}

#[test]
fn a_corrupt_blob_is_an_error_never_wrong_bytes() {
    let s = with_tenant("pro");
    let input = s.file("in.txt", &log_text(50));
    s.ok(&["put", "acme/wf/log.txt", &input]);
    std::fs::write(s.blob_of("acme/wf/log.txt"), b"bit rot").unwrap();
    let out = s.path("out.txt");
    let err = s.fails(&["get", "acme/wf/log.txt", "-o", out.to_str().unwrap()], 1);
    assert!(err.contains("acme/wf/log.txt") && err.contains("corrupt"), "{err}");
    assert!(!out.exists(), "no output file may appear");
    let stdout = s.command(&["get", "acme/wf/log.txt"]).output().unwrap();
    assert_eq!(stdout.status.code(), Some(1));
    assert!(stdout.stdout.is_empty(), "not a byte on standard output");
}

#[test]
fn an_unwritable_tier_fails_cleanly_and_changes_nothing() {
    let s = with_tenant("pro");
    let input = s.file("in.txt", b"first");
    s.ok(&["put", "acme/wf/one.txt", &input]);
    let before = (s.catalog(), s.events().len());
    // A regular file where the tenant's directory must be: every write into
    // it fails (ENOTDIR), even for root; small and streamed uploads alike.
    let tenant_dir = s.data().join("tiers/hot/acme");
    std::fs::remove_dir_all(&tenant_dir).unwrap();
    std::fs::write(&tenant_dir, b"not a directory").unwrap();
    let small = s.file("small.txt", b"second");
    let err = s.fails(&["put", "acme/wf/two.txt", &small], 1);
    assert!(err.contains("hot tier"), "{err}");
    let large = s.file("large.bin", &noise(1024 * 1024, 4));
    let err = s.fails(&["put", "acme/wf/three.bin", &large], 1);
    assert!(err.contains("hot tier"), "{err}");
    assert_eq!((s.catalog(), s.events().len()), before);

    // A tier location that cannot be a directory at all fails at start-up.
    let s2 = Strata::new().env(env::STORAGE_COLD_PATH, &input);
    let err = s2.fails(&["tenant", "add", "acme"], 1);
    assert!(err.contains("cold tier"), "{err}");
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(path: std::path::PathBuf, size: &str) -> Self {
        std::fs::create_dir_all(&path).expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a small tmpfs failed");
        Self(path)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

#[test]
fn a_full_tier_fails_cleanly_and_changes_nothing() {
    // Mounting needs root, which CI has; elsewhere this test has nothing to mount.
    if !is_root() {
        strata_testkit::not_run(
            "cli_artifacts::a_full_tier_fails_cleanly_and_changes_nothing",
            "not root, cannot mount a small tmpfs for the disk-full test",
        );
        return;
    }
    let s = Strata::new();
    let disk = SmallDisk::mount(s.path("hot"), "256k");
    let s = s.env(env::STORAGE_HOT_PATH, disk.0.to_str().unwrap());
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    let small = s.file("small.txt", b"fits");
    s.ok(&["put", "acme/wf/small.txt", &small]);
    let before = (s.catalog(), s.events().len());
    let big = s.file("big.bin", &noise(1024 * 1024, 9));
    let err = s.fails(&["put", "acme/wf/big.bin", &big], 1);
    assert!(err.contains("hot tier") && err.to_lowercase().contains("space"), "{err}");
    assert_eq!((s.catalog(), s.events().len()), before, "the catalog is unchanged");
    assert_eq!(s.ok(&["get", "acme/wf/small.txt"]), "fits", "existing data is intact");
    // The partial upload was cleaned up: the space is free again.
    let again = s.file("again.bin", &noise(100 * 1024, 10));
    s.ok(&["put", "acme/wf/again.bin", &again]);
}

/// The type of whatever is at `path`, not following a link.
fn file_type(path: &std::path::Path) -> std::fs::FileType {
    std::fs::symlink_metadata(path).expect("something at the path").file_type()
}

#[test]
fn get_to_dash_is_standard_output() {
    let s = with_tenant("pro");
    let bytes = noise(70_000, 3);
    s.ok(&["put", "acme/wf/x.bin", &s.file("in.bin", &bytes)]);
    let dash = s.command(&["get", "acme/wf/x.bin", "-o", "-"]).output().unwrap();
    assert!(dash.status.success(), "{}", String::from_utf8_lossy(&dash.stderr));
    assert_eq!(dash.stdout, bytes);
    assert!(!s.path("-").exists(), "no file named -");
    let plain = s.command(&["get", "acme/wf/x.bin"]).output().unwrap();
    assert_eq!(plain.stdout, dash.stdout);
}

#[test]
fn get_replaces_a_regular_file_atomically() {
    use std::os::unix::fs::MetadataExt;
    let s = with_tenant("pro");
    let bytes = noise(50_000, 4);
    s.ok(&["put", "acme/wf/x.bin", &s.file("in.bin", &bytes)]);
    let out = s.path("out.bin");
    std::fs::write(&out, vec![b'z'; 200_000]).unwrap();
    let before = std::fs::metadata(&out).unwrap().ino();
    s.ok(&["get", "acme/wf/x.bin", "-o", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), bytes, "no tail of the longer old file is left");
    assert!(file_type(&out).is_file());
    assert_ne!(std::fs::metadata(&out).unwrap().ino(), before, "a new file was renamed over the old one");
}

#[test]
fn get_writes_into_a_character_device_without_replacing_it() {
    use std::os::unix::fs::FileTypeExt;
    let s = with_tenant("pro");
    s.ok(&["put", "acme/wf/x.bin", &s.file("in.bin", &noise(10_000, 5))]);
    let null = std::path::Path::new("/dev/null");
    assert!(file_type(null).is_char_device());
    s.ok(&["get", "acme/wf/x.bin", "-o", "/dev/null"]);
    assert!(file_type(null).is_char_device(), "/dev/null is still the device");
}

#[test]
fn get_writes_into_a_fifo_without_replacing_it() {
    use std::os::unix::fs::FileTypeExt;
    let s = with_tenant("pro");
    let bytes = noise(200_000, 6);
    s.ok(&["put", "acme/wf/x.bin", &s.file("in.bin", &bytes)]);
    let fifo = s.path("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let (tx, rx) = std::sync::mpsc::channel();
    let reader_path = fifo.clone();
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::read(reader_path));
    });
    s.ok(&["get", "acme/wf/x.bin", "-o", fifo.to_str().unwrap()]);
    let read = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the reader got the bytes").unwrap();
    assert_eq!(read, bytes);
    assert!(file_type(&fifo).is_fifo(), "the FIFO is still a FIFO");

    // Bytes are verified before the FIFO is even opened: a corrupt blob
    // sends none (the reader waits until this test opens the FIFO itself).
    std::fs::write(s.blob_of("acme/wf/x.bin"), b"bit rot").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader_path = fifo.clone();
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::read(reader_path));
    });
    let err = s.fails(&["get", "acme/wf/x.bin", "-o", fifo.to_str().unwrap()], 1);
    assert!(err.contains("corrupt"), "{err}");
    drop(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
    let read = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the reader saw the end").unwrap();
    assert!(read.is_empty(), "not one unverified byte: got {}", read.len());
}

#[test]
fn get_refuses_a_symlink_and_a_directory_and_changes_nothing() {
    let s = with_tenant("pro");
    s.ok(&["put", "acme/wf/x.bin", &s.file("in.bin", &noise(1_000, 7))]);
    let target = s.path("target.txt");
    std::fs::write(&target, b"keep me").unwrap();
    let link = s.path("link.txt");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = s.fails(&["get", "acme/wf/x.bin", "-o", link.to_str().unwrap()], 2);
    assert!(err.contains("symbolic link") && err.contains("-o -"), "{err}");
    assert!(file_type(&link).is_symlink(), "the link is still a link");
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");

    let dir = s.path("a-dir");
    std::fs::create_dir(&dir).unwrap();
    let err = s.fails(&["get", "acme/wf/x.bin", "-o", dir.to_str().unwrap()], 2);
    assert!(err.contains("is a directory"), "{err}");
    assert!(file_type(&dir).is_dir());
}
