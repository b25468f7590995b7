//! What the API shows of catalog records: stable JSON shapes with schemas,
//! independent of the core types' fields.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use strata_core::artifact::Artifact;
use strata_core::catalog::{Hold, Principal};
use strata_core::event::Event;
use strata_core::retention::Explanation;
use utoipa::ToSchema;

/// An instant as RFC 3339 with milliseconds, UTC.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An artifact as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ArtifactView {
    /// Owning tenant.
    pub tenant: String,
    /// Workflow namespace.
    pub workflow: String,
    /// Name within the workflow.
    pub name: String,
    /// Original size in bytes.
    pub size: u64,
    /// Size as stored in its tier (after compression).
    pub stored_size: u64,
    /// `none` or `zstd`.
    pub codec: String,
    /// blake3 of the original bytes, hex (also the `ETag`).
    pub blake3: String,
    /// sha256 of the original bytes, hex.
    pub sha256: String,
    /// MIME type given or guessed at upload.
    pub content_type: String,
    /// Tags.
    #[schema(value_type = Object)]
    pub tags: serde_json::Map<String, serde_json::Value>,
    /// User metadata.
    #[schema(value_type = Object)]
    pub meta: serde_json::Map<String, serde_json::Value>,
    /// When it was uploaded (RFC 3339).
    pub created_at: String,
    /// When it was last read (RFC 3339).
    pub last_accessed_at: String,
    /// `hot`, `warm` or `cold`.
    pub tier: String,
    /// `active` or `eligible` (or `purged` / `erased` for a deleted one).
    pub state: String,
    /// Retention class, if one was given.
    pub class: Option<String>,
    /// When it expires (RFC 3339); absent: never.
    pub expires_at: Option<String>,
    /// Whether an active hold covers it.
    pub held: bool,
    /// Whether its expiry was extended.
    pub extended: bool,
}

impl From<&Artifact> for ArtifactView {
    fn from(a: &Artifact) -> Self {
        Self {
            tenant: a.tenant.to_string(),
            workflow: a.workflow.to_string(),
            name: a.name.to_string(),
            size: a.size,
            stored_size: a.stored_size,
            codec: a.codec.to_string(),
            blake3: a.blake3.clone(),
            sha256: a.sha256.clone(),
            content_type: a.content_type.clone(),
            tags: a.tags.clone(),
            meta: a.meta.clone(),
            created_at: time(a.created_at),
            last_accessed_at: time(a.last_accessed_at),
            tier: a.tier.to_string(),
            state: a.state.to_string(),
            class: a.class.clone(),
            expires_at: a.expires_at.map(time),
            held: a.held,
            extended: a.extended,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ArtifactPage {
    /// The artifacts, by workflow and name.
    pub artifacts: Vec<ArtifactView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The kind of caller that placed a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldOwner {
    /// The CLI or the admin token.
    Operator,
    /// A tenant's token.
    Tenant,
}

/// A hold's mode, after S3 Object Lock's legal hold and compliance mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldMode {
    /// No date: released by an operator, or by a token of the tenant that placed it.
    Legal,
    /// A date: nobody, an operator included, can release it before then.
    Compliance,
}

/// A hold as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HoldView {
    /// Its id.
    pub id: i64,
    /// The tenant it covers (all of it when `workflow` is absent).
    pub tenant: String,
    /// The workflow it covers (all of it when `name` is absent).
    pub workflow: Option<String>,
    /// The artifact it covers.
    pub name: Option<String>,
    /// Why it was placed.
    pub reason: String,
    /// Who placed it.
    pub actor: String,
    /// The kind of caller that placed it: `operator` (the CLI or the admin
    /// token) or `tenant` (a token of `owner_tenant`). A tenant's token can
    /// release only holds its own tenant placed.
    pub owner: HoldOwner,
    /// The tenant whose token placed it, for a tenant's hold.
    pub owner_tenant: Option<String>,
    /// `legal` (no date: released by an operator, or by its own tenant) or
    /// `compliance` (nobody can release it before `until`).
    pub mode: HoldMode,
    /// For a compliance hold: the date before which nobody can release it (RFC 3339).
    pub until: Option<String>,
    /// When it was placed (RFC 3339).
    pub applied_at: String,
    /// When it was released (RFC 3339), if it was.
    pub released_at: Option<String>,
    /// Why it was released.
    pub release_reason: Option<String>,
    /// Who released it.
    pub released_by: Option<String>,
}

impl From<&Hold> for HoldView {
    fn from(h: &Hold) -> Self {
        Self {
            id: h.id,
            tenant: h.tenant.clone(),
            workflow: h.workflow.clone(),
            name: h.artifact.clone(),
            reason: h.reason.clone(),
            actor: h.actor.clone(),
            owner: match h.owner {
                Principal::Operator => HoldOwner::Operator,
                Principal::Tenant(_) => HoldOwner::Tenant,
            },
            owner_tenant: h.owner.tenant().map(ToString::to_string),
            mode: if h.until.is_some() { HoldMode::Compliance } else { HoldMode::Legal },
            until: h.until.map(time),
            applied_at: time(h.applied_at),
            released_at: h.released_at.map(time),
            release_reason: h.release_reason.clone(),
            released_by: h.released_by.clone(),
        }
    }
}

/// An event of the audit log, with the field names of `strata events
/// export` (the audit-log format: `timestamp`, `event_type`, `tenant_id`,
/// `workflow_id`, `artifact_id`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    /// Its sequence number (use as `after` to page `/v1/events`).
    pub seq: i64,
    /// When it was recorded (RFC 3339).
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// Its kind (`ingested`, `promoted`, `purged`, `hold_applied`, …).
    pub event_type: String,
    /// The tenant concerned.
    pub tenant_id: Option<String>,
    /// The workflow concerned.
    pub workflow_id: Option<String>,
    /// The artifact concerned (its name within the workflow).
    pub artifact_id: Option<String>,
    /// Who did it.
    pub actor: String,
    /// Why, when a reason was given.
    pub reason: Option<String>,
    /// Kind-specific details.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<&Event> for EventView {
    fn from(e: &Event) -> Self {
        Self {
            seq: e.seq,
            timestamp: time(e.timestamp),
            event_type: e.event_type.clone(),
            tenant_id: e.tenant_id.clone(),
            workflow_id: e.workflow_id.clone(),
            artifact_id: e.artifact_id.clone(),
            actor: e.actor.clone(),
            reason: e.reason.clone(),
            data: e.data.clone(),
        }
    }
}

/// A lifecycle action in an explanation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScheduledAction {
    /// The job that carries it out (`promote`, `compress`, `eligibility`, `purge`, `scan`).
    pub action: String,
    /// The rule that makes it due.
    pub rule: String,
    /// When it is due (RFC 3339); absent for the action due now.
    pub at: Option<String>,
}

/// Why an artifact is where it is, and what happens to it next.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExplanationView {
    /// The artifact.
    pub artifact: ArtifactView,
    /// The instant explained (RFC 3339).
    pub as_of: String,
    /// Its tenant's plan.
    pub plan: String,
    /// The rule that set its expiry.
    pub expiry_rule: String,
    /// Active holds covering it.
    pub holds: Vec<HoldView>,
    /// N, when keep-latest-N protects it from eligibility.
    pub kept_as_one_of_newest: Option<u32>,
    /// The action due as of `as_of`, if any.
    pub due: Option<ScheduledAction>,
    /// Every pending action, earliest first.
    pub schedule: Vec<ScheduledAction>,
}

impl From<&Explanation> for ExplanationView {
    fn from(e: &Explanation) -> Self {
        Self {
            artifact: ArtifactView::from(&e.artifact),
            as_of: time(e.as_of),
            plan: e.plan.clone(),
            expiry_rule: e.expiry_rule.clone(),
            holds: e.holds.iter().map(HoldView::from).collect(),
            kept_as_one_of_newest: e.kept_as_one_of_newest,
            due: e.due.as_ref().map(|due| ScheduledAction {
                action: due.action.job_kind().to_owned(),
                rule: due.rule.to_string(),
                at: None,
            }),
            schedule: e
                .schedule
                .iter()
                .map(|s| ScheduledAction {
                    action: s.action.job_kind().to_owned(),
                    rule: s.rule.to_string(),
                    at: Some(time(s.at)),
                })
                .collect(),
        }
    }
}

/// A job requested over the API, with its status.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobView {
    /// Its id.
    pub id: String,
    /// Its kind (`restore`).
    pub kind: String,
    /// `pending` (queued or running), `succeeded` or `failed`.
    pub status: String,
    /// The artifact's tenant.
    pub tenant: String,
    /// The artifact's workflow.
    pub workflow: String,
    /// The artifact's name.
    pub name: String,
    /// When it was requested (RFC 3339).
    pub requested_at: String,
    /// Who requested it.
    pub requested_by: String,
    /// Days the artifact stays hot once restored, if given.
    pub days: Option<u32>,
}
