//! An operator's retry or discard of dead letters, with the release of
//! their artifacts in the catalog.

use crate::{DeadFilter, Queue, QueueError};
use strata_core::store::Store;
use strata_jobs::payload::Job;

/// What an operator does with dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadAction {
    /// Back on their lanes with fresh attempts.
    Retry,
    /// Deleted.
    Discard,
}

/// Retries or discards the dead letters `filter` selects, and releases
/// their artifacts at once (the dead-lettered marker goes and the claim's
/// lease ends, so the planner takes them up again without waiting out
/// `jobs.artifact_lease_secs`). Returns how many dead letters were acted on.
/// If the catalog cannot be written, the artifacts are released when their
/// lease runs out instead (logged).
pub async fn act_on_dead_letters(
    queue: &dyn Queue,
    store: &Store,
    filter: &DeadFilter,
    action: DeadAction,
) -> Result<u64, QueueError> {
    let claims: Vec<(i64, String)> = queue
        .dead_letters(filter, usize::MAX)
        .await?
        .iter()
        .filter_map(|d| Job::from_json(&d.payload).ok())
        .map(|j| (j.artifact_id, j.token))
        .collect();
    let n = match action {
        DeadAction::Retry => queue.retry_dead(filter).await?,
        DeadAction::Discard => queue.discard_dead(filter).await?,
    };
    if let Err(e) = store.catalog().release_dead_lettered(&claims, action == DeadAction::Discard).await {
        tracing::warn!(error = %e, n = claims.len(), "Could not release dead-lettered artifacts; their leases will run out instead");
    }
    Ok(n)
}
