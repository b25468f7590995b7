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

    /// Checks 1,000 delays drawn from `[0, ceiling]` are spread across it: a
    /// fixed delay, or one drawn from a narrow band, fails every check but
    /// the bounds. Each check fails by chance with odds below 1 in 10^20.
    fn assert_spread(draws: &[Duration], ceiling: Duration) {
        let ms: Vec<u64> = draws.iter().map(|d| d.as_millis() as u64).collect();
        let cap = ceiling.as_millis() as u64;
        let (min, max) = (*ms.iter().min().unwrap(), *ms.iter().max().unwrap());
        assert!(max <= cap, "every delay within [0, {cap}] ms: max {max}");
        assert!(min < cap / 4 && max > cap * 3 / 4, "delays span the range: {min}..={max} of 0..={cap} ms");
        let distinct: std::collections::BTreeSet<u64> = ms.iter().copied().collect();
        assert!(distinct.len() > 300, "{} distinct delays of 1,000", distinct.len());
        let mean = ms.iter().sum::<u64>() as f64 / ms.len() as f64;
        assert!((mean - cap as f64 / 2.0).abs() < cap as f64 / 10.0, "uniform: mean {mean} ms for 0..={cap} ms");
    }

    #[test]
    fn full_jitter_spreads_delays_over_the_whole_ceiling() {
        let (base, max) = (Duration::from_millis(100), Duration::from_secs(60));
        // Attempt 4: ceiling 800 ms; attempt 20: capped at 60 s.
        for attempt in [4, 20] {
            let draws: Vec<Duration> = (0..1000).map(|_| full_jitter(attempt, base, max)).collect();
            assert_spread(&draws, ceiling(attempt, base, max));
        }
    }

    #[test]
    fn transient_delays_spread_over_the_whole_ceiling() {
        let (base, max) = (Duration::from_millis(100), Duration::from_secs(60));
        let draws: Vec<Duration> = (0..1000).map(|_| since_first_failure(Duration::from_secs(5), base, max)).collect();
        assert_spread(&draws, Duration::from_secs(10));
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
