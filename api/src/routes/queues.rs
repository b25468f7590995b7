//! Operator routes on the queue: depth per lane, and dead letters (list,
//! retry and discard one, or many by filter).

use super::params::PageSize;
use super::views::time;
use crate::error::ApiError;
use crate::openapi::Identifier;
use crate::query::{NoParams, Query};
use crate::state::ApiState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use strata_core::id::TenantId;
use strata_core::store::StoreError;
use strata_jobs::payload::Job;
use strata_queue::dead::{DeadAction, act_on_dead_letters};
use strata_queue::lanes::lane_stats;
use strata_queue::{DeadFilter, DeadLetter, LaneStats, QueueError};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every lane's depth.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueuesView {
    /// Lanes by name.
    pub lanes: Vec<LaneStats>,
}

/// A dead letter.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeadLetterView {
    /// Its id (for retry and discard).
    pub id: String,
    /// The lane it failed on.
    pub lane: String,
    /// The job kind.
    pub kind: String,
    /// The tenant of the job's artifact, when the payload names one.
    pub tenant: Option<String>,
    /// The job's artifact, `TENANT/WORKFLOW/NAME`, when the catalog still
    /// holds the row its payload names.
    pub artifact: Option<String>,
    /// The job as it was queued (JSON).
    pub payload: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: String,
    /// The first failure (RFC 3339).
    pub first_failed_at: Option<String>,
    /// The last failure (RFC 3339).
    pub last_failed_at: Option<String>,
}

fn tenant_of(d: &DeadLetter) -> Option<String> {
    Job::from_json(&d.payload).ok().map(|j| j.tenant)
}

impl From<DeadLetter> for DeadLetterView {
    fn from(d: DeadLetter) -> Self {
        Self {
            tenant: tenant_of(&d),
            artifact: None,
            first_failed_at: d.first_failed_at.map(time),
            last_failed_at: d.last_failed_at.map(time),
            id: d.id,
            lane: d.lane,
            kind: d.kind,
            payload: d.payload,
            attempts: d.attempts,
            last_error: d.last_error,
        }
    }
}

/// A page of dead letters.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterPage {
    /// The dead letters, oldest first.
    pub items: Vec<DeadLetterView>,
    /// Pass as `cursor` for the next page; absent on the last. It names the
    /// next page's first dead letter: if that one is retried or discarded
    /// meanwhile, the next page starts at the one after it.
    pub next_cursor: Option<String>,
}

/// How many dead letters an action changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Changed {
    /// Dead letters retried or discarded.
    pub count: u64,
}

/// Queue depth per lane and state, with the oldest waiting job's age.
#[utoipa::path(get, path = "/v1/queues", tag = "operations", responses((status = 200, body = QueuesView)))]
pub async fn queues(State(state): State<Arc<ApiState>>, _: Query<NoParams>) -> Result<Json<QueuesView>, ApiError> {
    let lanes = lane_stats(state.queue.as_ref(), state.store.config()).await?;
    Ok(Json(QueuesView { lanes }))
}

/// What an operator does to dead letters.
#[derive(Debug, Clone, Copy)]
enum Action {
    /// Back on their lanes with fresh attempts.
    Retry,
    /// Deleted.
    Discard,
}

impl Action {
    async fn on(self, state: &ApiState, filter: &DeadFilter) -> Result<u64, QueueError> {
        let action = match self {
            Action::Retry => DeadAction::Retry,
            Action::Discard => DeadAction::Discard,
        };
        act_on_dead_letters(state.queue.as_ref(), &state.store, filter, action).await
    }

    /// What was done, for the log.
    fn done(self) -> &'static str {
        match self {
            Action::Retry => "Retried",
            Action::Discard => "Discarded",
        }
    }

    /// Acts on the dead letter `id`; 404 when there is none.
    async fn on_one(self, state: &ApiState, id: String) -> Result<u64, ApiError> {
        let count = self.on(state, &DeadFilter { id: Some(id.clone()), ..DeadFilter::default() }).await?;
        tracing::info!(id, "{} a dead letter over HTTP", self.done());
        Ok(count)
    }

    /// Acts on every dead letter the query selects.
    async fn on_selected(self, state: &ApiState, query: BulkQuery) -> Result<Json<Changed>, ApiError> {
        let selection = Selection::new(query.lane, query.kind, query.tenant)?;
        if selection.is_empty() && !query.all {
            return Err(ApiError::BadRequest("select dead letters with lane, kind or tenant, or pass all=true".into()));
        }
        let count = selection.apply(state, self).await?;
        tracing::info!(count, "{} dead letters over HTTP", self.done());
        Ok(Json(Changed { count }))
    }
}

/// The selection of a bulk action or listing: lane, kind, tenant.
struct Selection {
    filter: DeadFilter,
    tenant: Option<String>,
}

impl Selection {
    fn new(lane: Option<String>, kind: Option<String>, tenant: Option<String>) -> Result<Self, ApiError> {
        let tenant = tenant.as_deref().map(TenantId::parse).transpose()?.map(|t| t.to_string());
        Ok(Self { filter: DeadFilter { lane, kind, ..DeadFilter::default() }, tenant })
    }

    fn is_empty(&self) -> bool {
        self.filter.lane.is_none() && self.filter.kind.is_none() && self.tenant.is_none()
    }

    /// Retries or discards every matching dead letter; returns how many.
    async fn apply(&self, state: &ApiState, action: Action) -> Result<u64, ApiError> {
        if self.tenant.is_none() {
            return Ok(action.on(state, &self.filter).await?);
        }
        // A tenant is known only from each payload: act on them one by one
        // (the queue keeps a bounded number). One another operator acted on
        // meanwhile is simply not counted.
        let mut n = 0;
        for d in self.first(state, usize::MAX).await? {
            n += match action.on(state, &DeadFilter { id: Some(d.id), ..DeadFilter::default() }).await {
                Err(QueueError::NotFound(_)) => 0,
                other => other?,
            };
        }
        Ok(n)
    }

    /// At most `limit` matching dead letters, in listing order. Without a
    /// tenant filter the queue reads only those; a tenant is known only
    /// from each payload, so with one the rest of the list is read.
    async fn first(&self, state: &ApiState, limit: usize) -> Result<Vec<DeadLetter>, ApiError> {
        Ok(match &self.tenant {
            None => state.queue.dead_letters(&self.filter, limit).await?,
            Some(t) => {
                let all = state.queue.dead_letters(&self.filter, usize::MAX).await?;
                all.into_iter().filter(|d| tenant_of(d).as_deref() == Some(t.as_str())).take(limit).collect()
            }
        })
    }
}

/// The filters and page of a dead-letter listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// Only this lane
    lane: Option<String>,
    /// Only this job kind
    kind: Option<String>,
    /// Only jobs of this tenant
    #[param(value_type = Option<Identifier>, inline)]
    tenant: Option<String>,
    /// Page size (default 100)
    #[param(inline)]
    limit: Option<PageSize>,
    /// From a previous page's next_cursor
    cursor: Option<String>,
}

/// Dead letters, oldest first, filtered by lane, kind and tenant, paged.
#[utoipa::path(
    get,
    path = "/v1/dead-letters",
    tag = "operations",
    params(DeadLetterQuery),
    responses((status = 200, body = DeadLetterPage))
)]
pub async fn list_dead_letters(
    State(state): State<Arc<ApiState>>,
    Query(query): Query<DeadLetterQuery>,
) -> Result<Json<DeadLetterPage>, ApiError> {
    let mut selection = Selection::new(query.lane, query.kind, query.tenant)?;
    let limit = PageSize::or_default(query.limit) as usize;
    // A cursor names the dead letter the next page starts at (not a
    // position), so retrying or discarding a page does not skip the next;
    // if that one is gone meanwhile, the page starts at the one after it.
    if let Some(c) = query.cursor {
        let id = c.strip_prefix('i').filter(|id| !id.is_empty());
        selection.filter.from =
            Some(id.ok_or_else(|| ApiError::BadRequest("cursor is not one this API gave out".into()))?.to_owned());
    }
    let mut page = selection.first(&state, limit + 1).await.map_err(|e| match e {
        ApiError::Queue(QueueError::NotFound(_)) => ApiError::BadRequest("cursor is not one this API gave out".into()),
        e => e,
    })?;
    let next_cursor = (page.len() > limit).then(|| format!("i{}", page[limit].id));
    page.truncate(limit);
    let mut items: Vec<DeadLetterView> = page.into_iter().map(DeadLetterView::from).collect();
    name_artifacts(&state, &mut items).await?;
    Ok(Json(DeadLetterPage { items, next_cursor }))
}

/// Sets each dead letter's `artifact` from the catalog: one read for the page.
async fn name_artifacts(state: &ApiState, items: &mut [DeadLetterView]) -> Result<(), ApiError> {
    let ids: Vec<Option<i64>> = items.iter().map(|d| Job::from_json(&d.payload).ok().map(|j| j.artifact_id)).collect();
    let wanted: Vec<i64> = ids.iter().flatten().copied().collect();
    let found = state.store.catalog().artifacts_by_id(&wanted).await.map_err(StoreError::from)?;
    let keys: HashMap<i64, String> = found.iter().map(|a| (a.id, a.key().to_string())).collect();
    for (item, id) in items.iter_mut().zip(ids) {
        item.artifact = id.and_then(|id| keys.get(&id).cloned());
    }
    Ok(())
}

/// Puts one dead letter back on its lane with fresh attempts.
#[utoipa::path(
    post,
    path = "/v1/dead-letters/{id}/retry",
    tag = "operations",
    params(("id" = String, Path, description = "Dead letter id")),
    responses((status = 200, body = Changed), (status = 404, description = "No such dead letter (problem `not-found`)"))
)]
pub async fn retry_dead_letter(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<Changed>, ApiError> {
    Ok(Json(Changed { count: Action::Retry.on_one(&state, id).await? }))
}

/// Deletes one dead letter.
#[utoipa::path(
    delete,
    path = "/v1/dead-letters/{id}",
    tag = "operations",
    params(("id" = String, Path, description = "Dead letter id")),
    responses((status = 204, description = "Discarded"), (status = 404, description = "No such dead letter (problem `not-found`)"))
)]
pub async fn discard_dead_letter(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    Action::Discard.on_one(&state, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a bulk action selects: at least one of lane, kind, tenant, or `all=true`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BulkQuery {
    /// Only this lane
    lane: Option<String>,
    /// Only this job kind
    kind: Option<String>,
    /// Only jobs of this tenant
    #[param(value_type = Option<Identifier>, inline)]
    tenant: Option<String>,
    /// Every dead letter (when no filter is given)
    #[serde(default)]
    #[param(value_type = Option<bool>)]
    all: bool,
}

/// Retries every dead letter matching the selection.
#[utoipa::path(
    post,
    path = "/v1/dead-letters/retry",
    tag = "operations",
    params(BulkQuery),
    responses((status = 200, body = Changed), (status = 400, description = "Nothing selected (give lane, kind or tenant, or all=true), or a malformed filter"))
)]
pub async fn retry_dead_letters(
    State(state): State<Arc<ApiState>>,
    Query(query): Query<BulkQuery>,
) -> Result<Json<Changed>, ApiError> {
    Action::Retry.on_selected(&state, query).await
}

/// Discards every dead letter matching the selection.
#[utoipa::path(
    post,
    path = "/v1/dead-letters/discard",
    tag = "operations",
    params(BulkQuery),
    responses((status = 200, body = Changed), (status = 400, description = "Nothing selected (give lane, kind or tenant, or all=true), or a malformed filter"))
)]
pub async fn discard_dead_letters(
    State(state): State<Arc<ApiState>>,
    Query(query): Query<BulkQuery>,
) -> Result<Json<Changed>, ApiError> {
    Action::Discard.on_selected(&state, query).await
}

/// The queue routes (admin access).
pub fn routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new()
        .routes(routes!(queues))
        .routes(routes!(list_dead_letters))
        .routes(routes!(retry_dead_letter))
        .routes(routes!(discard_dead_letter))
        .routes(routes!(retry_dead_letters))
        .routes(routes!(discard_dead_letters))
}
