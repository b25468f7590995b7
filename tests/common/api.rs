//! Talking HTTP to a real `strata serve`: tenants `acme` and `globex` with a
//! token each, and the admin token.

use super::{Server, Strata};
use reqwest::Method;
use reqwest::header::HeaderMap;
use strata_core::config::env;

/// The admin token every API test configures.
pub const ADMIN: &str = "admin-token-for-the-tests-0123456789";

/// A served data directory with two tenants and their tokens.
pub struct Api {
    /// Dropped (stopped) before the data directory and its catalog.
    pub server: Server,
    pub s: Strata,
    pub http: reqwest::Client,
    /// acme's token.
    pub acme: String,
    /// globex's token.
    pub globex: String,
}

/// One answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json answer of `status` and slug `kind`; returns its body.
    pub fn problem(&self, status: u16, kind: &str) -> serde_json::Value {
        assert_eq!(self.status, status, "{}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.header("content-type"), Some("application/problem+json"));
        let p = self.json();
        assert_eq!(p["type"], format!("https://strata.dev/problems/{kind}"), "{p}");
        assert_eq!(p["status"], status);
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
        assert!(p["detail"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
        p
    }
}

/// A request being built.
pub struct Call {
    request: reqwest::RequestBuilder,
}

impl Call {
    pub fn token(mut self, token: &str) -> Self {
        self.request = self.request.bearer_auth(token);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request = self.request.header(name, value);
        self
    }

    pub fn body(mut self, content_type: &str, bytes: impl Into<Vec<u8>>) -> Self {
        self.request = self.request.header("content-type", content_type).body(bytes.into());
        self
    }

    pub fn json(self, value: serde_json::Value) -> Self {
        self.body("application/json", value.to_string())
    }

    pub async fn send(self) -> Reply {
        let response = self.request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("a whole body").to_vec();
        Reply { status, headers, body }
    }
}

impl Api {
    /// Serves a fresh data directory (with `env` set) holding tenants acme (pro) and globex (free).
    pub fn start(env: &[(&str, &str)]) -> Self {
        Self::launch("serve", env)
    }

    /// Like [`Api::start`] with `strata COMMAND` (`serve` or `run`).
    pub fn launch(command: &str, env: &[(&str, &str)]) -> Self {
        let mut s = Strata::new().env(env::ADMIN_TOKEN, ADMIN);
        for (k, v) in env {
            s = s.env(k, v);
        }
        s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
        s.ok(&["tenant", "add", "globex"]);
        let token = |tenant: &str| {
            let out = s.ok(&["tenant", "token", "create", tenant]);
            out.lines().last().expect("a last line").trim().to_owned()
        };
        let (acme, globex) = (token("acme"), token("globex"));
        assert_eq!(acme.len(), 64, "the token is alone on the last line");
        let server = s.listen(command);
        Self { server, s, http: reqwest::Client::new(), acme, globex }
    }

    pub fn call(&self, method: &str, path: &str) -> Call {
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        Call { request: self.http.request(method, format!("{}{path}", self.server.base)) }
    }

    /// Uploads `bytes` as acme's artifact `workflow/name`; asserts 201.
    pub async fn put(&self, workflow: &str, name: &str, bytes: &[u8]) -> serde_json::Value {
        let reply = self
            .call("PUT", &format!("/v1/tenants/acme/artifacts/{workflow}/{name}"))
            .token(&self.acme)
            .body("application/octet-stream", bytes.to_vec())
            .send()
            .await;
        assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
        reply.json()
    }
}

/// Whether reading a body failed because the connection ended before the
/// body's announced length (an unexpected end of file), not for another
/// reason such as a timeout.
pub fn cut_short(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        if inner.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof) {
            return true;
        }
        source = inner.source();
    }
    false
}
