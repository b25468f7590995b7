//! What this process remembers of each lane between fetches, kept in one
//! structure under one lock: whether the lane's consumer group is known to
//! exist, whether its latest fetch found nothing to maintain, and since when
//! it has been found empty. A lane never seen is in the default state:
//! group unknown, maintenance due, busy.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One lane's state.
#[derive(Debug, Default, Clone, Copy)]
struct LaneState {
    /// Its consumer group is known to exist.
    group: bool,
    /// Its latest fetch saw no due retry and no expired lease, so the next
    /// one skips maintenance.
    tidy: bool,
    /// When it was last found empty; `None` while it is busy. An empty lane
    /// is read with a script that writes nothing while it stays empty.
    empty_since: Option<Instant>,
}

/// The state of every lane this process has fetched from.
#[derive(Debug, Default)]
pub(super) struct LaneStates(Mutex<HashMap<String, LaneState>>);

impl LaneStates {
    fn get(&self, lane: &str) -> LaneState {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(lane).copied().unwrap_or_default()
    }

    fn update(&self, lane: &str, change: impl FnOnce(&mut LaneState)) {
        change(self.0.lock().unwrap_or_else(|e| e.into_inner()).entry(lane.to_owned()).or_default());
    }

    /// Whether the lane's consumer group is known to exist.
    pub(super) fn has_group(&self, lane: &str) -> bool {
        self.get(lane).group
    }

    /// Records whether the lane's consumer group is known to exist.
    pub(super) fn set_group(&self, lane: &str, exists: bool) {
        self.update(lane, |s| s.group = exists);
    }

    /// Whether the lane's latest fetch found nothing to maintain.
    pub(super) fn is_tidy(&self, lane: &str) -> bool {
        self.get(lane).tidy
    }

    /// Records whether the lane's latest fetch found nothing to maintain.
    pub(super) fn set_tidy(&self, lane: &str, tidy: bool) {
        self.update(lane, |s| s.tidy = tidy);
    }

    /// Whether the lane was found empty last time.
    pub(super) fn is_empty(&self, lane: &str) -> bool {
        self.get(lane).empty_since.is_some()
    }

    /// Whether the lane was found empty less than `within` ago.
    pub(super) fn empty_within(&self, lane: &str, within: Duration) -> bool {
        self.get(lane).empty_since.is_some_and(|at| at.elapsed() < within)
    }

    /// Records that a fetch found the lane empty (now) or not.
    pub(super) fn set_empty(&self, lane: &str, empty: bool) {
        self.update(lane, |s| s.empty_since = empty.then(Instant::now));
    }

    /// Whether any of `lanes` is busy (not found empty last time).
    pub(super) fn any_busy(&self, lanes: &[String]) -> bool {
        let states = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lanes.iter().any(|l| states.get(l).is_none_or(|s| s.empty_since.is_none()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_never_seen_has_no_known_group_needs_maintenance_and_is_busy() {
        let lanes = LaneStates::default();
        assert!(!lanes.has_group("default"));
        assert!(!lanes.is_tidy("default"));
        assert!(!lanes.is_empty("default"));
        assert!(lanes.any_busy(&["default".to_owned()]));
    }

    #[test]
    fn each_part_of_a_lane_state_changes_alone() {
        let lanes = LaneStates::default();
        let both = ["priority".to_owned(), "default".to_owned()];
        lanes.set_group("default", true);
        lanes.set_tidy("default", true);
        lanes.set_empty("default", true);
        assert!(lanes.has_group("default") && lanes.is_tidy("default") && lanes.is_empty("default"));
        assert!(lanes.empty_within("default", Duration::from_secs(3600)));
        assert!(!lanes.empty_within("default", Duration::ZERO));
        assert!(lanes.any_busy(&both), "the priority lane was never seen");
        lanes.set_empty("priority", true);
        assert!(!lanes.any_busy(&both));
        lanes.set_group("default", false);
        assert!(!lanes.has_group("default"));
        assert!(lanes.is_tidy("default") && lanes.is_empty("default"), "the rest of the state stays");
        lanes.set_empty("default", false);
        assert!(!lanes.is_empty("default") && lanes.any_busy(&both));
        assert!(!lanes.has_group("priority") && !lanes.is_tidy("priority"));
    }
}
