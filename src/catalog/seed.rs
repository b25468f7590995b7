//! Bulk seeding of the artifact table, for benchmarks that need a large
//! catalog: the database generates the rows itself, so a million take
//! seconds rather than a million puts.

use super::sql::sql;
use super::{Catalog, CatalogError, Dialect, opt_millis};
use crate::artifact::Artifact;
use crate::clock::to_millis;
use chrono::Duration;

/// Copies of one artifact row, spread in time.
#[derive(Debug, Clone)]
pub struct SeedCopies<'a> {
    /// The row copied: its tenant, workflow, sizes, digests, tier, state,
    /// class and instants (its id, name, claim and generation are ignored).
    pub template: &'a Artifact,
    /// Copy `i` is named `{prefix}{i}`.
    pub prefix: &'a str,
    /// The first copy's number.
    pub first: u64,
    /// How many copies.
    pub count: u64,
    /// Copy `i` has every instant of the template moved by `i × spacing`, so
    /// copies made from a template that is consistent with the policy (its
    /// expiry and `next_due_at` as [`crate::lifecycle::decide`] derives
    /// them) stay consistent.
    pub spacing: Duration,
    /// Copy `i` is `(i × 7919) mod sizes` bytes larger than the template
    /// (stored size alike), so sizes spread over a range; 0 or 1: all the
    /// template's size.
    pub sizes: u64,
}

impl Catalog {
    /// Inserts the copies of `seed` in one statement, and returns how many
    /// rows it wrote. Nothing else is written: no events and no blobs, so
    /// the rows serve planning and queries, not reads of their bytes. The
    /// tenant must exist. On PostgreSQL the statistics of the artifact and
    /// tag tables are then refreshed, as autovacuum would after a bulk load.
    pub async fn seed_copies(&self, seed: &SeedCopies<'_>) -> Result<u64, CatalogError> {
        let a = seed.template;
        let step = seed.spacing.num_milliseconds();
        let first = i64::try_from(seed.first).map_err(|e| CatalogError::BadRow(e.to_string()))?;
        let end = first.saturating_add(i64::try_from(seed.count).map_err(|e| CatalogError::BadRow(e.to_string()))?);
        if end <= first {
            return Ok(0);
        }
        // Every instant is `template + i × step`; optional ones stay NULL
        // when the template has none.
        let n = sqlx::query(sql("WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2)
             INSERT INTO artifacts (tenant, workflow, name, size, stored_size, codec, blake3, sha256, content_type,
                tags, meta, created_at, last_accessed_at, verified_at, tier, state, class, expires_at, eligible_at,
                pinned_hot_until, next_due_at, generation)
             SELECT ?3, ?4, ?5 || CAST(i AS TEXT), ?6 + (i * 7919) % ?25, ?7 + (i * 7919) % ?25, ?8, ?9, ?10, ?11, ?12, ?13,
                ?14 + i * ?24, ?15 + i * ?24, ?16 + i * ?24, ?17, ?18, ?19,
                ?20 + i * ?24, ?21 + i * ?24, ?22 + i * ?24, ?23 + i * ?24, 0
             FROM n"))
        .bind(first)
        .bind(end)
        .bind(a.tenant.as_str())
        .bind(a.workflow.as_str())
        .bind(seed.prefix)
        .bind(a.size as i64)
        .bind(a.stored_size as i64)
        .bind(a.codec.as_str())
        .bind(&a.blake3)
        .bind(&a.sha256)
        .bind(&a.content_type)
        .bind(serde_json::Value::Object(a.tags.clone()).to_string())
        .bind(serde_json::Value::Object(a.meta.clone()).to_string())
        .bind(to_millis(a.created_at))
        .bind(to_millis(a.last_accessed_at))
        .bind(to_millis(a.verified_at))
        .bind(a.tier.as_str())
        .bind(a.state.as_str())
        .bind(&a.class)
        .bind(opt_millis(a.expires_at))
        .bind(opt_millis(a.eligible_at))
        .bind(opt_millis(a.pinned_hot_until))
        .bind(opt_millis(a.next_due_at))
        .bind(step)
        .bind(i64::try_from(seed.sizes.max(1)).map_err(|e| CatalogError::BadRow(e.to_string()))?)
        .execute(&self.writer)
        .await?
        .rows_affected();
        if self.dialect == Dialect::Postgres {
            // What autovacuum does after a bulk load, at once: the planner
            // estimates from the table as it now is.
            sqlx::query(sql("ANALYZE artifacts")).execute(&self.writer).await?;
            sqlx::query(sql("ANALYZE artifact_tags")).execute(&self.writer).await?;
        }
        Ok(n)
    }
}
