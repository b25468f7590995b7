//! The lanes jobs go on, and the depth of each.

use crate::{LaneStats, Queue, QueueError};
use strata_core::config::Config;
use strata_jobs::payload::{DEFAULT_LANE, PRIORITY_LANE};

/// The lanes a default worker consumes: the priority lane first, then the shared lane.
pub fn default_lanes() -> Vec<String> {
    vec![PRIORITY_LANE.to_owned(), DEFAULT_LANE.to_owned()]
}

/// Every lane jobs can be on: the default lanes, then each tenant lane.
pub fn all_lanes(config: &Config) -> Vec<String> {
    default_lanes().into_iter().chain(config.queue.tenant_lanes.iter().cloned()).collect()
}

/// The depth of every configured lane (zeros for a lane that never held a
/// job) and of any other lane the queue knows, by name.
pub async fn lane_stats(queue: &dyn Queue, config: &Config) -> Result<Vec<LaneStats>, QueueError> {
    let mut stats = queue.stats().await?;
    for lane in all_lanes(config) {
        if !stats.iter().any(|s| s.lane == lane) {
            stats.push(LaneStats { lane, ..LaneStats::default() });
        }
    }
    stats.sort_by(|a, b| a.lane.cmp(&b.lane));
    Ok(stats)
}
