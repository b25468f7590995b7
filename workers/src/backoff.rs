//! Retry delays: exponential backoff with full jitter.

use rand::Rng;
use std::time::Duration;

/// The upper bound of the delay before retry number `attempt` (1-based):
/// `base * 2^(attempt-1)`, capped at `max`.
pub fn ceiling(attempt: u32, base: Duration, max: Duration) -> Duration {
    let factor = 1u32.checked_shl(attempt.saturating_sub(1).min(31)).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(max).min(max)
}

/// A delay drawn uniformly from `[0, ceiling]` ("full jitter"), so that many
/// jobs failing together do not retry together.
pub fn full_jitter(attempt: u32, base: Duration, max: Duration) -> Duration {
    let cap = ceiling(attempt, base, max).as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(0..=cap))
}

/// The delay before retrying a job whose transient failures began `failing`
/// ago: drawn uniformly from `[0, ceiling]` where the ceiling is twice that
/// time, at least `base` and at most `max`. The ceiling doubles with each
/// retry on average, without a count of the retries.
pub fn since_first_failure(failing: Duration, base: Duration, max: Duration) -> Duration {
    let cap = failing.saturating_mul(2).max(base).min(max).as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(0..=cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_and_caps() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        let got: Vec<u128> = (1..=6).map(|a| ceiling(a, base, max).as_millis()).collect();
        assert_eq!(got, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(ceiling(200, base, max), max);
        for attempt in 1..10 {
            assert!(full_jitter(attempt, base, max) <= ceiling(attempt, base, max));
        }
    }

    #[test]
    fn transient_delays_grow_with_the_time_failing_up_to_the_cap() {
        let base = Duration::from_millis(10);
        let max = Duration::from_millis(100);
        for _ in 0..100 {
            assert!(since_first_failure(Duration::ZERO, base, max) <= base);
            assert!(since_first_failure(Duration::from_millis(30), base, max) <= Duration::from_millis(60));
            assert!(since_first_failure(Duration::from_secs(3600), base, max) <= max);
        }
        let late: Vec<Duration> = (0..200).map(|_| since_first_failure(Duration::from_secs(3600), base, max)).collect();
        assert!(late.iter().any(|d| *d > base), "the ceiling grew past the base: {late:?}");
    }
}
