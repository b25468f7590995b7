//! The API under hostile and broken conditions, against the real `strata
//! serve`: ranges of corrupt blobs never complete, and connections are bounded.

mod common;

use common::api::Api;
use common::noise;

/// A ranged GET as a client sees it: the status, and the body or the error
/// that cut it short.
async fn ranged(api: &Api, name: &str, range: &str) -> (u16, Option<String>, Result<Vec<u8>, String>) {
    let response = api
        .http
        .get(format!("{}/v1/tenants/acme/artifacts/wf/{name}", api.server.base))
        .bearer_auth(&api.acme)
        .header("range", range)
        .send()
        .await;
    match response {
        Ok(r) => {
            let status = r.status().as_u16();
            let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
            (status, content_type, r.bytes().await.map(|b| b.to_vec()).map_err(|e| e.to_string()))
        }
        Err(e) => (0, None, Err(e.to_string())),
    }
}

const SIZE: usize = 700_000;
const LARGE: usize = 3 * 1024 * 1024;
/// Ranges read and checked before the answer starts.
const SMALL_RANGES: [&str; 3] = ["bytes=0-99", "bytes=300000-300099", "bytes=-100"];
/// A range larger than what is checked first: it streams.
const STREAMED_RANGE: &str = "bytes=0-1999999";

#[tokio::test]
async fn ranges_of_corrupt_blobs_never_complete_with_wrong_bytes() {
    let api = Api::start(&[]);
    // Cold (zstd) blobs first: the lifecycle run moves everything stored so far.
    let cold = noise(SIZE, 21);
    let cold_large = noise(LARGE, 22);
    api.put("wf", "cold.bin", &cold).await;
    api.put("wf", "cold-large.bin", &cold_large).await;
    api.s.ok(&["lifecycle", "run", "--as-of", "+40d", "--wait"]);
    for name in ["cold.bin", "cold-large.bin"] {
        let a = api.s.artifact(&format!("acme/wf/{name}"));
        assert_eq!((a["tier"].as_str(), a["codec"].as_str()), (Some("cold"), Some("zstd")), "{a}");
    }
    let hot = noise(SIZE, 23);
    let hot_large = noise(LARGE, 24);
    let whole = noise(SIZE, 25);
    for (name, bytes) in [("hot.bin", &hot), ("truncated.bin", &whole), ("hot-large.bin", &hot_large)] {
        api.put("wf", name, bytes).await;
    }

    // Intact blobs first: every range answers its exact bytes.
    for (name, bytes) in [("hot.bin", &hot), ("cold.bin", &cold)] {
        for (range, expected) in
            SMALL_RANGES.iter().zip([&bytes[..100], &bytes[300_000..300_100], &bytes[SIZE - 100..]])
        {
            let (status, _, body) = ranged(&api, name, range).await;
            assert_eq!(status, 206, "{name} {range}");
            assert_eq!(body.as_deref(), Ok(expected), "{name} {range}");
        }
    }
    for (name, bytes) in [("hot-large.bin", &hot_large), ("cold-large.bin", &cold_large)] {
        let (status, _, body) = ranged(&api, name, STREAMED_RANGE).await;
        assert_eq!(status, 206, "{name}");
        assert_eq!(body.as_deref(), Ok(&bytes[..2_000_000]), "{name}");
    }

    // One byte flipped near the start of the stored file: inside every
    // range that starts at 0 (for zstd, inside the first raw block).
    let flip = |key: &str, at: usize| {
        let path = api.s.blob_of(key);
        let mut stored = std::fs::read(&path).unwrap();
        stored[at] ^= 0x01;
        std::fs::write(&path, stored).unwrap();
    };
    flip("acme/wf/hot.bin", 10);
    flip("acme/wf/hot-large.bin", 10);
    flip("acme/wf/cold.bin", 100);
    flip("acme/wf/cold-large.bin", 100);
    let truncated = api.s.blob_of("acme/wf/truncated.bin");
    std::fs::write(&truncated, &whole[..SIZE / 2]).unwrap();

    // A small range is checked before its answer: a 500 problem, no bytes.
    for name in ["hot.bin", "truncated.bin", "cold.bin"] {
        for range in SMALL_RANGES {
            let (status, content_type, body) = ranged(&api, name, range).await;
            assert_eq!(status, 500, "{name} {range}: {body:?}");
            assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{name} {range}");
            let problem: serde_json::Value = serde_json::from_slice(&body.unwrap()).unwrap();
            assert_eq!(problem["type"], "https://strata.dev/problems/internal", "{problem}");
        }
    }
    // A large range streams, and is cut short before its last piece.
    for name in ["hot-large.bin", "cold-large.bin"] {
        let (status, _, body) = ranged(&api, name, STREAMED_RANGE).await;
        assert!(status == 0 || status == 206, "{name}: {status}");
        assert!(body.is_err(), "{name}: a corrupt blob's range must not complete ({status})");
    }
    let health = api.call("GET", "/healthz").send().await;
    assert_eq!(health.status, 200, "the server keeps serving");
}
