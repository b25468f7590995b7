//! A read-only look at the Redis queue for health checks: the server's
//! version, and for each lane whether its stream and consumer group exist.
//! Nothing is created or changed.

use super::keys::{GROUP, lanes_key, stream_key};
use super::{backend, redact};
use std::time::Duration;
use strata_queue::QueueError;

/// How long connecting, and each command, may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The oldest Redis major version the queue runs on.
pub const MIN_MAJOR: u32 = 7;

/// What [`health`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisHealth {
    /// The URL, password redacted.
    pub url: String,
    /// The server's `redis_version`.
    pub version: String,
    /// Whether the version is one the queue runs on (7.0 or later).
    pub supported: bool,
    /// Each lane asked about and every lane that has held a job, by name.
    pub lanes: Vec<LaneGroup>,
}

/// One lane's stream and consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneGroup {
    /// The lane.
    pub lane: String,
    /// Entries in its stream (`None`: no stream yet, it never held a job).
    pub entries: Option<u64>,
    /// Whether the workers' consumer group exists (created by the first fetch).
    pub group: bool,
    /// A key of the lane that holds something other than a stream.
    pub wrong_type: bool,
}

/// Whether a `redis_version` is one the queue runs on.
pub(super) fn supported(version: &str) -> bool {
    version.split('.').next().and_then(|m| m.parse::<u32>().ok()).is_some_and(|major| major >= MIN_MAJOR)
}

/// Connects to `url` and reads its version and, for `lanes` and every lane
/// known under `prefix`, the lane's stream and consumer group.
pub async fn health(url: &str, prefix: &str, lanes: &[String]) -> Result<RedisHealth, QueueError> {
    let client = redis::Client::open(url).map_err(backend(url))?;
    let config =
        redis::AsyncConnectionConfig::new().set_connection_timeout(Some(TIMEOUT)).set_response_timeout(Some(TIMEOUT));
    let mut con = tokio::time::timeout(TIMEOUT, client.get_multiplexed_async_connection_with_config(&config))
        .await
        .map_err(|_| QueueError::Backend(format!("Redis at {}: timed out connecting", redact(url))))?
        .map_err(backend(url))?;
    let info: String = redis::cmd("INFO").arg("server").query_async(&mut con).await.map_err(backend(url))?;
    let version = info.lines().find_map(|l| l.strip_prefix("redis_version:")).unwrap_or("unknown").trim().to_owned();
    let mut names: Vec<String> =
        redis::cmd("SMEMBERS").arg(lanes_key(prefix)).query_async(&mut con).await.map_err(backend(url))?;
    names.extend(lanes.iter().cloned());
    names.sort();
    names.dedup();
    let mut found = Vec::with_capacity(names.len());
    for lane in names {
        let stream = stream_key(prefix, &lane);
        let kind: String = redis::cmd("TYPE").arg(&stream).query_async(&mut con).await.map_err(backend(url))?;
        let mut group = LaneGroup { lane, entries: None, group: false, wrong_type: false };
        match kind.as_str() {
            "none" => {}
            "stream" => {
                let len: u64 = redis::cmd("XLEN").arg(&stream).query_async(&mut con).await.map_err(backend(url))?;
                let groups: Vec<redis::Value> =
                    redis::cmd("XINFO").arg("GROUPS").arg(&stream).query_async(&mut con).await.map_err(backend(url))?;
                group.entries = Some(len);
                group.group = groups.iter().any(|g| names_group(g, GROUP));
            }
            _ => group.wrong_type = true,
        }
        found.push(group);
    }
    Ok(RedisHealth { url: redact(url), supported: supported(&version), version, lanes: found })
}

/// Whether an `XINFO GROUPS` entry (a map, or a flat list of field and
/// value) is the group `name`.
fn names_group(entry: &redis::Value, name: &str) -> bool {
    let is_name = |v: &redis::Value| matches!(v, redis::Value::BulkString(b) if b == name.as_bytes());
    match entry {
        redis::Value::Map(pairs) => pairs.iter().any(|(k, v)| is_name_field(k) && is_name(v)),
        redis::Value::Array(items) => {
            items.chunks(2).any(|kv| kv.len() == 2 && is_name_field(&kv[0]) && is_name(&kv[1]))
        }
        _ => false,
    }
}

fn is_name_field(v: &redis::Value) -> bool {
    match v {
        redis::Value::BulkString(b) => b == b"name",
        redis::Value::SimpleString(s) => s == "name",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_from_7_are_supported() {
        assert!(super::supported("7.0.0") && super::supported("8.2.1"));
        assert!(!super::supported("6.2.14") && !super::supported("unknown"));
    }
}
