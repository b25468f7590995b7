//! Artifact queries: the filters, order and page that `strata ls` and
//! `GET /v1/tenants/{tenant}/artifacts` share, checked here once so both
//! edges refuse the same bad input with the same words.

use crate::artifact::{Artifact, Tier};
use crate::clock::to_millis;
use crate::id::{MAX_PART_LEN, TenantId, WorkflowName, is_invisible, is_reserved};
use chrono::{DateTime, Utc};
use std::cmp::Ordering;
use std::fmt;

/// The largest `latest` (newest artifacts per workflow) a query may ask for.
pub const MAX_LATEST: u32 = 1000;

/// The most tags one query may name, all-of and any-of together.
pub const MAX_QUERY_TAGS: usize = 16;

/// Why a query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A range whose lower end is not below its upper end.
    #[error("{what}: the lower bound {low} is not below the upper bound {high}")]
    EmptyRange {
        /// Which range.
        what: &'static str,
        /// The lower bound given.
        low: String,
        /// The upper bound given.
        high: String,
    },
    /// A size beyond what the catalog stores.
    #[error("{what} {value} is larger than {max}", max = i64::MAX)]
    SizeTooLarge {
        /// Which bound.
        what: &'static str,
        /// The value given.
        value: u64,
    },
    /// `latest` out of 1..=[`MAX_LATEST`].
    #[error("latest must be between 1 and {MAX_LATEST}, not {0}")]
    Latest(u32),
    /// `latest` asks for live artifacts; tombstones have no newest.
    #[error("latest lists live artifacts only; it cannot be combined with deleted ones")]
    LatestWithDeleted,
    /// More than [`MAX_QUERY_TAGS`] tags.
    #[error("at most {MAX_QUERY_TAGS} tags may be named, not {0}")]
    TooManyTags(usize),
    /// A page position of another sort order than the query's.
    #[error("the position is one of a listing sorted by {position}, not by {sort}")]
    PositionSort {
        /// The sort order of the position.
        position: SortKey,
        /// The query's sort order.
        sort: SortKey,
    },
    /// A name pattern that cannot match a name.
    #[error("name pattern {pattern:?} {reason}")]
    Pattern {
        /// The pattern (escaped for display).
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// What a listing is sorted by; ties are broken by catalog id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Tenant, workflow, then name.
    #[default]
    Name,
    /// Creation instant.
    Created,
    /// Original size in bytes.
    Size,
}

impl SortKey {
    /// The name used on the command line and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Created => "created",
            Self::Size => "size",
        }
    }
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SortKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "name" => Ok(Self::Name),
            "created" => Ok(Self::Created),
            "size" => Ok(Self::Size),
            other => Err(format!("unknown sort {other:?} (expected name, created or size)")),
        }
    }
}

/// A glob over artifact names: `*` matches any run of characters, `?` one
/// character, and every other character itself (case-sensitive). Names
/// cannot hold `*` or `?`, so no escape is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern(String);

impl NamePattern {
    /// Parses a pattern: not empty, at most [`MAX_PART_LEN`] bytes, and
    /// besides the wildcards only characters a name may hold.
    pub fn parse(pattern: &str) -> Result<Self, QueryError> {
        let refuse = |reason: String| QueryError::Pattern { pattern: pattern.escape_debug().to_string(), reason };
        if pattern.is_empty() {
            return Err(refuse("is empty".into()));
        }
        if pattern.len() > MAX_PART_LEN {
            return Err(refuse(format!("is longer than {MAX_PART_LEN} bytes")));
        }
        if let Some(c) = pattern.chars().find(|&c| c != '*' && c != '?' && (is_reserved(c) || is_invisible(c))) {
            return Err(refuse(format!("holds {c:?}, which no name can hold")));
        }
        Ok(Self(pattern.to_owned()))
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pattern in SQLite's `GLOB` syntax: `[` is the only other special
    /// character a name can hold.
    pub(crate) fn to_glob(&self) -> String {
        self.0.replace('[', "[[]")
    }

    /// The range `[low, high)` every matching name lies in, in code point
    /// order (which is UTF-8 byte order): the names starting with the
    /// literal prefix before the first wildcard. `None` when the pattern
    /// starts with a wildcard.
    pub(crate) fn prefix_range(&self) -> Option<(String, String)> {
        let low: String = self.0.chars().take_while(|&c| c != '*' && c != '?').collect();
        let mut high = low.clone();
        let last = high.pop()?;
        let next = match last {
            '\u{D7FF}' => '\u{E000}',
            c => char::from_u32(u32::from(c) + 1)?,
        };
        high.push(next);
        Some((low, high))
    }

    /// The pattern in SQL `LIKE` syntax with `\` as the escape: `_` is the
    /// only special character a name can hold (`%` and `\` cannot be in one).
    pub(crate) fn to_like(&self) -> String {
        self.0.replace('_', "\\_").replace('*', "%").replace('?', "_")
    }
}

impl std::str::FromStr for NamePattern {
    type Err = QueryError;
    fn from_str(s: &str) -> Result<Self, QueryError> {
        Self::parse(s)
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a page ends: the sort value and id of its last artifact. The next
/// page starts after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The sort value.
    pub value: SortValue,
    /// The catalog id, which breaks ties.
    pub id: i64,
}

/// The value an artifact is sorted by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortValue {
    /// Tenant, workflow and name (as given: a position need not name a live artifact).
    Name {
        /// The tenant.
        tenant: String,
        /// The workflow.
        workflow: String,
        /// The name.
        name: String,
    },
    /// Creation instant, in milliseconds since the epoch.
    Created(i64),
    /// Original size in bytes.
    Size(i64),
}

impl SortValue {
    /// The sort order this value belongs to.
    pub fn key(&self) -> SortKey {
        match self {
            Self::Name { .. } => SortKey::Name,
            Self::Created(_) => SortKey::Created,
            Self::Size(_) => SortKey::Size,
        }
    }

    /// `a`'s value in the order `key`.
    pub fn of(a: &Artifact, key: SortKey) -> Self {
        match key {
            SortKey::Name => {
                Self::Name { tenant: a.tenant.to_string(), workflow: a.workflow.to_string(), name: a.name.to_string() }
            }
            SortKey::Created => Self::Created(to_millis(a.created_at)),
            SortKey::Size => Self::Size(i64::try_from(a.size).unwrap_or(i64::MAX)),
        }
    }
}

impl PartialOrd for SortValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SortValue {
    /// Byte order of the names, as both catalog databases compare them.
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Name { tenant: t1, workflow: w1, name: n1 }, Self::Name { tenant: t2, workflow: w2, name: n2 }) => {
                (t1.as_bytes(), w1.as_bytes(), n1.as_bytes()).cmp(&(t2.as_bytes(), w2.as_bytes(), n2.as_bytes()))
            }
            (Self::Created(a), Self::Created(b)) | (Self::Size(a), Self::Size(b)) => a.cmp(b),
            (a, b) => (a.key() as u8).cmp(&(b.key() as u8)),
        }
    }
}

/// Which artifacts to list, in which order, from where and how many.
#[derive(Debug, Clone, Default)]
pub struct ArtifactQuery {
    /// Only this tenant's (required over HTTP; the CLI may list every tenant).
    pub tenant: Option<TenantId>,
    /// Only this workflow's.
    pub workflow: Option<WorkflowName>,
    /// Only this tier's.
    pub tier: Option<Tier>,
    /// Only names matching this pattern.
    pub name: Option<NamePattern>,
    /// Only artifacts with every one of these tags (key, value).
    pub all_tags: Vec<(String, String)>,
    /// Only artifacts with at least one of these tags (key, value); none: no such filter.
    pub any_tags: Vec<(String, String)>,
    /// Only artifacts created at or after this instant.
    pub created_after: Option<DateTime<Utc>>,
    /// Only artifacts created before this instant.
    pub created_before: Option<DateTime<Utc>>,
    /// Only artifacts of at least this many bytes (original size).
    pub min_size: Option<u64>,
    /// Only artifacts of at most this many bytes (original size).
    pub max_size: Option<u64>,
    /// Of the artifacts the filters select, only the newest N of each
    /// workflow (by creation, then id).
    pub latest: Option<u32>,
    /// The order.
    pub sort: SortKey,
    /// Reversed: last name, newest or largest first.
    pub descending: bool,
    /// Include purged, deleted and erased tombstones.
    pub include_deleted: bool,
    /// Start after this position (the previous page's last artifact).
    pub after: Option<Position>,
    /// At most this many.
    pub limit: Option<u32>,
}

impl ArtifactQuery {
    /// Refuses a query that cannot mean anything: an empty range, an
    /// out-of-range `latest`, too many tags, a position of another order.
    pub fn check(&self) -> Result<(), QueryError> {
        if let (Some(low), Some(high)) = (self.created_after, self.created_before)
            && low >= high
        {
            let low = low.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            let high = high.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            return Err(QueryError::EmptyRange { what: "created", low, high });
        }
        for (what, size) in [("min_size", self.min_size), ("max_size", self.max_size)] {
            if let Some(value) = size
                && i64::try_from(value).is_err()
            {
                return Err(QueryError::SizeTooLarge { what, value });
            }
        }
        if let (Some(low), Some(high)) = (self.min_size, self.max_size)
            && low > high
        {
            return Err(QueryError::EmptyRange { what: "size", low: low.to_string(), high: high.to_string() });
        }
        if let Some(n) = self.latest {
            if !(1..=MAX_LATEST).contains(&n) {
                return Err(QueryError::Latest(n));
            }
            if self.include_deleted {
                return Err(QueryError::LatestWithDeleted);
            }
        }
        let tags = self.all_tags.len() + self.any_tags.len();
        if tags > MAX_QUERY_TAGS {
            return Err(QueryError::TooManyTags(tags));
        }
        if let Some(after) = &self.after
            && after.value.key() != self.sort
        {
            return Err(QueryError::PositionSort { position: after.value.key(), sort: self.sort });
        }
        Ok(())
    }

    /// The tag filters as groups of which an artifact must match one tag
    /// each: every all-of tag alone, then the any-of tags together.
    pub fn tag_groups(&self) -> impl Iterator<Item = &[(String, String)]> {
        let any = (!self.any_tags.is_empty()).then_some(&self.any_tags[..]);
        self.all_tags.iter().map(std::slice::from_ref).chain(any)
    }

    /// The order of `a` and `b` in this query's listing.
    pub fn order(&self, a: &Artifact, b: &Artifact) -> Ordering {
        let ord = (SortValue::of(a, self.sort), a.id).cmp(&(SortValue::of(b, self.sort), b.id));
        if self.descending { ord.reverse() } else { ord }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_translate_to_both_dialects_and_refuse_what_no_name_holds() {
        let p = NamePattern::parse("nightly_[1]-*.js?").unwrap();
        assert_eq!(p.to_glob(), "nightly_[[]1]-*.js?");
        assert_eq!(p.to_like(), "nightly\\_[1]-%.js_");
        for bad in ["", "a/b", "a%", "a\\b", "a\u{202e}b"] {
            assert!(matches!(NamePattern::parse(bad), Err(QueryError::Pattern { .. })), "{bad:?}");
        }
        assert!(NamePattern::parse(&"x".repeat(MAX_PART_LEN + 1)).is_err());
    }

    #[test]
    fn meaningless_queries_are_refused() {
        let at = |s: &str| Some(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc));
        let q = ArtifactQuery {
            created_after: at("2026-01-02T00:00:00Z"),
            created_before: at("2026-01-01T00:00:00Z"),
            ..ArtifactQuery::default()
        };
        assert!(matches!(q.check(), Err(QueryError::EmptyRange { what: "created", .. })));
        let q = ArtifactQuery { min_size: Some(10), max_size: Some(9), ..ArtifactQuery::default() };
        assert!(matches!(q.check(), Err(QueryError::EmptyRange { what: "size", .. })));
        let q = ArtifactQuery { min_size: Some(10), max_size: Some(10), ..ArtifactQuery::default() };
        assert_eq!(q.check(), Ok(()));
        let q = ArtifactQuery { max_size: Some(u64::MAX), ..ArtifactQuery::default() };
        assert!(matches!(q.check(), Err(QueryError::SizeTooLarge { .. })));
        for n in [0, MAX_LATEST + 1] {
            let q = ArtifactQuery { latest: Some(n), ..ArtifactQuery::default() };
            assert_eq!(q.check(), Err(QueryError::Latest(n)));
        }
        let q = ArtifactQuery { latest: Some(1), include_deleted: true, ..ArtifactQuery::default() };
        assert_eq!(q.check(), Err(QueryError::LatestWithDeleted));
        let tag = ("k".to_owned(), "v".to_owned());
        let q = ArtifactQuery { any_tags: vec![tag; MAX_QUERY_TAGS + 1], ..ArtifactQuery::default() };
        assert_eq!(q.check(), Err(QueryError::TooManyTags(MAX_QUERY_TAGS + 1)));
        let q = ArtifactQuery {
            sort: SortKey::Size,
            after: Some(Position { value: SortValue::Created(1), id: 1 }),
            ..ArtifactQuery::default()
        };
        assert!(matches!(q.check(), Err(QueryError::PositionSort { .. })));
    }
}
