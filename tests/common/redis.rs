//! The test Redis and the keys a test leaves in it.

/// The test Redis: `STRATA_TEST_REDIS_URL`, else the local Redis when it
/// answers. Required under CI (`.ci/run` sets the URL); elsewhere a test
/// without one says loudly that it did not run.
pub fn redis_url() -> Option<String> {
    match std::env::var("STRATA_TEST_REDIS_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("CI").is_ok() => panic!("STRATA_TEST_REDIS_URL must be set under CI"),
        Err(_) => local_redis().or_else(|| {
            eprintln!("NOT RUN: no Redis (STRATA_TEST_REDIS_URL is unset and 127.0.0.1:6379 does not answer)");
            None
        }),
    }
}

/// The local Redis, when `STRATA_TEST_REDIS_URL` is unset: used if it
/// answers `PING` on 127.0.0.1:6379 within half a second.
fn local_redis() -> Option<String> {
    use std::io::{Read, Write};
    let timeout = std::time::Duration::from_millis(500);
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], 6379));
    let mut stream = std::net::TcpStream::connect_timeout(&address, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.write_all(b"PING\r\n").ok()?;
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).ok()?;
    (&reply == b"+PONG\r\n").then(|| "redis://127.0.0.1:6379".to_owned())
}

/// Deletes a test's keys (URL, key prefix) when dropped.
pub struct Cleanup(pub String, pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let script = format!(
            "redis-cli -u '{}' --scan --pattern '{}:*' | xargs -r redis-cli -u '{}' DEL >/dev/null",
            self.0, self.1, self.0
        );
        let _ = std::process::Command::new("sh").arg("-c").arg(script).status();
    }
}
