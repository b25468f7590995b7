//! A cluster on one machine as it would run on many: two `strata serve`,
//! two `strata scheduler` and three `strata worker` processes, each with an
//! empty data directory of its own, sharing only PostgreSQL (the catalog),
//! Redis (the queue) and an S3 bucket (the tiers, on the `moto` server).
//!
//! Artifacts uploaded through one server go hot → warm → cold → eligible →
//! purged (a few, held, stay cold), time driven by `lifecycle run --as-of`,
//! while a worker and the leading scheduler are SIGKILLed mid-run; they are
//! read back through the other server from every tier, and a restore asked
//! of that server is carried out.
//!
//! The number of artifacts is `STRATA_MULTI_NODE_ARTIFACTS`, and a fifth
//! more are uploaded after the kills. The default is 1,000, not 5,000: every
//! tier move is several round trips to the single-threaded `moto` server,
//! which sets the pace. On a loaded 2-core machine the whole test took 24 s
//! with 200, 43 s with 500 and 70 s with 1,000; 5,000 would take about six
//! minutes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use strata_core::artifact::{Artifact, Codec, State, Tier};
use strata_testkit::emulators::{Emulator, Kind};
use strata_testkit::{database_url, redis_url};

use common::cluster::Cluster;
use common::log_text;

/// The variable that overrides how many artifacts the test uploads.
const ARTIFACTS_VAR: &str = "STRATA_MULTI_NODE_ARTIFACTS";

/// How many artifacts the test uploads unless `STRATA_MULTI_NODE_ARTIFACTS` says.
const DEFAULT_ARTIFACTS: usize = 5_000;

/// The bucket holding the three tiers.
const BUCKET: &str = "strata-cluster";

/// Uploads in flight at once.
const UPLOADS_IN_FLIGHT: usize = 8;

/// How long one stage may take before the test fails: 120 s, and 50 ms
/// more for each artifact past 2,000 (the S3 emulator answers a few
/// hundred requests a second, and a stage makes several per artifact).
fn stage_within(total: usize) -> Duration {
    Duration::from_secs(120)
        + Duration::from_millis(50) * u32::try_from(total.saturating_sub(2_000)).unwrap_or(u32::MAX)
}

/// The bytes of artifact `i`: text that compresses, unique to it.
fn bytes_of(i: usize) -> Vec<u8> {
    let mut bytes = format!("artifact {i}\n").into_bytes();
    bytes.extend(log_text(8 + i % 16));
    bytes
}

/// The name of artifact `i` in workflow `wf` of tenant `acme`.
fn name_of(i: usize) -> String {
    format!("a{i:05}")
}

/// The configuration every process reads: the tiers in the bucket, fresh
/// artifacts due for the warm tier at once (so the schedulers, on the real
/// clock, drive hot → warm), short leases.
fn config(moto: &Emulator) -> String {
    let endpoint = moto.endpoint();
    let tiers: String = ["hot", "warm", "cold"]
        .iter()
        .map(|tier| {
            format!(
                "[storage.{tier}]\nurl = \"s3://{BUCKET}/{tier}\"\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\n\
                 allow_http = true\naccess_key_id = \"strata-test\"\nsecret_access_key = \"strata-test-secret\"\n"
            )
        })
        .collect();
    format!(
        "[tiers]\nhot_days = 0\n[jobs]\nvisibility_timeout_secs = 2\n\
         [scheduler]\ncron = \"* * * * * *\"\nleader_ttl_secs = 3\n{tiers}"
    )
}

/// The API clients: server A takes the uploads, server B the reads and restores.
struct Http {
    client: reqwest::Client,
    a: String,
    b: String,
    token: String,
}

impl Http {
    fn url(base: &str, i: usize) -> String {
        format!("{base}/v1/tenants/acme/artifacts/wf/{}", name_of(i))
    }

    /// Uploads every artifact of `range` through server A; asserts each is created hot.
    fn upload(&self, cluster: &Cluster, range: std::ops::Range<usize>) {
        cluster.runtime.block_on(async {
            futures::stream::iter(range)
                .map(|i| async move {
                    let reply = self
                        .client
                        .put(Self::url(&self.a, i))
                        .bearer_auth(&self.token)
                        .header("content-type", "text/plain")
                        .body(bytes_of(i))
                        .send()
                        .await
                        .expect("server A answers");
                    let status = reply.status().as_u16();
                    let body = reply.bytes().await.expect("a whole answer");
                    let body: serde_json::Value = serde_json::from_slice(&body).expect("a JSON answer");
                    assert_eq!(status, 201, "{body}");
                    assert_eq!(body["tier"], "hot", "{body}");
                })
                .buffer_unordered(UPLOADS_IN_FLIGHT)
                .collect::<Vec<()>>()
                .await
        });
    }

    /// Reads every artifact of `sample` through server B and compares its bytes.
    fn assert_reads(&self, cluster: &Cluster, sample: &[usize], stage: &str) {
        cluster.runtime.block_on(async {
            for &i in sample {
                let reply = self.client.get(Self::url(&self.b, i)).bearer_auth(&self.token).send().await;
                let reply = reply.expect("server B answers");
                assert_eq!(reply.status().as_u16(), 200, "{stage}: {}", name_of(i));
                let body = reply.bytes().await.expect("a whole body");
                assert!(body[..] == bytes_of(i)[..], "{stage}: {} comes back with its bytes", name_of(i));
            }
        });
    }

    /// Asks server B to restore artifact `i`.
    fn restore(&self, cluster: &Cluster, i: usize) {
        cluster.runtime.block_on(async {
            let url = format!("{}/restore", Self::url(&self.b, i));
            let reply = self.client.post(url).bearer_auth(&self.token).send().await.expect("server B answers");
            assert_eq!(reply.status().as_u16(), 202, "{}", reply.text().await.unwrap_or_default());
        });
    }
}

/// The catalog's artifacts by number.
fn by_number(cluster: &Cluster) -> BTreeMap<usize, Artifact> {
    cluster.all().into_iter().map(|a| (a.name.as_str()[1..].parse().expect("a numbered name"), a)).collect()
}

/// Asserts that every artifact of `sample` is live in `tier`.
fn assert_tier(cluster: &Cluster, sample: &[usize], tier: Tier) {
    let all = by_number(cluster);
    for i in sample {
        let a = &all[i];
        assert_eq!((a.tier, a.state.is_live()), (tier, true), "{}", name_of(*i));
    }
}

/// Runs `lifecycle run --as-of as_of` on a node of no role (planning only:
/// the workers do the work) until `done`, planning again every 2 s for what
/// was not yet planned; fails after the cluster's `stage_within`.
fn drive(cluster: &mut Cluster, as_of: &str, killed: &[usize], done: &dyn Fn(&Cluster) -> bool) {
    let started = Instant::now();
    let mut planned = Instant::now() - Duration::from_secs(60);
    while !done(cluster) {
        assert!(started.elapsed() < cluster.stage_within, "the run as of {as_of} did not finish: {:?}", cluster.logs());
        cluster.assert_alive_but(killed);
        if planned.elapsed() >= Duration::from_secs(2) {
            cluster.seed.ok(&["lifecycle", "run", "--as-of", as_of]);
            planned = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every object in the bucket.
fn bucket(cluster: &Cluster, moto: &Emulator) -> BTreeSet<String> {
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(BUCKET)
        .with_endpoint(moto.endpoint())
        .with_region("us-east-1")
        .with_allow_http(true)
        .with_access_key_id("strata-test")
        .with_secret_access_key("strata-test-secret")
        .build()
        .expect("an S3 client");
    cluster.runtime.block_on(async {
        store.list(None).map_ok(|meta| meta.location.to_string()).try_collect().await.expect("the listing")
    })
}

/// The object key of a live artifact's blob.
fn blob_key(a: &Artifact) -> String {
    let suffix = if a.codec == Codec::Zstd { ".zst" } else { "" };
    format!("{}/{}/{}/{}{suffix}", a.tier.as_str(), a.tenant.as_str(), &a.blake3[..2], a.blake3)
}

/// How many events of `kind` each artifact has.
fn events_per_artifact(cluster: &Cluster, kind: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for e in cluster.events(kind) {
        *counts.entry(e.artifact_id.expect("an artifact event")).or_default() += 1;
    }
    counts
}

/// Asserts that exactly the artifacts `expected` have one event of `kind` each.
fn assert_once(cluster: &Cluster, kind: &str, expected: impl IntoIterator<Item = usize>) {
    let expected: BTreeMap<String, usize> = expected.into_iter().map(|i| (name_of(i), 1)).collect();
    let counts = events_per_artifact(cluster, kind);
    if counts != expected {
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        let missing: Vec<_> = expected.keys().filter(|k| !counts.contains_key(*k)).collect();
        let extra: Vec<_> = counts.keys().filter(|k| !expected.contains_key(*k)).collect();
        panic!("`{kind}`: more than once {twice:?}; missing {missing:?}; unexpected {extra:?}");
    }
}

/// The whole lifecycle on two servers, two schedulers and three workers
/// with nothing shared on local disk, through the loss of a worker and of
/// the leading scheduler.
#[test]
fn a_cluster_of_separate_nodes_runs_the_whole_lifecycle_through_kills() {
    const TEST: &str = "multi_node::a_cluster_of_separate_nodes_runs_the_whole_lifecycle_through_kills";
    let (Some(db), Some(redis)) = (database_url(TEST), redis_url(TEST)) else { return };
    let Some(moto) = Emulator::start(TEST, Kind::Moto) else { return };
    let n: usize = std::env::var(ARTIFACTS_VAR)
        .map(|v| v.trim().parse().unwrap_or_else(|_| panic!("{ARTIFACTS_VAR}={v:?}: expected a count")))
        .unwrap_or(DEFAULT_ARTIFACTS);
    assert!(n >= 100, "{ARTIFACTS_VAR} must be at least 100");
    // Uploaded after the kills: only the standby scheduler can plan these.
    let later = n / 5;
    let total = n + later;
    let held: Vec<usize> = (0..total).step_by(total / 10).take(5).map(|i| i + 1).collect();
    let restored: Vec<usize> = (0..total).step_by(total / 10).take(5).map(|i| i + 2).collect();
    let sample: Vec<usize> = (0..total).step_by(total / 20).chain([total - 1]).collect();

    moto.create_bucket(BUCKET).expect("the bucket");
    let mut cluster = Cluster::new(&db, &redis, &config(&moto), None);
    cluster.stage_within = stage_within(total);
    let created = cluster.seed.ok(&["tenant", "token", "create", "acme"]);
    let token = created.lines().last().expect("the token").trim().to_owned();
    let (a, b) = (cluster.serve(), cluster.serve());
    let http = Http {
        client: reqwest::Client::new(),
        a: cluster.servers[a].base.clone(),
        b: cluster.servers[b].base.clone(),
        token,
    };

    // Hot: uploaded through A, read through B.
    http.upload(&cluster, 0..n);
    assert_eq!(cluster.in_tier(Tier::Hot), n);
    http.assert_reads(&cluster, &sample[..sample.len() / 2], "hot");

    // Warm: the schedulers plan it on their own, the workers move; a worker
    // and the leading scheduler die mid-run.
    cluster.spawn(&["worker", "worker", "worker", "scheduler", "scheduler"]);
    cluster.wait_for("the promotions under way", &|c| c.warm() >= n / 10, &|_| {});
    let (leading, killed) = cluster.kill_the_leader_and_a_worker();
    assert!(cluster.warm() < n, "the kills came mid-run");
    http.upload(&cluster, n..total);
    cluster.wait_for("every artifact warm", &|c| c.warm() == total, &|c| c.assert_alive_but(&killed));
    let standby = cluster.leader().expect("the standby leads");
    assert_ne!(standby, leading, "the standby took the lease");
    assert_tier(&cluster, &sample, Tier::Warm);
    http.assert_reads(&cluster, &sample, "warm");

    // Cold, 31 days on.
    drive(&mut cluster, "+31d", &killed, &|c| c.in_tier(Tier::Cold) == total);
    assert_tier(&cluster, &sample, Tier::Cold);
    http.assert_reads(&cluster, &sample, "cold");

    // A restore asked of B, carried out by a worker.
    for &i in &restored {
        http.restore(&cluster, i);
    }
    cluster.wait_for("the restores", &|c| c.in_tier(Tier::Hot) == restored.len(), &|c| c.assert_alive_but(&killed));
    assert_tier(&cluster, &restored, Tier::Hot);
    http.assert_reads(&cluster, &restored, "restored");

    // Eligible past the plan's 365 days, purged after the grace; the held stay.
    for &i in &held {
        cluster.seed.ok(&["retention", "hold", &format!("acme/wf/{}", name_of(i)), "--reason", "case 7"]);
    }
    let purgeable = total - held.len();
    let eligible = |c: &Cluster| c.all().iter().filter(|a| a.state == State::Eligible).count() == purgeable;
    drive(&mut cluster, "+400d", &killed, &eligible);
    let live = |c: &Cluster| c.all().iter().filter(|a| a.state.is_live()).count() == held.len();
    drive(&mut cluster, "+420d", &killed, &live);

    // Every artifact as the policy says: the held ones cold and readable,
    // every other one purged.
    let all = by_number(&cluster);
    assert_eq!(all.len(), total, "one row per artifact");
    for (i, a) in &all {
        let expected = if held.contains(i) { (State::Active, Tier::Cold) } else { (State::Purged, a.tier) };
        assert_eq!((a.state, a.tier), expected, "{}", name_of(*i));
    }
    http.assert_reads(&cluster, &held, "held");

    // One event per transition, and a log that verifies.
    let everything = || 0..total;
    let purged = || everything().filter(|i| !held.contains(i));
    assert_once(&cluster, "ingested", everything());
    assert_once(&cluster, "promoted", everything());
    assert_once(&cluster, "compressed", everything());
    assert_once(&cluster, "restored", restored.iter().copied());
    assert_once(&cluster, "deletion_eligible", purged());
    assert_once(&cluster, "purged", purged());
    let verified = cluster.seed.ok(&["events", "verify"]);
    assert!(verified.contains("intact"), "{verified}");

    // The bucket holds exactly the blobs the catalog references.
    let referenced: BTreeSet<String> = all.values().filter(|a| a.state.is_live()).map(blob_key).collect();
    assert_eq!(bucket(&cluster, &moto), referenced, "the bucket holds exactly the live blobs");

    cluster.stop_all_but(&killed);
}
