//! Artifacts over HTTP against the real `strata serve`: streamed round
//! trips, conditional and range requests, HEAD, DELETE, listing pages, and
//! bad input that must change nothing.

mod common;

use common::api::{ADMIN, Api};
use common::{log_text, noise};
use strata_core::config::env;

#[tokio::test]
async fn upload_and_download_round_trip_exactly_with_digests() {
    let api = Api::start(&[]);
    let bytes = noise(600_000, 7);
    let reply = api
        .call("PUT", "/v1/tenants/acme/artifacts/nightly/bundle.bin?tag=branch=main&meta=commit=9f3a")
        .token(&api.acme)
        .header("x-strata-class", "release-evidence")
        .body("application/x-bundle", bytes.clone())
        .send()
        .await;
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    let stored = reply.json();
    let blake3 = blake3::hash(&bytes).to_hex().to_string();
    assert_eq!(stored["blake3"], blake3);
    assert_eq!(stored["size"], 600_000);
    assert_eq!(stored["tier"], "hot");
    assert_eq!(stored["class"], "release-evidence");
    assert_eq!(stored["tags"]["branch"], "main");
    assert_eq!(stored["meta"]["commit"], "9f3a");
    assert_eq!(reply.header("etag"), Some(format!("\"{blake3}\"").as_str()));
    assert_eq!(reply.header("location"), Some("/v1/tenants/acme/artifacts/nightly/bundle.bin"));

    let got = api.call("GET", "/v1/tenants/acme/artifacts/nightly/bundle.bin").token(&api.acme).send().await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, bytes);
    assert_eq!(got.header("etag"), Some(format!("\"{blake3}\"").as_str()));
    assert_eq!(got.header("content-type"), Some("application/x-bundle"));
    assert_eq!(got.header("content-length"), Some("600000"));
    assert_eq!(got.header("accept-ranges"), Some("bytes"));
    assert_eq!(got.header("x-strata-tier"), Some("hot"));

    // The CLI sees the same artifact and one audited ingest by the tenant.
    let out = api.s.path("out.bin");
    api.s.ok(&["get", "acme/nightly/bundle.bin", "-o", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    let ingested: Vec<_> = api.s.events().into_iter().filter(|e| e["event_type"] == "ingested").collect();
    assert_eq!(ingested.len(), 1);
    assert_eq!(ingested[0]["actor"], "api:acme");
}

#[tokio::test]
async fn cold_artifacts_stream_back_decompressed() {
    let api = Api::start(&[]);
    let bytes = log_text(20_000);
    api.put("logs", "build.log", &bytes).await;
    api.s.ok(&["lifecycle", "run", "--as-of", "+40d", "--wait"]);
    assert_eq!(api.s.artifact("acme/logs/build.log")["tier"], "cold");
    let got = api.call("GET", "/v1/tenants/acme/artifacts/logs/build.log").token(&api.acme).send().await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("x-strata-tier"), Some("cold"));
    assert_eq!(got.body, bytes);
    let part = api
        .call("GET", "/v1/tenants/acme/artifacts/logs/build.log")
        .token(&api.acme)
        .header("range", "bytes=100000-100099")
        .send()
        .await;
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &bytes[100_000..100_100]);
    // A range across the boundary of the 256 KiB chunks the tiers stream in.
    let across = api
        .call("GET", "/v1/tenants/acme/artifacts/logs/build.log")
        .token(&api.acme)
        .header("range", "bytes=262000-263000")
        .send()
        .await;
    assert_eq!(across.status, 206);
    assert_eq!(across.body, &bytes[262_000..=263_000]);
}

#[tokio::test]
async fn conditional_and_range_requests() {
    let api = Api::start(&[]);
    let bytes = noise(1000, 3);
    let stored = api.put("wf", "a.bin", &bytes).await;
    let etag = format!("\"{}\"", stored["blake3"].as_str().unwrap());
    let path = "/v1/tenants/acme/artifacts/wf/a.bin";

    let cached = api.call("GET", path).token(&api.acme).header("if-none-match", &etag).send().await;
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());
    assert_eq!(cached.header("etag"), Some(etag.as_str()));
    let stale = api.call("GET", path).token(&api.acme).header("if-none-match", "\"other\"").send().await;
    assert_eq!(stale.status, 200);

    let cases: [(&str, usize, usize); 4] =
        [("bytes=0-9", 0, 9), ("bytes=990-", 990, 999), ("bytes=-5", 995, 999), ("bytes=500-5000", 500, 999)];
    for (range, start, end) in cases {
        let part = api.call("GET", path).token(&api.acme).header("range", range).send().await;
        assert_eq!(part.status, 206, "{range}");
        assert_eq!(part.body, &bytes[start..=end], "{range}");
        assert_eq!(part.header("content-range"), Some(format!("bytes {start}-{end}/1000").as_str()));
        assert_eq!(part.header("content-length"), Some((end - start + 1).to_string().as_str()));
    }
    let outside = api.call("GET", path).token(&api.acme).header("range", "bytes=1000-1010").send().await;
    outside.problem(416, "range-not-satisfiable");
    assert_eq!(outside.header("content-range"), Some("bytes */1000"));
    let multi = api.call("GET", path).token(&api.acme).header("range", "bytes=0-1,5-6").send().await;
    assert_eq!((multi.status, multi.body.len()), (200, 1000), "several ranges are answered whole");
}

#[tokio::test]
async fn head_and_delete() {
    let api = Api::start(&[]);
    let stored = api.put("wf", "report.json", b"{\"ok\": true}").await;
    let path = "/v1/tenants/acme/artifacts/wf/report.json";
    let head = api.call("HEAD", path).token(&api.acme).send().await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), Some("12"));
    assert_eq!(head.header("content-type"), Some("application/octet-stream"));
    assert_eq!(head.header("etag"), Some(format!("\"{}\"", stored["blake3"].as_str().unwrap()).as_str()));

    // A held artifact cannot be deleted, and stays readable.
    api.s.ok(&["retention", "hold", "acme/wf/report.json", "--reason", "audit"]);
    api.call("DELETE", path).token(&api.acme).send().await.problem(409, "held");
    assert_eq!(api.call("GET", path).token(&api.acme).send().await.status, 200);
    let hold_id = api.s.json(&["retention", "holds"])[0]["id"].to_string();
    api.s.ok(&["retention", "release", "acme/wf/report.json", &hold_id, "--reason", "done"]);

    let deleted = api.call("DELETE", path).token(&api.acme).send().await;
    assert_eq!(deleted.status, 204);
    api.call("GET", path).token(&api.acme).send().await.problem(404, "not-found");
    api.call("DELETE", path).token(&api.acme).send().await.problem(404, "not-found");
    let head = api.call("HEAD", path).token(&api.acme).send().await;
    assert_eq!(head.status, 404);
    assert_eq!(api.s.count_events("deleted"), 1);
}

#[tokio::test]
async fn listing_pages_through_everything_with_filters() {
    let api = Api::start(&[]);
    for i in 0..5 {
        api.put("alpha", &format!("a{i}.txt"), format!("alpha {i}").as_bytes()).await;
    }
    for i in 0..2 {
        let path = format!("/v1/tenants/acme/artifacts/beta/b{i}.txt?tag=kind=release");
        let reply = api.call("PUT", &path).token(&api.acme).body("text/plain", format!("beta {i}")).send().await;
        assert_eq!(reply.status, 201);
    }
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
        let reply =
            api.call("GET", &format!("/v1/tenants/acme/artifacts?limit=3{query}")).token(&api.acme).send().await;
        assert_eq!(reply.status, 200);
        let page = reply.json();
        pages += 1;
        assert!(page["artifacts"].as_array().unwrap().len() <= 3);
        names.extend(page["artifacts"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(names, ["a0.txt", "a1.txt", "a2.txt", "a3.txt", "a4.txt", "b0.txt", "b1.txt"]);
    assert_eq!(pages, 3);

    let list = |query: &'static str| {
        let call = api.call("GET", &format!("/v1/tenants/acme/artifacts?{query}")).token(&api.acme);
        async move { call.send().await }
    };
    let count = |reply: &common::api::Reply| reply.json()["artifacts"].as_array().unwrap().len();
    assert_eq!(count(&list("workflow=beta").await), 2);
    assert_eq!(count(&list("tag=kind%3Drelease").await), 2);
    assert_eq!(count(&list("tier=hot").await), 7);
    assert_eq!(count(&list("tier=cold").await), 0);
    assert_eq!(count(&list("created_after=2000-01-01T00:00:00Z&created_before=2999-01-01T00:00:00Z").await), 7);
    assert_eq!(count(&list("created_before=2000-01-01T00:00:00Z").await), 0);
    for bad in ["cursor=zz", "limit=0", "limit=5000", "tier=lukewarm", "bogus=1", "workflow=..", "created_after=soon"] {
        let reply = list(bad).await;
        assert_eq!(reply.status, 400, "{bad}");
        assert_eq!(reply.header("content-type"), Some("application/problem+json"), "{bad}");
    }
    // The admin token lists any tenant; an unknown tenant is a 404.
    assert_eq!(api.call("GET", "/v1/tenants/acme/artifacts").token(ADMIN).send().await.status, 200);
    api.call("GET", "/v1/tenants/initech/artifacts").token(ADMIN).send().await.problem(404, "not-found");
}

#[tokio::test]
async fn oversized_uploads_are_refused_and_leave_nothing() {
    let api = Api::start(&[(env::MAX_UPLOAD_BYTES, "400000")]);
    let path = "/v1/tenants/acme/artifacts/wf/big.bin";
    let address = api.server.base.trim_start_matches("http://").to_owned();
    let head = |framing: &str| {
        format!("PUT {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n{framing}\r\n\r\n", api.acme)
    };
    // A declared length over the limit is refused before any byte is read.
    let declared = api.server.raw(&head("Content-Length: 500000"));
    assert!(declared.starts_with("HTTP/1.1 413"), "{declared}");
    assert!(declared.contains("application/problem+json"), "{declared}");
    assert!(declared.contains("https://strata.dev/problems/payload-too-large"), "{declared}");

    // Without a length the limit is enforced while streaming. The request
    // stops right after the chunk that crosses the limit, so the server has
    // read everything sent when it answers.
    let chunk = noise(100_000, 2);
    let mut request = head("Transfer-Encoding: chunked").into_bytes();
    for i in 0..5 {
        if i > 0 {
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(&chunk);
    }
    let streamed = api.server.raw_bytes(&request);
    assert!(streamed.starts_with("HTTP/1.1 413"), "{streamed}");
    assert!(streamed.contains("https://strata.dev/problems/payload-too-large"), "{streamed}");

    assert_eq!(api.s.catalog().as_array().unwrap().len(), 0);
    assert!(api.s.blob_files("hot").is_empty());
    let staging = api.s.data().join("tiers/hot/acme/.staging");
    let staged = walk_files(&staging);
    assert!(staged.is_empty(), "partial uploads were left: {staged:?}");
    assert_eq!(api.s.count_events("ingested"), 0);

    // Within the limit it is stored.
    api.put("wf", "fits.bin", &noise(399_000, 3)).await;
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() { out.extend(walk_files(&p)) } else { out.push(p) }
    }
    out
}

#[tokio::test]
async fn bad_requests_get_the_right_problem_and_change_nothing() {
    let api = Api::start(&[]);
    api.put("wf", "keep.txt", b"keep").await;
    let events_before = api.s.events().len();

    for path in [
        "/v1/tenants/acme/artifacts/wf/%2e%2e%2fescape",
        "/v1/tenants/acme/artifacts/%2e%2e%2f%2e%2e%2f/x",
        "/v1/tenants/acme/artifacts/wf/a%5Cb",
        "/v1/tenants/acme/artifacts/wf/%00",
    ] {
        let reply = api.call("PUT", path).token(&api.acme).body("text/plain", "x").send().await;
        reply.problem(400, "invalid-identifier");
        api.call("GET", path).token(&api.acme).send().await.problem(400, "invalid-identifier");
    }
    let traversal = api.server.raw(&format!(
        "GET /v1/tenants/acme/artifacts/wf/..%2f..%2fcatalog.db HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        api.acme
    ));
    assert!(traversal.starts_with("HTTP/1.1 400"), "{traversal}");

    let exists = api
        .call("PUT", "/v1/tenants/acme/artifacts/wf/keep.txt")
        .token(&api.acme)
        .body("text/plain", "new")
        .send()
        .await;
    exists.problem(409, "conflict");
    let bad_query = api
        .call("PUT", "/v1/tenants/acme/artifacts/wf/n.txt?overwrite=maybe")
        .token(&api.acme)
        .body("text/plain", "x")
        .send()
        .await;
    bad_query.problem(400, "bad-request");
    let bad_class = api
        .call("PUT", "/v1/tenants/acme/artifacts/wf/n.txt?class=nope")
        .token(&api.acme)
        .body("text/plain", "x")
        .send()
        .await;
    bad_class.problem(400, "bad-request");

    let malformed = api.call("POST", "/v1/tenants").token(ADMIN).body("application/json", "{\"name\": ").send().await;
    malformed.problem(400, "bad-request");
    let unknown_field = api
        .call("POST", "/v1/tenants")
        .token(ADMIN)
        .json(serde_json::json!({"name": "x", "color": "red"}))
        .send()
        .await;
    unknown_field.problem(400, "bad-request");
    let wrong_type =
        api.call("POST", "/v1/tenants").token(ADMIN).body("text/plain", "{\"name\": \"initech\"}").send().await;
    wrong_type.problem(415, "unsupported-media-type");
    let bad_name = api.call("POST", "/v1/tenants").token(ADMIN).json(serde_json::json!({"name": "../x"})).send().await;
    bad_name.problem(400, "invalid-identifier");
    let too_big = api
        .call("POST", "/v1/tenants")
        .token(ADMIN)
        .json(serde_json::json!({"name": "x".repeat(100_000)}))
        .send()
        .await;
    too_big.problem(413, "payload-too-large");

    let unknown = api.call("GET", "/v1/nothing/here").token(&api.acme).send().await;
    unknown.problem(404, "no-route");
    let method = api.call("PATCH", "/v1/tenants/acme/artifacts/wf/keep.txt").token(&api.acme).send().await;
    method.problem(405, "method-not-allowed");
    let allow = method.header("allow").unwrap_or_default().to_owned();
    for m in ["GET", "PUT", "DELETE", "HEAD"] {
        assert!(allow.contains(m), "Allow: {allow}");
    }

    assert_eq!(api.s.events().len(), events_before, "bad input changed nothing");
    assert_eq!(api.s.catalog().as_array().unwrap().len(), 1);
    let tenants = api.s.json(&["tenant", "ls"]);
    assert_eq!(tenants.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn health_readiness_and_graceful_shutdown() {
    let api = Api::start(&[]);
    let health = api.call("GET", "/healthz").send().await;
    assert_eq!((health.status, health.json()["status"].as_str()), (200, Some("ok")));
    let ready = api.call("GET", "/readyz").send().await;
    assert_eq!(ready.status, 200);
    let Api { server, .. } = api;
    assert!(server.terminate().success(), "SIGTERM stops the server cleanly");
}

#[tokio::test]
async fn corrupt_blobs_never_download_completely() {
    let api = Api::start(&[]);
    for (name, size) in [("small.bin", 1_000), ("large.bin", 700_000)] {
        let bytes = noise(size, 9);
        api.put("wf", name, &bytes).await;
        let blob = api.s.blob_of(&format!("acme/wf/{name}"));
        let mut tampered = bytes.clone();
        tampered[size - 1] ^= 0xff;
        std::fs::write(&blob, &tampered).unwrap();
        let sent = api
            .http
            .get(format!("{}/v1/tenants/acme/artifacts/wf/{name}", api.server.base))
            .bearer_auth(&api.acme)
            .send()
            .await;
        // The connection is cut: before the headers when nothing could be
        // sent yet, or partway through the body. Either way by the server
        // closing it (not a timeout), and the server keeps serving.
        match sent {
            Ok(response) => {
                assert_eq!(response.status(), 200, "{name}");
                let e = response.bytes().await.expect_err("a corrupt blob must not download as a complete body");
                assert!(common::api::cut_short(&e), "{name}: the body ends before its length: {e:?}");
            }
            Err(e) => assert!(e.is_request() && !e.is_timeout(), "{name}: the connection is closed: {e:?}"),
        }
        let health = api.call("GET", "/healthz").send().await;
        assert_eq!(health.status, 200, "{name}: the server keeps serving");
    }
}

#[tokio::test]
async fn readiness_fails_when_a_tier_is_gone() {
    let api = Api::start(&[]);
    assert_eq!(api.call("GET", "/readyz").send().await.status, 200);
    std::fs::remove_dir_all(api.s.data().join("tiers/cold")).unwrap();
    let p = api.call("GET", "/readyz").send().await.problem(503, "unavailable");
    assert_eq!(p["detail"], "the tier storage is not reachable");
    assert_eq!(api.call("GET", "/healthz").send().await.status, 200, "the process is still up");
}
