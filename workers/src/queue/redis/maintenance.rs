//! Maintenance a fetch does first when a lane needs it: due retries moved
//! back to the stream in bounded batches, entries of expired leases taken
//! over; and the consumer groups and the set of known lanes.

use super::keys::{GROUP, LaneKeys};
use super::{QueueError, RedisQueue};
use redis::AsyncCommands;

/// Delayed retries moved back per lane per fetch.
const MOVE_BATCH: usize = 1000;

/// Entries a maintenance pass hands over: id, flat field list, deliveries.
pub(super) type TakenOver = Vec<(String, Vec<String>, i64)>;

impl RedisQueue {
    /// Moves due retries back to the lane's stream and takes over at most
    /// `room` entries of expired leases for the lease `token`.
    pub(super) async fn maintain(
        &self,
        k: &LaneKeys,
        now: i64,
        room: usize,
        deadline: i64,
        token: &str,
    ) -> Result<TakenOver, redis::RedisError> {
        let mut con = self.con.clone();
        self.scripts
            .maintain
            .key(&k.stream)
            .key(&k.delayed)
            .key(&k.leases)
            .key(&k.split)
            .arg(now)
            .arg(room)
            .arg(deadline)
            .arg(token)
            .arg(GROUP)
            .arg(MOVE_BATCH)
            .invoke_async(&mut con)
            .await
    }

    /// Creates the lane's consumer group unless this process knows it exists.
    pub(super) async fn ensure_group(&self, lane: &str) -> Result<(), QueueError> {
        if self.lanes.has_group(lane) {
            return Ok(());
        }
        let mut con = self.con.clone();
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.keys(lane).stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut con)
            .await;
        match created {
            Ok(()) => {}
            Err(e) if e.code() == Some("BUSYGROUP") => {}
            Err(e) => return Err(self.err()(e)),
        }
        self.lanes.set_group(lane, true);
        Ok(())
    }

    /// Every lane that has held a job, by name.
    pub(super) async fn known_lanes(&self) -> Result<Vec<String>, QueueError> {
        let mut con = self.con.clone();
        let mut lanes: Vec<String> = con.smembers(self.lanes_key()).await.map_err(self.err())?;
        lanes.sort();
        Ok(lanes)
    }
}
