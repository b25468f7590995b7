//! The planner: asks the catalog what is due as of an instant, decides each
//! artifact's action with [`strata_core::lifecycle::decide`], and (unless it is
//! a dry run) stamps each chosen artifact with a fresh job token in the same
//! transaction.

mod listing;
mod requests;
#[cfg(test)]
mod tests;

pub use listing::{Plan, PlannedItem, Tally};
pub use requests::{Erasure, plan_erase, plan_restore, what_if};

use crate::payload::{Job, JobKind};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use strata_core::artifact::Tier;
use strata_core::catalog::CatalogError;
use strata_core::catalog::{JobQueue, NewJob};
use strata_core::claims::{DueClaim, DueClaims, DueRequest};
use strata_core::config::Config;
use strata_core::lifecycle::Action;
use strata_core::store::Store;

/// The job kind that carries out `action`.
fn job_kind(action: Action) -> JobKind {
    match action {
        Action::MarkEligible => JobKind::Eligibility,
        Action::Purge => JobKind::Purge,
        Action::Compress { .. } => JobKind::Compress,
        Action::Promote { .. } => JobKind::Promote,
        Action::Scan => JobKind::Scan,
    }
}

fn target_tier(action: Action) -> Option<Tier> {
    match action {
        Action::Compress { .. } => Some(Tier::Cold),
        Action::Promote { to, .. } => Some(to),
        _ => None,
    }
}

/// Plans what is due as of `as_of`. A live plan stamps each artifact with a
/// job token (valid for the configured artifact lease) and returns the jobs;
/// a dry run changes nothing. At most `limit` artifacts are planned.
pub async fn plan(
    store: &Store,
    as_of: DateTime<Utc>,
    dry_run: bool,
    limit: i64,
    actor: &str,
) -> Result<Plan, CatalogError> {
    plan_kinds(store, as_of, dry_run, limit, actor, None).await
}

/// Like [`plan`], limited to some job kinds (`None`: all). Artifacts whose
/// due action is of another kind are left for a full plan.
pub async fn plan_kinds(
    store: &Store,
    as_of: DateTime<Utc>,
    dry_run: bool,
    limit: i64,
    actor: &str,
    kinds: Option<&[JobKind]>,
) -> Result<Plan, CatalogError> {
    plan_with(store, as_of, limit, actor, Pass { dry_run, kinds, ..Pass::default() }).await
}

/// Like [`plan`], for the leader among several schedulers: the plan commits
/// only if `fence` still holds the leadership lease inside the planning
/// transaction; otherwise nothing is stamped and the error says so.
pub async fn plan_fenced(
    store: &Store,
    as_of: DateTime<Utc>,
    limit: i64,
    actor: &str,
    fence: &strata_core::catalog::Fence,
) -> Result<Plan, CatalogError> {
    plan_with(store, as_of, limit, actor, Pass { fence: Some(fence), ..Pass::default() }).await
}

/// A live plan (fenced when `fence` is given) whose jobs are added to the
/// embedded job queue `queue`, which lives in the store's catalog, in the
/// planning transaction: the claims and their jobs commit together, or
/// nothing does. The plan's jobs are already enqueued.
pub async fn plan_into(
    store: &Store,
    queue: &JobQueue,
    as_of: DateTime<Utc>,
    limit: i64,
    actor: &str,
    fence: Option<&strata_core::catalog::Fence>,
) -> Result<Plan, CatalogError> {
    plan_with(store, as_of, limit, actor, Pass { fence, into: Some(queue), ..Pass::default() }).await
}

/// The queue form of planned jobs, each on its lane (`queue.tenant_lanes`).
pub fn queued(jobs: &[Job], config: &Config) -> Vec<NewJob> {
    let lanes = &config.queue.tenant_lanes;
    jobs.iter()
        .map(|j| NewJob { lane: j.lane(lanes).to_owned(), kind: j.kind.as_str().to_owned(), payload: j.to_json() })
        .collect()
}

/// How a planning pass runs.
#[derive(Default)]
struct Pass<'a> {
    /// Only report.
    dry_run: bool,
    /// Only these job kinds (`None`: all).
    kinds: Option<&'a [JobKind]>,
    /// Commit only while this fence holds the leadership.
    fence: Option<&'a strata_core::catalog::Fence>,
    /// Add the jobs to this embedded queue in the planning transaction.
    into: Option<&'a JobQueue>,
}

async fn plan_with(
    store: &Store,
    as_of: DateTime<Utc>,
    limit: i64,
    actor: &str,
    pass: Pass<'_>,
) -> Result<Plan, CatalogError> {
    let Pass { dry_run, kinds, fence, into } = pass;
    let forced = as_of > store.now() + Duration::seconds(1);
    let cap = store.config().jobs.per_tenant_cap;
    let mut per_tenant: BTreeMap<String, usize> = BTreeMap::new();
    let select = |a: &strata_core::artifact::Artifact, due: &strata_core::lifecycle::Scheduled| {
        if kinds.is_some_and(|k| !k.contains(&job_kind(due.action))) {
            return false;
        }
        let n = per_tenant.entry(a.tenant.to_string()).or_default();
        if cap > 0 && *n >= cap {
            return false;
        }
        *n += 1;
        true
    };
    // Runs are summarised by job kind: how many and how many bytes.
    let summary = |claims: &[DueClaim]| {
        let items: Vec<PlannedItem> = claims.iter().map(planned_item).collect();
        let plan = Plan { items, ..Plan::default() };
        serde_json::to_value(
            plan.by_kind().into_iter().map(|(k, t)| (k.as_str().to_owned(), t)).collect::<BTreeMap<_, _>>(),
        )
        .unwrap_or_default()
    };
    let request = DueRequest { as_of, limit, dry_run, fence, actor };
    let (claimed, jobs) = match into {
        Some(queue) => {
            let mut made = Vec::new();
            let make = |claims: &DueClaims| {
                made = jobs_of(claims, as_of, forced, actor);
                queued(&made, store.config())
            };
            let claimed = store.claim_due_and_enqueue(&request, queue, select, summary, make).await?;
            (claimed, made)
        }
        None => {
            let claimed = store.claim_due(&request, select, summary).await?;
            let jobs = jobs_of(&claimed, as_of, forced, actor);
            (claimed, jobs)
        }
    };
    let items = claimed.claims.iter().map(planned_item).collect();
    Ok(Plan { as_of, dry_run, forced, items, jobs, run_id: claimed.run_id })
}

/// The jobs of the claims that took a token, tenants taking turns.
fn jobs_of(claimed: &DueClaims, as_of: DateTime<Utc>, forced: bool, actor: &str) -> Vec<Job> {
    let mut jobs = Vec::new();
    for claim in &claimed.claims {
        let Some(token) = claim.token.clone() else { continue };
        let action = claim.due.action;
        let job =
            Job::for_artifact(job_kind(action), &claim.artifact, token, target_tier(action), as_of, forced, actor);
        jobs.push(Job { due_at: Some(claim.due.at), run_id: claimed.run_id, ..job });
    }
    interleave_tenants(jobs)
}

/// What a claim plans, for the plan's listing.
fn planned_item(claim: &DueClaim) -> PlannedItem {
    PlannedItem::new(&claim.artifact, &claim.due)
}

/// Orders jobs so that tenants take turns — one job of each tenant with work,
/// then the next round — so one tenant's backlog cannot hold the others back
/// in a shared lane. Each tenant's own order is kept.
fn interleave_tenants(jobs: Vec<Job>) -> Vec<Job> {
    let mut order: Vec<String> = Vec::new();
    let mut by_tenant: BTreeMap<String, std::collections::VecDeque<Job>> = BTreeMap::new();
    for job in jobs {
        if !by_tenant.contains_key(&job.tenant) {
            order.push(job.tenant.clone());
        }
        by_tenant.entry(job.tenant.clone()).or_default().push_back(job);
    }
    let mut out = Vec::new();
    loop {
        let before = out.len();
        for tenant in &order {
            if let Some(job) = by_tenant.get_mut(tenant).and_then(|q| q.pop_front()) {
                out.push(job);
            }
        }
        if out.len() == before {
            return out;
        }
    }
}
