//! The lifecycle decision: one pure function of (artifact, policy, now) that
//! says which action is due and when the next one will be.
//!
//! The planner, the dry run, every handler's re-check and `explain` call
//! [`decide`], so what is planned is exactly what is carried out.

use crate::artifact::{Artifact, State, Tier};
use crate::clock::add_days;
use crate::config::{AgeFrom, ClassRule, Config, Days};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A lifecycle action the scheduler can plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Expired and unprotected: mark eligible for deletion.
    MarkEligible,
    /// Eligible past the grace period: delete the bytes.
    Purge,
    /// Move to a colder tier, compressing on entering cold.
    Compress {
        /// The tier it leaves.
        from: Tier,
    },
    /// Move to a colder tier without compression.
    Promote {
        /// The tier it leaves.
        from: Tier,
        /// The tier it enters.
        to: Tier,
    },
    /// Verify that the blob exists and its digest matches.
    Scan,
}

impl Action {
    /// The job kind that carries this action out.
    pub fn job_kind(self) -> &'static str {
        match self {
            Action::MarkEligible => "eligibility",
            Action::Purge => "purge",
            Action::Compress { .. } => "compress",
            Action::Promote { .. } => "promote",
            Action::Scan => "scan",
        }
    }
}

/// What [`decide`] concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The action due at `now`, if any, and the rule that makes it due.
    pub due: Option<(Action, &'static str)>,
    /// The earliest instant at which some action is or becomes due.
    pub next_due_at: Option<DateTime<Utc>>,
    /// Every pending action with its due time, earliest first.
    pub schedule: Vec<(Action, DateTime<Utc>, &'static str)>,
}

/// The tier an artifact of this age belongs in, ignoring restore pins.
///
/// Here and in [`decide`], an instant past the last representable one is
/// never reached: the action it would schedule is left out.
fn tier_transitions(a: &Artifact, config: &Config) -> Vec<(Action, DateTime<Utc>, &'static str)> {
    let tiers = &config.tiers;
    let base = match tiers.age_from {
        AgeFrom::Created => a.created_at,
        AgeFrom::LastAccess => a.last_accessed_at,
    };
    let pin = |at: DateTime<Utc>| a.pinned_hot_until.map_or(at, |p| p.max(at));
    let mut out = Vec::new();
    if tiers.cold_enabled
        && a.tier < Tier::Cold
        && let Some(at) = add_days(base, tiers.warm_days).map(pin)
    {
        let action = if tiers.compress {
            Action::Compress { from: a.tier }
        } else {
            Action::Promote { from: a.tier, to: Tier::Cold }
        };
        out.push((action, at, "tiers.warm_days"));
    }
    if a.tier == Tier::Hot
        && let Some(at) = add_days(base, tiers.hot_days).map(pin)
    {
        out.push((Action::Promote { from: Tier::Hot, to: Tier::Warm }, at, "tiers.hot_days"));
    }
    out
}

/// Decides what is due for `a` at `now` under `config`.
///
/// Priority when several actions are due at once: purge, then eligibility,
/// then the tier move to the coldest due tier, then a scan.
pub fn decide(a: &Artifact, config: &Config, now: DateTime<Utc>) -> Decision {
    let mut schedule: Vec<(Action, DateTime<Utc>, &'static str)> = Vec::new();
    match a.state {
        // A hold outranks every retention rule: no eligibility, no purge.
        State::Active => {
            if let Some(expires_at) = a.expires_at.filter(|_| !a.held) {
                schedule.push((Action::MarkEligible, expires_at, "retention.expires_at"));
            }
            schedule.extend(tier_transitions(a, config));
        }
        State::Eligible if a.held => {}
        State::Eligible => {
            let since = a.eligible_at.or(a.expires_at).unwrap_or(a.created_at);
            if let Some(at) = add_days(since, config.retention.grace_days) {
                schedule.push((Action::Purge, at, "retention.grace_days"));
            }
        }
        State::Purged | State::Erased => {}
    }
    if a.state.is_live()
        && config.tiers.scan_interval_days > 0
        && let Some(at) = add_days(a.verified_at, config.tiers.scan_interval_days)
    {
        schedule.push((Action::Scan, at, "tiers.scan_interval_days"));
    }
    let next_due_at = schedule.iter().map(|(_, at, _)| *at).min();
    // Keep-latest-N protects without moving the expiry: the artifact stays
    // scheduled, so it is planned again once newer ones push it out.
    let kept = u64::from(config.keep_latest(a.tenant.as_str(), &a.plan)) > a.newer_live;
    // Declaration order is priority order: the first due entry wins.
    let due = schedule
        .iter()
        .filter(|(action, _, _)| !(kept && *action == Action::MarkEligible))
        .find(|(_, at, _)| *at <= now)
        .map(|(action, _, rule)| (*action, *rule));
    schedule.sort_by_key(|(_, at, _)| *at);
    Decision { due, next_due_at, schedule }
}

/// Why an expiry could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown retention class {class:?} (configured: {known})")]
pub struct UnknownClass {
    /// The class asked for.
    pub class: String,
    /// The configured classes.
    pub known: String,
}

/// Computes when an artifact created at `created_at` expires, from its class
/// (if any) or its tenant's plan. An expiry past the last representable
/// instant is no expiry.
pub fn expires_at(
    config: &Config,
    plan: &str,
    class: Option<&str>,
    created_at: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, UnknownClass> {
    let rule = match class {
        None => ClassRule::Plan(crate::config::PlanWord::Plan),
        Some(c) => *config.retention.classes.get(c).ok_or_else(|| UnknownClass {
            class: c.to_owned(),
            known: config.retention.classes.keys().cloned().collect::<Vec<_>>().join(", "),
        })?,
    };
    let d: Days = match rule {
        ClassRule::Fixed(d) => d,
        ClassRule::Plan(_) => config.plan_days(plan),
    };
    Ok(d.days().and_then(|n| add_days(created_at, n)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::Codec;
    use crate::id::{ArtifactName, TenantId, WorkflowName};
    use chrono::Duration;

    fn artifact(created_at: DateTime<Utc>) -> Artifact {
        Artifact {
            id: 1,
            tenant: TenantId::parse("t").unwrap(),
            workflow: WorkflowName::parse("w").unwrap(),
            name: ArtifactName::parse("n").unwrap(),
            size: 10,
            stored_size: 10,
            codec: Codec::None,
            blake3: String::new(),
            sha256: String::new(),
            content_type: "application/octet-stream".into(),
            tags: Default::default(),
            meta: Default::default(),
            created_at,
            last_accessed_at: created_at,
            verified_at: created_at,
            tier: Tier::Hot,
            state: State::Active,
            class: None,
            expires_at: Some(created_at + Duration::days(90)),
            eligible_at: None,
            pinned_hot_until: None,
            next_due_at: None,
            job_token: None,
            generation: 0,
            held: false,
            extended: false,
            plan: "pro".into(),
            newer_live: 100,
            dead_lettered_at: None,
        }
    }

    #[test]
    fn table_of_decisions() {
        let config = Config::default();
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
        let hot = artifact(t0);
        let warm = Artifact { tier: Tier::Warm, ..hot.clone() };
        let cold = Artifact { tier: Tier::Cold, codec: Codec::Zstd, ..hot.clone() };
        let eligible = Artifact { state: State::Eligible, eligible_at: Some(t0 + Duration::days(90)), ..cold.clone() };
        let pinned = Artifact { pinned_hot_until: Some(t0 + Duration::days(50)), ..hot.clone() };
        let held = Artifact { held: true, ..cold.clone() };
        let held_eligible = Artifact { held: true, ..eligible.clone() };
        let kept = Artifact { newer_live: 1, ..hot.clone() };
        let pushed_out = Artifact { newer_live: 2, ..hot.clone() };
        let cases: Vec<(&str, &Artifact, i64, Option<Action>)> = vec![
            ("fresh hot", &hot, 0, None),
            ("hot at 6d", &hot, 6, None),
            ("hot at 7d", &hot, 7, Some(Action::Promote { from: Tier::Hot, to: Tier::Warm })),
            ("hot at 31d goes straight to cold", &hot, 31, Some(Action::Compress { from: Tier::Hot })),
            ("warm at 8d", &warm, 8, None),
            ("warm at 30d", &warm, 30, Some(Action::Compress { from: Tier::Warm })),
            ("cold at 31d", &cold, 31, None),
            ("cold at 30.5d is due a scan", &cold, 30, Some(Action::Scan)),
            ("expired", &cold, 90, Some(Action::MarkEligible)),
            ("eligible in grace", &eligible, 96, None),
            ("eligible after grace", &eligible, 97, Some(Action::Purge)),
            ("pinned hot stays", &pinned, 40, None),
            ("pin ran out", &pinned, 51, Some(Action::Compress { from: Tier::Hot })),
            ("held never expires", &held, 400, None),
            ("held is never purged", &held_eligible, 400, None),
            ("kept by keep-latest", &kept, 400, Some(Action::Compress { from: Tier::Hot })),
            ("pushed out of keep-latest", &pushed_out, 400, Some(Action::MarkEligible)),
        ];
        for (label, a, day, want) in cases {
            let mut config = if label.contains("scan") {
                config.clone()
            } else {
                Config {
                    tiers: crate::config::TierConfig { scan_interval_days: 0, ..config.tiers.clone() },
                    ..config.clone()
                }
            };
            config.retention.keep_latest = 2;
            let got = decide(a, &config, t0 + Duration::days(day)).due.map(|(a, _)| a);
            assert_eq!(got, want, "{label}");
        }
    }

    #[test]
    fn next_due_is_the_earliest_pending_action() {
        let t0 = Utc::now();
        let d = decide(&artifact(t0), &Config::default(), t0);
        assert_eq!(d.next_due_at, Some(t0 + Duration::days(7)));
        let purged = Artifact { state: State::Purged, ..artifact(t0) };
        assert_eq!(decide(&purged, &Config::default(), t0).next_due_at, None);
    }

    #[test]
    fn days_past_the_end_of_time_schedule_nothing_and_never_panic() {
        let mut config = Config::default();
        config.tiers.hot_days = u32::MAX - 1;
        config.tiers.warm_days = u32::MAX;
        config.tiers.scan_interval_days = u32::MAX;
        config.retention.grace_days = u32::MAX;
        config.retention.plans.insert("pro".into(), Days::Days(u32::MAX));
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
        let a = Artifact { expires_at: None, ..artifact(t0) };
        let d = decide(&a, &config, t0 + Duration::days(400));
        assert_eq!((d.due, d.next_due_at), (None, None));
        let eligible = Artifact { state: State::Eligible, eligible_at: Some(t0), ..a.clone() };
        assert_eq!(decide(&eligible, &config, t0).schedule, Vec::new());
        assert_eq!(expires_at(&config, "pro", None, t0).unwrap(), None);
        config.retention.classes.insert("forever-ish".into(), ClassRule::Fixed(Days::Days(4_000_000_000)));
        assert_eq!(expires_at(&config, "pro", Some("forever-ish"), t0).unwrap(), None);
    }

    #[test]
    fn expiry_from_class_or_plan() {
        let c = Config::default();
        let t0 = Utc::now();
        assert_eq!(expires_at(&c, "free", None, t0).unwrap(), Some(t0 + Duration::days(30)));
        assert_eq!(expires_at(&c, "enterprise", None, t0).unwrap(), None);
        assert_eq!(expires_at(&c, "free", Some("permanent-record"), t0).unwrap(), None);
        assert_eq!(expires_at(&c, "pro", Some("standard"), t0).unwrap(), Some(t0 + Duration::days(365)));
        assert!(expires_at(&c, "free", Some("nope"), t0).unwrap_err().to_string().contains("ephemeral"));
    }
}
