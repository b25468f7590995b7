//! Why an artifact is where it is, and what happens to it next.

use crate::artifact::Artifact;
use crate::catalog::Hold;
use crate::id::ArtifactKey;
use crate::lifecycle::{Rule, Scheduled, decide, effective_expiry, under_policy};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Why an artifact is where it is, and what happens to it next.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The artifact as the current policy has it (its expiry derived from
    /// the policy unless an extension set it).
    pub artifact: Artifact,
    /// The instant explained.
    pub as_of: DateTime<Utc>,
    /// The tenant's plan.
    pub plan: String,
    /// The rule that decides whether and when it expires: a hold,
    /// keep-latest, an extension, its class or its plan.
    pub expiry_rule: String,
    /// The rule behind the expiry date itself.
    pub expiry_source: Rule,
    /// Active holds covering it.
    pub holds: Vec<Hold>,
    /// When keep-latest-N protects it from eligibility: N.
    pub kept_as_one_of_newest: Option<u32>,
    /// The action due at `as_of`, if any, with its time and rule.
    pub due: Option<Scheduled>,
    /// Every pending action with its time and rule, earliest first.
    pub schedule: Vec<Scheduled>,
}

impl Store {
    /// Explains an artifact's retention as of `as_of`, with the same
    /// decision function the planner and the handlers use.
    pub async fn explain(&self, key: &ArtifactKey, as_of: DateTime<Utc>) -> Result<Explanation, StoreError> {
        let stored = self.find(key).await?;
        let plan = stored.plan.clone();
        let source = effective_expiry(&stored, &self.config);
        let holds: Vec<Hold> = self
            .catalog
            .holds(Some(&stored.tenant), false)
            .await?
            .into_iter()
            .filter(|h| {
                h.workflow.as_deref().is_none_or(|w| w == stored.workflow.as_str())
                    && h.artifact_id.is_none_or(|id| id == stored.id)
            })
            .collect();
        let decision = decide(&stored, &self.config, as_of);
        let keep = self.config.keep_latest(stored.tenant.as_str(), &plan);
        let kept_as_one_of_newest = (u64::from(keep) > stored.newer_live).then_some(keep);
        let a = Artifact { next_due_at: decision.next_due_at, ..under_policy(&stored, &self.config) };
        let date = match &source.rule {
            Rule::Extension => format!("extended by `retention extend` (see `strata retention history {key}`)"),
            rule => rule.to_string(),
        };
        let expiry_rule = match (holds.first(), kept_as_one_of_newest, a.expires_at) {
            (_, _, None) => date,
            (Some(h), _, Some(_)) => format!("hold {}: never eligible while held (otherwise {date})", h.id),
            (None, Some(n), Some(_)) => {
                format!("keep-latest: one of the {n} newest of its workflow, never eligible (otherwise {date})")
            }
            (None, None, Some(_)) => date,
        };
        Ok(Explanation {
            artifact: a,
            as_of,
            plan,
            expiry_rule,
            expiry_source: source.rule,
            holds,
            kept_as_one_of_newest,
            due: decision.due,
            schedule: decision.schedule,
        })
    }
}
