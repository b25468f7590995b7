//! Artifact queries ([`ArtifactQuery`]): one statement for a filtered,
//! sorted page; and for the newest N per workflow, or a page by name of a
//! name prefix across a tenant's workflows, one statement per chunk of
//! workflows after a skip-scan that lists them.
//!
//! Each sort order walks an index from the page's position and stops at its
//! end: by name `artifacts_live_name`, by creation `artifacts_tenant_created`,
//! by size `artifacts_tenant_size`. A tag filter reads `artifact_tags`.

use super::artifacts::artifact_from_row;
use super::sql::{Builder, sql};
use super::{Catalog, CatalogError, Dialect};
use crate::artifact::Artifact;
use crate::clock::to_millis;
use crate::id::TenantId;
use crate::query::{ArtifactQuery, Position, SortKey, SortValue};
use sqlx::Row;

/// Workflows per statement of a newest-N query.
const WORKFLOWS_PER_STATEMENT: usize = 64;

/// `i` as the catalog's signed integer (sizes are checked at the edge).
fn signed(i: u64) -> i64 {
    i64::try_from(i).unwrap_or(i64::MAX)
}

impl Catalog {
    /// The artifacts `q` selects, in its order (see [`ArtifactQuery`]). The
    /// query should have passed [`ArtifactQuery::check`].
    pub async fn query(&self, q: &ArtifactQuery) -> Result<Vec<Artifact>, CatalogError> {
        // A page's ids are found first, and the columns (with their
        // per-row subqueries) computed for those alone.
        if let Some(found) = self.query_by_prefix(q).await? {
            return Ok(found);
        }
        let outer = format!("SELECT {} FROM artifacts WHERE id IN (SELECT id FROM artifacts WHERE ", self.columns);
        let Some(latest) = q.latest else {
            let tags = self.tag_plan(q).await?;
            // A whole listing computes every row's columns anyway.
            let mut b = match q.limit {
                Some(_) => Builder::new(format!("{outer}1 = 1")),
                None => Builder::new(format!("SELECT {} FROM artifacts WHERE 1 = 1", self.columns)),
            };
            self.push_filters(&mut b, "artifacts", q, tags);
            push_page(&mut b, q);
            if q.limit.is_some() {
                b.push(")");
                push_order(&mut b, q);
            }
            let rows = b.build(self.dialect)?.fetch_all(&self.pool).await?;
            return rows.iter().map(artifact_from_row).collect();
        };
        let workflows = match (&q.tenant, &q.workflow) {
            (Some(t), Some(w)) => vec![(t.to_string(), w.to_string())],
            (Some(t), None) => self.live_workflows(t.as_str()).await?,
            (None, _) => {
                let mut all = Vec::new();
                for tenant in self.tenant_names().await? {
                    match &q.workflow {
                        Some(w) => all.push((tenant, w.to_string())),
                        None => all.extend(self.live_workflows(&tenant).await?),
                    }
                }
                all
            }
        };
        let mut found = Vec::new();
        // Each workflow's subquery names no tenant of the query's, so its
        // tags are probed (see `push_tagged`).
        let per_workflow = ArtifactQuery { tenant: None, workflow: None, ..q.clone() };
        let tags = TagPlan::Probe;
        for chunk in workflows.chunks(WORKFLOWS_PER_STATEMENT) {
            let mut b = Builder::new(format!("{outer}id IN ("));
            match self.dialect {
                // One subquery, run once per workflow of the list: planned once.
                Dialect::Postgres => {
                    b.push("SELECT l.id FROM (VALUES ");
                    for (n, (tenant, workflow)) in chunk.iter().enumerate() {
                        b.push(if n == 0 { "(CAST(" } else { ", (CAST(" }).push_bind(tenant.clone());
                        b.push(" AS TEXT), CAST(").push_bind(workflow.clone()).push(" AS TEXT))");
                    }
                    b.push(") AS w(tenant, workflow) CROSS JOIN LATERAL (SELECT b.id FROM artifacts b ");
                    b.push("WHERE b.tenant = w.tenant AND b.workflow = w.workflow");
                    self.push_filters(&mut b, "b", &per_workflow, tags);
                    b.push(" ORDER BY b.created_at DESC, b.id DESC LIMIT ").push_bind(i64::from(latest));
                    b.push(") AS l");
                }
                // No LATERAL: a branch per workflow.
                Dialect::Sqlite => {
                    for (n, (tenant, workflow)) in chunk.iter().enumerate() {
                        if n > 0 {
                            b.push(" UNION ALL ");
                        }
                        b.push("SELECT id FROM (SELECT b.id FROM artifacts b WHERE b.tenant = ");
                        b.push_bind(tenant.clone()).push(" AND b.workflow = ").push_bind(workflow.clone());
                        self.push_filters(&mut b, "b", &per_workflow, tags);
                        b.push(" ORDER BY b.created_at DESC, b.id DESC LIMIT ").push_bind(i64::from(latest));
                        b.push(&format!(") AS w{n}"));
                    }
                }
            }
            b.push(")");
            push_page(&mut b, q);
            b.push(")");
            push_order(&mut b, q);
            let rows = b.build(self.dialect)?.fetch_all(&self.pool).await?;
            for row in &rows {
                found.push(artifact_from_row(row)?);
            }
        }
        found.sort_by(|a, b| q.order(a, b));
        if let Some(limit) = q.limit {
            found.truncate(limit as usize);
        }
        Ok(found)
    }

    /// A page by name of a tenant's artifacts whose names match a pattern
    /// with a literal prefix, across its workflows: one index range per
    /// workflow (after a skip-scan that lists them), in order, until the
    /// page is full, instead of a walk of every name of the tenant. `None`
    /// when the query is not of that shape.
    async fn query_by_prefix(&self, q: &ArtifactQuery) -> Result<Option<Vec<Artifact>>, CatalogError> {
        let (Some(tenant), None, Some(pattern), Some(limit), None, SortKey::Name, false) =
            (&q.tenant, &q.workflow, &q.name, q.limit, q.latest, q.sort, q.include_deleted)
        else {
            return Ok(None);
        };
        let Some((low, high)) = pattern.prefix_range() else { return Ok(None) };
        let mut workflows = self.live_workflows(tenant.as_str()).await?;
        match &q.after {
            None => {}
            Some(Position { value: SortValue::Name { tenant: at, workflow, .. }, .. }) if at == tenant.as_str() => {
                workflows.retain(|(_, w)| if q.descending { w <= workflow } else { w >= workflow });
            }
            Some(_) => return Ok(None),
        }
        if q.descending {
            workflows.reverse();
        }
        let tags = self.tag_plan(q).await?;
        let dir = if q.descending { " DESC" } else { "" };
        let mut found = Vec::new();
        for chunk in workflows.chunks(WORKFLOWS_PER_STATEMENT) {
            // The page's ids are chosen before any row's columns are computed.
            let mut b = Builder::new(format!("SELECT {} FROM artifacts WHERE id IN (SELECT id FROM (", self.columns));
            let range = |b: &mut Builder| {
                b.push(" AND b.name >= ").push_bind(low.clone()).push(" AND b.name < ").push_bind(high.clone());
                self.push_filters(b, "b", q, tags);
                push_position(b, q);
                b.push(&format!(" ORDER BY b.name{dir}, b.id{dir} LIMIT ")).push_bind(i64::from(limit));
            };
            match self.dialect {
                // One subquery, run once per workflow of the list: planned once.
                Dialect::Postgres => {
                    b.push("SELECT l.id, l.workflow, l.name FROM (VALUES ");
                    for (n, (_, workflow)) in chunk.iter().enumerate() {
                        b.push(if n == 0 { "(CAST(" } else { ", (CAST(" }).push_bind(workflow.clone());
                        b.push(" AS TEXT))");
                    }
                    b.push(") AS w(wf) CROSS JOIN LATERAL (SELECT b.id, b.workflow, b.name FROM artifacts b ");
                    b.push("WHERE b.workflow = w.wf");
                    range(&mut b);
                    b.push(") AS l");
                }
                // No LATERAL: a branch per workflow.
                Dialect::Sqlite => {
                    for (n, (_, workflow)) in chunk.iter().enumerate() {
                        if n > 0 {
                            b.push(" UNION ALL ");
                        }
                        b.push("SELECT id, workflow, name FROM (SELECT b.id, b.workflow, b.name FROM artifacts b ");
                        b.push("WHERE b.workflow = ").push_bind(workflow.clone());
                        range(&mut b);
                        b.push(&format!(") AS w{n}"));
                    }
                }
            }
            b.push(&format!(") AS u ORDER BY workflow{dir}, name{dir}, id{dir} LIMIT ")).push_bind(i64::from(limit));
            b.push(")");
            push_order(&mut b, q);
            let rows = b.build(self.dialect)?.fetch_all(&self.pool).await?;
            for row in &rows {
                found.push(artifact_from_row(row)?);
            }
            // Later workflows sort after every name found so far.
            if found.len() >= limit as usize {
                break;
            }
        }
        found.sort_by(|a, b| q.order(a, b));
        found.truncate(limit as usize);
        Ok(Some(found))
    }

    /// The names of every tenant, in order.
    async fn tenant_names(&self) -> Result<Vec<String>, CatalogError> {
        let rows = sqlx::query(sql("SELECT name FROM tenants ORDER BY name")).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
    }

    /// The workflows with a live artifact in `tenant`, as (tenant, workflow)
    /// in order: a skip-scan of the live-name index, one probe per workflow.
    async fn live_workflows(&self, tenant: &str) -> Result<Vec<(String, String)>, CatalogError> {
        const LIVE: &str = "state IN ('active', 'eligible')";
        let rows = sqlx::query(sql(&format!(
            "WITH RECURSIVE wf(w) AS (
               SELECT (SELECT MIN(workflow) FROM artifacts WHERE tenant = ?1 AND {LIVE})
               UNION ALL
               SELECT (SELECT MIN(workflow) FROM artifacts WHERE tenant = ?1 AND {LIVE} AND workflow > wf.w)
               FROM wf WHERE wf.w IS NOT NULL)
             SELECT w FROM wf WHERE w IS NOT NULL"
        )))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((tenant.to_owned(), r.try_get("w")?))).collect()
    }

    /// How `q`'s tag filters are best read. A tag few artifacts carry is
    /// read from the tag index and its artifacts looked up; a common one is
    /// checked on each artifact the order's index walk meets. Both
    /// databases are told, from a count of the tag's artifacts that stops
    /// at [`FEW_TAGGED`]: PostgreSQL's own estimate hashes every artifact
    /// of a common tag first, and probes row by row for a rare one.
    async fn tag_plan(&self, q: &ArtifactQuery) -> Result<TagPlan, CatalogError> {
        let Some(tenant) = &q.tenant else { return Ok(TagPlan::Probe) };
        if q.all_tags.is_empty() && q.any_tags.is_empty() {
            return Ok(TagPlan::Probe);
        }
        // Each tag is counted on its own: one index range that stops at the
        // limit (an OR of tags would be read whole, as a bitmap, first).
        'groups: for tags in q.tag_groups() {
            let mut n = 0;
            for tag in tags {
                let mut b = Builder::new("SELECT COUNT(*) AS n FROM (SELECT 1 FROM artifact_tags t WHERE t.tenant = ");
                b.push_bind(tenant.as_str().to_owned());
                push_tag_terms(&mut b, std::slice::from_ref(tag));
                b.push(" LIMIT ").push_bind(FEW_TAGGED - n).push(") AS few");
                n += b.build(self.dialect)?.fetch_one(&self.pool).await?.try_get::<i64, _>("n")?;
                if n >= FEW_TAGGED {
                    continue 'groups;
                }
            }
            return Ok(TagPlan::Drive);
        }
        Ok(TagPlan::Probe)
    }

    /// Appends `q`'s filters on the artifact row `row` (a table name or alias).
    fn push_filters(&self, b: &mut Builder, row: &str, q: &ArtifactQuery, tags: TagPlan) {
        if let Some(t) = &q.tenant {
            b.push(&format!(" AND {row}.tenant = ")).push_bind(t.as_str().to_owned());
        }
        if let Some(w) = &q.workflow {
            b.push(&format!(" AND {row}.workflow = ")).push_bind(w.as_str().to_owned());
        }
        if let Some(tier) = q.tier {
            b.push(&format!(" AND {row}.tier = ")).push_bind(tier.as_str());
        }
        if !q.include_deleted {
            b.push(&format!(" AND {row}.state IN ('active', 'eligible')"));
        }
        if let Some(p) = &q.name {
            match self.dialect {
                Dialect::Sqlite => b.push(&format!(" AND {row}.name GLOB ")).push_bind(p.to_glob()),
                Dialect::Postgres => {
                    b.push(&format!(" AND {row}.name LIKE ")).push_bind(p.to_like()).push(" ESCAPE '\\'")
                }
            };
        }
        for tags_of_group in q.tag_groups() {
            push_tagged(b, self.dialect, row, &q.tenant, tags_of_group, tags);
        }
        if let Some(at) = q.created_after {
            b.push(&format!(" AND {row}.created_at >= ")).push_bind(to_millis(at));
        }
        if let Some(at) = q.created_before {
            b.push(&format!(" AND {row}.created_at < ")).push_bind(to_millis(at));
        }
        if let Some(size) = q.min_size {
            b.push(&format!(" AND {row}.size >= ")).push_bind(signed(size));
        }
        if let Some(size) = q.max_size {
            b.push(&format!(" AND {row}.size <= ")).push_bind(signed(size));
        }
    }
}

/// How a query reads its tag filters (see [`Catalog::tag_plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagPlan {
    /// From the tag index: the tagged ids first, then their artifacts.
    Drive,
    /// On each artifact met: one point lookup in the tag index.
    Probe,
}

/// Below this many tagged artifacts in a tenant, a tag filter is read from
/// the tag index.
const FEW_TAGGED: i64 = 5000;

/// ` AND (t.key = ? AND t.value = ? OR …)`.
fn push_tag_terms(b: &mut Builder, tags: &[(String, String)]) {
    b.push(" AND (");
    for (n, (key, value)) in tags.iter().enumerate() {
        b.push(if n == 0 { "(t.key = " } else { " OR (t.key = " }).push_bind(key.clone());
        b.push(" AND t.value = ").push_bind(value.clone()).push(")");
    }
    b.push(")");
}

/// Appends a filter to the artifact rows with any of `tags`: of `tenant`
/// when known, else of the row's own tenant. Probed, each tag is a point
/// lookup of its own (`EXISTS … OR EXISTS …`), which a planner cannot turn
/// into a read of every artifact carrying one of the tags.
fn push_tagged(
    b: &mut Builder,
    dialect: Dialect,
    row: &str,
    tenant: &Option<TenantId>,
    tags: &[(String, String)],
    plan: TagPlan,
) {
    if let (Some(t), TagPlan::Drive) = (tenant, plan) {
        b.push(&format!(" AND {row}.id IN (SELECT t.artifact_id FROM artifact_tags t WHERE t.tenant = "));
        b.push_bind(t.as_str().to_owned());
        push_tag_terms(b, tags);
        b.push(")");
        return;
    }
    b.push(" AND (");
    for (n, tag) in tags.iter().enumerate() {
        b.push(if n == 0 { "EXISTS (" } else { " OR EXISTS (" });
        b.push("SELECT 1 FROM artifact_tags t WHERE t.tenant = ");
        match tenant {
            Some(t) => b.push_bind(t.as_str().to_owned()),
            None => b.push(&format!("{row}.tenant")),
        };
        b.push(&format!(" AND t.artifact_id = {row}.id"));
        push_tag_terms(b, std::slice::from_ref(tag));
        // `OFFSET 0` keeps PostgreSQL from turning the probe into a hashed
        // subplan, which reads every artifact carrying the tag first.
        b.push(if dialect == Dialect::Postgres { " OFFSET 0)" } else { ")" });
    }
    b.push(")");
}

/// Appends the position, the order and the limit of `q`'s page.
fn push_page(b: &mut Builder, q: &ArtifactQuery) {
    push_position(b, q);
    push_order(b, q);
    if let Some(limit) = q.limit {
        b.push(" LIMIT ").push_bind(i64::from(limit));
    }
}

/// Appends the condition that starts `q`'s page after its position.
fn push_position(b: &mut Builder, q: &ArtifactQuery) {
    let cmp = if q.descending { "<" } else { ">" };
    if let Some(after) = &q.after {
        match &after.value {
            // Within one tenant the comparison leaves the tenant out, so the
            // index walk starts at the position rather than at the tenant.
            SortValue::Name { tenant, workflow, name } if q.tenant.as_ref().is_some_and(|t| t.as_str() == tenant) => {
                b.push(" AND (workflow, name, id) ").push(cmp).push(" (").push_bind(workflow.clone());
                b.push(", ").push_bind(name.clone());
            }
            SortValue::Name { tenant, workflow, name } => {
                b.push(" AND (tenant, workflow, name, id) ").push(cmp).push(" (").push_bind(tenant.clone());
                b.push(", ").push_bind(workflow.clone()).push(", ").push_bind(name.clone());
            }
            SortValue::Created(at) => {
                b.push(" AND (created_at, id) ").push(cmp).push(" (").push_bind(*at);
            }
            SortValue::Size(size) => {
                b.push(" AND (size, id) ").push(cmp).push(" (").push_bind(*size);
            }
        }
        b.push(", ").push_bind(after.id).push(")");
    }
}

/// Appends the order of `q`'s listing.
fn push_order(b: &mut Builder, q: &ArtifactQuery) {
    let dir = if q.descending { " DESC" } else { "" };
    let columns: &[&str] = match q.sort {
        SortKey::Name => &["tenant", "workflow", "name", "id"],
        SortKey::Created => &["created_at", "id"],
        SortKey::Size => &["size", "id"],
    };
    let order: Vec<String> = columns.iter().map(|c| format!("{c}{dir}")).collect();
    b.push(" ORDER BY ").push(&order.join(", "));
}
