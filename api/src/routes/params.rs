//! Parsing what a request says besides its body: query values, `key=value`
//! tags and instants. Every failure is a 400 that names what was wrong.
//!
//! [`Bounded`] and [`Instant`] are query values whose schema is declared with
//! the parsing that enforces it.

use crate::error::ApiError;
use crate::query::named_value;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use strata_core::id::{ArtifactKey, ArtifactName, TenantId, WorkflowName};
use strata_core::retention::Target;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};

/// The largest page of a listing.
pub const MAX_PAGE: u32 = 1000;
/// The page size of a listing whose request names none.
pub const DEFAULT_PAGE: u32 = 100;

/// A number from 1 to `MAX`, as a query value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounded<const MAX: u32>(pub u32);

/// A listing's page size, `limit`.
pub type PageSize = Bounded<MAX_PAGE>;

/// A listing's newest-N-per-workflow, `latest`.
pub type Latest = Bounded<{ strata_core::query::MAX_LATEST }>;

impl PageSize {
    /// The page size `limit` names, or the default when it names none.
    pub fn or_default(limit: Option<Self>) -> u32 {
        limit.map_or(DEFAULT_PAGE, |l| l.0)
    }
}

impl<'de, const MAX: u32> Deserialize<'de> for Bounded<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        named_value(d, |s| {
            s.parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX).contains(n))
                .map(Self)
                .ok_or_else(|| format!("must be a number from 1 to {MAX}"))
        })
    }
}

impl<const MAX: u32> PartialSchema for Bounded<MAX> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Integer))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .minimum(Some(1))
            .maximum(Some(MAX))
            .into()
    }
}

impl<const MAX: u32> ToSchema for Bounded<MAX> {}

/// A number of bytes, from 0 to `i64::MAX` (what the catalog stores), as a query value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteCount(pub u64);

impl<'de> Deserialize<'de> for ByteCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        named_value(d, |s| {
            s.parse::<i64>()
                .ok()
                .and_then(|n| u64::try_from(n).ok())
                .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))
                .map(Self)
                .ok_or_else(|| format!("must be a number of bytes from 0 to {}", i64::MAX))
        })
    }
}

impl PartialSchema for ByteCount {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Integer))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(0))
            .maximum(Some(i64::MAX))
            .into()
    }
}

impl ToSchema for ByteCount {}

/// An RFC 3339 instant, as a query value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant(pub DateTime<Utc>);

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        named_value(d, |s| rfc3339(s).map(Self))
    }
}

impl PartialSchema for Instant {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .into()
    }
}

impl ToSchema for Instant {}

/// Parses an RFC 3339 instant; the error says what `s` is not.
fn rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        let shown: String = s.chars().take(64).collect();
        format!("{shown:?} is not an RFC 3339 time (2027-01-01T00:00:00Z)")
    })
}

/// Parses an RFC 3339 instant; `what` names it in the error.
pub fn instant(what: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    rfc3339(s).map_err(|e| ApiError::BadRequest(format!("{what} {e}")))
}

/// Deserializes an optional query value by its `FromStr`, whose error is
/// the message.
pub fn parsed<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    String::deserialize(d)?.parse().map(Some).map_err(serde::de::Error::custom)
}

/// The artifact key of a `{tenant}/{workflow}/{name}` path.
pub fn artifact_key(tenant: &str, workflow: &str, name: &str) -> Result<ArtifactKey, ApiError> {
    Ok(ArtifactKey {
        tenant: TenantId::parse(tenant)?,
        workflow: WorkflowName::parse(workflow)?,
        name: ArtifactName::parse(name)?,
    })
}

/// Parses `key=value` (a tag or a metadata entry).
pub fn key_value(what: &str, s: &str) -> Result<(String, String), ApiError> {
    pair(s).map_err(|e| ApiError::BadRequest(format!("{what} {e}")))
}

/// Parses `key=value`; the error says what `s` is not.
fn pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !k.chars().any(char::is_control) && !v.chars().any(char::is_control) => {
            Ok((k.trim().to_owned(), v.trim().to_owned()))
        }
        _ => {
            let shown: String = s.chars().take(64).collect();
            Err(format!("{shown:?} is not of the form key=value"))
        }
    }
}

/// A `key=value` pair, as a query value (its schema is [`crate::openapi::KeyValue`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair(pub (String, String));

impl<'de> Deserialize<'de> for Pair {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        named_value(d, |s| pair(s).map(Self))
    }
}

/// What a request body's optional `workflow` and `name` select within a
/// tenant: the tenant, a workflow, or one artifact. A name without a
/// workflow is refused: `what` names the action, as in "erasing an artifact".
pub fn target(tenant: TenantId, workflow: Option<&str>, name: Option<&str>, what: &str) -> Result<Target, ApiError> {
    Ok(match (workflow, name) {
        (None, None) => Target::Tenant(tenant),
        (Some(w), None) => Target::Workflow(tenant, WorkflowName::parse(w)?),
        (Some(w), Some(n)) => {
            Target::Artifact(ArtifactKey { tenant, workflow: WorkflowName::parse(w)?, name: ArtifactName::parse(n)? })
        }
        (None, Some(_)) => return Err(ApiError::BadRequest(format!("{what} needs its workflow too"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query;

    #[test]
    fn traversal_and_bad_names_are_rejected() {
        assert!(artifact_key("acme", "wf", "a.txt").is_ok());
        for (t, w, n) in [("acme", "wf", "../x"), ("..", "wf", "x"), ("acme", "wf", "a/b"), ("acme", "", "x")] {
            assert!(matches!(artifact_key(t, w, n), Err(ApiError::InvalidIdentifier(_))), "{t}/{w}/{n}");
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Values {
        limit: Option<PageSize>,
        after: Option<Instant>,
        tag: Option<Pair>,
    }

    #[test]
    fn values_state_their_bounds_and_formats() {
        let bad_request = |query: &str, says: &str| match query::parse::<Values>(Some(query)) {
            Err(ApiError::BadRequest(m)) => assert_eq!(m, says),
            other => panic!("{query}: a bad request saying {says:?}, not {other:?}"),
        };
        bad_request("limit=0", "limit must be a number from 1 to 1000");
        bad_request("limit=1001", "limit must be a number from 1 to 1000");
        bad_request("after=soon", "after \"soon\" is not an RFC 3339 time (2027-01-01T00:00:00Z)");
        bad_request("tag=%3Dx", "tag \"=x\" is not of the form key=value");
        let values: Values = query::parse(Some("limit=1000&after=2027-01-01T00:00:00Z&tag=branch%3D+main")).unwrap();
        assert_eq!(values.tag, Some(Pair(("branch".into(), "main".into()))));
        assert_eq!(
            (PageSize::or_default(values.limit), values.after.map(|t| t.0.timestamp())),
            (1000, Some(1798761600))
        );
        assert_eq!(PageSize::or_default(None), DEFAULT_PAGE);
        assert!(
            matches!(key_value("tag", "=x"), Err(ApiError::BadRequest(m)) if m == "tag \"=x\" is not of the form key=value")
        );
    }
}
