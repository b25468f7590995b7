//! The identifiers of a route's path, parsed once by [`ApiPath`]: a route
//! takes `ApiPath<ArtifactPath>` and gets a valid key or answers 400
//! (problem `invalid-identifier`). Each struct is also the route's path
//! parameters in the OpenAPI document (`params(ArtifactPath, …)`).

use crate::error::ApiError;
use crate::openapi::Identifier;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use strata_core::id::{ArtifactKey, ArtifactName, TenantId, WorkflowName};
use utoipa::IntoParams;

/// Path parameters parsed into `T`. A path that is not UTF-8 is refused as
/// axum refuses it.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

/// The decoded `{name}` parameters of the matched route.
pub struct PathParams<'a>(&'a RawPathParams);

impl PathParams<'_> {
    /// The parameter `name`; a route without it is misconfigured.
    fn get(&self, name: &'static str) -> Result<&str, ApiError> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v).ok_or_else(|| {
            tracing::error!(parameter = name, "A route lacks the path parameter its handler reads");
            ApiError::MissingPathParameter(name)
        })
    }
}

/// What a route's path parameters parse into.
pub trait FromPathParams: Sized {
    /// Parses the parameters; the error is the answer.
    fn from_params(params: &PathParams<'_>) -> Result<Self, ApiError>;
}

impl<T: FromPathParams, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let raw = RawPathParams::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        T::from_params(&PathParams(&raw)).map(Self).map_err(IntoResponse::into_response)
    }
}

/// Parses the path parameter `name` with `parse`.
fn parse<T, E: Into<ApiError>>(
    params: &PathParams<'_>,
    name: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, ApiError> {
    parse(params.get(name)?).map_err(Into::into)
}

/// `/v1/tenants/{tenant}/…`.
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantPath {
    /// Tenant id
    #[param(value_type = Identifier, inline)]
    pub tenant: TenantId,
}

impl FromPathParams for TenantPath {
    fn from_params(params: &PathParams<'_>) -> Result<Self, ApiError> {
        Ok(Self { tenant: parse(params, "tenant", TenantId::parse)? })
    }
}

/// `/v1/tenants/{tenant}/artifacts/{workflow}/{name}…`.
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ArtifactPath {
    /// Tenant id
    #[param(value_type = Identifier, inline)]
    pub tenant: TenantId,
    /// Workflow
    #[param(value_type = Identifier, inline)]
    pub workflow: WorkflowName,
    /// Artifact name
    #[param(value_type = Identifier, inline)]
    pub name: ArtifactName,
}

impl ArtifactPath {
    /// The artifact's key.
    pub fn key(self) -> ArtifactKey {
        ArtifactKey { tenant: self.tenant, workflow: self.workflow, name: self.name }
    }
}

impl FromPathParams for ArtifactPath {
    fn from_params(params: &PathParams<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            tenant: parse(params, "tenant", TenantId::parse)?,
            workflow: parse(params, "workflow", WorkflowName::parse)?,
            name: parse(params, "name", ArtifactName::parse)?,
        })
    }
}

/// A number in a path; `refusal` is the message when it is not one.
fn number(params: &PathParams<'_>, refusal: &str) -> Result<i64, ApiError> {
    parse(params, "id", |id| id.parse::<i64>().map_err(|_| ApiError::BadRequest(refusal.into())))
}

/// `/v1/tenants/{tenant}/holds/{id}…`.
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct HoldPath {
    /// Tenant id
    #[param(value_type = Identifier, inline)]
    pub tenant: TenantId,
    /// Hold id
    pub id: i64,
}

impl FromPathParams for HoldPath {
    fn from_params(params: &PathParams<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            tenant: parse(params, "tenant", TenantId::parse)?,
            id: number(params, "the hold id must be a number")?,
        })
    }
}

/// `/v1/tenants/{tenant}/tokens/{id}`.
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TokenPath {
    /// Tenant id
    #[param(value_type = Identifier, inline)]
    pub tenant: TenantId,
    /// Token id
    pub id: i64,
}

impl FromPathParams for TokenPath {
    fn from_params(params: &PathParams<'_>) -> Result<Self, ApiError> {
        Ok(Self { tenant: parse(params, "tenant", TenantId::parse)?, id: number(params, "a token id is a number")? })
    }
}

/// `/v1/tenants/{tenant}/webhooks/{id}…`.
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WebhookPath {
    /// Tenant id
    #[param(value_type = Identifier, inline)]
    pub tenant: TenantId,
    /// Webhook id (`wh_…` or `config-…`)
    pub id: String,
}

impl FromPathParams for WebhookPath {
    fn from_params(params: &PathParams<'_>) -> Result<Self, ApiError> {
        Ok(Self { tenant: parse(params, "tenant", TenantId::parse)?, id: params.get("id")?.to_owned() })
    }
}

/// `/v1/tenants/{tenant}/baselines/{baseline}`.
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct BaselinePath {
    /// Tenant id
    #[param(value_type = Identifier, inline)]
    pub tenant: TenantId,
    /// Baseline name
    pub baseline: String,
}

impl FromPathParams for BaselinePath {
    fn from_params(params: &PathParams<'_>) -> Result<Self, ApiError> {
        Ok(Self { tenant: parse(params, "tenant", TenantId::parse)?, baseline: params.get("baseline")?.to_owned() })
    }
}
