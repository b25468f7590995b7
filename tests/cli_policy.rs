//! Policy changes through the real binary: the current configuration decides
//! for what is already stored, from the next run on; extensions and holds
//! keep their precedence; `explain` and the plans name the deciding rule.

mod common;

use common::Strata;
use strata_core::config::env;

/// Runs `strata` with extra environment variables; asserts success and
/// returns standard output.
fn ok_with(s: &Strata, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = s.command(args).envs(env.iter().copied()).output().expect("strata runs");
    assert!(out.status.success(), "strata {args:?} with {env:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn json_with(s: &Strata, env: &[(&str, &str)], args: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json");
    serde_json::from_str(&ok_with(s, env, &args)).expect("json output")
}

/// The state of `key`'s newest version, tombstones included.
fn state(s: &Strata, key: &str) -> String {
    let (tenant, rest) = key.split_once('/').expect("a key");
    let (workflow, name) = rest.split_once('/').expect("a key");
    let all = s.catalog();
    let found = all
        .as_array()
        .expect("a list")
        .iter()
        .rfind(|a| a["tenant"] == tenant && a["workflow"] == workflow && a["name"] == name)
        .unwrap_or_else(|| panic!("{key} not in the catalog"));
    found["state"].as_str().expect("a state").to_owned()
}

fn tenant_with(plan: &str, names: &[&str]) -> Strata {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme", "--plan", plan]);
    for name in names {
        let input = s.file(name, name.as_bytes());
        s.ok(&["put", &format!("acme/wf/{name}"), &input]);
    }
    s
}

#[test]
fn raising_a_plan_keeps_stored_artifacts_until_the_new_expiry() {
    let s = tenant_with("pro", &["a"]);
    s.ok(&["lifecycle", "run", "--as-of", "+366d", "--wait"]);
    assert_eq!(state(&s, "acme/wf/a"), "eligible", "365 days under the old policy");

    let pro730 = [(env::RETENTION_DAYS_PRO, "730")];
    let e = json_with(&s, &pro730, &["explain", "acme/wf/a", "--as-of", "+400d"]);
    assert_eq!(e["expiry_rule"], "plan pro: 730 days", "{e}");
    assert!(e["due"].is_null() || e["due"]["action"] != "purge", "{e}");
    ok_with(&s, &pro730, &["lifecycle", "run", "--as-of", "+400d", "--wait"]);
    assert_eq!(state(&s, "acme/wf/a"), "active", "not purged at day 400: back out of eligibility");
    assert_eq!(s.ok(&["get", "acme/wf/a"]), "a");
    assert_eq!(s.count_events("policy_changed"), 1);
    assert_eq!(s.count_events("retention_recomputed"), 1);
    assert_eq!(s.count_events("eligibility_revoked"), 1);
    let changed = s.events().into_iter().find(|e| e["event_type"] == "policy_changed").unwrap();
    assert_eq!(changed["data"]["difference"]["retention.plans.pro"]["from"], 365, "{changed}");
    assert_eq!(changed["data"]["difference"]["retention.plans.pro"]["to"], 730, "{changed}");

    ok_with(&s, &pro730, &["lifecycle", "run", "--as-of", "+729d", "--wait"]);
    assert_eq!(state(&s, "acme/wf/a"), "active");
    ok_with(&s, &pro730, &["lifecycle", "run", "--as-of", "+731d", "--wait"]);
    assert_eq!(state(&s, "acme/wf/a"), "eligible");
    ok_with(&s, &pro730, &["lifecycle", "run", "--as-of", "+739d", "--wait"]);
    assert_eq!(state(&s, "acme/wf/a"), "purged", "purged at 730 days plus the grace period");
    assert_eq!(s.count_events("policy_changed"), 1, "one recompute per change, not per run");
}

#[test]
fn lowering_the_hot_age_promotes_stored_artifacts_at_the_new_age() {
    let s = tenant_with("pro", &["a"]);
    s.ok(&["lifecycle", "run", "--as-of", "+3d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/a")["tier"], "hot", "7 days under the old policy");

    let hot2 = [(env::HOT_RETENTION_DAYS, "2")];
    let e = json_with(&s, &hot2, &["explain", "acme/wf/a", "--as-of", "+3d"]);
    assert_eq!(e["due"]["action"], "promote", "{e}");
    assert_eq!(e["due"]["rule"], "tiers.hot_days: 2 days", "{e}");
    assert!(e["due"]["at"].is_string(), "due is an object with named fields: {e}");
    let dry = ok_with(&s, &hot2, &["lifecycle", "run", "--dry-run", "--as-of", "+3d"]);
    assert!(dry.contains("tiers.hot_days: 2 days"), "{dry}");
    ok_with(&s, &hot2, &["lifecycle", "run", "--as-of", "+3d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/a")["tier"], "warm");
}

#[test]
fn an_extension_outranks_a_plan_change_and_only_an_extension_is_called_one() {
    let s = tenant_with("free", &["a", "b"]);
    s.ok(&["retention", "extend", "acme/wf/a", "--until", "+45d", "--reason", "audit"]);
    let free90 = [(env::RETENTION_DAYS_FREE, "90")];
    let a = json_with(&s, &free90, &["explain", "acme/wf/a"]);
    let b = json_with(&s, &free90, &["explain", "acme/wf/b"]);
    assert!(a["expiry_rule"].as_str().unwrap().contains("extended by `retention extend`"), "{a}");
    assert_eq!(b["expiry_rule"], "plan free: 90 days", "{b}");
    let text = ok_with(&s, &free90, &["explain", "acme/wf/b"]);
    assert!(!text.contains("extended"), "{text}");

    ok_with(&s, &free90, &["lifecycle", "run", "--as-of", "+46d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/a")["state"], "eligible", "the extension still decides");
    assert_eq!(s.artifact("acme/wf/b")["state"], "active", "the raised plan decides");
    assert_eq!(s.count_events("retention_recomputed"), 1, "only b's expiry changed");

    // A hold still outranks the policy, and explain says so.
    s.ok(&["retention", "hold", "acme/wf/b", "--reason", "case 7"]);
    let held = json_with(&s, &free90, &["explain", "acme/wf/b", "--as-of", "+200d"]);
    assert!(held["expiry_rule"].as_str().unwrap().starts_with("hold "), "{held}");
    ok_with(&s, &free90, &["lifecycle", "run", "--as-of", "+200d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/b")["state"], "active");
}

#[test]
fn cold_retention_days_purges_from_cold_at_that_age_unless_a_class_decides() {
    let s = tenant_with("pro", &["a"]);
    let input = s.file("e", b"evidence");
    s.ok(&["put", "acme/wf/e", &input, "--class", "release-evidence"]);
    let cold90 = [(env::COLD_RETENTION_DAYS, "90")];
    let e = json_with(&s, &cold90, &["explain", "acme/wf/a", "--as-of", "+91d"]);
    assert_eq!(e["expiry_rule"], "cold tier limit (tiers.cold_days): 90 days", "{e}");
    ok_with(&s, &cold90, &["lifecycle", "run", "--as-of", "+40d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/a")["tier"], "cold");
    ok_with(&s, &cold90, &["lifecycle", "run", "--as-of", "+91d", "--wait"]);
    assert_eq!(state(&s, "acme/wf/a"), "eligible");
    ok_with(&s, &cold90, &["lifecycle", "run", "--as-of", "+99d", "--wait"]);
    assert_eq!(state(&s, "acme/wf/a"), "purged");
    assert_eq!(state(&s, "acme/wf/e"), "active", "release-evidence keeps its 730 days");

    let out = s.command(&["ls"]).env(env::COLD_RETENTION_DAYS, "20").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("tiers.cold_days") && err.contains(env::COLD_RETENTION_DAYS), "{err}");
}

#[test]
fn a_bad_plan_or_class_value_names_the_key_and_what_is_accepted() {
    let s = Strata::new();
    for (toml, key, accepted) in [
        ("[retention.plans]\npro = \"forever\"\n", "retention.plans.pro", "a number of days or \"unlimited\""),
        ("[retention.plans]\nfree = -3\n", "retention.plans.free", "a number of days or \"unlimited\""),
        ("[retention.classes]\naudit = \"always\"\n", "retention.classes.audit", "or \"plan\""),
    ] {
        let path = s.file("bad.toml", toml.as_bytes());
        let out = s.command(&["--config", &path, "ls"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(key) && err.contains(accepted), "{toml}: {err}");
        assert!(!err.contains("untagged"), "{err}");
    }
    let out = s.command(&["ls"]).env(env::RETENTION_DAYS_PRO, "forever").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(env::RETENTION_DAYS_PRO) && err.contains("a number of days or \"unlimited\""), "{err}");
}
