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

mod explain;
mod extend;
mod holds;
mod policy;
#[cfg(test)]
mod tests;

pub use explain::Explanation;
pub use holds::HoldError;
pub use policy::PolicyChange;

use crate::artifact::{Artifact, State};
use crate::catalog::{Hold, WriteTx};
use crate::event::NewEvent;
use crate::id::{ArtifactKey, IdError, TenantId, WorkflowName};
use crate::lifecycle::decide;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use std::fmt;

/// The furthest a compliance hold's date may lie ahead, in days (100 years).
pub const MAX_COMPLIANCE_DAYS: i64 = 36_525;

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
