//! Registering, listing and removing endpoints, each change with its event.

use super::{Webhook, check_endpoint, configured};
use crate::event::{EventKind, NewEvent};
use crate::id::TenantId;
use crate::store::{Store, StoreError};
use serde_json::json;

/// A freshly registered endpoint, with the secret it signs with (generated
/// when none was given; shown only now).
#[derive(Debug)]
pub struct Registered {
    /// The endpoint.
    pub webhook: Webhook,
    /// Its signing secret.
    pub secret: String,
}

impl Store {
    /// Registers an endpoint for an existing tenant, with its
    /// `webhook_registered` event. Without `secret`, one is generated.
    pub async fn add_webhook(
        &self,
        tenant: &TenantId,
        url: &str,
        events: &[String],
        secret: Option<String>,
        actor: &str,
    ) -> Result<Registered, StoreError> {
        let secret = secret.unwrap_or_else(|| format!("whsec_{}", hex::encode(rand::random::<[u8; 24]>())));
        let events = check_endpoint(url, events, &secret, self.config.webhooks.allow_private)?;
        self.tenant(tenant).await?;
        let now = self.clock.now();
        let webhook = Webhook {
            id: format!("wh_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
            tenant: tenant.to_string(),
            url: url.to_owned(),
            events,
            secret: secret.clone(),
            created_at: Some(now),
            source: "api",
        };
        let mut tx = self.catalog.begin_write().await?;
        tx.add_webhook(&webhook, now, actor).await?;
        let names: Vec<&str> = webhook.events.iter().map(|e| e.as_str()).collect();
        let data = json!({ "webhook_id": webhook.id, "url": webhook.url, "events": names });
        tx.append_event(now, Some(tenant), None, &NewEvent::new(EventKind::WebhookRegistered, actor, data)).await?;
        tx.commit().await?;
        Ok(Registered { webhook, secret })
    }

    /// Removes registered endpoint `id` of `tenant`, with its
    /// `webhook_removed` event. Notices not yet delivered to it are dropped
    /// by their delivery jobs.
    pub async fn remove_webhook(&self, tenant: &TenantId, id: &str, actor: &str) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut tx = self.catalog.begin_write().await?;
        if !tx.remove_webhook(tenant, id).await? {
            return Err(StoreError::WebhookNotFound { tenant: tenant.to_string(), id: id.to_owned() });
        }
        let event = NewEvent::new(EventKind::WebhookRemoved, actor, json!({ "webhook_id": id }));
        tx.append_event(now, Some(tenant), None, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The endpoints of one tenant or of all: the configured ones, then the
    /// registered ones, each by id.
    pub async fn webhooks(&self, tenant: Option<&TenantId>) -> Result<Vec<Webhook>, StoreError> {
        let mut all: Vec<Webhook> =
            configured(&self.config).into_iter().filter(|w| tenant.is_none_or(|t| w.tenant == t.as_str())).collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all.extend(self.catalog.webhooks(tenant).await?);
        Ok(all)
    }

    /// The endpoint `id`, configured or registered.
    pub async fn find_webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError> {
        if let Some(hook) = configured(&self.config).into_iter().find(|w| w.id == id) {
            return Ok(Some(hook));
        }
        Ok(self.catalog.webhook(id).await?)
    }
}
