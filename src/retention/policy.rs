//! Plan and policy changes, and the expiries they recompute.

use crate::artifact::{Artifact, State};
use crate::catalog::{CatalogError, WriteTx};
use crate::clock::to_millis;
use crate::event::{EventKind, NewEvent};
use crate::id::TenantId;
use crate::lifecycle::{
    Rule, decide, effective_expiry, policy_difference, policy_fingerprint, policy_json, under_policy,
};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

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
