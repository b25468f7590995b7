//! Webhooks through the real binary, with receivers on 127.0.0.1: every
//! delivery is signed, a notice is sent once per artifact and expiry (at
//! least once on the wire, under one idempotency key), notices carry the
//! event sequence they tell of, a failing endpoint is retried until it
//! recovers, and endpoints that hang, redirect or answer with a flood are
//! handled without harm.

mod common;

use common::Strata;
use hmac::{Hmac, KeyInit, Mac};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "a-signing-secret-for-tests";

/// One request as a receiver saw it.
#[derive(Debug, Clone)]
struct Request {
    headers: BTreeMap<String, String>,
    body: String,
}

impl Request {
    fn header(&self, name: &str) -> &str {
        self.headers.get(&name.to_ascii_lowercase()).map_or("", String::as_str)
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// How a receiver answers its n-th request (from 0).
#[derive(Debug, Clone, Copy)]
enum Reply {
    Ok,
    Status(u16),
    /// Close the connection without answering, after reading the request.
    Drop,
    /// Answer nothing for longer than the sender waits.
    Hang,
    /// Redirect to itself.
    Redirect,
    /// 200 with an 8 MiB body.
    Flood,
}

/// An HTTP endpoint on 127.0.0.1 that records what it is sent.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    fn start(reply: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("the test receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("the test receiver"));
        let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
        let (seen2, reply, me) = (seen.clone(), Arc::new(reply), url.clone());
        std::thread::spawn(move || {
            // Bounded: no test sends more than this many requests.
            for stream in listener.incoming().take(200) {
                let Ok(stream) = stream else { continue };
                let (seen, reply, me) = (seen2.clone(), reply.clone(), me.clone());
                std::thread::spawn(move || serve(stream, &seen, reply.as_ref(), &me));
            }
        });
        Self { url, seen }
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().expect("the test receiver").clone()
    }
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<Request>>, reply: &(dyn Fn(usize) -> Reply + Send + Sync), me: &str) {
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("the test receiver");
    let mut reader = BufReader::new(stream.try_clone().expect("the test receiver"));
    let mut headers = BTreeMap::new();
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).expect("the test receiver");
    let n = {
        let mut seen = seen.lock().expect("the test receiver");
        seen.push(Request { headers, body: String::from_utf8(body).expect("the test receiver") });
        seen.len() - 1
    };
    let mut out = stream;
    let answer = |status: &str, extra: &str| {
        format!("HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n")
    };
    match reply(n) {
        Reply::Ok => drop(out.write_all(answer("200 OK", "").as_bytes())),
        Reply::Status(code) => drop(out.write_all(answer(&format!("{code} Nope"), "").as_bytes())),
        Reply::Drop => {}
        Reply::Hang => std::thread::sleep(Duration::from_secs(4)),
        Reply::Redirect => drop(out.write_all(answer("302 Found", &format!("Location: {me}\r\n")).as_bytes())),
        Reply::Flood => {
            let head = "HTTP/1.1 200 OK\r\nContent-Length: 8388608\r\nConnection: close\r\n\r\n";
            if out.write_all(head.as_bytes()).is_ok() {
                let chunk = vec![b'x'; 64 * 1024];
                for _ in 0..128 {
                    if out.write_all(&chunk).is_err() {
                        break;
                    }
                }
            }
        }
    }
}

/// The HMAC-SHA256 check a receiver makes, written from the README's description.
fn signed_by(secret: &str, header: &str, body: &str) -> bool {
    let Some((t, v1)) = header.split_once(",v1=") else { return false };
    let Some(t) = t.strip_prefix("t=") else { return false };
    let now = chrono::Utc::now().timestamp();
    if (now - t.parse::<i64>().expect("the test receiver")).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("the test receiver");
    mac.update(format!("{t}.{body}").as_bytes());
    mac.verify_slice(&hex::decode(v1).expect("the test receiver")).is_ok()
}

/// A tenant on the free plan (30 days, then 7 days' grace) with three
/// artifacts, whose webhooks may reach 127.0.0.1 and retry quickly.
fn tenant_with_artifacts(extra_config: &str) -> Strata {
    let s = Strata::new();
    let config = format!(
        "[jobs]\nbackoff_base_ms = 10\nbackoff_max_ms = 50\nmax_attempts_by_kind = {{ webhook = 3 }}\n\n\
         [webhooks]\nallow_private = true\ntimeout_secs = 1\n{extra_config}"
    );
    std::fs::write(s.path("strata.toml"), config).expect("the test receiver");
    let path = s.path("strata.toml").to_str().expect("the test receiver").to_owned();
    let s = s.env("STRATA_CONFIG", &path);
    s.ok(&["tenant", "add", "acme", "--plan", "free"]);
    s.ok(&["tenant", "add", "other", "--plan", "free"]);
    for name in ["a", "b", "c"] {
        s.ok(&["put", &format!("acme/wf/{name}"), &s.file(name, name.as_bytes())]);
    }
    s.ok(&["put", "other/wf/x", &s.file("x", b"x")]);
    s
}

fn add_hook(s: &Strata, url: &str, events: &str) -> String {
    let out = s.ok(&["webhook", "add", "acme", url, "--events", events, "--secret", SECRET]);
    let id = out.split_whitespace().nth(2).expect("the test receiver").to_owned();
    assert!(id.starts_with("wh_"), "{out}");
    assert_eq!(out.lines().last().expect("the test receiver"), SECRET, "the secret is printed last");
    id
}

#[test]
fn notices_are_signed_sent_once_per_expiry_and_carry_their_sequence() {
    let s = tenant_with_artifacts("");
    // The first request is read and then dropped unanswered: the receiver
    // has it, the sender does not know, so it comes again.
    let receiver = Receiver::start(|n| if n == 0 { Reply::Drop } else { Reply::Ok });
    let id = add_hook(&s, &receiver.url, "expiring_soon,deletion_eligible,purged,erased,restored,job_dead_lettered");

    s.ok(&["lifecycle", "run", "--as-of", "+28d", "--wait"]);
    s.ok(&["lifecycle", "run", "--as-of", "+29d", "--wait"]);
    s.ok(&["erase", "acme/wf/c", "--reason", "asked", "--wait"]);
    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    s.ok(&["lifecycle", "run", "--as-of", "+40d", "--wait"]);

    let requests = receiver.requests();
    let mut unique: BTreeMap<String, Request> = BTreeMap::new();
    let mut duplicates = 0;
    for r in &requests {
        assert!(signed_by(SECRET, r.header("strata-signature"), &r.body), "{:?}", r.headers);
        assert!(!signed_by("another-secret-entirely", r.header("strata-signature"), &r.body));
        let body = r.json();
        assert_eq!(r.header("idempotency-key"), body["id"]);
        assert_eq!(r.header("strata-event"), body["type"]);
        assert_eq!(r.header("content-type"), "application/json");
        assert_eq!(body["tenant"], "acme", "only the endpoint's tenant's notices");
        if let Some(first) = unique.get(r.header("idempotency-key")) {
            assert_eq!(first.body, r.body, "a retry sends the same notice");
            duplicates += 1;
        } else {
            unique.insert(r.header("idempotency-key").to_owned(), r.clone());
        }
    }
    assert_eq!(duplicates, 1, "the dropped delivery came again, once");
    let of = |kind: &str| -> Vec<serde_json::Value> {
        unique.values().map(Request::json).filter(|b| b["type"] == kind).collect()
    };
    // Once per artifact and expiry, though two runs found them expiring.
    let expiring = of("expiring_soon");
    let names: BTreeSet<&str> = expiring.iter().map(|b| b["artifact"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, BTreeSet::from(["a", "b", "c"]));
    assert!(expiring.iter().all(|b| b["sequence"].is_null() && b["data"]["eligible_at"].is_string()));
    assert_eq!(of("erased").len(), 1);
    assert_eq!(of("deletion_eligible").len(), 2);
    assert_eq!(of("purged").len(), 2);

    // Each notice of a logged event names it by sequence: in sequence
    // order they are the log's own entries of those kinds, in its order.
    let mut told: Vec<(i64, String)> = unique
        .values()
        .map(Request::json)
        .filter(|b| b["sequence"].is_i64())
        .map(|b| (b["sequence"].as_i64().unwrap(), b["type"].as_str().unwrap().to_owned()))
        .collect();
    told.sort();
    let logged: Vec<(i64, String)> = s
        .events()
        .into_iter()
        .filter(|e| e["tenant_id"] == "acme")
        .filter(|e| ["deletion_eligible", "purged", "erased"].contains(&e["event_type"].as_str().unwrap()))
        .map(|e| (e["seq"].as_i64().unwrap(), e["event_type"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(told, logged);

    let deliveries = s.json(&["webhook", "deliveries", &id]);
    let deliveries = deliveries.as_array().unwrap();
    assert_eq!(deliveries.len(), 8);
    assert!(deliveries.iter().all(|d| d["delivered_at"].is_string() && d["last_status"] == 200));
    assert_eq!(deliveries.iter().map(|d| d["attempts"].as_i64().unwrap()).sum::<i64>(), 9);
    assert_eq!(s.count_events("webhook_registered"), 1);
}

#[test]
fn a_failing_endpoint_is_retried_until_it_recovers_and_broken_ones_end_in_dead_letters() {
    let s = tenant_with_artifacts("");
    let recovering = Receiver::start(|n| if n < 2 { Reply::Status(503) } else { Reply::Ok });
    let hanging = Receiver::start(|_| Reply::Hang);
    let looping = Receiver::start(|_| Reply::Redirect);
    let flooding = Receiver::start(|_| Reply::Flood);
    let watcher = Receiver::start(|_| Reply::Ok);
    let recovering_id = add_hook(&s, &recovering.url, "expiring_soon");
    add_hook(&s, &hanging.url, "expiring_soon");
    add_hook(&s, &looping.url, "expiring_soon");
    let flooding_id = add_hook(&s, &flooding.url, "expiring_soon");
    add_hook(&s, &watcher.url, "job_dead_lettered");

    s.ok(&["lifecycle", "run", "--as-of", "+28d", "--wait"]);

    // 503, 503, then 200 for the first notice; the others go through.
    assert_eq!(recovering.requests().len(), 5);
    let deliveries = s.json(&["webhook", "deliveries", &recovering_id]);
    assert!(deliveries.as_array().unwrap().iter().all(|d| d["delivered_at"].is_string()));
    let attempts: Vec<i64> = deliveries.as_array().unwrap().iter().map(|d| d["attempts"].as_i64().unwrap()).collect();
    assert_eq!(attempts.iter().sum::<i64>(), 5, "{attempts:?}");

    // A flood of an answer is read only in part, and counts as delivered.
    let flooded = s.json(&["webhook", "deliveries", &flooding_id]);
    assert!(flooded.as_array().unwrap().iter().all(|d| d["last_status"] == 200 && d["delivered_at"].is_string()));

    // A hanging endpoint times out and a redirect is not followed: each
    // notice is tried 3 times (max_attempts_by_kind.webhook), then dead-lettered.
    assert_eq!(hanging.requests().len(), 9);
    assert_eq!(looping.requests().len(), 9, "the redirect's target is never fetched");
    let dead = s.json(&["dlq", "list"]);
    let dead: Vec<&serde_json::Value> = dead.as_array().unwrap().iter().filter(|d| d["kind"] == "webhook").collect();
    assert_eq!(dead.len(), 6);
    assert!(dead.iter().any(|d| d["last_error"].as_str().unwrap().contains("redirects are not followed")), "{dead:?}");
    assert!(dead.iter().any(|d| d["last_error"].as_str().unwrap().contains("timed out")), "{dead:?}");
    // A failing endpoint's dead letters notify no one (not even another endpoint).
    s.ok(&["lifecycle", "run", "--as-of", "+28d", "--wait"]);
    assert!(watcher.requests().is_empty());
}

#[test]
fn endpoints_must_be_http_public_and_well_formed() {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme"]);
    let add = |url: &str, events: &str, secret: &str| {
        s.fails(&["webhook", "add", "acme", url, "--events", events, "--secret", secret], 2)
    };
    let err = add("ftp://example.com/hook", "purged", SECRET);
    assert!(err.contains("not an absolute http or https URL"), "{err}");
    let err = add("http://127.0.0.1:9/hook", "purged", SECRET);
    assert!(err.contains("not a public address") && err.contains("webhooks.allow_private"), "{err}");
    let err = add("http://169.254.169.254/latest/meta-data", "purged", SECRET);
    assert!(err.contains("not a public address"), "{err}");
    let err = add("https://hooks.example.com/", "deleted", SECRET);
    assert!(err.contains("unknown webhook event \"deleted\""), "{err}");
    let err = add("https://hooks.example.com/", "purged", "short");
    assert!(err.contains("at least 16 characters"), "{err}");
    let err = s.fails(&["webhook", "add", "nobody", "https://hooks.example.com/", "--events", "purged"], 2);
    assert!(err.contains("nobody"), "{err}");
    assert_eq!(s.json(&["webhook", "ls"]), serde_json::json!([]));

    // A generated secret, listed without it; removal is an event.
    let out = s.ok(&["webhook", "add", "acme", "https://hooks.example.com/x", "--events", "purged,erased"]);
    let id = out.split_whitespace().nth(2).unwrap();
    assert!(out.lines().last().unwrap().starts_with("whsec_"), "{out}");
    let listed = s.json(&["webhook", "ls", "acme"]);
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["events"], serde_json::json!(["purged", "erased"]));
    assert!(listed[0].get("secret").is_none());
    s.fails(&["webhook", "rm", "acme", "wh_missing"], 2);
    s.ok(&["webhook", "rm", "acme", id]);
    assert_eq!(s.count_events("webhook_removed"), 1);

    // A configured endpoint is checked like a registered one.
    std::fs::write(
        s.path("bad.toml"),
        "[[webhooks.endpoints]]\ntenant = \"acme\"\nurl = \"http://10.0.0.8/hook\"\nevents = [\"purged\"]\nsecret = \"a-signing-secret-for-tests\"\n",
    )
    .unwrap();
    let err = s.fails(&["--config", s.path("bad.toml").to_str().unwrap(), "webhook", "ls"], 2);
    assert!(err.contains("webhooks.endpoints[0]") && err.contains("not a public address"), "{err}");
}

#[test]
fn a_configured_endpoint_receives_notices_under_a_stable_id() {
    let receiver = Receiver::start(|_| Reply::Ok);
    let extra = format!(
        "\n[[webhooks.endpoints]]\ntenant = \"acme\"\nurl = \"{}\"\nevents = [\"deletion_eligible\"]\nsecret = \"{SECRET}\"\n",
        receiver.url
    );
    let s = tenant_with_artifacts(&extra);
    let listed = s.json(&["webhook", "ls"]);
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("config-") && listed[0]["source"] == "config", "{listed}");
    // Under the dry-run switch nothing is sent.
    let dry = s.command(&["lifecycle", "run", "--as-of", "+31d", "--wait"]).env("LIFECYCLE_DRY_RUN", "1").output();
    assert!(dry.expect("strata runs").status.success());
    assert!(receiver.requests().is_empty());
    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| signed_by(SECRET, r.header("strata-signature"), &r.body)));
    assert_eq!(s.json(&["webhook", "ls"])[0]["id"], id.as_str());
    let err = s.fails(&["webhook", "rm", "acme", &id], 2);
    assert!(err.contains("configuration file"), "{err}");
}

#[tokio::test]
async fn a_tenant_manages_its_own_endpoints_over_http() {
    let api = common::api::Api::start(&[]);
    let add = |token: String, body: serde_json::Value| {
        let call = api.call("POST", "/v1/tenants/acme/webhooks").token(&token).json(body);
        async move { call.send().await }
    };
    let created = add(
        api.acme.clone(),
        serde_json::json!({ "url": "https://hooks.example.com/a", "events": ["expiring_soon", "purged"] }),
    )
    .await;
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    let created = created.json();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created["events"], serde_json::json!(["expiring_soon", "purged"]));

    let refused = add(api.acme.clone(), serde_json::json!({ "url": "http://10.0.0.1/", "events": ["purged"] })).await;
    refused.problem(400, "bad-request");
    let refused = add(api.acme.clone(), serde_json::json!({ "url": "gopher://x/", "events": ["purged"] })).await;
    refused.problem(400, "bad-request");
    let other =
        add(api.globex.clone(), serde_json::json!({ "url": "https://h.example.com/", "events": ["purged"] })).await;
    other.problem(404, "not-found");

    let listed = api.call("GET", "/v1/tenants/acme/webhooks").token(&api.acme).send().await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("secret").is_none(), "a secret is shown once");
    let path = format!("/v1/tenants/acme/webhooks/{id}/deliveries");
    assert_eq!(api.call("GET", &path).token(&api.acme).send().await.json(), serde_json::json!([]));
    let globex_path = format!("/v1/tenants/globex/webhooks/{id}/deliveries");
    api.call("GET", &globex_path).token(&api.globex).send().await.problem(404, "not-found");

    let gone = api.call("DELETE", &format!("/v1/tenants/acme/webhooks/{id}")).token(&api.acme).send().await;
    assert_eq!(gone.status, 204);
    let again = api.call("DELETE", &format!("/v1/tenants/acme/webhooks/{id}")).token(&api.acme).send().await;
    again.problem(404, "not-found");
}
