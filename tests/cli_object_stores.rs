//! The real binary with its tiers in an S3-compatible store (the `moto`
//! server, started here), configured as an operator would: the tier URLs in
//! `STORAGE_{HOT,WARM,COLD}_PATH`, the endpoint and credentials in the
//! conventional `AWS_*` variables.

mod common;

use common::{Strata, log_text, noise};
use strata_core::config::env;
use strata_testkit::emulators::{Emulator, Kind};

/// A data directory whose tiers live in `bucket` of `moto`.
fn on_s3(moto: &Emulator, bucket: &str) -> Strata {
    moto.create_bucket(bucket).expect("create the bucket");
    let mut s = Strata::new();
    for (var, tier) in
        [(env::STORAGE_HOT_PATH, "hot"), (env::STORAGE_WARM_PATH, "warm"), (env::STORAGE_COLD_PATH, "cold")]
    {
        s = s.env(var, &format!("s3://{bucket}/{tier}"));
    }
    s.env("AWS_ENDPOINT_URL", &moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "strata-test")
        .env("AWS_SECRET_ACCESS_KEY", "strata-test-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ALLOW_HTTP", "true")
}

#[test]
fn the_lifecycle_runs_with_its_tiers_in_s3() {
    let Some(moto) = Emulator::start("the_lifecycle_runs_with_its_tiers_in_s3", Kind::Moto) else { return };
    let s = on_s3(&moto, "lifecycle");
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    let text = log_text(2000);
    let large = noise(700_000, 5);
    s.ok(&["put", "acme/wf/log.txt", &s.file("log", &text)]);
    s.ok(&["put", "acme/wf/big.bin", &s.file("big", &large)]);
    let a = s.artifact("acme/wf/big.bin");
    let key = |tier: &str, codec: &str| {
        let blake3 = a["blake3"].as_str().expect("blake3");
        let suffix = if codec == "zstd" { ".zst" } else { "" };
        format!("{tier}/acme/{}/{blake3}{suffix}", &blake3[..2])
    };
    assert_eq!(moto.head("lifecycle", &key("hot", "none")).expect("HEAD").status, 200, "the blob is in the bucket");

    s.ok(&["lifecycle", "run", "--as-of", "+8d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/big.bin")["tier"], "warm");
    assert_eq!(moto.head("lifecycle", &key("hot", "none")).expect("HEAD").status, 404, "moved, not copied");

    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    let log = s.artifact("acme/wf/log.txt");
    assert_eq!((log["tier"].as_str(), log["codec"].as_str()), (Some("cold"), Some("zstd")));
    assert!(log["stored_size"].as_u64().expect("stored size") * 5 < log["size"].as_u64().expect("size"), "{log}");
    assert_eq!(s.ok(&["get", "acme/wf/log.txt"]).as_bytes(), &text[..]);
    assert_eq!(moto.head("lifecycle", &key("cold", "zstd")).expect("HEAD").status, 200);

    let out = s.ok(&["restore", "acme/wf/big.bin", "--wait"]);
    assert!(out.contains("Restored acme/wf/big.bin to the hot tier"), "{out}");
    let out_file = s.path("big.out");
    s.ok(&["get", "acme/wf/big.bin", "-o", out_file.to_str().expect("UTF-8 path")]);
    assert_eq!(std::fs::read(&out_file).expect("read the download"), large);
    assert_eq!(moto.head("lifecycle", &key("cold", "zstd")).expect("HEAD").status, 404, "restored, not copied");
}

#[test]
fn an_unknown_scheme_or_a_missing_bucket_stops_the_command_naming_the_tier() {
    let s = Strata::new().env(env::STORAGE_WARM_PATH, "ftp://archive/warm");
    let err = s.fails(&["ls", "acme"], 2);
    assert!(err.contains("storage.warm") && err.contains(env::STORAGE_WARM_PATH) && err.contains("\"ftp\""), "{err}");

    let test = "an_unknown_scheme_or_a_missing_bucket_stops_the_command_naming_the_tier";
    let Some(moto) = Emulator::start(test, Kind::Moto) else { return };
    let s = on_s3(&moto, "present").env(env::STORAGE_COLD_PATH, "s3://absent/cold");
    let out = s.run(&["lifecycle", "run", "--as-of", "+1d"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("cold tier") && err.contains("s3://absent/cold") && err.contains("does not exist"), "{err}");
}
