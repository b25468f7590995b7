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

use super::{DeadFilter, DeadLetter, DeadLetterRetention, Delivery, Failure, LaneStats, NewJob, Queue, QueueError};
use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use strata_core::clock::{SharedClock, from_millis, to_millis};

/// The consumer group every worker joins.
const GROUP: &str = "workers";
/// Delayed retries moved back per lane per fetch.
const MOVE_BATCH: usize = 1000;
/// How often an empty lane is looked at while another lane of the same
/// fetch has work (a restore waits at most this much longer).
const EMPTY_RECHECK: Duration = Duration::from_millis(20);
/// Dead letters read per `XRANGE`.
const DEAD_PAGE: usize = 1000;
/// How long one command or pipeline may take to answer.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Entries acknowledged per script call (Lua's `unpack` has a stack limit).
const ACK_CHUNK: usize = 1000;

/// Shared by the scripts below: once a lease holds no entry, its record and
/// its consumer go.
const PRELUDE: &str = r#"
local function forget_if_empty(stream, leases, split, group, holder)
  if #redis.call('XPENDING', stream, group, '-', '+', 1, holder) == 0 then
    redis.call('ZREM', leases, holder)
    redis.call('SREM', split, holder)
    redis.call('XGROUP', 'DELCONSUMER', stream, group, holder)
  end
end
"#;

/// Moves due delayed retries back to the stream, takes over entries of
/// expired leases for the new lease and, if retries came back, reads them
/// (at most `room` entries in all). Returns the entries with their delivery
/// counts.
const MAINTAIN: &str = r#"
local now, room, group, token = ARGV[1], tonumber(ARGV[2]), ARGV[5], ARGV[4]
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[6]))
for _, m in ipairs(due) do
  local j = cjson.decode(m)
  redis.call('XADD', KEYS[1], '*', 'k', j.k, 'p', j.p, 'e', j.e, 'n', j.n, 'f', j.f, 'r', j.r)
  redis.call('ZREM', KEYS[2], m)
end
local out = {}
if room <= 0 then return out end
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. now, 'LIMIT', 0, 16)
for _, holder in ipairs(expired) do
  if #out >= room then break end
  local pending = redis.call('XPENDING', KEYS[1], group, '-', '+', math.min(room - #out, 1000), holder)
  if #pending > 0 then
    local ids, counts = {}, {}
    for _, p in ipairs(pending) do
      table.insert(ids, p[1])
      counts[p[1]] = p[4]
    end
    for _, e in ipairs(redis.call('XCLAIM', KEYS[1], group, token, 0, unpack(ids))) do
      if e and e[2] then table.insert(out, {e[1], e[2], counts[e[1]] + 1}) end
    end
  end
  -- A holder left with entries lost some: its acks must take the checked path.
  redis.call('SADD', KEYS[4], holder)
  forget_if_empty(KEYS[1], KEYS[3], KEYS[4], group, holder)
end
if #due > 0 and #out < room then
  local r = redis.call('XREADGROUP', 'GROUP', group, token, 'COUNT', room - #out, 'STREAMS', KEYS[1], '>')
  if r then
    for _, e in ipairs(r[1][2]) do table.insert(out, {e[1], e[2], 1}) end
  end
end
if #out > 0 then redis.call('ZADD', KEYS[3], ARGV[3], token) end
return out
"#;

/// Reads new entries for a lane that was empty last time, only if the stream
/// has entries past the group's last delivered one: an empty lane costs no
/// write (no consumer, no lease). Also says whether a retry is due or a
/// lease has expired.
const READ_IF_NEW: &str = r#"
local now, room, deadline, token, group = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local flag = 0
if #redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1) > 0
  or #redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. now, 'LIMIT', 0, 1) > 0 then
  flag = 1
end
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #newest == 0 then return {flag, {}} end
local delivered = '0-0'
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  if info['name'] == group then delivered = info['last-delivered-id'] end
end
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local nms, nseq = parts(newest[1][1])
local dms, dseq = parts(delivered)
if nms < dms or (nms == dms and nseq <= dseq) then return {flag, {}} end
local r = redis.call('XREADGROUP', 'GROUP', group, token, 'COUNT', room, 'STREAMS', KEYS[1], '>')
if not r or #r[1][2] == 0 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], group, token)
  return {flag, {}}
end
redis.call('ZADD', KEYS[3], deadline, token)
return {flag, r[1][2]}
"#;

/// Acknowledges entries the lease still holds: all of them while the lease
/// is live and whole, else only those its consumer still owns.
const ACK: &str = r#"
local group, token = ARGV[1], ARGV[2]
local deadline = redis.call('ZSCORE', KEYS[2], token)
local n
if deadline and tonumber(deadline) >= tonumber(ARGV[3]) and redis.call('SISMEMBER', KEYS[3], token) == 0 then
  n = redis.call('XACK', KEYS[1], group, unpack(ARGV, 4))
  redis.call('XDEL', KEYS[1], unpack(ARGV, 4))
else
  local held = {}
  for _, p in ipairs(redis.call('XPENDING', KEYS[1], group, '-', '+', 100000, token)) do held[p[1]] = true end
  local mine = {}
  for i = 4, #ARGV do
    if held[ARGV[i]] then table.insert(mine, ARGV[i]) end
  end
  if #mine == 0 then return 0 end
  n = redis.call('XACK', KEYS[1], group, unpack(mine))
  redis.call('XDEL', KEYS[1], unpack(mine))
end
forget_if_empty(KEYS[1], KEYS[2], KEYS[3], group, token)
return n
"#;

const FAIL: &str = r#"
local group, token, id = ARGV[1], ARGV[2], ARGV[3]
local p = redis.call('XPENDING', KEYS[1], group, id, id, 1, token)
if #p == 0 then return 0 end
local delivered = p[1][4]
local entry = redis.call('XRANGE', KEYS[1], id, id)
local function done()
  redis.call('XACK', KEYS[1], group, id)
  redis.call('XDEL', KEYS[1], id)
  forget_if_empty(KEYS[1], KEYS[2], KEYS[3], group, token)
end
if #entry == 0 then
  done()
  return 0
end
-- The retry or dead letter is written first: a script is not rolled back,
-- so an error here must leave the job where it was.
local h = {n = '0', f = '', r = ''}
local fields = entry[1][2]
for i = 1, #fields, 2 do h[fields[i]] = fields[i + 1] end
local attempts = tonumber(h.n) + delivered
-- A transient failure gives its attempt back.
if ARGV[4] == 'transient' then attempts = math.max(attempts - 1, 0) end
attempts = tostring(attempts)
local first = h.f
if first == '' then first = ARGV[5] end
if ARGV[4] ~= 'dead' then
  local member = cjson.encode({id = id, k = h.k, p = h.p, e = h.e, n = attempts, f = first, r = ARGV[7]})
  redis.call('ZADD', KEYS[4], ARGV[6], member)
else
  -- Dead letters are keyed by the queue's clock (never going backwards), so
  -- retention by age follows the same clock as everything else.
  local ms = tonumber(ARGV[5])
  local last = redis.call('XREVRANGE', KEYS[5], '+', '-', 'COUNT', 1)
  if #last > 0 then
    local last_ms = tonumber(string.match(last[1][1], '^(%d+)'))
    if last_ms > ms then ms = last_ms end
  end
  redis.call('XADD', KEYS[5], 'MAXLEN', '=', ARGV[8], ms .. '-*',
    'k', h.k, 'p', h.p, 'e', h.e, 'n', attempts, 'f', first, 'l', ARGV[5], 'r', ARGV[7])
  redis.call('XTRIM', KEYS[5], 'MINID', '=', ARGV[9])
end
done()
return 1
"#;

/// Extends the lease holding the entry (with the rest of its batch).
const EXTEND: &str = r#"
if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], 'XX', ARGV[4], ARGV[2])
return 1
"#;

/// Hands entries the lease still owns to a new, already expired lease with
/// their delivery count lowered by one, so the next fetch takes them over
/// without spending an attempt.
const RELEASE: &str = r#"
local group, token, spare = ARGV[1], ARGV[2], ARGV[3]
local held = {}
for _, p in ipairs(redis.call('XPENDING', KEYS[1], group, '-', '+', 100000, token)) do held[p[1]] = p[4] end
local moved = 0
for i = 4, #ARGV do
  local count = held[ARGV[i]]
  if count then
    redis.call('XCLAIM', KEYS[1], group, spare, 0, ARGV[i], 'RETRYCOUNT', math.max(count - 1, 0), 'JUSTID')
    moved = moved + 1
  end
end
if moved > 0 then
  redis.call('ZADD', KEYS[2], 0, spare)
  redis.call('SADD', KEYS[3], token)
end
forget_if_empty(KEYS[1], KEYS[2], KEYS[3], group, token)
return moved
"#;

const STATS: &str = r#"
local len = redis.call('XLEN', KEYS[1])
local delayed = redis.call('ZCARD', KEYS[2])
local dead = redis.call('XLEN', KEYS[3])
local after, pending = '-', 0
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if ok then
  for _, g in ipairs(groups) do
    local info = {}
    for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
    if info['name'] == ARGV[1] then
      after = '(' .. info['last-delivered-id']
      pending = info['pending']
    end
  end
end
local oldest = ''
if len > pending then
  local r = redis.call('XRANGE', KEYS[1], after, '+', 'COUNT', 1)
  if #r > 0 then
    local fields = r[1][2]
    for i = 1, #fields, 2 do if fields[i] == 'e' then oldest = fields[i + 1] end end
  end
end
return {len, pending, delayed, dead, oldest}
"#;

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
    groups: Mutex<HashSet<String>>,
    /// Lanes whose latest fetch saw no due retry and no expired lease; the
    /// others get their maintenance first on the next fetch.
    tidy: Mutex<HashSet<String>>,
    /// When each lane was last found empty. Such a lane is read with a
    /// script that writes nothing while it stays empty; the others (busy)
    /// with one `MULTI`.
    empty_since: Mutex<std::collections::HashMap<String, std::time::Instant>>,
    scripts: Scripts,
}

struct Scripts {
    maintain: Script,
    read_if_new: Script,
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
    split: String,
    dead: String,
}

/// `XREADGROUP`'s reply: per stream, its entries (id, flat field list).
type ReadReply = Vec<(String, Vec<(String, Vec<String>)>)>;

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
        if version.split('.').next().and_then(|m| m.parse::<u32>().ok()).is_none_or(|major| major < 7) {
            return Err(QueueError::Backend(format!(
                "Redis at {} is version {version}; strata needs Redis 7.0 or later",
                redact(url)
            )));
        }
        let script = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        Ok(Self {
            con,
            acks,
            shown_url: redact(url),
            prefix: prefix.to_owned(),
            consumer: consumer_name(),
            fetches: AtomicU64::new(0),
            clock,
            retention: DeadLetterRetention::default(),
            groups: Mutex::new(HashSet::new()),
            tidy: Mutex::new(HashSet::new()),
            empty_since: Mutex::default(),
            scripts: Scripts {
                maintain: script(MAINTAIN),
                read_if_new: Script::new(READ_IF_NEW),
                ack: script(ACK),
                fail: script(FAIL),
                extend: script(EXTEND),
                release: script(RELEASE),
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
            split: format!("{base}:split"),
            dead: format!("{base}:dead"),
        }
    }

    /// Moves due retries back to the lane's stream and takes over at most
    /// `room` entries of expired leases for the lease `token`.
    async fn maintain(
        &self,
        k: &LaneKeys,
        now: i64,
        room: usize,
        deadline: i64,
        token: &str,
    ) -> Result<Vec<(String, Vec<String>, i64)>, QueueError> {
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
            .map_err(self.err())
    }

    fn set_tidy(&self, lane: &str, tidy: bool) {
        let mut lanes = self.tidy.lock().unwrap_or_else(|e| e.into_inner());
        if tidy {
            lanes.insert(lane.to_owned());
        } else {
            lanes.remove(lane);
        }
    }

    /// Fetches at most `room` deliveries from one lane (whose group exists).
    async fn fetch_lane(&self, lane: &str, room: usize, now: i64, deadline: i64) -> Result<Vec<Delivery>, QueueError> {
        let mut con = self.con.clone();
        let k = self.keys(lane);
        let token = self.lease_token();
        let mut taken_over = Vec::new();
        let tidy = self.tidy.lock().unwrap_or_else(|e| e.into_inner()).contains(lane);
        if !tidy {
            taken_over = self.maintain(&k, now, room, deadline, &token).await?;
        }
        let room = room - taken_over.len();
        let mut fresh = Vec::new();
        // Whether this fetch created a consumer and lease it must remove if
        // it delivers nothing.
        let mut created = false;
        if room > 0 {
            let busy = !self.empty_since.lock().unwrap_or_else(|e| e.into_inner()).contains_key(lane);
            let due_or_expired = if busy {
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
                    .await
                    .map_err(self.err())?;
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
                    .await
                    .map_err(self.err())?;
                fresh = entries;
                flag == 1
            };
            self.set_tidy(lane, !due_or_expired);
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
                    .await
                    .map_err(self.err())?;
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

    /// A new lease: a consumer name unique to this fetch.
    fn lease_token(&self) -> String {
        format!("{}:{}", self.consumer, self.fetches.fetch_add(1, Ordering::Relaxed))
    }

    fn lanes_key(&self) -> String {
        format!("{}:lanes", self.prefix)
    }

    fn err(&self) -> impl Fn(redis::RedisError) -> QueueError + '_ {
        |e| QueueError::Backend(format!("Redis at {}: {e}", self.shown_url))
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

    /// Dead letters of every matching lane, lanes by name and each lane
    /// oldest first: `(lane, entry id, fields)`, at most `limit`, read in
    /// bounded pages.
    async fn dead_entries(
        &self,
        filter: &DeadFilter,
        limit: usize,
    ) -> Result<Vec<(String, String, BTreeMap<String, String>)>, QueueError> {
        let id = filter.id.as_deref().map(dead_id).transpose()?;
        let from = filter.from.as_deref().map(dead_id).transpose()?;
        let lanes = match id.as_ref().map(|(lane, _)| lane.clone()).or_else(|| filter.lane.clone()) {
            Some(lane) => vec![lane],
            None => self.lanes().await?,
        };
        let mut con = self.con.clone();
        let mut out = Vec::new();
        for lane in lanes {
            if from.as_ref().is_some_and(|(from_lane, _)| lane < *from_lane) {
                continue;
            }
            let key = self.keys(&lane).dead;
            let (mut start, end) = match (&id, &from) {
                (Some((_, entry)), _) => (entry.clone(), entry.clone()),
                (None, Some((from_lane, entry))) if *from_lane == lane => (entry.clone(), "+".to_owned()),
                _ => ("-".to_owned(), "+".to_owned()),
            };
            while out.len() < limit {
                let page: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
                    .arg(&key)
                    .arg(&start)
                    .arg(&end)
                    .arg("COUNT")
                    .arg(DEAD_PAGE)
                    .query_async(&mut con)
                    .await
                    .map_err(self.err())?;
                let full = page.len() == DEAD_PAGE;
                if let Some((last, _)) = page.last() {
                    start = format!("({last}");
                }
                for (entry, fields) in page {
                    let fields: BTreeMap<String, String> = fields.into_iter().collect();
                    if filter.kind.as_ref().is_none_or(|k| fields.get("k") == Some(k)) && out.len() < limit {
                        out.push((lane.clone(), entry, fields));
                    }
                }
                if !full {
                    break;
                }
            }
        }
        Ok(out)
    }
}

/// The lane and stream entry id of a dead letter's id (`LANE@MS-SEQ`);
/// anything else names no dead letter.
fn dead_id(id: &str) -> Result<(String, String), QueueError> {
    let not_found = || QueueError::NotFound(format!("id {id:?}"));
    let (lane, entry) = id.split_once('@').ok_or_else(not_found)?;
    let (ms, seq) = entry.split_once('-').unwrap_or((entry, "0"));
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(number(ms) && number(seq)) || lane.contains(['{', '}']) {
        return Err(not_found());
    }
    Ok((lane.to_owned(), entry.to_owned()))
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
        let now = to_millis(self.clock.now());
        let deadline = now.saturating_add(millis(visibility));
        let mut out = Vec::new();
        // While one of these lanes has work, an empty one ahead of it is
        // looked at again only every EMPTY_RECHECK: each look is a round
        // trip that waits behind the busy lane's acknowledgements.
        let busy_here = {
            let empty = self.empty_since.lock().unwrap_or_else(|e| e.into_inner());
            lanes.iter().any(|l| !empty.contains_key(l))
        };
        for lane in lanes {
            let room = max.saturating_sub(out.len());
            if room == 0 {
                break;
            }
            if busy_here
                && self
                    .empty_since
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(lane)
                    .is_some_and(|at| at.elapsed() < EMPTY_RECHECK)
            {
                continue;
            }
            self.ensure_group(lane).await?;
            let fetched = match self.fetch_lane(lane, room, now, deadline).await {
                // The lane's consumer group is gone (a Redis that lost its
                // data): create it again and read.
                Err(QueueError::Backend(message)) if message.contains("NOGROUP") => {
                    tracing::warn!(lane, "The lane's consumer group is missing; creating it again");
                    self.groups.lock().unwrap_or_else(|e| e.into_inner()).remove(lane);
                    self.ensure_group(lane).await?;
                    self.fetch_lane(lane, room, now, deadline).await?
                }
                fetched => fetched?,
            };
            let mut empty_since = self.empty_since.lock().unwrap_or_else(|e| e.into_inner());
            if fetched.is_empty() {
                empty_since.insert(lane.clone(), std::time::Instant::now());
            } else {
                empty_since.remove(lane);
            }
            drop(empty_since);
            out.extend(fetched);
        }
        Ok(out)
    }

    async fn ack(&self, deliveries: &[Delivery]) -> Result<(), QueueError> {
        let now = to_millis(self.clock.now());
        let mut groups: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
        for d in deliveries {
            groups.entry((&d.lane, &d.lease)).or_default().push(&d.id);
        }
        let mut con = self.acks.clone();
        for ((lane, lease), ids) in groups {
            let k = self.keys(lane);
            for chunk in ids.chunks(ACK_CHUNK) {
                let mut call = self.scripts.ack.key(&k.stream);
                call.key(&k.leases).key(&k.split).arg(GROUP).arg(lease).arg(now).arg(chunk);
                call.invoke_async::<i64>(&mut con).await.map_err(self.err())?;
            }
        }
        Ok(())
    }

    async fn fail(&self, delivery: &Delivery, error: &str, failure: Failure) -> Result<(), QueueError> {
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

    async fn extend(&self, delivery: &Delivery, visibility: Duration) -> Result<bool, QueueError> {
        let deadline = to_millis(self.clock.now()).saturating_add(millis(visibility));
        let k = self.keys(&delivery.lane);
        let mut con = self.acks.clone();
        let mut call = self.scripts.extend.key(&k.stream);
        call.key(&k.leases).arg(GROUP).arg(&delivery.lease).arg(&delivery.id).arg(deadline);
        Ok(call.invoke_async::<i64>(&mut con).await.map_err(self.err())? == 1)
    }

    async fn release(&self, deliveries: &[Delivery]) -> Result<(), QueueError> {
        let mut groups: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
        for d in deliveries {
            groups.entry((&d.lane, &d.lease)).or_default().push(&d.id);
        }
        let mut con = self.acks.clone();
        for ((lane, lease), ids) in groups {
            let k = self.keys(lane);
            let spare = self.lease_token();
            let mut call = self.scripts.release.key(&k.stream);
            call.key(&k.leases).key(&k.split).arg(GROUP).arg(lease).arg(&spare).arg(ids);
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
            .dead_entries(filter, limit)
            .await?
            .into_iter()
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
        let entries = self.dead_entries(filter, usize::MAX).await?;
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
        let entries = self.dead_entries(filter, usize::MAX).await?;
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
    use strata_testkit::proxy::{Claim, RedisProxy};
    use strata_testkit::redis_url;

    #[tokio::test]
    async fn passes_the_shared_queue_suite() {
        let Some(url) = redis_url("queue::redis::tests::passes_the_shared_queue_suite") else { return };
        let prefixes = Mutex::new(Vec::new());
        strata_queue::suite::run_all(|retention| {
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

    #[tokio::test]
    async fn a_lane_whose_data_was_lost_is_read_again() {
        let Some(url) = redis_url("queue::redis::tests::a_lane_whose_data_was_lost_is_read_again") else { return };
        let prefix = format!("strata-test-{}", uuid::Uuid::new_v4().simple());
        let clock = ManualClock::new(Utc::now());
        let q = RedisQueue::connect(&url, &prefix, Arc::new(clock)).await.unwrap();
        let lanes = vec!["default".to_owned()];
        let job = |n: u32| NewJob { lane: "default".into(), kind: "scan".into(), payload: n.to_string() };
        q.enqueue(&[job(1)]).await.unwrap();
        let first = q.fetch(&lanes, 10, Duration::from_secs(30)).await.unwrap();
        q.ack(&first).await.unwrap();
        // Redis restarts without its data: the stream and its group are gone.
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let wipe = |mut con: redis::aio::MultiplexedConnection| {
            let pattern = format!("{prefix}:*");
            async move {
                let keys: Vec<String> = con.keys(pattern).await.unwrap();
                if !keys.is_empty() {
                    let _: () = con.del(keys).await.unwrap();
                }
            }
        };
        wipe(con.clone()).await;
        q.enqueue(&[job(2)]).await.unwrap();
        let again = q.fetch(&lanes, 10, Duration::from_secs(30)).await.unwrap();
        assert_eq!(again.iter().map(|d| d.payload.as_str()).collect::<Vec<_>>(), ["2"]);
        q.ack(&again).await.unwrap();
        assert_eq!(q.stats().await.unwrap()[0].pending(), 0);
        wipe(con.clone()).await;
        let _: () = redis::cmd("PING").query_async(&mut con).await.unwrap();
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

    #[tokio::test]
    async fn a_redis_older_than_7_is_refused_naming_its_version_and_url() {
        let Some(url) = redis_url("queue::redis::tests::a_redis_older_than_7_is_refused_naming_its_version_and_url")
        else {
            return;
        };
        let prefix = format!("strata-test-{}", uuid::Uuid::new_v4().simple());
        let clock: SharedClock = Arc::new(ManualClock::new(Utc::now()));
        // Through the proxy, unchanged, the real Redis is accepted and answers.
        let actual = RedisProxy::start(&url, Claim::Actual).unwrap();
        let q = RedisQueue::connect(actual.url(), &prefix, clock.clone()).await.unwrap();
        assert!(q.stats().await.unwrap().iter().all(|lane| lane.pending() == 0));
        drop(q);
        assert_eq!(actual.rewrites(), []);

        let older = RedisProxy::start(&url, Claim::Redis62).unwrap();
        let Err(err) = RedisQueue::connect(older.url(), &prefix, clock).await else { panic!("Redis 6.2 was accepted") };
        let rewrites = older.rewrites();
        let claimed = &rewrites.first().expect("the proxy rewrote the version").claimed;
        assert!(claimed.starts_with("6.2."), "{rewrites:?}");
        let QueueError::Backend(message) = &err else { panic!("not a backend error: {err:?}") };
        assert_eq!(
            *message,
            format!("Redis at {} is version {claimed}; strata needs Redis 7.0 or later", redact(older.url()))
        );
    }
}
