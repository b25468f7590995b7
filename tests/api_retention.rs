//! Retention and restore over HTTP: extensions, holds, history, explain,
//! and restore jobs that collapse when repeated.

mod common;

use common::api::{ADMIN, Api};
use serde_json::json;

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
    assert_eq!(kinds, ["ingested", "retention.default_applied", "retention_extended", "hold_applied", "hold_released"]);
    assert_eq!(history[2]["actor"], "api:acme");
    assert_eq!(history[2]["reason"], "customer");
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
