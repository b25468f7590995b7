//! The lifecycle decision: one pure function of (artifact, policy, now) that
//! says which action is due and when the next one will be.
//!
//! The planner, the dry run, every handler's re-check and `explain` call
//! [`decide`], so what is planned is exactly what is carried out. The
//! decision derives the expiry from the current policy ([`policy_expiry`]):
//! only an extension is an expiry of its own, so a changed plan, class or
//! cold-tier limit applies to what is already stored.

use crate::artifact::{Artifact, State, Tier};
use crate::clock::add_days;
use crate::config::{AgeFrom, ClassRule, Config, Days};
use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use std::fmt;

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

/// The rule that decides an expiry or an action, as `explain` and
/// `lifecycle plan` name it. Serialized as its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// An explicit expiry set by `retention extend`: it outranks class and plan.
    Extension,
    /// The tenant plan's retention (`retention.plans`).
    Plan {
        /// The plan.
        plan: String,
        /// Its days.
        days: Days,
    },
    /// A retention class with days of its own (`retention.classes`).
    Class {
        /// The class.
        class: String,
        /// Its days.
        days: Days,
    },
    /// The cold tier's age limit (`tiers.cold_days`, `COLD_RETENTION_DAYS`),
    /// when it comes before the plan's expiry.
    ColdDays(u32),
    /// A class that is no longer configured: the expiry stored when it was.
    UnconfiguredClass(String),
    /// Hot to warm at this age (`tiers.hot_days`).
    HotDays(u32),
    /// To cold at this age (`tiers.warm_days`).
    WarmDays(u32),
    /// Purge this long after eligibility (`retention.grace_days`).
    Grace(u32),
    /// A digest scan this long after the last one (`tiers.scan_interval_days`).
    ScanInterval(u32),
}

fn days_text(days: Days) -> String {
    match days.days() {
        Some(1) => "1 day".to_owned(),
        Some(n) => format!("{n} days"),
        None => "never expires".to_owned(),
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Extension => f.write_str("extension"),
            Rule::Plan { plan, days } => write!(f, "plan {plan}: {}", days_text(*days)),
            Rule::Class { class, days } => write!(f, "class {class}: {}", days_text(*days)),
            Rule::ColdDays(d) => write!(f, "cold tier limit (tiers.cold_days): {}", days_text(Days::Days(*d))),
            Rule::UnconfiguredClass(class) => write!(f, "class {class} (no longer configured): the stored expiry"),
            Rule::HotDays(d) => write!(f, "tiers.hot_days: {}", days_text(Days::Days(*d))),
            Rule::WarmDays(d) => write!(f, "tiers.warm_days: {}", days_text(Days::Days(*d))),
            Rule::Grace(d) => write!(f, "retention.grace_days: {}", days_text(Days::Days(*d))),
            Rule::ScanInterval(d) => write!(f, "tiers.scan_interval_days: {}", days_text(Days::Days(*d))),
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One pending or due action: what, when, and the rule that schedules it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scheduled {
    /// The action.
    #[serde(flatten)]
    pub action: Action,
    /// When it is (or became) due.
    pub at: DateTime<Utc>,
    /// The rule that schedules it.
    pub rule: Rule,
}

/// What [`decide`] concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The action due at `now`, if any, with its time and rule.
    pub due: Option<Scheduled>,
    /// The earliest instant at which some action is or becomes due.
    pub next_due_at: Option<DateTime<Utc>>,
    /// Every pending action with its due time, earliest first.
    pub schedule: Vec<Scheduled>,
}

/// An artifact's expiry under a policy, and the rule that sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expiry {
    /// When it expires; `None`: never.
    pub at: Option<DateTime<Utc>>,
    /// The rule that decides it.
    pub rule: Rule,
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

/// The expiry the policy gives an artifact of `plan` and `class` created at
/// `created_at`: a class with days of its own decides; otherwise (no class,
/// or a class that follows the plan) the plan's days, or the cold tier's age
/// limit (`tiers.cold_days`) when that comes first. An expiry past the last
/// representable instant is no expiry.
pub fn policy_expiry(
    config: &Config,
    plan: &str,
    class: Option<&str>,
    created_at: DateTime<Utc>,
) -> Result<Expiry, UnknownClass> {
    let rule = match class {
        None => ClassRule::Plan(crate::config::PlanWord::Plan),
        Some(c) => *config.retention.classes.get(c).ok_or_else(|| UnknownClass {
            class: c.to_owned(),
            known: config.retention.classes.keys().cloned().collect::<Vec<_>>().join(", "),
        })?,
    };
    let at = |d: Days| d.days().and_then(|n| add_days(created_at, n));
    if let (ClassRule::Fixed(days), Some(class)) = (rule, class) {
        return Ok(Expiry { at: at(days), rule: Rule::Class { class: class.to_owned(), days } });
    }
    let days = config.plan_days(plan);
    let by_plan = Expiry { at: at(days), rule: Rule::Plan { plan: plan.to_owned(), days } };
    let Some(cold_days) = config.tiers.cold_days else {
        return Ok(by_plan);
    };
    match (at(Days::Days(cold_days)), by_plan.at) {
        (Some(cold), plan_at) if plan_at.is_none_or(|p| cold < p) => {
            Ok(Expiry { at: Some(cold), rule: Rule::ColdDays(cold_days) })
        }
        _ => Ok(by_plan),
    }
}

/// Computes when an artifact created at `created_at` expires under the
/// policy ([`policy_expiry`] without its rule).
pub fn expires_at(
    config: &Config,
    plan: &str,
    class: Option<&str>,
    created_at: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, UnknownClass> {
    policy_expiry(config, plan, class, created_at).map(|e| e.at)
}

/// The expiry that decides for `a` under `config` now: its extension if it
/// has one, else the policy's; a class no longer configured keeps the
/// expiry stored when it was.
pub fn effective_expiry(a: &Artifact, config: &Config) -> Expiry {
    if a.extended {
        return Expiry { at: a.expires_at, rule: Rule::Extension };
    }
    policy_expiry(config, &a.plan, a.class.as_deref(), a.created_at)
        .unwrap_or_else(|e| Expiry { at: a.expires_at, rule: Rule::UnconfiguredClass(e.class) })
}

/// `a` as the current policy has it: its expiry from [`effective_expiry`],
/// and out of eligibility when that expiry now lies after the instant it
/// became eligible (or it no longer expires). This is what a policy
/// recompute stores, and what [`decide`] decides on.
pub fn under_policy(a: &Artifact, config: &Config) -> Artifact {
    let expiry = effective_expiry(a, config);
    let mut out = Artifact { expires_at: expiry.at, ..a.clone() };
    let revoked = match (a.eligible_at, expiry.at) {
        (Some(since), Some(at)) => at > since,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if a.state == State::Eligible && revoked {
        out.state = State::Active;
        out.eligible_at = None;
    }
    out
}

/// The lifecycle policy that decides expiries and due dates, by config key:
/// what a policy recompute compares and records. Keys and values are in a
/// fixed order, so equal policies give equal texts.
pub fn policy_json(config: &Config) -> serde_json::Value {
    let days = |d: &Days| d.days().map_or(serde_json::json!("unlimited"), |n| serde_json::json!(n));
    let class = |rule: &ClassRule| match rule {
        ClassRule::Fixed(d) => days(d),
        ClassRule::Plan(_) => serde_json::json!("plan"),
    };
    let (t, r) = (&config.tiers, &config.retention);
    let mut out = serde_json::Map::new();
    out.insert("tiers.hot_days".into(), t.hot_days.into());
    out.insert("tiers.warm_days".into(), t.warm_days.into());
    out.insert("tiers.cold_days".into(), t.cold_days.into());
    out.insert("tiers.cold_enabled".into(), t.cold_enabled.into());
    let age_from = match t.age_from {
        AgeFrom::Created => "created",
        AgeFrom::LastAccess => "last_access",
    };
    out.insert("tiers.age_from".into(), age_from.into());
    out.insert("tiers.scan_interval_days".into(), t.scan_interval_days.into());
    out.insert("retention.grace_days".into(), r.grace_days.into());
    out.insert("retention.default_days".into(), days(&r.default_days));
    for (plan, d) in &r.plans {
        out.insert(format!("retention.plans.{plan}"), days(d));
    }
    for (name, rule) in &r.classes {
        out.insert(format!("retention.classes.{name}"), class(rule));
    }
    serde_json::Value::Object(out)
}

/// The fingerprint of [`policy_json`]: blake3 of its text, hex.
pub fn policy_fingerprint(policy: &serde_json::Value) -> String {
    blake3::hash(policy.to_string().as_bytes()).to_hex().to_string()
}

/// What changed between two [`policy_json`] values: per key, `from` and `to`
/// (`null` where a key is absent).
pub fn policy_difference(before: &serde_json::Value, after: &serde_json::Value) -> serde_json::Value {
    let empty = serde_json::Map::new();
    let (b, a) = (before.as_object().unwrap_or(&empty), after.as_object().unwrap_or(&empty));
    let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    let diff: serde_json::Map<String, serde_json::Value> = keys
        .into_iter()
        .filter(|k| b.get(*k) != a.get(*k))
        .map(|k| ((*k).clone(), serde_json::json!({ "from": b.get(k), "to": a.get(k) })))
        .collect();
    serde_json::Value::Object(diff)
}

/// The tier an artifact of this age belongs in, ignoring restore pins.
///
/// Here and in [`decide`], an instant past the last representable one is
/// never reached: the action it would schedule is left out.
fn tier_transitions(a: &Artifact, config: &Config) -> Vec<Scheduled> {
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
        out.push(Scheduled { action, at, rule: Rule::WarmDays(tiers.warm_days) });
    }
    if a.tier == Tier::Hot
        && let Some(at) = add_days(base, tiers.hot_days).map(pin)
    {
        let action = Action::Promote { from: Tier::Hot, to: Tier::Warm };
        out.push(Scheduled { action, at, rule: Rule::HotDays(tiers.hot_days) });
    }
    out
}

/// Whether keep-latest-N protects `a`: fewer than N live artifacts of its
/// workflow are newer. It keeps `a` from becoming eligible, not its expiry.
pub fn is_kept(a: &Artifact, config: &Config) -> bool {
    u64::from(config.keep_latest(a.tenant.as_str(), &a.plan)) > a.newer_live
}

/// Decides what is due for `a` at `now` under `config`, on `a` as the
/// current policy has it ([`under_policy`]).
///
/// Priority when several actions are due at once: purge, then eligibility,
/// then the tier move to the coldest due tier, then a scan.
pub fn decide(a: &Artifact, config: &Config, now: DateTime<Utc>) -> Decision {
    let a = &under_policy(a, config);
    let mut schedule: Vec<Scheduled> = Vec::new();
    match a.state {
        // A hold outranks every retention rule: no eligibility, no purge.
        State::Active => {
            if let Some(at) = a.expires_at.filter(|_| !a.held) {
                let rule = effective_expiry(a, config).rule;
                schedule.push(Scheduled { action: Action::MarkEligible, at, rule });
            }
            schedule.extend(tier_transitions(a, config));
        }
        State::Eligible if a.held => {}
        State::Eligible => {
            let since = a.eligible_at.or(a.expires_at).unwrap_or(a.created_at);
            if let Some(at) = add_days(since, config.retention.grace_days) {
                schedule.push(Scheduled { action: Action::Purge, at, rule: Rule::Grace(config.retention.grace_days) });
            }
        }
        State::Purged | State::Erased => {}
    }
    if a.state.is_live()
        && config.tiers.scan_interval_days > 0
        && let Some(at) = add_days(a.verified_at, config.tiers.scan_interval_days)
    {
        let rule = Rule::ScanInterval(config.tiers.scan_interval_days);
        schedule.push(Scheduled { action: Action::Scan, at, rule });
    }
    let next_due_at = schedule.iter().map(|s| s.at).min();
    // Keep-latest-N protects without moving the expiry: the artifact stays
    // scheduled, so it is planned again once newer ones push it out.
    let kept = is_kept(a, config);
    // Declaration order is priority order: the first due entry wins.
    let due = schedule.iter().filter(|s| !(kept && s.action == Action::MarkEligible)).find(|s| s.at <= now).cloned();
    schedule.sort_by_key(|s| s.at);
    Decision { due, next_due_at, schedule }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::artifact::Codec;
    use crate::id::{ArtifactName, TenantId, WorkflowName};
    use chrono::Duration;

    /// A hot, active artifact created at `created_at`, expiring 90 days later.
    pub(crate) fn artifact(created_at: DateTime<Utc>) -> Artifact {
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
            plan: "basic".into(),
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
            let got = decide(a, &config, t0 + Duration::days(day)).due.map(|s| s.action);
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
        config.retention.plans.insert("basic".into(), Days::Days(u32::MAX));
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
        let a = Artifact { expires_at: None, ..artifact(t0) };
        let d = decide(&a, &config, t0 + Duration::days(400));
        assert_eq!((d.due, d.next_due_at), (None, None));
        let eligible = Artifact { state: State::Eligible, eligible_at: Some(t0), ..a.clone() };
        assert_eq!(decide(&eligible, &config, t0).schedule, Vec::new());
        assert_eq!(expires_at(&config, "basic", None, t0).unwrap(), None);
        config.retention.classes.insert("forever-ish".into(), ClassRule::Fixed(Days::Days(4_000_000_000)));
        assert_eq!(expires_at(&config, "basic", Some("forever-ish"), t0).unwrap(), None);
    }

    #[test]
    fn the_policy_decides_the_expiry_unless_an_extension_set_it() {
        let mut c = Config::default();
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
        let a = Artifact { plan: "pro".into(), expires_at: Some(t0 + Duration::days(365)), ..artifact(t0) };
        let rule = |a: &Artifact, c: &Config| effective_expiry(a, c).rule.to_string();
        assert_eq!(rule(&a, &c), "plan pro: 365 days");
        c.retention.plans.insert("pro".into(), Days::Days(730));
        assert_eq!(effective_expiry(&a, &c).at, Some(t0 + Duration::days(730)), "the stored expiry is not used");
        c.tiers.cold_days = Some(90);
        assert_eq!(rule(&a, &c), "cold tier limit (tiers.cold_days): 90 days");
        c.tiers.cold_days = Some(1000);
        assert_eq!(rule(&a, &c), "plan pro: 730 days", "the earlier of the two decides");
        let evidence = Artifact { class: Some("release-evidence".into()), ..a.clone() };
        c.tiers.cold_days = Some(90);
        assert_eq!(rule(&evidence, &c), "class release-evidence: 730 days", "a class of its own outranks the limit");
        let extended = Artifact { extended: true, expires_at: Some(t0 + Duration::days(50)), ..a.clone() };
        assert_eq!(effective_expiry(&extended, &c), Expiry { at: extended.expires_at, rule: Rule::Extension });
        let gone = Artifact { class: Some("retired".into()), ..a.clone() };
        assert_eq!(effective_expiry(&gone, &c).at, a.expires_at, "an unconfigured class keeps its stored expiry");

        let eligible = Artifact { state: State::Eligible, eligible_at: Some(t0 + Duration::days(366)), ..a.clone() };
        c.tiers.cold_days = None;
        let now = under_policy(&eligible, &c);
        assert_eq!((now.state, now.eligible_at), (State::Active, None), "a later expiry revokes eligibility");
        c.retention.plans.insert("pro".into(), Days::Days(300));
        assert_eq!(under_policy(&eligible, &c).state, State::Eligible, "an earlier expiry keeps it");
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
