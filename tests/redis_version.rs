//! strata refuses a Redis older than 7.0 at connect, naming its version and
//! URL. The test Redis is 7, so a proxy in front of it makes it claim 6.2
//! (`strata_testkit::proxy`); through the same proxy unchanged, the same
//! command works.

mod common;

use common::Strata;
use common::redis::Cleanup;
use strata_core::config::env;
use strata_testkit::proxy::{Claim, RedisProxy};
use strata_testkit::redis_url;

#[test]
fn the_cli_refuses_a_redis_older_than_7_naming_its_version_and_url() {
    let Some(url) = redis_url("redis_version::the_cli_refuses_a_redis_older_than_7_naming_its_version_and_url") else {
        return;
    };
    let prefix = format!("strata-cli-version-{}", std::process::id());
    let _cleanup = Cleanup(url.clone(), prefix.clone());
    // A data directory that exists, so that reading it reaches the queue.
    let s = Strata::new().env(env::REDIS_PREFIX, &prefix);
    s.ok(&["tenant", "add", "acme"]);

    let actual = RedisProxy::start(&url, Claim::Actual).expect("the proxy starts");
    let out = through(&s, actual.url(), &["queue", "stats", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert!(stats.as_array().is_some_and(|lanes| !lanes.is_empty()), "{stats}");
    assert_eq!(actual.rewrites(), []);

    let older = RedisProxy::start(&url, Claim::Redis62).expect("the proxy starts");
    for command in [&["queue", "stats"][..], &["dlq", "list"][..]] {
        let out = through(&s, older.url(), command);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "strata {command:?}: {err}");
        let rewrites = older.rewrites();
        let claimed = &rewrites.last().expect("the proxy rewrote the version").claimed;
        assert!(claimed.starts_with("6.2."), "{rewrites:?}");
        let address = older.address().to_string();
        assert!(
            err.contains(&format!("Redis at redis://{address}"))
                && err.contains(&format!("is version {claimed}; strata needs Redis 7.0 or later")),
            "strata {command:?}: {err}"
        );
    }
}

/// Runs `strata ARGS` with `STRATA_REDIS_URL` set to `url`.
fn through(s: &Strata, url: &str, args: &[&str]) -> std::process::Output {
    s.command(args).env(env::REDIS_URL, url).output().expect("strata runs")
}
