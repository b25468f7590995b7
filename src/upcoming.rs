//! Notice before deletion: what the current policy will make eligible for
//! deletion, or purge, within a window, when, and by which rule.

use crate::artifact::{Artifact, Tier};
use crate::catalog::ArtifactFilter;
use crate::clock::{TimeParseError, add_days, parse_instant};
use crate::config::Config;
use crate::id::TenantId;
use crate::lifecycle::{Action, Rule, decide, is_kept};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What will happen to an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Deletion {
    /// It becomes eligible for deletion (its `deletion_eligible` event).
    DeletionEligible,
    /// Its bytes are purged (its `purged` event).
    Purged,
}

impl Deletion {
    /// The event the step records, as the event log names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Deletion::DeletionEligible => "deletion_eligible",
            Deletion::Purged => "purged",
        }
    }
}

/// One step towards deletion that falls within the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Upcoming {
    /// `tenant/workflow/name`.
    pub key: String,
    /// The tenant.
    pub tenant: TenantId,
    /// The step.
    pub event: Deletion,
    /// When it is due; earlier than the window's start when it is overdue
    /// (the next planning pass carries it out).
    pub at: DateTime<Utc>,
    /// The rule that sets the time.
    pub rule: Rule,
    /// Whether the step follows another one in the window (a purge after
    /// an eligibility not yet recorded), so its time counts from that one.
    pub follows: bool,
    /// The artifact's tier now.
    pub tier: Tier,
    /// Its size in bytes.
    pub size: u64,
}

/// The end of a window of `within` (`7d`, `12h`, `+30d`) from `now`.
pub fn window_end(within: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimeParseError> {
    let span = within.trim();
    let span = span.strip_prefix('+').unwrap_or(span);
    // At most 99999 of a unit, as the API documents it.
    if span.starts_with('-') || span.len() > 6 {
        return Err(TimeParseError { value: within.to_owned() });
    }
    parse_instant(&format!("+{span}"), now).map_err(|_| TimeParseError { value: within.to_owned() })
}

/// The steps towards deletion of `a` due by `until`, under `config` at
/// `now`: none while it is held or kept by keep-latest; its eligibility
/// when its expiry falls in the window, and the purge that follows when the
/// grace period ends in it too; the purge of an eligible artifact.
pub fn upcoming_for(a: &Artifact, config: &Config, now: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Upcoming> {
    let kept = is_kept(a, config);
    let grace = config.retention.grace_days;
    let step = |event, at, rule, follows| Upcoming {
        key: a.key().to_string(),
        tenant: a.tenant.clone(),
        event,
        at,
        rule,
        follows,
        tier: a.tier,
        size: a.size,
    };
    let mut steps = Vec::new();
    for s in decide(a, config, now).schedule {
        match s.action {
            Action::MarkEligible if !kept && s.at <= until => {
                // An overdue eligibility is recorded at the next pass, and
                // the grace period counts from then.
                let purge_at = add_days(s.at.max(now), grace).filter(|t| *t <= until);
                steps.push(step(Deletion::DeletionEligible, s.at, s.rule, false));
                if let Some(at) = purge_at {
                    steps.push(step(Deletion::Purged, at, Rule::Grace(grace), true));
                }
            }
            Action::Purge if s.at <= until => steps.push(step(Deletion::Purged, s.at, s.rule, false)),
            _ => {}
        }
    }
    steps
}

impl Store {
    /// Every step towards deletion due by `until` (of `tenant`'s live
    /// artifacts, or everyone's), as the current policy has it at `now`,
    /// soonest first. Reads every live artifact in scope once.
    pub async fn upcoming(
        &self,
        tenant: Option<&TenantId>,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<Upcoming>, StoreError> {
        let filter = ArtifactFilter { tenant: tenant.cloned(), ..ArtifactFilter::default() };
        let config = self.config();
        let mut steps: Vec<Upcoming> =
            self.list(&filter).await?.iter().flat_map(|a| upcoming_for(a, config, now, until)).collect();
        steps.sort_by(|x, y| x.at.cmp(&y.at).then_with(|| x.key.cmp(&y.key)).then_with(|| x.event.cmp(&y.event)));
        Ok(steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::State;
    use chrono::Duration;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z").unwrap().to_utc()
    }

    fn artifact(expires_in_days: i64) -> Artifact {
        Artifact {
            tier: Tier::Cold,
            expires_at: Some(t0() + Duration::days(expires_in_days)),
            extended: true,
            ..crate::lifecycle::tests::artifact(t0() - Duration::days(100))
        }
    }

    fn events(steps: &[Upcoming]) -> Vec<(&'static str, i64, bool)> {
        steps.iter().map(|s| (s.event.as_str(), (s.at - t0()).num_days(), s.follows)).collect()
    }

    #[test]
    fn eligibility_in_the_window_and_the_purge_after_its_grace() {
        let mut config = Config::default();
        config.retention.grace_days = 3;
        let a = artifact(2);
        let in_week = upcoming_for(&a, &config, t0(), t0() + Duration::days(7));
        assert_eq!(events(&in_week), [("deletion_eligible", 2, false), ("purged", 5, true)]);
        assert_eq!(in_week[0].rule, Rule::Extension);
        assert_eq!(in_week[1].rule, Rule::Grace(3));
        let in_four_days = upcoming_for(&a, &config, t0(), t0() + Duration::days(4));
        assert_eq!(events(&in_four_days), [("deletion_eligible", 2, false)]);
        assert!(upcoming_for(&a, &config, t0(), t0() + Duration::days(1)).is_empty());
    }

    #[test]
    fn an_overdue_eligibility_counts_its_grace_from_now() {
        let mut config = Config::default();
        config.retention.grace_days = 3;
        let steps = upcoming_for(&artifact(-10), &config, t0(), t0() + Duration::days(7));
        assert_eq!(events(&steps), [("deletion_eligible", -10, false), ("purged", 3, true)]);
    }

    #[test]
    fn an_eligible_artifact_is_purged_after_its_grace() {
        let mut config = Config::default();
        config.retention.grace_days = 3;
        let a = Artifact { state: State::Eligible, eligible_at: Some(t0() - Duration::days(1)), ..artifact(-1) };
        let steps = upcoming_for(&a, &config, t0(), t0() + Duration::days(7));
        assert_eq!(events(&steps), [("purged", 2, false)]);
    }

    #[test]
    fn held_and_kept_artifacts_have_nothing_upcoming() {
        let mut config = Config::default();
        let held = Artifact { held: true, ..artifact(2) };
        assert!(upcoming_for(&held, &config, t0(), t0() + Duration::days(30)).is_empty());
        config.retention.keep_latest = 3;
        let kept = Artifact { newer_live: 2, ..artifact(2) };
        assert!(upcoming_for(&kept, &config, t0(), t0() + Duration::days(30)).is_empty());
        let pushed_out = Artifact { newer_live: 3, ..artifact(2) };
        assert_eq!(upcoming_for(&pushed_out, &config, t0(), t0() + Duration::days(30)).len(), 2);
    }

    #[test]
    fn a_window_is_a_positive_span() {
        assert_eq!(window_end("7d", t0()).unwrap(), t0() + Duration::days(7));
        assert_eq!(window_end("+12h", t0()).unwrap(), t0() + Duration::hours(12));
        for bad in ["-1d", "7", "d", "7w", "", "+-1d", "100000d", "7¬", "¬"] {
            assert!(window_end(bad, t0()).is_err(), "{bad:?}");
        }
    }
}
