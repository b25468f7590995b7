//! Artifact queries through the real binary and the real HTTP server on one
//! data directory: `strata ls` and `GET /v1/tenants/{t}/artifacts` give the
//! same answers to the same question, page by page in every order, and
//! refuse the same bad input.

mod common;

use common::api::Api;

/// (workflow/name, size, tags) stored in this order.
const STORED: &[(&str, usize, &[&str])] = &[
    ("nightly/nightly-1.json", 10, &["branch=main", "kind=nightly"]),
    ("nightly/nightly-2.json", 30, &["branch=dev", "kind=nightly"]),
    ("nightly/nightly-3.json", 20, &["branch=main"]),
    ("nightly/notes.txt", 5, &[]),
    ("release/v1.tar", 100, &["branch=main", "kind=release"]),
    ("release/v2.tar", 200, &["kind=release"]),
];

fn stored(api: &Api) {
    for (path, size, tags) in STORED {
        let file = api.s.file("in.bin", &vec![b'x'; *size]);
        let key = format!("acme/{path}");
        let mut args = vec!["put", key.as_str(), file.as_str()];
        for tag in *tags {
            args.extend(["--tag", tag]);
        }
        api.s.ok(&args);
    }
}

/// `workflow/name` of each artifact in a JSON list.
fn names(list: &serde_json::Value) -> Vec<String> {
    let list = list.as_array().expect("a list");
    list.iter()
        .map(|a| format!("{}/{}", a["workflow"].as_str().expect("a workflow"), a["name"].as_str().expect("a name")))
        .collect()
}

impl Api {
    /// The artifacts the API lists for `query`, following every cursor.
    async fn listed(&self, query: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        for _ in 0..20 {
            let path = format!("/v1/tenants/acme/artifacts?{query}{cursor}");
            let reply = self.call("GET", &path).token(&self.acme).send().await;
            assert_eq!(reply.status, 200, "{query}: {}", String::from_utf8_lossy(&reply.body));
            let page = reply.json();
            out.extend(names(&page["artifacts"]));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => return out,
            }
        }
        panic!("{query}: the pages do not end")
    }
}

#[tokio::test]
async fn the_cli_and_the_api_answer_every_query_alike() {
    let api = Api::start(&[]);
    stored(&api);
    let cases: &[(&[&str], &str, &[&str])] = &[
        (
            &["--tag", "branch=main"],
            "tag=branch%3Dmain",
            &["nightly/nightly-1.json", "nightly/nightly-3.json", "release/v1.tar"],
        ),
        (
            &["--tag", "branch=main", "--tag", "kind=nightly"],
            "tag=branch%3Dmain&tag=kind%3Dnightly",
            &["nightly/nightly-1.json"],
        ),
        (
            &["--any-tag", "branch=dev", "--any-tag", "kind=release"],
            "any_tag=branch%3Ddev&any_tag=kind%3Drelease",
            &["nightly/nightly-2.json", "release/v1.tar", "release/v2.tar"],
        ),
        (
            &["--name", "nightly-*.json", "--sort", "size"],
            "name=nightly-*.json&sort=size",
            &["nightly/nightly-1.json", "nightly/nightly-3.json", "nightly/nightly-2.json"],
        ),
        (&["--name", "v?.tar", "--desc"], "name=v%3F.tar&desc=true", &["release/v2.tar", "release/v1.tar"]),
        (
            &["--min-size", "20", "--max-size", "100"],
            "min_size=20&max_size=100",
            &["nightly/nightly-2.json", "nightly/nightly-3.json", "release/v1.tar"],
        ),
        (&["--latest", "1"], "latest=1", &["nightly/notes.txt", "release/v2.tar"]),
        (
            &["--latest", "2", "--tag", "branch=main", "--sort", "created", "--desc"],
            "latest=2&tag=branch%3Dmain&sort=created&desc=true",
            &["release/v1.tar", "nightly/nightly-3.json", "nightly/nightly-1.json"],
        ),
        (&["--created-before", "2000-01-01"], "created_before=2000-01-01T00:00:00Z", &[]),
        (
            &["--created-after=-1h", "--sort", "created", "--limit", "2"],
            "created_after=2000-01-01T00:00:00Z&sort=created&limit=2",
            &["nightly/nightly-1.json", "nightly/nightly-2.json"],
        ),
    ];
    for (args, query, expected) in cases {
        let mut cli = vec!["ls", "acme"];
        cli.extend_from_slice(args);
        assert_eq!(names(&api.s.json(&cli)), *expected, "strata {}", cli.join(" "));
        // The API pages through everything; the CLI's --limit is one page.
        let mut http = api.listed(query).await;
        if args.contains(&"--limit") {
            http.truncate(expected.len());
        }
        assert_eq!(http, *expected, "GET ?{query}");
    }
}

#[tokio::test]
async fn every_order_pages_through_each_artifact_once() {
    let api = Api::start(&[]);
    stored(&api);
    // Stored one after the other: creation order is the list's order.
    let by_created: Vec<String> = STORED.iter().map(|(path, _, _)| (*path).to_owned()).collect();
    let mut by_name = by_created.clone();
    by_name.sort();
    let mut by_size = STORED.to_vec();
    by_size.sort_by_key(|(_, size, _)| *size);
    let by_size: Vec<String> = by_size.iter().map(|(path, _, _)| (*path).to_owned()).collect();
    for (sort, ascending) in [("name", by_name), ("created", by_created), ("size", by_size)] {
        for desc in [false, true] {
            let mut expected = ascending.clone();
            if desc {
                expected.reverse();
            }
            let mut cli = vec!["ls", "acme", "--sort", sort];
            if desc {
                cli.push("--desc");
            }
            assert_eq!(names(&api.s.json(&cli)), expected, "strata {}", cli.join(" "));
            let paged = api.listed(&format!("sort={sort}&desc={desc}&limit=2")).await;
            assert_eq!(paged, expected, "sort={sort} desc={desc}, two at a time");
        }
    }
}

#[tokio::test]
async fn bad_queries_are_refused_alike_and_change_nothing() {
    let api = Api::start(&[]);
    stored(&api);
    let before = api.s.catalog();
    let cases: &[(&[&str], &str, &str)] = &[
        (&["--latest", "0"], "latest=0", "latest"),
        (&["--latest", "1001"], "latest=1001", "latest"),
        (&["--min-size", "5", "--max-size", "4"], "min_size=5&max_size=4", "size"),
        (&["--min-size=-1"], "min_size=-1", "min"),
        (&["--max-size", "9223372036854775808"], "max_size=9223372036854775808", "max"),
        (&["--name", "a/b"], "name=a%2Fb", "name pattern"),
        (&["--name", ""], "name=", "name pattern"),
        (&["--sort", "colour"], "sort=colour", "sort"),
        (
            &["--created-after", "2027-01-02", "--created-before", "2027-01-01"],
            "created_after=2027-01-02T00:00:00Z&created_before=2027-01-01T00:00:00Z",
            "created",
        ),
        (&["--tag", "novalue"], "tag=novalue", "key=value"),
    ];
    for (args, query, says) in cases {
        let mut cli = vec!["ls", "acme"];
        cli.extend_from_slice(args);
        let err = api.s.fails(&cli, 2);
        assert!(err.contains(says), "strata {}: {err}", cli.join(" "));
        let reply = api.call("GET", &format!("/v1/tenants/acme/artifacts?{query}")).token(&api.acme).send().await;
        let problem = reply.problem(400, "bad-request");
        assert!(problem["detail"].as_str().unwrap().contains(says), "?{query}: {problem}");
    }
    // A cursor of one order is refused by another.
    let path = "/v1/tenants/acme/artifacts?sort=size&cursor=c.1.1";
    let problem = api.call("GET", path).token(&api.acme).send().await.problem(400, "bad-request");
    assert!(problem["detail"].as_str().unwrap().contains("sorted by created"), "{problem}");
    assert_eq!(api.s.catalog(), before, "nothing changed");
}
