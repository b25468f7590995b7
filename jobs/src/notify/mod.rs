//! Sending webhook notices: one HTTP client per process, whose resolver
//! refuses non-public addresses (unless `webhooks.allow_private`), which
//! follows no redirect and uses no proxy, reads at most [`MAX_RESPONSE`]
//! bytes of an answer, and gives up after `webhooks.timeout_secs`.

pub mod sign;

use reqwest_rustls as reqwest;
use std::net::SocketAddr;
use std::time::Duration;
use strata_core::config::WebhooksConfig;
use strata_core::webhook::{WebhookDelivery, is_public};

/// The most bytes of an endpoint's answer read (the rest is dropped).
pub const MAX_RESPONSE: usize = 64 * 1024;

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// The endpoint answered 2xx.
    Delivered(u16),
    /// The endpoint answered something else (a redirect included: none is followed).
    Refused(u16),
    /// No answer: connection failed, timed out, or the answer broke off.
    Failed(String),
    /// The endpoint resolves to an address that is not public.
    Private(String),
}

/// A resolver that only returns public addresses.
struct PublicOnly;

/// The error of a name that resolves only to non-public addresses.
#[derive(Debug, thiserror::Error)]
#[error("{name} resolves to {addr}, which is not a public address (webhooks.allow_private is off)")]
struct NotPublic {
    name: String,
    addr: std::net::IpAddr,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            // Every address must be public: a name with one private address
            // among public ones could be made to pick it.
            if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                return Err(
                    Box::new(NotPublic { name: host, addr: bad.ip() }) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The process's webhook sender.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
}

impl Sender {
    /// A sender with `config`'s timeout and address policy.
    pub fn new(config: &WebhooksConfig) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs.max(1)))
            .connect_timeout(Duration::from_secs(config.timeout_secs.clamp(1, 10)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("strata-webhooks/", env!("CARGO_PKG_VERSION")));
        if !config.allow_private {
            builder = builder.dns_resolver(std::sync::Arc::new(PublicOnly));
        }
        let client = builder.build().map_err(|e| format!("the webhook client could not start: {e}"))?;
        Ok(Self { client, allow_private: config.allow_private })
    }

    /// POSTs `notice` to `url`, signed with `secret` at `timestamp`.
    pub async fn send(&self, url: &str, secret: &str, notice: &WebhookDelivery, timestamp: i64) -> Sent {
        if let Err(e) = strata_core::webhook::check_url(url, self.allow_private) {
            return Sent::Private(e.to_string());
        }
        let request = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .header(sign::SIGNATURE_HEADER, sign::signature(secret, timestamp, &notice.body))
            .header("Strata-Event", notice.event.as_str())
            .header("Strata-Delivery", notice.id.to_string())
            .header("Idempotency-Key", notice.idempotency_key.as_str())
            .body(notice.body.clone());
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return failure(&e),
        };
        let status = response.status().as_u16();
        // Read a bounded part of the answer, so the connection can be reused
        // and a huge or endless answer costs nothing more.
        let mut read = 0;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if read + chunk.len() < MAX_RESPONSE => read += chunk.len(),
                Ok(_) | Err(_) => break,
            }
        }
        if (200..300).contains(&status) { Sent::Delivered(status) } else { Sent::Refused(status) }
    }
}

/// What a failed request says, with a refused private address told apart.
fn failure(e: &reqwest::Error) -> Sent {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(np) = s.downcast_ref::<NotPublic>() {
            return Sent::Private(np.to_string());
        }
        source = s.source();
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut message = format!("{what}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    Sent::Failed(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::dns::Resolve;
    use std::str::FromStr;

    #[tokio::test]
    async fn a_name_resolving_to_a_private_address_is_refused() {
        let name = reqwest::dns::Name::from_str("localhost").unwrap();
        let refused = PublicOnly.resolve(name).await.err().unwrap();
        assert!(refused.to_string().contains("not a public address"), "{refused}");
    }

    #[tokio::test]
    async fn a_private_endpoint_is_not_contacted_when_private_addresses_are_off() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let sender = Sender::new(&WebhooksConfig::default()).unwrap();
        let notice = WebhookDelivery {
            id: 1,
            webhook_id: "wh_x".into(),
            tenant: "acme".into(),
            event: "purged".into(),
            idempotency_key: "evt-1".into(),
            body: "{}".into(),
            occurred_at: chrono::Utc::now(),
            attempts: 0,
            delivered_at: None,
            last_status: None,
            last_error: None,
        };
        let sent = sender.send(&url, "a-signing-secret-for-tests", &notice, 0).await;
        assert!(matches!(&sent, Sent::Private(why) if why.contains("not a public address")), "{sent:?}");
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "nothing connected");
    }
}
