//! Webhook settings: notice before deletion and the other lifecycle events,
//! sent to tenants' endpoints.

use super::secret::Secret;
use serde::Deserialize;

/// Webhooks: how notices are found and sent, and the endpoints configured
/// in the file (more are registered through the API or `strata webhook add`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// How many days before an artifact becomes eligible for deletion its
    /// `expiring_soon` notice is sent (`STRATA_WEBHOOKS_EXPIRING_SOON_DAYS`).
    pub expiring_soon_days: u32,
    /// Whether endpoints may be on loopback, private, link-local or other
    /// non-public addresses (`STRATA_WEBHOOKS_ALLOW_PRIVATE`). Off by
    /// default: a tenant must not reach the operator's internal network.
    pub allow_private: bool,
    /// How long one delivery may take, connection to last byte.
    pub timeout_secs: u64,
    /// How often the scheduler looks for new events to notify.
    pub poll_interval_ms: u64,
    /// How often the scheduler looks for artifacts entering the
    /// `expiring_soon` window.
    pub expiring_scan_secs: u64,
    /// Endpoints configured in the file.
    pub endpoints: Vec<EndpointConfig>,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            expiring_soon_days: 3,
            allow_private: false,
            timeout_secs: 10,
            poll_interval_ms: 1000,
            expiring_scan_secs: 300,
            endpoints: Vec::new(),
        }
    }
}

/// One endpoint in the configuration file (`[[webhooks.endpoints]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The tenant whose events it receives.
    pub tenant: String,
    /// Where deliveries are POSTed (http or https).
    pub url: String,
    /// The event types it receives (see [`crate::webhook::WebhookEvent`]).
    pub events: Vec<String>,
    /// The HMAC-SHA256 signing key.
    pub secret: Secret,
}
