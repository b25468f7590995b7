//! Webhook endpoints, the notices owed to them (an outbox the delivery jobs
//! work through) and how far the event log has been read for notices.

use super::sql::{Builder, sql};
use super::{Catalog, CatalogError, WriteTx};
use crate::clock::{from_millis, to_millis};
use crate::id::TenantId;
use crate::webhook::{NewDelivery, Webhook, WebhookDelivery, parse_events};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// The cursor of the event log's reader for notices.
const CURSOR: &str = "notices";

fn webhook_row(r: &sqlx::any::AnyRow) -> Result<Webhook, CatalogError> {
    let events: String = r.try_get("events")?;
    let names: Vec<&str> = events.split(',').collect();
    Ok(Webhook {
        id: r.try_get("id")?,
        tenant: r.try_get("tenant")?,
        url: r.try_get("url")?,
        events: parse_events(&names).map_err(|e| CatalogError::BadRow(e.to_string()))?,
        secret: r.try_get("secret")?,
        created_at: Some(from_millis(r.try_get("created_at")?)),
        source: "api",
    })
}

fn delivery_row(r: &sqlx::any::AnyRow) -> Result<WebhookDelivery, CatalogError> {
    Ok(WebhookDelivery {
        id: r.try_get("id")?,
        webhook_id: r.try_get("webhook_id")?,
        tenant: r.try_get("tenant")?,
        event: r.try_get("event")?,
        idempotency_key: r.try_get("idempotency_key")?,
        body: r.try_get("body")?,
        occurred_at: from_millis(r.try_get("occurred_at")?),
        attempts: r.try_get("attempts")?,
        delivered_at: r.try_get::<Option<i64>, _>("delivered_at")?.map(from_millis),
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
    })
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, tenant, event, idempotency_key, body, occurred_at, attempts, \
     delivered_at, last_status, last_error";

impl Catalog {
    /// Registered endpoints, of one tenant or of all, by id.
    pub async fn webhooks(&self, tenant: Option<&TenantId>) -> Result<Vec<Webhook>, CatalogError> {
        let rows = sqlx::query(sql("SELECT id, tenant, url, events, secret, created_at FROM webhooks \
             WHERE ?1 IS NULL OR tenant = ?1 ORDER BY id"))
        .bind(tenant.map(TenantId::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(webhook_row).collect()
    }

    /// The registered endpoint `id`, if there is one.
    pub async fn webhook(&self, id: &str) -> Result<Option<Webhook>, CatalogError> {
        let row = sqlx::query(sql("SELECT id, tenant, url, events, secret, created_at FROM webhooks WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(webhook_row).transpose()
    }

    /// The last event sequence read for notices (0 before the first read).
    pub async fn notice_cursor(&self) -> Result<i64, CatalogError> {
        let row = sqlx::query(sql("SELECT sequence FROM webhook_cursor WHERE name = ?"))
            .bind(CURSOR)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("sequence")).transpose()?.unwrap_or(0))
    }

    /// Records notices (one already recorded for its endpoint and key is
    /// left as it is) and, in the same commit, moves the cursor to `cursor`
    /// when given. Returns how many notices were new.
    pub async fn record_notices(
        &self,
        notices: &[NewDelivery],
        cursor: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<u64, CatalogError> {
        let mut tx = self.begin_write_in(std::iter::empty()).await?;
        let mut added = 0;
        for chunk in notices.chunks(100) {
            let mut q = Builder::new(
                "INSERT INTO webhook_deliveries \
                 (webhook_id, tenant, event, idempotency_key, body, occurred_at, created_at) ",
            );
            for (i, n) in chunk.iter().enumerate() {
                q.push(if i == 0 { "VALUES (" } else { ", (" });
                q.push_bind(n.webhook_id.clone()).push(", ");
                q.push_bind(n.tenant.clone()).push(", ");
                q.push_bind(n.event.as_str().to_owned()).push(", ");
                q.push_bind(n.idempotency_key.clone()).push(", ");
                q.push_bind(n.body.clone()).push(", ");
                q.push_bind(to_millis(n.occurred_at)).push(", ");
                q.push_bind(to_millis(at)).push(")");
            }
            q.push(" ON CONFLICT (webhook_id, idempotency_key) DO NOTHING");
            added += q.build(self.dialect)?.execute(&mut *tx.tx).await?.rows_affected();
        }
        if let Some(cursor) = cursor {
            sqlx::query(sql("INSERT INTO webhook_cursor (name, sequence) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET sequence = ?2"))
            .bind(CURSOR)
            .bind(cursor)
            .execute(&mut *tx.tx)
            .await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Up to `limit` notices whose delivery job is not yet on the queue,
    /// oldest first: `(id, tenant)`.
    pub async fn notice_outbox(&self, limit: i64) -> Result<Vec<(i64, String)>, CatalogError> {
        let rows =
            sqlx::query(sql("SELECT id, tenant FROM webhook_deliveries WHERE enqueued_at IS NULL ORDER BY id LIMIT ?"))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("tenant")?))).collect()
    }

    /// Marks notices as on the queue.
    pub async fn notices_enqueued(&self, ids: &[i64], at: DateTime<Utc>) -> Result<(), CatalogError> {
        let mut tx = self.begin_write_in(std::iter::empty()).await?;
        for chunk in ids.chunks(500) {
            let mut q = Builder::new("UPDATE webhook_deliveries SET enqueued_at = ");
            q.push_bind(to_millis(at)).push(" WHERE id IN (").push_binds(chunk.iter().copied()).push(")");
            q.build(self.dialect)?.execute(&mut *tx.tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The notice `id`, if it exists.
    pub async fn webhook_delivery(&self, id: i64) -> Result<Option<WebhookDelivery>, CatalogError> {
        let row = sqlx::query(sql(&format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(delivery_row).transpose()
    }

    /// The newest `limit` notices to endpoint `webhook_id`, newest first.
    pub async fn webhook_deliveries(&self, webhook_id: &str, limit: i64) -> Result<Vec<WebhookDelivery>, CatalogError> {
        let rows = sqlx::query(sql(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT ?"
        )))
        .bind(webhook_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_row).collect()
    }

    /// Records one attempt at notice `id`: the status received (if any),
    /// the failure (if any), and, when `delivered`, the instant it was
    /// acknowledged (kept from the first acknowledgement).
    pub async fn notice_attempted(
        &self,
        id: i64,
        status: Option<u16>,
        error: Option<&str>,
        delivered: Option<DateTime<Utc>>,
    ) -> Result<(), CatalogError> {
        let mut tx = self.begin_write_in(std::iter::empty()).await?;
        sqlx::query(sql("UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = ?, last_error = ?, \
             delivered_at = COALESCE(delivered_at, ?) WHERE id = ?"))
        .bind(status.map(i64::from))
        .bind(error)
        .bind(delivered.map(to_millis))
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl WriteTx {
    /// Registers an endpoint.
    pub async fn add_webhook(&mut self, hook: &Webhook, at: DateTime<Utc>, actor: &str) -> Result<(), CatalogError> {
        let events: Vec<&str> = hook.events.iter().map(|e| e.as_str()).collect();
        sqlx::query(sql("INSERT INTO webhooks (id, tenant, url, events, secret, created_at, created_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?)"))
        .bind(&hook.id)
        .bind(&hook.tenant)
        .bind(&hook.url)
        .bind(events.join(","))
        .bind(&hook.secret)
        .bind(to_millis(at))
        .bind(actor)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Removes endpoint `id` of `tenant`; false when there is none.
    pub async fn remove_webhook(&mut self, tenant: &TenantId, id: &str) -> Result<bool, CatalogError> {
        let done = sqlx::query(sql("DELETE FROM webhooks WHERE id = ? AND tenant = ?"))
            .bind(id)
            .bind(tenant.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
