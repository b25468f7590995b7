//! The deletion both purge and erase end with: tombstone first (the row's
//! state and its event in one commit), bytes second. A crash between the two
//! leaves a tombstone and a blob that the rerun deletes.

use super::{Context, JobError, Outcome, event_data};
use crate::payload::Job;
use serde_json::json;
use strata_core::artifact::{Artifact, State};
use strata_core::committer::Change;
use strata_core::event::{EventKind, NewEvent};

/// Tombstones `a` as `state` with an event of `kind` (unless an earlier run
/// already did), then deletes its bytes if nothing else references them.
pub(super) async fn tombstone_then_delete(
    ctx: &Context,
    job: &Job,
    a: &Artifact,
    state: State,
    kind: EventKind,
) -> Result<Outcome, JobError> {
    // A tombstone means this job got that far before (a rerun after a crash).
    if a.state.is_live() {
        let tomb = Artifact { state, next_due_at: None, ..a.clone() };
        let data =
            event_data(job, json!({ "tier": a.tier, "bytes_freed": a.stored_size, "size": a.size, "plan": a.plan }));
        let mut event = NewEvent::new(kind, &ctx.actor, data);
        event.reason = job.reason.clone();
        let change = Change {
            artifact: tomb,
            expected_generation: a.generation,
            token: job.token.clone(),
            event,
            release_claim: false,
            ensure_blob: None,
        };
        if !ctx.apply(change).await? {
            return Err(JobError::Retry(format!("artifact changed before {}", job.kind)));
        }
    }
    ctx.step("after_tombstone")?;
    ctx.release_blob(job, &a.tenant, &a.blake3, job.from_tier, job.from_codec).await?;
    Ok(Outcome::Done)
}
