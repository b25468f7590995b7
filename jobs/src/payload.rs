//! Job payloads. They carry ids and the claim (token, generation), never
//! bytes, and evolve additively: every new field has a serde default.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strata_core::artifact::{Codec, Tier};

/// The kinds of job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Verify a blob's existence and digest.
    Scan,
    /// Move to a colder tier, uncompressed.
    Promote,
    /// Move to the cold tier, compressing with zstd.
    Compress,
    /// Mark an expired, unprotected artifact eligible for deletion.
    Eligibility,
    /// Delete an eligible artifact's bytes after the grace period.
    Purge,
    /// Bring an artifact back to the hot tier.
    Restore,
    /// Delete an artifact on request (GDPR), whatever its plan or class.
    Erase,
    /// Deliver one webhook notice (`notice` names it; no artifact claim).
    Webhook,
}

impl JobKind {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Scan => "scan",
            JobKind::Promote => "promote",
            JobKind::Compress => "compress",
            JobKind::Eligibility => "eligibility",
            JobKind::Purge => "purge",
            JobKind::Restore => "restore",
            JobKind::Erase => "erase",
            JobKind::Webhook => strata_core::webhook::DELIVERY_JOB_KIND,
        }
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The lane restores go to; workers poll it before any other.
pub const PRIORITY_LANE: &str = "priority";
/// The shared lane.
pub const DEFAULT_LANE: &str = "default";

/// One job: an action on one artifact, claimed by a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// What to do.
    pub kind: JobKind,
    /// The artifact's catalog id.
    pub artifact_id: i64,
    /// The artifact's tenant (for lanes and logs).
    pub tenant: String,
    /// The claim stamped on the artifact when the job was planned.
    pub token: String,
    /// The artifact's generation when planned.
    pub generation: i64,
    /// The tier the artifact was in when planned.
    pub from_tier: Tier,
    /// The codec of its blob when planned.
    pub from_codec: Codec,
    /// The tier a move goes to.
    #[serde(default)]
    pub to_tier: Option<Tier>,
    /// The instant the job was planned for: time conditions are re-checked against it.
    pub planned_for: DateTime<Utc>,
    /// True when planned ahead of the real clock (`--as-of` in the future).
    #[serde(default)]
    pub forced: bool,
    /// Who asked (`scheduler`, `cli`, a user).
    #[serde(default)]
    pub actor: String,
    /// For restores: days to keep the artifact hot.
    #[serde(default)]
    pub restore_days: Option<u32>,
    /// For erasures: why, as the requester said.
    #[serde(default)]
    pub reason: Option<String>,
    /// The lifecycle run that planned it (`lifecycle_runs.id`): the worker
    /// that finishes the run's last job records the run's outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    /// When its action became due (for the eligibility-to-action lag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    /// For webhook jobs: the notice (`webhook_deliveries.id`) to deliver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<i64>,
}

impl Job {
    /// A job of `kind` on artifact `a`, claimed by `token`, planned for `planned_for`.
    pub fn for_artifact(
        kind: JobKind,
        a: &strata_core::artifact::Artifact,
        token: String,
        to_tier: Option<Tier>,
        planned_for: DateTime<Utc>,
        forced: bool,
        actor: &str,
    ) -> Self {
        Self {
            kind,
            artifact_id: a.id,
            tenant: a.tenant.to_string(),
            token,
            generation: a.generation,
            from_tier: a.tier,
            from_codec: a.codec,
            to_tier,
            planned_for,
            forced,
            actor: actor.to_owned(),
            restore_days: None,
            reason: None,
            run_id: None,
            due_at: None,
            notice: None,
        }
    }

    /// A job delivering webhook notice `notice` of `tenant`. It claims no
    /// artifact: the notice's row says whether it is still owed.
    pub fn webhook(notice: i64, tenant: &str, planned_for: DateTime<Utc>) -> Self {
        Self {
            kind: JobKind::Webhook,
            artifact_id: 0,
            tenant: tenant.to_owned(),
            token: String::new(),
            generation: 0,
            from_tier: Tier::Hot,
            from_codec: Codec::None,
            to_tier: None,
            planned_for,
            forced: false,
            actor: "webhooks".to_owned(),
            restore_days: None,
            reason: None,
            run_id: None,
            due_at: None,
            notice: Some(notice),
        }
    }

    /// The lane this job belongs in: restores and erasures go to the
    /// priority lane; lifecycle jobs to their tenant's own lane when it has
    /// one (`queue.tenant_lanes`), else to the shared lane.
    pub fn lane<'a>(&'a self, tenant_lanes: &[String]) -> &'a str {
        match self.kind {
            JobKind::Restore | JobKind::Erase => PRIORITY_LANE,
            _ if tenant_lanes.contains(&self.tenant) => &self.tenant,
            _ => DEFAULT_LANE,
        }
    }

    /// The JSON wire form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the JSON wire form.
    pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }
}
