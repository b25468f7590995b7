//! Holds through the real binary: a held artifact is never eligible, purged
//! or deleted, whatever its age; releasing the hold lets the rules apply.

mod common;

use common::Strata;

fn free_tenant_with(names: &[&str]) -> Strata {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme", "--plan", "free"]);
    for name in names {
        let input = s.file(name, name.as_bytes());
        s.ok(&["put", &format!("acme/wf/{name}"), &input]);
    }
    s
}

#[test]
fn a_held_artifact_outlives_its_retention_until_released() {
    let s = free_tenant_with(&["kept", "other"]);
    let hold = s.json(&["retention", "hold", "acme/wf/kept", "--reason", "litigation 42", "--actor", "legal"]);
    let id = hold["id"].as_i64().unwrap().to_string();
    assert_eq!(s.artifact("acme/wf/kept")["held"], true);

    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/kept")["state"], "active", "held: never eligible");
    assert_eq!(s.artifact("acme/wf/other")["state"], "eligible");
    s.ok(&["lifecycle", "run", "--as-of", "+400d", "--wait"]);
    assert_eq!(s.ok(&["get", "acme/wf/kept"]), "kept", "held: never purged");
    s.fails(&["get", "acme/wf/other"], 2);

    let err = s.fails(&["rm", "acme/wf/kept"], 2);
    assert!(err.contains("held"), "{err}");
    let err = s.fails(&["put", "acme/wf/kept", &s.file("x", b"x"), "--overwrite"], 2);
    assert!(err.contains("held"), "{err}");
    s.fails(&["retention", "release", "acme/wf/kept", "999", "--reason", "done"], 2);
    s.fails(&["retention", "release", "acme/wf/other", &id, "--reason", "done"], 2);
    s.fails(&["retention", "release", "acme/wf/kept", &id, "--reason", ""], 2);

    s.ok(&["retention", "release", "acme/wf/kept", &id, "--reason", "case closed"]);
    s.fails(&["retention", "release", "acme/wf/kept", &id, "--reason", "again"], 2);
    s.ok(&["lifecycle", "run", "--as-of", "+400d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/kept")["state"], "eligible", "the rules apply again");
    s.ok(&["lifecycle", "run", "--as-of", "+408d", "--wait"]);
    s.fails(&["get", "acme/wf/kept"], 2);

    let history = s.json(&["retention", "history", "acme/wf/kept"]);
    let kinds: Vec<&str> = history.as_array().unwrap().iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["ingested", "retention.default_applied", "hold_applied", "hold_released", "deletion_eligible", "purged"]
    );
    assert_eq!(history[2]["reason"], "litigation 42");
    assert_eq!(history[2]["actor"], "legal");
}

#[test]
fn a_tenant_hold_revokes_eligibility_and_blocks_every_purge() {
    let s = free_tenant_with(&["a", "b", "c"]);
    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/a")["state"], "eligible");
    let out = s.ok(&["retention", "hold", "acme", "--reason", "legal hold"]);
    assert!(out.contains("Placed hold 1 on acme"), "{out}");
    for name in ["a", "b", "c"] {
        assert_eq!(s.artifact(&format!("acme/wf/{name}"))["state"], "active", "{name} left eligibility");
    }
    assert_eq!(s.count_events("eligibility_revoked"), 3);
    s.ok(&["lifecycle", "run", "--as-of", "+500d", "--wait"]);
    assert_eq!(s.json(&["ls", "acme"]).as_array().unwrap().len(), 3, "nothing purged under a legal hold");
    let holds = s.json(&["retention", "holds"]);
    assert_eq!(holds.as_array().unwrap().len(), 1);
    assert_eq!(holds[0]["workflow"], serde_json::Value::Null);

    // A workflow hold only covers its workflow.
    let input = s.file("d", b"d");
    s.ok(&["put", "acme/other/d", &input]);
    s.ok(&["retention", "hold", "acme/wf", "--reason", "audit"]);
    s.ok(&["retention", "release", "acme", "1", "--reason", "lifted"]);
    s.ok(&["lifecycle", "run", "--as-of", "+600d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/a")["state"], "active", "still under the workflow hold");
    assert_eq!(s.artifact("acme/other/d")["state"], "eligible");
    assert_eq!(s.json(&["retention", "holds", "--all"]).as_array().unwrap().len(), 2);
}

#[test]
fn holds_need_a_known_target_and_a_reason() {
    let s = free_tenant_with(&["a"]);
    s.fails(&["retention", "hold", "acme/wf/missing", "--reason", "x"], 2);
    s.fails(&["retention", "hold", "nobody", "--reason", "x"], 2);
    s.fails(&["retention", "hold", "acme/wf/a"], 2);
    s.fails(&["retention", "hold", "acme/wf/a", "--reason", "  "], 2);
    s.fails(&["retention", "hold", "acme/../a", "--reason", "x"], 2);
    assert!(s.json(&["retention", "holds", "--all"]).as_array().unwrap().is_empty());
}

#[test]
fn extensions_are_strictly_later_reasoned_and_revoke_eligibility() {
    let s = free_tenant_with(&["a"]);
    let input = s.file("p", b"p");
    s.ok(&["put", "acme/wf/forever", &input, "--class", "permanent-record"]);
    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/a")["state"], "eligible");

    s.fails(&["retention", "extend", "acme/wf/a", "--until", "+10d", "--reason", "too early"], 2);
    s.fails(&["retention", "extend", "acme/wf/a", "--until", "+60d", "--reason", ""], 2);
    s.fails(&["retention", "extend", "acme/wf/a", "--until", "someday", "--reason", "x"], 2);
    let err = s.fails(&["retention", "extend", "acme/wf/forever", "--until", "+60d", "--reason", "x"], 2);
    assert!(err.contains("never expires"), "{err}");

    s.ok(&["retention", "extend", "acme/wf/a", "--until", "+60d", "--reason", "customer request 7"]);
    let a = s.artifact("acme/wf/a");
    assert_eq!(a["state"], "active", "a future expiry takes it out of eligibility");
    assert_eq!(s.count_events("eligibility_revoked"), 1);
    s.ok(&["lifecycle", "run", "--as-of", "+59d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/a")["state"], "active");
    s.ok(&["lifecycle", "run", "--as-of", "+61d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/a")["state"], "eligible");

    let history = s.json(&["retention", "history", "acme/wf/a"]);
    let kinds: Vec<&str> = history.as_array().unwrap().iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "ingested",
            "retention.default_applied",
            "deletion_eligible",
            "retention.extended",
            "eligibility_revoked",
            "deletion_eligible"
        ]
    );
    assert_eq!(history[3]["reason"], "customer request 7");
}

#[test]
fn explain_says_why_and_what_next() {
    let s = free_tenant_with(&["a"]);
    s.ok(&["retention", "hold", "acme/wf", "--reason", "audit"]);
    let e = s.json(&["explain", "acme/wf/a", "--as-of", "+31d"]);
    assert_eq!(e["plan"], "free");
    assert!(e["expiry_rule"].as_str().unwrap().contains("plan free: 30 days"), "{e}");
    assert_eq!(e["holds"].as_array().unwrap().len(), 1);
    assert_eq!(e["due"]["action"], "compress", "held: the move is due, eligibility is not");
    let text = s.ok(&["explain", "acme/wf/a"]);
    assert!(text.contains("hold 1") && text.contains("workflow wf") && text.contains("next:      promote"), "{text}");
    s.fails(&["explain", "acme/wf/missing"], 2);
}

#[test]
fn a_plan_change_recomputes_plan_based_expiry_with_an_event_each() {
    let s = free_tenant_with(&["a", "d"]);
    let input = s.file("x", b"x");
    s.ok(&["put", "acme/wf/b", &input, "--class", "ephemeral"]);
    s.ok(&["put", "acme/wf/c", &input, "--class", "standard"]);
    s.ok(&["retention", "extend", "acme/wf/d", "--until", "+45d", "--reason", "kept a little longer"]);
    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    for (name, state) in [("a", "eligible"), ("b", "eligible"), ("c", "eligible"), ("d", "active")] {
        assert_eq!(s.artifact(&format!("acme/wf/{name}"))["state"], state, "{name}");
    }
    s.fails(&["tenant", "set-plan", "acme", "platinum"], 2);
    let out = s.ok(&["tenant", "set-plan", "acme", "pro"]);
    assert!(out.contains("recomputed the expiry of 2 artifacts"), "{out}");
    for (name, state) in [("a", "active"), ("b", "eligible"), ("c", "active"), ("d", "active")] {
        assert_eq!(s.artifact(&format!("acme/wf/{name}"))["state"], state, "{name} after the plan change");
    }
    assert_eq!(s.count_events("retention_recomputed"), 2);
    assert_eq!(s.count_events("plan_changed"), 1);
    assert_eq!(s.json(&["tenant", "ls"])[0]["plan"], "pro");
    let history = s.json(&["retention", "history", "acme/wf/a"]);
    assert!(history.as_array().unwrap().iter().any(|e| e["event_type"] == "retention_recomputed"));
    s.ok(&["lifecycle", "run", "--as-of", "+100d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/a")["state"], "active", "pro keeps it 365 days");
}

#[test]
fn erasure_deletes_whatever_the_plan_except_held_artifacts() {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme", "--plan", "enterprise"]);
    s.ok(&["tenant", "add", "globex", "--plan", "enterprise"]);
    for key in ["acme/a/1", "acme/a/2", "acme/b/3", "globex/a/1"] {
        let input = s.file("in", key.as_bytes());
        s.ok(&["put", key, &input, "--class", "release-evidence"]);
    }
    let input = s.file("in", b"ledger");
    s.ok(&["put", "acme/b/ledger", &input, "--class", "permanent-record"]);
    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    s.ok(&["retention", "hold", "acme/b/3", "--reason", "litigation"]);
    s.fails(&["erase", "acme", "--reason", ""], 2);
    s.fails(&["erase", "nobody", "--reason", "x"], 2);

    let out = s.json(&["erase", "acme", "--reason", "GDPR request 77", "--wait"]);
    assert_eq!(out["erased"], 2, "{out}");
    assert_eq!(
        out["blocked"],
        serde_json::json!(["acme/b/3", "acme/b/ledger"]),
        "held and permanent records outrank erasure"
    );
    assert_eq!(s.ok(&["get", "acme/b/ledger"]), "ledger");
    s.fails(&["get", "acme/a/1"], 2);
    s.fails(&["get", "acme/a/2"], 2);
    assert_eq!(s.ok(&["get", "acme/b/3"]), "acme/b/3", "held: never erased");
    assert_eq!(s.ok(&["get", "globex/a/1"]), "globex/a/1", "other tenants untouched");
    assert_eq!(s.blob_files("cold").len(), 3, "the erased bytes are gone");
    let erased: Vec<_> = s.events().into_iter().filter(|e| e["event_type"] == "erased").collect();
    assert_eq!(erased.len(), 2);
    assert_eq!(erased[0]["reason"], "GDPR request 77");

    // Idempotent: nothing left to erase but the held artifact, still reported.
    let again = s.json(&["erase", "acme", "--reason", "GDPR request 77", "--wait"]);
    assert_eq!(again["artifacts"], 0);
    assert_eq!(again["blocked"][0], "acme/b/3");
    assert_eq!(again["blocked"].as_array().unwrap().len(), 2);
    assert_eq!(s.count_events("erased"), 2);
    assert_eq!(s.count_events("erasure_requested"), 2);

    s.ok(&["erase", "globex/a/1", "--reason", "one artifact", "--wait"]);
    s.fails(&["get", "globex/a/1"], 2);
    assert_eq!(s.json(&["ls", "--all"]).as_array().unwrap().iter().filter(|a| a["state"] == "erased").count(), 3);
}

#[test]
fn the_newest_n_of_a_workflow_are_never_eligible() {
    let s = Strata::new();
    let cfg = s.file("strata.toml", b"[retention]\nkeep_latest = 1\n[retention.keep_latest_by_plan]\nfree = 2\n");
    let run = |args: &[&str]| {
        let mut all = vec!["--config", cfg.as_str()];
        all.extend_from_slice(args);
        s.ok(&all)
    };
    run(&["tenant", "add", "acme", "--plan", "free"]);
    run(&["tenant", "add", "globex", "--plan", "pro"]);
    for key in ["acme/wf/1", "acme/wf/2", "acme/wf/3", "acme/wf/4", "acme/other/5", "globex/wf/1", "globex/wf/2"] {
        let input = s.file("in", key.as_bytes());
        run(&["put", key, &input]);
    }
    run(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    run(&["lifecycle", "run", "--as-of", "+400d", "--wait"]);
    run(&["lifecycle", "run", "--as-of", "+410d", "--wait"]);
    let live: Vec<String> = serde_json::from_str::<serde_json::Value>(&run(&["ls", "--json"]))
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}/{}/{}",
                a["tenant"].as_str().unwrap(),
                a["workflow"].as_str().unwrap(),
                a["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(live, ["acme/other/5", "acme/wf/3", "acme/wf/4", "globex/wf/2"], "free keeps 2 per workflow, pro 1");
    // A newer upload pushes the oldest kept one out.
    let input = s.file("in", b"newest");
    run(&["put", "acme/wf/6", &input]);
    run(&["lifecycle", "run", "--as-of", "+800d", "--wait"]);
    run(&["lifecycle", "run", "--as-of", "+810d", "--wait"]);
    let out = run(&["ls", "acme/wf", "--json"]);
    let names: Vec<String> = serde_json::from_str::<serde_json::Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["4", "6"]);
}

#[test]
fn the_sweep_marks_eligible_once_and_does_nothing_else() {
    let s = free_tenant_with(&["a", "b"]);
    let out = s.ok(&["retention", "sweep", "--as-of", "+31d", "--dry-run"]);
    assert!(
        out.contains("Would mark acme/wf/a eligible") && out.contains("2 artifacts would become eligible"),
        "{out}"
    );
    assert_eq!(s.count_events("deletion_eligible"), 0);
    let out = s.ok(&["retention", "sweep", "--as-of", "+31d"]);
    assert!(out.contains("2 artifacts became eligible"), "{out}");
    assert_eq!(s.count_events("deletion_eligible"), 2);
    let n = s.events().len();
    let out = s.ok(&["retention", "sweep", "--as-of", "+31d"]);
    assert!(out.contains("0 artifacts became eligible"), "{out}");
    assert_eq!(s.events().len(), n, "a repeated sweep emits nothing");
    assert_eq!(s.artifact("acme/wf/a")["tier"], "hot", "the sweep only decides eligibility");
}

#[test]
fn a_hold_survives_everything_until_released() {
    let s = Strata::new();
    s.ok(&["tenant", "add", "acme", "--plan", "pro"]);
    let bytes = common::noise(20_000, 5);
    let input = s.file("in", &bytes);
    s.ok(&["put", "acme/wf/evidence.bin", &input]);
    let hold = s.json(&["retention", "hold", "acme/wf/evidence.bin", "--reason", "litigation"]);
    let id = hold["id"].as_i64().unwrap().to_string();

    s.ok(&["lifecycle", "run", "--as-of", "+400d", "--wait"]); // expiry passes
    s.ok(&["tenant", "set-plan", "acme", "free"]); // plan downgrade
    let erase = s.json(&["erase", "acme", "--reason", "GDPR", "--wait"]); // erasure request
    assert_eq!(erase["blocked"][0], "acme/wf/evidence.bin");
    s.ok(&["retention", "sweep", "--as-of", "+500d"]); // sweeps
    s.ok(&["lifecycle", "run", "--as-of", "+600d", "--wait"]);
    let a = s.artifact("acme/wf/evidence.bin");
    assert_eq!(a["state"], "active", "{a}");
    let out = s.path("out.bin");
    s.ok(&["get", "acme/wf/evidence.bin", "-o", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), bytes, "bytes intact");
    assert_eq!(s.count_events("deletion_eligible") + s.count_events("purged") + s.count_events("erased"), 0);

    s.ok(&["retention", "release", "acme/wf/evidence.bin", &id, "--reason", "case closed"]);
    s.ok(&["retention", "sweep", "--as-of", "+600d"]);
    assert_eq!(s.artifact("acme/wf/evidence.bin")["state"], "eligible");
    s.ok(&["lifecycle", "run", "--as-of", "+606d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/evidence.bin")["state"], "eligible", "still in its grace period");
    s.ok(&["lifecycle", "run", "--as-of", "+608d", "--wait"]);
    s.fails(&["get", "acme/wf/evidence.bin"], 2);
    assert_eq!(s.count_events("purged"), 1);
}

#[test]
fn bad_retention_input_is_refused_and_changes_nothing() {
    let s = free_tenant_with(&["a"]);
    let hold = s.json(&["retention", "hold", "acme/wf/a", "--reason", "x"]);
    let id = hold["id"].as_i64().unwrap().to_string();
    s.ok(&["retention", "release", "acme/wf/a", &id, "--reason", "done"]);
    let before = (s.catalog(), s.events().len(), s.json(&["retention", "holds", "--all"]));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["retention", "extend", "acme/wf/a", "--until", "+1d", "--reason", "x"], "must be later"),
        (vec!["retention", "extend", "acme/wf/a", "--until", "+90d", "--reason", " "], "reason"),
        (vec!["retention", "extend", "acme/wf/a", "--until", "2027-13-45", "--reason", "x"], "not a time"),
        (vec!["retention", "release", "acme/wf/a", "999", "--reason", "x"], "no active hold 999"),
        (vec!["retention", "release", "acme/wf/a", &id, "--reason", "again"], "no active hold"),
        (vec!["retention", "hold", "acme/wf/a", "--reason", ""], "reason"),
        (vec!["erase", "nobody", "--reason", "x"], "unknown tenant"),
        (vec!["erase", "acme", "--reason", ""], "reason"),
        (vec!["retention", "sweep", "--as-of", "yesterday-ish"], "not a time"),
        (vec!["explain", "acme/wf/a", "--as-of", "+5x"], "not a time"),
        (vec!["tenant", "set-plan", "acme", "gold"], "unknown plan"),
    ];
    for (args, message) in cases {
        let err = s.fails(&args, 2);
        assert!(err.contains(message), "{args:?}: expected {message:?} in {err}");
    }
    assert_eq!(
        (s.catalog(), s.events().len(), s.json(&["retention", "holds", "--all"])),
        before,
        "bad input changed something"
    );
}

#[test]
fn a_compliance_hold_cannot_be_released_before_its_date() {
    let s = free_tenant_with(&["a"]);
    let out = s.ok(&["retention", "hold", "acme/wf", "--reason", "regulator", "--until", "+365d"]);
    assert!(out.contains("Placed compliance hold 1 on acme/wf (regulator): nobody can release it before"), "{out}");
    let err = s.fails(&["retention", "release", "acme/wf", "1", "--reason", "early"], 2);
    assert!(err.contains("hold 1 on acme/wf is a compliance hold until"), "{err}");
    assert_eq!(s.count_events("hold_release_refused"), 1);
    let holds = s.json(&["retention", "holds"]);
    assert_eq!((&holds[0]["owner"], holds[0]["until"].is_string()), (&serde_json::json!("operator"), true));
    let table = s.ok(&["retention", "holds"]);
    assert!(table.contains("owner") && table.contains("until") && table.contains("operator"), "{table}");
    s.ok(&["lifecycle", "run", "--as-of", "+400d", "--wait"]);
    assert_eq!(s.artifact("acme/wf/a")["state"], "active", "held: never eligible");

    for until in ["-1d", "now", "+40000d", "someday"] {
        s.fails(&["retention", "hold", "acme/wf", "--reason", "r", "--until", until], 2);
    }
    assert_eq!(s.json(&["retention", "holds", "--all"]).as_array().unwrap().len(), 1);
}

/// The (artifact, event, rule) triples of an upcoming listing, in order.
fn steps(listing: &serde_json::Value) -> Vec<(String, String, String)> {
    let field = |s: &serde_json::Value, k: &str| s[k].as_str().expect("a text field").to_owned();
    listing.as_array().expect("a list").iter().map(|s| (field(s, "key"), field(s, "event"), field(s, "rule"))).collect()
}

#[test]
fn upcoming_deletions_say_what_when_and_by_which_rule_and_leave_the_held_out() {
    let s = free_tenant_with(&["a", "b", "held"]);
    s.ok(&["retention", "hold", "acme/wf/held", "--reason", "audit"]);
    let step = |key: &str, event: &str, rule: &str| (format!("acme/wf/{key}"), event.to_owned(), rule.to_owned());

    assert_eq!(s.json(&["retention", "upcoming"]), serde_json::json!([]), "nothing within a week");
    let eligible =
        [step("a", "deletion_eligible", "plan free: 30 days"), step("b", "deletion_eligible", "plan free: 30 days")];
    let month = s.json(&["retention", "upcoming", "--within", "35d"]);
    assert_eq!(steps(&month), eligible);
    assert_eq!(month[0]["follows"], false);
    let grace = |key: &str| step(key, "purged", "retention.grace_days: 7 days");
    let longer = s.json(&["retention", "upcoming", "--within", "40d", "--tenant", "acme"]);
    assert_eq!(steps(&longer), [eligible[0].clone(), eligible[1].clone(), grace("a"), grace("b")]);
    assert_eq!(longer[2]["follows"], true, "the purge counts from the eligibility before it");
    let table = s.ok(&["retention", "upcoming", "--within", "40d"]);
    assert!(table.contains("2 artifacts become eligible for deletion, 2 are purged"), "{table}");
    assert!(table.contains("plan free: 30 days") && !table.contains("acme/wf/held"), "{table}");

    // What it announced is what happens: once eligible, the purges remain.
    s.ok(&["lifecycle", "run", "--as-of", "+31d", "--wait"]);
    let after = s.json(&["retention", "upcoming", "--as-of", "+31d", "--within", "7d"]);
    assert_eq!(steps(&after), [grace("a"), grace("b")]);
    assert_eq!(after[0]["follows"], false);
    s.ok(&["lifecycle", "run", "--as-of", "+39d", "--wait"]);
    for key in ["acme/wf/a", "acme/wf/b"] {
        s.fails(&["get", key], 2);
    }
    assert_eq!(s.ok(&["get", "acme/wf/held"]), "held");
    assert_eq!(s.json(&["retention", "upcoming", "--as-of", "+39d", "--within", "365d"]), serde_json::json!([]));

    for bad in ["--within=-1d", "--within=7", "--within=7w", "--as-of=soon"] {
        let err = s.fails(&["retention", "upcoming", bad], 2);
        let flag = bad.split('=').next().unwrap();
        assert!(err.contains(flag), "{bad}: {err}");
    }
    s.fails(&["retention", "upcoming", "--tenant", "nobody"], 2);
    s.fails(&["retention", "upcoming", "--tenant", "Not A Tenant"], 2);
}
