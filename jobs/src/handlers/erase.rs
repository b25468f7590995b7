//! Erase (GDPR): tombstone as `erased` (with the event and the requester's
//! reason), then delete the bytes. Held artifacts and permanent records are
//! never erased: a hold placed after the request wins, and the job is skipped.

use super::delete::tombstone_then_delete;
use super::{Context, JobError, Outcome};
use crate::payload::Job;
use strata_core::artifact::{Artifact, State};
use strata_core::event::EventKind;

pub(super) async fn run(ctx: &Context, job: &Job, a: Artifact) -> Result<Outcome, JobError> {
    let protected = a.held || ctx.store.config().is_permanent_record(a.class.as_deref());
    if a.state.is_live() && protected {
        ctx.release(job).await?;
        return Ok(Outcome::Skipped);
    }
    tombstone_then_delete(ctx, job, &a, State::Erased, EventKind::Erased).await
}
