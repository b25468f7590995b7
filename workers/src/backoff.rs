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
}
