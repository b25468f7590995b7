//! Object-store emulators for the tier tests: the `moto` server (S3) and
//! Azurite (Azure Blob Storage), each started on a free port of 127.0.0.1,
//! waited for until it answers, and killed when dropped.
//!
//! [`Emulator::start`] says `None` (through [`crate::not_run`]) when the
//! program is not installed, so under CI a missing emulator is a failure.
//! [`Emulator::create_bucket`] and [`Emulator::head`] speak to the emulator
//! directly (Azurite's requests signed with its development key), so a test
//! can prepare a bucket and look at what a write stored. A [`Relay`] sits
//! between a client and an emulator and can cut every connection at once,
//! as a store that goes away mid-write.

use base64::Engine;
use hmac::{KeyInit, Mac};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The well-known development account Azurite serves.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";

/// The well-known key of [`AZURITE_ACCOUNT`] (public, published with Azurite).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// How long an emulator may take to answer after it was started.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Which emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The `moto` server, an S3-compatible store (`pip install 'moto[server]'`).
    Moto,
    /// Azurite's blob service (`npm install -g azurite`).
    Azurite,
}

impl Kind {
    /// The program started.
    pub fn program(self) -> &'static str {
        match self {
            Kind::Moto => "moto_server",
            Kind::Azurite => "azurite-blob",
        }
    }
}

/// A running emulator, killed on drop.
#[derive(Debug)]
pub struct Emulator {
    kind: Kind,
    child: Option<Child>,
    address: SocketAddr,
    workdir: Option<tempfile::TempDir>,
}

impl Emulator {
    /// Starts `kind` on a free port and waits until it answers. When the
    /// program is not installed, reports the test as not run (a failure
    /// under CI) and returns `None`.
    pub fn start(test: &str, kind: Kind) -> Option<Self> {
        let Some(program) = find_program(kind.program()) else {
            crate::not_run(test, &format!("{} is not installed", kind.program()));
            return None;
        };
        match Self::spawn(kind, &program, &[]) {
            Ok(emulator) => Some(emulator),
            Err(e) => panic!("{test}: {} did not start: {e}", kind.program()),
        }
    }

    /// Starts a moto server that checks every request's credentials
    /// against its (empty) IAM users, so any key it is given is refused
    /// with `403 InvalidAccessKeyId`, as S3 refuses a wrong one. Reported
    /// as for [`Emulator::start`] when moto is not installed.
    pub fn start_moto_refusing_credentials(test: &str) -> Option<Self> {
        let kind = Kind::Moto;
        let Some(program) = find_program(kind.program()) else {
            crate::not_run(test, &format!("{} is not installed", kind.program()));
            return None;
        };
        match Self::spawn(kind, &program, &[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]) {
            Ok(emulator) => Some(emulator),
            Err(e) => panic!("{test}: {} did not start: {e}", kind.program()),
        }
    }

    fn spawn(kind: Kind, program: &PathBuf, env: &[(&str, &str)]) -> std::io::Result<Self> {
        let port = free_port()?;
        let workdir = tempfile::Builder::new().prefix("strata-emulator-").tempdir()?;
        let mut command = Command::new(program);
        command.envs(env.iter().copied());
        match kind {
            Kind::Moto => {
                command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            }
            Kind::Azurite => {
                command.args([
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    &port.to_string(),
                    "--inMemoryPersistence",
                    "--skipApiVersionCheck",
                ]);
            }
        }
        let log = std::fs::File::create(workdir.path().join("emulator.log"))?;
        let child =
            command.current_dir(workdir.path()).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).spawn()?;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut emulator = Self { kind, child: Some(child), address, workdir: Some(workdir) };
        emulator.wait_ready()?;
        Ok(emulator)
    }

    /// Polls with an HTTP request until the emulator answers, bounded by [`READY_WITHIN`].
    fn wait_ready(&mut self) -> std::io::Result<()> {
        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                return Err(std::io::Error::other(format!("exited with {status}: {}", self.log())));
            }
            if answers(self.address) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("no answer: {}", self.log())))
    }

    fn log(&self) -> String {
        self.workdir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.path().join("emulator.log")).ok())
            .unwrap_or_default()
    }

    /// Which emulator this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The emulator's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`, plus `/devstoreaccount1`
    /// for Azurite, whose URLs name the account in the path).
    pub fn endpoint(&self) -> String {
        match self.kind {
            Kind::Moto => format!("http://{}", self.address),
            Kind::Azurite => format!("http://{}/{AZURITE_ACCOUNT}", self.address),
        }
    }

    /// Creates a bucket (moto) or container (Azurite) named `name`.
    pub fn create_bucket(&self, name: &str) -> std::io::Result<()> {
        let response = match self.kind {
            Kind::Moto => self.request("PUT", &format!("/{name}"), &[])?,
            Kind::Azurite => self.request("PUT", &format!("/{AZURITE_ACCOUNT}/{name}?restype=container"), &[])?,
        };
        match response.status {
            200 | 201 => Ok(()),
            status => Err(std::io::Error::other(format!("creating bucket {name}: HTTP {status}"))),
        }
    }

    /// A HEAD request for the object `key` of bucket (or container) `bucket`.
    pub fn head(&self, bucket: &str, key: &str) -> std::io::Result<Response> {
        match self.kind {
            Kind::Moto => self.request("HEAD", &format!("/{bucket}/{key}"), &[]),
            Kind::Azurite => self.request("HEAD", &format!("/{AZURITE_ACCOUNT}/{bucket}/{key}"), &[]),
        }
    }

    /// Sends one request (no body) and reads the response head; Azurite's
    /// requests carry a SharedKey signature with the development key.
    fn request(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
        let mut all: Vec<(String, String)> = headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        if self.kind == Kind::Moto {
            // moto does not check signatures, but answers anonymous requests
            // to private objects with 403: any well-formed credential will do.
            all.push((
                "Authorization".into(),
                "AWS4-HMAC-SHA256 Credential=strata-test/20260101/us-east-1/s3/aws4_request, \
                 SignedHeaders=host, Signature=0"
                    .into(),
            ));
        }
        if self.kind == Kind::Azurite {
            let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            all.push(("x-ms-date".into(), date));
            all.push(("x-ms-version".into(), "2021-08-06".into()));
            let signature = azure_signature(method, target, &all)?;
            all.push(("Authorization".into(), format!("SharedKey {AZURITE_ACCOUNT}:{signature}")));
        }
        http(self.address, method, target, &all)
    }

    /// Kills the emulator now (for the tests of a store that goes away).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The status and headers of a response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Response {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Sends `method target` to `address` over HTTP/1.1 and reads the head of
/// the response (the body, if any, is left unread).
fn http(address: SocketAddr, method: &str, target: &str, headers: &[(String, String)]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Response { status, headers })
}

/// The SharedKey signature of a request without a body, for Azurite's
/// development account (whose name also leads the request path).
fn azure_signature(method: &str, target: &str, headers: &[(String, String)]) -> std::io::Result<String> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut ms: Vec<(String, &str)> = headers
        .iter()
        .filter(|(k, _)| k.to_ascii_lowercase().starts_with("x-ms-"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .collect();
    ms.sort();
    let mut to_sign = format!("{method}\n\n\n\n\n\n\n\n\n\n\n\n");
    for (k, v) in ms {
        to_sign.push_str(&format!("{k}:{v}\n"));
    }
    to_sign.push_str(&format!("/{AZURITE_ACCOUNT}{path}"));
    let mut params: Vec<(&str, &str)> = query.split('&').filter_map(|p| p.split_once('=')).collect();
    params.sort();
    for (k, v) in params {
        to_sign.push_str(&format!("\n{}:{v}", k.to_ascii_lowercase()));
    }
    let key = base64::engine::general_purpose::STANDARD.decode(AZURITE_KEY).map_err(std::io::Error::other)?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(std::io::Error::other)?;
    mac.update(to_sign.as_bytes());
    Ok(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// A TCP relay on 127.0.0.1 in front of a server; [`Relay::cut`] closes
/// every connection through it and refuses new ones, as a server that
/// stopped would, while the server itself (and what it stored) stays up.
#[derive(Debug)]
pub struct Relay {
    address: SocketAddr,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    /// Starts relaying connections on a free port to `target`.
    pub fn start(target: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let address = listener.local_addr()?;
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (cut_flag, conns) = (Arc::clone(&cut), Arc::clone(&open));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if cut_flag.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else { continue };
                let pipes = (client.try_clone(), server.try_clone(), client.try_clone(), server.try_clone());
                let (Ok(c_read), Ok(s_write), Ok(c_write), Ok(s_read)) = pipes else { continue };
                if let Ok(mut open) = conns.lock() {
                    open.push(client);
                    open.push(server);
                }
                std::thread::spawn(move || pipe(c_read, s_write));
                std::thread::spawn(move || pipe(s_read, c_write));
            }
        });
        Ok(Self { address, cut, open })
    }

    /// The relay's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Closes every connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        if let Ok(mut open) = self.open.lock() {
            for stream in open.drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Copies `from` to `to` until either closes.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

/// A port of 127.0.0.1 that nothing listens on right now.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// Whether an HTTP server at `address` answers a request with a status line.
fn answers(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET / HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

/// The program's path, found on `PATH`.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}
