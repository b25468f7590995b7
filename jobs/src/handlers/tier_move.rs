//! Promote, compress and restore: copy to the target tier, verify, then
//! compare-and-set the row, then delete the source if nothing else uses it.

use super::{Context, JobError, Outcome, event_data};
use crate::payload::{Job, JobKind};
use serde_json::json;
use strata_core::artifact::{Artifact, Codec, Tier};
use strata_core::clock::add_days;
use strata_core::committer::{Change, EnsureBlob};
use strata_core::event::{EventKind, NewEvent};
use strata_core::lifecycle::{Action, decide};
use strata_core::tiers::BlobRef;

fn still_due(ctx: &Context, job: &Job, a: &Artifact) -> bool {
    if job.kind == JobKind::Restore {
        return a.state.is_live();
    }
    match decide(a, ctx.store.config(), job.planned_for).due.map(|d| d.action) {
        Some(Action::Compress { from }) => job.kind == JobKind::Compress && from == a.tier,
        Some(Action::Promote { from, to }) => job.kind == JobKind::Promote && from == a.tier && Some(to) == job.to_tier,
        _ => false,
    }
}

pub(super) async fn run(ctx: &Context, job: &Job, a: Artifact) -> Result<Outcome, JobError> {
    let target = job.to_tier.ok_or_else(|| JobError::Abort(format!("{} job without a target tier", job.kind)))?;
    // The row shows the target tier and has changed since planning: this job
    // switched it before (a rerun after a crash), only the cleanup is left.
    let switched = a.tier == target && a.generation != job.generation;
    if !switched {
        if a.tier != job.from_tier || !still_due(ctx, job, &a) {
            ctx.release(job).await?;
            return Ok(Outcome::Skipped);
        }
        copy_and_switch(ctx, job, &a, target).await?;
    }
    ctx.step("after_switch")?;
    // Only the source copy is deleted, and only when no live artifact of the
    // tenant still references it in that tier; the claim ends with it.
    if job.from_tier == target {
        ctx.release(job).await?;
    } else {
        ctx.release_blob(job, &a.tenant, &a.blake3, job.from_tier, job.from_codec).await?;
    }
    Ok(Outcome::Done)
}

async fn copy_and_switch(ctx: &Context, job: &Job, a: &Artifact, target: Tier) -> Result<(), JobError> {
    let store = &ctx.store;
    let codec = if target == Tier::Cold && job.kind == JobKind::Compress { Codec::Zstd } else { Codec::None };
    // A restore's pin is worked out before any byte is copied, so a pin that
    // cannot be represented fails the job without leaving a copy behind.
    let pinned_hot_until = match job.kind {
        JobKind::Restore => {
            let days = job.restore_days.unwrap_or(store.config().tiers.restore_days);
            let until = add_days(job.planned_for, days).ok_or_else(|| {
                JobError::Abort(format!("cannot keep {} hot for {days} days: that is past the last date", a.key()))
            })?;
            Some(until)
        }
        _ => a.pinned_hot_until,
    };
    let source = BlobRef { tenant: &a.tenant, blake3: &a.blake3, codec: a.codec };
    let stored_size = store.tiers().copy_verified(a.tier, &source, target, codec, a.size).await?;
    ctx.step("after_write")?;
    let mut updated = Artifact {
        tier: target,
        codec,
        verified_at: job.planned_for.max(a.verified_at),
        pinned_hot_until,
        ..a.clone()
    };
    let kind = match job.kind {
        JobKind::Restore => EventKind::Restored,
        JobKind::Compress => EventKind::Compressed,
        _ => EventKind::Promoted,
    };
    updated.stored_size = stored_size;
    updated.next_due_at = decide(&updated, store.config(), job.planned_for).next_due_at;
    let age_days = (job.planned_for - a.created_at).num_seconds() as f64 / 86_400.0;
    let data = event_data(
        job,
        json!({
            "from_tier": a.tier,
            "to_tier": target,
            "codec": codec,
            "size": a.size,
            "stored_size": updated.stored_size,
            "saved_bytes": a.size.saturating_sub(updated.stored_size),
            "age_days": (age_days * 10.0).round() / 10.0,
            "pinned_hot_until": updated.pinned_hot_until,
        }),
    );
    let change = Change {
        artifact: updated,
        expected_generation: a.generation,
        token: job.token.clone(),
        event: NewEvent::new(kind, &ctx.actor, data),
        release_claim: false,
        ensure_blob: Some(EnsureBlob { tier: target, codec, from_tier: a.tier, from_codec: a.codec }),
    };
    if !ctx.apply(change).await? {
        return Err(JobError::Retry("artifact changed during the move".into()));
    }
    Ok(())
}
