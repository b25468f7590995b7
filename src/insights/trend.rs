//! Size trends: what each workflow produced per day, or per run, and how
//! well it compresses.

use super::InsightError;
use serde::Serialize;

/// How a trend groups artifacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrendBy {
    /// By the UTC day each was created.
    Day,
    /// By the value of this tag (`run` for `--by run`), in the order each
    /// group's first artifact was created; artifacts without it are left out.
    Tag(String),
}

impl TrendBy {
    /// Parses `day`, `run` or `tag:KEY`.
    pub fn parse(s: &str) -> Result<Self, InsightError> {
        match s {
            "day" => Ok(TrendBy::Day),
            "run" => Ok(TrendBy::Tag("run".into())),
            _ => match s.strip_prefix("tag:") {
                Some(key) if !key.is_empty() && key.chars().count() <= 128 => Ok(TrendBy::Tag(key.to_owned())),
                _ => Err(InsightError::By(s.chars().take(140).collect())),
            },
        }
    }
}

/// One group of one workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    /// The workflow.
    pub workflow: String,
    /// The group: a day (`2026-12-01`) or the tag's value.
    pub bucket: String,
    /// When its first artifact was created.
    pub first_at: chrono::DateTime<chrono::Utc>,
    /// Artifacts created in it (every version, whatever became of it).
    pub artifacts: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Their bytes as stored (after compression).
    pub stored_bytes: u64,
    /// `bytes / stored_bytes` (1 when nothing is compressed).
    pub compression_ratio: f64,
}

impl TrendPoint {
    /// A point from its sums; the ratio is computed here.
    pub(crate) fn new(
        workflow: String,
        bucket: String,
        first_at: chrono::DateTime<chrono::Utc>,
        artifacts: u64,
        bytes: u64,
        stored_bytes: u64,
    ) -> Self {
        let ratio = if stored_bytes == 0 { 1.0 } else { bytes as f64 / stored_bytes as f64 };
        Self {
            workflow,
            bucket,
            first_at,
            artifacts,
            bytes,
            stored_bytes,
            compression_ratio: (ratio * 100.0).round() / 100.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groupings_parse() {
        assert_eq!(TrendBy::parse("day"), Ok(TrendBy::Day));
        assert_eq!(TrendBy::parse("run"), Ok(TrendBy::Tag("run".into())));
        assert_eq!(TrendBy::parse("tag:build"), Ok(TrendBy::Tag("build".into())));
        assert!(TrendBy::parse("tag:").is_err());
        assert!(TrendBy::parse("week").is_err());
    }
}
