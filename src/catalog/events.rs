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
        let rows = q.build(self.dialect)?.fetch_all(&self.pool).await?;
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

/// The hash that starts a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chained hash of one event: blake3 over the previous hash and the
/// event's stored fields, in a fixed order. An event of a per-tenant chain
/// (`pos`, its position in its chain) also hashes its position; an event
/// from before the log had a chain per tenant has none.
#[allow(clippy::too_many_arguments)]
pub(super) fn chain_hash(
    prev: &str,
    seq: i64,
    pos: Option<i64>,
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
    let fields = match pos {
        None => serde_json::json!([seq, at, tenant, workflow, name, artifact_id, kind, actor, reason, data]),
        Some(pos) => serde_json::json!([seq, at, tenant, workflow, name, artifact_id, kind, actor, reason, data, pos]),
    };
    let mut h = blake3::Hasher::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(fields.to_string().as_bytes());
    h.finalize().to_hex().to_string()
}

/// What verifying the chains found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainReport {
    /// Events checked.
    pub checked: u64,
    /// Chains seen: one per tenant with events, one for events about no
    /// tenant (which continues the log from before it had a chain per tenant).
    pub chains: u64,
    /// The first problem, if any.
    pub problem: Option<ChainProblem>,
}

/// A break in an event chain. `tenant` names the chain: the tenant's, or
/// (absent) the chain of events about no tenant, which continues the log
/// from before it had a chain per tenant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum ChainProblem {
    /// The event's content no longer matches its hash.
    Modified {
        /// The event.
        seq: i64,
    },
    /// Events of a chain are missing before this one.
    Missing {
        /// The chain's last intact event before the gap (0: the start).
        after: i64,
        /// The chain's first event after the gap.
        seq: i64,
        /// The chain's tenant.
        #[serde(skip_serializing_if = "Option::is_none")]
        tenant: Option<String>,
    },
    /// The event does not chain to its chain's previous event (replaced or
    /// reordered).
    Broken {
        /// The event.
        seq: i64,
        /// The chain's tenant.
        #[serde(skip_serializing_if = "Option::is_none")]
        tenant: Option<String>,
    },
}

impl std::fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let of = |tenant: &Option<String>| tenant.as_ref().map(|t| format!(" of tenant {t}")).unwrap_or_default();
        match self {
            ChainProblem::Modified { seq } => write!(f, "event #{seq} was modified"),
            ChainProblem::Missing { after, seq, tenant } => {
                write!(f, "events{} between #{after} and #{seq} were deleted", of(tenant))
            }
            ChainProblem::Broken { seq, tenant } => {
                write!(f, "event #{seq}{} does not chain to the event before it", of(tenant))
            }
        }
    }
}

/// The chain key of an event's tenant: the tenant's name, or empty for the
/// chain of events about no tenant.
fn chain_key(tenant: Option<&str>) -> &str {
    tenant.unwrap_or_default()
}

/// The tenant a chain key names.
fn chain_tenant(chain: &str) -> Option<String> {
    (!chain.is_empty()).then(|| chain.to_owned())
}

/// The last event of a chain seen while verifying.
struct Head {
    pos: i64,
    seq: i64,
    hash: String,
}

impl Catalog {
    /// Walks the whole log in order and checks every link of every chain:
    /// events from before the log had a chain per tenant (no position) form
    /// one chain by sequence number, which the chain of events about no
    /// tenant continues; every other event follows the previous one of its
    /// tenant's chain, by position.
    pub async fn verify_events(&self) -> Result<ChainReport, CatalogError> {
        use futures::TryStreamExt;
        let mut rows = sqlx::query(sql(
            "SELECT seq, chain_pos, at, tenant, workflow, name, artifact_id, kind, actor, reason, data, prev_hash, hash
             FROM events ORDER BY seq",
        ))
        .fetch(&self.pool);
        let genesis = Head { pos: 0, seq: 0, hash: GENESIS.to_owned() };
        let mut legacy = Head { pos: 0, seq: 0, hash: GENESIS.to_owned() };
        let mut heads: std::collections::HashMap<String, Head> = std::collections::HashMap::new();
        let mut checked = 0;
        while let Some(row) = rows.try_next().await? {
            let seq: i64 = row.try_get("seq")?;
            let pos: Option<i64> = row.try_get("chain_pos")?;
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
                pos,
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
            let chain = chain_key(tenant.as_deref());
            let problem = if stored.as_deref() != Some(recomputed.as_str()) {
                Some(ChainProblem::Modified { seq })
            } else if let Some(pos) = pos {
                // The chain of events about no tenant starts where the
                // log from before per-tenant chains ends.
                let prev = heads.get(chain).unwrap_or(if chain.is_empty() { &legacy } else { &genesis });
                if pos > prev.pos + 1 {
                    Some(ChainProblem::Missing { after: prev.seq, seq, tenant: chain_tenant(chain) })
                } else if pos != prev.pos + 1 || stored_prev.as_deref() != Some(prev.hash.as_str()) {
                    Some(ChainProblem::Broken { seq, tenant: chain_tenant(chain) })
                } else {
                    None
                }
            } else if !heads.is_empty() {
                // An event without a position after the first with one.
                Some(ChainProblem::Broken { seq, tenant: None })
            } else if seq != legacy.seq + 1 {
                Some(ChainProblem::Missing { after: legacy.seq, seq, tenant: None })
            } else if stored_prev.as_deref() != Some(legacy.hash.as_str()) {
                Some(ChainProblem::Broken { seq, tenant: None })
            } else {
                None
            };
            if problem.is_some() {
                return Ok(ChainReport { checked, chains: chain_count(&heads, &legacy), problem });
            }
            checked += 1;
            let head = Head { pos: pos.unwrap_or(0), seq, hash: recomputed };
            match pos {
                Some(_) => {
                    heads.insert(chain.to_owned(), head);
                }
                None => legacy = head,
            }
        }
        Ok(ChainReport { checked, chains: chain_count(&heads, &legacy), problem: None })
    }
}

/// Chains seen: the per-tenant ones, and the chain of events about no tenant
/// when it has events from before per-tenant chains but none since.
fn chain_count(heads: &std::collections::HashMap<String, Head>, legacy: &Head) -> u64 {
    let continued = legacy.seq > 0 && !heads.contains_key("");
    u64::try_from(heads.len()).unwrap_or(u64::MAX) + u64::from(continued)
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
    /// When it happened, when not at the instant the append is for.
    pub at: Option<DateTime<Utc>>,
}

impl EventRow<'_> {
    /// The tenant whose chain the event joins (the artifact's, if any).
    fn tenant(&self) -> Option<&str> {
        self.artifact.map(|a| &a.tenant).or(self.tenant).map(TenantId::as_str)
    }
}

/// Most events in one insert statement.
const INSERT_CHUNK: usize = 1000;

impl WriteTx {
    /// Appends `rows` in order, at `at` unless a row says otherwise, each chained to the previous
    /// event of its tenant's chain, in one multi-row insert; returns their
    /// sequence numbers. Chains this transaction has not locked yet are
    /// locked first (in key order).
    pub async fn append_events(&mut self, at: DateTime<Utc>, rows: &[EventRow<'_>]) -> Result<Vec<i64>, CatalogError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let chains: std::collections::BTreeSet<&str> = rows.iter().map(|r| chain_key(r.tenant())).collect();
        if !self.exclusive {
            let unlocked: Vec<&str> = chains.iter().copied().filter(|c| !self.locked.contains(*c)).collect();
            if let Some(locks) = self.dialect.chain_locks(unlocked.iter().copied()) {
                sqlx::query(sql(&locks)).execute(&mut *self.tx).await?;
                self.locked.extend(unlocked.iter().map(|c| (*c).to_owned()));
            }
        }
        // One statement reads the heads not known yet and reserves the
        // sequence numbers (SQLite's one writer counts on from its last).
        let counted = self.last_seq.filter(|_| self.dialect.counts_seqs());
        let mut q = Builder::new("");
        let mut branches = 0;
        if counted.is_none() {
            q.push(&self.dialect.next_seqs(rows.len()));
            branches += 1;
        }
        for chain in chains.iter().filter(|c| !self.heads.contains_key(**c)) {
            q.push(if branches > 0 { " UNION ALL " } else { "" });
            q.push("SELECT * FROM (SELECT COALESCE(tenant, '') AS chain, chain_pos AS n, hash FROM events WHERE COALESCE(tenant, '') = ")
                .push_bind((*chain).to_owned())
                .push(" AND chain_pos IS NOT NULL ORDER BY chain_pos DESC LIMIT 1) h");
            branches += 1;
            if chain.is_empty() {
                // Before its first event, the chain of events about no
                // tenant continues from the last event that has no position.
                q.push(
                    " UNION ALL SELECT * FROM (SELECT '' AS chain, 0 AS n, hash FROM events WHERE chain_pos IS NULL \
                     ORDER BY seq DESC LIMIT 1) l",
                );
            }
        }
        let mut drawn = Vec::new();
        if branches > 0 {
            for row in q.build(self.dialect)?.fetch_all(&mut *self.tx).await? {
                let n: i64 = row.try_get("n")?;
                match row.try_get::<Option<String>, _>("chain")? {
                    None => drawn.push(n),
                    Some(chain) => {
                        let hash = row.try_get::<Option<String>, _>("hash")?.unwrap_or_default();
                        let head = self.heads.entry(chain).or_insert((n, hash.clone()));
                        if n > head.0 {
                            *head = (n, hash);
                        }
                    }
                }
            }
        }
        let seqs = match counted {
            Some(last) => (1..=i64::try_from(rows.len()).unwrap_or(i64::MAX)).map(|i| last + i).collect(),
            None => self.dialect.seqs_from(drawn, rows.len()),
        };
        self.last_seq = seqs.last().copied();
        let insert_text = "INSERT INTO events (seq, chain_pos, at, tenant, workflow, name, artifact_id, kind, actor, \
             reason, data, prev_hash, hash) VALUES ";
        let mut insert = Builder::new(insert_text);
        for (i, (row, seq)) in rows.iter().zip(&seqs).enumerate() {
            if i > 0 && i % INSERT_CHUNK == 0 {
                std::mem::replace(&mut insert, Builder::new(insert_text))
                    .build(self.dialect)?
                    .execute(&mut *self.tx)
                    .await?;
            }
            let at = to_millis(row.at.unwrap_or(at));
            let tenant = row.tenant();
            let (last_pos, last_hash) =
                self.heads.entry(chain_key(tenant).to_owned()).or_insert_with(|| (0, GENESIS.to_owned()));
            let pos = *last_pos + 1;
            let workflow = row.artifact.map(|a| a.workflow.as_str());
            let name = row.artifact.map(|a| a.name.as_str());
            let artifact_id = row.artifact.map(|a| a.id);
            let data = row.event.data.to_string();
            let hash = chain_hash(
                last_hash,
                *seq,
                Some(pos),
                at,
                tenant,
                workflow,
                name,
                artifact_id,
                row.event.kind.as_str(),
                &row.event.actor,
                row.event.reason.as_deref(),
                &data,
            );
            insert.push(if i % INSERT_CHUNK == 0 { "(" } else { ", (" });
            insert.push_bind(*seq).push(", ").push_bind(pos).push(", ").push_bind(at).push(", ");
            insert.push_bind(tenant.map(str::to_owned)).push(", ");
            insert.push_bind(workflow.map(str::to_owned)).push(", ");
            insert.push_bind(name.map(str::to_owned)).push(", ");
            insert.push_bind(artifact_id).push(", ");
            insert.push_bind(row.event.kind.as_str().to_owned()).push(", ");
            insert.push_bind(row.event.actor.clone()).push(", ");
            insert.push_bind(row.event.reason.clone()).push(", ");
            insert.push_bind(data).push(", ");
            insert.push_bind(std::mem::take(last_hash)).push(", ");
            insert.push_bind(hash.clone()).push(")");
            *last_pos = pos;
            *last_hash = hash;
        }
        insert.build(self.dialect)?.execute(&mut *self.tx).await?;
        Ok(seqs)
    }

    /// Appends one event, about a tenant or an artifact, chained to the
    /// previous event of its tenant's chain.
    pub async fn append_event(
        &mut self,
        at: DateTime<Utc>,
        tenant: Option<&TenantId>,
        artifact: Option<&Artifact>,
        event: &NewEvent,
    ) -> Result<i64, CatalogError> {
        let seqs = self.append_events(at, &[EventRow { tenant, artifact, event, at: None }]).await?;
        seqs.first().copied().ok_or_else(|| CatalogError::BadRow("no sequence number for an appended event".into()))
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
        assert_eq!(catalog.verify_events().await.unwrap(), ChainReport { checked: 20, chains: 1, problem: None });
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
        let intact = ChainReport { checked: 3, chains: 1, problem: None };
        assert_eq!(catalog.verify_events().await.unwrap(), intact, "unchanged");
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
        assert_eq!(report.problem, Some(ChainProblem::Missing { after: 3, seq: 5, tenant: Some("acme".into()) }));
        assert_eq!(report.problem.unwrap().to_string(), "events of tenant acme between #3 and #5 were deleted");
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
            Some(7),
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
        assert_eq!(report.problem, Some(ChainProblem::Broken { seq: 8, tenant: Some("acme".into()) }));
    }
}
