//! Eligibility: an expired, unprotected artifact becomes eligible for
//! deletion, with exactly one `deletion_eligible` event.

use super::{Context, JobError, Outcome, event_data};
use crate::payload::Job;
use serde_json::json;
use strata_core::artifact::{Artifact, State};
use strata_core::committer::Change;
use strata_core::event::{EventKind, NewEvent};
use strata_core::lifecycle::{Action, decide};

pub(super) async fn run(ctx: &Context, job: &Job, a: Artifact) -> Result<Outcome, JobError> {
    let store = &ctx.store;
    let due = matches!(decide(&a, &store.config, job.planned_for).due, Some((Action::MarkEligible, _)));
    if !due {
        ctx.release(job).await?;
        return Ok(Outcome::Skipped);
    }
    let mut updated = Artifact { state: State::Eligible, eligible_at: Some(job.planned_for), ..a.clone() };
    updated.next_due_at = decide(&updated, &store.config, job.planned_for).next_due_at;
    let data = event_data(job, json!({ "expires_at": a.expires_at, "tier": a.tier, "size": a.size }));
    let change = Change {
        artifact: updated,
        expected_generation: a.generation,
        token: job.token.clone(),
        event: NewEvent::new(EventKind::DeletionEligible, &ctx.actor, data),
        release_claim: true,
        ensure_blob: None,
    };
    store.committer.apply(change).await?;
    Ok(Outcome::Done)
}
