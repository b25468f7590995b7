//! Purge: an eligible artifact past its grace period, re-checked at
//! execution time, is tombstoned (`purged`, with the bytes freed) and then
//! its bytes are deleted.

use super::delete::tombstone_then_delete;
use super::{Context, JobError, Outcome};
use crate::payload::Job;
use strata_core::artifact::{Artifact, State};
use strata_core::event::EventKind;
use strata_core::lifecycle::{Action, decide};

pub(super) async fn run(ctx: &Context, job: &Job, a: Artifact) -> Result<Outcome, JobError> {
    let due = matches!(decide(&a, ctx.store.config(), job.planned_for).due.map(|d| d.action), Some(Action::Purge));
    if a.state.is_live() && !due {
        ctx.release(job).await?;
        return Ok(Outcome::Skipped);
    }
    tombstone_then_delete(ctx, job, &a, State::Purged, EventKind::Purged).await
}
