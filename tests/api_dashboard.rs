//! The operator dashboard in a real headless Chromium, driven through
//! ChromeDriver (WebDriver over HTTP) against the real `strata serve`: sign
//! in with the admin token, see the queue, tier and dead-letter numbers,
//! retry a dead letter with a click, and keep a screenshot
//! (`target/tmp/dashboard.png`).
//!
//! Chromium and ChromeDriver (Debian's `chromium` and `chromium-driver`) are
//! required under CI (`.ci/run` installs them); elsewhere the test does not
//! run when they are missing, and says so (`strata_testkit::not_run`).

mod common;

use base64::Engine;
use common::{Strata, noise};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use strata_core::config::env;

const ADMIN: &str = "dashboard-admin-token-0123456789";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// ChromeDriver on a free local port, for browsers with one profile
/// directory; when dropped (a failed test included) it stops, and so does
/// every browser process of that profile.
struct Driver {
    child: Child,
    base: String,
    http: reqwest::Client,
    profile: std::path::PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("pkill").arg("-KILL").arg("-f").arg(&self.profile).status();
    }
}

impl Driver {
    async fn start(profile: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            profile: profile.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = driver.http.get(format!("{}/status", driver.base)).send().await
                && r.status().is_success()
            {
                return driver;
            }
            assert!(Instant::now() < deadline, "chromedriver did not answer within 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends a WebDriver command; returns its `value`.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.expect("chromedriver answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(status.is_success(), "WebDriver {method} {path} failed with {status}: {text}");
        value["value"].clone()
    }
}

/// One browser session.
struct Browser<'a> {
    driver: &'a Driver,
    session: String,
}

impl<'a> Browser<'a> {
    async fn open(driver: &'a Driver) -> Self {
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,1000",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", driver.profile.display())])
        .collect::<Vec<_>>();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args }
        }}});
        let value = driver.call(reqwest::Method::POST, "/session", Some(capabilities)).await;
        let session = value["sessionId"].as_str().expect("a session id").to_owned();
        Self { driver, session }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.driver.call(method, &format!("/session/{}{path}", self.session), body).await
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    async fn find(&self, css: &str) -> String {
        let value =
            self.call(reqwest::Method::POST, "/element", Some(json!({ "using": "css selector", "value": css }))).await;
        value[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {value}")).to_owned()
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({}))).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({ "text": text }))).await;
    }

    /// The visible text of the first element matching `css` ("" if none).
    async fn text(&self, css: &str) -> String {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';";
        let value =
            self.call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": [css] }))).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Waits (at most 20 s) until the text of `css` satisfies `ok`; returns it.
    async fn wait_text(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.text(css).await;
            if ok(&text) {
                return text;
            }
            assert!(Instant::now() < deadline, "{what}: {css} still shows {text:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn screenshot(&self, to: &Path) {
        let value = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png =
            base64::engine::general_purpose::STANDARD.decode(value.as_str().expect("base64 PNG")).expect("base64");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(to, png).expect("the screenshot is written");
    }

    async fn close(self) {
        self.driver.call(reqwest::Method::DELETE, &format!("/session/{}", self.session), None).await;
    }
}

/// Whether the browser is here; when not, `test` did not run (a failure
/// under CI).
fn browser_available(test: &str) -> bool {
    let here = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !here {
        strata_testkit::not_run(test, &format!("{CHROMIUM} or {CHROMEDRIVER} is missing"));
    }
    here
}

/// The first table row of `table` whose first cell is `first`, as its cells.
fn row(table: &str, first: &str) -> Vec<String> {
    table
        .lines()
        .map(|l| l.split('\t').map(|c| c.trim().to_owned()).collect::<Vec<_>>())
        .find(|cells| cells.first().map(String::as_str) == Some(first))
        .unwrap_or_else(|| panic!("no row {first:?} in {table:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_the_numbers_and_retries_a_dead_letter_with_a_click() {
    if !browser_available("api_dashboard::an_operator_sees_the_numbers_and_retries_a_dead_letter_with_a_click") {
        return;
    }
    // A dead letter: a compress job whose source was corrupted.
    let s = Strata::new().env(env::ADMIN_TOKEN, ADMIN);
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    let input = s.file("input", &noise(4000, 3));
    s.ok(&["put", "acme/wf/b.bin", &input]);
    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    std::fs::write(s.blob_of("acme/wf/b.bin"), b"bit rot").unwrap();
    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    assert_eq!(s.json(&["dlq", "list"]).as_array().unwrap().len(), 1);

    let server = s.serve();
    let driver = Driver::start(&s.path("chromium-profile")).await;
    let browser = Browser::open(&driver).await;
    browser.go(&format!("{}/", server.base)).await;
    browser.type_into("#token", ADMIN).await;
    browser.click("#login button[type=submit]").await;

    let dead = browser.wait_text("#dead tbody", "the dead letter shows", |t| t.contains("compress")).await;
    assert!(dead.contains("corrupt"), "the dead letter's error is shown: {dead}");
    assert_eq!(row(&dead, "compress")[1], "acme/wf/b.bin", "the dead letter names its artifact: {dead}");
    let queues = browser.wait_text("#queues tbody", "the lanes show", |t| t.contains("default")).await;
    let default = row(&queues, "default");
    assert_eq!(default[1..5], ["0", "0", "0", "1"], "waiting, in flight, delayed, dead: {queues}");
    let tiers = browser.wait_text("#tiers tbody", "the tiers show", |t| t.contains("acme")).await;
    assert_eq!(row(&tiers, "acme")[1..3], ["warm", "1"], "one row per tenant and tier: {tiers}");
    assert_eq!(tiers.lines().count(), 1, "active and eligible are one row: {tiers}");
    let run = browser.text("#last-run").await;
    assert!(run.contains("Planned") && run.contains("Failed"), "the last run shows: {run}");
    let trends = browser.wait_text("#trends tbody", "the size trend shows", |t| t.contains("acme")).await;
    assert_eq!(row(&trends, "acme")[1..3], ["1", "1"], "one day, one upload: {trends}");
    assert!(row(&trends, "acme")[5].ends_with('x'), "a compression ratio: {trends}");
    let upcoming = browser.text("#upcoming tbody").await;
    assert!(upcoming.contains("nothing in the next 7 days"), "{upcoming}");
    let events = browser.text("#events tbody").await;
    assert!(events.contains("promoted") && events.contains("job_dead_lettered"), "{events}");
    // Each row shows the event's time, type, tenant and WORKFLOW/NAME, from
    // the API's `timestamp`, `event_type`, `tenant_id`, `workflow_id` and `artifact_id`.
    let promoted = events
        .lines()
        .map(|l| l.split('\t').map(str::trim).collect::<Vec<_>>())
        .find(|cells| cells.get(2) == Some(&"promoted"))
        .unwrap_or_else(|| panic!("no promoted row in {events:?}"));
    assert_eq!(promoted[3..5], ["acme", "wf/b.bin"], "{events}");
    assert!(promoted[1].starts_with("20") && promoted[1].ends_with('Z'), "a timestamp: {events}");

    // The event log is live: an upload shows without a reload.
    s.ok(&["put", "acme/wf/live.txt", &input]);
    browser.wait_text("#events tbody", "the new event streams in", |t| t.contains("wf/live.txt")).await;
    // A dry run from the page says what a run would do, and records it.
    browser.click("#dry-run").await;
    browser.wait_text("#run-result", "the dry run answers", |t| t.starts_with("dry run: would run")).await;

    browser.click("#dead button.retry").await;
    browser.wait_text("#dead tbody", "the retried dead letter leaves", |t| t.contains("no dead letters")).await;
    let queues = browser.wait_text("#queues tbody", "the job waits again", |t| row(t, "default")[1] == "1").await;
    assert_eq!(row(&queues, "default")[1..5], ["1", "0", "0", "0"], "{queues}");

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    browser.screenshot(&shot).await;
    eprintln!("dashboard screenshot: {}", shot.display());
    browser.close().await;

    // The click changed the queue for real.
    assert!(s.json(&["dlq", "list"]).as_array().unwrap().is_empty());
    let stats = s.json(&["queue", "stats"]);
    let lane = stats.as_array().unwrap().iter().find(|l| l["lane"] == "default").unwrap().clone();
    assert_eq!((lane["waiting"].as_u64(), lane["dead"].as_u64()), (Some(1), Some(0)), "{stats}");
}
