//! Comparing two sets of artifacts, matched by workflow and name.

use serde::Serialize;
use std::collections::BTreeMap;

/// An artifact as a comparison sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// Its workflow.
    pub workflow: String,
    /// Its name.
    pub name: String,
    /// blake3 of its bytes, hex.
    pub blake3: String,
    /// Its size in bytes.
    pub size: u64,
}

/// One artifact that differs between the sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    /// Its workflow.
    pub workflow: String,
    /// Its name.
    pub name: String,
    /// Its size in the baseline, if it is there.
    pub baseline_size: Option<u64>,
    /// Its size now, if it is in the compared set.
    pub current_size: Option<u64>,
    /// Its digest in the baseline.
    pub baseline_blake3: Option<String>,
    /// Its digest now.
    pub current_blake3: Option<String>,
    /// Size now minus size in the baseline (a missing side counts 0).
    pub delta_bytes: i64,
}

/// What changed from a baseline to a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Comparison {
    /// The compared set, described.
    pub set: String,
    /// What it was compared with.
    pub against: String,
    /// In the set, not in the baseline.
    pub added: Vec<Change>,
    /// In the baseline, not in the set.
    pub removed: Vec<Change>,
    /// In both, with another digest.
    pub changed: Vec<Change>,
    /// In both, with the same digest.
    pub unchanged: u64,
    /// The baseline's artifacts and bytes.
    pub baseline_artifacts: u64,
    /// The baseline's bytes.
    pub baseline_bytes: u64,
    /// The set's artifacts.
    pub current_artifacts: u64,
    /// The set's bytes.
    pub current_bytes: u64,
    /// `current_bytes - baseline_bytes`.
    pub delta_bytes: i64,
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Compares `current` with `baseline`, matching members by workflow and
/// name; each list is in workflow and name order.
pub fn compare(set: String, against: String, baseline: &[Member], current: &[Member]) -> Comparison {
    let key = |m: &Member| (m.workflow.clone(), m.name.clone());
    let before: BTreeMap<_, &Member> = baseline.iter().map(|m| (key(m), m)).collect();
    let after: BTreeMap<_, &Member> = current.iter().map(|m| (key(m), m)).collect();
    let change = |b: Option<&Member>, c: Option<&Member>| {
        let m = b.or(c).unwrap_or_else(|| unreachable!("a change has a side"));
        Change {
            workflow: m.workflow.clone(),
            name: m.name.clone(),
            baseline_size: b.map(|b| b.size),
            current_size: c.map(|c| c.size),
            baseline_blake3: b.map(|b| b.blake3.clone()),
            current_blake3: c.map(|c| c.blake3.clone()),
            delta_bytes: signed(c.map_or(0, |c| c.size)) - signed(b.map_or(0, |b| b.size)),
        }
    };
    let mut out = Comparison {
        set,
        against,
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        unchanged: 0,
        baseline_artifacts: before.len() as u64,
        baseline_bytes: before.values().map(|m| m.size).sum(),
        current_artifacts: after.len() as u64,
        current_bytes: after.values().map(|m| m.size).sum(),
        delta_bytes: 0,
    };
    out.delta_bytes = signed(out.current_bytes) - signed(out.baseline_bytes);
    for (k, b) in &before {
        match after.get(k) {
            None => out.removed.push(change(Some(b), None)),
            Some(c) if c.blake3 != b.blake3 => out.changed.push(change(Some(b), Some(c))),
            Some(_) => out.unchanged += 1,
        }
    }
    for (k, c) in &after {
        if !before.contains_key(k) {
            out.added.push(change(None, Some(c)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(workflow: &str, name: &str, blake3: &str, size: u64) -> Member {
        Member { workflow: workflow.into(), name: name.into(), blake3: blake3.into(), size }
    }

    #[test]
    fn sets_are_matched_by_workflow_and_name() {
        let baseline = [m("w", "a", "1", 10), m("w", "b", "2", 20), m("w", "c", "3", 30), m("x", "a", "4", 5)];
        let current = [m("w", "a", "1", 10), m("w", "b", "9", 25), m("w", "d", "5", 7), m("x", "a", "4", 5)];
        let c = compare("s".into(), "baseline r".into(), &baseline, &current);
        assert_eq!(c.unchanged, 2);
        assert_eq!(c.added.len(), 1);
        assert_eq!((c.added[0].name.as_str(), c.added[0].delta_bytes, c.added[0].baseline_size), ("d", 7, None));
        assert_eq!(c.removed.len(), 1);
        assert_eq!((c.removed[0].name.as_str(), c.removed[0].delta_bytes), ("c", -30));
        assert_eq!(c.changed.len(), 1);
        let b = &c.changed[0];
        assert_eq!((b.name.as_str(), b.baseline_size, b.current_size, b.delta_bytes), ("b", Some(20), Some(25), 5));
        assert_eq!((b.baseline_blake3.as_deref(), b.current_blake3.as_deref()), (Some("2"), Some("9")));
        assert_eq!((c.baseline_bytes, c.current_bytes, c.delta_bytes), (65, 47, -18));
        assert_eq!((c.baseline_artifacts, c.current_artifacts), (4, 4));
    }

    #[test]
    fn a_set_compared_with_itself_is_unchanged() {
        let set = [m("w", "a", "1", 10), m("w", "b", "2", 20)];
        let c = compare("s".into(), "t".into(), &set, &set);
        assert!(c.added.is_empty() && c.removed.is_empty() && c.changed.is_empty());
        assert_eq!((c.unchanged, c.delta_bytes), (2, 0));
    }
}
