//! The keys a test leaves in the test Redis (`strata_testkit::redis_url`).

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
