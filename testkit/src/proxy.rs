//! A TCP proxy on 127.0.0.1 in front of a real Redis, which forwards every
//! byte both ways and, when asked, makes the server claim to be Redis 6.2:
//! in what the server sends, each `redis_version:7.x.y` becomes
//! `redis_version:6.2.y`, byte for byte (the major and the minor are one
//! digit each), so every RESP length stays valid. Everything else is the real
//! server's answer.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// The most connections one proxy accepts; later ones are refused.
const MAX_CONNECTIONS: usize = 64;

/// What the proxied Redis says its version is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The real version, unchanged.
    Actual,
    /// Redis 6.2, with the real patch level.
    Redis62,
}

/// A running proxy; stops, and cuts its connections, when dropped.
pub struct RedisProxy {
    address: SocketAddr,
    url: String,
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    rewrites: Arc<Mutex<Vec<Rewrite>>>,
    accept: Option<JoinHandle<()>>,
}

/// One version the proxy rewrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// What the server said, e.g. `7.0.15`.
    pub actual: String,
    /// What the client read instead, e.g. `6.2.15`.
    pub claimed: String,
}

impl RedisProxy {
    /// Starts a proxy on a free port of 127.0.0.1 in front of the Redis at
    /// `url` (`redis://[user[:password]@]host[:port][/db]`; not TLS, whose
    /// bytes a proxy cannot rewrite).
    pub fn start(url: &str, claim: Claim) -> std::io::Result<Self> {
        let (upstream, before, after) = split_url(url)?;
        let upstream: Vec<SocketAddr> = upstream.to_socket_addrs()?.collect();
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let rewrites = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (stop, streams, rewrites) = (stop.clone(), streams.clone(), rewrites.clone());
            std::thread::spawn(move || {
                for client in listener.incoming().take(MAX_CONNECTIONS) {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    let Ok(server) = TcpStream::connect(&upstream[..]) else { continue };
                    relay(client, server, claim, &streams, &rewrites);
                }
            })
        };
        Ok(Self { address, url: format!("{before}{address}{after}"), stop, streams, rewrites, accept: Some(accept) })
    }

    /// Where the proxy listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The Redis URL through the proxy: the original with its host and port
    /// replaced.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The versions rewritten so far, in order.
    pub fn rewrites(&self) -> Vec<Rewrite> {
        self.rewrites.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for RedisProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the stop flag.
        let _ = TcpStream::connect(self.address);
        for stream in self.streams.lock().unwrap_or_else(PoisonError::into_inner).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// `redis://user:pw@host:6379/0` as (`host:6379`, `redis://user:pw@`, `/0`).
fn split_url(url: &str) -> std::io::Result<(String, &str, &str)> {
    let invalid = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{url}: {why}"));
    let rest = url.strip_prefix("redis://").ok_or_else(|| invalid("only redis:// URLs can be proxied"))?;
    let host_start = url.len() - rest.len() + rest.find('@').map_or(0, |at| at + 1);
    let host_end = url[host_start..].find(['/', '?']).map_or(url.len(), |end| host_start + end);
    let host = &url[host_start..host_end];
    if host.is_empty() {
        return Err(invalid("no host"));
    }
    let has_port = host.rsplit_once(':').is_some_and(|(_, port)| !port.is_empty() && !port.contains(']'));
    let upstream = if has_port { host.to_owned() } else { format!("{host}:6379") };
    Ok((upstream, &url[..host_start], &url[host_end..]))
}

/// Forwards `client` to `server` and back on two threads, rewriting what the
/// server sends per `claim`; either side closing closes both.
fn relay(
    client: TcpStream,
    server: TcpStream,
    claim: Claim,
    streams: &Arc<Mutex<Vec<TcpStream>>>,
    rewrites: &Arc<Mutex<Vec<Rewrite>>>,
) {
    let clones = || Some((client.try_clone().ok()?, server.try_clone().ok()?, client.try_clone().ok()?));
    let Some((client_reader, server_writer, client_writer)) = clones() else { return };
    if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
        streams.lock().unwrap_or_else(PoisonError::into_inner).extend([c, s]);
    }
    std::thread::spawn(move || {
        let (mut from, mut to) = (client_reader, server_writer);
        let _ = std::io::copy(&mut from, &mut to);
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
    let rewrites = rewrites.clone();
    std::thread::spawn(move || {
        let (mut from, mut to) = (server, client_writer);
        let mut rewriter = Rewriter::new(claim);
        let mut buffer = vec![0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buffer) {
            if n == 0 {
                break;
            }
            let done = rewriter.rewrite(&mut buffer[..n]);
            rewrites.lock().unwrap_or_else(PoisonError::into_inner).extend(done);
            if to.write_all(&buffer[..n]).is_err() {
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}

const MARKER: &[u8] = b"redis_version:";

/// Where the rewriter is in the server's byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Looking for `redis_version:`.
    Scanning,
    /// Right after it: the major version's first digit comes next.
    Major,
    /// In the major version, after its first digit.
    AfterMajor,
    /// Right after the first dot: the minor version's first digit comes next.
    Minor,
    /// In the rest of the version, up to the end of its line.
    Rest,
}

/// Rewrites `redis_version:7.x.y` to `redis_version:6.2.y` in a byte stream
/// read in arbitrary pieces, without holding any byte back.
struct Rewriter {
    claim: Claim,
    place: Place,
    /// The last bytes seen while scanning, at most the marker's length.
    tail: Vec<u8>,
    actual: Vec<u8>,
    claimed: Vec<u8>,
}

impl Rewriter {
    fn new(claim: Claim) -> Self {
        Self { claim, place: Place::Scanning, tail: Vec::new(), actual: Vec::new(), claimed: Vec::new() }
    }

    /// Rewrites `bytes` in place; returns the versions finished in them.
    fn rewrite(&mut self, bytes: &mut [u8]) -> Vec<Rewrite> {
        let mut done = Vec::new();
        if self.claim == Claim::Actual {
            return done;
        }
        for byte in bytes.iter_mut() {
            let actual = *byte;
            if self.place == Place::Scanning {
                self.tail.push(actual);
                if self.tail.len() > MARKER.len() {
                    self.tail.remove(0);
                }
                if self.tail == MARKER {
                    self.tail.clear();
                    self.place = Place::Major;
                }
                continue;
            }
            if actual == b'\r' || actual == b'\n' {
                done.push(Rewrite {
                    actual: String::from_utf8_lossy(&self.actual).into_owned(),
                    claimed: String::from_utf8_lossy(&self.claimed).into_owned(),
                });
                self.actual.clear();
                self.claimed.clear();
                self.place = Place::Scanning;
                continue;
            }
            (*byte, self.place) = match (self.place, actual) {
                (Place::Major, b'0'..=b'9') => (b'6', Place::AfterMajor),
                (Place::AfterMajor, b'.') => (b'.', Place::Minor),
                (Place::Minor, b'0'..=b'9') => (b'2', Place::Rest),
                (place, _) => (actual, place),
            };
            self.actual.push(actual);
            self.claimed.push(*byte);
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` to a rewriter in pieces of `size` bytes.
    fn rewritten(input: &str, size: usize) -> (String, Vec<Rewrite>) {
        let mut rewriter = Rewriter::new(Claim::Redis62);
        let mut bytes = input.as_bytes().to_vec();
        let mut done = Vec::new();
        for piece in bytes.chunks_mut(size) {
            done.extend(rewriter.rewrite(piece));
        }
        (String::from_utf8(bytes).unwrap(), done)
    }

    #[test]
    fn the_version_becomes_6_2_in_any_split_and_nothing_else_changes() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\nos:Linux 7.0\r\n";
        let want = info.replace("redis_version:7.0.15", "redis_version:6.2.15");
        for size in 1..=info.len() {
            let (out, done) = rewritten(info, size);
            assert_eq!(out, want, "pieces of {size}");
            assert_eq!(done, [Rewrite { actual: "7.0.15".into(), claimed: "6.2.15".into() }], "pieces of {size}");
        }
    }

    #[test]
    fn later_minors_become_6_2_too() {
        let (out, _) = rewritten("redis_version:7.4.2\r\nredis_version:8.0.0\n", 5);
        assert_eq!(out, "redis_version:6.2.2\r\nredis_version:6.2.0\n");
    }

    #[test]
    fn the_actual_claim_changes_nothing() {
        let mut bytes = b"redis_version:7.0.15\r\n".to_vec();
        assert!(Rewriter::new(Claim::Actual).rewrite(&mut bytes).is_empty());
        assert_eq!(bytes, b"redis_version:7.0.15\r\n");
    }

    #[test]
    fn urls_keep_their_credentials_and_database() {
        for (url, upstream, before, after) in [
            ("redis://127.0.0.1:6379", "127.0.0.1:6379", "redis://", ""),
            ("redis://:pw@db:6380/2", "db:6380", "redis://:pw@", "/2"),
            ("redis://app:pw@db", "db:6379", "redis://app:pw@", ""),
            ("redis://[::1]:7000/0", "[::1]:7000", "redis://", "/0"),
            ("redis://[::1]/0", "[::1]:6379", "redis://", "/0"),
        ] {
            assert_eq!(split_url(url).unwrap(), (upstream.to_owned(), before, after), "{url}");
        }
        for url in ["rediss://db:6379", "unix:///tmp/redis.sock", "redis:///0"] {
            assert_eq!(split_url(url).unwrap_err().kind(), std::io::ErrorKind::InvalidInput, "{url}");
        }
    }
}
