//! The store's insight operations: reading a set, marking and removing
//! baselines (each with its event), comparing, trends.

use super::{Against, ArtifactSet, Comparison, InsightError, MAX_SET, Member, TrendBy, TrendPoint, compare};
use crate::catalog::BaselineRecord;
use crate::event::{EventKind, NewEvent};
use crate::id::TenantId;
use crate::query::{Position, SortValue};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde_json::json;

/// Artifacts read per page of a set.
const PAGE: u32 = 1000;

impl Store {
    /// The live artifacts of `set`, by workflow and name; refused when more
    /// than [`MAX_SET`].
    pub async fn members_of(&self, set: &ArtifactSet) -> Result<Vec<Member>, StoreError> {
        let mut query = set.query();
        query.limit = Some(PAGE);
        let mut out = Vec::new();
        loop {
            let page = self.query(&query).await?;
            let full = page.len() == PAGE as usize;
            if let Some(last) = page.last() {
                query.after = Some(Position {
                    value: SortValue::Name {
                        tenant: last.tenant.to_string(),
                        workflow: last.workflow.to_string(),
                        name: last.name.to_string(),
                    },
                    id: last.id,
                });
            }
            out.extend(page.into_iter().map(|a| Member {
                workflow: a.workflow.to_string(),
                name: a.name.to_string(),
                blake3: a.blake3,
                size: a.size,
            }));
            if out.len() > MAX_SET {
                return Err(InsightError::TooLarge { set: set.describe() }.into());
            }
            if !full {
                return Ok(out);
            }
        }
    }

    /// Marks baseline `name`: a snapshot of `set` as it is now (each
    /// member's key, digest and size), with its `baseline_marked` event.
    /// An existing baseline of that name is replaced only when `replace`.
    pub async fn mark_baseline(
        &self,
        set: &ArtifactSet,
        name: &str,
        replace: bool,
        actor: &str,
    ) -> Result<BaselineRecord, StoreError> {
        super::check_baseline_name(name)?;
        self.tenant(&set.tenant).await?;
        let members = self.members_of(set).await?;
        let now = self.clock.now();
        let record = BaselineRecord {
            tenant: set.tenant.to_string(),
            name: name.to_owned(),
            selection: set.describe(),
            artifacts: members.len() as u64,
            bytes: members.iter().map(|m| m.size).sum(),
            created_at: now,
            created_by: actor.to_owned(),
        };
        let mut tx = self.catalog.begin_write().await?;
        if !replace && tx.has_baseline(&record.tenant, name).await? {
            return Err(InsightError::Exists { tenant: record.tenant, name: name.to_owned() }.into());
        }
        tx.put_baseline(&record, &members).await?;
        let data = json!({ "baseline": name, "selection": record.selection, "artifacts": record.artifacts, "bytes": record.bytes });
        tx.append_event(now, Some(&set.tenant), None, &NewEvent::new(EventKind::BaselineMarked, actor, data)).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Removes baseline `name` of `tenant`, with its `baseline_removed` event.
    pub async fn remove_baseline(&self, tenant: &TenantId, name: &str, actor: &str) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut tx = self.catalog.begin_write().await?;
        if !tx.remove_baseline_rows(tenant.as_str(), name).await? {
            return Err(InsightError::NotFound { tenant: tenant.to_string(), name: name.to_owned() }.into());
        }
        let event = NewEvent::new(EventKind::BaselineRemoved, actor, json!({ "baseline": name }));
        tx.append_event(now, Some(tenant), None, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Compares `set` with a baseline, or with the artifacts of the same
    /// tenant (and workflow) carrying a tag.
    pub async fn compare(&self, set: &ArtifactSet, against: &Against) -> Result<Comparison, StoreError> {
        self.tenant(&set.tenant).await?;
        let baseline = match against {
            Against::Baseline(name) => self
                .catalog
                .baseline_members(&set.tenant, name)
                .await?
                .ok_or_else(|| InsightError::NotFound { tenant: set.tenant.to_string(), name: name.clone() })?,
            Against::Tag(k, v) => {
                let tagged = ArtifactSet {
                    tenant: set.tenant.clone(),
                    workflow: set.workflow.clone(),
                    tags: vec![(k.clone(), v.clone())],
                    name: set.name.clone(),
                };
                self.members_of(&tagged).await?
            }
        };
        let current = self.members_of(set).await?;
        Ok(compare(set.describe(), against.to_string(), &baseline, &current))
    }

    /// What each workflow of `tenant` (or only `workflow`) produced per day
    /// or per run, from `since` on.
    pub async fn trend(
        &self,
        tenant: &TenantId,
        workflow: Option<&str>,
        by: &TrendBy,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<TrendPoint>, StoreError> {
        self.tenant(tenant).await?;
        Ok(self.catalog.trend(tenant, workflow, by, since).await?)
    }
}
