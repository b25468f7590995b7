//! Claims: the stamp a job carries on its artifact. The planner claims what
//! is due, a restore claims one artifact, an erasure claims everything live
//! in its scope; each claim is one catalog transaction, and a job's
//! compare-and-set succeeds only while its token still holds the claim.

use crate::artifact::Artifact;
use crate::catalog::{CatalogError, CompletedRun, Fence, FinishedJob, JobQueue, NewJob, WriteTx};
use crate::event::{EventKind, NewEvent};
use crate::id::{ArtifactKey, TenantId};
use crate::lifecycle::{Scheduled, decide};
use crate::retention::Target;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};

/// What a planning pass asks for.
#[derive(Debug, Clone, Copy)]
pub struct DueRequest<'a> {
    /// The instant the plan is for.
    pub as_of: DateTime<Utc>,
    /// At most this many artifacts are looked at.
    pub limit: i64,
    /// A dry run claims nothing and changes nothing.
    pub dry_run: bool,
    /// For the leader among several schedulers: the claims commit only if
    /// this fence still holds the leadership lease inside the transaction.
    pub fence: Option<&'a Fence>,
    /// Who plans (for the events of a changed policy).
    pub actor: &'a str,
}

/// A due artifact the planner took.
#[derive(Debug, Clone)]
pub struct DueClaim {
    /// The artifact as it was claimed.
    pub artifact: Artifact,
    /// The action due, when, and by which rule.
    pub due: Scheduled,
    /// The claim's token; `None` in a dry run.
    pub token: Option<String>,
}

/// The outcome of [`Store::claim_due`].
#[derive(Debug, Clone, Default)]
pub struct DueClaims {
    /// The claimed artifacts, in due order.
    pub claims: Vec<DueClaim>,
    /// The lifecycle run recorded for a live pass that claimed something.
    pub run_id: Option<i64>,
}

/// The outcome of [`Store::claim_scope`].
#[derive(Debug, Clone, Default)]
pub struct ScopeClaims {
    /// Each live, unprotected artifact in scope with its claim token.
    pub claimed: Vec<(Artifact, String)>,
    /// Live artifacts in scope that a hold or a permanent-record class protects.
    pub blocked: Vec<ArtifactKey>,
}

/// The claim of a job that was dead-lettered.
#[derive(Debug, Clone, Copy)]
pub struct DeadClaim<'a> {
    /// The artifact the job was for.
    pub artifact_id: i64,
    /// The job's claim token.
    pub token: &'a str,
    /// The lifecycle run the job belonged to.
    pub run_id: Option<i64>,
}

impl Store {
    /// When a claim stamped at `now` runs out (`jobs.artifact_lease_secs` later).
    fn claim_lease_end(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        crate::clock::add_secs(now, self.config().jobs.artifact_lease_secs).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Claims what is due as of `request.as_of`, in one transaction: a
    /// changed policy is applied first, then each due artifact (in due
    /// order, at most `request.limit`) is offered to `select`; those it takes
    /// are stamped with a fresh token; those with nothing due get their next
    /// due time. A live pass that claimed something records a lifecycle run
    /// described by `summary`. A dry run drops the transaction, and with it
    /// every change. With a fence that no longer holds the leadership lease,
    /// nothing commits and the error is a conflict.
    pub async fn claim_due(
        &self,
        request: &DueRequest<'_>,
        select: impl FnMut(&Artifact, &Scheduled) -> bool,
        summary: impl FnOnce(&[DueClaim]) -> serde_json::Value,
    ) -> Result<DueClaims, CatalogError> {
        self.claim_due_into(request, select, summary, None::<fn(&DueClaims) -> Vec<NewJob>>).await
    }

    /// Like [`Store::claim_due`], and adds the claims' jobs (`jobs` makes
    /// them from the claims and their run) to the embedded job queue `queue`
    /// in the same transaction: the claims and their jobs commit together or
    /// not at all, so a failed enqueue leaves nothing claimed. A dry run
    /// makes no jobs. `queue` must live in this store's catalog.
    pub async fn claim_due_and_enqueue(
        &self,
        request: &DueRequest<'_>,
        queue: &JobQueue,
        select: impl FnMut(&Artifact, &Scheduled) -> bool,
        summary: impl FnOnce(&[DueClaim]) -> serde_json::Value,
        jobs: impl FnOnce(&DueClaims) -> Vec<NewJob>,
    ) -> Result<DueClaims, CatalogError> {
        if !queue.is_in(self.catalog()) {
            return Err(CatalogError::Conflict(format!(
                "a job queue outside the catalog {} cannot commit with its claims",
                self.catalog().location()
            )));
        }
        self.claim_due_into(request, select, summary, Some(jobs)).await
    }

    async fn claim_due_into(
        &self,
        request: &DueRequest<'_>,
        mut select: impl FnMut(&Artifact, &Scheduled) -> bool,
        summary: impl FnOnce(&[DueClaim]) -> serde_json::Value,
        jobs: Option<impl FnOnce(&DueClaims) -> Vec<NewJob>>,
    ) -> Result<DueClaims, CatalogError> {
        let now = self.now();
        let lease_until = self.claim_lease_end(now);
        let mut tx = self.catalog_write().await?;
        if let Some(fence) = request.fence
            && !tx.still_leads(fence, now).await?
        {
            return Err(CatalogError::Conflict(format!("leadership of {} held by another process", fence.name)));
        }
        self.apply_policy(&mut tx, now, request.actor).await?;
        let mut out = DueClaims::default();
        let mut next_dues = Vec::new();
        for a in tx.due(request.as_of, now, request.limit).await? {
            let decision = decide(&a, self.config(), request.as_of);
            let Some(due) = decision.due else {
                next_dues.push((a.id, decision.next_due_at));
                continue;
            };
            if !select(&a, &due) {
                continue;
            }
            let token = (!request.dry_run).then(|| uuid::Uuid::new_v4().to_string());
            out.claims.push(DueClaim { artifact: a, due, token });
        }
        if request.dry_run {
            return Ok(out);
        }
        let stamps: Vec<(i64, &str)> =
            out.claims.iter().filter_map(|c| c.token.as_deref().map(|t| (c.artifact.id, t))).collect();
        tx.stamp_many(&stamps, lease_until).await?;
        tx.set_next_dues(&next_dues).await?;
        // Runs that claimed work are recorded for `lifecycle summary`; empty
        // ticks and follow-up passes are not.
        if !out.claims.is_empty() {
            let described = summary(&out.claims);
            let n = i64::try_from(out.claims.len()).unwrap_or(i64::MAX);
            out.run_id = Some(tx.record_run(now, request.as_of, false, n, &described).await?);
        }
        if let Some(jobs) = jobs {
            tx.insert_jobs(&jobs(&out), now).await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Ends the claims `(artifact id, token)` whose token still holds, in one
    /// transaction, so the artifacts are planned again on the next pass
    /// rather than when their lease runs out: for claims whose jobs are
    /// known not to have been enqueued. A job that was enqueued all the same
    /// finds its token spent and does nothing. Returns how many ended.
    pub async fn release_claims(&self, claims: &[(i64, &str)]) -> Result<u64, CatalogError> {
        let mut tx = self.catalog_write().await?;
        let released = tx.release_many(claims).await?;
        tx.commit().await?;
        Ok(released.into_iter().filter(|ended| *ended).count() as u64)
    }

    /// Claims the live artifact `key` (for a restore), taking the claim over
    /// from any lifecycle job, whose compare-and-set then fails harmlessly.
    pub async fn claim_live(&self, key: &ArtifactKey) -> Result<(Artifact, String), StoreError> {
        let now = self.now();
        let lease_until = self.claim_lease_end(now);
        let mut tx = self.catalog_write().await?;
        let a = tx.find_live(key).await?.ok_or_else(|| StoreError::NotFound(key.clone()))?;
        let token = uuid::Uuid::new_v4().to_string();
        tx.stamp(a.id, &token, lease_until).await?;
        tx.commit().await?;
        Ok((a, token))
    }

    /// Claims everything live in `target` for erasure, except what outranks
    /// erasure — held artifacts and permanent records — which is reported as
    /// blocked; records one `erasure_requested` event with the reason, in the
    /// same transaction.
    pub async fn claim_scope(&self, target: &Target, reason: &str, actor: &str) -> Result<ScopeClaims, StoreError> {
        if reason.trim().is_empty() {
            return Err(StoreError::MissingReason);
        }
        let artifact_id = self.target_artifact(target).await?.map(|a| a.id);
        let now = self.now();
        let lease_until = self.claim_lease_end(now);
        let mut tx = self.catalog_write().await?;
        let mut out = ScopeClaims::default();
        for a in tx.live_in_scope(target.tenant(), target.workflow(), artifact_id).await? {
            if a.held || self.config().is_permanent_record(a.class.as_deref()) {
                out.blocked.push(a.key());
                continue;
            }
            let token = uuid::Uuid::new_v4().to_string();
            out.claimed.push((a, token));
        }
        let stamps: Vec<(i64, &str)> = out.claimed.iter().map(|(a, t)| (a.id, t.as_str())).collect();
        tx.stamp_many(&stamps, lease_until).await?;
        let blocked: Vec<String> = out.blocked.iter().map(ToString::to_string).collect();
        let data =
            serde_json::json!({ "target": target.to_string(), "artifacts": out.claimed.len(), "blocked": blocked });
        let mut event = NewEvent::new(EventKind::ErasureRequested, actor, data);
        event.reason = Some(reason.to_owned());
        tx.append_event(now, Some(target.tenant()), None, &event).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Records a dead-lettered job in one commit: its event, its artifact
    /// marked (it keeps its claim until the dead letter is retried or
    /// discarded), and the job counted as failed towards its run. Returns
    /// the runs this completed.
    pub async fn record_dead_letter(
        &self,
        tenant: Option<&TenantId>,
        claim: Option<DeadClaim<'_>>,
        event: &NewEvent,
    ) -> Result<Vec<CompletedRun>, CatalogError> {
        let artifact = match claim {
            Some(c) => self.catalog().artifact(c.artifact_id).await.ok(),
            None => None,
        };
        let now = self.now();
        let mut tx = self.catalog_write().await?;
        tx.append_event(now, tenant, artifact.as_ref(), event).await?;
        let mut completed = Vec::new();
        if let Some(c) = claim {
            tx.mark_dead_lettered(c.artifact_id, c.token, now).await?;
            if let Some(run_id) = c.run_id {
                let failed = FinishedJob { run_id, token: c.token.to_owned(), failed: true };
                completed = tx.finish_jobs(now, &[failed]).await?;
            }
        }
        tx.commit().await?;
        Ok(completed)
    }

    /// Appends one event, in a transaction of its own.
    pub async fn record_event(
        &self,
        tenant: Option<&TenantId>,
        artifact: Option<&Artifact>,
        event: &NewEvent,
    ) -> Result<(), CatalogError> {
        let mut tx = self.catalog_write().await?;
        tx.append_event(self.now(), tenant, artifact, event).await?;
        tx.commit().await
    }

    /// A write transaction on the catalog.
    async fn catalog_write(&self) -> Result<WriteTx, CatalogError> {
        self.catalog().begin_write().await
    }
}
