//! Scan: verify that the blob exists and matches its digest. A failure is
//! recorded as a `scan_failed` event, never repaired silently.

use super::{Context, JobError, Outcome, event_data};
use crate::payload::Job;
use serde_json::json;
use strata_core::artifact::Artifact;
use strata_core::committer::Change;
use strata_core::event::{EventKind, NewEvent};
use strata_core::lifecycle::{Action, decide};
use strata_core::tiers::{BlobRef, TierError};

pub(super) async fn run(ctx: &Context, job: &Job, a: Artifact) -> Result<Outcome, JobError> {
    let store = &ctx.store;
    if !matches!(decide(&a, store.config(), job.planned_for).due.map(|d| d.action), Some(Action::Scan)) {
        ctx.release(job).await?;
        return Ok(Outcome::Skipped);
    }
    let blob = BlobRef { tenant: &a.tenant, blake3: &a.blake3, codec: a.codec };
    let (kind, data) = match store.tiers().verify(a.tier, &blob).await {
        Ok(_) => (EventKind::Verified, json!({ "tier": a.tier })),
        Err(e @ (TierError::Missing { .. } | TierError::Corrupt { .. })) => {
            tracing::warn!(tenant = %a.tenant, artifact = %a.key(), error = %e, "Scan found a damaged blob");
            (EventKind::ScanFailed, json!({ "tier": a.tier, "error": e.to_string() }))
        }
        Err(e) => return Err(e.into()),
    };
    let mut updated = Artifact { verified_at: job.planned_for, ..a.clone() };
    updated.next_due_at = decide(&updated, store.config(), job.planned_for).next_due_at;
    let change = Change {
        artifact: updated,
        expected_generation: a.generation,
        token: job.token.clone(),
        event: NewEvent::new(kind, &ctx.actor, event_data(job, data)),
        release_claim: true,
        ensure_blob: None,
    };
    ctx.apply(change).await?;
    Ok(Outcome::Done)
}
