//! Artifact queries ([`ArtifactQuery`]) on both databases: every filter,
//! each sort order with its pages, and the newest N per workflow.

use super::{cases, key};
use crate::artifact::Artifact;
use crate::clock::Clock;
use crate::id::TenantId;
use crate::query::{ArtifactQuery, NamePattern, Position, SortKey, SortValue};
use crate::store::{PutOptions, Store};
use chrono::Duration;

/// An artifact stored: key, size, tags.
type Stored = (&'static str, usize, &'static [(&'static str, &'static str)]);

/// The artifacts stored, one minute apart, in order.
const STORED: &[Stored] = &[
    ("acme/nightly/nightly-1.json", 10, &[("branch", "main"), ("kind", "nightly")]),
    ("acme/nightly/nightly-2.json", 30, &[("branch", "dev"), ("kind", "nightly")]),
    ("acme/nightly/nightly-3.json", 20, &[("branch", "main")]),
    ("acme/nightly/report_1.txt", 5, &[]),
    ("acme/nightly/reportx1.txt", 6, &[]),
    ("acme/nightly/a[1].bin", 7, &[]),
    ("acme/nightly/a1.bin", 8, &[]),
    ("acme/release/v1.tar", 100, &[("branch", "main"), ("kind", "release")]),
    ("acme/release/v2.tar", 200, &[("kind", "release")]),
    ("globex/nightly/nightly-1.json", 10, &[("branch", "main")]),
];

async fn store_all(s: &Store, clock: &crate::clock::ManualClock) {
    for tenant in ["acme", "globex"] {
        s.add_tenant(&TenantId::parse(tenant).unwrap(), "pro", "test").await.unwrap();
    }
    for (k, size, tags) in STORED {
        let tags = tags.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::String((*v).to_owned()))).collect();
        let opts = PutOptions { tags, actor: "test".into(), ..PutOptions::default() };
        s.put(&key(k), &vec![b'x'; *size][..], opts).await.unwrap();
        clock.advance(Duration::minutes(1));
    }
}

fn keys(found: &[Artifact]) -> Vec<String> {
    found.iter().map(|a| a.key().to_string()).collect()
}

fn acme() -> ArtifactQuery {
    ArtifactQuery { tenant: Some(TenantId::parse("acme").unwrap()), ..ArtifactQuery::default() }
}

fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[tokio::test]
async fn filters_select_by_tag_name_size_and_time() {
    for case in cases("catalog::suite::queries::filters", |_| {}).await {
        let (s, db) = (&case.store, case.db);
        let start = case.clock.now();
        store_all(s, &case.clock).await;
        let run = |q: ArtifactQuery| async move { keys(&s.query(&q).await.unwrap()) };

        let all_of = ArtifactQuery { all_tags: tags(&[("branch", "main"), ("kind", "nightly")]), ..acme() };
        assert_eq!(run(all_of).await, ["acme/nightly/nightly-1.json"], "{db}: all of two tags");
        let any_of = ArtifactQuery { any_tags: tags(&[("branch", "dev"), ("kind", "release")]), ..acme() };
        let expected = ["acme/nightly/nightly-2.json", "acme/release/v1.tar", "acme/release/v2.tar"];
        assert_eq!(run(any_of).await, expected, "{db}: any of two tags");
        let everywhere = ArtifactQuery { all_tags: tags(&[("branch", "main")]), ..ArtifactQuery::default() };
        assert_eq!(run(everywhere).await.len(), 4, "{db}: a tag across tenants");
        let unknown = ArtifactQuery { all_tags: tags(&[("branch", "gone")]), ..acme() };
        assert!(run(unknown).await.is_empty(), "{db}");

        let pattern = |p: &str| ArtifactQuery { name: Some(NamePattern::parse(p).unwrap()), ..acme() };
        assert_eq!(run(pattern("nightly-*.json")).await.len(), 3, "{db}: a glob");
        assert_eq!(run(pattern("report_1.txt")).await, ["acme/nightly/report_1.txt"], "{db}: `_` is itself");
        assert_eq!(run(pattern("report?1.txt")).await.len(), 2, "{db}: `?` is one character");
        assert_eq!(run(pattern("a[1]*")).await, ["acme/nightly/a[1].bin"], "{db}: `[` is itself");
        assert!(run(pattern("NIGHTLY-*")).await.is_empty(), "{db}: case-sensitive");

        let sized = ArtifactQuery { min_size: Some(20), max_size: Some(100), ..acme() };
        let expected = ["acme/nightly/nightly-2.json", "acme/nightly/nightly-3.json", "acme/release/v1.tar"];
        assert_eq!(run(sized).await, expected, "{db}: both ends of a size range are in it");

        let timed = ArtifactQuery {
            created_after: Some(start + Duration::minutes(1)),
            created_before: Some(start + Duration::minutes(3)),
            ..acme()
        };
        assert_eq!(run(timed).await, ["acme/nightly/nightly-2.json", "acme/nightly/nightly-3.json"], "{db}");

        s.remove(&key("acme/release/v2.tar"), "test").await.unwrap();
        let release = ArtifactQuery { workflow: Some(crate::id::WorkflowName::parse("release").unwrap()), ..acme() };
        assert_eq!(run(release.clone()).await, ["acme/release/v1.tar"], "{db}: live only");
        let with_deleted = ArtifactQuery { include_deleted: true, ..release };
        assert_eq!(run(with_deleted).await, ["acme/release/v1.tar", "acme/release/v2.tar"], "{db}: and tombstones");
        case.finish().await;
    }
}

#[tokio::test]
async fn every_sort_order_pages_through_each_artifact_once() {
    for case in cases("catalog::suite::queries::pages", |_| {}).await {
        let (s, db) = (&case.store, case.db);
        store_all(s, &case.clock).await;
        for sort in [SortKey::Name, SortKey::Created, SortKey::Size] {
            for descending in [false, true] {
                let whole = s.query(&ArtifactQuery { sort, descending, ..acme() }).await.unwrap();
                assert_eq!(whole.len(), 9, "{db}");
                let mut sorted = whole.clone();
                sorted.sort_by(|a, b| ArtifactQuery { sort, descending, ..acme() }.order(a, b));
                assert_eq!(keys(&whole), keys(&sorted), "{db}: {sort} desc={descending} in order");
                let mut paged = Vec::new();
                let mut after: Option<Position> = None;
                loop {
                    let q = ArtifactQuery { sort, descending, after: after.clone(), limit: Some(4), ..acme() };
                    let page = s.query(&q).await.unwrap();
                    let Some(last) = page.last() else { break };
                    after = Some(Position { value: SortValue::of(last, sort), id: last.id });
                    paged.extend(page);
                }
                assert_eq!(keys(&paged), keys(&whole), "{db}: {sort} desc={descending} paged");
            }
        }
        let biggest = ArtifactQuery { sort: SortKey::Size, descending: true, limit: Some(2), ..acme() };
        assert_eq!(keys(&s.query(&biggest).await.unwrap()), ["acme/release/v2.tar", "acme/release/v1.tar"], "{db}");
        case.finish().await;
    }
}

#[tokio::test]
async fn latest_keeps_the_newest_matching_artifacts_of_each_workflow() {
    for case in cases("catalog::suite::queries::latest", |_| {}).await {
        let (s, db) = (&case.store, case.db);
        store_all(s, &case.clock).await;
        let run = |q: ArtifactQuery| async move { keys(&s.query(&q).await.unwrap()) };

        let newest = ArtifactQuery { latest: Some(1), ..acme() };
        assert_eq!(run(newest).await, ["acme/nightly/a1.bin", "acme/release/v2.tar"], "{db}: one per workflow");
        let main = ArtifactQuery {
            latest: Some(2),
            all_tags: tags(&[("branch", "main")]),
            sort: SortKey::Created,
            descending: true,
            ..acme()
        };
        let expected = ["acme/release/v1.tar", "acme/nightly/nightly-3.json", "acme/nightly/nightly-1.json"];
        assert_eq!(run(main).await, expected, "{db}: the filters first, then the newest");
        let json = ArtifactQuery {
            latest: Some(2),
            name: Some(NamePattern::parse("*.json").unwrap()),
            workflow: Some(crate::id::WorkflowName::parse("nightly").unwrap()),
            ..acme()
        };
        assert_eq!(run(json).await, ["acme/nightly/nightly-2.json", "acme/nightly/nightly-3.json"], "{db}");
        let everywhere = ArtifactQuery { latest: Some(1), ..ArtifactQuery::default() };
        let expected = ["acme/nightly/a1.bin", "acme/release/v2.tar", "globex/nightly/nightly-1.json"];
        assert_eq!(run(everywhere).await, expected, "{db}: every tenant");
        let first_page = ArtifactQuery { latest: Some(3), limit: Some(2), ..acme() };
        assert_eq!(run(first_page).await, ["acme/nightly/a1.bin", "acme/nightly/a[1].bin"], "{db}: one page");
        case.finish().await;
    }
}

#[tokio::test]
async fn a_name_prefix_across_workflows_pages_in_order_both_ways() {
    for case in cases("catalog::suite::queries::prefix", |_| {}).await {
        let (s, db) = (&case.store, case.db);
        s.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
        for k in ["w1/x-1", "w1/x-2", "w1/y", "w2/x-3", "w2/z", "w3/x-4", "w3/x-5", "w3/xx"] {
            s.put(&key(&format!("acme/{k}")), &b"bytes"[..], PutOptions::default()).await.unwrap();
        }
        s.remove(&key("acme/w2/x-3"), "test").await.unwrap();
        s.put(&key("acme/w2/x-3"), &b"again"[..], PutOptions::default()).await.unwrap();
        let walk = |descending: bool| async move {
            let mut q =
                ArtifactQuery { name: Some(NamePattern::parse("x-?").unwrap()), limit: Some(2), descending, ..acme() };
            let mut pages = Vec::new();
            loop {
                let page = s.query(&q).await.unwrap();
                let Some(last) = page.last() else { break };
                q.after = Some(Position {
                    value: SortValue::Name {
                        tenant: "acme".into(),
                        workflow: last.workflow.to_string(),
                        name: last.name.to_string(),
                    },
                    id: last.id,
                });
                pages.push(keys(&page));
            }
            pages
        };
        let forward = walk(false).await;
        let expected = [vec!["acme/w1/x-1", "acme/w1/x-2"], vec!["acme/w2/x-3", "acme/w3/x-4"], vec!["acme/w3/x-5"]];
        assert_eq!(forward, expected, "{db}: pages by name, each live artifact once");
        let backward = walk(true).await;
        let expected = [vec!["acme/w3/x-5", "acme/w3/x-4"], vec!["acme/w2/x-3", "acme/w1/x-2"], vec!["acme/w1/x-1"]];
        assert_eq!(backward, expected, "{db}: and backwards");
        let exact = ArtifactQuery { name: Some(NamePattern::parse("xx").unwrap()), limit: Some(10), ..acme() };
        assert_eq!(keys(&s.query(&exact).await.unwrap()), ["acme/w3/xx"], "{db}: a name without wildcards");
        let all = ArtifactQuery { name: Some(NamePattern::parse("x*").unwrap()), include_deleted: true, ..acme() };
        assert_eq!(s.query(&all).await.unwrap().len(), 7, "{db}: tombstones on the general path");
        case.finish().await;
    }
}
