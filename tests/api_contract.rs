//! The OpenAPI document is the contract: what `/openapi.json` says of
//! errors, bodies, headers and bounds is what the real server does.
//! (`.ci/schemathesis.sh` fuzzes the same document against the server.)

mod common;

use common::api::{ADMIN, Api};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const METHODS: &[&str] = &["get", "put", "post", "delete", "head", "patch", "options", "trace"];
const ARTIFACT: &str = "/v1/tenants/{tenant}/artifacts/{workflow}/{name}";

async fn document(api: &Api) -> Value {
    let reply = api.call("GET", "/openapi.json").send().await;
    assert_eq!(reply.status, 200);
    reply.json()
}

/// The schema a `$ref` names, or the schema itself.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => schema,
    }
}

/// The schema of parameter `name` of an operation.
fn param<'a>(op: &'a Value, name: &str) -> &'a Value {
    let params = op["parameters"].as_array().expect("parameters");
    &params.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("no parameter {name}"))["schema"]
}

#[tokio::test]
async fn every_error_is_a_documented_problem_and_bodies_are_binary() {
    let api = Api::start(&[]);
    let doc = document(&api).await;
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if item.get("get").is_some() {
            assert!(item.get("head").is_some(), "HEAD {path} is served (axum answers it for GET) and documented");
        }
        for method in METHODS {
            let Some(op) = item.get(*method) else { continue };
            operations += 1;
            let responses = op["responses"].as_object().unwrap();
            assert!(!responses.contains_key("default"), "{method} {path}: no catch-all response");
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let content = response["content"].as_object().expect("content");
                    assert_eq!(content.keys().collect::<Vec<_>>(), ["application/problem+json"], "{method} {path}");
                    assert_eq!(content["application/problem+json"]["schema"]["$ref"], "#/components/schemas/Problem");
                }
            }
        }
    }
    assert!(operations >= 40, "{operations} operations");
    let problem = &doc["components"]["schemas"]["Problem"];
    assert_eq!(problem["required"], json!(["type", "title", "status", "detail"]));

    let artifact = &doc["paths"][ARTIFACT];
    let body = &artifact["put"]["requestBody"];
    assert_ne!(body["required"], true, "an empty body is an empty artifact");
    for media in ["application/octet-stream", "*/*"] {
        assert_eq!(body["content"][media]["schema"], json!({ "type": "string", "format": "binary" }), "{media}");
    }
    let get = &artifact["get"]["responses"];
    for status in ["200", "206"] {
        let content = get[status]["content"].as_object().unwrap();
        assert_eq!(content.keys().collect::<Vec<_>>(), ["*/*"], "the artifact's own Content-Type");
        assert_eq!(content["*/*"]["schema"]["format"], "binary");
        for header in ["ETag", "Accept-Ranges", "X-Strata-Tier", "Content-Length"] {
            assert!(get[status]["headers"][header].is_object(), "{status} {header}");
        }
    }
    assert!(get["206"]["headers"]["Content-Range"].is_object());
    assert!(get["416"]["headers"]["Content-Range"].is_object());
    assert!(get["304"]["headers"]["ETag"].is_object());
    assert!(get["401"]["headers"]["WWW-Authenticate"].is_object());
    assert_eq!(
        resolve(&doc, &artifact["head"]["responses"]["200"]["headers"]["X-Strata-Tier"]["schema"])["enum"],
        json!(["hot", "warm", "cold"])
    );
    for header in ["Range", "If-None-Match"] {
        assert_eq!(param(&artifact["get"], header), &json!({ "type": "string" }), "{header} is a string, not null");
    }
}

#[tokio::test]
async fn documented_bounds_are_the_enforced_bounds() {
    let api = Api::start(&[]);
    let doc = document(&api).await;
    api.put("wf", "a.txt", b"hello").await;
    let events = &doc["paths"]["/v1/events"]["get"];
    let listing = &doc["paths"]["/v1/tenants/{tenant}/artifacts"]["get"];
    for (op, url) in [(events, "/v1/events?"), (listing, "/v1/tenants/acme/artifacts?")] {
        let limit = param(op, "limit");
        assert_eq!((&limit["minimum"], &limit["maximum"]), (&json!(1), &json!(1000)), "{url}");
        for (value, status) in [("0", 400), ("1", 200), ("1000", 200), ("1001", 400)] {
            let reply = api.call("GET", &format!("{url}limit={value}")).token(ADMIN).send().await;
            assert_eq!(reply.status, status, "{url}limit={value}");
        }
    }
    let restore = &doc["paths"][format!("{ARTIFACT}/restore")]["post"];
    let days = param(restore, "days");
    assert_eq!((&days["minimum"], &days["maximum"]), (&json!(1), &json!(3650)));
    let restore_url = "/v1/tenants/acme/artifacts/wf/a.txt/restore";
    for (value, status) in [("0", 400), ("3651", 400), ("3650", 409)] {
        let reply = api.call("POST", &format!("{restore_url}?days={value}")).token(ADMIN).send().await;
        assert_eq!(reply.status, status, "days={value}: {}", String::from_utf8_lossy(&reply.body));
    }
    assert_eq!(param(listing, "tier")["enum"], json!(["hot", "warm", "cold"]));
    assert_eq!(param(listing, "created_after")["format"], "date-time");
    let tenant = resolve(&doc, param(listing, "tenant"));
    assert_eq!((&tenant["minLength"], &tenant["maxLength"]), (&json!(1), &json!(128)));
    assert!(tenant["pattern"].as_str().is_some_and(|p| p.starts_with("^[^")), "{tenant}");
    let new_tenant = &doc["components"]["schemas"]["NewTenant"]["properties"]["plan"];
    assert_eq!(new_tenant["enum"], json!(["basic", "enterprise", "free", "pro", null]));
    let hold = &doc["components"]["schemas"]["NewHold"]["properties"];
    assert_eq!(resolve(&doc, &hold["reason"])["minLength"], 1);
    assert_eq!(hold["until"]["format"], "date-time");

    // A cursor of the documented shape is a position, whoever wrote it.
    let cursor = param(listing, "cursor")["pattern"].as_str().unwrap().to_owned();
    assert_eq!(cursor, r"^(?:(?:[0-9a-f]{2})*\.(?:[0-9a-f]{2})*|[cs]\.-?[0-9]{1,18})\.[0-9]{1,18}$");
    api.put("wf", "b.txt", b"world").await;
    let first = api.call("GET", "/v1/tenants/acme/artifacts?limit=1").token(ADMIN).send().await.json();
    let next = first["next_cursor"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = next.split('.').collect();
    assert_eq!(parts.len(), 3, "{next}");
    assert!(parts[2].bytes().all(|b| b.is_ascii_digit()), "{next}");
    let second = api.call("GET", &format!("/v1/tenants/acme/artifacts?cursor={next}")).token(ADMIN).send().await;
    assert_eq!(second.json()["artifacts"][0]["name"], "b.txt");
    let made_up = api.call("GET", "/v1/tenants/acme/artifacts?cursor=7a.00.1").token(ADMIN).send().await;
    assert_eq!((made_up.status, made_up.json()["artifacts"].as_array().unwrap().len()), (200, 0), "after wf z");
    let bad = api.call("GET", "/v1/tenants/acme/artifacts?cursor=zz").token(ADMIN).send().await;
    bad.problem(400, "bad-request");
    // By creation, the cursor is `c.MILLIS.ID`; a made-up one is a position too.
    let url = "/v1/tenants/acme/artifacts?sort=created&limit=1";
    let first = api.call("GET", url).token(ADMIN).send().await.json();
    let next = first["next_cursor"].as_str().unwrap().to_owned();
    assert!(next.starts_with("c."), "{next}");
    let second = api.call("GET", &format!("{url}&cursor={next}")).token(ADMIN).send().await.json();
    assert_eq!(second["artifacts"][0]["name"], "b.txt");
    let made_up = api.call("GET", "/v1/tenants/acme/artifacts?sort=created&cursor=c.-5.0").token(ADMIN).send().await;
    assert_eq!(made_up.json()["artifacts"].as_array().unwrap().len(), 2, "everything is after 1970");

    // The query's other bounds, documented and enforced alike.
    let latest = param(listing, "latest");
    assert_eq!((&latest["minimum"], &latest["maximum"]), (&json!(1), &json!(1000)));
    for (value, status) in [("0", 400), ("1", 200), ("1000", 200), ("1001", 400)] {
        let reply = api.call("GET", &format!("/v1/tenants/acme/artifacts?latest={value}")).token(ADMIN).send().await;
        assert_eq!(reply.status, status, "latest={value}");
    }
    let size = param(listing, "min_size");
    assert_eq!((&size["minimum"], &size["maximum"]), (&json!(0), &json!(i64::MAX)));
    for (value, status) in [("-1", 400), ("0", 200), ("9223372036854775807", 200), ("9223372036854775808", 400)] {
        let reply = api.call("GET", &format!("/v1/tenants/acme/artifacts?min_size={value}")).token(ADMIN).send().await;
        assert_eq!(reply.status, status, "min_size={value}");
    }
    assert_eq!(param(listing, "sort")["enum"], json!(["name", "created", "size"]));
    let name = resolve(&doc, param(listing, "name"));
    assert_eq!((&name["minLength"], &name["maxLength"]), (&json!(1), &json!(128)));
}

#[tokio::test]
async fn served_events_have_exactly_the_documented_fields() {
    let api = Api::start(&[]);
    let doc = document(&api).await;
    api.put("wf", "a.txt", b"hello").await;
    let schema = &doc["components"]["schemas"]["EventView"]["properties"];
    let documented: BTreeSet<&String> = schema.as_object().unwrap().keys().collect();
    for field in ["timestamp", "event_type", "tenant_id", "workflow_id", "artifact_id"] {
        assert!(documented.contains(&field.to_owned()), "{field}: the names of strata events export");
    }
    let page = &doc["paths"]["/v1/events"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    let items = &resolve(&doc, page)["properties"]["items"]["items"]["$ref"];
    assert_eq!(items, "#/components/schemas/EventView", "one event shape");

    let events = api.call("GET", "/v1/events").token(ADMIN).send().await.json();
    let history = api.call("GET", "/v1/tenants/acme/artifacts/wf/a.txt/history").token(&api.acme).send().await.json();
    for event in events["items"].as_array().unwrap().iter().chain(history.as_array().unwrap()) {
        let served: BTreeSet<&String> = event.as_object().unwrap().keys().collect();
        assert_eq!(served, documented, "{event}");
    }
    let ingested = &history[0];
    assert_eq!(
        (&ingested["event_type"], &ingested["tenant_id"], &ingested["workflow_id"], &ingested["artifact_id"]),
        (&json!("ingested"), &json!("acme"), &json!("wf"), &json!("a.txt"))
    );
}

#[tokio::test]
async fn an_upload_answers_with_a_percent_encoded_location_that_serves_it() {
    let api = Api::start(&[]);
    let reply = api
        .call("PUT", "/v1/tenants/acme/artifacts/wf/caf%C3%A9%20menu.txt")
        .token(&api.acme)
        .body("text/plain", b"bonjour".to_vec())
        .send()
        .await;
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    let location = reply.header("location").expect("a Location").to_owned();
    assert_eq!(location, "/v1/tenants/acme/artifacts/wf/caf%C3%A9%20menu.txt");
    let got = api.call("GET", &location).token(&api.acme).send().await;
    assert_eq!((got.status, got.body.as_slice()), (200, b"bonjour".as_slice()));
    assert_eq!(got.header("content-type"), Some("text/plain"));
}
