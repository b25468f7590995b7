//! Time: an injectable clock and the parser for `--as-of` style instants.

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};

/// A source of the current time. Production uses [`SystemClock`]; tests and the
/// demo use [`ManualClock`] so that nothing ever sleeps through time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    /// Moves the clock forward (or backward, for a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *guard += by;
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// Why an instant could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a time: use RFC 3339 (2027-01-01T00:00:00Z) or a relative offset (+30d, +12h, +90m, -1d)")]
pub struct TimeParseError {
    /// The rejected input.
    pub value: String,
}

/// Parses an instant: RFC 3339, a bare date (`2027-01-01`, midnight UTC), or an
/// offset from `now` such as `+30d`, `+12h`, `+15m`, `+45s`, `-2d`, or `now`.
pub fn parse_instant(value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimeParseError> {
    let err = || TimeParseError { value: value.to_owned() };
    let trimmed = value.trim();
    if trimmed == "now" {
        return Ok(now);
    }
    if let Some(rest) = trimmed.strip_prefix('+').or_else(|| trimmed.strip_prefix('-')) {
        let sign = if trimmed.starts_with('-') { -1 } else { 1 };
        // The unit is the last character, whatever its width.
        let (digits, unit) = rest.split_at(rest.char_indices().last().map_or(0, |(i, _)| i));
        // Exactly one sign, then digits only: `+-5d` and `++5d` are refused.
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let n: i64 = digits.parse().map_err(|_| err())?;
        let offset = match unit {
            "d" => Duration::try_days(n),
            "h" => Duration::try_hours(n),
            "m" => Duration::try_minutes(n),
            "s" => Duration::try_seconds(n),
            _ => None,
        }
        .ok_or_else(err)?;
        return now.checked_add_signed(offset * sign).ok_or_else(err);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(trimmed) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(trimmed, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).ok_or_else(err);
    }
    Err(err())
}

/// `t` plus `days` days, or `None` past the last representable instant.
///
/// Day counts come from configuration and requests; adding them never
/// panics, whatever their size.
pub fn add_days(t: DateTime<Utc>, days: u32) -> Option<DateTime<Utc>> {
    Duration::try_days(i64::from(days)).and_then(|d| t.checked_add_signed(d))
}

/// `t` plus `secs` seconds, or `None` past the last representable instant.
pub fn add_secs(t: DateTime<Utc>, secs: u64) -> Option<DateTime<Utc>> {
    i64::try_from(secs).ok().and_then(Duration::try_seconds).and_then(|d| t.checked_add_signed(d))
}

/// Milliseconds since the Unix epoch, the catalog's storage format for instants.
pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`to_millis`]; out-of-range values clamp to the epoch.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_absolute_and_relative() {
        let now = parse_instant("2026-01-01T00:00:00Z", Utc::now()).unwrap();
        let cases = [
            ("+30d", now + Duration::days(30)),
            ("+12h", now + Duration::hours(12)),
            ("-1d", now - Duration::days(1)),
            ("+90m", now + Duration::minutes(90)),
            ("now", now),
            ("2027-01-01", parse_instant("2027-01-01T00:00:00Z", now).unwrap()),
            ("2027-01-01T02:00:00+02:00", parse_instant("2027-01-01T00:00:00Z", now).unwrap()),
        ];
        for (input, want) in cases {
            assert_eq!(parse_instant(input, now).unwrap(), want, "{input}");
        }
        for bad in ["", "+", "+3w", "yesterday", "+d", "2027-13-01", "+-5d", "++5d", "-+5d", "--5d", "+ 5d", "+5 d"] {
            assert_eq!(parse_instant(bad, now), Err(TimeParseError { value: bad.to_owned() }), "{bad:?}");
        }
    }

    #[test]
    fn huge_offsets_are_errors_not_panics() {
        let now = parse_instant("2026-01-01T00:00:00Z", Utc::now()).unwrap();
        for bad in [
            "+999999999999999d",
            "+7¬",
            "+¬",
            "-7ᘡ",
            "-999999999999999d",
            "+9223372036854775807s",
            "+99999999999999999999d",
        ] {
            assert_eq!(parse_instant(bad, now), Err(TimeParseError { value: bad.to_owned() }), "{bad:?}");
        }
        assert_eq!(add_days(now, 30), Some(now + Duration::days(30)));
        assert_eq!(add_days(now, u32::MAX), None);
        assert_eq!(add_secs(now, 90), Some(now + Duration::seconds(90)));
        assert_eq!(add_secs(now, u64::MAX), None);
        assert_eq!(add_secs(now, i64::MAX as u64), None);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = Utc::now();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::days(2));
        assert_eq!(clock.now(), start + Duration::days(2));
    }
}
