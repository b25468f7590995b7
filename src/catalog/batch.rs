//! Multi-row statements for the lifecycle's hot path: a batch of jobs reads
//! its claims in one statement, compare-and-sets its rows in one, counts
//! the references of the blobs it leaves in one and ends its claims in one,
//! whatever the batch's size (up to [`CHUNK`] rows per statement).
//!
//! Rows are passed as a `VALUES` list with explicit casts, so that both
//! databases type the placeholders alike; its columns are read by their
//! default names (`column1`, `column2`, ...), which both databases give.

use super::artifacts::{artifact_from_row, bad};
use super::sql::Builder;
use super::{Catalog, CatalogError, WriteTx, opt_millis};
use crate::artifact::{Artifact, Tier};
use crate::clock::to_millis;
use crate::id::{ArtifactKey, ArtifactName, TenantId, WorkflowName};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::{HashMap, HashSet};

/// Most rows in one statement.
const CHUNK: usize = 256;

/// One compare-and-set for [`WriteTx::save_many`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Save<'a> {
    /// The row as it should become.
    pub artifact: &'a Artifact,
    /// The generation the row must still have.
    pub expected_generation: i64,
    /// The job token the row must still carry, when given.
    pub token: Option<&'a str>,
}

impl Catalog {
    /// The artifacts with these ids, live or not, in one read; ids that
    /// name no artifact are left out.
    pub async fn artifacts_by_id(&self, ids: &[i64]) -> Result<Vec<Artifact>, CatalogError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let mut q = Builder::new(format!("SELECT {} FROM artifacts WHERE id IN (", self.columns));
            q.push_binds(chunk.iter().copied()).push(")");
            let rows = q.build(self.dialect)?.fetch_all(&self.pool).await?;
            for row in &rows {
                out.push(artifact_from_row(row)?);
            }
        }
        Ok(out)
    }
}

impl WriteTx {
    /// A compare-and-set of many rows at once: each row is written only if
    /// it still has its expected generation (and token). Returns, in order,
    /// whether each applied. When the same row comes more than once, the
    /// saves apply one after the other, in order, as separate saves would.
    pub async fn save_many(&mut self, saves: &[Save<'_>], now: DateTime<Utc>) -> Result<Vec<bool>, CatalogError> {
        let mut applied = vec![false; saves.len()];
        let mut left: Vec<usize> = (0..saves.len()).collect();
        while !left.is_empty() {
            // One round holds each row once; a repeated row waits for the next.
            let mut seen = HashSet::new();
            let (round, later): (Vec<usize>, Vec<usize>) =
                left.into_iter().partition(|&i| seen.insert(saves[i].artifact.id));
            for chunk in round.chunks(CHUNK) {
                let done = self.save_chunk(saves, chunk, now).await?;
                for &i in chunk {
                    applied[i] = done.contains(&saves[i].artifact.id);
                }
            }
            left = later;
        }
        Ok(applied)
    }

    async fn save_chunk(
        &mut self,
        saves: &[Save<'_>],
        chunk: &[usize],
        now: DateTime<Utc>,
    ) -> Result<HashSet<i64>, CatalogError> {
        let mut q = Builder::new(
            "UPDATE artifacts SET stored_size = v.stored_size, codec = v.codec, last_accessed_at = v.last_accessed_at,
                verified_at = v.verified_at, tier = v.tier, state = v.state, class = v.class,
                expires_at = v.expires_at, eligible_at = v.eligible_at, pinned_hot_until = v.pinned_hot_until,
                next_due_at = v.next_due_at, extended = v.extended,
                deleted_at = COALESCE(artifacts.deleted_at, v.deleted_at), generation = artifacts.generation + 1
             FROM (SELECT column1 AS id, column2 AS expected, column3 AS token, column4 AS stored_size,
                     column5 AS codec, column6 AS last_accessed_at, column7 AS verified_at, column8 AS tier,
                     column9 AS state, column10 AS class, column11 AS expires_at, column12 AS eligible_at,
                     column13 AS pinned_hot_until, column14 AS next_due_at, column15 AS extended,
                     column16 AS deleted_at
                   FROM (VALUES ",
        );
        let int = |q: &mut Builder, v: Option<i64>| {
            q.push("CAST(").push_bind(v).push(" AS BIGINT)");
        };
        let text = |q: &mut Builder, v: Option<String>| {
            q.push("CAST(").push_bind(v).push(" AS TEXT)");
        };
        let now = to_millis(now);
        for (n, &i) in chunk.iter().enumerate() {
            let Save { artifact: a, expected_generation, token } = saves[i];
            q.push(if n == 0 { "(" } else { ", (" });
            int(&mut q, Some(a.id));
            q.push(", ");
            int(&mut q, Some(expected_generation));
            q.push(", ");
            text(&mut q, token.map(str::to_owned));
            q.push(", ");
            int(&mut q, Some(a.stored_size as i64));
            q.push(", ");
            text(&mut q, Some(a.codec.as_str().to_owned()));
            q.push(", ");
            int(&mut q, Some(to_millis(a.last_accessed_at)));
            q.push(", ");
            int(&mut q, Some(to_millis(a.verified_at)));
            q.push(", ");
            text(&mut q, Some(a.tier.as_str().to_owned()));
            q.push(", ");
            text(&mut q, Some(a.state.as_str().to_owned()));
            q.push(", ");
            text(&mut q, a.class.clone());
            q.push(", ");
            int(&mut q, opt_millis(a.expires_at));
            q.push(", ");
            int(&mut q, opt_millis(a.eligible_at));
            q.push(", ");
            int(&mut q, opt_millis(a.pinned_hot_until));
            q.push(", ");
            int(&mut q, opt_millis(if a.state.is_live() { a.next_due_at } else { None }));
            q.push(", ");
            int(&mut q, Some(i64::from(a.extended)));
            q.push(", ");
            int(&mut q, (!a.state.is_live()).then_some(now));
            q.push(")");
        }
        q.push(
            ") AS x) AS v
             WHERE artifacts.id = v.id AND artifacts.generation = v.expected
               AND (v.token IS NULL OR artifacts.job_token = v.token)
             RETURNING artifacts.id",
        );
        let rows = q.build(self.dialect)?.fetch_all(&mut *self.tx).await?;
        rows.iter().map(|r| Ok(r.try_get::<i64, _>(0)?)).collect()
    }

    /// Ends each `(artifact id, token)` claim still held by that token, in
    /// one statement per [`CHUNK`]; returns, in order, whether each was
    /// held (a claim listed twice counts once).
    pub async fn release_many(&mut self, claims: &[(i64, &str)]) -> Result<Vec<bool>, CatalogError> {
        let mut released: HashSet<i64> = HashSet::new();
        for chunk in claims.chunks(CHUNK) {
            let mut q = Builder::new(
                "UPDATE artifacts SET job_token = NULL, lease_until = NULL
                 WHERE (id, job_token) IN (SELECT column1, column2 FROM (VALUES ",
            );
            for (n, (id, token)) in chunk.iter().enumerate() {
                q.push(if n == 0 { "(CAST(" } else { ", (CAST(" });
                q.push_bind(*id).push(" AS BIGINT), CAST(").push_bind((*token).to_owned()).push(" AS TEXT))");
            }
            q.push(") AS x) RETURNING id");
            for row in q.build(self.dialect)?.fetch_all(&mut *self.tx).await? {
                released.insert(row.try_get::<i64, _>(0)?);
            }
        }
        let mut seen = HashSet::new();
        Ok(claims.iter().map(|(id, _)| released.contains(id) && seen.insert(*id)).collect())
    }

    /// For each `(tenant, blob, tier)`, in order, how many live artifacts
    /// of the tenant reference the blob in that tier: one statement per
    /// [`CHUNK`].
    pub async fn blob_refs_many(&mut self, blobs: &[(&TenantId, &str, Tier)]) -> Result<Vec<i64>, CatalogError> {
        let mut counts: HashMap<(String, String, String), i64> = HashMap::new();
        for chunk in blobs.chunks(CHUNK) {
            let mut q = Builder::new(
                "SELECT tenant, blake3, tier, COUNT(*) AS n FROM artifacts
                 WHERE state IN ('active', 'eligible')
                   AND (tenant, blake3, tier) IN (SELECT column1, column2, column3 FROM (VALUES ",
            );
            for (n, (tenant, blake3, tier)) in chunk.iter().enumerate() {
                q.push(if n == 0 { "(CAST(" } else { ", (CAST(" });
                q.push_bind(tenant.as_str().to_owned()).push(" AS TEXT), CAST(");
                q.push_bind((*blake3).to_owned()).push(" AS TEXT), CAST(");
                q.push_bind(tier.as_str().to_owned()).push(" AS TEXT))");
            }
            q.push(") AS x) GROUP BY tenant, blake3, tier");
            for row in q.build(self.dialect)?.fetch_all(&mut *self.tx).await? {
                let key = (row.try_get("tenant")?, row.try_get("blake3")?, row.try_get("tier")?);
                counts.insert(key, row.try_get("n")?);
            }
        }
        Ok(blobs
            .iter()
            .map(|(t, b, tier)| {
                counts.get(&(t.as_str().to_owned(), (*b).to_owned(), tier.as_str().to_owned())).copied().unwrap_or(0)
            })
            .collect())
    }
}

impl WriteTx {
    /// For each key, in order, its live artifact if any, read under the
    /// write lock: one statement per [`CHUNK`].
    pub async fn find_live_many(&mut self, keys: &[ArtifactKey]) -> Result<Vec<Option<Artifact>>, CatalogError> {
        let mut live: HashMap<ArtifactKey, Artifact> = HashMap::new();
        for chunk in keys.chunks(CHUNK) {
            let mut q = Builder::new(format!(
                "SELECT {} FROM artifacts WHERE state IN ('active', 'eligible')
                   AND (tenant, workflow, name) IN (SELECT column1, column2, column3 FROM (VALUES ",
                self.columns
            ));
            for (n, key) in chunk.iter().enumerate() {
                q.push(if n == 0 { "(CAST(" } else { ", (CAST(" });
                q.push_bind(key.tenant.as_str().to_owned()).push(" AS TEXT), CAST(");
                q.push_bind(key.workflow.as_str().to_owned()).push(" AS TEXT), CAST(");
                q.push_bind(key.name.as_str().to_owned()).push(" AS TEXT))");
            }
            q.push(") AS x)");
            for row in q.build(self.dialect)?.fetch_all(&mut *self.tx).await? {
                let a = artifact_from_row(&row)?;
                live.insert(a.key(), a);
            }
        }
        Ok(keys.iter().map(|k| live.get(k).cloned()).collect())
    }

    /// Inserts new artifacts (their ids are ignored) with distinct keys, one
    /// statement per [`CHUNK`], and returns them with their ids, in order.
    pub async fn insert_artifacts(&mut self, artifacts: &[&Artifact]) -> Result<Vec<Artifact>, CatalogError> {
        let mut ids: HashMap<ArtifactKey, i64> = HashMap::new();
        for chunk in artifacts.chunks(CHUNK) {
            let mut q = Builder::new(
                "INSERT INTO artifacts (tenant, workflow, name, size, stored_size, codec, blake3, sha256, content_type,
                    tags, meta, created_at, last_accessed_at, verified_at, tier, state, class, expires_at, eligible_at,
                    pinned_hot_until, next_due_at, generation) VALUES ",
            );
            for (n, a) in chunk.iter().enumerate() {
                q.push(if n == 0 { "(" } else { ", (" });
                q.push_bind(a.tenant.as_str().to_owned()).push(", ");
                q.push_bind(a.workflow.as_str().to_owned()).push(", ");
                q.push_bind(a.name.as_str().to_owned()).push(", ");
                q.push_bind(a.size as i64).push(", ").push_bind(a.stored_size as i64).push(", ");
                q.push_bind(a.codec.as_str().to_owned()).push(", ");
                q.push_bind(a.blake3.clone()).push(", ").push_bind(a.sha256.clone()).push(", ");
                q.push_bind(a.content_type.clone()).push(", ");
                q.push_bind(serde_json::Value::Object(a.tags.clone()).to_string()).push(", ");
                q.push_bind(serde_json::Value::Object(a.meta.clone()).to_string()).push(", ");
                q.push_bind(to_millis(a.created_at)).push(", ");
                q.push_bind(to_millis(a.last_accessed_at)).push(", ");
                q.push_bind(to_millis(a.verified_at)).push(", ");
                q.push_bind(a.tier.as_str().to_owned()).push(", ");
                q.push_bind(a.state.as_str().to_owned()).push(", ");
                q.push_bind(a.class.clone()).push(", ");
                q.push_bind(opt_millis(a.expires_at)).push(", ");
                q.push_bind(opt_millis(a.eligible_at)).push(", ");
                q.push_bind(opt_millis(a.pinned_hot_until)).push(", ");
                q.push_bind(opt_millis(a.next_due_at)).push(", 0)");
            }
            q.push(" RETURNING id, tenant, workflow, name");
            for row in q.build(self.dialect)?.fetch_all(&mut *self.tx).await? {
                let key = ArtifactKey {
                    tenant: TenantId::parse(&row.try_get::<String, _>("tenant")?).map_err(bad)?,
                    workflow: WorkflowName::parse(&row.try_get::<String, _>("workflow")?).map_err(bad)?,
                    name: ArtifactName::parse(&row.try_get::<String, _>("name")?).map_err(bad)?,
                };
                ids.insert(key, row.try_get("id")?);
            }
        }
        artifacts
            .iter()
            .map(|a| {
                let id = *ids.get(&a.key()).ok_or_else(|| CatalogError::BadRow(format!("no id for {}", a.key())))?;
                Ok(Artifact { id, generation: 0, job_token: None, ..(*a).clone() })
            })
            .collect()
    }
}
