//! HTTP API benchmark over loopback against the real `strata serve`: upload
//! and download of 1 MiB and 100 MiB artifacts (p50/p99 latency and MB/s)
//! next to a raw file copy of the same sizes in the same run, listing 1,000
//! artifacts, and the server's peak RSS while one 1 GiB upload streams in
//! (it must stay under 64 MiB above idle).
//!
//! The client speaks HTTP/1.1 over a plain socket with bounded buffers, so
//! it measures the server, not a client library.
//!
//! Run: `cargo build --release -p strata-cli && cargo run --release -p strata-cli --example bench_api`
//! (`-- --quick` for fewer rounds). Temporary files go to `$TMPDIR`. The raw
//! copy syncs its file and directory when strata does (unless
//! `STRATA_FSYNC=false`, which the server inherits).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark stops at its first failure")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-admin-token-0123456789abcdef";
const MIB: usize = 1024 * 1024;
const CHUNK: usize = 256 * 1024;

struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strata() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("strata");
    assert!(bin.exists(), "{} is missing: run `cargo build --release -p strata-cli` first", bin.display());
    bin
}

fn cli(data: &Path, args: &[&str]) {
    let status = Command::new(strata()).arg("--data-dir").arg(data).args(args).stdout(Stdio::null()).status().unwrap();
    assert!(status.success(), "strata {args:?} failed");
}

fn serve(data: &Path) -> Server {
    let mut child = Command::new(strata())
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("STRATA_ADMIN_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let address = line.trim().strip_prefix("Listening on http://").expect("the listen line").to_owned();
    Server { child, address }
}

/// Resident set size (`VmRSS`) and its peak (`VmHWM`) of a process, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Reads a response's status line and headers; returns the status and Content-Length.
fn read_head(reader: &mut BufReader<TcpStream>) -> (u16, usize) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            return (status, length);
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
}

/// Uploads `size` bytes of a repeating pattern to `wf/{name}`, streamed in chunks.
fn upload(address: &str, name: &str, size: usize) {
    upload_to(address, &format!("wf/{name}"), size);
}

/// Uploads `size` bytes to `WORKFLOW/NAME` of the tenant.
fn upload_to(address: &str, path: &str, size: usize) {
    let mut stream = TcpStream::connect(address).unwrap();
    let head = format!(
        "PUT /v1/tenants/bench/artifacts/{path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let chunk: Vec<u8> = (0..CHUNK).map(|i| (i * 31 % 251) as u8).collect();
    let mut left = size;
    while left > 0 {
        let n = left.min(CHUNK);
        stream.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    let mut reader = BufReader::new(stream);
    let (status, length) = read_head(&mut reader);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    assert!(status == 200 || status == 201, "upload answered {status}: {}", String::from_utf8_lossy(&body));
}

/// Downloads an artifact, discarding the bytes; returns how many came.
fn download(address: &str, name: &str) -> usize {
    let mut stream = TcpStream::connect(address).unwrap();
    let head = format!(
        "GET /v1/tenants/bench/artifacts/wf/{name} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = BufReader::with_capacity(CHUNK, stream);
    let (status, length) = read_head(&mut reader);
    assert_eq!(status, 200, "download answered {status}");
    let mut buf = vec![0; CHUNK];
    let mut got = 0;
    while got < length {
        let n = reader.read(&mut buf).unwrap();
        assert!(n > 0, "the body ended early");
        got += n;
    }
    got
}

fn list(address: &str) -> usize {
    let mut stream = TcpStream::connect(address).unwrap();
    let head = format!(
        "GET /v1/tenants/bench/artifacts?workflow=many&limit=1000 HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let (status, length) = read_head(&mut reader);
    assert_eq!(status, 200);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    length
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Figures {
    p50: Duration,
    p99: Duration,
    mb_per_s: f64,
}

fn measure(rounds: usize, size: usize, mut op: impl FnMut(usize)) -> Figures {
    let mut times = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let t = Instant::now();
        op(i);
        times.push(t.elapsed());
    }
    let total: Duration = times.iter().sum();
    times.sort();
    Figures {
        p50: percentile(&times, 0.5),
        p99: percentile(&times, 0.99),
        mb_per_s: (size * rounds) as f64 / MIB as f64 / total.as_secs_f64(),
    }
}

fn row(label: &str, f: &Figures, baseline: Option<&Figures>) {
    let ratio = baseline.map_or(String::new(), |b| format!("{:.2}x", f.mb_per_s / b.mb_per_s));
    println!(
        "{label:<34} {:>10.2} {:>10.2} {:>10.0} {:>8}",
        f.p50.as_secs_f64() * 1000.0,
        f.p99.as_secs_f64() * 1000.0,
        f.mb_per_s,
        ratio
    );
}

/// Whether the server syncs its writes (`STRATA_FSYNC`, default true).
fn fsync() -> bool {
    std::env::var("STRATA_FSYNC")
        .map_or(true, |v| !matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "false" | "no" | "off"))
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sync = fsync();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli(&data, &["tenant", "add", "bench", "--plan", "pro"]);
    let server = serve(&data);
    let address = server.address.clone();
    let (idle_rss, _) = rss_kib(server.child.id());

    println!(
        "HTTP API benchmark over loopback ({address}); latencies in ms; fsync {}",
        if sync { "on" } else { "off" }
    );
    println!("{:<34} {:>10} {:>10} {:>10} {:>8}", "", "p50", "p99", "MB/s", "vs copy");
    for (size, rounds) in [(MIB, if quick { 20 } else { 200 }), (100 * MIB, if quick { 2 } else { 5 })] {
        let label = if size == MIB { "1 MiB" } else { "100 MiB" };
        let source = dir.path().join(format!("source-{label}"));
        let chunk: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(&source, &chunk).unwrap();
        drop(chunk);
        let copy = measure(rounds, size, |i| {
            let dest = dir.path().join(format!("copy-{i}"));
            std::fs::copy(&source, &dest).unwrap();
            if sync {
                std::fs::File::open(&dest).unwrap().sync_all().unwrap();
                std::fs::File::open(dir.path()).unwrap().sync_all().unwrap();
            }
        });
        for i in 0..rounds {
            let _ = std::fs::remove_file(dir.path().join(format!("copy-{i}")));
        }
        let name = |i: usize| format!("{}-{i}.bin", label.replace(' ', ""));
        let up = measure(rounds, size, |i| upload(&address, &name(i), size));
        let down = measure(rounds, size, |i| assert_eq!(download(&address, &name(i)), size));
        row(&format!("raw file copy, {label}"), &copy, None);
        row(&format!("upload (PUT), {label}"), &up, Some(&copy));
        row(&format!("download (GET), {label}"), &down, Some(&copy));
    }

    for i in 0..1000 {
        upload_to(&address, &format!("many/a-{i}.txt"), 16);
    }
    let listing = measure(if quick { 5 } else { 20 }, 0, |_| {
        list(&address);
    });
    println!(
        "list 1,000 artifacts: p50 {:.2} ms, p99 {:.2} ms",
        listing.p50.as_secs_f64() * 1000.0,
        listing.p99.as_secs_f64() * 1000.0
    );

    // Reset the peak (VmHWM) so it covers the 1 GiB upload alone.
    std::fs::write(format!("/proc/{}/clear_refs", server.child.id()), "5").unwrap();
    let before = rss_kib(server.child.id()).0;
    let t = Instant::now();
    upload(&address, "one-gib.bin", 1024 * MIB);
    let secs = t.elapsed().as_secs_f64();
    let (_, peak) = rss_kib(server.child.id());
    println!(
        "1 GiB upload: {:.0} MB/s; server RSS idle {} MiB, before {} MiB, peak {} MiB ({} MiB above idle; limit 64)",
        1024.0 / secs,
        idle_rss / 1024,
        before / 1024,
        peak / 1024,
        peak.saturating_sub(idle_rss) / 1024
    );
}
