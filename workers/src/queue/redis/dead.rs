//! Dead letters: a stream per lane, keyed by the queue's clock, listed in
//! bounded pages, moved back to their lane with fresh attempts, or deleted.
//! A dead letter's id is `LANE@MS-SEQ`.

use super::{DeadFilter, DeadLetter, QueueError, RedisQueue};
use std::collections::BTreeMap;
use strata_core::clock::{from_millis, to_millis};

/// Dead letters read per `XRANGE`.
const DEAD_PAGE: usize = 1000;

/// A dead letter as stored: its lane, its entry id and its fields.
type DeadEntry = (String, String, BTreeMap<String, String>);

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

/// What a filter naming one id answers when nothing matched: not found;
/// otherwise nothing was acted on.
fn none_matched(filter: &DeadFilter) -> Result<u64, QueueError> {
    match &filter.id {
        Some(id) => Err(QueueError::NotFound(format!("id {id}"))),
        None => Ok(0),
    }
}

impl RedisQueue {
    /// Dead letters of every matching lane, lanes by name and each lane
    /// oldest first, at most `limit`, read in bounded pages.
    async fn dead_entries(&self, filter: &DeadFilter, limit: usize) -> Result<Vec<DeadEntry>, QueueError> {
        let id = filter.id.as_deref().map(dead_id).transpose()?;
        let from = filter.from.as_deref().map(dead_id).transpose()?;
        let lanes = match id.as_ref().map(|(lane, _)| lane.clone()).or_else(|| filter.lane.clone()) {
            Some(lane) => vec![lane],
            None => self.known_lanes().await?,
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

    /// Lists dead letters (see `Queue::dead_letters`).
    pub(super) async fn list_dead(&self, filter: &DeadFilter, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
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

    /// Moves matching dead letters back to their lanes (see `Queue::retry_dead`).
    pub(super) async fn requeue_dead(&self, filter: &DeadFilter) -> Result<u64, QueueError> {
        let entries = self.dead_entries(filter, usize::MAX).await?;
        if entries.is_empty() {
            return none_matched(filter);
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

    /// Deletes matching dead letters (see `Queue::discard_dead`).
    pub(super) async fn delete_dead(&self, filter: &DeadFilter) -> Result<u64, QueueError> {
        let entries = self.dead_entries(filter, usize::MAX).await?;
        if entries.is_empty() {
            return none_matched(filter);
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
