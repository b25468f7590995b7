//! The append-only event log. Rows are only ever inserted; triggers in the
//! schema refuse updates and deletes.

use super::sql::{Builder, sql};
use super::{Catalog, CatalogError, WriteTx};
use crate::artifact::Artifact;
use crate::clock::{from_millis, to_millis};
use crate::event::{Event, NewEvent};
use crate::id::{ArtifactKey, TenantId};
use chrono::{DateTime, Utc};
use sqlx::Row;

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
        let mut q =
            Builder::new("SELECT seq, at, tenant, workflow, name, kind, actor, reason, data FROM events WHERE 1 = 1");
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
        let rows = q.build()?.fetch_all(&self.pool).await?;
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

    /// Deletions by the lifecycle and by erasure, per plan: `(plan, kind,
    /// artifacts, bytes freed)`, from the event log.
    pub async fn deletion_totals(&self) -> Result<Vec<(String, String, i64, i64)>, CatalogError> {
        let (plan, bytes) = (self.dialect.json_text("data", "plan"), self.dialect.json_text("data", "bytes_freed"));
        let text = format!(
            "SELECT COALESCE({plan}, 'unknown') AS plan, kind, COUNT(*) AS n,
                    CAST(COALESCE(SUM(CAST({bytes} AS BIGINT)), 0) AS BIGINT) AS bytes
             FROM events WHERE kind IN ('purged', 'erased') GROUP BY 1, 2 ORDER BY 1, 2"
        );
        let rows = sqlx::query(sql(&text)).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("plan")?, r.try_get("kind")?, r.try_get("n")?, r.try_get("bytes")?)))
            .collect()
    }

    /// Counts events of each kind.
    pub async fn event_counts(&self) -> Result<Vec<(String, i64)>, CatalogError> {
        let rows = sqlx::query(sql("SELECT kind, COUNT(*) AS n FROM events GROUP BY kind ORDER BY kind"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("kind")?, r.try_get("n")?))).collect()
    }
}

/// The hash that starts the chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chained hash of one event: blake3 over the previous hash and the
/// event's stored fields, in a fixed order.
#[allow(clippy::too_many_arguments)]
fn chain_hash(
    prev: &str,
    seq: i64,
    at: i64,
    tenant: Option<&str>,
    workflow: Option<&str>,
    name: Option<&str>,
    artifact_id: Option<i64>,
    kind: &str,
    actor: &str,
    reason: Option<&str>,
    data: &str,
) -> String {
    let fields = serde_json::json!([seq, at, tenant, workflow, name, artifact_id, kind, actor, reason, data]);
    let mut h = blake3::Hasher::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(fields.to_string().as_bytes());
    h.finalize().to_hex().to_string()
}

/// What verifying the chain found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainReport {
    /// Events checked.
    pub checked: u64,
    /// The first problem, if any.
    pub problem: Option<ChainProblem>,
}

/// A break in the event chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum ChainProblem {
    /// The event's content no longer matches its hash.
    Modified {
        /// The event.
        seq: i64,
    },
    /// Events are missing before this one.
    Missing {
        /// The last intact event before the gap (0: the start).
        after: i64,
        /// The first event after the gap.
        seq: i64,
    },
    /// The event does not chain to its predecessor (replaced or reordered).
    Broken {
        /// The event.
        seq: i64,
    },
}

impl std::fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainProblem::Modified { seq } => write!(f, "event #{seq} was modified"),
            ChainProblem::Missing { after, seq } => write!(f, "events between #{after} and #{seq} were deleted"),
            ChainProblem::Broken { seq } => write!(f, "event #{seq} does not chain to the event before it"),
        }
    }
}

impl Catalog {
    /// Walks the whole log in order and checks every link of the chain.
    pub async fn verify_events(&self) -> Result<ChainReport, CatalogError> {
        use futures::TryStreamExt;
        let mut rows = sqlx::query(sql(
            "SELECT seq, at, tenant, workflow, name, artifact_id, kind, actor, reason, data, prev_hash, hash
             FROM events ORDER BY seq",
        ))
        .fetch(&self.pool);
        let (mut prev_seq, mut prev_hash) = (0i64, GENESIS.to_owned());
        let mut checked = 0;
        while let Some(row) = rows.try_next().await? {
            let seq: i64 = row.try_get("seq")?;
            let stored_prev: Option<String> = row.try_get("prev_hash")?;
            let stored: Option<String> = row.try_get("hash")?;
            let tenant: Option<String> = row.try_get("tenant")?;
            let workflow: Option<String> = row.try_get("workflow")?;
            let name: Option<String> = row.try_get("name")?;
            let reason: Option<String> = row.try_get("reason")?;
            let kind: String = row.try_get("kind")?;
            let actor: String = row.try_get("actor")?;
            let data: String = row.try_get("data")?;
            let recomputed = chain_hash(
                stored_prev.as_deref().unwrap_or_default(),
                seq,
                row.try_get("at")?,
                tenant.as_deref(),
                workflow.as_deref(),
                name.as_deref(),
                row.try_get("artifact_id")?,
                &kind,
                &actor,
                reason.as_deref(),
                &data,
            );
            let problem = if stored.as_deref() != Some(recomputed.as_str()) {
                Some(ChainProblem::Modified { seq })
            } else if seq != prev_seq + 1 {
                Some(ChainProblem::Missing { after: prev_seq, seq })
            } else if stored_prev.as_deref() != Some(prev_hash.as_str()) {
                Some(ChainProblem::Broken { seq })
            } else {
                None
            };
            if problem.is_some() {
                return Ok(ChainReport { checked, problem });
            }
            checked += 1;
            prev_seq = seq;
            prev_hash = recomputed;
        }
        Ok(ChainReport { checked, problem: None })
    }
}

/// One event for [`WriteTx::append_events`]: about a tenant or an artifact.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventRow<'a> {
    /// The tenant, when the event is about no artifact.
    pub tenant: Option<&'a TenantId>,
    /// The artifact the event is about.
    pub artifact: Option<&'a Artifact>,
    /// The event.
    pub event: &'a NewEvent,
}

impl WriteTx {
    /// Appends `rows` in order, each chained to the one before, all at `at`;
    /// returns their sequence numbers.
    pub async fn append_events(&mut self, at: DateTime<Utc>, rows: &[EventRow<'_>]) -> Result<Vec<i64>, CatalogError> {
        let mut seqs = Vec::with_capacity(rows.len());
        for row in rows {
            seqs.push(self.append_event(at, row.tenant, row.artifact, row.event).await?);
        }
        Ok(seqs)
    }

    /// Appends one event, about a tenant or an artifact, chained to the
    /// previous event.
    pub async fn append_event(
        &mut self,
        at: DateTime<Utc>,
        tenant: Option<&TenantId>,
        artifact: Option<&Artifact>,
        event: &NewEvent,
    ) -> Result<i64, CatalogError> {
        let (last_seq, last_hash) = match self.chain_head.take() {
            Some(head) => head,
            None => {
                let row = sqlx::query(sql("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"))
                    .fetch_optional(&mut *self.tx)
                    .await?;
                match row {
                    Some(r) => (r.try_get("seq")?, r.try_get::<Option<String>, _>("hash")?.unwrap_or_default()),
                    None => (0, GENESIS.to_owned()),
                }
            }
        };
        let seq = last_seq + 1;
        let tenant = artifact.map(|a| &a.tenant).or(tenant).map(|t| t.as_str().to_owned());
        let workflow = artifact.map(|a| a.workflow.as_str().to_owned());
        let name = artifact.map(|a| a.name.as_str().to_owned());
        let artifact_id = artifact.map(|a| a.id);
        let data = event.data.to_string();
        let at = to_millis(at);
        let hash = chain_hash(
            &last_hash,
            seq,
            at,
            tenant.as_deref(),
            workflow.as_deref(),
            name.as_deref(),
            artifact_id,
            event.kind.as_str(),
            &event.actor,
            event.reason.as_deref(),
            &data,
        );
        sqlx::query(
            sql("INSERT INTO events (seq, at, tenant, workflow, name, artifact_id, kind, actor, reason, data, prev_hash, hash)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        )
        .bind(seq)
        .bind(at)
        .bind(tenant)
        .bind(workflow)
        .bind(name)
        .bind(artifact_id)
        .bind(event.kind.as_str())
        .bind(&event.actor)
        .bind(&event.reason)
        .bind(data)
        .bind(&last_hash)
        .bind(&hash)
        .execute(&mut *self.tx)
        .await?;
        self.chain_head = Some((seq, hash));
        Ok(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    async fn catalog_with_events(n: usize) -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("c.db"), 0).await.unwrap();
        let tenant = TenantId::parse("acme").unwrap();
        let mut tx = catalog.begin_write().await.unwrap();
        tx.add_tenant(&tenant, "pro", Utc::now(), "test").await.unwrap();
        tx.commit().await.unwrap();
        for i in 1..n {
            let mut tx = catalog.begin_write().await.unwrap();
            let e = NewEvent::new(EventKind::Verified, "test", serde_json::json!({ "i": i }));
            tx.append_event(Utc::now(), Some(&tenant), None, &e).await.unwrap();
            tx.commit().await.unwrap();
        }
        (dir, catalog)
    }

    async fn tamper(catalog: &Catalog, sql: &'static str) {
        for stmt in ["DROP TRIGGER events_append_only_update", "DROP TRIGGER events_append_only_delete", sql] {
            sqlx::query(stmt).execute(&catalog.writer).await.unwrap();
        }
    }

    #[tokio::test]
    async fn an_intact_log_verifies() {
        let (_dir, catalog) = catalog_with_events(20).await;
        assert_eq!(catalog.verify_events().await.unwrap(), ChainReport { checked: 20, problem: None });
    }

    #[tokio::test]
    async fn the_log_refuses_updates_and_deletes() {
        let (_dir, catalog) = catalog_with_events(3).await;
        for statement in ["UPDATE events SET actor = 'x'", "DELETE FROM events"] {
            let refused = sqlx::query(statement).execute(&catalog.writer).await;
            assert!(
                matches!(&refused, Err(sqlx::Error::Database(e)) if e.message() == "the event log is append-only"),
                "{statement}: refused by the append-only trigger: {refused:?}"
            );
        }
        assert_eq!(catalog.verify_events().await.unwrap(), ChainReport { checked: 3, problem: None }, "unchanged");
    }

    #[tokio::test]
    async fn a_modified_event_is_named() {
        let (_dir, catalog) = catalog_with_events(10).await;
        tamper(&catalog, "UPDATE events SET data = '{\"i\":99}' WHERE seq = 6").await;
        let report = catalog.verify_events().await.unwrap();
        assert_eq!(report.problem, Some(ChainProblem::Modified { seq: 6 }));
        assert_eq!(report.checked, 5);
    }

    #[tokio::test]
    async fn a_deleted_event_is_named() {
        let (_dir, catalog) = catalog_with_events(10).await;
        tamper(&catalog, "DELETE FROM events WHERE seq = 4").await;
        let report = catalog.verify_events().await.unwrap();
        assert_eq!(report.problem, Some(ChainProblem::Missing { after: 3, seq: 5 }));
        assert_eq!(report.problem.unwrap().to_string(), "events between #3 and #5 were deleted");
    }

    #[tokio::test]
    async fn a_rehashed_forgery_still_breaks_the_chain() {
        let (_dir, catalog) = catalog_with_events(10).await;
        // A forger who recomputes the modified event's own hash still breaks
        // the link to the next event.
        tamper(&catalog, "UPDATE events SET actor = 'mallory' WHERE seq = 7").await;
        let row = sqlx::query(sql("SELECT prev_hash, at, tenant, kind, data FROM events WHERE seq = 7"))
            .fetch_one(&catalog.pool)
            .await
            .unwrap();
        let prev: String = row.try_get("prev_hash").unwrap();
        let tenant: Option<String> = row.try_get("tenant").unwrap();
        let data: String = row.try_get("data").unwrap();
        let kind: String = row.try_get("kind").unwrap();
        let forged = chain_hash(
            &prev,
            7,
            row.try_get("at").unwrap(),
            tenant.as_deref(),
            None,
            None,
            None,
            &kind,
            "mallory",
            None,
            &data,
        );
        sqlx::query(sql("UPDATE events SET hash = ? WHERE seq = 7"))
            .bind(forged)
            .execute(&catalog.writer)
            .await
            .unwrap();
        let report = catalog.verify_events().await.unwrap();
        assert_eq!(report.problem, Some(ChainProblem::Broken { seq: 8 }));
    }
}
