//! The append-only event log. Rows are only ever inserted; triggers in the
//! schema refuse updates and deletes.

use super::{Catalog, CatalogError, WriteTx};
use crate::artifact::Artifact;
use crate::clock::{from_millis, to_millis};
use crate::event::{Event, NewEvent};
use crate::id::{ArtifactKey, TenantId};
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this tenant's.
    pub tenant: Option<TenantId>,
    /// Only events about artifacts at this key (every version, live or deleted).
    pub key: Option<ArtifactKey>,
    /// Only events with a sequence number above this.
    pub after: Option<i64>,
    /// Only this kind (stable name).
    pub kind: Option<String>,
    /// At most this many, oldest first; `None` = all.
    pub limit: Option<i64>,
    /// Return the newest `limit` events (still listed oldest first).
    pub newest: bool,
}

impl Catalog {
    /// Reads events matching `filter`, oldest first.
    pub async fn events(&self, filter: &EventFilter) -> Result<Vec<Event>, CatalogError> {
        let mut q = QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT seq, at, tenant, workflow, name, kind, actor, reason, data FROM events WHERE 1 = 1",
        );
        if let Some(t) = &filter.tenant {
            q.push(" AND tenant = ").push_bind(t.as_str().to_owned());
        }
        if let Some(key) = &filter.key {
            q.push(" AND tenant = ").push_bind(key.tenant.as_str().to_owned());
            q.push(" AND workflow = ").push_bind(key.workflow.as_str().to_owned());
            q.push(" AND name = ").push_bind(key.name.as_str().to_owned());
        }
        if let Some(after) = filter.after {
            q.push(" AND seq > ").push_bind(after);
        }
        if let Some(kind) = &filter.kind {
            q.push(" AND kind = ").push_bind(kind.clone());
        }
        q.push(if filter.newest { " ORDER BY seq DESC" } else { " ORDER BY seq" });
        if let Some(limit) = filter.limit {
            q.push(" LIMIT ").push_bind(limit);
        }
        let rows = q.build().fetch_all(&self.pool).await?;
        let mut events = rows
            .iter()
            .map(|row| {
                let data: String = row.try_get("data")?;
                Ok(Event {
                    seq: row.try_get("seq")?,
                    timestamp: from_millis(row.try_get("at")?),
                    event_type: row.try_get("kind")?,
                    tenant_id: row.try_get("tenant")?,
                    workflow_id: row.try_get("workflow")?,
                    artifact_id: row.try_get("name")?,
                    actor: row.try_get("actor")?,
                    reason: row.try_get("reason")?,
                    data: serde_json::from_str(&data).map_err(|e| CatalogError::BadRow(e.to_string()))?,
                })
            })
            .collect::<Result<Vec<_>, CatalogError>>()?;
        if filter.newest {
            events.reverse();
        }
        Ok(events)
    }

    /// Counts events of each kind.
    pub async fn event_counts(&self) -> Result<Vec<(String, i64)>, CatalogError> {
        let rows = sqlx::query("SELECT kind, COUNT(*) AS n FROM events GROUP BY kind ORDER BY kind")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("kind")?, r.try_get("n")?))).collect()
    }
}

impl WriteTx {
    /// Appends one event, about a tenant or an artifact.
    pub async fn append_event(
        &mut self,
        at: DateTime<Utc>,
        tenant: Option<&TenantId>,
        artifact: Option<&Artifact>,
        event: &NewEvent,
    ) -> Result<i64, CatalogError> {
        let tenant = artifact.map(|a| &a.tenant).or(tenant);
        let seq = sqlx::query(
            "INSERT INTO events (at, tenant, workflow, name, artifact_id, kind, actor, reason, data)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
        )
        .bind(to_millis(at))
        .bind(tenant.map(|t| t.as_str().to_owned()))
        .bind(artifact.map(|a| a.workflow.as_str().to_owned()))
        .bind(artifact.map(|a| a.name.as_str().to_owned()))
        .bind(artifact.map(|a| a.id))
        .bind(event.kind.as_str())
        .bind(&event.actor)
        .bind(&event.reason)
        .bind(event.data.to_string())
        .fetch_one(&mut *self.tx)
        .await?
        .try_get("seq")?;
        Ok(seq)
    }
}
