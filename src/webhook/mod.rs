//! Webhooks: the event types a tenant's endpoint can receive, the checks an
//! endpoint's address passes before it is stored and before each delivery,
//! and the endpoints and deliveries as the catalog keeps them.

use crate::config::{Config, EndpointConfig};
use crate::id::TenantId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod endpoints;

pub use endpoints::Registered;

/// What an endpoint can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookEvent {
    /// An artifact becomes eligible for deletion within
    /// `webhooks.expiring_soon_days` (once per artifact and expiry).
    ExpiringSoon,
    /// An artifact became eligible for deletion.
    DeletionEligible,
    /// An artifact's bytes were deleted by the lifecycle.
    Purged,
    /// An artifact was erased on request.
    Erased,
    /// A job of the tenant's was dead-lettered.
    JobDeadLettered,
    /// An artifact was brought back to the hot tier.
    Restored,
}

impl WebhookEvent {
    /// Every type, in documentation order.
    pub const ALL: [WebhookEvent; 6] = [
        WebhookEvent::ExpiringSoon,
        WebhookEvent::DeletionEligible,
        WebhookEvent::Purged,
        WebhookEvent::Erased,
        WebhookEvent::JobDeadLettered,
        WebhookEvent::Restored,
    ];

    /// The stable name; for every type but `expiring_soon` it is also the
    /// name of the event-log entry that triggers it.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::ExpiringSoon => "expiring_soon",
            WebhookEvent::DeletionEligible => "deletion_eligible",
            WebhookEvent::Purged => "purged",
            WebhookEvent::Erased => "erased",
            WebhookEvent::JobDeadLettered => "job_dead_lettered",
            WebhookEvent::Restored => "restored",
        }
    }

    /// The type named `name`.
    pub fn parse(name: &str) -> Result<Self, WebhookError> {
        Self::ALL.into_iter().find(|e| e.as_str() == name).ok_or_else(|| WebhookError::Event(name.to_owned()))
    }

    /// The type an event-log entry of kind `kind` triggers, if any.
    pub fn of_log_kind(kind: &str) -> Option<Self> {
        Self::parse(kind).ok().filter(|e| *e != WebhookEvent::ExpiringSoon)
    }
}

/// The job kind that delivers webhooks. Its own dead letters notify no one:
/// an endpoint that fails cannot be told so through itself.
pub const DELIVERY_JOB_KIND: &str = "webhook";

/// The shortest signing secret accepted.
pub const MIN_SECRET_LEN: usize = 16;

/// The longest endpoint URL accepted.
const MAX_URL_LEN: usize = 2048;

/// Why an endpoint or its address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Not an absolute http(s) URL.
    #[error("webhook url {0:?} is not an absolute http or https URL")]
    Url(String),
    /// The URL names (or resolves to) an address that is not public.
    #[error(
        "webhook url {url:?} reaches {addr}, which is not a public address (set webhooks.allow_private = true to allow it)"
    )]
    Private {
        /// The URL.
        url: String,
        /// The address it reaches.
        addr: IpAddr,
    },
    /// An unknown event type.
    #[error(
        "unknown webhook event {0:?}; expected one of expiring_soon, deletion_eligible, purged, erased, job_dead_lettered, restored"
    )]
    Event(String),
    /// No event type at all.
    #[error("a webhook must list at least one event")]
    NoEvents,
    /// The signing secret is too short.
    #[error("a webhook secret must be at least {MIN_SECRET_LEN} characters")]
    Secret,
}

/// Checks an endpoint's URL: absolute http(s) with a host, and, unless
/// `allow_private`, no literal address that is not public. (A host name is
/// resolved and checked again at each delivery.)
pub fn check_url(url: &str, allow_private: bool) -> Result<url::Url, WebhookError> {
    let bad = || WebhookError::Url(url.chars().take(200).collect());
    if url.len() > MAX_URL_LEN {
        return Err(bad());
    }
    let parsed = url::Url::parse(url).map_err(|_| bad())?;
    if !matches!(parsed.scheme(), "http" | "https") || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad());
    }
    let addr = match parsed.host() {
        Some(url::Host::Ipv4(a)) => Some(IpAddr::V4(a)),
        Some(url::Host::Ipv6(a)) => Some(IpAddr::V6(a)),
        Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost") => {
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        }
        Some(url::Host::Domain(_)) => None,
        None => return Err(bad()),
    };
    match addr {
        Some(addr) if !allow_private && !is_public(addr) => Err(WebhookError::Private { url: url.to_owned(), addr }),
        _ => Ok(parsed),
    }
}

/// Whether `addr` is a public unicast address: not loopback, private,
/// link-local, shared (CGNAT), unique-local, multicast, documentation,
/// benchmarking, broadcast or unspecified.
pub fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => is_public_v4(a),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(a),
        },
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, _] = a.octets();
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_multicast()
        || a.is_broadcast()
        || a.is_documentation()
        || o0 == 0
        || (o0 == 100 && (64..128).contains(&o1))
        || (o0 == 192 && o1 == 0 && o2 == 0)
        || (o0 == 198 && (18..20).contains(&o1))
        || o0 >= 240)
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    let s0 = a.segments()[0];
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || (s0 & 0xfe00) == 0xfc00
        || (s0 & 0xffc0) == 0xfe80
        || s0 == 0x2001 && a.segments()[1] == 0x0db8
        || s0 == 0x0064 && a.segments()[1] == 0xff9b)
}

/// Parses a list of event types; duplicates are dropped.
pub fn parse_events<S: AsRef<str>>(names: &[S]) -> Result<Vec<WebhookEvent>, WebhookError> {
    let mut events = names.iter().map(|n| WebhookEvent::parse(n.as_ref().trim())).collect::<Result<Vec<_>, _>>()?;
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err(WebhookError::NoEvents);
    }
    Ok(events)
}

/// Checks a whole endpoint: its URL, events and secret.
pub fn check_endpoint(
    url: &str,
    events: &[String],
    secret: &str,
    allow_private: bool,
) -> Result<Vec<WebhookEvent>, WebhookError> {
    check_url(url, allow_private)?;
    if secret.chars().count() < MIN_SECRET_LEN {
        return Err(WebhookError::Secret);
    }
    parse_events(events)
}

/// An endpoint: registered (kept in the catalog) or configured (in the file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Webhook {
    /// Its id: `wh_…` when registered, `config-…` when configured.
    pub id: String,
    /// The tenant whose events it receives.
    pub tenant: String,
    /// Where deliveries go.
    pub url: String,
    /// What it receives.
    pub events: Vec<WebhookEvent>,
    /// The signing secret; never serialized.
    #[serde(skip)]
    pub secret: String,
    /// When it was registered (configured ones: never).
    pub created_at: Option<DateTime<Utc>>,
    /// `api` or `config`.
    pub source: &'static str,
}

impl Webhook {
    /// Whether it receives `event` about `tenant`.
    pub fn wants(&self, tenant: &str, event: WebhookEvent) -> bool {
        self.tenant == tenant && self.events.contains(&event)
    }
}

/// The id of a configured endpoint: stable while its tenant and URL are.
pub fn config_id(endpoint: &EndpointConfig) -> String {
    let digest = Sha256::digest(format!("{}\n{}", endpoint.tenant, endpoint.url));
    format!("config-{}", &hex::encode(digest)[..12])
}

/// The endpoints configured in the file (already checked by the config's
/// validation; one that no longer parses is left out).
pub fn configured(config: &Config) -> Vec<Webhook> {
    config
        .webhooks
        .endpoints
        .iter()
        .filter_map(|e| {
            Some(Webhook {
                id: config_id(e),
                tenant: TenantId::parse(&e.tenant).ok()?.to_string(),
                url: e.url.clone(),
                events: parse_events(&e.events).ok()?,
                secret: e.secret.expose().to_owned(),
                created_at: None,
                source: "config",
            })
        })
        .collect()
}

/// One notice to one endpoint, as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookDelivery {
    /// Its id (the `Strata-Delivery` header).
    pub id: i64,
    /// The endpoint's id.
    pub webhook_id: String,
    /// The tenant.
    pub tenant: String,
    /// The event type.
    pub event: String,
    /// The idempotency key: the same for every attempt of this notice.
    pub idempotency_key: String,
    /// The body sent, as JSON text.
    #[serde(skip)]
    pub body: String,
    /// When the event it tells of happened.
    pub occurred_at: DateTime<Utc>,
    /// Attempts made.
    pub attempts: i64,
    /// When the endpoint acknowledged it (a 2xx answer).
    pub delivered_at: Option<DateTime<Utc>>,
    /// The last HTTP status received.
    pub last_status: Option<i64>,
    /// The last failure.
    pub last_error: Option<String>,
}

/// A notice to record (see [`crate::catalog::Catalog::add_deliveries`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The endpoint's id.
    pub webhook_id: String,
    /// The tenant.
    pub tenant: String,
    /// The event type.
    pub event: WebhookEvent,
    /// The idempotency key (unique per endpoint).
    pub idempotency_key: String,
    /// The body, as JSON text.
    pub body: String,
    /// When the event happened.
    pub occurred_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_urls_are_accepted() {
        for bad in
            ["ftp://example.com/x", "example.com/hook", "http://", "file:///etc/passwd", "http://u:p@example.com/"]
        {
            assert!(matches!(check_url(bad, false), Err(WebhookError::Url(_))), "{bad}");
        }
        assert!(check_url("https://hooks.example.com/strata?x=1", false).is_ok());
        assert!(check_url(&format!("https://example.com/{}", "a".repeat(MAX_URL_LEN)), false).is_err());
    }

    #[test]
    fn private_addresses_are_refused_unless_allowed() {
        for private in [
            "http://127.0.0.1:9000/",
            "http://localhost/",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://0.0.0.0/",
        ] {
            assert!(matches!(check_url(private, false), Err(WebhookError::Private { .. })), "{private}");
            assert!(check_url(private, true).is_ok(), "{private}");
        }
        assert!(check_url("http://93.184.216.34/", false).is_ok());
        assert!(check_url("http://[2606:4700::1111]/", false).is_ok());
    }

    #[test]
    fn events_parse_dedupe_and_must_not_be_empty() {
        let events = parse_events(&["purged", "expiring_soon", "purged"]).unwrap();
        assert_eq!(events, vec![WebhookEvent::ExpiringSoon, WebhookEvent::Purged]);
        assert_eq!(parse_events::<&str>(&[]), Err(WebhookError::NoEvents));
        assert_eq!(parse_events(&["deleted"]), Err(WebhookError::Event("deleted".into())));
        assert_eq!(WebhookEvent::of_log_kind("expiring_soon"), None);
        assert_eq!(WebhookEvent::of_log_kind("restored"), Some(WebhookEvent::Restored));
    }

    #[test]
    fn a_short_secret_is_refused() {
        let events = vec!["purged".to_owned()];
        assert_eq!(check_endpoint("https://example.com/", &events, "short", false), Err(WebhookError::Secret));
        assert!(check_endpoint("https://example.com/", &events, "a-long-enough-secret", false).is_ok());
    }
}
