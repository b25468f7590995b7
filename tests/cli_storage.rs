//! Tier locations, undecodable blobs and full disks, through the real binary.

mod common;

use common::{Strata, log_text, noise};
use strata_core::config::env;

#[test]
fn a_file_url_on_another_host_is_refused_and_local_ones_are_parsed() {
    let s = Strata::new().env(env::STORAGE_HOT_PATH, "file://fileserver/exports/hot");
    let err = s.fails(&["tenant", "add", "acme"], 1);
    assert!(err.contains("fileserver") && err.contains("file:///"), "{err}");
    assert!(!std::path::Path::new("fileserver").exists() && !s.path("fileserver").exists());

    let hot = s.path("my hot");
    for url in [format!("file://{}", s.path("my%20hot").display()), format!("file://localhost{}", hot.display())] {
        let s = Strata::new().env(env::STORAGE_HOT_PATH, &url);
        s.ok(&["tenant", "add", "acme"]);
        let input = s.file("input", format!("stored via {url}").as_bytes());
        s.ok(&["put", "acme/wf/x", &input]);
        let blake3 = s.artifact("acme/wf/x")["blake3"].as_str().unwrap().to_owned();
        assert!(hot.join("acme").join(&blake3[..2]).join(&blake3).exists(), "{url} is not {}", hot.display());
    }
}

#[test]
fn an_undecodable_cold_blob_names_its_artifact() {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    let input = s.file("input", &log_text(3000));
    s.ok(&["put", "acme/wf/log.txt", &input]);
    s.ok(&["lifecycle", "run", "--as-of", "+40d", "--wait"]);
    let blob = s.blob_of("acme/wf/log.txt");
    assert!(blob.to_string_lossy().ends_with(".zst"));
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[..4].copy_from_slice(b"junk");
    std::fs::write(&blob, bytes).unwrap();
    let err = s.fails(&["get", "acme/wf/log.txt", "-o", &s.path("out").display().to_string()], 1);
    assert!(err.contains("acme/wf/log.txt") && err.contains("zstd decompression"), "{err}");
    assert!(err.contains("cold"), "{err}");
    assert!(!s.path("out").exists());
}

/// Whether user and mount namespaces are available (`unshare -rm`); when
/// not, `test` did not run (a failure under CI).
fn namespaces_available(test: &str) -> bool {
    let available = std::process::Command::new("unshare").args(["-rm", "true"]).status().is_ok_and(|st| st.success());
    if !available {
        strata_testkit::not_run(test, "no user and mount namespaces here (unshare -rm), needed for the full-disk test");
    }
    available
}

/// Runs strata in a private mount namespace with a 64 KiB tmpfs over the hot
/// tier; prints the files left in it. `None` where namespaces are not
/// available (after `strata_testkit::not_run` for `test`).
fn on_a_full_hot_tier(test: &str, s: &Strata, args: &[&str]) -> Option<std::process::Output> {
    let hot = s.data().join("tiers/hot");
    if !namespaces_available(test) {
        return None;
    }
    let cmd = s.command(args);
    let script = r#"mount -t tmpfs -o size=64k tmpfs "$HOT" || exit 97
"$@"; code=$?
find "$HOT" -type f -printf 'LEFT %p\n'
exit $code"#;
    let mut unshare = std::process::Command::new("unshare");
    unshare.args(["-rm", "sh", "-c", script, "sh"]).arg(cmd.get_program()).args(cmd.get_args()).env("HOT", &hot);
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => unshare.env(key, v),
            None => unshare.env_remove(key),
        };
    }
    Some(unshare.output().expect("unshare runs"))
}

#[test]
fn a_full_disk_is_an_honest_error_and_leaves_nothing_behind() {
    const TEST: &str = "cli_storage::a_full_disk_is_an_honest_error_and_leaves_nothing_behind";
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    // One lands in place, the other streams through staging.
    for (name, len) in [("small", 200_000), ("large", 2_000_000)] {
        let input = s.file(name, &noise(len, 7));
        let Some(out) = on_a_full_hot_tier(TEST, &s, &["put", &format!("acme/wf/{name}"), &input]) else { return };
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
        assert!(stderr.contains("the hot tier is full") && stderr.contains("free space"), "{stderr}");
        assert!(!stderr.contains("retry later"), "{stderr}");
        assert!(!stdout.contains("LEFT"), "a failed upload left files: {stdout}");
    }
    assert_eq!(s.catalog(), serde_json::json!([]), "nothing was recorded");
}

#[test]
fn a_full_disk_answers_507_over_http() {
    const ADMIN: &str = "admin-token-for-the-full-disk-test";
    let s = Strata::new().env(env::ADMIN_TOKEN, ADMIN);
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    if !namespaces_available("cli_storage::a_full_disk_answers_507_over_http") {
        return;
    }
    let cmd = s.command(&["serve", "--listen", "127.0.0.1:0"]);
    let mut unshare = std::process::Command::new("unshare");
    unshare
        .args(["-rm", "sh", "-c", r#"mount -t tmpfs -o size=64k tmpfs "$HOT" || exit 97; exec "$@""#, "sh"])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env("HOT", s.data().join("tiers/hot"))
        .stdout(std::process::Stdio::piped());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => unshare.env(key, v),
            None => unshare.env_remove(key),
        };
    }
    let mut child = unshare.spawn().expect("unshare runs");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).expect("first line");
    let address = line.trim().strip_prefix("Listening on http://").map(str::to_owned);
    let answer = address.map(|address| {
        use std::io::{Read, Write};
        let body = noise(200_000, 9);
        let mut stream = std::net::TcpStream::connect(&address).expect("connects");
        let head = format!(
            "PUT /v1/tenants/acme/artifacts/wf/big.bin HTTP/1.1\r\nHost: strata\r\nAuthorization: Bearer {ADMIN}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("head sent");
        let _ = stream.write_all(&body);
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    });
    let _ = child.kill();
    let _ = child.wait();
    let answer = answer.unwrap_or_else(|| panic!("strata serve did not start: {line:?}"));
    assert!(answer.starts_with("HTTP/1.1 507"), "{answer}");
    assert!(answer.contains("application/problem+json") && answer.contains("insufficient-storage"), "{answer}");
    assert!(!answer.contains("retry later"), "{answer}");
    assert_eq!(s.catalog(), serde_json::json!([]), "nothing was recorded");
}
