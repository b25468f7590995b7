//! Retention and restore over HTTP: extensions, holds, history, explain,
//! and restore jobs that collapse when repeated.

mod common;

use common::api::{ADMIN, Api};
use serde_json::json;
use strata_core::config::env;

#[tokio::test]
async fn extensions_holds_history_and_explain() {
    let api = Api::start(&[]);
    let stored = api.put("wf", "report.json", b"{}").await;
    let base = "/v1/tenants/acme/artifacts/wf/report.json";
    let expires = chrono::DateTime::parse_from_rfc3339(stored["expires_at"].as_str().unwrap()).unwrap();
    let later = (expires + chrono::Duration::days(100)).to_rfc3339();

    let no_reason = api
        .call("POST", &format!("{base}/extensions"))
        .token(&api.acme)
        .json(json!({"until": later, "reason": " "}))
        .send()
        .await;
    no_reason.problem(400, "bad-request");
    let bad_time = api
        .call("POST", &format!("{base}/extensions"))
        .token(&api.acme)
        .json(json!({"until": "soon", "reason": "r"}))
        .send()
        .await;
    bad_time.problem(400, "bad-request");
    let earlier = (expires - chrono::Duration::days(1)).to_rfc3339();
    let not_later = api
        .call("POST", &format!("{base}/extensions"))
        .token(&api.acme)
        .json(json!({"until": earlier, "reason": "r"}))
        .send()
        .await;
    not_later.problem(409, "conflict");
    let extended = api
        .call("POST", &format!("{base}/extensions"))
        .token(&api.acme)
        .json(json!({"until": later, "reason": "customer"}))
        .send()
        .await;
    assert_eq!(extended.status, 200, "{}", String::from_utf8_lossy(&extended.body));
    assert_eq!(extended.json()["extended"], true);

    let hold = api
        .call("POST", "/v1/tenants/acme/holds")
        .token(&api.acme)
        .json(json!({"workflow": "wf", "name": "report.json", "reason": "ticket 9"}))
        .send()
        .await;
    assert_eq!(hold.status, 201);
    let hold_id = hold.json()["id"].as_i64().unwrap();
    api.call("DELETE", base).token(&api.acme).send().await.problem(409, "held");
    let holds = api.call("GET", "/v1/tenants/acme/holds").token(&api.acme).send().await.json();
    assert_eq!(holds.as_array().unwrap().len(), 1);
    assert_eq!(holds[0]["name"], "report.json");
    let explained = api.call("GET", &format!("{base}/explain")).token(&api.acme).send().await;
    assert_eq!(explained.status, 200);
    let e = explained.json();
    assert_eq!(e["plan"], "pro");
    assert_eq!(e["holds"][0]["id"], hold_id);
    assert!(e["expiry_rule"].as_str().unwrap().contains("extended"), "{e}");
    let as_of = api.call("GET", &format!("{base}/explain?as_of=2999-01-01T00:00:00Z")).token(&api.acme).send().await;
    assert_eq!(as_of.json()["as_of"], "2999-01-01T00:00:00.000Z");

    let release = |reason: &'static str| {
        api.call("POST", &format!("/v1/tenants/acme/holds/{hold_id}/release"))
            .token(&api.acme)
            .json(json!({ "reason": reason }))
            .send()
    };
    let released = release("closed").await;
    assert_eq!(released.status, 200);
    assert_eq!(released.json()["release_reason"], "closed");
    release("again").await.problem(404, "not-found");
    let foreign = api
        .call("POST", &format!("/v1/tenants/globex/holds/{hold_id}/release"))
        .token(ADMIN)
        .json(json!({"reason": "x"}))
        .send()
        .await;
    foreign.problem(404, "not-found");

    let history = api.call("GET", &format!("{base}/history")).token(&api.acme).send().await.json();
    let kinds: Vec<&str> = history.as_array().unwrap().iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ingested", "retention.default_applied", "retention.extended", "hold_applied", "hold_released"]);
    assert_eq!(history[2]["actor"], "api:acme");
    assert_eq!(history[2]["reason"], "customer");
    // The same history as CBOR, when asked for: the same values, decoded.
    let cbor =
        api.call("GET", &format!("{base}/history")).token(&api.acme).header("Accept", "application/cbor").send().await;
    assert_eq!(cbor.status, 200);
    assert_eq!(cbor.header("content-type"), Some("application/cbor"));
    let decoded: serde_json::Value = minicbor_serde::from_slice(&cbor.body).expect("CBOR");
    assert_eq!(decoded, history);
    let json_first = api
        .call("GET", &format!("{base}/history"))
        .token(&api.acme)
        .header("Accept", "application/json, application/cbor;q=0.5")
        .send()
        .await;
    assert_eq!(json_first.header("content-type"), Some("application/json"));
    api.call("GET", "/v1/tenants/acme/artifacts/wf/never.json/history")
        .token(&api.acme)
        .send()
        .await
        .problem(404, "not-found");
    assert_eq!(api.call("DELETE", base).token(&api.acme).send().await.status, 204);
}

#[tokio::test]
async fn restores_are_jobs_that_collapse_when_repeated() {
    let api = Api::start(&[]);
    let bytes = common::log_text(5_000);
    api.put("logs", "build.log", &bytes).await;
    let path = "/v1/tenants/acme/artifacts/logs/build.log/restore";
    api.call("POST", path).token(&api.acme).send().await.problem(409, "conflict");
    api.s.ok(&["lifecycle", "run", "--as-of", "+40d", "--wait"]);
    assert_eq!(api.s.artifact("acme/logs/build.log")["tier"], "cold");

    api.call("POST", &format!("{path}?days=0")).token(&api.acme).send().await.problem(400, "bad-request");
    let first = api.call("POST", &format!("{path}?days=3")).token(&api.acme).send().await;
    assert_eq!(first.status, 202, "{}", String::from_utf8_lossy(&first.body));
    let job = first.json();
    assert_eq!(job["status"], "pending");
    assert_eq!(job["days"], 3);
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(first.header("location"), Some(format!("/v1/jobs/{id}").as_str()));
    let again = api.call("POST", path).token(ADMIN).send().await;
    assert_eq!(again.status, 202);
    assert_eq!(again.json()["id"], id, "a repeated request answers with the job under way");
    let stats = api.s.json(&["queue", "stats"]);
    let waiting: u64 = stats.as_array().unwrap().iter().map(|l| l["waiting"].as_u64().unwrap()).sum();
    assert_eq!(waiting, 1, "one job was queued: {stats}");

    let status = |token: &str| api.call("GET", &format!("/v1/jobs/{id}")).token(token).send();
    assert_eq!(status(&api.acme).await.json()["status"], "pending");
    status(&api.globex).await.problem(404, "not-found");
    api.call("GET", "/v1/jobs/no-such-job").token(&api.acme).send().await.problem(404, "not-found");

    api.s.ok(&["lifecycle", "run", "--wait"]);
    let done = status(&api.acme).await.json();
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(api.s.artifact("acme/logs/build.log")["tier"], "hot");
    assert_eq!(status(ADMIN).await.json()["status"], "succeeded");
    let got = api.call("GET", "/v1/tenants/acme/artifacts/logs/build.log").token(&api.acme).send().await;
    assert_eq!(got.body, bytes);
    assert_eq!(api.s.count_events("restored"), 1);
}

#[tokio::test]
async fn strata_run_carries_out_restores_by_itself() {
    let api = Api::launch("run", &[]);
    let bytes = common::noise(300_000, 5);
    api.put("wf", "bundle.bin", &bytes).await;
    api.s.ok(&["lifecycle", "run", "--as-of", "+10d", "--wait"]);
    assert_eq!(api.s.artifact("acme/wf/bundle.bin")["tier"], "warm");
    let job = api.call("POST", "/v1/tenants/acme/artifacts/wf/bundle.bin/restore").token(&api.acme).send().await;
    assert_eq!(job.status, 202, "{}", String::from_utf8_lossy(&job.body));
    let id = job.json()["id"].as_str().unwrap().to_owned();
    let mut status = String::new();
    for _ in 0..300 {
        status = api.call("GET", &format!("/v1/jobs/{id}")).token(&api.acme).send().await.json()["status"]
            .as_str()
            .unwrap()
            .to_owned();
        if status != "pending" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "succeeded", "the in-process workers restored it within 30 s");
    let got = api.call("GET", "/v1/tenants/acme/artifacts/wf/bundle.bin").token(&api.acme).send().await;
    assert_eq!(got.header("x-strata-tier"), Some("hot"));
    assert_eq!(got.body, bytes);
    let Api { server, .. } = api;
    assert!(server.terminate().success(), "SIGTERM stops the API, the scheduler and the workers");
}

#[tokio::test]
async fn erasure_queues_jobs_for_everything_unprotected_in_scope() {
    let api = Api::start(&[]);
    api.put("wf", "a.txt", b"personal data").await;
    api.put("wf", "b.txt", b"evidence").await;
    api.put("other", "c.txt", b"kept").await;
    let hold = api
        .call("POST", "/v1/tenants/acme/holds")
        .token(&api.acme)
        .json(json!({"workflow": "wf", "name": "b.txt", "reason": "litigation"}))
        .send()
        .await;
    assert_eq!(hold.status, 201);
    let events_before = api.s.events().len();
    let no_reason = api
        .call("POST", "/v1/tenants/acme/erasures")
        .token(&api.acme)
        .json(json!({"workflow": "wf", "reason": ""}))
        .send()
        .await;
    no_reason.problem(400, "bad-request");
    let no_workflow = api
        .call("POST", "/v1/tenants/acme/erasures")
        .token(&api.acme)
        .json(json!({"name": "a.txt", "reason": "r"}))
        .send()
        .await;
    no_workflow.problem(400, "bad-request");
    assert_eq!(api.s.events().len(), events_before, "refused erasures change nothing");

    let erased = api
        .call("POST", "/v1/tenants/acme/erasures")
        .token(&api.acme)
        .json(json!({"workflow": "wf", "reason": "data subject request 17"}))
        .send()
        .await;
    assert_eq!(erased.status, 202, "{}", String::from_utf8_lossy(&erased.body));
    let body = erased.json();
    assert_eq!(body["queued"], json!(["acme/wf/a.txt"]));
    assert_eq!(body["blocked"], json!(["acme/wf/b.txt"]));
    api.s.ok(&["lifecycle", "run", "--wait"]);
    let gone = api.call("GET", "/v1/tenants/acme/artifacts/wf/a.txt").token(&api.acme).send().await;
    gone.problem(404, "not-found");
    for kept in ["wf/b.txt", "other/c.txt"] {
        let reply = api.call("GET", &format!("/v1/tenants/acme/artifacts/{kept}")).token(&api.acme).send().await;
        assert_eq!(reply.status, 200, "{kept} is kept");
    }
    let erasures = api.s.events().into_iter().filter(|e| e["event_type"] == "erased").count();
    assert_eq!(erasures, 1);
}

/// Releases hold `id` of acme with `token`.
async fn release(api: &Api, token: &str, id: i64, reason: &str) -> common::api::Reply {
    api.call("POST", &format!("/v1/tenants/acme/holds/{id}/release"))
        .token(token)
        .json(json!({ "reason": reason }))
        .send()
        .await
}

/// Places a hold on acme with `token`.
async fn hold(api: &Api, token: &str, body: serde_json::Value) -> common::api::Reply {
    api.call("POST", "/v1/tenants/acme/holds").token(token).json(body).send().await
}

#[tokio::test]
async fn a_tenant_token_cannot_lift_an_operators_holds() {
    let api = Api::start(&[]);
    api.put("wf", "evidence.bin", b"the evidence").await;
    let path = "/v1/tenants/acme/artifacts/wf/evidence.bin";
    let placed = api.s.json(&["retention", "hold", "acme", "--reason", "litigation 42"]);
    let tenant_hold = placed["id"].as_i64().unwrap();
    assert_eq!((&placed["owner"], &placed["until"]), (&json!("operator"), &json!(null)));
    let workflow = hold(&api, ADMIN, json!({"workflow": "wf", "reason": "audit"})).await;
    assert_eq!(workflow.status, 201, "{}", String::from_utf8_lossy(&workflow.body));
    let workflow = workflow.json();
    assert_eq!(
        (&workflow["owner"], &workflow["owner_tenant"], &workflow["mode"]),
        (&json!("operator"), &json!(null), &json!("legal"))
    );
    let workflow_hold = workflow["id"].as_i64().unwrap();
    api.call("DELETE", path).token(&api.acme).send().await.problem(409, "held");

    for id in [tenant_hold, workflow_hold] {
        let p = release(&api, &api.acme, id, "not needed any more").await.problem(403, "hold-not-owned");
        assert!(p["detail"].as_str().unwrap().contains("operator"), "{p}");
    }
    api.call("DELETE", path).token(&api.acme).send().await.problem(409, "held");
    let overwrite = api
        .call("PUT", &format!("{path}?overwrite=true"))
        .token(&api.acme)
        .body("application/octet-stream", b"forged".to_vec())
        .send()
        .await;
    overwrite.problem(409, "held");
    let erasure = api
        .call("POST", "/v1/tenants/acme/erasures")
        .token(&api.acme)
        .json(json!({"workflow": "wf", "reason": "please"}))
        .send()
        .await;
    assert_eq!(erasure.json()["blocked"], json!(["acme/wf/evidence.bin"]));
    api.s.ok(&["lifecycle", "run", "--as-of", "+5000d", "--wait"]);
    let got = api.call("GET", path).token(&api.acme).send().await;
    assert_eq!((got.status, got.body.as_slice()), (200, b"the evidence".as_slice()), "the evidence is still there");

    let holds = api.call("GET", "/v1/tenants/acme/holds").token(&api.acme).send().await.json();
    assert_eq!(holds.as_array().unwrap().len(), 2, "both holds are still active: {holds}");
    let refused: Vec<serde_json::Value> =
        api.s.events().into_iter().filter(|e| e["event_type"] == "hold_release_refused").collect();
    assert_eq!(refused.len(), 2, "one event per refused release");
    for (event, id) in refused.iter().zip([tenant_hold, workflow_hold]) {
        assert_eq!((&event["actor"], &event["reason"]), (&json!("api:acme"), &json!("not needed any more")));
        assert_eq!((&event["data"]["hold_id"], &event["data"]["refused"]), (&json!(id), &json!("not_owner")));
    }
    assert!(api.s.ok(&["events", "verify"]).contains("intact"));

    let released = release(&api, ADMIN, workflow_hold, "audit closed").await;
    assert_eq!(released.status, 200, "an operator releases it");
    api.s.ok(&["retention", "release", "acme", &tenant_hold.to_string(), "--reason", "case closed"]);
    assert_eq!(api.call("DELETE", path).token(&api.acme).send().await.status, 204);
}

#[tokio::test]
async fn a_tenants_hold_is_released_by_that_tenant_or_an_operator_only() {
    let api = Api::start(&[]);
    api.put("wf", "a.txt", b"a").await;
    let placed = hold(&api, &api.acme, json!({"workflow": "wf", "name": "a.txt", "reason": "our audit"})).await;
    assert_eq!(placed.status, 201, "{}", String::from_utf8_lossy(&placed.body));
    let placed = placed.json();
    assert_eq!((&placed["owner"], &placed["owner_tenant"]), (&json!("tenant"), &json!("acme")));
    let id = placed["id"].as_i64().unwrap();
    let listed = api.s.json(&["retention", "holds", "acme"]);
    assert_eq!((&listed[0]["owner"], &listed[0]["owner_tenant"]), (&json!("tenant"), &json!("acme")));

    api.call("GET", "/v1/tenants/acme/holds").token(&api.globex).send().await.problem(404, "not-found");
    release(&api, &api.globex, id, "mine").await.problem(404, "not-found");
    let via_own_path = api
        .call("POST", &format!("/v1/tenants/globex/holds/{id}/release"))
        .token(&api.globex)
        .json(json!({"reason": "mine"}))
        .send()
        .await;
    via_own_path.problem(404, "not-found");
    let globex_hold = api
        .call("POST", "/v1/tenants/globex/holds")
        .token(&api.globex)
        .json(json!({"reason": "globex's own"}))
        .send()
        .await;
    assert_eq!(globex_hold.status, 201);
    let globex_id = globex_hold.json()["id"].as_i64().unwrap();
    let foreign = api
        .call("POST", &format!("/v1/tenants/globex/holds/{globex_id}/release"))
        .token(&api.acme)
        .json(json!({"reason": "x"}))
        .send()
        .await;
    foreign.problem(404, "not-found");

    let released = release(&api, &api.acme, id, "audit done").await;
    assert_eq!(released.status, 200, "{}", String::from_utf8_lossy(&released.body));
    assert_eq!(released.json()["released_by"], "api:acme");
    let again = hold(&api, &api.acme, json!({"workflow": "wf", "reason": "second audit"})).await.json();
    let by_operator = release(&api, ADMIN, again["id"].as_i64().unwrap(), "operator lifts it").await;
    assert_eq!(by_operator.status, 200);
    assert_eq!(api.s.count_events("hold_release_refused"), 0);

    let doc = api.call("GET", "/openapi.json").send().await.json();
    let schemas = &doc["components"]["schemas"];
    let view = &schemas["HoldView"]["properties"];
    for field in ["owner", "owner_tenant", "mode", "until"] {
        assert!(view[field].is_object(), "HoldView documents {field}: {view}");
    }
    assert_eq!(schemas["HoldOwner"]["enum"], json!(["operator", "tenant"]), "{schemas}");
    assert_eq!(schemas["HoldMode"]["enum"], json!(["legal", "compliance"]));
    assert!(schemas["NewHold"]["properties"]["until"].is_object());
}

#[tokio::test]
async fn tenants_can_be_kept_from_placing_holds() {
    let api = Api::start(&[(env::RETENTION_TENANT_HOLDS, "false")]);
    api.put("wf", "a.txt", b"a").await;
    let refused = hold(&api, &api.acme, json!({"workflow": "wf", "reason": "ours"})).await;
    let p = refused.problem(403, "tenant-holds-disabled");
    assert!(p["detail"].as_str().unwrap().contains("retention.tenant_holds"), "{p}");
    assert!(api.s.json(&["retention", "holds", "--all"]).as_array().unwrap().is_empty());
    let operator = hold(&api, ADMIN, json!({"workflow": "wf", "reason": "operator's"})).await;
    assert_eq!(operator.status, 201, "operators always can");
}

#[tokio::test]
async fn a_compliance_hold_is_released_by_nobody_before_its_date() {
    let api = Api::start(&[]);
    api.put("wf", "a.txt", b"a").await;
    let in_30_days = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let placed = hold(&api, ADMIN, json!({"workflow": "wf", "reason": "regulator", "until": in_30_days})).await;
    assert_eq!(placed.status, 201, "{}", String::from_utf8_lossy(&placed.body));
    let placed = placed.json();
    assert_eq!(placed["mode"], "compliance");
    assert!(placed["until"].as_str().is_some(), "{placed}");
    let id = placed["id"].as_i64().unwrap();

    let p = release(&api, ADMIN, id, "early").await.problem(409, "hold-locked");
    assert!(p["detail"].as_str().unwrap().contains("compliance hold until"), "{p}");
    release(&api, &api.acme, id, "early").await.problem(403, "hold-not-owned");
    let ours = hold(&api, &api.acme, json!({"workflow": "wf", "reason": "ours", "until": in_30_days})).await.json();
    release(&api, &api.acme, ours["id"].as_i64().unwrap(), "early").await.problem(409, "hold-locked");
    let err = api.s.fails(&["retention", "release", "acme/wf", &id.to_string(), "--reason", "early"], 2);
    assert!(err.contains("nobody can release it before"), "{err}");
    assert_eq!(api.s.json(&["retention", "holds"]).as_array().unwrap().len(), 2, "both still active");
    let refused: Vec<String> = api
        .s
        .events()
        .into_iter()
        .filter(|e| e["event_type"] == "hold_release_refused")
        .map(|e| e["data"]["refused"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(refused, ["locked", "not_owner", "locked", "locked"]);

    for until in ["2001-01-01T00:00:00Z", "9999-01-01T00:00:00Z", "soon"] {
        hold(&api, ADMIN, json!({"workflow": "wf", "reason": "r", "until": until})).await.problem(400, "bad-request");
    }
}

#[tokio::test]
async fn stored_text_with_terminal_escapes_is_printed_escaped() {
    let api = Api::start(&[]);
    let stored = api.put("wf", "report.json", b"{}").await;
    let hostile = "\u{1b}[2J\u{1b}[Hall clear\u{9b}31m\u{7}";
    let placed = hold(&api, &api.acme, json!({"workflow": "wf", "name": "report.json", "reason": hostile})).await;
    assert_eq!(placed.json()["reason"], hostile, "the API keeps the text exact");
    let expires = chrono::DateTime::parse_from_rfc3339(stored["expires_at"].as_str().unwrap()).unwrap();
    let extended = api
        .call("POST", "/v1/tenants/acme/artifacts/wf/report.json/extensions")
        .token(&api.acme)
        .json(json!({"until": (expires + chrono::Duration::days(10)).to_rfc3339(), "reason": hostile}))
        .send()
        .await;
    assert_eq!(extended.status, 200);

    for args in [
        &["retention", "holds"][..],
        &["retention", "history", "acme/wf/report.json"],
        &["explain", "acme/wf/report.json"],
        &["events"],
    ] {
        let out = api.s.ok(args);
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{9b}') && !out.contains('\u{7}'),
            "{args:?} printed raw: {out:?}"
        );
        if args[0] != "events" {
            assert!(out.contains("\\u{1b}[2J\\u{1b}[Hall clear"), "{args:?} shows the text escaped: {out}");
        }
    }
    let as_json = api.s.json(&["retention", "holds"]);
    assert_eq!(as_json[0]["reason"], hostile, "--json stays exact");
}

#[tokio::test]
async fn upcoming_deletions_name_the_rule_and_leave_held_artifacts_out() {
    let api = Api::start(&[]);
    let stored = api.put("wf", "a.json", b"{}").await;
    api.put("wf", "b.json", b"[]").await;
    let held = api
        .call("POST", "/v1/tenants/acme/holds")
        .token(&api.acme)
        .json(json!({"workflow": "wf", "name": "b.json", "reason": "audit"}))
        .send()
        .await;
    assert_eq!(held.status, 201);
    let expires = chrono::DateTime::parse_from_rfc3339(stored["expires_at"].as_str().unwrap()).unwrap();
    let day_before = (expires - chrono::Duration::days(1)).to_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let upcoming = |query: String| {
        api.call("GET", &format!("/v1/tenants/acme/retention/upcoming?{query}")).token(&api.acme).send()
    };

    let week = upcoming(format!("as_of={day_before}&within=10d")).await;
    assert_eq!(week.status, 200, "{}", String::from_utf8_lossy(&week.body));
    let week = week.json();
    assert_eq!(week.as_array().unwrap().len(), 2, "{week}");
    assert_eq!(week[0]["key"], "acme/wf/a.json");
    assert_eq!(week[0]["event"], "deletion_eligible");
    assert!(week[0]["rule"].as_str().unwrap().starts_with("plan pro: "), "{week}");
    assert_eq!(week[0]["at"], stored["expires_at"]);
    assert_eq!((week[1]["event"].as_str(), week[1]["follows"].as_bool()), (Some("purged"), Some(true)));
    let default_week = upcoming(format!("as_of={day_before}")).await.json();
    assert_eq!(default_week.as_array().unwrap().len(), 1, "a week by default: {default_week}");
    let short = upcoming(format!("as_of={day_before}&within=12h")).await.json();
    assert_eq!(short, json!([]));
    let admin = api.call("GET", "/v1/tenants/acme/retention/upcoming").token(ADMIN).send().await;
    assert_eq!(admin.status, 200);

    for bad in ["within=-1d", "within=7w", "within=7d&within=8d", "as_of=soon", "horizon=7d"] {
        upcoming(bad.to_owned()).await.problem(400, "bad-request");
    }
    let unknown = api.call("GET", "/v1/tenants/initech/retention/upcoming").token(ADMIN).send().await;
    unknown.problem(404, "not-found");
}
