//! Retention operations on the store: holds on an artifact, a workflow or a
//! whole tenant. A held artifact is never eligible, purged or deleted; an
//! eligible artifact that gets held leaves eligibility, with an event.
//!
//! Holds have owners and rights, modelled on S3 Object Lock. A hold records
//! who placed it: an operator (the CLI or the admin token) or a tenant's
//! token. A legal hold (no date) is released by an operator, or by a token
//! of the tenant that placed it, never by a tenant's token when an operator
//! placed it. A compliance hold (a date) cannot be released by anyone, an
//! operator included, before its date. Every refused release is recorded.

use crate::artifact::{Artifact, State};
use crate::catalog::{CatalogError, Hold, HoldTerms, Principal, WriteTx};
use crate::clock::to_millis;
use crate::event::{EventKind, NewEvent};
use crate::id::{ArtifactKey, IdError, TenantId, WorkflowName};
use crate::lifecycle::{
    Rule, Scheduled, decide, effective_expiry, policy_difference, policy_fingerprint, policy_json, under_policy,
};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::json;
use std::fmt;

/// The furthest a compliance hold's date may lie ahead, in days (100 years).
pub const MAX_COMPLIANCE_DAYS: i64 = 36_525;

/// A hold operation that the hold rules refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    /// A tenant's token tried to release a hold it does not own.
    #[error(
        "hold {id} on {target} was placed by {owner}; a tenant's token can release only holds placed with a token of the same tenant"
    )]
    NotOwner {
        /// The hold.
        id: i64,
        /// What it covers.
        target: String,
        /// Who placed it.
        owner: Principal,
    },
    /// A compliance hold cannot be released before its date, by anyone.
    #[error("hold {id} on {target} is a compliance hold until {until}; nobody can release it before then")]
    Locked {
        /// The hold.
        id: i64,
        /// What it covers.
        target: String,
        /// Its date (RFC 3339).
        until: String,
    },
    /// The configuration does not let tenants place holds.
    #[error("tenants may not place holds here (retention.tenant_holds = false); an operator can place it")]
    TenantHoldsDisabled,
    /// A compliance hold's date must lie ahead, and not too far.
    #[error(
        "a compliance hold's date must be later than now ({now}) and at most {MAX_COMPLIANCE_DAYS} days ahead (asked for {until})"
    )]
    BadDate {
        /// The current time (RFC 3339).
        now: String,
        /// The date asked for (RFC 3339).
        until: String,
    },
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What a hold or an erasure covers: an artifact, a workflow or a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One artifact.
    Artifact(ArtifactKey),
    /// Every artifact of a workflow, present and future.
    Workflow(TenantId, WorkflowName),
    /// Every artifact of a tenant, present and future (a legal hold).
    Tenant(TenantId),
}

impl Target {
    /// Parses `TENANT`, `TENANT/WORKFLOW` or `TENANT/WORKFLOW/NAME`.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        match value.split('/').count() {
            1 => Ok(Target::Tenant(TenantId::parse(value)?)),
            2 => {
                let (t, w) = value.split_once('/').unwrap_or_default();
                Ok(Target::Workflow(TenantId::parse(t)?, WorkflowName::parse(w)?))
            }
            _ => Ok(Target::Artifact(ArtifactKey::parse(value)?)),
        }
    }

    /// The tenant it belongs to.
    pub fn tenant(&self) -> &TenantId {
        match self {
            Target::Artifact(k) => &k.tenant,
            Target::Workflow(t, _) | Target::Tenant(t) => t,
        }
    }

    /// The workflow it is limited to, if any.
    pub fn workflow(&self) -> Option<&WorkflowName> {
        match self {
            Target::Artifact(k) => Some(&k.workflow),
            Target::Workflow(_, w) => Some(w),
            Target::Tenant(_) => None,
        }
    }

    fn matches(&self, hold: &Hold, artifact_id: Option<i64>) -> bool {
        hold.tenant == self.tenant().as_str()
            && hold.workflow.as_deref() == self.workflow().map(WorkflowName::as_str)
            && hold.artifact_id == artifact_id
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Artifact(k) => write!(f, "{k}"),
            Target::Workflow(t, w) => write!(f, "{t}/{w}"),
            Target::Tenant(t) => write!(f, "{t}"),
        }
    }
}

fn require_reason(reason: &str) -> Result<(), StoreError> {
    if reason.trim().is_empty() { Err(StoreError::MissingReason) } else { Ok(()) }
}

impl Store {
    /// The artifact id a target names (for an artifact target), checking it exists.
    pub async fn target_artifact(&self, target: &Target) -> Result<Option<Artifact>, StoreError> {
        self.tenant(target.tenant()).await?;
        match target {
            Target::Artifact(key) => Ok(Some(self.find(key).await?)),
            _ => Ok(None),
        }
    }

    /// Places an operator's legal hold; see [`Store::place_hold_on`].
    pub async fn place_hold(&self, target: &Target, reason: &str, actor: &str) -> Result<Hold, StoreError> {
        self.place_hold_on(target, &HoldTerms::legal(reason), actor).await
    }

    /// Places a hold on `terms` and takes every eligible artifact it covers
    /// out of eligibility (one `eligibility_revoked` event each). A tenant
    /// places holds only on itself, and only when `retention.tenant_holds`
    /// allows it; a compliance hold's date lies ahead, at most
    /// [`MAX_COMPLIANCE_DAYS`].
    pub async fn place_hold_on(&self, target: &Target, terms: &HoldTerms, actor: &str) -> Result<Hold, StoreError> {
        let reason = terms.reason.as_str();
        require_reason(reason)?;
        if let Principal::Tenant(t) = &terms.owner {
            if t != target.tenant() {
                return Err(StoreError::UnknownTenant(target.tenant().to_string()));
            }
            if !self.config.retention.tenant_holds {
                return Err(HoldError::TenantHoldsDisabled.into());
            }
        }
        let now = self.clock.now();
        if let Some(until) = terms.until {
            let latest =
                now.checked_add_signed(Duration::days(MAX_COMPLIANCE_DAYS)).unwrap_or(DateTime::<Utc>::MAX_UTC);
            if until <= now || until > latest {
                return Err(HoldError::BadDate { now: rfc3339(now), until: rfc3339(until) }.into());
            }
        }
        let artifact = self.target_artifact(target).await?;
        let artifact_id = artifact.as_ref().map(|a| a.id);
        let mut tx = self.catalog.begin_write().await?;
        let id = tx.add_hold(target.tenant(), target.workflow(), artifact_id, terms, actor, now).await?;
        let data = json!({
            "hold_id": id,
            "target": target.to_string(),
            "owner": terms.owner.kind(),
            "until": terms.until,
        });
        let mut event = NewEvent::new(EventKind::HoldApplied, actor, data);
        event.reason = Some(reason.to_owned());
        tx.append_event(now, Some(target.tenant()), artifact.as_ref(), &event).await?;
        for a in tx.live_in_scope(target.tenant(), target.workflow(), artifact_id).await? {
            if a.state == State::Eligible {
                let mut revoked = NewEvent::new(EventKind::EligibilityRevoked, actor, json!({ "hold_id": id }));
                revoked.reason = Some(reason.to_owned());
                save_change(&mut tx, self, &a, a.clone(), now, None, Some(revoked)).await?;
            }
        }
        let hold = tx.hold(id).await?;
        tx.commit().await?;
        Ok(hold)
    }

    /// Releases hold `id`, which must be an active hold on exactly `target`,
    /// on behalf of `by`; the artifacts it covered are rescheduled under the
    /// normal rules. A release the hold's owner or date refuses changes
    /// nothing but is recorded (`hold_release_refused`).
    pub async fn release_hold(
        &self,
        target: &Target,
        id: i64,
        reason: &str,
        actor: &str,
        by: &Principal,
    ) -> Result<Hold, StoreError> {
        require_reason(reason)?;
        let artifact = self.target_artifact(target).await?;
        let artifact_id = artifact.as_ref().map(|a| a.id);
        let now = self.clock.now();
        let mut tx = self.catalog.begin_write().await?;
        let not_found = || StoreError::HoldNotFound { id, target: target.to_string() };
        let hold = match tx.hold(id).await {
            Err(CatalogError::NotFound(_)) => return Err(not_found()),
            other => other?,
        };
        if !target.matches(&hold, artifact_id) || hold.released_at.is_some() {
            return Err(not_found());
        }
        if let Some(refused) = refusal(&hold, target, by, now) {
            let data = json!({
                "hold_id": id,
                "target": target.to_string(),
                "owner": hold.owner.kind(),
                "until": hold.until,
                "refused": match refused {
                    HoldError::NotOwner { .. } => "not_owner",
                    _ => "locked",
                },
            });
            let mut event = NewEvent::new(EventKind::HoldReleaseRefused, actor, data);
            event.reason = Some(reason.to_owned());
            tx.append_event(now, Some(target.tenant()), artifact.as_ref(), &event).await?;
            tx.commit().await?;
            return Err(refused.into());
        }
        if !tx.release_hold(id, reason, actor, now).await? {
            return Err(not_found());
        }
        let mut event =
            NewEvent::new(EventKind::HoldReleased, actor, json!({ "hold_id": id, "target": target.to_string() }));
        event.reason = Some(reason.to_owned());
        tx.append_event(now, Some(target.tenant()), artifact.as_ref(), &event).await?;
        reschedule(&mut tx, self, target, artifact_id, now).await?;
        let hold = tx.hold(id).await?;
        tx.commit().await?;
        Ok(hold)
    }
}

/// Why `by` may not release `hold` at `now`, if it may not: a tenant's token
/// releases only its own tenant's holds, and nobody releases a compliance
/// hold before its date.
fn refusal(hold: &Hold, target: &Target, by: &Principal, now: DateTime<Utc>) -> Option<HoldError> {
    if matches!(by, Principal::Tenant(_)) && hold.owner != *by {
        return Some(HoldError::NotOwner { id: hold.id, target: target.to_string(), owner: hold.owner.clone() });
    }
    match hold.until {
        Some(until) if now < until => {
            Some(HoldError::Locked { id: hold.id, target: target.to_string(), until: rfc3339(until) })
        }
        _ => None,
    }
}

impl Store {
    /// Moves an artifact's expiry to `until`, strictly later than the current
    /// one, with a mandatory reason (one `retention.extended` event). An
    /// eligible artifact whose new expiry is in the future leaves eligibility.
    pub async fn extend(
        &self,
        key: &ArtifactKey,
        until: DateTime<Utc>,
        reason: &str,
        actor: &str,
    ) -> Result<Artifact, StoreError> {
        require_reason(reason)?;
        let now = self.clock.now();
        let mut tx = self.catalog.begin_write().await?;
        let stored = tx.find_live(key).await?.ok_or_else(|| StoreError::NotFound(key.clone()))?;
        // The expiry to beat is the one the current policy decides.
        let current =
            effective_expiry(&stored, &self.config).at.ok_or_else(|| StoreError::NeverExpires(key.clone()))?;
        if until <= current {
            return Err(StoreError::NotLater {
                key: key.clone(),
                current: current.to_rfc3339(),
                requested: until.to_rfc3339(),
            });
        }
        let updated = Artifact { expires_at: Some(until), extended: true, ..stored.clone() };
        let mut event = NewEvent::new(EventKind::RetentionExtended, actor, json!({ "from": current, "to": until }));
        event.reason = Some(reason.to_owned());
        let revoked = (stored.state == State::Eligible && until > now).then(|| {
            let mut revoked = NewEvent::new(EventKind::EligibilityRevoked, actor, json!({ "extended_to": until }));
            revoked.reason = Some(reason.to_owned());
            revoked
        });
        let updated = save_change(&mut tx, self, &stored, updated, now, Some(event), revoked).await?;
        tx.commit().await?;
        Ok(updated)
    }
}

impl Store {
    /// Moves a tenant to another plan and recomputes the expiry of every live
    /// artifact whose expiry comes from the plan (no class of its own, no
    /// extension): one `retention_recomputed` event each. Returns how many
    /// artifacts changed.
    pub async fn set_plan(&self, tenant: &TenantId, plan: &str, actor: &str) -> Result<usize, StoreError> {
        self.check_plan(plan)?;
        self.tenant(tenant).await?;
        let now = self.clock.now();
        let mut tx = self.catalog.begin_write().await?;
        let previous = tx.set_plan(tenant, plan).await?;
        let event = NewEvent::new(EventKind::PlanChanged, actor, json!({ "from": previous, "to": plan }));
        tx.append_event(now, Some(tenant), None, &event).await?;
        let live = tx_live_in(&mut tx, Some(tenant)).await?;
        let (changes, _) = recompute(&mut tx, &self.config, live, now).await?;
        let changed = changes.iter().filter(|c| c.expiry_changed()).count();
        record_recomputed(&mut tx, &changes, now, actor, Some(plan)).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// Applies the configured lifecycle policy to the stored artifacts if it
    /// differs from the one last applied (by fingerprint), inside `tx`: every
    /// live artifact's expiry (extensions stay), eligibility and planner
    /// index are recomputed, with one `policy_changed` event carrying the
    /// difference and one `retention_recomputed` event per changed expiry.
    /// Nothing is done when the policy is unchanged. The caller commits (or,
    /// for a dry run, drops `tx` and so changes nothing).
    pub(crate) async fn apply_policy(
        &self,
        tx: &mut WriteTx,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<Option<PolicyChange>, CatalogError> {
        let policy = policy_json(&self.config);
        let fingerprint = policy_fingerprint(&policy);
        let previous = tx.applied_policy().await?;
        if previous.as_ref().is_some_and(|(f, _)| *f == fingerprint) {
            return Ok(None);
        }
        let live = tx_live_in(tx, None).await?;
        let (changes, moved) = recompute(tx, &self.config, live, now).await?;
        let change = PolicyChange {
            difference: policy_difference(&previous.as_ref().map_or(json!({}), |(_, p)| p.clone()), &policy),
            recomputed: changes.iter().filter(|c| c.expiry_changed()).count(),
            revoked: changes.iter().filter(|c| c.revoked()).count(),
            rescheduled: changes.len() + moved,
        };
        tx.set_applied_policy(&fingerprint, &policy, now).await?;
        // The first policy recorded is a baseline: an event only when it
        // changed something.
        if previous.is_some() || change.recomputed + change.revoked > 0 {
            let data = json!({
                "difference": change.difference,
                "fingerprint": fingerprint,
                "recomputed": change.recomputed,
                "revoked": change.revoked,
                "rescheduled": change.rescheduled,
            });
            tx.append_event(now, None, None, &NewEvent::new(EventKind::PolicyChanged, actor, data)).await?;
        }
        record_recomputed(tx, &changes, now, actor, None).await?;
        Ok(Some(change))
    }
}

/// What applying a changed policy did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyChange {
    /// Per changed config key, `from` and `to`.
    pub difference: serde_json::Value,
    /// Artifacts whose expiry changed.
    pub recomputed: usize,
    /// Artifacts that left eligibility.
    pub revoked: usize,
    /// Artifacts whose expiry, eligibility or planner index changed.
    pub rescheduled: usize,
}

/// One artifact changed by a recompute: before and after.
struct Recomputed {
    before: Artifact,
    after: Artifact,
    rule: Rule,
}

impl Recomputed {
    fn expiry_changed(&self) -> bool {
        self.before.expires_at.map(to_millis) != self.after.expires_at.map(to_millis)
    }

    fn revoked(&self) -> bool {
        self.before.state == State::Eligible && self.after.state == State::Active
    }
}

/// The live artifacts of `tenant` (all tenants with `None`), under the write lock.
async fn tx_live_in(tx: &mut WriteTx, tenant: Option<&TenantId>) -> Result<Vec<Artifact>, CatalogError> {
    match tenant {
        Some(t) => tx.live_in_scope(t, None, None).await,
        None => tx.live_artifacts().await,
    }
}

/// Brings each artifact in `live` in line with `config`: its expiry,
/// eligibility and planner index as [`under_policy`] and [`decide`] derive
/// them. Artifacts whose only change is the index get it set; the others are
/// saved (bumping their generation, so a job planned under the old policy
/// finds them changed). Returns the saved ones and how many only had their
/// index moved.
async fn recompute(
    tx: &mut WriteTx,
    config: &crate::config::Config,
    live: Vec<Artifact>,
    now: DateTime<Utc>,
) -> Result<(Vec<Recomputed>, usize), CatalogError> {
    let (mut out, mut moved) = (Vec::new(), 0);
    for a in live {
        let mut after = under_policy(&a, config);
        after.next_due_at = decide(&after, config, now).next_due_at;
        let c = Recomputed { rule: effective_expiry(&a, config).rule, before: a, after };
        if !c.expiry_changed() && !c.revoked() {
            if c.before.next_due_at.map(to_millis) != c.after.next_due_at.map(to_millis) {
                tx.set_next_due(c.before.id, c.after.next_due_at).await?;
                moved += 1;
            }
            continue;
        }
        tx.save(&c.after, c.before.generation, None, now).await?;
        out.push(c);
    }
    Ok((out, moved))
}

/// Records one `retention_recomputed` event per changed expiry and one
/// `eligibility_revoked` per artifact that left eligibility.
async fn record_recomputed(
    tx: &mut WriteTx,
    changes: &[Recomputed],
    now: DateTime<Utc>,
    actor: &str,
    plan: Option<&str>,
) -> Result<(), CatalogError> {
    for c in changes {
        if c.expiry_changed() {
            let mut data = json!({ "from": c.before.expires_at, "to": c.after.expires_at, "rule": c.rule });
            if let Some(plan) = plan {
                data["plan"] = json!(plan);
            }
            let event = NewEvent::new(EventKind::RetentionRecomputed, actor, data);
            tx.append_event(now, None, Some(&c.before), &event).await?;
        }
        if c.revoked() {
            let data = json!({ "expires_at": c.after.expires_at, "rule": c.rule });
            let event = NewEvent::new(EventKind::EligibilityRevoked, actor, data);
            tx.append_event(now, None, Some(&c.before), &event).await?;
        }
    }
    Ok(())
}

/// Why an artifact is where it is, and what happens to it next.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The artifact as the current policy has it (its expiry derived from
    /// the policy unless an extension set it).
    pub artifact: Artifact,
    /// The instant explained.
    pub as_of: DateTime<Utc>,
    /// The tenant's plan.
    pub plan: String,
    /// The rule that decides whether and when it expires: a hold,
    /// keep-latest, an extension, its class or its plan.
    pub expiry_rule: String,
    /// The rule behind the expiry date itself.
    pub expiry_source: Rule,
    /// Active holds covering it.
    pub holds: Vec<Hold>,
    /// When keep-latest-N protects it from eligibility: N.
    pub kept_as_one_of_newest: Option<u32>,
    /// The action due at `as_of`, if any, with its time and rule.
    pub due: Option<Scheduled>,
    /// Every pending action with its time and rule, earliest first.
    pub schedule: Vec<Scheduled>,
}

impl Store {
    /// Explains an artifact's retention as of `as_of`, with the same
    /// decision function the planner and the handlers use.
    pub async fn explain(&self, key: &ArtifactKey, as_of: DateTime<Utc>) -> Result<Explanation, StoreError> {
        let stored = self.find(key).await?;
        let plan = stored.plan.clone();
        let source = effective_expiry(&stored, &self.config);
        let holds: Vec<Hold> = self
            .catalog
            .holds(Some(&stored.tenant), false)
            .await?
            .into_iter()
            .filter(|h| {
                h.workflow.as_deref().is_none_or(|w| w == stored.workflow.as_str())
                    && h.artifact_id.is_none_or(|id| id == stored.id)
            })
            .collect();
        let decision = decide(&stored, &self.config, as_of);
        let keep = self.config.keep_latest(stored.tenant.as_str(), &plan);
        let kept_as_one_of_newest = (u64::from(keep) > stored.newer_live).then_some(keep);
        let a = Artifact { next_due_at: decision.next_due_at, ..under_policy(&stored, &self.config) };
        let date = match &source.rule {
            Rule::Extension => format!("extended by `retention extend` (see `strata retention history {key}`)"),
            rule => rule.to_string(),
        };
        let expiry_rule = match (holds.first(), kept_as_one_of_newest, a.expires_at) {
            (_, _, None) => date,
            (Some(h), _, Some(_)) => format!("hold {}: never eligible while held (otherwise {date})", h.id),
            (None, Some(n), Some(_)) => {
                format!("keep-latest: one of the {n} newest of its workflow, never eligible (otherwise {date})")
            }
            (None, None, Some(_)) => date,
        };
        Ok(Explanation {
            artifact: a,
            as_of,
            plan,
            expiry_rule,
            expiry_source: source.rule,
            holds,
            kept_as_one_of_newest,
            due: decision.due,
            schedule: decision.schedule,
        })
    }
}

/// Saves `updated`, a changed copy of the live artifact `a`, with its
/// planner index recomputed, and records `event`. With `revoked` it also
/// takes the artifact out of eligibility and records that event after.
async fn save_change(
    tx: &mut WriteTx,
    store: &Store,
    a: &Artifact,
    mut updated: Artifact,
    now: DateTime<Utc>,
    event: Option<NewEvent>,
    revoked: Option<NewEvent>,
) -> Result<Artifact, StoreError> {
    if revoked.is_some() {
        updated.state = State::Active;
        updated.eligible_at = None;
    }
    updated.next_due_at = decide(&updated, &store.config, now).next_due_at;
    tx.save(&updated, a.generation, None, now).await?;
    for e in event.iter().chain(revoked.iter()) {
        tx.append_event(now, None, Some(a), e).await?;
    }
    Ok(updated)
}

/// Recomputes the planner index of the artifacts a released hold covered, so
/// that expiries the hold postponed are planned again.
async fn reschedule(
    tx: &mut WriteTx,
    store: &Store,
    target: &Target,
    artifact_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for a in tx.live_in_scope(target.tenant(), target.workflow(), artifact_id).await? {
        tx.set_next_due(a.id, decide(&a, &store.config, now).next_due_at).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::EventFilter;
    use crate::clock::{Clock, ManualClock, to_millis};
    use crate::config::Config;
    use std::sync::Arc;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        clock: ManualClock,
        tenant: TenantId,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(Utc::now());
        let store = Store::open(dir.path(), Config::default(), Arc::new(clock.clone())).await.unwrap();
        let tenant = TenantId::parse("acme").unwrap();
        store.add_tenant(&tenant, "free", "test").await.unwrap();
        Fixture { _dir: dir, store, clock, tenant }
    }

    async fn refusals(store: &Store) -> Vec<String> {
        let filter = EventFilter { kind: Some("hold_release_refused".into()), ..EventFilter::default() };
        let events = store.catalog.events(&filter).await.unwrap();
        events.iter().map(|e| e.data["refused"].as_str().unwrap_or_default().to_owned()).collect()
    }

    #[tokio::test]
    async fn a_compliance_hold_is_released_by_nobody_before_its_date() {
        let f = fixture().await;
        let target = Target::Tenant(f.tenant.clone());
        let until = f.clock.now() + Duration::days(10);
        let terms = HoldTerms { reason: "regulator".into(), owner: Principal::Operator, until: Some(until) };
        let hold = f.store.place_hold_on(&target, &terms, "legal").await.unwrap();
        assert_eq!(hold.until.map(to_millis), Some(to_millis(until)));

        let release = || f.store.release_hold(&target, hold.id, "early", "ops", &Principal::Operator);
        let err = release().await.unwrap_err();
        assert!(matches!(err, StoreError::Hold(HoldError::Locked { .. })), "{err}");
        f.clock.advance(Duration::days(10) - Duration::seconds(1));
        let err = release().await.unwrap_err();
        assert!(
            matches!(err, StoreError::Hold(HoldError::Locked { .. })),
            "one second before its date it still holds: {err}"
        );
        assert_eq!(refusals(&f.store).await, ["locked", "locked"]);
        let active = f.store.catalog.holds(Some(&f.tenant), false).await.unwrap();
        assert_eq!(active.len(), 1, "a refused release changes nothing");

        f.clock.advance(Duration::seconds(1));
        let released = release().await.unwrap();
        assert!(released.released_at.is_some());
        assert!(f.store.catalog.holds(Some(&f.tenant), false).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_tenant_releases_only_its_own_holds_even_after_a_compliance_date() {
        let f = fixture().await;
        let target = Target::Tenant(f.tenant.clone());
        let tenant = Principal::Tenant(f.tenant.clone());
        let until = f.clock.now() + Duration::days(1);
        let operator = HoldTerms { reason: "case 7".into(), owner: Principal::Operator, until: Some(until) };
        let ours = HoldTerms { reason: "our audit".into(), owner: tenant.clone(), until: Some(until) };
        let operator = f.store.place_hold_on(&target, &operator, "ops").await.unwrap();
        let ours = f.store.place_hold_on(&target, &ours, "api:acme").await.unwrap();
        assert_eq!(ours.owner, tenant);
        f.clock.advance(Duration::days(2));

        let err = f.store.release_hold(&target, operator.id, "mine now", "api:acme", &tenant).await.unwrap_err();
        assert!(matches!(err, StoreError::Hold(HoldError::NotOwner { .. })), "{err}");
        f.store.release_hold(&target, ours.id, "done", "api:acme", &tenant).await.unwrap();
        f.store.release_hold(&target, operator.id, "closed", "ops", &Principal::Operator).await.unwrap();
        assert_eq!(refusals(&f.store).await, ["not_owner"]);
    }

    #[tokio::test]
    async fn holds_need_a_date_ahead_and_their_own_tenant() {
        let f = fixture().await;
        let target = Target::Tenant(f.tenant.clone());
        let now = f.clock.now();
        for until in [now, now - Duration::days(1), now + Duration::days(MAX_COMPLIANCE_DAYS + 1)] {
            let terms = HoldTerms { reason: "r".into(), owner: Principal::Operator, until: Some(until) };
            let err = f.store.place_hold_on(&target, &terms, "ops").await.unwrap_err();
            assert!(matches!(err, StoreError::Hold(HoldError::BadDate { .. })), "{err}");
        }
        let stranger = HoldTerms::legal("r");
        let stranger = HoldTerms { owner: Principal::Tenant(TenantId::parse("globex").unwrap()), ..stranger };
        let err = f.store.place_hold_on(&target, &stranger, "api:globex").await.unwrap_err();
        assert!(matches!(err, StoreError::UnknownTenant(_)), "{err}");
        assert!(f.store.catalog.holds(None, true).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn with_tenant_holds_off_a_tenant_places_none_but_releases_its_own() {
        let f = fixture().await;
        let target = Target::Tenant(f.tenant.clone());
        let tenant = Principal::Tenant(f.tenant.clone());
        let terms = HoldTerms { owner: tenant.clone(), ..HoldTerms::legal("ours") };
        let ours = f.store.place_hold_on(&target, &terms, "api:acme").await.unwrap();
        let Fixture { _dir: dir, store, clock, .. } = f;
        drop(store);
        let mut config = Config::default();
        config.retention.tenant_holds = false;
        let store = Store::open(dir.path(), config, Arc::new(clock)).await.unwrap();
        let err = store.place_hold_on(&target, &terms, "api:acme").await.unwrap_err();
        assert!(matches!(err, StoreError::Hold(HoldError::TenantHoldsDisabled)), "{err}");
        store.release_hold(&target, ours.id, "done", "api:acme", &tenant).await.unwrap();
        store.place_hold_on(&target, &HoldTerms::legal("operator's"), "ops").await.unwrap();
    }
}
