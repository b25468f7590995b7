//! Baselines, comparisons and trends through the real binary and the real
//! HTTP server: the CLI and the API answer the same questions the same way.

mod common;

use common::Strata;
use common::api::Api;
use serde_json::json;

/// acme's build workflow at release 1.0 (marked as a baseline and tagged),
/// then the next build: app.tar changed, lib.so the same, old.txt gone,
/// new.bin new.
fn two_builds() -> Strata {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    for (name, bytes) in [("app.tar", "app v1"), ("lib.so", "lib v1!"), ("old.txt", "old")] {
        s.ok(&[
            "put",
            &format!("acme/build/{name}"),
            &s.file(name, bytes.as_bytes()),
            "--tag",
            "release=1.0",
            "--tag",
            "run=1",
        ]);
    }
    let out = s.ok(&["baseline", "set", "rel-1.0", "acme/build"]);
    assert!(out.contains("3 artifacts"), "{out}");
    s.ok(&["put", "acme/build/app.tar", &s.file("app2", b"app v2 larger"), "--overwrite", "--tag", "run=2"]);
    s.ok(&["rm", "acme/build/old.txt"]);
    s.ok(&["put", "acme/build/new.bin", &s.file("new", b"new"), "--tag", "run=2"]);
    s
}

#[test]
fn a_build_is_compared_with_its_baseline_and_a_tag() {
    let s = two_builds();
    let c = s.json(&["compare", "acme/build", "--against", "rel-1.0"]);
    let names = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(&c["added"]), ["new.bin"]);
    assert_eq!(names(&c["removed"]), ["old.txt"]);
    assert_eq!(names(&c["changed"]), ["app.tar"]);
    assert_eq!(c["changed"][0]["delta_bytes"], 7);
    assert_ne!(c["changed"][0]["baseline_blake3"], c["changed"][0]["current_blake3"]);
    assert_eq!((c["unchanged"].as_u64(), c["delta_bytes"].as_i64()), (Some(1), Some(7)));
    assert_eq!((c["baseline_bytes"].as_u64(), c["current_bytes"].as_u64()), (Some(16), Some(23)));

    let table = s.ok(&["compare", "acme/build", "--against", "rel-1.0"]);
    assert!(table.contains("changed") && table.contains("build/app.tar") && table.contains("+7 B"), "{table}");
    assert!(table.contains("1 added, 1 removed, 1 changed, 1 unchanged"), "{table}");

    // Against a tag: what carries release=1.0 now (lib.so; app.tar v1 was replaced).
    let c = s.json(&["compare", "acme/build", "--against", "tag:release=1.0"]);
    assert_eq!(c["baseline_artifacts"], 1);
    assert_eq!(names(&c["added"]), ["app.tar", "new.bin"]);

    let err = s.fails(&["compare", "acme/build", "--against", "rel-9"], 2);
    assert!(err.contains("no baseline rel-9"), "{err}");
    let err = s.fails(&["compare", "acme/build", "--against", "tag:=x"], 2);
    assert!(err.contains("tag:KEY=VALUE"), "{err}");
    let err = s.fails(&["baseline", "set", "rel-1.0", "acme/build"], 2);
    assert!(err.contains("--replace"), "{err}");
    let err = s.fails(&["baseline", "set", "bad name", "acme"], 2);
    assert!(err.contains("letters, digits"), "{err}");
    s.ok(&["baseline", "set", "rel-1.0", "acme/build", "--replace"]);
    let c = s.json(&["compare", "acme/build", "--against", "rel-1.0"]);
    assert_eq!((c["unchanged"].as_u64(), c["delta_bytes"].as_i64()), (Some(3), Some(0)));
    assert_eq!(s.count_events("baseline_marked"), 2);
    let listed = s.json(&["baseline", "ls", "acme"]);
    assert_eq!(listed[0]["artifacts"], 3);
    s.ok(&["baseline", "rm", "acme", "rel-1.0"]);
    assert_eq!(s.json(&["baseline", "ls"]), json!([]));
    assert_eq!(s.count_events("baseline_removed"), 1);
}

#[test]
fn trends_sum_each_workflow_per_day_and_per_run() {
    let s = two_builds();
    let days = s.json(&["trend", "acme"]);
    assert_eq!(days.as_array().unwrap().len(), 1, "{days}");
    assert_eq!(days[0]["workflow"], "build");
    assert_eq!((days[0]["artifacts"].as_u64(), days[0]["bytes"].as_u64()), (Some(5), Some(32)), "{days}");
    assert_eq!(days[0]["compression_ratio"], 1.0);
    let runs = s.json(&["trend", "acme/build", "--by", "run"]);
    let rows: Vec<(String, u64)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["bucket"].as_str().unwrap().to_owned(), p["artifacts"].as_u64().unwrap()))
        .collect();
    assert_eq!(rows, [("1".to_owned(), 3), ("2".to_owned(), 2)]);
    let table = s.ok(&["trend", "acme", "--by", "run"]);
    assert!(table.contains("run") && table.contains("1.00x"), "{table}");
    // Cold and compressed: the ratio says how much it saves.
    s.ok(&["put", "acme/logs/big.log", &s.file("log", &common::log_text(2000))]);
    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    let logs = s.json(&["trend", "acme/logs"]);
    assert!(logs[0]["compression_ratio"].as_f64().unwrap() > 2.0, "{logs}");
    let err = s.fails(&["trend", "acme", "--by", "week"], 2);
    assert!(err.contains("day, run or tag:KEY"), "{err}");
    s.fails(&["trend", "nobody"], 2);
}

#[tokio::test]
async fn the_api_answers_as_the_cli_does() {
    let api = Api::start(&[]);
    api.put("build", "app.tar", b"app v1").await;
    api.put("build", "lib.so", b"lib v1!").await;
    let marked = api
        .call("POST", "/v1/tenants/acme/baselines")
        .token(&api.acme)
        .json(json!({ "name": "rel-1", "workflow": "build" }))
        .send()
        .await;
    assert_eq!(marked.status, 201, "{}", String::from_utf8_lossy(&marked.body));
    assert_eq!(marked.json()["artifacts"], 2);
    let again =
        api.call("POST", "/v1/tenants/acme/baselines").token(&api.acme).json(json!({ "name": "rel-1" })).send().await;
    again.problem(409, "conflict");
    api.put("build", "new.bin", b"new").await;

    let c = api.call("GET", "/v1/tenants/acme/compare?against=rel-1&workflow=build").token(&api.acme).send().await;
    assert_eq!(c.status, 200, "{}", String::from_utf8_lossy(&c.body));
    let cli = api.s.json(&["compare", "acme/build", "--against", "rel-1"]);
    assert_eq!(c.json()["added"], cli["added"]);
    assert_eq!(c.json()["delta_bytes"], 3);
    api.call("GET", "/v1/tenants/acme/compare?against=rel-9").token(&api.acme).send().await.problem(404, "not-found");
    api.call("GET", "/v1/tenants/acme/compare?against=bad%20name")
        .token(&api.acme)
        .send()
        .await
        .problem(400, "bad-request");
    api.call("GET", "/v1/tenants/globex/compare?against=rel-1")
        .token(&api.globex)
        .send()
        .await
        .problem(404, "not-found");

    let t = api.call("GET", "/v1/tenants/acme/trends?by=day").token(&api.acme).send().await;
    assert_eq!(t.status, 200);
    let fields = |v: &serde_json::Value| -> Vec<(String, String, u64, u64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let text = |k: &str| p[k].as_str().unwrap().to_owned();
                (text("workflow"), text("bucket"), p["artifacts"].as_u64().unwrap(), p["bytes"].as_u64().unwrap())
            })
            .collect()
    };
    assert_eq!(fields(&t.json()), fields(&api.s.json(&["trend", "acme"])));
    assert_eq!(fields(&t.json())[0].2, 3);
    api.call("GET", "/v1/tenants/acme/trends?by=week").token(&api.acme).send().await.problem(400, "bad-request");

    let listed = api.call("GET", "/v1/tenants/acme/baselines").token(&api.acme).send().await.json();
    assert_eq!(listed[0]["name"], "rel-1");
    assert_eq!(api.call("DELETE", "/v1/tenants/acme/baselines/rel-1").token(&api.acme).send().await.status, 204);
    api.call("DELETE", "/v1/tenants/acme/baselines/rel-1").token(&api.acme).send().await.problem(404, "not-found");
}
