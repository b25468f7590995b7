//! The scale-out queue on Redis Streams: one stream per lane read by a
//! consumer group, a sorted set of delayed retries per lane moved back in
//! bounded batches, and a dead-letter stream per lane.
//!
//! Leases are strata's own, one per fetch: each fetch reads as a consumer of
//! its own (named after the worker, so a restarted worker never collides),
//! whose name is the lease token, and a sorted set keeps each lease's
//! deadline on the queue's clock. The stream's pending-entries list says
//! which entries a lease still owns and how often each was delivered, so the
//! per-entry work is only Redis's own (`XREADGROUP`, `XACK`, `XDEL`). Expired
//! leases are taken over with `XCLAIM`; a stale holder's ack, failure or
//! extension is refused because its consumer no longer owns the entry.
//! Keeping the lease clock in strata (rather than Redis's idle time) lets
//! leases be extended by the holder and lets tests inject time. Every
//! multi-step change is one Lua script or `MULTI` block, so it is atomic; all
//! keys of a lane share a hash tag (`{lane}`), so the layout works on Redis
//! Cluster.
//!
//! By concern: `keys` (the layout), `fetch` (fetches and leases), `ack`
//! (acknowledgements and failures), `dead` (dead letters), `maintenance`
//! (due retries, expired leases, consumer groups), `lane_state` (what this
//! process remembers of each lane) and `scripts` (the Lua scripts, in
//! `lua/`).

mod ack;
mod dead;
mod fetch;
mod health;
mod keys;
mod lane_state;
mod maintenance;
mod scripts;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
pub use health::{LaneGroup, RedisHealth, health};
use keys::GROUP;
use lane_state::LaneStates;
use redis::aio::ConnectionManager;
use scripts::Scripts;
use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use strata_core::clock::{SharedClock, to_millis};
use strata_queue::{
    DeadFilter, DeadLetter, DeadLetterRetention, Delivery, Failure, LaneStats, NewJob, Queue, QueueError,
};

/// How long one command or pipeline may take to answer.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The Redis Streams queue.
pub struct RedisQueue {
    con: ConnectionManager,
    /// A second connection for acknowledgements, so they travel while the
    /// next fetch is in flight.
    acks: ConnectionManager,
    /// The URL as messages show it (password redacted).
    shown_url: String,
    prefix: String,
    consumer: String,
    fetches: AtomicU64,
    clock: SharedClock,
    retention: DeadLetterRetention,
    /// What this process remembers of each lane between fetches.
    lanes: LaneStates,
    scripts: Scripts,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue").field("prefix", &self.prefix).field("consumer", &self.consumer).finish()
    }
}

fn backend(url: &str) -> impl Fn(redis::RedisError) -> QueueError + '_ {
    move |e| QueueError::Backend(format!("Redis at {}: {e}", redact(url)))
}

/// The URL with any password replaced, fit for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The name this process consumes under: host, pid and a random suffix, so a
/// restarted worker never collides with its previous incarnation.
fn consumer_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "host".into());
    format!("{host}-{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8])
}

impl RedisQueue {
    /// Connects to `url`, failing fast with an error naming it. Keys start
    /// with `prefix` (e.g. `strata`).
    pub async fn connect(url: &str, prefix: &str, clock: SharedClock) -> Result<Self, QueueError> {
        let client = redis::Client::open(url).map_err(backend(url))?;
        // A batch (up to 10,000 jobs in one pipeline, on a Redis that may
        // fsync every write) can take longer than the client's default 500 ms
        // to answer; a Redis that is down fails at once, not by this timeout.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(3);
        let connect = || async {
            tokio::time::timeout(
                Duration::from_secs(10),
                ConnectionManager::new_with_config(client.clone(), config.clone()),
            )
            .await
            .map_err(|_| QueueError::Backend(format!("Redis at {}: timed out connecting", redact(url))))?
            .map_err(backend(url))
        };
        let con = connect().await?;
        let acks = connect().await?;
        let mut probe = con.clone();
        let info: String = redis::cmd("INFO").arg("server").query_async(&mut probe).await.map_err(backend(url))?;
        let version = info.lines().find_map(|l| l.strip_prefix("redis_version:")).unwrap_or("unknown").trim();
        if !health::supported(version) {
            return Err(QueueError::Backend(format!(
                "Redis at {} is version {version}; strata needs Redis 7.0 or later",
                redact(url)
            )));
        }
        Ok(Self {
            con,
            acks,
            shown_url: redact(url),
            prefix: prefix.to_owned(),
            consumer: consumer_name(),
            fetches: AtomicU64::new(0),
            clock,
            retention: DeadLetterRetention::default(),
            lanes: LaneStates::default(),
            scripts: Scripts::load(),
        })
    }

    /// Keeps dead letters by this count and age instead of the default.
    pub fn with_retention(mut self, retention: DeadLetterRetention) -> Self {
        self.retention = retention;
        self
    }

    /// Maps a Redis error to the queue's, naming the URL (password redacted).
    fn err(&self) -> impl Fn(redis::RedisError) -> QueueError + '_ {
        |e| QueueError::Backend(format!("Redis at {}: {e}", self.shown_url))
    }
}

#[async_trait]
impl Queue for RedisQueue {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<usize, QueueError> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let now = to_millis(self.clock.now()).to_string();
        let mut pipe = redis::pipe();
        let mut lanes = HashSet::new();
        for job in jobs {
            pipe.cmd("XADD")
                .arg(self.keys(&job.lane).stream)
                .arg("*")
                .arg(&[("k", job.kind.as_str()), ("p", &job.payload), ("e", &now)])
                .ignore();
            lanes.insert(job.lane.clone());
        }
        for lane in lanes {
            pipe.cmd("SADD").arg(self.lanes_key()).arg(lane).ignore();
        }
        let mut con = self.con.clone();
        pipe.query_async::<()>(&mut con).await.map_err(self.err())?;
        Ok(jobs.len())
    }

    async fn fetch(&self, lanes: &[String], max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.fetch_lanes(lanes, max, visibility).await
    }

    async fn ack(&self, deliveries: &[Delivery]) -> Result<(), QueueError> {
        self.ack_leased(deliveries).await
    }

    async fn fail(&self, delivery: &Delivery, error: &str, failure: Failure) -> Result<(), QueueError> {
        self.fail_leased(delivery, error, failure).await
    }

    async fn extend(&self, delivery: &Delivery, visibility: Duration) -> Result<bool, QueueError> {
        self.extend_lease(delivery, visibility).await
    }

    async fn release(&self, deliveries: &[Delivery]) -> Result<(), QueueError> {
        self.release_leased(deliveries).await
    }

    async fn stats(&self) -> Result<Vec<LaneStats>, QueueError> {
        let now = to_millis(self.clock.now());
        let mut con = self.con.clone();
        let mut out = Vec::new();
        for lane in self.known_lanes().await? {
            let k = self.keys(&lane);
            let (len, in_flight, delayed, dead, oldest): (u64, u64, u64, u64, String) = self
                .scripts
                .stats
                .key(&k.stream)
                .key(&k.delayed)
                .key(&k.dead)
                .arg(GROUP)
                .invoke_async(&mut con)
                .await
                .map_err(self.err())?;
            out.push(LaneStats {
                lane,
                waiting: len.saturating_sub(in_flight),
                in_flight,
                delayed,
                dead,
                oldest_waiting_secs: oldest.parse::<i64>().ok().map(|t| (now - t).max(0) as f64 / 1000.0),
            });
        }
        Ok(out)
    }

    async fn dead_letters(&self, filter: &DeadFilter, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        self.list_dead(filter, limit).await
    }

    async fn retry_dead(&self, filter: &DeadFilter) -> Result<u64, QueueError> {
        self.requeue_dead(filter).await
    }

    async fn discard_dead(&self, filter: &DeadFilter) -> Result<u64, QueueError> {
        self.delete_dead(filter).await
    }
}
