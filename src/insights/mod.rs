//! Insights on what a tenant stores: baselines (a named snapshot of a set
//! of artifacts) and comparisons of any set against one, or against the
//! artifacts carrying a tag; and size trends per workflow, per day or per
//! run, with the compression ratio.

mod compare;
mod ops;
mod trend;

pub use compare::{Change, Comparison, Member, compare};
pub use trend::{TrendBy, TrendPoint};

use crate::id::{TenantId, WorkflowName};
use crate::query::{ArtifactQuery, NamePattern};

/// The most artifacts one side of a comparison, or one baseline, may hold.
pub const MAX_SET: usize = 100_000;

/// A set of live artifacts: those of a tenant (or one of its workflows)
/// carrying every tag given and, with a pattern, whose name matches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactSet {
    /// The tenant.
    pub tenant: TenantId,
    /// Only this workflow.
    pub workflow: Option<WorkflowName>,
    /// Every one of these tags.
    pub tags: Vec<(String, String)>,
    /// Only names matching.
    pub name: Option<NamePattern>,
}

impl ArtifactSet {
    /// The query selecting the set (without paging).
    pub fn query(&self) -> ArtifactQuery {
        ArtifactQuery {
            tenant: Some(self.tenant.clone()),
            workflow: self.workflow.clone(),
            name: self.name.clone(),
            all_tags: self.tags.clone(),
            ..ArtifactQuery::default()
        }
    }

    /// The set as one line: `acme/nightly tag run=7 name *.tar`.
    pub fn describe(&self) -> String {
        let mut out = self.tenant.to_string();
        if let Some(w) = &self.workflow {
            out.push('/');
            out.push_str(w.as_str());
        }
        for (k, v) in &self.tags {
            out.push_str(&format!(" tag {k}={v}"));
        }
        if let Some(n) = &self.name {
            out.push_str(&format!(" name {n}"));
        }
        out
    }
}

/// What a comparison is against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Against {
    /// A baseline marked earlier, by name.
    Baseline(String),
    /// The live artifacts of the same tenant (and workflow, when the set
    /// names one) carrying this tag now.
    Tag(String, String),
}

impl Against {
    /// Parses `NAME` or `tag:KEY=VALUE`.
    pub fn parse(s: &str) -> Result<Self, InsightError> {
        match s.strip_prefix("tag:") {
            Some(pair) => match pair.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok(Against::Tag(k.to_owned(), v.to_owned())),
                _ => Err(InsightError::Against(s.to_owned())),
            },
            None => {
                check_baseline_name(s)?;
                Ok(Against::Baseline(s.to_owned()))
            }
        }
    }
}

impl std::fmt::Display for Against {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Against::Baseline(name) => write!(f, "baseline {name}"),
            Against::Tag(k, v) => write!(f, "tag {k}={v}"),
        }
    }
}

/// The longest baseline name.
const MAX_NAME: usize = 128;

/// Checks a baseline name: 1 to 128 characters of letters, digits, `.`,
/// `_` and `-`, not starting with `tag:`.
pub fn check_baseline_name(name: &str) -> Result<(), InsightError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok { Ok(()) } else { Err(InsightError::Name(name.chars().take(MAX_NAME).collect())) }
}

/// A refused insight request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InsightError {
    /// A baseline name that cannot be one.
    #[error("baseline name {0:?} must be 1 to 128 letters, digits, '.', '_' or '-'")]
    Name(String),
    /// Neither a baseline name nor `tag:KEY=VALUE`.
    #[error("{0:?} is neither a baseline name nor tag:KEY=VALUE")]
    Against(String),
    /// The baseline exists (and replacing was not asked for).
    #[error("tenant {tenant} already has a baseline {name}; pass --replace (replace=true) to mark it again")]
    Exists {
        /// The tenant.
        tenant: String,
        /// The name.
        name: String,
    },
    /// No such baseline.
    #[error("tenant {tenant} has no baseline {name}")]
    NotFound {
        /// The tenant.
        tenant: String,
        /// The name.
        name: String,
    },
    /// A set larger than [`MAX_SET`].
    #[error("{set} holds more than {MAX_SET} artifacts; narrow it (a workflow, a tag or a name pattern)")]
    TooLarge {
        /// The set, described.
        set: String,
    },
    /// A grouping that is not `day`, `run` or `tag:KEY`.
    #[error("{0:?} is not a grouping; expected day, run or tag:KEY")]
    By(String),
}
