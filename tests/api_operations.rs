//! The operator routes (admin token) against the real `strata serve` and
//! `strata run`: queue depth, dead letters (list, page, filter, retry and
//! discard one or many), lifecycle plan and run as of an injected instant,
//! tier totals, the event log's paging, and `/metrics`.

mod common;

use common::api::{ADMIN, Api};
use common::{log_text, noise};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// An RFC 3339 instant `days` from now, as the API writes instants.
fn days_ahead(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `GET path` with the admin token; asserts 200 and returns the JSON body.
async fn admin_get(api: &Api, path: &str) -> Value {
    let reply = api.call("GET", path).token(ADMIN).send().await;
    assert_eq!(reply.status, 200, "GET {path}: {}", String::from_utf8_lossy(&reply.body));
    reply.json()
}

/// One lane of `GET /v1/queues`, or zeros when the lane has no jobs at all.
async fn lane(api: &Api, name: &str) -> Value {
    let queues = admin_get(api, "/v1/queues").await;
    queues["lanes"]
        .as_array()
        .expect("lanes")
        .iter()
        .find(|l| l["lane"] == name)
        .cloned()
        .unwrap_or_else(|| json!({"lane": name, "waiting": 0, "in_flight": 0, "delayed": 0, "dead": 0}))
}

/// (waiting, in flight, delayed, dead) of a lane.
async fn depth(api: &Api, name: &str) -> (u64, u64, u64, u64) {
    let l = lane(api, name).await;
    let n = |k: &str| l[k].as_u64().expect("a count");
    (n("waiting"), n("in_flight"), n("delayed"), n("dead"))
}

/// The `/metrics` text, asserting its content type.
async fn metrics(api: &Api) -> String {
    let reply = api.call("GET", "/metrics").token(ADMIN).send().await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    String::from_utf8(reply.body).expect("UTF-8 metrics")
}

/// The value of one series (`name{labels}`) in a metrics text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.parse().expect("a number"))
}

/// Uploads `bytes` as `tenant`'s artifact `workflow/name` with `token`; asserts 201.
async fn put_as(api: &Api, tenant: &str, token: &str, workflow: &str, name: &str, bytes: &[u8]) -> Value {
    let reply = api
        .call("PUT", &format!("/v1/tenants/{tenant}/artifacts/{workflow}/{name}"))
        .token(token)
        .body("application/octet-stream", bytes.to_vec())
        .send()
        .await;
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    reply.json()
}

/// Every dead letter, through the API.
async fn dead_letters(api: &Api, query: &str) -> Vec<Value> {
    let page = admin_get(api, &format!("/v1/dead-letters?{query}")).await;
    assert!(page["next_cursor"].is_null(), "one page holds them all: {page}");
    page["items"].as_array().expect("items").clone()
}

/// The event log, walked through the API with `next_after`, `limit` at a time.
async fn walk_events(api: &Api, query: &str, limit: usize) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut after: Option<i64> = None;
    for _ in 0..1000 {
        let from = after.map(|a| format!("&after={a}")).unwrap_or_default();
        let page = admin_get(api, &format!("/v1/events?limit={limit}{from}{query}")).await;
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= limit, "a page is at most `limit` long: {page}");
        out.extend(items.iter().cloned());
        match page["next_after"].as_i64() {
            Some(next) => {
                assert_eq!(items.len(), limit, "only the last page is short: {page}");
                assert_eq!(Some(next), items.last().and_then(|e| e["seq"].as_i64()), "{page}");
                after = Some(next);
            }
            None => return out,
        }
    }
    panic!("the event log did not end within 1000 pages");
}

#[tokio::test]
async fn lifecycle_plan_is_a_dry_run_that_changes_nothing() {
    let api = Api::start(&[]);
    api.put("wf", "a.txt", &log_text(300)).await;
    api.put("wf", "b.bin", &noise(5000, 2)).await;
    let before = (api.s.catalog(), api.s.events(), admin_get(&api, "/v1/queues").await);

    let as_of = days_ahead(8);
    let reply = api.call("POST", "/v1/lifecycle/plan").token(ADMIN).json(json!({ "as_of": as_of })).send().await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let plan = reply.json();
    assert_eq!(plan["as_of"], as_of);
    assert_eq!((plan["dry_run"].as_bool(), plan["forced"].as_bool()), (Some(true), Some(true)), "{plan}");
    assert_eq!(plan["enqueued"], 0);
    assert_eq!(plan["by_kind"], json!({"promote": {"count": 2, "bytes": log_text(300).len() + 5000}}));
    let keys: BTreeSet<&str> = plan["items"].as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap()).collect();
    assert_eq!(keys, BTreeSet::from(["acme/wf/a.txt", "acme/wf/b.bin"]));
    assert!(plan["items"].as_array().unwrap().iter().all(|i| i["kind"] == "promote" && i["tier"] == "hot"));

    let later =
        api.call("POST", "/v1/lifecycle/plan").token(ADMIN).json(json!({ "as_of": days_ahead(40) })).send().await;
    let later = later.json();
    assert_eq!(later["by_kind"]["compress"]["count"], 2, "{later}");
    assert!(later["by_kind"].get("promote").is_none(), "{later}");
    // Without an instant it plans as of now: nothing is due yet.
    let now = api.call("POST", "/v1/lifecycle/plan").token(ADMIN).json(json!({})).send().await.json();
    assert_eq!((now["forced"].as_bool(), now["items"].as_array().map(Vec::len)), (Some(false), Some(0)), "{now}");

    // Refused: a bad instant, an unknown field, a body that is not an object
    // (serde alone reads `[null]` as the fields in order), another content
    // type, a tenant's token.
    let bad = api.call("POST", "/v1/lifecycle/plan").token(ADMIN).json(json!({"as_of": "next week"})).send().await;
    assert!(bad.problem(400, "bad-request")["detail"].as_str().unwrap().contains("as_of"));
    let unknown = api.call("POST", "/v1/lifecycle/plan").token(ADMIN).json(json!({"when": as_of})).send().await;
    unknown.problem(400, "bad-request");
    for body in [json!([null]), json!([as_of]), json!(null), json!("as_of")] {
        let not_object = api.call("POST", "/v1/lifecycle/run").token(ADMIN).json(body.clone()).send().await;
        let detail = not_object.problem(400, "bad-request")["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains("must be a JSON object"), "{body}: {detail}");
    }
    let text = api.call("POST", "/v1/lifecycle/plan").token(ADMIN).body("text/plain", "{}").send().await;
    text.problem(415, "unsupported-media-type");
    let tenant = api.call("POST", "/v1/lifecycle/plan").token(&api.acme).json(json!({})).send().await;
    tenant.problem(403, "forbidden");
    let tenant_run =
        api.call("POST", "/v1/lifecycle/run").token(&api.acme).json(json!({ "as_of": days_ahead(8) })).send().await;
    tenant_run.problem(403, "forbidden");
    let bad_run = api.call("POST", "/v1/lifecycle/run").token(ADMIN).json(json!({"as_of": "2027-13-01"})).send().await;
    bad_run.problem(400, "bad-request");

    let after = (api.s.catalog(), api.s.events(), admin_get(&api, "/v1/queues").await);
    assert_eq!(after, before, "plans and refused runs changed no artifact, event or queue");

    // The same plan still holds: nothing was claimed by the dry runs.
    let again = api.call("POST", "/v1/lifecycle/plan").token(ADMIN).json(json!({ "as_of": as_of })).send().await;
    assert_eq!(again.json()["items"], plan["items"]);
}

#[tokio::test]
async fn lifecycle_run_enqueues_jobs_that_a_drain_carries_out() {
    let api = Api::start(&[]);
    api.put("wf", "a.txt", &log_text(300)).await;
    api.put("wf", "b.bin", &noise(5000, 4)).await;
    let empty = |lane: &str| json!({"lane": lane, "waiting": 0, "in_flight": 0, "delayed": 0, "dead": 0, "oldest_waiting_secs": null});
    assert_eq!(
        admin_get(&api, "/v1/queues").await["lanes"],
        json!([empty("default"), empty("priority")]),
        "no job was ever queued: the configured lanes show zeros"
    );

    let started = Instant::now();
    let as_of = days_ahead(8);
    let reply = api.call("POST", "/v1/lifecycle/run").token(ADMIN).json(json!({ "as_of": as_of })).send().await;
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    let run = reply.json();
    assert_eq!((run["dry_run"].as_bool(), run["forced"].as_bool()), (Some(false), Some(true)), "{run}");
    assert_eq!(run["enqueued"], 2);
    assert_eq!(run["by_kind"]["promote"]["count"], 2);

    let default = lane(&api, "default").await;
    assert_eq!(depth(&api, "default").await, (2, 0, 0, 0), "{default}");
    let oldest = default["oldest_waiting_secs"].as_f64().expect("an oldest waiting age");
    assert!(
        (0.0..=started.elapsed().as_secs_f64() + 0.01).contains(&oldest),
        "the oldest job waited {oldest} s, yet it was queued within {:?}",
        started.elapsed()
    );
    let cli = api.s.json(&["queue", "stats"]);
    assert_eq!(cli[0]["waiting"], 2, "the CLI sees the same queue: {cli}");
    api.call("GET", "/v1/queues?lane=default").token(ADMIN).send().await.problem(400, "bad-request");
    // Enqueued, not carried out: the artifacts stay hot and nothing was promoted.
    assert_eq!(api.s.artifact("acme/wf/a.txt")["tier"], "hot");
    assert_eq!(api.s.count_events("promoted"), 0);

    // Running the same instant again finds the artifacts claimed: no duplicates.
    let again = api.call("POST", "/v1/lifecycle/run").token(ADMIN).json(json!({ "as_of": as_of })).send().await;
    assert_eq!(again.status, 202);
    assert_eq!(again.json()["enqueued"], 0);
    assert_eq!(depth(&api, "default").await, (2, 0, 0, 0));

    // A drain by the CLI's workers carries the jobs out.
    api.s.ok(&["lifecycle", "run", "--wait"]);
    assert_eq!(depth(&api, "default").await, (0, 0, 0, 0));
    assert!(lane(&api, "default").await["oldest_waiting_secs"].is_null());
    for key in ["acme/wf/a.txt", "acme/wf/b.bin"] {
        assert_eq!(api.s.artifact(key)["tier"], "warm", "{key}");
    }
    let promoted = admin_get(&api, "/v1/events?kind=promoted").await;
    let promoted = promoted["items"].as_array().unwrap();
    assert_eq!(promoted.len(), 2);
    for e in promoted {
        assert_eq!(e["data"]["forced"], true, "planned ahead of the clock, and the event says so: {e}");
        assert_eq!(e["data"]["requested_by"], "api:admin", "{e}");
    }
    let got = api.call("GET", "/v1/tenants/acme/artifacts/wf/a.txt").token(&api.acme).send().await;
    assert_eq!((got.header("x-strata-tier"), got.body.as_slice()), (Some("warm"), log_text(300).as_slice()));
}

#[tokio::test]
async fn dead_letters_are_listed_paged_filtered_retried_and_discarded() {
    let api = Api::start(&[]);
    for name in ["a", "b", "c"] {
        api.put("wf", name, &noise(4000, name.as_bytes()[0].into())).await;
    }
    put_as(&api, "globex", &api.globex, "wf", "x", &noise(4000, 42)).await;
    // Corrupt three hot blobs: their promote jobs die; c is promoted.
    let mut originals = Vec::new();
    for key in ["acme/wf/a", "acme/wf/b", "globex/wf/x"] {
        let path = api.s.blob_of(key);
        originals.push((key, path.clone(), std::fs::read(&path).unwrap()));
        std::fs::write(&path, b"bit rot").unwrap();
    }
    api.s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    // Then c's warm blob: its compress job dies.
    let c_path = api.s.blob_of("acme/wf/c");
    let c_bytes = std::fs::read(&c_path).unwrap();
    std::fs::write(&c_path, b"bit rot").unwrap();
    api.s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    assert_eq!(depth(&api, "default").await, (0, 0, 0, 4), "{}", api.s.ok(&["dlq", "list"]));

    let all = dead_letters(&api, "").await;
    assert_eq!(all.len(), 4, "{all:?}");
    let by = |kind: &str, tenant: &str| -> Vec<Value> {
        all.iter().filter(|d| d["kind"] == kind && d["tenant"] == tenant).cloned().collect()
    };
    assert_eq!((by("promote", "acme").len(), by("promote", "globex").len(), by("compress", "acme").len()), (2, 1, 1));
    for d in &all {
        assert_eq!(d["lane"], "default");
        assert_eq!(d["attempts"], 1);
        assert!(d["last_error"].as_str().unwrap().contains("corrupt"), "{d}");
        assert!(d["first_failed_at"].is_string() && d["last_failed_at"].is_string(), "{d}");
        let payload: Value = serde_json::from_str(d["payload"].as_str().unwrap()).unwrap();
        assert_eq!((&payload["kind"], &payload["tenant"]), (&d["kind"], &d["tenant"]), "{d}");
    }
    let ids: Vec<String> = all.iter().map(|d| d["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 4, "distinct ids");

    // Paging: every dead letter exactly once, in the listing's order.
    for limit in [1, 3] {
        let (mut seen, mut cursor) = (Vec::new(), None::<String>);
        for _ in 0..10 {
            let from = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
            let page = admin_get(&api, &format!("/v1/dead-letters?limit={limit}{from}")).await;
            seen.extend(page["items"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, ids, "pages of {limit}");
    }
    // Filters.
    let count = |items: Vec<Value>| items.len();
    assert_eq!(count(dead_letters(&api, "kind=compress").await), 1);
    assert_eq!(count(dead_letters(&api, "tenant=globex").await), 1);
    assert_eq!(count(dead_letters(&api, "tenant=acme&kind=promote").await), 2);
    assert_eq!(count(dead_letters(&api, "lane=default").await), 4);
    assert_eq!(count(dead_letters(&api, "lane=priority").await), 0);
    assert_eq!(count(dead_letters(&api, "tenant=initech").await), 0);
    let compress = &dead_letters(&api, "kind=compress").await[0];
    assert_eq!(compress["tenant"], "acme");
    // Bad listings.
    for query in [
        "limit=0",
        "limit=1001",
        "limit=ten",
        "cursor=bogus",
        "cursor=o",
        "cursor=i",
        "cursor=ijunk",
        "sort=id",
        "kind=a&kind=b",
    ] {
        let reply = api.call("GET", &format!("/v1/dead-letters?{query}")).token(ADMIN).send().await;
        reply.problem(400, "bad-request");
    }
    let bad_tenant = api.call("GET", "/v1/dead-letters?tenant=..").token(ADMIN).send().await;
    bad_tenant.problem(400, "invalid-identifier");

    // Refused actions change nothing: a bulk call without a selection, unknown ids, a tenant's token.
    for action in ["retry", "discard"] {
        for query in ["", "?all=false", "?all=maybe", "?state=dead"] {
            let reply = api.call("POST", &format!("/v1/dead-letters/{action}{query}")).token(ADMIN).send().await;
            reply.problem(400, "bad-request");
        }
        let tenant = api.call("POST", &format!("/v1/dead-letters/{action}?all=true")).token(&api.acme).send().await;
        tenant.problem(403, "forbidden");
    }
    for id in ["999999", "not-a-number"] {
        let retry = api.call("POST", &format!("/v1/dead-letters/{id}/retry")).token(ADMIN).send().await;
        retry.problem(404, "not-found");
        let discard = api.call("DELETE", &format!("/v1/dead-letters/{id}")).token(ADMIN).send().await;
        discard.problem(404, "not-found");
    }
    api.call("DELETE", &format!("/v1/dead-letters/{}", ids[0])).token(&api.acme).send().await.problem(403, "forbidden");
    assert_eq!(dead_letters(&api, "").await, all, "refused calls changed no dead letter");
    assert_eq!(depth(&api, "default").await, (0, 0, 0, 4));

    // Retry globex's by id, its blob repaired: it waits again, then succeeds.
    for (_, path, bytes) in &originals {
        std::fs::write(path, bytes).unwrap();
    }
    std::fs::write(&c_path, &c_bytes).unwrap();
    let x = by("promote", "globex")[0]["id"].as_str().unwrap().to_owned();
    let retried = api.call("POST", &format!("/v1/dead-letters/{x}/retry")).token(ADMIN).send().await;
    assert_eq!((retried.status, retried.json()), (200, json!({"count": 1})));
    assert_eq!(depth(&api, "default").await, (1, 0, 0, 3));
    api.call("POST", &format!("/v1/dead-letters/{x}/retry")).token(ADMIN).send().await.problem(404, "not-found");
    assert!(dead_letters(&api, "").await.iter().all(|d| d["id"] != x.as_str()));

    // Discard one of acme's promotes by id.
    let a = by("promote", "acme")[0]["id"].as_str().unwrap().to_owned();
    let discarded = api.call("DELETE", &format!("/v1/dead-letters/{a}")).token(ADMIN).send().await;
    assert_eq!((discarded.status, discarded.body.len()), (204, 0));
    api.call("DELETE", &format!("/v1/dead-letters/{a}")).token(ADMIN).send().await.problem(404, "not-found");
    api.call("POST", &format!("/v1/dead-letters/{a}/retry")).token(ADMIN).send().await.problem(404, "not-found");
    assert_eq!(depth(&api, "default").await, (1, 0, 0, 2));

    // Bulk retry by tenant and kind: only acme's compress.
    let bulk = api.call("POST", "/v1/dead-letters/retry?tenant=acme&kind=compress").token(ADMIN).send().await;
    assert_eq!((bulk.status, bulk.json()), (200, json!({"count": 1})));
    let none = api.call("POST", "/v1/dead-letters/retry?tenant=globex").token(ADMIN).send().await;
    assert_eq!((none.status, none.json()), (200, json!({"count": 0})), "globex has no dead letter left");
    let none = api.call("POST", "/v1/dead-letters/discard?lane=priority").token(ADMIN).send().await;
    assert_eq!((none.status, none.json()), (200, json!({"count": 0})));
    assert_eq!(depth(&api, "default").await, (2, 0, 0, 1));
    let left = dead_letters(&api, "").await;
    assert_eq!((left.len(), &left[0]["kind"], &left[0]["tenant"]), (1, &json!("promote"), &json!("acme")));

    // The retried jobs really run: x is promoted, c compressed.
    api.s.ok(&["lifecycle", "run", "--wait"]);
    assert_eq!(depth(&api, "default").await, (0, 0, 0, 1));
    assert_eq!(api.s.artifact("globex/wf/x")["tier"], "warm");
    let c = api.s.artifact("acme/wf/c");
    assert_eq!((c["tier"].as_str(), c["codec"].as_str()), (Some("cold"), Some("zstd")), "{c}");
    assert_eq!(api.s.artifact("acme/wf/a")["tier"], "hot", "a's job was discarded");

    // Discard what is left by tenant; then nothing is left for all=true.
    let globex = api.call("POST", "/v1/dead-letters/discard?tenant=globex").token(ADMIN).send().await;
    assert_eq!((globex.status, globex.json()), (200, json!({"count": 0})));
    let acme = api.call("POST", "/v1/dead-letters/discard?tenant=acme").token(ADMIN).send().await;
    assert_eq!((acme.status, acme.json()), (200, json!({"count": 1})));
    let all_gone = api.call("POST", "/v1/dead-letters/discard?all=true").token(ADMIN).send().await;
    assert_eq!((all_gone.status, all_gone.json()), (200, json!({"count": 0})));
    assert_eq!(depth(&api, "default").await, (0, 0, 0, 0));
    assert!(dead_letters(&api, "").await.is_empty());
    assert!(api.s.json(&["dlq", "list"]).as_array().unwrap().is_empty(), "the CLI sees the same");
    assert_eq!(api.s.count_events("job_dead_lettered"), 4, "no job died again");
}

#[tokio::test]
async fn an_operator_paging_through_dead_letters_while_discarding_them_misses_none() {
    let api = Api::start(&[]);
    let names = ["d1", "d2", "d3", "d4", "d5"];
    for (i, name) in names.iter().enumerate() {
        api.put("wf", name, &noise(2000, 1000 + i as u64)).await;
        std::fs::write(api.s.blob_of(&format!("acme/wf/{name}")), b"bit rot").unwrap();
    }
    api.s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    let all: Vec<String> = dead_letters(&api, "").await.iter().map(|d| d["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(all.len(), 5);

    // Page by two, discarding each page before asking for the next.
    let (mut handled, mut cursor) = (Vec::new(), None::<String>);
    for _ in 0..10 {
        let from = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let page = admin_get(&api, &format!("/v1/dead-letters?limit=2{from}")).await;
        for d in page["items"].as_array().unwrap() {
            let id = d["id"].as_str().unwrap();
            let reply = api.call("DELETE", &format!("/v1/dead-letters/{id}")).token(ADMIN).send().await;
            assert_eq!(reply.status, 204);
            handled.push(id.to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(handled, all, "every dead letter was seen once, in order");
    assert_eq!(depth(&api, "default").await, (0, 0, 0, 0));

    // The last cursor named a dead letter that is gone now: the page starts
    // at whatever follows it (nothing, here), skipping nothing.
    let stale = cursor.expect("at least one cursor was given out");
    let reply = admin_get(&api, &format!("/v1/dead-letters?limit=2&cursor={stale}")).await;
    assert_eq!(reply["items"], json!([]), "{reply}");
    let reply = api.call("GET", "/v1/dead-letters?limit=2&cursor=ijunk").token(ADMIN).send().await;
    reply.problem(400, "bad-request");
}

#[tokio::test]
async fn stats_and_the_event_log_page_through_everything_once() {
    let api = Api::start(&[]);
    let sizes = [1000_usize, 2000, 3000];
    for (name, size) in ["a", "b", "c"].iter().zip(sizes) {
        api.put("wf", name, &noise(size, size as u64)).await;
    }
    put_as(&api, "globex", &api.globex, "wf", "g", &noise(500, 1)).await;
    let stats = admin_get(&api, "/v1/stats").await;
    let row = |stats: &Value, tenant: &str, tier: &str| -> Option<Value> {
        stats["tiers"].as_array().unwrap().iter().find(|t| t["tenant"] == tenant && t["tier"] == tier).cloned()
    };
    let hot = row(&stats, "acme", "hot").unwrap();
    assert_eq!(
        (&hot["state"], &hot["artifacts"], &hot["bytes"], &hot["stored_bytes"]),
        (&json!("active"), &json!(3), &json!(6000), &json!(6000))
    );
    assert_eq!(row(&stats, "globex", "hot").unwrap()["artifacts"], 1);

    api.s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    let deleted = api.call("DELETE", "/v1/tenants/acme/artifacts/wf/c").token(&api.acme).send().await;
    assert_eq!(deleted.status, 204);
    let stats = admin_get(&api, "/v1/stats").await;
    assert!(row(&stats, "acme", "hot").is_none(), "{stats}");
    let warm = row(&stats, "acme", "warm").unwrap();
    assert_eq!((&warm["state"], &warm["artifacts"], &warm["bytes"]), (&json!("active"), &json!(2), &json!(3000)));
    assert_eq!(row(&stats, "globex", "warm").unwrap()["artifacts"], 1);
    assert_eq!(stats["tiers"].as_array().unwrap().len(), 2, "the deleted artifact is not counted: {stats}");
    api.call("GET", "/v1/stats?tenant=acme").token(ADMIN).send().await.problem(400, "bad-request");

    // Paging with next_after walks every event exactly once, in order.
    let cli: Vec<i64> = api.s.events().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(cli.len() >= 13, "ingests, defaults, promotions and a deletion: {cli:?}");
    for limit in [1, 3, 1000] {
        let walked = walk_events(&api, "", limit).await;
        let seqs: Vec<i64> = walked.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, cli, "pages of {limit}");
    }
    let globex = walk_events(&api, "&tenant=globex", 2).await;
    let cli_globex = api.s.events().into_iter().filter(|e| e["tenant_id"] == "globex").count();
    assert_eq!(globex.len(), cli_globex);
    assert!(globex.iter().all(|e| e["tenant_id"] == "globex"));
    let a = walk_events(&api, "&artifact=acme/wf/a", 2).await;
    let kinds: Vec<&str> = a.iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ingested", "retention.default_applied", "promoted"]);
    assert!(
        a.iter()
            .all(|e| (&e["tenant_id"], &e["workflow_id"], &e["artifact_id"])
                == (&json!("acme"), &json!("wf"), &json!("a"))),
        "{a:?}"
    );
    // The fields and values of `strata events export`, plus the details under `data`.
    let exported: Vec<Value> = api
        .s
        .ok(&["events", "export", "--artifact", "acme/wf/a"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exported.len(), a.len());
    for (api_event, line) in a.iter().zip(&exported) {
        for field in ["seq", "timestamp", "event_type", "tenant_id", "workflow_id", "artifact_id", "actor"] {
            let (served, written) = (&api_event[field], &line[field]);
            if field == "timestamp" {
                let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
                assert_eq!(at(served), at(written), "{field}");
            } else {
                assert_eq!(served, written, "{field}");
            }
        }
    }
    assert_eq!(a[0]["actor"], "api:acme");
    let promoted = walk_events(&api, "&kind=promoted", 3).await;
    assert_eq!(promoted.len(), 4);
    assert!(promoted.iter().all(|e| e["event_type"] == "promoted" && e["actor"] == "worker"));
    let newest = admin_get(&api, "/v1/events?newest=true&limit=2").await;
    let newest_seqs: Vec<i64> =
        newest["items"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(newest_seqs, cli[cli.len() - 2..], "the newest two, oldest first");
    let last = cli.last().unwrap();
    let past_end = admin_get(&api, &format!("/v1/events?after={last}")).await;
    assert_eq!((past_end["items"].as_array().unwrap().len(), &past_end["next_after"]), (0, &Value::Null));

    for query in
        ["after=x", "after=1.5", "limit=0", "limit=1001", "limit=-1", "artifact=acme/wf", "newest=maybe", "seq=1"]
    {
        let reply = api.call("GET", &format!("/v1/events?{query}")).token(ADMIN).send().await;
        assert_eq!(reply.status, 400, "{query}");
        reply.problem(400, "bad-request");
    }
    for query in ["artifact=acme/../x", "tenant=a%3Ab", "artifact=acme/wf/%2E%2E"] {
        let reply = api.call("GET", &format!("/v1/events?{query}")).token(ADMIN).send().await;
        assert_eq!(reply.status, 400, "{query}");
        reply.problem(400, "invalid-identifier");
    }
    assert_eq!(api.s.events().len(), cli.len(), "reading the log wrote nothing");
}

#[tokio::test]
async fn metrics_match_the_queue_and_count_requests_by_route_template() {
    let api = Api::start(&[]);
    api.put("wf", "report.txt", &log_text(200)).await;
    put_as(&api, "globex", &api.globex, "wf", "g.bin", &noise(3000, 8)).await;
    let got = api.call("GET", "/v1/tenants/acme/artifacts/wf/report.txt").token(&api.acme).send().await;
    assert_eq!(got.status, 200);
    let run = api.call("POST", "/v1/lifecycle/run").token(ADMIN).json(json!({ "as_of": days_ahead(8) })).send().await;
    assert_eq!(run.status, 202);
    for _ in 0..3 {
        assert_eq!(depth(&api, "default").await, (2, 0, 0, 0));
    }
    api.call("GET", "/v1/queues").send().await.problem(401, "unauthorized");
    api.call("GET", "/v1/queues").token(&api.acme).send().await.problem(403, "forbidden");

    let text = metrics(&api).await;
    let queue = |state: &str| sample(&text, &format!("strata_queue_jobs{{lane=\"default\",state=\"{state}\"}}"));
    assert_eq!(
        (queue("waiting"), queue("in_flight"), queue("delayed"), queue("dead")),
        (Some(2.0), Some(0.0), Some(0.0), Some(0.0))
    );
    assert_eq!(sample(&text, "strata_tier_artifacts{tenant=\"acme\",tier=\"hot\",state=\"active\"}"), Some(1.0));
    assert_eq!(sample(&text, "strata_tier_artifacts{tenant=\"globex\",tier=\"hot\",state=\"active\"}"), Some(1.0));
    let requests = |method: &str, route: &str, status: u16| {
        sample(
            &text,
            &format!("strata_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}"),
        )
    };
    assert_eq!(requests("GET", "/v1/queues", 200), Some(3.0), "{text}");
    assert_eq!(requests("GET", "/v1/queues", 401), Some(1.0), "{text}");
    assert_eq!(requests("GET", "/v1/queues", 403), Some(1.0), "{text}");
    let artifact = "/v1/tenants/{tenant}/artifacts/{workflow}/{name}";
    assert_eq!(requests("PUT", artifact, 201), Some(2.0), "both tenants' uploads, one series: {text}");
    assert_eq!(requests("GET", artifact, 200), Some(1.0), "{text}");
    assert_eq!(requests("POST", "/v1/lifecycle/run", 202), Some(1.0), "{text}");
    assert!(!text.contains("route=\"/v1/tenants/acme"), "raw paths never become labels: {text}");
    assert!(text.contains("strata_http_request_duration_seconds_count{route=\"/v1/queues\"} 5"), "{text}");
    assert_eq!(sample(&text, "retention_deletes_total{plan=\"free\",reason=\"retention\"}"), None);
    assert!(
        text.contains("# TYPE strata_jobs_total counter") && !text.lines().any(|l| l.starts_with("strata_jobs_total{")),
        "`strata serve` runs no job"
    );

    // Drain, then take globex's free-plan artifact through expiry to its purge.
    api.s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    api.s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    api.s.ok(&["lifecycle", "run", "--as-of", "+38d", "--wait"]);
    let purged = admin_get(&api, "/v1/events?kind=purged").await;
    let purged = purged["items"].as_array().unwrap();
    assert_eq!(purged.len(), 1, "{purged:?}");
    let freed = purged[0]["data"]["bytes_freed"].as_f64().unwrap();
    let text = metrics(&api).await;
    assert_eq!(sample(&text, "retention_deletes_total{plan=\"free\",reason=\"retention\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "retention_bytes_freed_total{plan=\"free\",reason=\"retention\"}"), Some(freed));
    assert_eq!(sample(&text, "strata_tier_artifacts{tenant=\"acme\",tier=\"cold\",state=\"active\"}"), Some(1.0));
    assert!(!text.contains("strata_tier_artifacts{tenant=\"globex\""), "the purged artifact is gone: {text}");
    // An idle queue shows its configured lanes with zeros, in the API and in
    // the metrics alike.
    let lanes = admin_get(&api, "/v1/queues").await["lanes"].clone();
    assert_eq!(lanes.as_array().map(Vec::len), Some(2), "{lanes}");
    for lane in ["default", "priority"] {
        for state in ["waiting", "in_flight", "delayed", "dead"] {
            let line = format!("strata_queue_jobs{{lane=\"{lane}\",state=\"{state}\"}}");
            assert_eq!(sample(&text, &line), Some(0.0), "{line}: {text}");
        }
    }
    assert_eq!(
        sample(&text, "strata_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"200\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "strata_http_requests_total{method=\"GET\",route=\"/v1/queues\",status=\"200\"}"),
        Some(3.0)
    );
}

/// `strata_queue_jobs` of the default lane in `state`.
fn queue_line(text: &str, state: &str) -> Option<f64> {
    sample(text, &format!("strata_queue_jobs{{lane=\"default\",state=\"{state}\"}}"))
}

/// Waits (at most 30 s) until the default lane has nothing waiting or in flight.
async fn until_idle(api: &Api, dead: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = depth(api, "default").await;
        if now == (0, 0, 0, dead) {
            return;
        }
        assert!(Instant::now() < deadline, "the in-process workers left {now:?} after 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn strata_run_carries_out_runs_and_retries_and_counts_its_jobs() {
    let api = Api::launch("run", &[]);
    api.put("wf", "good.txt", &log_text(100)).await;
    api.put("wf", "rotten.bin", &noise(4000, 6)).await;
    let path = api.s.blob_of("acme/wf/rotten.bin");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, b"bit rot").unwrap();

    let run = api.call("POST", "/v1/lifecycle/run").token(ADMIN).json(json!({ "as_of": days_ahead(8) })).send().await;
    assert_eq!((run.status, &run.json()["enqueued"]), (202, &json!(2)));
    until_idle(&api, 1).await;
    assert_eq!(api.s.artifact("acme/wf/good.txt")["tier"], "warm");
    assert_eq!(api.s.artifact("acme/wf/rotten.bin")["tier"], "hot");
    let text = metrics(&api).await;
    assert_eq!(sample(&text, "strata_jobs_total{kind=\"promote\",outcome=\"done\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "strata_jobs_total{kind=\"promote\",outcome=\"dead_lettered\"}"), Some(1.0), "{text}");
    assert_eq!(queue_line(&text, "dead"), Some(1.0));

    // Repaired and retried over HTTP, the job is carried out by the same process.
    std::fs::write(&path, &bytes).unwrap();
    let id = dead_letters(&api, "").await[0]["id"].as_str().unwrap().to_owned();
    let retried = api.call("POST", &format!("/v1/dead-letters/{id}/retry")).token(ADMIN).send().await;
    assert_eq!(retried.json(), json!({"count": 1}));
    until_idle(&api, 0).await;
    assert_eq!(api.s.artifact("acme/wf/rotten.bin")["tier"], "warm");
    let text = metrics(&api).await;
    assert_eq!(sample(&text, "strata_jobs_total{kind=\"promote\",outcome=\"done\"}"), Some(2.0), "{text}");
    assert_eq!(sample(&text, "strata_jobs_total{kind=\"promote\",outcome=\"dead_lettered\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "strata_job_duration_seconds_count{kind=\"promote\"}"), Some(3.0), "{text}");
    assert_eq!(sample(&text, "strata_tier_artifacts{tenant=\"acme\",tier=\"warm\",state=\"active\"}"), Some(2.0));
    let waiting = sample(&text, "strata_queue_jobs{lane=\"default\",state=\"waiting\"}");
    assert_eq!(waiting, Some(0.0), "the queue is empty: {text}");
    let Api { server, .. } = api;
    assert!(server.terminate().success());
}

/// A child process killed when dropped (a failed test included).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_worker_serves_its_own_job_metrics() {
    let api = Api::start(&[]);
    api.put("wf", "a.txt", &log_text(100)).await;
    let mut worker = KillOnDrop(
        api.s
            .command(&["worker", "--metrics-listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("strata worker starts"),
    );
    let stderr = std::io::BufReader::new(worker.0.stderr.take().expect("stderr"));
    let mut lines = std::io::BufRead::lines(stderr);
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("Worker metrics on ").map(str::to_owned))
        .expect("the worker says where its metrics are");
    let http = reqwest::Client::new();
    let anonymous = http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401, "the worker's metrics need the admin token");

    api.s.ok(&["lifecycle", "run", "--as-of", &days_ahead(8)]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = http.get(&url).bearer_auth(ADMIN).send().await.unwrap().text().await.unwrap();
        if sample(&text, "strata_jobs_total{kind=\"promote\",outcome=\"done\"}") == Some(1.0) {
            break text;
        }
        assert!(Instant::now() < deadline, "the worker did not report its job within 30 s: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(sample(&text, "strata_job_duration_seconds_count{kind=\"promote\"}"), Some(1.0), "{text}");
    assert_eq!(api.s.artifact("acme/wf/a.txt")["tier"], "warm");

    let status = std::process::Command::new("kill").args(["-TERM", &worker.0.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = worker.0.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the worker did not stop within 30 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "{exit:?}");
    drop(lines);
}
