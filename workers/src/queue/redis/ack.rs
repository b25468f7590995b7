//! Acknowledgements and failures, on the second connection so that they
//! travel while the next fetch is in flight. A stale holder's ack or failure
//! is refused because its consumer no longer owns the entry.

use super::fetch::by_lease;
use super::keys::GROUP;
use super::{Delivery, Failure, QueueError, RedisQueue, millis};
use strata_core::clock::to_millis;

/// Entries acknowledged per script call (Lua's `unpack` has a stack limit).
const ACK_CHUNK: usize = 1000;

impl RedisQueue {
    /// Acknowledges what the deliveries' leases still hold (see `Queue::ack`).
    pub(super) async fn ack_leased(&self, deliveries: &[Delivery]) -> Result<(), QueueError> {
        let now = to_millis(self.clock.now());
        let mut con = self.acks.clone();
        for ((lane, lease), ids) in by_lease(deliveries) {
            let k = self.keys(lane);
            for chunk in ids.chunks(ACK_CHUNK) {
                let mut call = self.scripts.ack.key(&k.stream);
                call.key(&k.leases).key(&k.split).arg(GROUP).arg(lease).arg(now).arg(chunk);
                call.invoke_async::<i64>(&mut con).await.map_err(self.err())?;
            }
        }
        Ok(())
    }

    /// Records a failed delivery: a delayed retry or a dead letter (see `Queue::fail`).
    pub(super) async fn fail_leased(
        &self,
        delivery: &Delivery,
        error: &str,
        failure: Failure,
    ) -> Result<(), QueueError> {
        let now = to_millis(self.clock.now());
        let (mode, until) = match failure {
            Failure::Retry(delay) => ("retry", now.saturating_add(millis(delay))),
            Failure::Transient(delay) => ("transient", now.saturating_add(millis(delay))),
            Failure::Dead => ("dead", now),
        };
        let k = self.keys(&delivery.lane);
        let mut con = self.acks.clone();
        let mut call = self.scripts.fail.key(&k.stream);
        call.key(&k.leases)
            .key(&k.split)
            .key(&k.delayed)
            .key(&k.dead)
            .arg(GROUP)
            .arg(&delivery.lease)
            .arg(&delivery.id)
            .arg(mode)
            .arg(now)
            .arg(until)
            .arg(error)
            .arg(self.retention.max_count.min(i64::MAX as u64))
            .arg(now.saturating_sub(millis(self.retention.max_age)).max(0));
        call.invoke_async::<i64>(&mut con).await.map_err(self.err())?;
        Ok(())
    }
}
