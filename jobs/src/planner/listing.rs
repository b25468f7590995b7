//! What a plan lists: each planned action and tallies of them.

use super::job_kind;
use crate::payload::{Job, JobKind};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use strata_core::artifact::{Artifact, Tier};
use strata_core::lifecycle::{Action, Rule, Scheduled};

/// One planned action, for display.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedItem {
    /// `TENANT/WORKFLOW/NAME`.
    pub key: String,
    /// Tenant.
    pub tenant: String,
    /// Current tier.
    pub tier: Tier,
    /// The job kind.
    pub kind: JobKind,
    /// The action with its parameters.
    pub action: Action,
    /// The rule that made it due (plan, class, extension, tier age, …).
    pub rule: Rule,
    /// Bytes involved (as stored).
    pub bytes: u64,
    /// When it became due.
    pub due_at: Option<DateTime<Utc>>,
}

/// Count and bytes for one group of planned actions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tally {
    /// Actions.
    pub count: u64,
    /// Bytes involved.
    pub bytes: u64,
}

/// A lifecycle plan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// The instant planned for.
    pub as_of: DateTime<Utc>,
    /// Whether this plan only reports.
    pub dry_run: bool,
    /// True when `as_of` is ahead of the real clock.
    pub forced: bool,
    /// Every planned action.
    pub items: Vec<PlannedItem>,
    /// The jobs to enqueue (empty for a dry run).
    #[serde(skip)]
    pub jobs: Vec<Job>,
    /// The recorded run, when this plan planned work.
    #[serde(skip)]
    pub run_id: Option<i64>,
}

impl Plan {
    /// Tallies by job kind.
    pub fn by_kind(&self) -> BTreeMap<JobKind, Tally> {
        let mut out: BTreeMap<JobKind, Tally> = BTreeMap::new();
        for item in &self.items {
            let t = out.entry(item.kind).or_default();
            t.count += 1;
            t.bytes += item.bytes;
        }
        out
    }

    /// Tallies by (tenant, tier, kind).
    pub fn by_tenant_tier_kind(&self) -> BTreeMap<(String, Tier, JobKind), Tally> {
        let mut out: BTreeMap<(String, Tier, JobKind), Tally> = BTreeMap::new();
        for item in &self.items {
            let t = out.entry((item.tenant.clone(), item.tier, item.kind)).or_default();
            t.count += 1;
            t.bytes += item.bytes;
        }
        out
    }
}

impl PlannedItem {
    /// The listing of `artifact`'s due action.
    pub(super) fn new(artifact: &Artifact, due: &Scheduled) -> Self {
        Self {
            key: artifact.key().to_string(),
            tenant: artifact.tenant.to_string(),
            tier: artifact.tier,
            kind: job_kind(due.action),
            action: due.action,
            rule: due.rule.clone(),
            bytes: artifact.stored_size,
            due_at: Some(due.at),
        }
    }
}
