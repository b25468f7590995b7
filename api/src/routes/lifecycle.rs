//! Operator routes on the lifecycle: plan (dry run) and run as of an
//! instant, tier totals, and the event log.

use super::params::{PageSize, artifact_key, instant};
use super::views::{EventView, time};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::openapi::{ArtifactKeyText, Identifier};
use crate::query::{NoParams, Query, named_value};
use crate::state::ApiState;
use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use std::sync::Arc;
use strata_core::catalog::EventFilter;
use strata_core::id::{ArtifactKey, TenantId};
use strata_core::store::StoreError;
use strata_jobs::planner::{self, Plan};
use strata_queue::plan::{PLAN_LIMIT, PlanError, dry_run, dry_run_notice, plan_and_enqueue};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

impl From<PlanError> for ApiError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Catalog(e) => ApiError::Store(StoreError::from(e)),
            PlanError::Queue(e) => ApiError::Queue(e),
        }
    }
}

/// When to plan for.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// The instant (RFC 3339) to plan as of; now when absent. Later than now
    /// plans ahead of time, and the jobs and events say so.
    #[schema(format = DateTime)]
    pub as_of: Option<String>,
}

/// A planning request as the routes read it: the instant to plan as of
/// (`as_of`, or now) and who asks.
pub struct Planning {
    as_of: DateTime<Utc>,
    actor: String,
}

impl FromRequest<Arc<ApiState>> for Planning {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<ApiState>) -> Result<Self, ApiError> {
        let actor = request.extensions().get::<Caller>().map(Caller::actor).ok_or(ApiError::Unauthorized)?;
        let ApiJson(body) = ApiJson::<PlanRequest>::from_request(request, state).await?;
        let as_of = match body.as_of {
            Some(s) => instant("as_of", &s)?,
            None => state.store.now(),
        };
        Ok(Self { as_of, actor })
    }
}

/// A plan: every action due as of its instant, with a tally per kind.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    /// The instant planned for (RFC 3339).
    pub as_of: String,
    /// True for a dry run: nothing was enqueued or changed.
    pub dry_run: bool,
    /// True when planned ahead of the real clock.
    pub forced: bool,
    /// Jobs enqueued (0 for a dry run).
    pub enqueued: usize,
    /// Count and bytes per job kind.
    #[schema(value_type = Object)]
    pub by_kind: serde_json::Value,
    /// Every planned action: key, tier, kind, action, rule, bytes, due time.
    #[schema(value_type = Vec<Object>)]
    pub items: serde_json::Value,
}

impl From<&Plan> for PlanView {
    fn from(plan: &Plan) -> Self {
        let by_kind: serde_json::Map<String, serde_json::Value> = plan
            .by_kind()
            .into_iter()
            .map(|(kind, tally)| (kind.to_string(), serde_json::to_value(tally).unwrap_or_default()))
            .collect();
        Self {
            as_of: time(plan.as_of),
            dry_run: plan.dry_run,
            forced: plan.forced,
            enqueued: plan.jobs.len(),
            by_kind: serde_json::Value::Object(by_kind),
            items: serde_json::to_value(&plan.items).unwrap_or_default(),
        }
    }
}

/// What the lifecycle would do as of an instant; changes nothing.
#[utoipa::path(
    post,
    path = "/v1/lifecycle/plan",
    tag = "lifecycle",
    request_body = PlanRequest,
    responses((status = 200, body = PlanView))
)]
pub async fn plan(State(state): State<Arc<ApiState>>, request: Planning) -> Result<Json<PlanView>, ApiError> {
    let plan = planner::plan(&state.store, request.as_of, true, PLAN_LIMIT, &request.actor)
        .await
        .map_err(|e| ApiError::Store(StoreError::from(e)))?;
    Ok(Json(PlanView::from(&plan)))
}

/// Plans as of an instant and enqueues the jobs for the workers; 202.
#[utoipa::path(
    post,
    path = "/v1/lifecycle/run",
    tag = "lifecycle",
    request_body = PlanRequest,
    responses((status = 202, body = PlanView))
)]
pub async fn run(
    State(state): State<Arc<ApiState>>,
    Planning { as_of, actor }: Planning,
) -> Result<(StatusCode, Json<PlanView>), ApiError> {
    // The dry-run switch holds here too, and no request can lift it: the
    // answer says what would be done, and the dry run is recorded.
    let plan = if state.store.config().lifecycle.dry_run {
        let plan = dry_run(&state.store, as_of, &actor, None).await?;
        tracing::info!(as_of = %as_of, would_run = plan.items.len(), "{}", dry_run_notice());
        plan
    } else {
        let plan = plan_and_enqueue(&state.store, state.queue.as_ref(), as_of, &actor).await?;
        tracing::info!(as_of = %as_of, jobs = plan.jobs.len(), "Planned and enqueued a lifecycle run over HTTP");
        plan
    };
    Ok((StatusCode::ACCEPTED, Json(PlanView::from(&plan))))
}

/// A lifecycle run, as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    /// When it started (RFC 3339).
    #[schema(format = DateTime)]
    pub started_at: String,
    /// The instant it planned for (RFC 3339).
    #[schema(format = DateTime)]
    pub as_of: String,
    /// Whether it only planned.
    pub dry_run: bool,
    /// Jobs planned.
    pub planned: i64,
    /// Jobs finished so far (done, skipped or stale).
    pub finished: i64,
    /// Jobs dead-lettered so far.
    pub failed: i64,
    /// `success` or `failed` once every job ended; absent while under way.
    pub status: Option<String>,
    /// How long it took, once it ended.
    pub duration_secs: Option<f64>,
}

/// Recent lifecycle runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunsView {
    /// Runs, newest first.
    pub runs: Vec<RunView>,
}

/// How many runs to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// At most this many (default 100)
    #[param(inline)]
    limit: Option<PageSize>,
}

/// The most recent lifecycle runs, newest first: when, what was planned,
/// finished and dead-lettered, and how long each took.
#[utoipa::path(get, path = "/v1/lifecycle/runs", tag = "lifecycle", params(RunsQuery), responses((status = 200, body = RunsView)))]
pub async fn runs(
    State(state): State<Arc<ApiState>>,
    Query(query): Query<RunsQuery>,
) -> Result<Json<RunsView>, ApiError> {
    let limit = PageSize::or_default(query.limit);
    let runs = state.store.catalog().recent_runs(limit).await.map_err(StoreError::from)?;
    let runs = runs
        .into_iter()
        .map(|r| RunView {
            started_at: time(r.started_at),
            as_of: time(r.as_of),
            dry_run: r.dry_run,
            planned: r.n_planned,
            finished: r.n_finished,
            failed: r.n_failed,
            status: r.status,
            duration_secs: r.duration_secs,
        })
        .collect();
    Ok(Json(RunsView { runs }))
}

/// Artifacts and bytes of one tenant in one tier and state.
#[derive(Debug, Serialize, ToSchema)]
pub struct TierStat {
    /// The tenant.
    pub tenant: String,
    /// The tier (`hot`, `warm`, `cold`).
    pub tier: String,
    /// The state (`active`, `eligible`, …).
    pub state: String,
    /// Artifacts.
    pub artifacts: i64,
    /// Original bytes.
    pub bytes: i64,
    /// Bytes as stored (after compression).
    pub stored_bytes: i64,
}

/// Totals per tenant, tier and state.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsView {
    /// Live artifacts (not deleted) per tenant, tier and state.
    pub tiers: Vec<TierStat>,
}

/// Live artifacts and bytes per tenant, tier and state.
#[utoipa::path(get, path = "/v1/stats", tag = "lifecycle", responses((status = 200, body = StatsView)))]
pub async fn stats(State(state): State<Arc<ApiState>>, _: Query<NoParams>) -> Result<Json<StatsView>, ApiError> {
    let totals = state.store.catalog().tier_totals().await.map_err(StoreError::from)?;
    let tiers = totals
        .into_iter()
        .filter(|t| t.state.is_live())
        .map(|t| TierStat {
            tenant: t.tenant,
            tier: t.tier.to_string(),
            state: t.state.to_string(),
            artifacts: t.artifacts,
            bytes: t.bytes,
            stored_bytes: t.stored_bytes,
        })
        .collect();
    Ok(Json(StatsView { tiers }))
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// Events, oldest first.
    pub items: Vec<EventView>,
    /// Pass as `after` for the next page; absent on the last.
    pub next_after: Option<i64>,
}

/// An event's sequence number, as a query value.
#[derive(Debug, Clone, Copy)]
struct Sequence(i64);

impl<'de> Deserialize<'de> for Sequence {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        named_value(d, |s| s.parse().map(Self).map_err(|_| "must be a sequence number".into()))
    }
}

/// The filters and page of the event log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only this tenant's events
    #[param(value_type = Option<Identifier>, inline)]
    tenant: Option<String>,
    /// Only this artifact's (TENANT/WORKFLOW/NAME)
    #[param(value_type = Option<ArtifactKeyText>, inline)]
    artifact: Option<String>,
    /// Only this kind (`event_type`)
    kind: Option<String>,
    /// Only events after this sequence number
    #[param(value_type = Option<i64>)]
    after: Option<Sequence>,
    /// Page size (default 100)
    #[param(inline)]
    limit: Option<PageSize>,
    /// The newest `limit` events instead of the oldest
    #[serde(default)]
    #[param(value_type = Option<bool>)]
    newest: bool,
}

/// The event log, oldest first, paged by sequence number.
#[utoipa::path(get, path = "/v1/events", tag = "lifecycle", params(EventsQuery), responses((status = 200, body = EventPage)))]
pub async fn events(
    State(state): State<Arc<ApiState>>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let limit = i64::from(PageSize::or_default(query.limit));
    let newest = query.newest;
    let filter = EventFilter {
        tenant: query.tenant.as_deref().map(TenantId::parse).transpose()?,
        key: query.artifact.as_deref().map(parse_key).transpose()?,
        after: query.after.map(|s| s.0),
        kind: query.kind,
        // One more than the page tells whether another page follows.
        limit: Some(if newest { limit } else { limit + 1 }),
        newest,
    };
    let mut events = state.store.catalog().events(&filter).await.map_err(StoreError::from)?;
    let more = !newest && events.len() as i64 > limit;
    events.truncate(limit as usize);
    let next_after = if more { events.last().map(|e| e.seq) } else { None };
    Ok(Json(EventPage { items: events.iter().map(EventView::from).collect(), next_after }))
}

fn parse_key(s: &str) -> Result<ArtifactKey, ApiError> {
    let mut parts = s.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(t), Some(w), Some(n)) => artifact_key(t, w, n),
        _ => Err(ApiError::BadRequest("artifact must be TENANT/WORKFLOW/NAME".into())),
    }
}

/// The lifecycle routes (admin access).
pub fn routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new()
        .routes(routes!(plan))
        .routes(routes!(run))
        .routes(routes!(runs))
        .routes(routes!(stats))
        .routes(routes!(events))
}
