//! The append-only event log's vocabulary.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What happened. The string forms are stable: they are stored, exported and
/// filtered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A tenant was created.
    TenantCreated,
    /// An API token was created for a tenant (the token itself is never recorded).
    TokenCreated,
    /// An API token was revoked.
    TokenRevoked,
    /// An artifact was written into the hot tier.
    Ingested,
    /// Retention was applied to a new artifact: its class or plan, and the
    /// computed expiry.
    RetentionDefaultApplied,
    /// An artifact was replaced by a new upload under the same name.
    Overwritten,
    /// An artifact was deleted by `rm`.
    Deleted,
    /// An artifact moved to a colder tier without compression.
    Promoted,
    /// An artifact moved to the cold tier, compressed.
    Compressed,
    /// An artifact was brought back to the hot tier.
    Restored,
    /// A scan verified an artifact's blob.
    Verified,
    /// A scan found a missing or corrupt blob.
    ScanFailed,
    /// An artifact became eligible for deletion.
    DeletionEligible,
    /// An artifact's bytes were deleted by the lifecycle.
    Purged,
    /// A job was dead-lettered after exhausting its attempts.
    JobDeadLettered,
    /// A hold was placed.
    HoldApplied,
    /// A hold was released.
    HoldReleased,
    /// Releasing a hold was refused: the caller does not own it, or it is a
    /// compliance hold whose date has not come.
    HoldReleaseRefused,
    /// An eligible artifact became protected again and left eligibility.
    EligibilityRevoked,
    /// An artifact's expiry was moved later.
    RetentionExtended,
    /// A tenant changed plan.
    PlanChanged,
    /// An artifact's expiry was recomputed after its tenant's plan or the
    /// configured policy changed.
    RetentionRecomputed,
    /// The configured lifecycle policy changed and was applied to the
    /// stored artifacts (one event, with the difference).
    PolicyChanged,
    /// An erasure was requested for an artifact, workflow or tenant.
    ErasureRequested,
    /// An artifact was erased on request.
    Erased,
    /// A lifecycle run planned without changing anything (a dry run), with
    /// its counts and bytes per action.
    LifecycleDryRun,
    /// A garbage collection removed crash leftovers and unreferenced blobs
    /// (files and bytes per tier).
    GcCompleted,
    /// A webhook endpoint was registered for a tenant.
    WebhookRegistered,
    /// A webhook endpoint was removed.
    WebhookRemoved,
    /// A baseline (a named snapshot of a set of artifacts) was marked.
    BaselineMarked,
    /// A baseline was removed.
    BaselineRemoved,
}

impl EventKind {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::TenantCreated => "tenant_created",
            EventKind::TokenCreated => "token_created",
            EventKind::TokenRevoked => "token_revoked",
            EventKind::Ingested => "ingested",
            EventKind::RetentionDefaultApplied => "retention.default_applied",
            EventKind::Overwritten => "overwritten",
            EventKind::Deleted => "deleted",
            EventKind::Promoted => "promoted",
            EventKind::Compressed => "compressed",
            EventKind::Restored => "restored",
            EventKind::Verified => "verified",
            EventKind::ScanFailed => "scan_failed",
            EventKind::DeletionEligible => "deletion_eligible",
            EventKind::Purged => "purged",
            EventKind::JobDeadLettered => "job_dead_lettered",
            EventKind::HoldApplied => "hold_applied",
            EventKind::HoldReleased => "hold_released",
            EventKind::HoldReleaseRefused => "hold_release_refused",
            EventKind::EligibilityRevoked => "eligibility_revoked",
            EventKind::RetentionExtended => "retention.extended",
            EventKind::PlanChanged => "plan_changed",
            EventKind::RetentionRecomputed => "retention_recomputed",
            EventKind::PolicyChanged => "policy_changed",
            EventKind::ErasureRequested => "erasure_requested",
            EventKind::Erased => "erased",
            EventKind::LifecycleDryRun => "lifecycle_dry_run",
            EventKind::GcCompleted => "gc_completed",
            EventKind::WebhookRegistered => "webhook_registered",
            EventKind::WebhookRemoved => "webhook_removed",
            EventKind::BaselineMarked => "baseline_marked",
            EventKind::BaselineRemoved => "baseline_removed",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The event kinds that make up an artifact's retention history, by stable name.
pub const RETENTION_HISTORY: &[&str] = &[
    "ingested",
    "retention.default_applied",
    "overwritten",
    "deleted",
    "hold_applied",
    "hold_released",
    "hold_release_refused",
    "deletion_eligible",
    "eligibility_revoked",
    "retention.extended",
    // The name catalogs written before the seed's name was adopted hold.
    "retention_extended",
    "retention_recomputed",
    "erasure_requested",
    "erased",
    "purged",
];

/// An event about to be appended.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// What happened.
    pub kind: EventKind,
    /// Who did it (`cli`, `worker`, `scheduler`, a user name).
    pub actor: String,
    /// Why, when a person gave a reason.
    pub reason: Option<String>,
    /// Kind-specific details.
    pub data: serde_json::Value,
}

impl NewEvent {
    /// An event with no reason.
    pub fn new(kind: EventKind, actor: &str, data: serde_json::Value) -> Self {
        Self { kind, actor: actor.to_owned(), reason: None, data }
    }
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Monotonic sequence number.
    pub seq: i64,
    /// When it was recorded.
    pub timestamp: DateTime<Utc>,
    /// The event kind's stable name.
    pub event_type: String,
    /// Tenant concerned.
    pub tenant_id: Option<String>,
    /// Workflow concerned.
    pub workflow_id: Option<String>,
    /// Artifact name concerned.
    pub artifact_id: Option<String>,
    /// Who did it.
    pub actor: String,
    /// Why.
    pub reason: Option<String>,
    /// Details.
    pub data: serde_json::Value,
}
