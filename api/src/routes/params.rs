//! Parsing what a request says besides its body: path identifiers, query
//! pairs, `key=value` tags and instants. Every failure is a 400 that names
//! what was wrong.

use crate::error::ApiError;
use chrono::{DateTime, Utc};
use strata_core::id::{ArtifactKey, ArtifactName, TenantId, WorkflowName};
use strata_core::retention::Target;

/// The artifact key of a `{tenant}/{workflow}/{name}` path.
pub fn artifact_key(tenant: &str, workflow: &str, name: &str) -> Result<ArtifactKey, ApiError> {
    Ok(ArtifactKey {
        tenant: TenantId::parse(tenant)?,
        workflow: WorkflowName::parse(workflow)?,
        name: ArtifactName::parse(name)?,
    })
}

/// The decoded pairs of a query string, refusing names not in `known`.
pub fn query_pairs(query: Option<&str>, known: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if let Some((k, _)) = pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        let k: String = k.chars().take(64).collect();
        return Err(ApiError::BadRequest(format!("unknown query parameter {k:?} (accepted: {})", known.join(", "))));
    }
    Ok(pairs)
}

/// The single value of query parameter `name`, if given; twice is an error.
pub fn single<'a>(pairs: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::BadRequest(format!("query parameter {name:?} is given more than once")));
    }
    Ok(first)
}

/// Parses `key=value` (a tag or a metadata entry).
pub fn key_value(what: &str, s: &str) -> Result<(String, String), ApiError> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !k.chars().any(char::is_control) && !v.chars().any(char::is_control) => {
            Ok((k.trim().to_owned(), v.trim().to_owned()))
        }
        _ => {
            let shown: String = s.chars().take(64).collect();
            Err(ApiError::BadRequest(format!("{what} {shown:?} is not of the form key=value")))
        }
    }
}

/// Parses an RFC 3339 instant.
pub fn instant(what: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        let shown: String = s.chars().take(64).collect();
        ApiError::BadRequest(format!("{what} {shown:?} is not an RFC 3339 time (2027-01-01T00:00:00Z)"))
    })
}

/// The page size named by query parameter `limit`: `default` when absent,
/// else a number from 1 to `max`.
pub fn page_size(pairs: &[(String, String)], default: u32, max: u32) -> Result<u32, ApiError> {
    match single(pairs, "limit")? {
        None => Ok(default),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::BadRequest(format!("limit must be a number from 1 to {max}"))),
    }
}

/// The boolean query parameter `name`; false when absent.
pub fn flag(pairs: &[(String, String)], name: &str) -> Result<bool, ApiError> {
    single(pairs, name)?.map(|v| boolean(name, v)).transpose().map(Option::unwrap_or_default)
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

/// Parses a boolean query value.
pub fn boolean(what: &str, s: &str) -> Result<bool, ApiError> {
    match s {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::BadRequest(format!("{what} must be true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_bad_names_are_rejected() {
        assert!(artifact_key("acme", "wf", "a.txt").is_ok());
        for (t, w, n) in [("acme", "wf", "../x"), ("..", "wf", "x"), ("acme", "wf", "a/b"), ("acme", "", "x")] {
            assert!(matches!(artifact_key(t, w, n), Err(ApiError::InvalidIdentifier(_))), "{t}/{w}/{n}");
        }
    }

    #[test]
    fn queries_refuse_unknown_and_repeated_names() {
        let pairs = query_pairs(Some("tag=a%3Db&tag=c=d&limit=5"), &["tag", "limit"]).unwrap();
        assert_eq!(pairs[0], ("tag".into(), "a=b".into()));
        assert_eq!(single(&pairs, "limit").unwrap(), Some("5"));
        let bad_request = |r: Result<_, ApiError>, says: &str| match r {
            Err(ApiError::BadRequest(m)) => assert!(m.contains(says), "{m:?} should say {says:?}"),
            other => panic!("a bad request saying {says:?}, not {other:?}"),
        };
        bad_request(single(&pairs, "tag").map(|_| ()), "\"tag\" is given more than once");
        bad_request(query_pairs(Some("bogus=1"), &["tag"]).map(|_| ()), "unknown query parameter \"bogus\"");
        assert_eq!(key_value("tag", "branch=main").unwrap(), ("branch".into(), "main".into()));
        bad_request(key_value("tag", "=x").map(|_| ()), "tag \"=x\" is not of the form key=value");
    }
}
