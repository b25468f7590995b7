//! The live event stream (`GET /v1/events/stream`, Server-Sent Events)
//! against the real `strata serve`: scoped to the caller's tenant, resumed
//! with `Last-Event-ID` without loss, filtered by kind, refused on bad input,
//! and ended by a shutdown.

mod common;

use common::api::{ADMIN, Api};
use std::time::{Duration, Instant};

/// One event as the stream sent it.
#[derive(Debug, Clone)]
struct Sent {
    id: i64,
    kind: String,
    data: serde_json::Value,
}

/// An open stream.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(api: &Api, token: &str, query: &str, last_event_id: Option<i64>) -> Self {
        let mut call = api.http.get(format!("{}/v1/events/stream{query}", api.server.base)).bearer_auth(token);
        if let Some(id) = last_event_id {
            call = call.header("Last-Event-ID", id.to_string());
        }
        let response = call.send().await.expect("the stream opens");
        assert_eq!(response.status(), 200, "{query}: {:?}", response.headers());
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self { response, buffer: String::new() }
    }

    /// The next `n` events (keep-alive comments skipped), within 10 s.
    async fn take(&mut self, n: usize) -> Vec<Sent> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut out = Vec::new();
        while out.len() < n {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field =
                    |name: &str| block.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim_start().to_owned()));
                if let (Some(id), Some(kind), Some(data)) = (field("id:"), field("event:"), field("data:")) {
                    let data = serde_json::from_str(&data).expect("JSON data");
                    out.push(Sent { id: id.parse().expect("a sequence number"), kind, data });
                }
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.response.chunk()).await;
            let chunk = chunk.unwrap_or_else(|_| panic!("{n} events within 10 s; got {out:?}"));
            let chunk = chunk.expect("the stream reads").expect("the stream goes on");
            self.buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
        out
    }

    /// Whether another event arrives within `wait`.
    async fn quiet_for(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.take(1)).await.is_err()
    }
}

#[tokio::test]
async fn a_tenant_sees_its_own_events_live_and_resumes_without_loss() {
    let api = Api::start(&[]);
    // From the start of the log: acme's creation, not globex's.
    let mut all = Stream::open(&api, &api.acme, "?after=0", None).await;
    let first = all.take(1).await;
    assert_eq!((first[0].kind.as_str(), &first[0].data["tenant_id"]), ("tenant_created", &"acme".into()));
    let mut stream = Stream::open(&api, &api.acme, "?after=0&kind=ingested", None).await;

    api.put("nightly", "a.txt", b"a").await;
    let put = api.call("PUT", "/v1/tenants/globex/artifacts/ci/g.txt").token(&api.globex);
    assert_eq!(put.body("text/plain", "g").send().await.status, 201);
    api.put("nightly", "b.txt", b"b").await;
    let live = stream.take(2).await;
    assert_eq!(live.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["ingested", "ingested"]);
    assert_eq!(live[0].data["artifact_id"], "a.txt");
    assert_eq!(live[1].data["artifact_id"], "b.txt");
    assert!(live[0].id > first[0].id && live[1].id > live[0].id + 1, "globex's events lie between");
    assert!(stream.quiet_for(Duration::from_millis(800)).await, "nothing of globex's");
    drop(stream);

    // While no stream is open, more happens; a reconnect from the last id
    // gets exactly what was missed.
    api.put("nightly", "c.txt", b"c").await;
    api.put("nightly", "d.txt", b"d").await;
    let mut resumed = Stream::open(&api, &api.acme, "?kind=ingested", Some(live[1].id)).await;
    let missed = resumed.take(2).await;
    let names: Vec<_> = missed.iter().map(|e| e.data["artifact_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["c.txt", "d.txt"]);

    // Without a position, only new events come.
    let mut fresh = Stream::open(&api, &api.acme, "?kind=ingested", None).await;
    assert!(fresh.quiet_for(Duration::from_millis(800)).await, "nothing old");
    api.put("nightly", "e.txt", b"e").await;
    assert_eq!(fresh.take(1).await[0].data["artifact_id"], "e.txt");
}

#[tokio::test]
async fn the_admin_streams_any_tenant_and_kind_and_bad_requests_are_refused() {
    let api = Api::start(&[]);
    let mut globex = Stream::open(&api, ADMIN, "?after=0&tenant=globex", None).await;
    let mut created = Stream::open(&api, ADMIN, "?after=0&kind=tenant_created", None).await;
    let tenants: Vec<_> = created.take(2).await.iter().map(|e| e.data["tenant_id"].clone()).collect();
    assert_eq!(tenants, ["acme", "globex"]);
    let kinds: Vec<_> = globex.take(2).await.iter().map(|e| (e.kind.clone(), e.data["tenant_id"].clone())).collect();
    assert_eq!(kinds, [("tenant_created".into(), "globex".into()), ("token_created".into(), "globex".into())]);
    assert!(globex.quiet_for(Duration::from_millis(500)).await, "nothing of acme's");

    let get = |token: &str, query: &str, last: Option<&str>| {
        let mut call = api.call("GET", &format!("/v1/events/stream{query}")).token(token);
        if let Some(last) = last {
            call = call.header("Last-Event-ID", last);
        }
        call.send()
    };
    get(&api.acme, "?tenant=globex", None).await.problem(404, "not-found");
    get(ADMIN, "?tenant=initech", None).await.problem(404, "not-found");
    get(ADMIN, "", Some("abc")).await.problem(400, "bad-request");
    get(ADMIN, "?after=-1", None).await.problem(400, "bad-request");
    get(ADMIN, "?since=1", None).await.problem(400, "bad-request");
    get("not-a-token", "", None).await.problem(401, "unauthorized");
}

#[tokio::test]
async fn a_shutdown_ends_open_streams() {
    let api = Api::start(&[]);
    let mut stream = Stream::open(&api, ADMIN, "?after=0", None).await;
    stream.take(1).await;
    let started = Instant::now();
    let common::api::Api { server, s: _s, .. } = api;
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "stopped in {:?}", started.elapsed());
}
