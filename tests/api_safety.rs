//! The API under hostile and broken conditions, against the real `strata
//! serve`: ranges of corrupt blobs never complete, and connections are bounded.

mod common;

use common::api::Api;
use common::noise;
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};
use strata_core::config::env;

/// A ranged GET as a client sees it: the status, and the body or the error
/// that cut it short.
async fn ranged(api: &Api, name: &str, range: &str) -> (u16, Option<String>, Result<Vec<u8>, Failed>) {
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
            let body = r.bytes().await.map(|b| b.to_vec()).map_err(|e| {
                if common::api::cut_short(&e) { Failed::CutShort } else { Failed::Other(format!("{e:?}")) }
            });
            (status, content_type, body)
        }
        Err(e) if e.is_request() && !e.is_timeout() => (0, None, Err(Failed::Closed)),
        Err(e) => (0, None, Err(Failed::Other(format!("{e:?}")))),
    }
}

/// How a request failed.
#[derive(Debug, PartialEq, Eq)]
enum Failed {
    /// The server closed the connection before its answer's headers.
    Closed,
    /// The body ended before its announced length.
    CutShort,
    /// Anything else (a timeout, a refused connection, …).
    Other(String),
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
        assert!(
            matches!((status, &body), (0, Err(Failed::Closed)) | (206, Err(Failed::CutShort))),
            "{name}: a corrupt blob's range is cut off by the server, never completes: {status} {:?}",
            body.as_ref().map(Vec::len)
        );
    }
    let health = api.call("GET", "/healthz").send().await;
    assert_eq!(health.status, 200, "the server keeps serving");
}

/// A raw connection to the server.
fn connect(api: &Api) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(api.server.base.trim_start_matches("http://")).expect("connects");
    stream.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    stream
}

/// Reads (and, with `dribble`, sends a byte of it every 100 ms) until the
/// server closes the connection; how long that took, or `None` if it was
/// still open after `limit`. Returns what was read too.
fn until_closed(stream: &mut std::net::TcpStream, dribble: &[u8], limit: Duration) -> (Option<Duration>, String) {
    let started = Instant::now();
    let mut read = Vec::new();
    let mut dribble = dribble.iter();
    while started.elapsed() < limit {
        if let Some(byte) = dribble.next()
            && stream.write_all(&[*byte]).is_err()
        {
            return (Some(started.elapsed()), String::from_utf8_lossy(&read).into_owned());
        }
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) => return (Some(started.elapsed()), String::from_utf8_lossy(&read).into_owned()),
            Ok(n) => read.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return (Some(started.elapsed()), String::from_utf8_lossy(&read).into_owned()),
        }
    }
    (None, String::from_utf8_lossy(&read).into_owned())
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout() {
    let api = Api::start(&[(env::API_IDLE_TIMEOUT_SECS, "1"), (env::API_HEADER_READ_TIMEOUT_SECS, "30")]);
    // A connection that never sends a byte.
    let mut silent = connect(&api);
    let (closed, read) = until_closed(&mut silent, b"", Duration::from_secs(10));
    let closed = closed.expect("a silent connection is closed");
    assert!(closed >= Duration::from_millis(900) && closed < Duration::from_secs(5), "{closed:?}");
    assert!(read.is_empty(), "{read}");
    // A kept-alive connection, after its answer.
    let mut kept = connect(&api);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: strata\r\n\r\n").unwrap();
    let (closed, read) = until_closed(&mut kept, b"", Duration::from_secs(10));
    assert!(read.starts_with("HTTP/1.1 200"), "{read}");
    let closed = closed.expect("an idle kept-alive connection is closed");
    assert!(closed < Duration::from_secs(5), "{closed:?}");
}

#[test]
fn a_request_head_sent_byte_by_byte_is_cut_off() {
    let api = Api::start(&[(env::API_HEADER_READ_TIMEOUT_SECS, "1"), (env::API_IDLE_TIMEOUT_SECS, "30")]);
    let mut slow = connect(&api);
    let head: Vec<u8> =
        b"GET /healthz HTTP/1.1\r\nHost: strata\r\n".iter().copied().chain(std::iter::repeat_n(b'x', 200)).collect();
    let (closed, read) = until_closed(&mut slow, &head, Duration::from_secs(15));
    let closed = closed.expect("a head that never ends is cut off");
    // Well before the idle timeout: the head's own deadline closed it.
    assert!(closed >= Duration::from_millis(900) && closed < Duration::from_secs(5), "{closed:?}");
    assert!(!read.contains("200 OK"), "{read}");
}

/// Open descriptors of a process.
fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn connections_beyond_the_cap_wait_and_hold_no_descriptors() {
    let api = Api::start(&[
        (env::API_MAX_CONNECTIONS, "4"),
        (env::API_IDLE_TIMEOUT_SECS, "1"),
        (env::API_HEADER_READ_TIMEOUT_SECS, "1"),
    ]);
    let pid = api.server.pid();
    let before = descriptors(pid);
    let idle: Vec<_> = (0..12).map(|_| connect(&api)).collect();
    let mut held = 0;
    for _ in 0..5 {
        held = held.max(descriptors(pid).saturating_sub(before));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(held <= 4, "{held} descriptors held for 12 idle connections under a cap of 4");
    // The idle ones are closed in turn (1 s each, 4 at a time); then a real
    // request is answered.
    let started = Instant::now();
    let health = api.server.raw("GET /healthz HTTP/1.1\r\nHost: strata\r\nConnection: close\r\n\r\n");
    assert!(health.starts_with("HTTP/1.1 200"), "{health:?}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    drop(idle);
}

#[test]
fn heads_the_http_stack_refuses_are_answered_as_problems() {
    let api = Api::start(&[]);
    let many_headers: String = (0..120).map(|i| format!("x-h{i}: v\r\n")).collect();
    let long_uri = format!("/v1/{}", "a".repeat(70_000));
    let cases = [
        (format!("GET /healthz HTTP/1.1\r\nHost: strata\r\n{many_headers}\r\n"), 431, "headers-too-large"),
        (format!("GET {long_uri} HTTP/1.1\r\nHost: strata\r\n\r\n"), 414, "uri-too-long"),
        ("POST /v1/tenants HTTP/1.1\r\nHost: strata\r\nContent-Length: abc\r\n\r\n".to_owned(), 400, "bad-request"),
        ("GET /healthz HTTP/1.1\r\nHost: strata\r\nbad header\r\n\r\n".to_owned(), 400, "bad-request"),
    ];
    for (request, status, slug) in cases {
        let answer = api.server.raw(&request);
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head: {answer:?}"));
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
        assert!(head.to_ascii_lowercase().contains("content-type: application/problem+json"), "{head}");
        let problem: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
        assert_eq!(problem["type"], format!("https://strata.dev/problems/{slug}"), "{problem}");
        assert_eq!(problem["status"], status);
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()), "{problem}");
    }
    let health = api.server.raw("GET /healthz HTTP/1.1\r\nHost: strata\r\nConnection: close\r\n\r\n");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
}

#[test]
fn connection_limits_out_of_bounds_are_refused_naming_the_key() {
    for (var, value, key) in [
        (env::API_HEADER_READ_TIMEOUT_SECS, "0", "api.header_read_timeout_secs"),
        (env::API_IDLE_TIMEOUT_SECS, "18446744073709551615", "api.idle_timeout_secs"),
        (env::API_MAX_CONNECTIONS, "0", "api.max_connections"),
        (env::API_MAX_CONNECTIONS, "many", env::API_MAX_CONNECTIONS),
    ] {
        let s = common::Strata::new().env(var, value);
        let err = s.fails(&["serve", "--listen", "127.0.0.1:0"], 2);
        assert!(err.contains(key), "{var}={value}: {err}");
    }
}
