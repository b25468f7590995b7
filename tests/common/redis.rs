//! The test Redis and the keys a test leaves in it.

/// The test Redis: required under CI (`.ci/run` sets the URL), skipped with
/// a message elsewhere.
pub fn redis_url() -> Option<String> {
    match std::env::var("STRATA_TEST_REDIS_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("CI").is_ok() => panic!("STRATA_TEST_REDIS_URL must be set under CI"),
        Err(_) => None,
    }
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
