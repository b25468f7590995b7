//! Purge: tombstone first (with the `purged` event), bytes second. A crash
//! between the two leaves a tombstone and a blob that the rerun deletes.

use super::{Context, JobError, Outcome, event_data};
use crate::payload::Job;
use serde_json::json;
use strata_core::artifact::{Artifact, State};
use strata_core::committer::Change;
use strata_core::event::{EventKind, NewEvent};
use strata_core::lifecycle::{Action, decide};

pub(super) async fn run(ctx: &Context, job: &Job, a: Artifact) -> Result<Outcome, JobError> {
    let store = &ctx.store;
    // A tombstone means this job got that far before (a rerun after a crash).
    if a.state.is_live() {
        if !matches!(decide(&a, &store.config, job.planned_for).due, Some((Action::Purge, _))) {
            ctx.release(job).await?;
            return Ok(Outcome::Skipped);
        }
        let tomb = Artifact { state: State::Purged, next_due_at: None, ..a.clone() };
        let data =
            event_data(job, json!({ "tier": a.tier, "bytes_freed": a.stored_size, "size": a.size, "plan": a.plan }));
        let change = Change {
            artifact: tomb,
            expected_generation: a.generation,
            token: job.token.clone(),
            event: NewEvent::new(EventKind::Purged, &ctx.actor, data),
            release_claim: false,
            ensure_blob: None,
        };
        if !store.committer.apply(change).await? {
            return Err(JobError::Retry("artifact changed before purge".into()));
        }
    }
    ctx.step("after_tombstone")?;
    let claim = Some((job.artifact_id, job.token.as_str()));
    store.release_blob(&a.tenant, &a.blake3, job.from_tier, job.from_codec, claim).await?;
    Ok(Outcome::Done)
}
