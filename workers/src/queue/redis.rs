//! The scale-out queue on Redis Streams: one stream per lane read by a
//! consumer group, a sorted set of delayed retries per lane moved back in
//! bounded batches, and a dead-letter stream per lane.
//!
//! Leases are strata's own: a sorted set of lease deadlines per lane, on the
//! queue's clock, with a token per fetch. Expired leases are taken over with
//! `XCLAIM`; a stale holder's ack, failure or extension is refused because its
//! token no longer matches. Keeping the lease clock in strata (rather than
//! Redis's idle time) lets leases be extended by the holder and lets tests
//! inject time. Every multi-step change is one Lua script, so it is atomic;
//! all keys of a lane share a hash tag (`{lane}`), so the layout works on
//! Redis Cluster.

use super::{DeadFilter, DeadLetter, DeadLetterRetention, Delivery, Failure, LaneStats, NewJob, Queue, QueueError};
use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;
use strata_core::clock::{SharedClock, from_millis, to_millis};

/// The consumer group every worker joins.
const GROUP: &str = "workers";
/// Delayed retries moved back per lane per fetch.
const MOVE_BATCH: usize = 1000;

const FETCH: &str = r#"
local now = ARGV[1]
local max = tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[7]))
for _, m in ipairs(due) do
  local j = cjson.decode(m)
  redis.call('XADD', KEYS[1], '*', 'k', j.k, 'p', j.p, 'e', j.e, 'n', j.n, 'f', j.f, 'r', j.r)
  redis.call('ZREM', KEYS[2], m)
end
local out = {}
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. now, 'LIMIT', 0, max)
if #expired > 0 then
  redis.call('ZREM', KEYS[3], unpack(expired))
  local claimed = redis.call('XCLAIM', KEYS[1], ARGV[6], ARGV[5], 0, unpack(expired))
  for _, e in ipairs(claimed) do
    if e and e[2] then
      -- A take-over is one more delivery than the stream's first one.
      redis.call('HINCRBY', KEYS[5], e[1], 1)
      table.insert(out, e)
    end
  end
end
if #out < max then
  local r = redis.call('XREADGROUP', 'GROUP', ARGV[6], ARGV[5], 'COUNT', max - #out, 'STREAMS', KEYS[1], '>')
  if r then
    for _, e in ipairs(r[1][2]) do table.insert(out, e) end
  end
end
if #out == 0 then return {} end
local ids, leases, tokens = {}, {}, {}
for _, e in ipairs(out) do
  table.insert(ids, e[1])
  table.insert(leases, ARGV[3])
  table.insert(leases, e[1])
  table.insert(tokens, e[1])
  table.insert(tokens, ARGV[4])
end
redis.call('ZADD', KEYS[3], unpack(leases))
redis.call('HSET', KEYS[4], unpack(tokens))
local extra = redis.call('HMGET', KEYS[5], unpack(ids))
local res = {}
for i, e in ipairs(out) do
  local f = e[2]
  local k, p, enq, n = '', '', '0', '0'
  for j = 1, #f, 2 do
    local name = f[j]
    if name == 'k' then k = f[j + 1] elseif name == 'p' then p = f[j + 1]
    elseif name == 'e' then enq = f[j + 1] elseif name == 'n' then n = f[j + 1] end
  end
  res[i] = {e[1], k, p, enq, tonumber(n) + 1 + ((extra[i] and tonumber(extra[i])) or 0)}
end
return res
"#;

const ACK: &str = r#"
local ids = {}
for i = 3, #ARGV do table.insert(ids, ARGV[i]) end
local held = redis.call('HMGET', KEYS[3], unpack(ids))
local mine = {}
for i, id in ipairs(ids) do
  if held[i] == ARGV[2] then table.insert(mine, id) end
end
if #mine == 0 then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], unpack(mine))
redis.call('XDEL', KEYS[1], unpack(mine))
redis.call('ZREM', KEYS[2], unpack(mine))
redis.call('HDEL', KEYS[3], unpack(mine))
redis.call('HDEL', KEYS[4], unpack(mine))
return #mine
"#;

const FAIL: &str = r#"
local id = ARGV[3]
if redis.call('HGET', KEYS[3], id) ~= ARGV[2] then return 0 end
local entry = redis.call('XRANGE', KEYS[1], id, id)
local delivered = 1 + tonumber(redis.call('HGET', KEYS[4], id) or '0')
redis.call('XACK', KEYS[1], ARGV[1], id)
redis.call('XDEL', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[3], id)
redis.call('HDEL', KEYS[4], id)
if #entry == 0 then return 0 end
local h = {}
local fields = entry[1][2]
for i = 1, #fields, 2 do h[fields[i]] = fields[i + 1] end
local attempts = tostring(tonumber(h.n) + delivered)
local first = h.f
if first == '' then first = ARGV[5] end
if ARGV[4] == 'retry' then
  local member = cjson.encode({id = id, k = h.k, p = h.p, e = h.e, n = attempts, f = first, r = ARGV[7]})
  redis.call('ZADD', KEYS[5], ARGV[6], member)
else
  -- Dead letters are keyed by the queue's clock (never going backwards), so
  -- retention by age follows the same clock as everything else.
  local ms = tonumber(ARGV[5])
  local last = redis.call('XREVRANGE', KEYS[6], '+', '-', 'COUNT', 1)
  if #last > 0 then
    local last_ms = tonumber(string.match(last[1][1], '^(%d+)'))
    if last_ms > ms then ms = last_ms end
  end
  redis.call('XADD', KEYS[6], 'MAXLEN', '=', ARGV[8], ms .. '-*',
    'k', h.k, 'p', h.p, 'e', h.e, 'n', attempts, 'f', first, 'l', ARGV[5], 'r', ARGV[7])
  redis.call('XTRIM', KEYS[6], 'MINID', '=', ARGV[9])
end
return 1
"#;

const EXTEND: &str = r#"
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
return 1
"#;

const RELEASE: &str = r#"
local n = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[2], id) == ARGV[1] then
    redis.call('ZADD', KEYS[1], 0, id)
    redis.call('HINCRBY', KEYS[3], id, -1)
    redis.call('HDEL', KEYS[2], id)
    n = n + 1
  end
end
return n
"#;

const STATS: &str = r#"
local len = redis.call('XLEN', KEYS[1])
local inflight = redis.call('ZCARD', KEYS[2])
local delayed = redis.call('ZCARD', KEYS[3])
local dead = redis.call('XLEN', KEYS[4])
local after = '-'
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if ok then
  for _, g in ipairs(groups) do
    for i = 1, #g, 2 do
      if g[i] == 'name' and g[i + 1] == ARGV[1] then
        for j = 1, #g, 2 do
          if g[j] == 'last-delivered-id' then after = '(' .. g[j + 1] end
        end
      end
    end
  end
end
local oldest = ''
if len > 0 then
  local r = redis.call('XRANGE', KEYS[1], after, '+', 'COUNT', 1)
  if #r > 0 then
    local fields = r[1][2]
    for i = 1, #fields, 2 do if fields[i] == 'e' then oldest = fields[i + 1] end end
  end
end
return {len, inflight, delayed, dead, oldest}
"#;

/// The Redis Streams queue.
pub struct RedisQueue {
    con: ConnectionManager,
    prefix: String,
    consumer: String,
    clock: SharedClock,
    retention: DeadLetterRetention,
    groups: Mutex<HashSet<String>>,
    scripts: Scripts,
}

struct Scripts {
    fetch: Script,
    ack: Script,
    fail: Script,
    extend: Script,
    release: Script,
    stats: Script,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue").field("prefix", &self.prefix).field("consumer", &self.consumer).finish()
    }
}

/// The keys of one lane; they share the `{lane}` hash tag.
struct LaneKeys {
    stream: String,
    delayed: String,
    leases: String,
    tokens: String,
    attempts: String,
    dead: String,
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
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(3);
        let con = tokio::time::timeout(Duration::from_secs(10), ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| QueueError::Backend(format!("Redis at {}: timed out connecting", redact(url))))?
            .map_err(backend(url))?;
        Ok(Self {
            con,
            prefix: prefix.to_owned(),
            consumer: consumer_name(),
            clock,
            retention: DeadLetterRetention::default(),
            groups: Mutex::new(HashSet::new()),
            scripts: Scripts {
                fetch: Script::new(FETCH),
                ack: Script::new(ACK),
                fail: Script::new(FAIL),
                extend: Script::new(EXTEND),
                release: Script::new(RELEASE),
                stats: Script::new(STATS),
            },
        })
    }

    /// Keeps dead letters by this count and age instead of the default.
    pub fn with_retention(mut self, retention: DeadLetterRetention) -> Self {
        self.retention = retention;
        self
    }

    fn keys(&self, lane: &str) -> LaneKeys {
        let base = format!("{}:{{{lane}}}", self.prefix);
        LaneKeys {
            stream: format!("{base}:stream"),
            delayed: format!("{base}:delayed"),
            leases: format!("{base}:leases"),
            tokens: format!("{base}:tokens"),
            attempts: format!("{base}:attempts"),
            dead: format!("{base}:dead"),
        }
    }

    fn lanes_key(&self) -> String {
        format!("{}:lanes", self.prefix)
    }

    fn err(&self) -> impl Fn(redis::RedisError) -> QueueError {
        |e| QueueError::Backend(format!("Redis: {e}"))
    }

    async fn ensure_group(&self, lane: &str) -> Result<(), QueueError> {
        if self.groups.lock().unwrap_or_else(|e| e.into_inner()).contains(lane) {
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
        self.groups.lock().unwrap_or_else(|e| e.into_inner()).insert(lane.to_owned());
        Ok(())
    }

    async fn lanes(&self) -> Result<Vec<String>, QueueError> {
        let mut con = self.con.clone();
        let mut lanes: Vec<String> = con.smembers(self.lanes_key()).await.map_err(self.err())?;
        lanes.sort();
        Ok(lanes)
    }

    /// Dead letters of every matching lane: `(lane, entry id, fields)`.
    async fn dead_entries(
        &self,
        filter: &DeadFilter,
    ) -> Result<Vec<(String, String, BTreeMap<String, String>)>, QueueError> {
        let (id_lane, id_entry) = match &filter.id {
            Some(id) => {
                let (lane, entry) = id.split_once('@').ok_or_else(|| QueueError::NotFound(format!("id {id:?}")))?;
                (Some(lane.to_owned()), Some(entry.to_owned()))
            }
            None => (None, None),
        };
        let lanes = match id_lane.or_else(|| filter.lane.clone()) {
            Some(lane) => vec![lane],
            None => self.lanes().await?,
        };
        let mut con = self.con.clone();
        let mut out = Vec::new();
        for lane in lanes {
            let key = self.keys(&lane).dead;
            let (start, end) = match &id_entry {
                Some(e) => (e.clone(), e.clone()),
                None => ("-".to_owned(), "+".to_owned()),
            };
            let entries: Vec<(String, Vec<(String, String)>)> =
                redis::cmd("XRANGE").arg(&key).arg(start).arg(end).query_async(&mut con).await.map_err(self.err())?;
            for (id, fields) in entries {
                let fields: BTreeMap<String, String> = fields.into_iter().collect();
                if filter.kind.as_ref().is_none_or(|k| fields.get("k") == Some(k)) {
                    out.push((lane.clone(), id, fields));
                }
            }
        }
        Ok(out)
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
                .arg(&[("k", job.kind.as_str()), ("p", &job.payload), ("e", &now), ("n", "0"), ("f", ""), ("r", "")])
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
        let now = to_millis(self.clock.now());
        let deadline = now.saturating_add(millis(visibility));
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut out = Vec::new();
        let mut con = self.con.clone();
        for lane in lanes {
            let room = max.saturating_sub(out.len());
            if room == 0 {
                break;
            }
            self.ensure_group(lane).await?;
            let k = self.keys(lane);
            let rows: Vec<(String, String, String, i64, i64)> = self
                .scripts
                .fetch
                .key(&k.stream)
                .key(&k.delayed)
                .key(&k.leases)
                .key(&k.tokens)
                .key(&k.attempts)
                .arg(now)
                .arg(room)
                .arg(deadline)
                .arg(&token)
                .arg(&self.consumer)
                .arg(GROUP)
                .arg(MOVE_BATCH)
                .invoke_async(&mut con)
                .await
                .map_err(self.err())?;
            out.extend(rows.into_iter().map(|(id, kind, payload, enqueued, attempts)| Delivery {
                id,
                lane: lane.clone(),
                kind,
                payload,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                lease: token.clone(),
                enqueued_at: from_millis(enqueued),
            }));
        }
        Ok(out)
    }

    async fn ack(&self, deliveries: &[Delivery]) -> Result<(), QueueError> {
        let mut groups: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
        for d in deliveries {
            groups.entry((&d.lane, &d.lease)).or_default().push(&d.id);
        }
        let mut con = self.con.clone();
        for ((lane, lease), ids) in groups {
            let k = self.keys(lane);
            let mut call = self.scripts.ack.key(&k.stream);
            call.key(&k.leases).key(&k.tokens).key(&k.attempts).arg(GROUP).arg(lease).arg(ids);
            call.invoke_async::<i64>(&mut con).await.map_err(self.err())?;
        }
        Ok(())
    }

    async fn fail(&self, delivery: &Delivery, error: &str, failure: Failure) -> Result<(), QueueError> {
        let now = to_millis(self.clock.now());
        let (mode, until) = match failure {
            Failure::Retry(delay) => ("retry", now.saturating_add(millis(delay))),
            Failure::Dead => ("dead", now),
        };
        let k = self.keys(&delivery.lane);
        let mut con = self.con.clone();
        let mut call = self.scripts.fail.key(&k.stream);
        call.key(&k.leases)
            .key(&k.tokens)
            .key(&k.attempts)
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

    async fn extend(&self, delivery: &Delivery, visibility: Duration) -> Result<bool, QueueError> {
        let deadline = to_millis(self.clock.now()).saturating_add(millis(visibility));
        let k = self.keys(&delivery.lane);
        let mut con = self.con.clone();
        let mut call = self.scripts.extend.key(&k.leases);
        call.key(&k.tokens).arg(&delivery.id).arg(&delivery.lease).arg(deadline);
        Ok(call.invoke_async::<i64>(&mut con).await.map_err(self.err())? == 1)
    }

    async fn release(&self, deliveries: &[Delivery]) -> Result<(), QueueError> {
        let mut con = self.con.clone();
        for d in deliveries {
            let k = self.keys(&d.lane);
            let mut call = self.scripts.release.key(&k.leases);
            call.key(&k.tokens).key(&k.attempts).arg(&d.lease).arg(&d.id);
            call.invoke_async::<i64>(&mut con).await.map_err(self.err())?;
        }
        Ok(())
    }

    async fn stats(&self) -> Result<Vec<LaneStats>, QueueError> {
        let now = to_millis(self.clock.now());
        let mut con = self.con.clone();
        let mut out = Vec::new();
        for lane in self.lanes().await? {
            let k = self.keys(&lane);
            let (len, in_flight, delayed, dead, oldest): (u64, u64, u64, u64, String) = self
                .scripts
                .stats
                .key(&k.stream)
                .key(&k.leases)
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
        let parse = |v: Option<&String>| v.and_then(|s| s.parse::<i64>().ok()).map(from_millis);
        Ok(self
            .dead_entries(filter)
            .await?
            .into_iter()
            .take(limit)
            .map(|(lane, id, f)| DeadLetter {
                id: format!("{lane}@{id}"),
                kind: f.get("k").cloned().unwrap_or_default(),
                payload: f.get("p").cloned().unwrap_or_default(),
                attempts: f.get("n").and_then(|n| n.parse().ok()).unwrap_or(0),
                last_error: f.get("r").cloned().unwrap_or_default(),
                first_failed_at: parse(f.get("f")),
                last_failed_at: parse(f.get("l")),
                lane,
            })
            .collect())
    }

    async fn retry_dead(&self, filter: &DeadFilter) -> Result<u64, QueueError> {
        let entries = self.dead_entries(filter).await?;
        if entries.is_empty() {
            return match &filter.id {
                Some(id) => Err(QueueError::NotFound(format!("id {id}"))),
                None => Ok(0),
            };
        }
        let now = to_millis(self.clock.now()).to_string();
        let mut pipe = redis::pipe();
        for (lane, id, f) in &entries {
            let k = self.keys(lane);
            let kind = f.get("k").cloned().unwrap_or_default();
            let payload = f.get("p").cloned().unwrap_or_default();
            pipe.cmd("XADD")
                .arg(&k.stream)
                .arg("*")
                .arg(&[("k", kind.as_str()), ("p", &payload), ("e", &now), ("n", "0"), ("f", ""), ("r", "")])
                .ignore();
            pipe.cmd("XDEL").arg(&k.dead).arg(id).ignore();
        }
        let mut con = self.con.clone();
        pipe.query_async::<()>(&mut con).await.map_err(self.err())?;
        Ok(entries.len() as u64)
    }

    async fn discard_dead(&self, filter: &DeadFilter) -> Result<u64, QueueError> {
        let entries = self.dead_entries(filter).await?;
        if entries.is_empty() {
            return match &filter.id {
                Some(id) => Err(QueueError::NotFound(format!("id {id}"))),
                None => Ok(0),
            };
        }
        let mut pipe = redis::pipe();
        for (lane, id, _) in &entries {
            pipe.cmd("XDEL").arg(self.keys(lane).dead).arg(id).ignore();
        }
        let mut con = self.con.clone();
        pipe.query_async::<()>(&mut con).await.map_err(self.err())?;
        Ok(entries.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use std::sync::Arc;
    use strata_core::clock::ManualClock;

    /// The test Redis: required under CI (`.ci/run` sets the URL), skipped
    /// with a message elsewhere.
    fn redis_url() -> Option<String> {
        match std::env::var("STRATA_TEST_REDIS_URL") {
            Ok(url) => Some(url),
            Err(_) if std::env::var("CI").is_ok() => panic!("STRATA_TEST_REDIS_URL must be set under CI"),
            Err(_) => None,
        }
    }

    #[tokio::test]
    async fn passes_the_shared_queue_suite() {
        let Some(url) = redis_url() else {
            eprintln!("STRATA_TEST_REDIS_URL is not set; skipping the Redis queue suite");
            return;
        };
        let prefixes = Mutex::new(Vec::new());
        crate::queue::suite::run_all(|retention| {
            let url = url.clone();
            let prefix = format!("strata-test-{}", uuid::Uuid::new_v4().simple());
            prefixes.lock().unwrap().push(prefix.clone());
            async move {
                let clock = ManualClock::new(Utc::now());
                let q = RedisQueue::connect(&url, &prefix, Arc::new(clock.clone())).await.unwrap();
                let q: Box<dyn Queue> = Box::new(q.with_retention(retention));
                (q, clock)
            }
        })
        .await;
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        for prefix in prefixes.into_inner().unwrap() {
            let keys: Vec<String> = con.keys(format!("{prefix}:*")).await.unwrap();
            if !keys.is_empty() {
                let _: () = con.del(keys).await.unwrap();
            }
        }
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("redis://:s3cret@db:6379/0"), "redis://:***@db:6379/0");
        assert_eq!(redact("redis://app:s3cret@db:6379"), "redis://app:***@db:6379");
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_fast_naming_the_url() {
        let clock: SharedClock = Arc::new(ManualClock::new(Utc::now()));
        let err = RedisQueue::connect("redis://127.0.0.1:1/", "strata", clock).await.unwrap_err();
        assert!(err.to_string().contains("redis://127.0.0.1:1/"), "{err}");
    }
}
