//! `strata doctor` against the real binary: every component fine on the
//! embedded profile and on PostgreSQL + Redis + S3, then each component
//! broken in turn; and the doctor changes nothing.

mod common;

use common::postgres::ScaleOut;
use common::{Strata, block_on, noise};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_core::config::env;
use strata_testkit::emulators::{Emulator, Kind};

/// A port nothing listens on.
const CLOSED: &str = "127.0.0.1:1";

/// Runs `doctor --json`: the exit code and the parsed report.
fn doctor(s: &Strata) -> (i32, Value) {
    let out = s.run(&["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().expect("an exit code"), report)
}

fn rows(report: &Value) -> &Vec<Value> {
    report["checks"].as_array().expect("checks")
}

/// The statuses of `component`'s rows.
fn statuses<'a>(report: &'a Value, component: &str) -> Vec<&'a str> {
    let found: Vec<&str> = rows(report)
        .iter()
        .filter(|r| r["component"] == component)
        .map(|r| r["status"].as_str().expect("status"))
        .collect();
    assert!(!found.is_empty(), "no row for {component}: {report:#}");
    found
}

fn all_ok(report: &Value, component: &str) -> bool {
    statuses(report, component).iter().all(|s| *s == "ok")
}

/// The row of `component`'s `check`.
fn row<'a>(report: &'a Value, component: &str, check: &str) -> &'a Value {
    rows(report)
        .iter()
        .find(|r| r["component"] == component && r["check"] == check)
        .unwrap_or_else(|| panic!("no row {component}/{check}: {report:#}"))
}

/// Every file and directory under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).expect("under the root").to_owned());
            if p.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A data directory with one tenant and one artifact.
fn seeded(s: &Strata) {
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    s.ok(&["put", "acme/wf/a.bin", &s.file("a", &noise(4096, 1))]);
}

const TIERS: [&str; 3] = ["tier hot", "tier warm", "tier cold"];

#[test]
fn everything_is_fine_on_the_embedded_profile_and_nothing_changes() {
    let s = Strata::embedded();
    seeded(&s);
    let events = s.catalog_row("SELECT COUNT(*), MAX(seq) FROM events").expect("events");
    let files = tree(&s.data().join("tiers"));

    let (code, report) = doctor(&s);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["ok"], true);
    for component in ["catalog", "queue", "clock"].iter().chain(&TIERS) {
        assert!(all_ok(&report, component), "{component}: {report:#}");
    }
    assert!(row(&report, "catalog", "schema version")["detail"].as_str().expect("detail").starts_with("equal"));
    assert!(row(&report, "clock", "skew")["detail"].as_str().expect("detail").contains("local"));

    let table = s.ok(&["doctor"]);
    for r in rows(&report) {
        for field in ["component", "check", "status", "detail"] {
            assert!(table.contains(r[field].as_str().expect("text")), "{field} of {r} not in:\n{table}");
        }
    }
    assert_eq!(table.matches(" ok ").count(), rows(&report).len(), "one row per check:\n{table}");

    assert_eq!(s.catalog_row("SELECT COUNT(*), MAX(seq) FROM events").expect("events"), events, "no event");
    assert_eq!(tree(&s.data().join("tiers")), files, "no probe left in a tier");
}

#[test]
fn an_unreachable_catalog_is_wrong_and_its_password_is_not_shown() {
    let Some(redis) = strata_testkit::redis_url("doctor_unreachable_catalog") else { return };
    let s = Strata::embedded()
        .env(env::DATABASE_URL, &format!("postgres://strata:s3cret-word@{CLOSED}/test"))
        .env(env::REDIS_URL, &redis)
        .env(env::REDIS_PREFIX, &format!("strata-doctor-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(s.data()).expect("data dir");
    for tier in ["hot", "warm", "cold"] {
        std::fs::create_dir_all(s.data().join("tiers").join(tier)).expect("tier dir");
    }
    let (code, report) = doctor(&s);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["ok"], false);
    let catalog = row(&report, "catalog", "reachable");
    assert_eq!(catalog["status"], "WRONG");
    assert!(catalog["detail"].as_str().expect("detail").contains("127.0.0.1:1"), "{catalog}");
    assert!(all_ok(&report, "queue"), "{report:#}");
    for tier in TIERS {
        assert!(all_ok(&report, tier), "{tier}: {report:#}");
    }
    let out = s.run(&["doctor"]);
    let shown = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!shown.contains("s3cret-word") && !report.to_string().contains("s3cret-word"), "{shown}");
    assert!(shown.contains("WRONG"), "{shown}");
}

#[test]
fn a_schema_from_a_newer_binary_is_wrong_and_left_as_it_is() {
    let s = Strata::embedded();
    seeded(&s);
    let url = format!("sqlite://{}", s.data().join("catalog.db").display());
    block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.expect("the catalog");
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', TRUE, X'00', 0)",
        )
        .execute(&pool)
        .await
        .expect("a future migration");
        pool.close().await;
    });
    let (code, report) = doctor(&s);
    assert_eq!(code, 1, "{report:#}");
    let schema = row(&report, "catalog", "schema version");
    assert_eq!(schema["status"], "WRONG");
    let detail = schema["detail"].as_str().expect("detail");
    assert!(detail.contains("ahead") && detail.contains("9999") && detail.contains("newer strata"), "{detail}");
    assert_eq!(row(&report, "catalog", "reachable")["status"], "ok");
    for component in ["queue", "clock"].iter().chain(&TIERS) {
        assert!(all_ok(&report, component), "{component}: {report:#}");
    }
    let kept = s.catalog_row("SELECT COUNT(*) FROM _sqlx_migrations WHERE version = 9999").expect("count");
    assert_eq!(kept, vec!["1".to_owned()], "the doctor migrates nothing");
}

#[test]
fn an_unreachable_redis_is_wrong() {
    let s = Strata::embedded();
    seeded(&s);
    let s = s.env(env::REDIS_URL, &format!("redis://:hidden-pass@{CLOSED}"));
    let (code, report) = doctor(&s);
    assert_eq!(code, 1, "{report:#}");
    let queue = row(&report, "queue", "reachable");
    assert_eq!(queue["status"], "WRONG");
    assert!(queue["detail"].as_str().expect("detail").contains("Redis at"), "{queue}");
    assert!(!report.to_string().contains("hidden-pass"), "{report}");
    for component in ["catalog", "clock"].iter().chain(&TIERS) {
        assert!(all_ok(&report, component), "{component}: {report:#}");
    }
}

#[test]
fn a_tier_that_cannot_be_written_is_wrong_and_the_others_are_fine() {
    let s = Strata::embedded();
    seeded(&s);
    // Tests run as root, which ignores permissions: a directory below a
    // regular file can be neither created nor written.
    let file = s.file("not-a-dir", b"plain file");
    let s = s.env(env::STORAGE_WARM_PATH, &format!("{file}/warm"));
    let (code, report) = doctor(&s);
    assert_eq!(code, 1, "{report:#}");
    let warm = row(&report, "tier warm", "write, read, verify, delete");
    assert_eq!(warm["status"], "WRONG");
    let detail = warm["detail"].as_str().expect("detail");
    assert!(detail.contains("warm tier") && detail.contains("not-a-dir/warm"), "{detail}");
    for component in ["catalog", "queue", "clock", "tier hot", "tier cold"] {
        assert!(all_ok(&report, component), "{component}: {report:#}");
    }
    assert!(!Path::new(&format!("{file}/warm")).exists());
}

/// Keys of `bucket` on `moto` starting with `prefix` (a ListObjectsV2 request).
fn listed(moto: &Emulator, bucket: &str, prefix: &str) -> Vec<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(moto.address()).expect("moto answers");
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).expect("timeout");
    let request = format!(
        "GET /{bucket}?list-type=2&prefix={prefix} HTTP/1.1\r\nHost: {}\r\nAuthorization: AWS4-HMAC-SHA256 \
         Credential=strata-test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Connection: close\r\n\r\n",
        moto.address()
    );
    stream.write_all(request.as_bytes()).expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer.split("<Key>").skip(1).filter_map(|k| k.split_once("</Key>")).map(|(k, _)| k.to_owned()).collect()
}

/// `s` with moto's endpoint, region and credentials in the conventional variables.
fn with_moto(s: Strata, moto: &Emulator) -> Strata {
    s.env("AWS_ENDPOINT_URL", &moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "strata-test")
        .env("AWS_SECRET_ACCESS_KEY", "strata-test-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ALLOW_HTTP", "true")
}

#[test]
fn everything_is_fine_on_postgres_redis_and_s3_then_a_missing_bucket_is_wrong() {
    let test = "doctor_on_postgres_redis_and_s3";
    let Some(database) = strata_testkit::database_url(test) else { return };
    let Some(redis) = strata_testkit::redis_url(test) else { return };
    let Some(moto) = Emulator::start(test, Kind::Moto) else { return };
    moto.create_bucket("doctor").expect("create the bucket");
    let mut s = Strata::on(Arc::new(ScaleOut::create(&database, &redis)));
    for (var, tier) in
        [(env::STORAGE_HOT_PATH, "hot"), (env::STORAGE_WARM_PATH, "warm"), (env::STORAGE_COLD_PATH, "cold")]
    {
        s = s.env(var, &format!("s3://doctor/{tier}"));
    }
    let s = with_moto(s, &moto);
    seeded(&s);
    let before = listed(&moto, "doctor", "");

    let (code, report) = doctor(&s);
    assert_eq!(code, 0, "{report:#}");
    for component in ["catalog", "queue", "clock"].iter().chain(&TIERS) {
        assert!(all_ok(&report, component), "{component}: {report:#}");
    }
    assert!(row(&report, "catalog", "reachable")["detail"].as_str().expect("detail").starts_with("PostgreSQL"));
    assert!(row(&report, "queue", "version")["detail"].as_str().expect("detail").starts_with("Redis "));
    for lane in ["lane default", "lane priority"] {
        assert_eq!(row(&report, "queue", lane)["status"], "ok", "{report:#}");
    }
    let skew = row(&report, "clock", "skew")["detail"].as_str().expect("detail");
    assert!(skew.contains("ms from this host's"), "{skew}");
    assert_eq!(listed(&moto, "doctor", ""), before, "no probe left in the bucket");
    assert!(!before.iter().any(|k| k.contains(".doctor")), "{before:?}");
    assert!(rows(&report).iter().all(|r| r["check"] != "storage class honoured"), "no class, no row: {report:#}");

    let s = s.env(env::STORAGE_COLD_PATH, "s3://absent/cold");
    let (code, report) = doctor(&s);
    assert_eq!(code, 1, "{report:#}");
    let cold = row(&report, "tier cold", "write, read, verify, delete");
    assert_eq!(cold["status"], "WRONG");
    assert!(cold["detail"].as_str().expect("detail").contains("cold tier"), "{cold}");
    for component in ["catalog", "queue", "clock", "tier hot", "tier warm"] {
        assert!(all_ok(&report, component), "{component}: {report:#}");
    }

    // A storage class per tier: the probe is written with it, and the
    // store's HEAD reports it back (S3 says nothing for STANDARD).
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("strata.toml");
    let tiers: String = [("warm", "STANDARD_IA"), ("cold", "GLACIER_IR"), ("hot", "STANDARD")]
        .iter()
        .map(|(tier, class)| format!("[storage.{tier}]\nurl = \"s3://doctor/{tier}\"\nstorage_class = \"{class}\"\n"))
        .collect();
    std::fs::write(&config, tiers).expect("write the config");
    let classed = Strata::on(Arc::new(ScaleOut::create(&database, &redis)))
        .env(env::CONFIG, config.to_str().expect("a UTF-8 path"));
    let classed = with_moto(classed, &moto);
    seeded(&classed);
    let before_classed = listed(&moto, "doctor", "");
    let (code, report) = doctor(&classed);
    assert_eq!(code, 0, "{report:#}");
    for (component, class) in [("tier hot", "STANDARD"), ("tier warm", "STANDARD_IA"), ("tier cold", "GLACIER_IR")] {
        let honoured = row(&report, component, "storage class honoured");
        assert_eq!(honoured["status"], "ok", "{report:#}");
        let detail = honoured["detail"].as_str().expect("detail");
        assert_eq!(detail, format!("asked for {class}, the store reports {class}"));
    }
    assert_eq!(listed(&moto, "doctor", ""), before_classed, "no probe left in the bucket");
}

#[test]
fn a_redis_older_than_7_is_wrong_naming_its_version() {
    use strata_testkit::proxy::{Claim, RedisProxy};
    let Some(url) = strata_testkit::redis_url("doctor_redis_older_than_7") else { return };
    let s = Strata::embedded();
    seeded(&s);
    let older = RedisProxy::start(&url, Claim::Redis62).expect("the proxy starts");
    let s = s
        .env(env::REDIS_URL, older.url())
        .env(env::REDIS_PREFIX, &format!("strata-doctor-{}", uuid::Uuid::new_v4().simple()));
    let (code, report) = doctor(&s);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(row(&report, "queue", "reachable")["status"], "ok");
    let version = row(&report, "queue", "version");
    assert_eq!(version["status"], "WRONG");
    let detail = version["detail"].as_str().expect("detail");
    assert!(detail.starts_with("Redis 6.2.") && detail.contains("needs Redis 7.0 or later"), "{detail}");
    for component in ["catalog", "clock"].iter().chain(&TIERS) {
        assert!(all_ok(&report, component), "{component}: {report:#}");
    }
}
