//! Holds: placing and releasing them, and who may release which.

use super::{MAX_COMPLIANCE_DAYS, Target, require_reason, save_change};
use crate::artifact::{Artifact, State};
use crate::catalog::{CatalogError, Hold, HoldTerms, Principal, WriteTx};
use crate::event::{EventKind, NewEvent};
use crate::lifecycle::decide;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::json;

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
