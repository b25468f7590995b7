//! Authentication over HTTP: a walk over every route of `/openapi.json`
//! with no token, a wrong token, another tenant's token and a tenant token
//! on admin routes; and a check that the router serves exactly the
//! documented routes and methods (`HEAD` included).

mod common;

use common::api::{ADMIN, Api};
use std::collections::BTreeSet;
use strata_core::config::env;

const PUBLIC: &[&str] = &["/", "/healthz", "/readyz", "/openapi.json"];
const METHODS: &[&str] = &["get", "put", "post", "delete", "head", "patch", "options", "trace"];

/// Every (method, path template, security schemes) of the document.
fn operations(doc: &serde_json::Value) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(op) = item.get(*method) else { continue };
            let schemes = op["security"]
                .as_array()
                .map(|reqs| reqs.iter().flat_map(|r| r.as_object().expect("a requirement").keys().cloned()).collect())
                .unwrap_or_default();
            out.push((method.to_uppercase(), path.clone(), schemes));
        }
    }
    out
}

/// The ids a walk puts into path templates.
struct Ids {
    job: String,
    hold: String,
    webhook: String,
}

/// A world with one artifact of acme (warm, so it can be restored), a hold,
/// a restore job and a webhook, and the document.
async fn world() -> (Api, serde_json::Value, Ids) {
    let api = Api::start(&[]);
    api.put("wf", "a.bin", b"some bytes").await;
    api.s.ok(&["lifecycle", "run", "--as-of", "+10d", "--wait"]);
    let job = api.call("POST", "/v1/tenants/acme/artifacts/wf/a.bin/restore").token(&api.acme).send().await;
    assert_eq!(job.status, 202, "{}", String::from_utf8_lossy(&job.body));
    let job_id = job.json()["id"].as_str().expect("a job id").to_owned();
    let hold = api
        .call("POST", "/v1/tenants/acme/holds")
        .token(&api.acme)
        .json(serde_json::json!({ "workflow": "other", "reason": "walk" }))
        .send()
        .await;
    assert_eq!(hold.status, 201, "{}", String::from_utf8_lossy(&hold.body));
    let hold_id = hold.json()["id"].to_string();
    let hook = api
        .call("POST", "/v1/tenants/acme/webhooks")
        .token(&api.acme)
        .json(serde_json::json!({ "url": "https://hooks.example.com/strata", "events": ["purged"] }))
        .send()
        .await;
    assert_eq!(hook.status, 201, "{}", String::from_utf8_lossy(&hook.body));
    let webhook = hook.json()["id"].as_str().expect("a webhook id").to_owned();
    let doc = api.call("GET", "/openapi.json").send().await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.header("content-type"), Some("application/json"));
    (api, doc.json(), Ids { job: job_id, hold: hold_id, webhook })
}

/// The live event stream, which never ends while the server runs.
const STREAM: &str = "/v1/events/stream";

fn concrete(template: &str, ids: &Ids) -> String {
    // acme's stream: another tenant's token asking for it is answered 404.
    if template == STREAM {
        return format!("{STREAM}?tenant=acme");
    }
    let path = template
        .replace("{tenant}", "acme")
        .replace("{workflow}", "wf")
        .replace("{name}", "a.bin")
        .replace("{baseline}", "rel");
    if path.starts_with("/v1/jobs/") {
        path.replace("{id}", &ids.job)
    } else if path.ends_with("/compare") {
        format!("{path}?against=tag:kind=walk")
    } else if path.contains("/webhooks/") {
        path.replace("{id}", &ids.webhook)
    } else {
        path.replace("{id}", &ids.hold)
    }
}

#[tokio::test]
async fn every_documented_route_refuses_callers_it_should() {
    let (api, doc, ids) = world().await;
    let ops = operations(&doc);
    assert!(ops.len() >= 15, "the document lists the routes: {ops:?}");
    let events_before = api.s.events().len();
    let mut walked = 0;
    for (method, template, schemes) in &ops {
        let path = concrete(template, &ids);
        let send = |token: Option<&str>| {
            let mut call = api.call(method, &path).json(serde_json::json!({}));
            if let Some(t) = token {
                call = call.token(t);
            }
            call.send()
        };
        if schemes.is_empty() {
            assert!(PUBLIC.contains(&template.as_str()), "{method} {template} is open to anyone");
            continue;
        }
        walked += 1;
        let anonymous = send(None).await;
        assert_eq!(anonymous.status, 401, "{method} {template} without a token");
        if method != "HEAD" {
            anonymous.problem(401, "unauthorized");
        }
        assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"), "{method} {template}");
        assert_eq!(send(Some("not-a-token")).await.status, 401, "{method} {template} with a wrong token");
        assert_eq!(send(Some(&ADMIN[1..])).await.status, 401, "{method} {template} with a near-admin token");
        if schemes.iter().any(|s| s == "tenant_token") {
            let other = send(Some(&api.globex)).await;
            assert_eq!(other.status, 404, "{method} {template} with another tenant's token");
            if method != "HEAD" {
                other.problem(404, "not-found");
            }
        } else {
            assert_eq!(schemes, &["admin_token".to_owned()], "{method} {template}");
            let tenant = send(Some(&api.acme)).await;
            assert_eq!(tenant.status, 403, "{method} {template} with a tenant token");
            if method != "HEAD" {
                tenant.problem(403, "forbidden");
            }
        }
    }
    assert!(walked >= 12, "walked {walked} protected operations");
    assert_eq!(api.s.events().len(), events_before, "refused requests changed nothing");
    assert_eq!(api.s.artifact("acme/wf/a.bin")["state"], "active");

    // The admin token reaches every tenant and operator route it reads.
    for (method, template, _) in ops.iter().filter(|(m, _, s)| m == "GET" && !s.is_empty()) {
        let path = concrete(template, &ids);
        if template == STREAM {
            // Its answer starts, and is dropped unread.
            let open = api.http.get(format!("{}{path}", api.server.base)).bearer_auth(ADMIN).send().await;
            assert_eq!(open.expect("the stream opens").status(), 200, "{method} {template} with the admin token");
            continue;
        }
        let reply = api.call(method, &path).token(ADMIN).send().await;
        assert_eq!(
            reply.status,
            200,
            "{method} {template} with the admin token: {}",
            String::from_utf8_lossy(&reply.body)
        );
    }
}

#[tokio::test]
async fn another_tenants_artifact_is_exactly_like_a_missing_one() {
    let api = Api::start(&[]);
    api.put("wf", "a.bin", b"secret").await;
    let missing = api.call("GET", "/v1/tenants/acme/artifacts/wf/nothing.bin").token(&api.acme).send().await;
    let foreign = api.call("GET", "/v1/tenants/acme/artifacts/wf/nothing.bin").token(&api.globex).send().await;
    assert_eq!((missing.status, missing.json()), (foreign.status, foreign.json()));
    let existing = api.call("GET", "/v1/tenants/acme/artifacts/wf/a.bin").token(&api.globex).send().await;
    let p = existing.problem(404, "not-found");
    assert_eq!(p["detail"], "artifact acme/wf/a.bin not found");
    for method in ["HEAD", "DELETE", "PUT"] {
        let reply = api.call(method, "/v1/tenants/acme/artifacts/wf/a.bin").token(&api.globex).send().await;
        assert_eq!(reply.status, 404, "{method}");
    }
    let list = api.call("GET", "/v1/tenants/acme/artifacts").token(&api.globex).send().await;
    let unknown = api.call("GET", "/v1/tenants/initech/artifacts").token(ADMIN).send().await;
    assert_eq!(list.problem(404, "not-found")["detail"], "tenant acme not found");
    assert_eq!(unknown.problem(404, "not-found")["detail"], "tenant initech not found");
    let got = api.call("GET", "/v1/tenants/acme/artifacts/wf/a.bin").token(&api.acme).send().await;
    assert_eq!(got.body, b"secret", "acme still has it");
}

#[tokio::test]
async fn the_router_serves_exactly_the_documented_routes() {
    let (api, doc, ids) = world().await;
    let ops = operations(&doc);
    let paths: BTreeSet<&String> = ops.iter().map(|(_, p, _)| p).collect();
    for template in paths {
        let documented: BTreeSet<String> =
            ops.iter().filter(|(_, p, _)| p == template).map(|(m, _, _)| m.clone()).collect();
        // A method no route uses: the router answers 405 and lists what it serves.
        let reply = api.call("TRACE", &concrete(template, &ids)).token(ADMIN).send().await;
        reply.problem(405, "method-not-allowed");
        let served: BTreeSet<String> =
            reply.header("allow").unwrap_or_default().split(',').map(|m| m.trim().to_owned()).collect();
        assert_eq!(served, documented, "{template}: the router serves {served:?}, the document lists {documented:?}");
    }
    // Nothing is served between or beside the documented paths.
    for path in [
        "/index.html",
        "/v1",
        "/v1/tenants/acme",
        "/v1/jobs",
        "/v1/tenants/acme/artifacts/wf",
        "/v1/tenants/acme/holds/1",
        "/metrics/x",
        "/v1/tenants/acme/artifacts/wf/a.bin/other",
    ] {
        let reply = api.call("GET", path).token(ADMIN).send().await;
        reply.problem(404, "no-route");
    }
}

#[tokio::test]
async fn tokens_are_listed_revoked_and_provisioned_by_configuration() {
    let config = tempfile::tempdir().unwrap();
    let provisioned = "provisioned-token-for-acme-0123456789";
    let path = config.path().join("strata.toml");
    let digest = strata_core::tokens::token_hash(provisioned).to_uppercase();
    std::fs::write(&path, format!("[api.tenant_tokens]\nacme = [\"{digest}\"]\n")).unwrap();
    let api = Api::start(&[(env::CONFIG, path.to_str().unwrap())]);
    let listing = "/v1/tenants/acme/artifacts";

    // A token provisioned by its digest in the configuration reaches its tenant only.
    let reply = api.call("GET", listing).token(provisioned).send().await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let other = api.call("GET", "/v1/tenants/globex/artifacts").token(provisioned).send().await;
    other.problem(404, "not-found");

    let tokens = api.call("GET", "/v1/tenants/acme/tokens").token(ADMIN).send().await;
    assert_eq!(tokens.status, 200);
    let tokens = tokens.json();
    assert_eq!(tokens.as_array().unwrap().len(), 1, "{tokens}");
    assert!(tokens[0].get("token").is_none() && tokens[0]["revoked_at"].is_null(), "{tokens}");
    let id = tokens[0]["id"].as_i64().unwrap();
    api.call("GET", "/v1/tenants/acme/tokens").token(&api.acme).send().await.problem(403, "forbidden");
    api.call("DELETE", &format!("/v1/tenants/acme/tokens/{id}"))
        .token(&api.acme)
        .send()
        .await
        .problem(403, "forbidden");
    api.call("DELETE", &format!("/v1/tenants/globex/tokens/{id}")).token(ADMIN).send().await.problem(404, "not-found");
    assert_eq!(api.call("GET", listing).token(&api.acme).send().await.status, 200, "still live");

    let revoked = api.call("DELETE", &format!("/v1/tenants/acme/tokens/{id}")).token(ADMIN).send().await;
    assert_eq!(revoked.status, 204);
    api.call("GET", listing).token(&api.acme).send().await.problem(401, "unauthorized");
    api.call("DELETE", &format!("/v1/tenants/acme/tokens/{id}")).token(ADMIN).send().await.problem(404, "not-found");
    let listed = api.s.json(&["tenant", "token", "ls", "acme"]);
    assert!(listed[0]["revoked_at"].is_string(), "{listed}");
    assert_eq!(api.s.count_events("token_revoked"), 1);
    // The other tenant's token and the provisioned one still work.
    assert_eq!(api.call("GET", "/v1/tenants/globex/artifacts").token(&api.globex).send().await.status, 200);
    assert_eq!(api.call("GET", listing).token(provisioned).send().await.status, 200);

    // The command line revokes as well, and refuses what it cannot find.
    let globex = api.s.json(&["tenant", "token", "ls", "globex"]);
    let globex_id = globex[0]["id"].as_i64().unwrap().to_string();
    api.s.fails(&["tenant", "token", "revoke", "acme", &globex_id], 2);
    api.s.ok(&["tenant", "token", "revoke", "globex", &globex_id]);
    api.call("GET", "/v1/tenants/globex/artifacts").token(&api.globex).send().await.problem(401, "unauthorized");
}

#[test]
fn a_configured_token_digest_must_be_a_sha256() {
    let s = common::Strata::new();
    let path = s.path("strata.toml");
    std::fs::write(&path, "[api.tenant_tokens]\nacme = [\"not-a-digest\"]\n").unwrap();
    let err = s.fails(&["--config", path.to_str().unwrap(), "tenant", "ls"], 2);
    assert!(err.contains("api.tenant_tokens.acme"), "{err}");
}
