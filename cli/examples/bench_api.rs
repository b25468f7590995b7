//! HTTP API benchmark over loopback against the real `strata serve`: upload
//! and download of 1 MiB and 100 MiB artifacts (latency and MB/s) next to a
//! raw baseline doing the same work on plain files in the same run, listing
//! 1,000 artifacts, and the server's peak RSS while one 1 GiB upload streams
//! in.
//!
//! Every upload carries distinct bytes (a per-upload seed mixed into a noise
//! pattern), so no two uploads share a blob and every download reads its own
//! file. The raw baseline streams the same bytes through userspace in the same
//! 256 KiB chunks: an upload is hashed with blake3 and sha256, written to a
//! temporary file, fsynced, renamed into place and its directory fsynced (the
//! syncs only when strata syncs: unless `STRATA_FSYNC=false`, which the server
//! inherits); a download reads the file back in the same chunks and checks its
//! blake3, as strata checks it on every read.
//!
//! p99 is printed only with at least 100 samples; with fewer, the row shows
//! p50 and the maximum. The bounds the README quotes are checked, and the
//! benchmark exits non-zero naming each one that is broken: a 1 MiB upload or
//! download under 100 ms and a listing of 1,000 under 50 ms (at p99, or at the
//! maximum with fewer than 100 samples), and the 1 GiB upload's peak server
//! RSS under 64 MiB above idle.
//!
//! The client speaks HTTP/1.1 over a plain socket with bounded buffers, so
//! it measures the server, not a client library.
//!
//! Run: `cargo build --release -p strata-cli && cargo run --release -p strata-cli --example bench_api`
//! (`-- --quick` for fewer rounds). Temporary files go to `$TMPDIR`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark stops at its first failure")]

use sha2::Digest;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use strata_core::config::env;

const TOKEN: &str = "bench-admin-token-0123456789abcdef";
const MIB: usize = 1024 * 1024;
/// The chunk size strata streams blobs in, used by the client and the raw baseline alike.
const CHUNK: usize = 256 * 1024;
/// Samples needed before a p99 means anything.
const P99_SAMPLES: usize = 100;

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
        .env(env::ADMIN_TOKEN, TOKEN)
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

/// Bytes that neither repeat between uploads nor compress: one chunk of
/// noise, each 64-bit word of it XORed with a key drawn from the upload's
/// seed and the chunk's index.
struct Pattern {
    noise: Vec<u8>,
}

impl Pattern {
    fn new() -> Self {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let noise = (0..CHUNK / 8)
            .flat_map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()
            })
            .collect();
        Self { noise }
    }

    /// Fills `out` (at most one chunk) with chunk `index` of upload `seed`.
    fn fill(&self, seed: u64, index: u64, out: &mut [u8]) {
        let key = splitmix(seed.wrapping_mul(0x1_0000_0001).wrapping_add(index));
        for (o, n) in out.chunks_mut(8).zip(self.noise.chunks_exact(8)) {
            let word = u64::from_le_bytes(n.try_into().unwrap()) ^ key;
            o.copy_from_slice(&word.to_le_bytes()[..o.len()]);
        }
    }

    /// Calls `sink` with each chunk of the `size` bytes of upload `seed`.
    fn stream(&self, seed: u64, size: usize, buf: &mut [u8], mut sink: impl FnMut(&[u8])) {
        let mut left = size;
        let mut index = 0;
        while left > 0 {
            let n = left.min(CHUNK);
            self.fill(seed, index, &mut buf[..n]);
            sink(&buf[..n]);
            left -= n;
            index += 1;
        }
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A response's status line and the headers the benchmark reads.
struct Head {
    status: u16,
    length: usize,
    etag: Option<String>,
}

fn read_head(reader: &mut BufReader<TcpStream>) -> Head {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let mut head = Head { status, length: 0, etag: None };
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            return head;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                head.length = value.trim().parse().unwrap();
            } else if name.eq_ignore_ascii_case("etag") {
                head.etag = Some(value.trim().trim_matches('"').to_owned());
            }
        }
    }
}

/// Streams upload `seed` of `size` bytes to `WORKFLOW/NAME` of the tenant;
/// returns the stored artifact's blake3 after checking its size.
fn upload(address: &str, path: &str, pattern: &Pattern, seed: u64, size: usize) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    let head = format!(
        "PUT /v1/tenants/bench/artifacts/{path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut buf = vec![0; CHUNK];
    pattern.stream(seed, size, &mut buf, |chunk| stream.write_all(chunk).unwrap());
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader);
    let mut body = vec![0; head.length];
    reader.read_exact(&mut body).unwrap();
    assert_eq!(head.status, 201, "upload of {path} answered {}: {}", head.status, String::from_utf8_lossy(&body));
    let stored: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(stored["size"].as_u64(), Some(size as u64), "{path} stored with another size");
    stored["blake3"].as_str().expect("a blake3 in the answer").to_owned()
}

/// Downloads an artifact, discarding the bytes; returns how many came and the ETag.
fn download(address: &str, path: &str) -> (usize, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    let head = format!(
        "GET /v1/tenants/bench/artifacts/{path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = BufReader::with_capacity(CHUNK, stream);
    let head = read_head(&mut reader);
    assert_eq!(head.status, 200, "download of {path} answered {}", head.status);
    let mut buf = vec![0; CHUNK];
    let mut got = 0;
    while got < head.length {
        let n = reader.read(&mut buf).unwrap();
        assert!(n > 0, "the body of {path} ended early");
        got += n;
    }
    (got, head.etag.expect("an ETag"))
}

/// Lists workflow `many`; returns how many artifacts came.
fn list(address: &str) -> usize {
    let mut stream = TcpStream::connect(address).unwrap();
    let head = format!(
        "GET /v1/tenants/bench/artifacts?workflow=many&limit=1000 HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader);
    assert_eq!(head.status, 200);
    let mut body = vec![0; head.length];
    reader.read_exact(&mut body).unwrap();
    let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
    page["artifacts"].as_array().map_or(0, Vec::len)
}

/// The raw upload baseline: the bytes of upload `seed` streamed through
/// userspace, hashed with blake3 and sha256, written to a temporary file,
/// then (when `sync`) the file fsynced, renamed into place and the
/// directory fsynced. Returns the blake3.
fn raw_write(dir: &Path, name: &str, pattern: &Pattern, seed: u64, size: usize, sync: bool) -> String {
    let temp = dir.join(format!(".{name}.tmp"));
    let mut file = std::fs::File::create(&temp).unwrap();
    let mut blake3 = blake3::Hasher::new();
    let mut sha256 = sha2::Sha256::new();
    let mut buf = vec![0; CHUNK];
    pattern.stream(seed, size, &mut buf, |chunk| {
        blake3.update(chunk);
        sha256.update(chunk);
        file.write_all(chunk).unwrap();
    });
    std::hint::black_box(sha256.finalize());
    if sync {
        file.sync_all().unwrap();
    }
    drop(file);
    std::fs::rename(&temp, dir.join(name)).unwrap();
    if sync {
        std::fs::File::open(dir).unwrap().sync_all().unwrap();
    }
    blake3.finalize().to_hex().to_string()
}

/// The raw download baseline: the file read in chunks and its blake3
/// computed as the bytes pass. Returns how many bytes came and the blake3.
fn raw_read(path: &Path) -> (usize, String) {
    let mut file = std::fs::File::open(path).unwrap();
    let mut blake3 = blake3::Hasher::new();
    let mut buf = vec![0; CHUNK];
    let mut got = 0;
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            return (got, blake3.finalize().to_hex().to_string());
        }
        blake3.update(&buf[..n]);
        got += n;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Figures {
    samples: usize,
    p50: Duration,
    /// Only with at least [`P99_SAMPLES`] samples.
    p99: Option<Duration>,
    max: Duration,
    mb_per_s: f64,
}

impl Figures {
    /// The tail a bound is checked against: p99, or the maximum with too few samples for one.
    fn tail(&self) -> (&'static str, Duration) {
        self.p99.map_or(("max", self.max), |p99| ("p99", p99))
    }
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
        samples: rounds,
        p50: percentile(&times, 0.5),
        p99: (rounds >= P99_SAMPLES).then(|| percentile(&times, 0.99)),
        max: times[rounds - 1],
        mb_per_s: (size * rounds) as f64 / MIB as f64 / total.as_secs_f64(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn row(label: &str, f: &Figures, baseline: Option<&Figures>) {
    let ratio = baseline.map_or(String::new(), |b| format!("{:.2}x", f.mb_per_s / b.mb_per_s));
    let mb_per_s = if f.mb_per_s > 0.0 { format!("{:.0}", f.mb_per_s) } else { String::new() };
    println!(
        "{label:<46} {:>5} {:>9} {:>9} {:>9} {:>7} {:>7}",
        f.samples,
        ms(f.p50),
        f.p99.map_or("-".to_owned(), ms),
        ms(f.max),
        mb_per_s,
        ratio
    );
}

/// Whether the server syncs its writes (`STRATA_FSYNC`, default true).
fn fsync() -> bool {
    std::env::var(env::FSYNC)
        .map_or(true, |v| !matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "false" | "no" | "off"))
}

/// The bounds checked, each as (what, measured value, limit, unit).
struct Bounds(Vec<(String, f64, f64, &'static str)>);

impl Bounds {
    fn latency(&mut self, what: &str, f: &Figures, limit_ms: f64) {
        let (stat, value) = f.tail();
        self.0.push((format!("{what} ({stat} of {})", f.samples), value.as_secs_f64() * 1000.0, limit_ms, "ms"));
    }

    /// Prints every bound; returns the broken ones.
    fn report(&self) -> Vec<String> {
        let mut broken = Vec::new();
        println!("bounds:");
        for (what, value, limit, unit) in &self.0 {
            let ok = value < limit;
            println!("  {what}: {value:.2} {unit} < {limit} {unit}: {}", if ok { "ok" } else { "BROKEN" });
            if !ok {
                broken.push(format!("{what} is {value:.2} {unit}, the bound is under {limit} {unit}"));
            }
        }
        broken
    }
}

fn main() -> ExitCode {
    let quick = std::env::args().any(|a| a == "--quick");
    let sync = fsync();
    let pattern = Pattern::new();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let raw = dir.path().join("raw");
    std::fs::create_dir(&raw).unwrap();
    cli(&data, &["tenant", "add", "bench", "--plan", "pro"]);
    let server = serve(&data);
    let address = server.address.clone();
    let (idle_rss, _) = rss_kib(server.child.id());
    let mut bounds = Bounds(Vec::new());
    let mut seed = 0;

    let sync_label = if sync { " + fsync" } else { "" };
    println!(
        "HTTP API benchmark over loopback ({address}); distinct bytes per upload; latencies in ms; fsync {}",
        if sync { "on" } else { "off (STRATA_FSYNC=false)" }
    );
    println!("{:<46} {:>5} {:>9} {:>9} {:>9} {:>7} {:>7}", "", "n", "p50", "p99", "max", "MB/s", "vs raw");
    for (size, rounds) in [(MIB, if quick { 20 } else { 200 }), (100 * MIB, if quick { 2 } else { 10 })] {
        let label = if size == MIB { "1 MiB" } else { "100 MiB" };
        let name = |i: usize| format!("{}-{i}.bin", label.replace(' ', ""));
        let seeds: Vec<u64> = (0..rounds as u64).map(|i| seed + i).collect();
        seed += rounds as u64;

        let mut raw_digests = Vec::with_capacity(rounds);
        let raw_up = measure(rounds, size, |i| {
            raw_digests.push(raw_write(&raw, &name(i), &pattern, seeds[i], size, sync));
        });
        let raw_down = measure(rounds, size, |i| {
            assert_eq!(raw_read(&raw.join(name(i))), (size, raw_digests[i].clone()));
        });
        for i in 0..rounds {
            std::fs::remove_file(raw.join(name(i))).unwrap();
        }

        let mut digests = Vec::with_capacity(rounds);
        let up = measure(rounds, size, |i| {
            digests.push(upload(&address, &format!("wf/{}", name(i)), &pattern, seeds[i], size));
        });
        assert_eq!(digests, raw_digests, "strata and the raw baseline stored different bytes");
        assert_eq!(digests.iter().collect::<HashSet<_>>().len(), rounds, "two uploads shared their bytes");
        let down = measure(rounds, size, |i| {
            assert_eq!(download(&address, &format!("wf/{}", name(i))), (size, digests[i].clone()));
        });

        row(&format!("raw write + blake3 + sha256{sync_label}, {label}"), &raw_up, None);
        row(&format!("upload (PUT), {label}"), &up, Some(&raw_up));
        row(&format!("raw read + blake3, {label}"), &raw_down, None);
        row(&format!("download (GET), {label}"), &down, Some(&raw_down));
        if size == MIB {
            bounds.latency("upload (PUT) of 1 MiB", &up, 100.0);
            bounds.latency("download (GET) of 1 MiB", &down, 100.0);
        }
    }

    for i in 0..1000 {
        upload(&address, &format!("many/a-{i}.txt"), &pattern, seed, 16);
        seed += 1;
    }
    assert_eq!(list(&address), 1000, "the listing is not whole");
    let listing = measure(if quick { 10 } else { 100 }, 0, |_| {
        list(&address);
    });
    row("list 1,000 artifacts", &listing, None);
    bounds.latency("list of 1,000 artifacts", &listing, 50.0);

    // Reset the peak (VmHWM) so it covers the 1 GiB upload alone.
    std::fs::write(format!("/proc/{}/clear_refs", server.child.id()), "5").unwrap();
    let before = rss_kib(server.child.id()).0;
    let t = Instant::now();
    upload(&address, "wf/one-gib.bin", &pattern, seed, 1024 * MIB);
    let secs = t.elapsed().as_secs_f64();
    let (_, peak) = rss_kib(server.child.id());
    println!(
        "1 GiB upload: {:.0} MB/s; server RSS idle {} MiB, before {} MiB, peak {} MiB ({} MiB above idle)",
        1024.0 / secs,
        idle_rss / 1024,
        before / 1024,
        peak / 1024,
        peak.saturating_sub(idle_rss) / 1024
    );
    bounds.0.push((
        "peak server RSS above idle during the 1 GiB upload".to_owned(),
        peak.saturating_sub(idle_rss) as f64 / 1024.0,
        64.0,
        "MiB",
    ));

    let broken = bounds.report();
    if broken.is_empty() {
        return ExitCode::SUCCESS;
    }
    for b in &broken {
        eprintln!("bound broken: {b}");
    }
    ExitCode::FAILURE
}
