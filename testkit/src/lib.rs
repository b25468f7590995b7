//! Test support shared by strata's crates (a dev-dependency only).
//!
//! - The test services: [`redis_url`] and [`database_url`] find the Redis and
//!   the PostgreSQL a test runs against, from `STRATA_TEST_REDIS_URL` and
//!   `STRATA_TEST_DATABASE_URL`, else the local service when it answers.
//! - [`not_run`]: the one way a test says it did not run. Under CI (`CI` set
//!   and not empty, `0` or `false`) it fails the test instead; elsewhere it
//!   prints `NOT RUN: <test>: <reason>` on standard error and appends the
//!   same line to the file named by `STRATA_TEST_SKIPS`, so a run can count
//!   its skipped tests rather than report them as passed.
//! - [`pg::Schema`]: a fresh PostgreSQL schema per test, dropped afterwards.
//! - [`emulators`]: the S3 (`moto`) and Azure (Azurite) emulators the tier
//!   tests run against, started on a free port and killed on drop.
//! - [`proxy`]: a TCP proxy in front of the real Redis that can make it claim
//!   an older version, for the tests of what strata refuses.

pub mod emulators;
pub mod pg;
pub mod proxy;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// The variable naming the test Redis.
pub const REDIS_URL_VAR: &str = "STRATA_TEST_REDIS_URL";

/// The variable naming the test PostgreSQL database.
pub const DATABASE_URL_VAR: &str = "STRATA_TEST_DATABASE_URL";

/// The variable naming the file every skipped test appends its line to.
pub const SKIPS_VAR: &str = "STRATA_TEST_SKIPS";

/// The local Redis, used when `STRATA_TEST_REDIS_URL` is unset and it answers.
pub const LOCAL_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The local PostgreSQL database, used when `STRATA_TEST_DATABASE_URL` is
/// unset and the server accepts connections.
pub const LOCAL_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How long a probe of a local service waits for it.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// Whether the tests run under CI: `CI` is set and is not empty, `0` or
/// `false` (in any case).
pub fn under_ci() -> bool {
    is_ci(std::env::var("CI").ok().as_deref())
}

fn is_ci(value: Option<&str>) -> bool {
    value.map(str::trim).is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Says that `test` did not run, and why; the caller then returns.
///
/// Under CI this panics with the reason: there a test that cannot run is a
/// failure. Elsewhere it prints `NOT RUN: <test>: <reason>` on standard error
/// and, when `STRATA_TEST_SKIPS` names a file, appends the same line to it
/// (created if missing; one write per line, so parallel tests and processes
/// never interleave). A skip that cannot be recorded panics, rather than
/// pass unseen.
pub fn not_run(test: &str, reason: &str) {
    if under_ci() {
        panic!("{test} cannot run, and under CI it must: {reason}");
    }
    let line = skip_line(test, reason);
    eprint!("{line}");
    if let Some(skips) = std::env::var_os(SKIPS_VAR) {
        let skips = Path::new(&skips);
        if let Err(e) = append_line(skips, &line) {
            panic!("{test} did not run, and recording that in {} failed: {e}", skips.display());
        }
    }
}

/// The line a skipped test prints and records, newline included; line breaks
/// inside `test` or `reason` become spaces, so a skip is always one line.
fn skip_line(test: &str, reason: &str) -> String {
    let flat = |s: &str| s.replace(['\r', '\n'], " ");
    format!("NOT RUN: {}: {}\n", flat(test), flat(reason))
}

/// Appends `line` to `path` in one write (`O_APPEND`).
fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(line.as_bytes())
}

/// The test Redis for `test`: `STRATA_TEST_REDIS_URL`, else the local Redis
/// (127.0.0.1:6379) when it answers `PING` within half a second. `None`
/// after [`not_run`] when there is neither (a failure under CI).
pub fn redis_url(test: &str) -> Option<String> {
    if let Ok(url) = std::env::var(REDIS_URL_VAR) {
        return Some(url);
    }
    if redis_answers(SocketAddr::from(([127, 0, 0, 1], 6379))) {
        return Some(LOCAL_REDIS_URL.to_owned());
    }
    not_run(test, &format!("no Redis ({REDIS_URL_VAR} is unset and 127.0.0.1:6379 does not answer PING)"));
    None
}

/// The test PostgreSQL database for `test`: `STRATA_TEST_DATABASE_URL`, else
/// the local `test` database (as user `postgres`) when 127.0.0.1:5432 accepts
/// a connection within half a second. `None` after [`not_run`] when there is
/// neither (a failure under CI).
pub fn database_url(test: &str) -> Option<String> {
    if let Ok(url) = std::env::var(DATABASE_URL_VAR) {
        return Some(url);
    }
    if accepts(SocketAddr::from(([127, 0, 0, 1], 5432))) {
        return Some(LOCAL_DATABASE_URL.to_owned());
    }
    not_run(test, &format!("no PostgreSQL ({DATABASE_URL_VAR} is unset and 127.0.0.1:5432 does not accept)"));
    None
}

/// Whether a Redis at `address` answers `PING` with `+PONG`.
fn redis_answers(address: SocketAddr) -> bool {
    let ping = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&address, PROBE_TIMEOUT)?;
        stream.set_read_timeout(Some(PROBE_TIMEOUT))?;
        stream.write_all(b"PING\r\n")?;
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply)?;
        Ok(&reply == b"+PONG\r\n")
    };
    ping().unwrap_or(false)
}

/// Whether something at `address` accepts a TCP connection.
fn accepts(address: SocketAddr) -> bool {
    TcpStream::connect_timeout(&address, PROBE_TIMEOUT).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn ci_is_set_and_not_empty_zero_or_false() {
        for (value, ci) in [
            (None, false),
            (Some(""), false),
            (Some(" "), false),
            (Some("0"), false),
            (Some("false"), false),
            (Some("FALSE"), false),
            (Some("1"), true),
            (Some("true"), true),
            (Some("yes"), true),
        ] {
            assert_eq!(is_ci(value), ci, "CI={value:?}");
        }
    }

    #[test]
    fn a_skip_is_one_line_naming_the_test_and_the_reason() {
        assert_eq!(skip_line("suite::t", "no Redis"), "NOT RUN: suite::t: no Redis\n");
        assert_eq!(skip_line("t", "first\nsecond\r\n"), "NOT RUN: t: first second  \n");
    }

    #[test]
    fn parallel_skips_append_whole_lines() {
        const THREADS: usize = 8;
        const EACH: usize = 200;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skips");
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let path = &path;
                scope.spawn(move || {
                    for i in 0..EACH {
                        let reason = format!("reason {i} {}", "x".repeat(300));
                        append_line(path, &skip_line(&format!("test{t}"), &reason)).unwrap();
                    }
                });
            }
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), THREADS * EACH);
        for line in lines {
            let rest = line.strip_prefix("NOT RUN: test").unwrap_or_else(|| panic!("torn line {line:?}"));
            assert!(rest.ends_with(&"x".repeat(300)) && rest.len() < 330, "torn line {line:?}");
        }
    }

    #[test]
    fn an_unwritable_skips_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = append_line(&dir.path().join("missing/skips"), "NOT RUN: t: r\n").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }

    /// A one-connection server on 127.0.0.1 that answers `reply` to whatever
    /// it reads first.
    fn answering(reply: &'static [u8]) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 6];
            stream.read_exact(&mut request).unwrap();
            stream.write_all(reply).unwrap();
        });
        (address, server)
    }

    /// A port on 127.0.0.1 that nothing listens on.
    fn closed_port() -> SocketAddr {
        TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
    }

    #[test]
    fn redis_answers_only_with_pong() {
        let (address, server) = answering(b"+PONG\r\n");
        assert!(redis_answers(address));
        server.join().unwrap();
        let (address, server) = answering(b"-NOAUTH Authentication required.\r\n");
        assert!(!redis_answers(address));
        server.join().unwrap();
        assert!(!redis_answers(closed_port()));
    }

    #[test]
    fn a_server_accepts_or_not() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(accepts(listener.local_addr().unwrap()));
        assert!(!accepts(closed_port()));
    }
}
