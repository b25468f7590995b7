//! Finding the webhook notices owed and putting their delivery jobs on the
//! queue. A pass reads the event log from where the last one stopped and
//! records one notice per event and endpoint that wants it, then (when
//! asked) one `expiring_soon` notice per artifact that becomes eligible for
//! deletion within `webhooks.expiring_soon_days`, then enqueues a delivery
//! job for every notice not yet on the queue.
//!
//! Every step may be repeated: a notice's idempotency key is unique per
//! endpoint, so a re-read event or a second scan records nothing new; a
//! notice whose job was enqueued but not marked so is enqueued again and
//! its second job finds it delivered. Passes may run in several processes
//! at once.

use crate::message::to_new_jobs;
use crate::{Queue, QueueError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use strata_core::catalog::EventFilter;
use strata_core::event::Event;
use strata_core::id::TenantId;
use strata_core::store::{Store, StoreError};
use strata_core::upcoming::Deletion;
use strata_core::webhook::{DELIVERY_JOB_KIND, NewDelivery, Webhook, WebhookEvent};
use strata_jobs::payload::Job;

/// Events read per statement.
const PAGE: i64 = 1000;
/// How long a hole in the event sequence is waited for: on PostgreSQL a
/// lower sequence number may commit after a higher one, so the cursor stays
/// before a hole this young and the next pass reads past it again.
const GAP_WAIT: chrono::Duration = chrono::Duration::seconds(2);
/// The most notices enqueued per pass.
const MAX_ENQUEUE: usize = 100_000;

/// A pass that failed; the next one carries on from where it stopped.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    /// The catalog failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The queue failed: the notices stay in the outbox.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl From<strata_core::catalog::CatalogError> for NoticeError {
    fn from(e: strata_core::catalog::CatalogError) -> Self {
        NoticeError::Store(e.into())
    }
}

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NoticeReport {
    /// Events read from the log.
    pub events_read: usize,
    /// New notices about logged events.
    pub recorded: u64,
    /// New `expiring_soon` notices.
    pub expiring: u64,
    /// Delivery jobs enqueued.
    pub enqueued: usize,
}

/// One pass, as of `now`; `expiring` also scans for `expiring_soon` notices.
pub async fn dispatch(
    store: &Store,
    queue: &dyn Queue,
    now: DateTime<Utc>,
    expiring: bool,
) -> Result<NoticeReport, NoticeError> {
    let hooks = store.webhooks(None).await?;
    let mut report = NoticeReport::default();
    read_log(store, &hooks, &mut report).await?;
    if expiring {
        report.expiring = scan_expiring(store, &hooks, now).await?;
    }
    report.enqueued = enqueue(store, queue, now).await?;
    Ok(report)
}

/// Records the notices of the events logged since the last pass.
async fn read_log(store: &Store, hooks: &[Webhook], report: &mut NoticeReport) -> Result<(), NoticeError> {
    let catalog = store.catalog();
    let mut cursor = catalog.notice_cursor().await?;
    if hooks.is_empty() {
        // No one to tell: skip what was logged meanwhile, so an endpoint
        // registered later is not sent the past.
        let newest = catalog.events(&EventFilter { limit: Some(1), newest: true, ..EventFilter::default() }).await?;
        if let Some(e) = newest.first().filter(|e| e.seq > cursor) {
            catalog.record_notices(&[], Some(e.seq), store.now()).await?;
        }
        return Ok(());
    }
    loop {
        let filter = EventFilter { after: Some(cursor), limit: Some(PAGE), ..EventFilter::default() };
        let events = catalog.events(&filter).await?;
        report.events_read += events.len();
        let mut next = cursor;
        let mut settled = true;
        for e in &events {
            if e.seq != next + 1 && store.now() - e.timestamp < GAP_WAIT {
                settled = false;
            }
            if settled {
                next = e.seq;
            }
        }
        let notices: Vec<NewDelivery> = events.iter().flat_map(|e| notices_of(hooks, e)).collect();
        let moved = (next > cursor).then_some(next);
        if !notices.is_empty() || moved.is_some() {
            report.recorded += catalog.record_notices(&notices, moved, store.now()).await?;
        }
        if !settled || events.len() < PAGE as usize || next == cursor {
            return Ok(());
        }
        cursor = next;
    }
}

/// The notices one logged event owes.
fn notices_of(hooks: &[Webhook], e: &Event) -> Vec<NewDelivery> {
    let Some(event) = WebhookEvent::of_log_kind(&e.event_type) else { return Vec::new() };
    let Some(tenant) = e.tenant_id.as_deref() else { return Vec::new() };
    // A failing endpoint cannot be told of its own failures.
    if event == WebhookEvent::JobDeadLettered && e.data.get("kind").and_then(|k| k.as_str()) == Some(DELIVERY_JOB_KIND)
    {
        return Vec::new();
    }
    let key = format!("evt-{}", e.seq);
    let artifact = match (&e.workflow_id, &e.artifact_id) {
        (Some(workflow), Some(name)) => json!({ "workflow": workflow, "name": name }),
        _ => serde_json::Value::Null,
    };
    let body = json!({
        "id": key,
        "type": event.as_str(),
        "tenant": tenant,
        "sequence": e.seq,
        "occurred_at": e.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "artifact": artifact,
        "actor": e.actor,
        "reason": e.reason,
        "data": e.data,
    })
    .to_string();
    hooks
        .iter()
        // An endpoint hears of what happened after it was registered.
        .filter(|h| h.wants(tenant, event) && h.created_at.is_none_or(|at| e.timestamp >= at))
        .map(|h| NewDelivery {
            webhook_id: h.id.clone(),
            tenant: tenant.to_owned(),
            event,
            idempotency_key: key.clone(),
            body: body.clone(),
            occurred_at: e.timestamp,
        })
        .collect()
}

/// Records an `expiring_soon` notice for every artifact of a tenant with an
/// endpoint that wants them which becomes eligible for deletion after `now`
/// and within `webhooks.expiring_soon_days`; once per artifact and expiry.
async fn scan_expiring(store: &Store, hooks: &[Webhook], now: DateTime<Utc>) -> Result<u64, NoticeError> {
    let mut tenants: Vec<&str> =
        hooks.iter().filter(|h| h.events.contains(&WebhookEvent::ExpiringSoon)).map(|h| h.tenant.as_str()).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let days = store.config().webhooks.expiring_soon_days;
    let until = strata_core::clock::add_days(now, days).unwrap_or(DateTime::<Utc>::MAX_UTC);
    let mut added = 0;
    for tenant in tenants {
        let Ok(id) = TenantId::parse(tenant) else { continue };
        let steps = store.upcoming(Some(&id), now, until).await?;
        let mut notices = Vec::new();
        for step in steps.iter().filter(|s| s.event == Deletion::DeletionEligible && s.at > now) {
            let digest = Sha256::digest(format!("{}\n{}", step.key, step.at.timestamp_millis()));
            let key = format!("exp-{}", &hex::encode(digest)[..24]);
            let mut parts = step.key.splitn(3, '/').skip(1);
            let (workflow, name) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
            let body = json!({
                "id": key,
                "type": WebhookEvent::ExpiringSoon.as_str(),
                "tenant": tenant,
                "sequence": null,
                "occurred_at": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "artifact": { "workflow": workflow, "name": name },
                "actor": "webhooks",
                "reason": null,
                "data": {
                    "eligible_at": step.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "rule": step.rule,
                    "tier": step.tier,
                    "size": step.size,
                },
            })
            .to_string();
            for hook in hooks.iter().filter(|h| h.wants(tenant, WebhookEvent::ExpiringSoon)) {
                notices.push(NewDelivery {
                    webhook_id: hook.id.clone(),
                    tenant: tenant.to_owned(),
                    event: WebhookEvent::ExpiringSoon,
                    idempotency_key: key.clone(),
                    body: body.clone(),
                    occurred_at: now,
                });
            }
        }
        if !notices.is_empty() {
            added += store.catalog().record_notices(&notices, None, store.now()).await?;
        }
    }
    Ok(added)
}

/// Enqueues a delivery job for every notice not yet on the queue.
async fn enqueue(store: &Store, queue: &dyn Queue, now: DateTime<Utc>) -> Result<usize, NoticeError> {
    let catalog = store.catalog();
    let mut enqueued = 0;
    while enqueued < MAX_ENQUEUE {
        let pending = catalog.notice_outbox(PAGE).await?;
        if pending.is_empty() {
            break;
        }
        let jobs: Vec<Job> = pending.iter().map(|(id, tenant)| Job::webhook(*id, tenant, now)).collect();
        queue.enqueue(&to_new_jobs(&jobs, store.config())).await?;
        let ids: Vec<i64> = pending.iter().map(|(id, _)| *id).collect();
        catalog.notices_enqueued(&ids, store.now()).await?;
        enqueued += ids.len();
    }
    Ok(enqueued)
}
