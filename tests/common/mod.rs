//! Drives the real `strata` binary against a fresh data directory.

#![allow(dead_code, reason = "each test file uses a different subset")]

pub mod api;
pub mod cluster;
pub mod postgres;
pub mod redis;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use strata_core::config::env;

use postgres::ScaleOut;

/// The variable that picks the catalog `Strata::new` runs on: unset, empty or
/// `embedded` for the embedded profile (a SQLite file in the data directory,
/// the SQLite queue), `postgres` for the scale-out profile (a fresh schema on
/// the test PostgreSQL and a fresh key prefix on the test Redis for every
/// instance). `.ci/run` runs the lifecycle and retention tests once more with
/// `postgres`.
pub const CATALOG_VAR: &str = "STRATA_TEST_CATALOG";

/// Whether `STRATA_TEST_CATALOG` asks for the scale-out profile.
pub fn on_postgres() -> bool {
    match std::env::var(CATALOG_VAR).as_deref().map(str::trim) {
        Err(_) | Ok("" | "embedded") => false,
        Ok("postgres") => true,
        Ok(other) => panic!("{CATALOG_VAR}={other:?}: expected `embedded` or `postgres`"),
    }
}

/// The `strata` binary, built once per test process.
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "strata-cli", "--bin", "strata"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the strata binary failed");
        let exe = std::env::current_exe().expect("test binary path");
        let dir = exe.parent().and_then(Path::parent).expect("target profile directory");
        let bin = dir.join("strata");
        assert!(bin.exists(), "{} missing", bin.display());
        bin
    })
}

/// Runs `work` to its end on a runtime of its own, on a thread of its own,
/// so that synchronous and asynchronous tests alike can call it.
pub fn block_on<T: Send>(work: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|scope| {
        let thread = scope.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(work)
        });
        thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A fresh data directory and the commands to run against it.
pub struct Strata {
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    /// The PostgreSQL catalog and Redis queue, on the scale-out profile;
    /// shared by the instances of one cluster, removed when the last drops.
    scale_out: Option<Arc<ScaleOut>>,
}

impl Strata {
    /// A fresh data directory on the profile `STRATA_TEST_CATALOG` names.
    pub fn new() -> Self {
        if on_postgres() { Self::on(Arc::new(ScaleOut::from_env())) } else { Self::embedded() }
    }

    /// A fresh data directory on the embedded profile, whatever
    /// `STRATA_TEST_CATALOG` says.
    pub fn embedded() -> Self {
        Self { dir: tempfile::tempdir().expect("temp dir"), env: Vec::new(), scale_out: None }
    }

    /// A fresh data directory whose processes use `scale_out`'s catalog and queue.
    pub fn on(scale_out: Arc<ScaleOut>) -> Self {
        let mut s = Self::embedded();
        for (key, value) in scale_out.env() {
            s = s.env(key, value);
        }
        s.scale_out = Some(scale_out);
        s
    }

    /// The PostgreSQL catalog and Redis queue, on the scale-out profile.
    pub fn scale_out(&self) -> Option<&Arc<ScaleOut>> {
        self.scale_out.as_ref()
    }

    /// The URL of the catalog, for a test that reads a table no command
    /// shows: the PostgreSQL schema, or the SQLite file (read only).
    pub fn catalog_url(&self) -> String {
        match &self.scale_out {
            Some(scale_out) => scale_out.schema.url().to_owned(),
            None => format!("sqlite://{}?mode=ro", self.data().join("catalog.db").display()),
        }
    }

    /// The first row of `query` on the catalog, every column read as text;
    /// `None` when it returns no row.
    pub fn catalog_row(&self, query: &str) -> Option<Vec<String>> {
        let url = self.catalog_url();
        block_on(async {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&url).await.unwrap_or_else(|e| panic!("the catalog at {url}: {e}"));
            let row = sqlx::query(sqlx::AssertSqlSafe(query.to_owned()))
                .fetch_optional(&pool)
                .await
                .unwrap_or_else(|e| panic!("{query}: {e}"));
            pool.close().await;
            row.map(|row| {
                (0..sqlx::Row::len(&row))
                    .map(|i| {
                        sqlx::Row::try_get::<String, _>(&row, i)
                            .or_else(|_| sqlx::Row::try_get::<i64, _>(&row, i).map(|n| n.to_string()))
                            .unwrap_or_else(|e| panic!("{query}: column {i}: {e}"))
                    })
                    .collect()
            })
        })
    }

    /// Sets an environment variable for every later command.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        // The variables the configuration reads, cleared so the host cannot leak in.
        for var in [env::DATA_DIR, env::CONFIG].into_iter().chain(env::names()) {
            cmd.env_remove(var);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.arg("--data-dir").arg(self.data()).args(args);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("strata runs")
    }

    /// Runs and asserts success; returns standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "strata {args:?} failed with {:?}:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs and asserts the exit code; returns standard error.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "strata {args:?}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        serde_json::from_str(&self.ok(&with_json)).expect("JSON output")
    }

    /// Writes `bytes` to a file in the test directory and returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write input");
        p.display().to_string()
    }

    /// `ls --all --json`: the whole catalog, tombstones included.
    pub fn catalog(&self) -> serde_json::Value {
        self.json(&["ls", "--all"])
    }

    /// One artifact's `ls --json` object.
    pub fn artifact(&self, key: &str) -> serde_json::Value {
        let (tenant, rest) = key.split_once('/').expect("key");
        let (workflow, name) = rest.split_once('/').expect("key");
        let all = self.json(&["ls", &format!("{tenant}/{workflow}")]);
        all.as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{key} not listed"))
    }

    /// Every event, oldest first.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.json(&["events", "--limit", "100000"]).as_array().cloned().unwrap_or_default()
    }

    pub fn count_events(&self, kind: &str) -> usize {
        self.events().iter().filter(|e| e["event_type"] == kind).count()
    }

    /// Files under a tier (staging excluded).
    pub fn blob_files(&self, tier: &str) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else { return };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    if e.file_name() != ".staging" {
                        walk(&p, out);
                    }
                } else {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.data().join("tiers").join(tier), &mut out);
        out.sort();
        out
    }

    /// The blob file of an artifact in its tier.
    pub fn blob_of(&self, key: &str) -> PathBuf {
        let a = self.artifact(key);
        let tier = a["tier"].as_str().expect("tier");
        let blake3 = a["blake3"].as_str().expect("blake3");
        self.blob_files(tier)
            .into_iter()
            .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(blake3)))
            .unwrap_or_else(|| panic!("no blob for {key}"))
    }
}

/// A running `strata serve` on a free port of 127.0.0.1, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Strata {
    /// Starts `strata serve --listen 127.0.0.1:0` and waits until `/healthz` answers.
    pub fn serve(&self) -> Server {
        self.listen("serve")
    }

    /// Starts `strata COMMAND --listen 127.0.0.1:0` (`serve` or `run`) and
    /// waits until `/healthz` answers.
    pub fn listen(&self, command: &str) -> Server {
        let mut child = self
            .command(&[command, "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("strata serve starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("first line");
        // Keep reading what it prints later (a report on exit), so it never
        // writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let address = line.trim().strip_prefix("Listening on http://").unwrap_or_else(|| {
            let _ = child.kill();
            panic!("strata {command} did not say where it listens: {line:?}")
        });
        let server = Server { base: format!("http://{address}"), child };
        let health = server.raw("GET /healthz HTTP/1.1\r\nHost: strata\r\nConnection: close\r\n\r\n");
        assert!(health.starts_with("HTTP/1.1 200"), "/healthz answered {health:?}");
        server
    }
}

impl Server {
    /// Sends `request` as is over a fresh connection; returns the whole answer.
    pub fn raw(&self, request: &str) -> String {
        self.raw_bytes(request.as_bytes())
    }

    /// Sends raw bytes over a fresh connection; returns the whole answer as text.
    /// The server may answer (and close) before it has read everything.
    pub fn raw_bytes(&self, request: &[u8]) -> String {
        let address = self.base.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).expect("connects");
        stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).expect("timeout");
        let _ = stream.write_all(request);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (at most 30 s) for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().expect("kill runs");
        assert!(status.success());
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("strata serve did not stop within 30 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Text that compresses well.
pub fn log_text(lines: usize) -> Vec<u8> {
    (0..lines)
        .map(|i| format!("2026-11-24T10:00:{:02}Z INFO step {i} finished\n", i % 60))
        .collect::<String>()
        .into_bytes()
}

/// Bytes that do not compress, varied by `seed`.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
