//! Bearer-token authentication and the access levels routes are grouped by.
//!
//! A route's access level is declared once, by the group it is registered in
//! (see `routes`): the group's middleware enforces it and the OpenAPI
//! document states it, so no route is open by accident.
//!
//! - [`Access::Public`]: no token (`/healthz`, `/readyz`, `/openapi.json`).
//! - [`Access::Caller`]: any valid token; the handler checks which tenant
//!   the resource belongs to.
//! - [`Access::Tenant`]: routes under `/v1/tenants/{tenant}/…`: a token of
//!   that tenant, or the admin token. Another tenant's token gets the same
//!   404 a missing resource gets.
//! - [`Access::Admin`]: the admin token only; a tenant token gets 403.
//!
//! Tenant tokens are looked up by their sha256 (the catalog stores nothing
//! else), so comparing them leaks nothing about a stored token; the admin
//! token is compared as a sha256 digest in constant time ([`crate::state::AdminToken`]).

use crate::error::ApiError;
use crate::state::ApiState;
use axum::extract::{RawPathParams, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use strata_core::catalog::Principal;
use strata_core::id::{ArtifactKey, TenantId};
use strata_core::store::StoreError;

/// Security scheme of tenant tokens (`strata tenant token create`).
pub const TENANT_TOKEN: &str = "tenant_token";
/// Security scheme of the admin token (`STRATA_ADMIN_TOKEN`).
pub const ADMIN_TOKEN: &str = "admin_token";

/// Who is calling, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The admin token: operator routes and every tenant.
    Admin,
    /// A tenant's token: that tenant's routes only.
    Tenant(TenantId),
}

impl Caller {
    /// Whether the caller may see `tenant`'s resources.
    pub fn can_access(&self, tenant: &TenantId) -> bool {
        match self {
            Caller::Admin => true,
            Caller::Tenant(own) => own == tenant,
        }
    }

    /// Who this caller is to the hold rules: the admin token is an
    /// operator, a tenant's token is that tenant.
    pub fn principal(&self) -> Principal {
        match self {
            Caller::Admin => Principal::Operator,
            Caller::Tenant(t) => Principal::Tenant(t.clone()),
        }
    }

    /// The actor recorded in events for what this caller does.
    pub fn actor(&self) -> String {
        match self {
            Caller::Admin => "api:admin".to_owned(),
            Caller::Tenant(t) => format!("api:{t}"),
        }
    }
}

/// A route's access level; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed.
    Public,
    /// Any valid token; the handler scopes the answer to the caller.
    Caller,
    /// A token of the `{tenant}` in the path, or the admin token.
    Tenant,
    /// The admin token only.
    Admin,
}

impl Access {
    /// The OpenAPI security schemes that satisfy this level (none for public routes).
    pub fn schemes(self) -> &'static [&'static str] {
        match self {
            Access::Public => &[],
            Access::Caller | Access::Tenant => &[TENANT_TOKEN, ADMIN_TOKEN],
            Access::Admin => &[ADMIN_TOKEN],
        }
    }
}

/// The bearer token of a request, if it has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Identifies the caller from its bearer token.
pub async fn authenticate(state: &ApiState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = bearer(headers).ok_or(ApiError::Unauthorized)?;
    if state.admin_token.as_ref().is_some_and(|admin| admin.matches(token)) {
        return Ok(Caller::Admin);
    }
    match state.store.token_tenant(token).await? {
        Some(tenant) => Ok(Caller::Tenant(tenant)),
        None => Err(ApiError::Unauthorized),
    }
}

/// Middleware of [`Access::Caller`] routes: any valid token.
pub async fn require_caller(State(state): State<Arc<ApiState>>, mut request: Request, next: Next) -> Response {
    match authenticate(&state, request.headers()).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

/// Middleware of [`Access::Admin`] routes: the admin token; 403 for a tenant's.
pub async fn require_admin(State(state): State<Arc<ApiState>>, mut request: Request, next: Next) -> Response {
    match authenticate(&state, request.headers()).await {
        Ok(Caller::Admin) => {
            request.extensions_mut().insert(Caller::Admin);
            next.run(request).await
        }
        Ok(Caller::Tenant(_)) => ApiError::Forbidden.into_response(),
        Err(e) => e.into_response(),
    }
}

/// Middleware of [`Access::Tenant`] routes: the `{tenant}` path parameter's
/// token or the admin token. Another tenant's token is answered exactly as a
/// missing artifact (or tenant) would be.
pub async fn require_tenant(
    State(state): State<Arc<ApiState>>,
    params: RawPathParams,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = match authenticate(&state, request.headers()).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let param = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| v);
    let Some(tenant) = param("tenant") else {
        tracing::error!(path = %request.uri().path(), "A tenant route has no {{tenant}} parameter");
        return ApiError::MissingPathParameter("tenant").into_response();
    };
    let tenant = match TenantId::parse(tenant) {
        Ok(t) => t,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if !caller.can_access(&tenant) {
        let key = match (param("workflow"), param("name")) {
            (Some(w), Some(n)) => ArtifactKey::parse(&format!("{tenant}/{w}/{n}")).ok(),
            _ => None,
        };
        let hidden = match key {
            Some(key) => StoreError::NotFound(key),
            None => StoreError::UnknownTenant(tenant.to_string()),
        };
        return ApiError::from(hidden).into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_parsed_strictly() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn tenants_reach_only_themselves() {
        let acme = TenantId::parse("acme").unwrap();
        let globex = TenantId::parse("globex").unwrap();
        assert!(Caller::Admin.can_access(&acme));
        assert!(Caller::Tenant(acme.clone()).can_access(&acme));
        assert!(!Caller::Tenant(globex).can_access(&acme));
    }
}
