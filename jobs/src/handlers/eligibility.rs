//! Eligibility: an expired, unprotected artifact becomes eligible for
//! deletion, with exactly one `deletion_eligible` event.

use super::{Context, JobError, Outcome, event_data};
use crate::payload::Job;
use serde_json::json;
use strata_core::artifact::{Artifact, State};
use strata_core::committer::Change;
use strata_core::event::{EventKind, NewEvent};
use strata_core::lifecycle::{Action, decide, under_policy};

pub(super) async fn run(ctx: &Context, job: &Job, a: Artifact) -> Result<Outcome, JobError> {
    let store = &ctx.store;
    let decision = decide(&a, store.config(), job.planned_for);
    let Some(due) = decision.due.filter(|d| d.action == Action::MarkEligible) else {
        ctx.release(job).await?;
        return Ok(Outcome::Skipped);
    };
    // The expiry stored is the one the current policy decides by.
    let current = under_policy(&a, store.config());
    let mut updated = Artifact { state: State::Eligible, eligible_at: Some(job.planned_for), ..current.clone() };
    updated.next_due_at = decide(&updated, store.config(), job.planned_for).next_due_at;
    let data = json!({ "expires_at": current.expires_at, "rule": due.rule, "tier": a.tier, "size": a.size });
    let data = event_data(job, data);
    let change = Change {
        artifact: updated,
        expected_generation: a.generation,
        token: job.token.clone(),
        event: NewEvent::new(EventKind::DeletionEligible, &ctx.actor, data),
        release_claim: true,
        ensure_blob: None,
    };
    ctx.apply(change).await?;
    Ok(Outcome::Done)
}
