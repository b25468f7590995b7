//! The key layout: per lane a stream, a sorted set of delayed retries, a
//! sorted set of lease deadlines, a set of leases that lost entries and a
//! dead-letter stream, all sharing the `{lane}` hash tag; and one set of
//! every lane that has held a job.

use super::RedisQueue;

/// The consumer group every worker joins.
pub(super) const GROUP: &str = "workers";

/// The keys of one lane; they share the `{lane}` hash tag.
pub(super) struct LaneKeys {
    /// The lane's jobs, read by [`GROUP`].
    pub(super) stream: String,
    /// Retries waiting for their delay, scored by when they are due.
    pub(super) delayed: String,
    /// Leases, scored by their deadline.
    pub(super) leases: String,
    /// Leases that lost some of their entries: their acks take the checked path.
    pub(super) split: String,
    /// Dead letters.
    pub(super) dead: String,
}

impl RedisQueue {
    /// The keys of `lane`.
    pub(super) fn keys(&self, lane: &str) -> LaneKeys {
        let base = lane_base(&self.prefix, lane);
        LaneKeys {
            stream: stream_key(&self.prefix, lane),
            delayed: format!("{base}:delayed"),
            leases: format!("{base}:leases"),
            split: format!("{base}:split"),
            dead: format!("{base}:dead"),
        }
    }

    /// The set of every lane that has held a job.
    pub(super) fn lanes_key(&self) -> String {
        lanes_key(&self.prefix)
    }
}

/// What every key of `lane` under `prefix` starts with.
fn lane_base(prefix: &str, lane: &str) -> String {
    format!("{prefix}:{{{lane}}}")
}

/// The stream of `lane` under `prefix` (see [`LaneKeys::stream`]).
pub(super) fn stream_key(prefix: &str, lane: &str) -> String {
    format!("{}:stream", lane_base(prefix, lane))
}

/// The set of every lane under `prefix` that has held a job.
pub(super) fn lanes_key(prefix: &str) -> String {
    format!("{prefix}:lanes")
}
