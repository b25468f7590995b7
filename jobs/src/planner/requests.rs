//! Plans made on request rather than on the schedule: a restore, a what-if
//! under another policy, an erasure.

use super::PlannedItem;
use crate::payload::{Job, JobKind};
use chrono::{DateTime, Duration, Utc};
use strata_core::artifact::Tier;
use strata_core::lifecycle::decide;
use strata_core::store::Store;

/// Claims an artifact for a restore job planned for `at`, taking the claim
/// over from any lifecycle job (whose compare-and-set then fails harmlessly).
/// The artifact stays hot for `days` after `at`.
pub async fn plan_restore(
    store: &Store,
    key: &strata_core::id::ArtifactKey,
    days: Option<u32>,
    at: DateTime<Utc>,
    actor: &str,
) -> Result<Job, strata_core::store::StoreError> {
    let (a, token) = store.claim_live(key).await?;
    let forced = at > store.now() + Duration::seconds(1);
    let job = Job::for_artifact(JobKind::Restore, &a, token, Some(Tier::Hot), at, forced, actor);
    Ok(Job { restore_days: days, ..job })
}

/// What the store's policy would do as of `as_of`: each live artifact's due
/// action under the store's configuration ([`decide`] derives expiries from
/// it; extensions stay as they are). It reads the whole catalog, so it needs
/// no planner index. For `lifecycle plan --policy`.
pub async fn what_if(store: &Store, as_of: DateTime<Utc>) -> Result<Vec<PlannedItem>, strata_core::store::StoreError> {
    let mut items = Vec::new();
    for a in store.list(&strata_core::catalog::ArtifactFilter::default()).await? {
        if let Some(due) = decide(&a, store.config(), as_of).due {
            items.push(PlannedItem::new(&a, &due));
        }
    }
    Ok(items)
}

/// An erasure request: the jobs to enqueue and the held artifacts it cannot touch.
#[derive(Debug, Clone, Default)]
pub struct Erasure {
    /// One erase job per live, unheld artifact in scope.
    pub jobs: Vec<Job>,
    /// The artifacts of `jobs`, in the same order.
    pub queued: Vec<strata_core::id::ArtifactKey>,
    /// Live artifacts in scope that a hold or a permanent-record class protects.
    pub blocked: Vec<strata_core::id::ArtifactKey>,
}

/// Plans the erasure of everything live in `target` (GDPR): every artifact,
/// whatever its plan, extension or class, except those that outrank erasure —
/// held artifacts and permanent records — which are reported as blocked.
/// Records one `erasure_requested` event with the reason.
pub async fn plan_erase(
    store: &Store,
    target: &strata_core::retention::Target,
    reason: &str,
    actor: &str,
) -> Result<Erasure, strata_core::store::StoreError> {
    let claims = store.claim_scope(target, reason, actor).await?;
    let now = store.now();
    let mut erasure = Erasure { blocked: claims.blocked, ..Erasure::default() };
    for (a, token) in claims.claimed {
        let job = Job::for_artifact(JobKind::Erase, &a, token, None, now, false, actor);
        erasure.jobs.push(Job { reason: Some(reason.to_owned()), ..job });
        erasure.queued.push(a.key());
    }
    Ok(erasure)
}
