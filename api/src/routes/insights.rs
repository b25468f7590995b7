//! Baselines, comparisons and size trends (tenant access).

use super::params::{self, Instant, Pair};
use super::paths::{ApiPath, BaselinePath, TenantPath};
use super::views::time;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::openapi::{Identifier, KeyValues, NameGlob};
use crate::query::{NoParams, Query};
use crate::state::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use strata_core::catalog::BaselineRecord;
use strata_core::id::WorkflowName;
use strata_core::insights::{Against, ArtifactSet, Comparison, TrendBy, TrendPoint};
use strata_core::query::NamePattern;
use strata_core::store::StoreError;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A baseline as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct BaselineView {
    /// The tenant.
    pub tenant: String,
    /// Its name.
    pub name: String,
    /// The set it snapshots.
    pub selection: String,
    /// Its artifacts.
    pub artifacts: u64,
    /// Their bytes.
    pub bytes: u64,
    /// When it was marked (RFC 3339).
    pub created_at: String,
    /// Who marked it.
    pub created_by: String,
}

impl From<&BaselineRecord> for BaselineView {
    fn from(b: &BaselineRecord) -> Self {
        Self {
            tenant: b.tenant.clone(),
            name: b.name.clone(),
            selection: b.selection.clone(),
            artifacts: b.artifacts,
            bytes: b.bytes,
            created_at: time(b.created_at),
            created_by: b.created_by.clone(),
        }
    }
}

/// A baseline to mark: a snapshot of the tenant's live artifacts the filters select.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBaseline {
    /// Its name: letters, digits, '.', '_', '-'.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub name: String,
    /// Only this workflow.
    #[schema(value_type = Option<Identifier>)]
    pub workflow: Option<String>,
    /// Only artifacts with every one of these tags (at most 16).
    #[serde(default)]
    #[schema(schema_with = tag_map)]
    pub tags: BTreeMap<String, String>,
    /// Only names matching this pattern (`*`, `?`).
    #[schema(value_type = Option<NameGlob>)]
    pub name_pattern: Option<String>,
    /// Replace a baseline of the same name.
    #[serde(default)]
    pub replace: bool,
}

/// A map of at most 16 tags, each a string.
fn tag_map() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String)))
        .max_properties(Some(16))
        .build()
}

/// One group of one workflow.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrendView {
    /// The workflow.
    pub workflow: String,
    /// The day (YYYY-MM-DD) or the tag's value.
    pub bucket: String,
    /// When its first artifact was created (RFC 3339).
    pub first_at: String,
    /// Artifacts created in it.
    pub artifacts: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Their bytes as stored.
    pub stored_bytes: u64,
    /// bytes / stored_bytes.
    pub compression_ratio: f64,
}

impl From<TrendPoint> for TrendView {
    fn from(p: TrendPoint) -> Self {
        Self {
            workflow: p.workflow,
            bucket: p.bucket,
            first_at: time(p.first_at),
            artifacts: p.artifacts,
            bytes: p.bytes,
            stored_bytes: p.stored_bytes,
            compression_ratio: p.compression_ratio,
        }
    }
}

/// The set compared, and what with.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CompareQuery {
    /// A baseline's name, or tag:KEY=VALUE
    #[param(pattern = "^(tag:[^=]+=.*|[A-Za-z0-9._-]{1,128})$")]
    against: String,
    /// Only this workflow
    #[param(value_type = Option<Identifier>, inline)]
    workflow: Option<String>,
    /// Only artifacts with this tag, key=value; repeatable: all of them
    #[serde(default)]
    #[param(value_type = Option<KeyValues>, inline)]
    tag: Vec<Pair>,
    /// Only names matching this pattern
    #[serde(default, deserialize_with = "params::parsed")]
    #[param(value_type = Option<NameGlob>, inline)]
    name: Option<NamePattern>,
}

/// How to group a trend.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TrendQuery {
    /// Only this workflow
    #[param(value_type = Option<Identifier>, inline)]
    workflow: Option<String>,
    /// day (the default), run (the `run` tag) or tag:KEY
    #[param(pattern = "^(day|run|tag:.{1,128})$")]
    by: Option<String>,
    /// Only artifacts created at or after (RFC 3339)
    #[param(inline)]
    since: Option<Instant>,
}

fn workflow(w: Option<&str>) -> Result<Option<WorkflowName>, ApiError> {
    Ok(w.map(WorkflowName::parse).transpose()?)
}

/// A tenant's baselines, by name.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/baselines",
    tag = "insights",
    params(TenantPath),
    responses((status = 200, body = Vec<BaselineView>), (status = 404, description = "No such tenant"))
)]
pub async fn list_baselines(
    State(state): State<Arc<ApiState>>,
    ApiPath(TenantPath { tenant }): ApiPath<TenantPath>,
    Query(NoParams {}): Query<NoParams>,
) -> Result<Json<Vec<BaselineView>>, ApiError> {
    state.store.tenant(&tenant).await?;
    let list = state.store.catalog().baselines(Some(&tenant)).await.map_err(StoreError::from)?;
    Ok(Json(list.iter().map(BaselineView::from).collect()))
}

/// Marks a baseline: the live artifacts the filters select, as they are now.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/baselines",
    tag = "insights",
    params(TenantPath),
    request_body = NewBaseline,
    responses(
        (status = 201, body = BaselineView),
        (status = 400, description = "A bad name, workflow, tag or pattern, or a set too large"),
        (status = 404, description = "No such tenant"),
        (status = 409, description = "The baseline exists and replace was not asked for"),
    )
)]
pub async fn mark_baseline(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    ApiPath(TenantPath { tenant }): ApiPath<TenantPath>,
    ApiJson(new): ApiJson<NewBaseline>,
) -> Result<(StatusCode, Json<BaselineView>), ApiError> {
    let set = ArtifactSet {
        tenant,
        workflow: workflow(new.workflow.as_deref())?,
        tags: new.tags.into_iter().collect(),
        name: new
            .name_pattern
            .as_deref()
            .map(NamePattern::parse)
            .transpose()
            .map_err(|e| ApiError::BadRequest(format!("name_pattern: {e}")))?,
    };
    let b = state.store.mark_baseline(&set, &new.name, new.replace, &caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(BaselineView::from(&b))))
}

/// Removes a baseline.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant}/baselines/{baseline}",
    tag = "insights",
    params(BaselinePath),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such baseline"))
)]
pub async fn remove_baseline(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    ApiPath(BaselinePath { tenant, baseline }): ApiPath<BaselinePath>,
) -> Result<StatusCode, ApiError> {
    state.store.remove_baseline(&tenant, &baseline, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Compares the live artifacts the filters select with a baseline, or with
/// those carrying a tag: added, removed, changed by digest, size deltas.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/compare",
    tag = "insights",
    params(TenantPath, CompareQuery),
    responses(
        (status = 200, body = Comparison),
        (status = 400, description = "A bad against, workflow, tag or pattern, or a set too large"),
        (status = 404, description = "No such tenant or baseline"),
    )
)]
pub async fn compare(
    State(state): State<Arc<ApiState>>,
    ApiPath(TenantPath { tenant }): ApiPath<TenantPath>,
    Query(query): Query<CompareQuery>,
) -> Result<Json<Comparison>, ApiError> {
    let against = Against::parse(&query.against).map_err(|e| ApiError::BadRequest(format!("against: {e}")))?;
    let set = ArtifactSet {
        tenant,
        workflow: workflow(query.workflow.as_deref())?,
        tags: query.tag.into_iter().map(|p| p.0).collect(),
        name: query.name,
    };
    Ok(Json(state.store.compare(&set, &against).await?))
}

/// What each workflow stored per day (or run, or tag value), with the
/// compression ratio, oldest first.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/trends",
    tag = "insights",
    params(TenantPath, TrendQuery),
    responses(
        (status = 200, body = Vec<TrendView>),
        (status = 400, description = "A bad grouping, workflow or time"),
        (status = 404, description = "No such tenant"),
    )
)]
pub async fn trends(
    State(state): State<Arc<ApiState>>,
    ApiPath(TenantPath { tenant }): ApiPath<TenantPath>,
    Query(query): Query<TrendQuery>,
) -> Result<Json<Vec<TrendView>>, ApiError> {
    let by =
        TrendBy::parse(query.by.as_deref().unwrap_or("day")).map_err(|e| ApiError::BadRequest(format!("by: {e}")))?;
    let workflow = workflow(query.workflow.as_deref())?;
    let points =
        state.store.trend(&tenant, workflow.as_ref().map(|w| w.as_str()), &by, query.since.map(|s| s.0)).await?;
    Ok(Json(points.into_iter().map(TrendView::from).collect()))
}

/// The insight routes (tenant access).
pub fn routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new()
        .routes(routes!(list_baselines, mark_baseline))
        .routes(routes!(remove_baseline))
        .routes(routes!(compare))
        .routes(routes!(trends))
}
