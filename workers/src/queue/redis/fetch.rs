//! Fetches and leases: each fetch reads as a consumer of its own, whose name
//! is the lease token and whose deadline the leases set keeps on the queue's
//! clock; a lease is extended by its holder, and released deliveries go to a
//! spare, already expired lease so the next fetch takes them over without
//! spending an attempt.

use super::keys::GROUP;
use super::{Delivery, QueueError, RedisQueue, millis};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;
use strata_core::clock::{from_millis, to_millis};

/// How often an empty lane is looked at while another lane of the same
/// fetch has work (a restore waits at most this much longer).
const EMPTY_RECHECK: Duration = Duration::from_millis(20);

/// `XREADGROUP`'s reply: per stream, its entries (id, flat field list).
type ReadReply = Vec<(String, Vec<(String, Vec<String>)>)>;

/// A delivery from an entry's id and flat field list; `delivered` counts
/// this entry's deliveries, the `n` field the attempts before it was retried.
fn delivery(lane: &str, lease: &str, id: String, fields: Vec<String>, delivered: i64) -> Delivery {
    let (mut kind, mut payload, mut enqueued, mut before) = (String::new(), String::new(), 0, 0);
    let mut first_failed = None;
    let mut fields = fields.into_iter();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        match name.as_str() {
            "k" => kind = value,
            "p" => payload = value,
            "e" => enqueued = value.parse().unwrap_or(0),
            "n" => before = value.parse().unwrap_or(0),
            "f" => first_failed = value.parse::<i64>().ok().map(from_millis),
            _ => {}
        }
    }
    Delivery {
        id,
        lane: lane.to_owned(),
        kind,
        payload,
        attempts: u32::try_from(before + delivered).unwrap_or(u32::MAX),
        lease: lease.to_owned(),
        enqueued_at: from_millis(enqueued),
        first_failed_at: first_failed,
    }
}

/// Whether a failure says the lane's consumer group is missing (the server's
/// `NOGROUP` code), alone or among the server errors of a pipeline or
/// transaction.
fn is_missing_group(e: &redis::RedisError) -> bool {
    e.clone().into_server_errors().is_some_and(|errors| errors.iter().any(|(_, s)| s.code() == "NOGROUP"))
}

/// Deliveries grouped by lane and lease, each with its entry ids.
pub(super) fn by_lease(deliveries: &[Delivery]) -> BTreeMap<(&str, &str), Vec<&str>> {
    let mut groups: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for d in deliveries {
        groups.entry((&d.lane, &d.lease)).or_default().push(&d.id);
    }
    groups
}

impl RedisQueue {
    /// A new lease: a consumer name unique to this fetch.
    pub(super) fn lease_token(&self) -> String {
        format!("{}:{}", self.consumer, self.fetches.fetch_add(1, Ordering::Relaxed))
    }

    /// Leases up to `max` deliveries from `lanes` in order (see `Queue::fetch`).
    pub(super) async fn fetch_lanes(
        &self,
        lanes: &[String],
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        let now = to_millis(self.clock.now());
        let deadline = now.saturating_add(millis(visibility));
        let mut out = Vec::new();
        // While one of these lanes has work, an empty one ahead of it is
        // looked at again only every EMPTY_RECHECK: each look is a round
        // trip that waits behind the busy lane's acknowledgements.
        let busy_here = self.lanes.any_busy(lanes);
        for lane in lanes {
            let room = max.saturating_sub(out.len());
            if room == 0 {
                break;
            }
            if busy_here && self.lanes.empty_within(lane, EMPTY_RECHECK) {
                continue;
            }
            self.ensure_group(lane).await?;
            let fetched = match self.fetch_lane(lane, room, now, deadline).await {
                // The lane's consumer group is gone (a Redis that lost its
                // data): create it again and read.
                Err(e) if is_missing_group(&e) => {
                    tracing::warn!(lane, "The lane's consumer group is missing; creating it again");
                    self.lanes.set_group(lane, false);
                    self.ensure_group(lane).await?;
                    self.fetch_lane(lane, room, now, deadline).await.map_err(self.err())?
                }
                fetched => fetched.map_err(self.err())?,
            };
            self.lanes.set_empty(lane, fetched.is_empty());
            out.extend(fetched);
        }
        Ok(out)
    }

    /// Fetches at most `room` deliveries from one lane (whose group exists).
    async fn fetch_lane(
        &self,
        lane: &str,
        room: usize,
        now: i64,
        deadline: i64,
    ) -> Result<Vec<Delivery>, redis::RedisError> {
        let mut con = self.con.clone();
        let k = self.keys(lane);
        let token = self.lease_token();
        let mut taken_over = Vec::new();
        if !self.lanes.is_tidy(lane) {
            taken_over = self.maintain(&k, now, room, deadline, &token).await?;
        }
        let room = room - taken_over.len();
        let mut fresh = Vec::new();
        // Whether this fetch created a consumer and lease it must remove if
        // it delivers nothing.
        let mut created = false;
        if room > 0 {
            let due_or_expired = if !self.lanes.is_empty(lane) {
                // One round trip: read new entries, stamp the lease, and look
                // whether a retry is due or a lease has expired.
                created = true;
                let (due, expired, reply): (Vec<String>, Vec<String>, Option<ReadReply>) = redis::pipe()
                    .atomic()
                    .cmd("ZRANGEBYSCORE")
                    .arg(&k.delayed)
                    .arg("-inf")
                    .arg(now)
                    .arg("LIMIT")
                    .arg(0)
                    .arg(1)
                    .cmd("ZRANGEBYSCORE")
                    .arg(&k.leases)
                    .arg("-inf")
                    .arg(format!("({now}"))
                    .arg("LIMIT")
                    .arg(0)
                    .arg(1)
                    .cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(GROUP)
                    .arg(&token)
                    .arg("COUNT")
                    .arg(room)
                    .arg("STREAMS")
                    .arg(&k.stream)
                    .arg(">")
                    .cmd("ZADD")
                    .arg(&k.leases)
                    .arg(deadline)
                    .arg(&token)
                    .ignore()
                    .query_async(&mut con)
                    .await?;
                fresh = reply.unwrap_or_default().into_iter().flat_map(|(_, entries)| entries).collect();
                !(due.is_empty() && expired.is_empty())
            } else {
                let (flag, entries): (i64, Vec<(String, Vec<String>)>) = self
                    .scripts
                    .read_if_new
                    .key(&k.stream)
                    .key(&k.delayed)
                    .key(&k.leases)
                    .arg(now)
                    .arg(room)
                    .arg(deadline)
                    .arg(&token)
                    .arg(GROUP)
                    .invoke_async(&mut con)
                    .await?;
                fresh = entries;
                flag == 1
            };
            self.lanes.set_tidy(lane, !due_or_expired);
            let room = room - fresh.len();
            if room > 0 && due_or_expired {
                taken_over.extend(self.maintain(&k, now, room, deadline, &token).await?);
            }
        }
        if taken_over.is_empty() && fresh.is_empty() {
            if created {
                redis::pipe()
                    .cmd("ZREM")
                    .arg(&k.leases)
                    .arg(&token)
                    .ignore()
                    .cmd("XGROUP")
                    .arg("DELCONSUMER")
                    .arg(&k.stream)
                    .arg(GROUP)
                    .arg(&token)
                    .ignore()
                    .query_async::<()>(&mut con)
                    .await?;
            }
            return Ok(Vec::new());
        }
        let fresh = fresh.into_iter().map(|(id, fields)| (id, fields, 1));
        Ok(taken_over
            .into_iter()
            .chain(fresh)
            .map(|(id, fields, delivered)| delivery(lane, &token, id, fields, delivered))
            .collect())
    }

    /// Extends the lease holding `delivery` (see `Queue::extend`).
    pub(super) async fn extend_lease(&self, delivery: &Delivery, visibility: Duration) -> Result<bool, QueueError> {
        let deadline = to_millis(self.clock.now()).saturating_add(millis(visibility));
        let k = self.keys(&delivery.lane);
        let mut con = self.acks.clone();
        let mut call = self.scripts.extend.key(&k.stream);
        call.key(&k.leases).arg(GROUP).arg(&delivery.lease).arg(&delivery.id).arg(deadline);
        Ok(call.invoke_async::<i64>(&mut con).await.map_err(self.err())? == 1)
    }

    /// Gives deliveries back without spending their attempt (see `Queue::release`).
    pub(super) async fn release_leased(&self, deliveries: &[Delivery]) -> Result<(), QueueError> {
        let mut con = self.acks.clone();
        for ((lane, lease), ids) in by_lease(deliveries) {
            let k = self.keys(lane);
            let spare = self.lease_token();
            let mut call = self.scripts.release.key(&k.stream);
            call.key(&k.leases).key(&k.split).arg(GROUP).arg(lease).arg(&spare).arg(ids);
            call.invoke_async::<i64>(&mut con).await.map_err(self.err())?;
        }
        Ok(())
    }
}
