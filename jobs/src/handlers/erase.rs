//! Erase (GDPR): tombstone as `erased` (with the event and the requester's
//! reason), then delete the bytes. Held artifacts and permanent records are
//! never erased: a hold placed after the request wins, and the job is skipped.

use super::{Context, JobError, Outcome, event_data};
use crate::payload::Job;
use serde_json::json;
use strata_core::artifact::{Artifact, State};
use strata_core::committer::Change;
use strata_core::event::{EventKind, NewEvent};

pub(super) async fn run(ctx: &Context, job: &Job, a: Artifact) -> Result<Outcome, JobError> {
    let store = &ctx.store;
    // An erased tombstone means this job got that far before.
    if a.state.is_live() {
        if a.held || store.config.is_permanent_record(a.class.as_deref()) {
            ctx.release(job).await?;
            return Ok(Outcome::Skipped);
        }
        let tomb = Artifact { state: State::Erased, next_due_at: None, ..a.clone() };
        let data =
            event_data(job, json!({ "tier": a.tier, "bytes_freed": a.stored_size, "size": a.size, "plan": a.plan }));
        let mut event = NewEvent::new(EventKind::Erased, &ctx.actor, data);
        event.reason = job.reason.clone();
        let change = Change {
            artifact: tomb,
            expected_generation: a.generation,
            token: job.token.clone(),
            event,
            release_claim: false,
            ensure_blob: None,
        };
        if !store.committer.apply(change).await? {
            return Err(JobError::Retry("artifact changed before erasure".into()));
        }
    }
    ctx.step("after_tombstone")?;
    let claim = Some((job.artifact_id, job.token.as_str()));
    store.release_blob(&a.tenant, &a.blake3, job.from_tier, job.from_codec, claim).await?;
    Ok(Outcome::Done)
}
