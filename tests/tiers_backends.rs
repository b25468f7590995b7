//! One suite of tier behaviours, run against each kind of store a tier can
//! live in: a local directory, an S3-compatible store (the `moto` server)
//! and Azure Blob Storage (Azurite). The emulators are started by the tests
//! themselves; where one is not installed the test does not run (and fails
//! under CI). Google Cloud Storage is built but not run here: the one GCS
//! emulator installable from the package registries (fake-gcs-server, in a
//! PyPI wheel) refuses object_store's XML API requests (percent-encoded
//! object names, multipart uploads).
//!
//! Every behaviour goes through the real `Tiers` API; a second, direct
//! client of each store plays whoever changes the bytes behind strata's back.

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use strata_core::artifact::{Codec, Tier};
use strata_core::config::{Config, Secret, TierLocation};
use strata_core::id::TenantId;
use strata_core::tiers::{BlobRef, Landing, TierError, Tiers};
use strata_testkit::emulators::{AZURITE_ACCOUNT, AZURITE_KEY, Emulator, Kind, Relay};
use tokio::io::{AsyncRead, ReadBuf};

const MIB: usize = 1024 * 1024;

const TIERS: [Tier; 3] = [Tier::Hot, Tier::Warm, Tier::Cold];

/// The size of the large artifact.
const LARGE: usize = 100 * MIB;

/// How much the process's peak memory may grow while the large artifact
/// streams through: well under its size.
const LARGE_MEMORY_BOUND: u64 = 64 * MIB as u64;

/// One at a time through the large artifact, so that each measures its own peak.
static LARGE_ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Where a suite's tiers live.
struct Backend {
    name: &'static str,
    tiers: Tiers,
    /// Per tier, a direct client at the tier's root.
    raw: [Arc<dyn ObjectStore>; 3],
    emulator: Option<Emulator>,
    bucket: String,
    dir: tempfile::TempDir,
}

impl Backend {
    fn raw(&self, tier: Tier) -> &dyn ObjectStore {
        self.raw[tier_index(tier)].as_ref()
    }

    /// The storage class (S3) or access tier (Azure) the store reports for `key` in `tier`.
    fn storage_class(&self, tier: Tier, key: &str) -> Option<String> {
        let emulator = self.emulator.as_ref()?;
        let response = emulator.head(&self.bucket, &format!("{}/{key}", tier.as_str())).expect("HEAD the object");
        assert_eq!(response.status, 200, "{}: HEAD {key}", self.name);
        let header = match emulator.kind() {
            Kind::Moto => "x-amz-storage-class",
            Kind::Azurite => "x-ms-access-tier",
        };
        Some(response.header(header).unwrap_or("STANDARD").to_owned())
    }
}

fn tier_index(tier: Tier) -> usize {
    match tier {
        Tier::Hot => 0,
        Tier::Warm => 1,
        Tier::Cold => 2,
    }
}

fn local_backend() -> Backend {
    let dir = tempfile::tempdir().expect("tempdir");
    let tiers = Tiers::open(&Config::default(), dir.path()).expect("open");
    let raw = TIERS.map(|t| {
        let root = dir.path().join("tiers").join(t.as_str());
        Arc::new(LocalFileSystem::new_with_prefix(root).expect("new with prefix")) as Arc<dyn ObjectStore>
    });
    Backend { name: "local", tiers, raw, emulator: None, bucket: String::new(), dir }
}

/// An S3 tier location on `endpoint`, in bucket `bucket` under `prefix`.
fn s3_location(endpoint: &str, bucket: &str, prefix: &str, class: Option<&str>) -> TierLocation {
    TierLocation {
        endpoint: Some(endpoint.to_owned()),
        region: Some("us-east-1".into()),
        allow_http: Some(true),
        access_key_id: Some("strata-test".into()),
        secret_access_key: Some(Secret::new("strata-test-secret")),
        storage_class: class.map(str::to_owned),
        max_retries: Some(0),
        ..TierLocation::new(format!("s3://{bucket}/{prefix}"))
    }
}

/// An Azure tier location on Azurite, in container `container` under `prefix`.
fn azure_location(endpoint: &str, container: &str, prefix: &str, class: Option<&str>, key: &str) -> TierLocation {
    TierLocation {
        endpoint: Some(endpoint.to_owned()),
        account: Some(AZURITE_ACCOUNT.into()),
        access_key: Some(Secret::new(key)),
        allow_http: Some(true),
        storage_class: class.map(str::to_owned),
        max_retries: Some(0),
        ..TierLocation::new(format!("az://{container}/{prefix}"))
    }
}

fn config_with(locations: [TierLocation; 3]) -> Config {
    let mut config = Config::default();
    let [hot, warm, cold] = locations;
    config.storage.hot = Some(hot);
    config.storage.warm = Some(warm);
    config.storage.cold = Some(cold);
    config
}

/// The storage classes the suite asks for, hot to cold.
fn classes(kind: Kind) -> [Option<&'static str>; 3] {
    match kind {
        Kind::Moto => [Some("INTELLIGENT_TIERING"), Some("STANDARD_IA"), Some("GLACIER_IR")],
        Kind::Azurite => [Some("Hot"), Some("Cool"), Some("Cool")],
    }
}

fn raw_store(emulator: &Emulator, bucket: &str, prefix: &str) -> Arc<dyn ObjectStore> {
    let store: Arc<dyn ObjectStore> = match emulator.kind() {
        Kind::Moto => Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(emulator.endpoint())
                .with_allow_http(true)
                .with_region("us-east-1")
                .with_bucket_name(bucket)
                .with_access_key_id("strata-test")
                .with_secret_access_key("strata-test-secret")
                .build()
                .expect("build the direct client"),
        ),
        Kind::Azurite => Arc::new(
            MicrosoftAzureBuilder::new()
                .with_endpoint(emulator.endpoint())
                .with_allow_http(true)
                .with_account(AZURITE_ACCOUNT)
                .with_access_key(AZURITE_KEY)
                .with_container_name(bucket)
                .build()
                .expect("build the direct client"),
        ),
    };
    Arc::new(PrefixStore::new(store, prefix))
}

fn location(emulator: &Emulator, bucket: &str, prefix: &str, class: Option<&str>) -> TierLocation {
    match emulator.kind() {
        Kind::Moto => s3_location(&emulator.endpoint(), bucket, prefix, class),
        Kind::Azurite => azure_location(&emulator.endpoint(), bucket, prefix, class, AZURITE_KEY),
    }
}

/// Starts the emulator, creates a bucket and opens tiers in it, one prefix
/// per tier; `None` when the emulator is not installed.
fn emulated_backend(test: &str, kind: Kind) -> Option<Backend> {
    let emulator = Emulator::start(test, kind)?;
    let bucket = "strata-tiers".to_owned();
    emulator.create_bucket(&bucket).expect("create bucket");
    let classes = classes(kind);
    let config = config_with(TIERS.map(|t| location(&emulator, &bucket, t.as_str(), classes[tier_index(t)])));
    let dir = tempfile::tempdir().expect("tempdir");
    let tiers = Tiers::open(&config, dir.path()).expect("open");
    let raw = TIERS.map(|t| raw_store(&emulator, &bucket, t.as_str()));
    let name = match kind {
        Kind::Moto => "s3",
        Kind::Azurite => "azure",
    };
    Some(Backend { name, tiers, raw, emulator: Some(emulator), bucket, dir })
}

/// `len` bytes of a repeating, compressible pattern, generated as read.
struct Pattern {
    at: usize,
    len: usize,
}

fn pattern_byte(i: usize) -> u8 {
    (i % 251) as u8 ^ ((i / 4096) % 7) as u8
}

impl AsyncRead for Pattern {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let n = buf.remaining().min(self.len - self.at);
        let start = self.at;
        let bytes: Vec<u8> = (start..start + n).map(pattern_byte).collect();
        buf.put_slice(&bytes);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

/// Peak resident memory of this process, in bytes, after resetting the
/// peak to the current resident size.
fn reset_peak_memory() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak resident size");
    peak_memory()
}

fn peak_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read to string");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("find");
    line.split_whitespace().nth(1).expect("VmHWM value").parse::<u64>().expect("VmHWM in kB") * 1024
}

/// Reads a blob through the verifying stream, keeping `[start, start+len)`.
async fn read_range(tiers: &Tiers, tier: Tier, blob: &BlobRef<'_>, start: usize, len: usize) -> Vec<u8> {
    let mut reader = tiers.open_reader(tier, blob).await.expect("open reader");
    let (mut offset, mut kept) = (0usize, Vec::with_capacity(len));
    while let Some(chunk) = reader.next_chunk().await.expect("next chunk") {
        let (lo, hi) = (start.max(offset), (start + len).min(offset + chunk.len()));
        if lo < hi {
            kept.extend_from_slice(&chunk[lo - offset..hi - offset]);
        }
        offset += chunk.len();
    }
    kept
}

/// The whole suite, in order.
async fn suite(b: &Backend) {
    large_artifact_streams_with_bounded_memory(b).await;
    small_artifacts_land_in_place(b).await;
    tiers_keep_their_storage_class(b).await;
    every_read_is_verified(b).await;
    a_concurrent_writer_of_the_same_blob_is_success(b).await;
    a_blob_deleted_behind_our_back_is_missing(b).await;
}

async fn large_artifact_streams_with_bounded_memory(b: &Backend) {
    let _one = LARGE_ONE_AT_A_TIME.lock().await;
    let tenant = TenantId::parse("acme").expect("parse");
    let name = b.name;
    let before = reset_peak_memory();
    let landing = b.tiers.land(&tenant, Pattern { at: 0, len: LARGE }).await.expect("land");
    assert!(matches!(landing, Landing::Staged(_)), "{name}: a large upload streams through staging");
    assert_eq!(landing.digests().size, LARGE as u64);
    let blake3 = landing.digests().blake3.clone();
    let hot = BlobRef { tenant: &tenant, blake3: &blake3, codec: Codec::None };
    assert!(!b.tiers.exists(Tier::Hot, &hot).await.expect("exists"), "{name}: not addressable before it settles");
    b.tiers.settle(&landing, &tenant).await.expect("settle");
    b.tiers.settle(&landing, &tenant).await.expect("settle");
    assert_eq!(b.tiers.verify(Tier::Hot, &hot).await.expect("verify").size, LARGE as u64, "{name}");

    // A range read streams the whole blob through the digest check and keeps the range.
    let (start, len) = (LARGE / 2 + 12_345, 300_000);
    let range = read_range(&b.tiers, Tier::Hot, &hot, start, len).await;
    assert_eq!(range, (start..start + len).map(pattern_byte).collect::<Vec<_>>(), "{name}: range");

    // Entering cold compresses; restoring brings the original bytes back hot.
    let stored =
        b.tiers.copy_verified(Tier::Hot, &hot, Tier::Cold, Codec::Zstd, LARGE as u64).await.expect("copy verified");
    assert!(stored < LARGE as u64 / 4, "{name}: compressed to {stored}");
    let cold = BlobRef { codec: Codec::Zstd, ..hot.clone() };
    b.tiers.delete(Tier::Hot, &hot).await.expect("delete");
    assert!(!b.tiers.exists(Tier::Hot, &hot).await.expect("exists"));
    b.tiers.copy_verified(Tier::Cold, &cold, Tier::Hot, Codec::None, LARGE as u64).await.expect("copy verified");
    let out = b.dir.path().join("restored.bin");
    let digests = b.tiers.read_to_file(Tier::Hot, &hot, &out).await.expect("read to file");
    assert_eq!(digests.blake3, blake3, "{name}: restored");
    assert_eq!(std::fs::metadata(&out).expect("metadata").len(), LARGE as u64);
    let grown = peak_memory().saturating_sub(before);
    assert!(grown < LARGE_MEMORY_BOUND, "{name}: peak memory grew by {grown} bytes for a {LARGE}-byte artifact");

    // Purge.
    for (tier, blob) in [(Tier::Hot, &hot), (Tier::Cold, &cold)] {
        b.tiers.delete(tier, blob).await.expect("delete");
        b.tiers.delete(tier, blob).await.expect("delete");
        assert!(!b.tiers.exists(tier, blob).await.expect("exists"), "{name}: purged from {tier}");
    }
    std::fs::remove_file(out).expect("remove file");
}

async fn small_artifacts_land_in_place(b: &Backend) {
    let tenant = TenantId::parse("smallco").expect("parse");
    let data = b"a small artifact".to_vec();
    let landing = b.tiers.land(&tenant, &data[..]).await.expect("land");
    assert!(matches!(landing, Landing::Written { .. }), "{}", b.name);
    let blake3 = landing.digests().blake3.clone();
    let blob = BlobRef { tenant: &tenant, blake3: &blake3, codec: Codec::None };
    b.tiers.delete(Tier::Hot, &blob).await.expect("delete");
    b.tiers.settle(&landing, &tenant).await.expect("settle");
    assert_eq!(b.tiers.read_verified(Tier::Hot, &blob).await.expect("read verified").as_ref(), &data[..], "{}", b.name);
}

async fn tiers_keep_their_storage_class(b: &Backend) {
    let Some(kind) = b.emulator.as_ref().map(Emulator::kind) else { return };
    let tenant = TenantId::parse("classy").expect("parse");
    let small = Bytes::from(b"class of service ".repeat(100));
    let large: Vec<u8> = (0..3 * MIB / 2).map(pattern_byte).collect();
    let expected = classes(kind);
    for data in [small.to_vec(), large] {
        let landing = b.tiers.land(&tenant, &data[..]).await.expect("land");
        b.tiers.settle(&landing, &tenant).await.expect("settle");
        let blake3 = landing.digests().blake3.clone();
        let hot = BlobRef { tenant: &tenant, blake3: &blake3, codec: Codec::None };
        b.tiers
            .copy_verified(Tier::Hot, &hot, Tier::Warm, Codec::None, data.len() as u64)
            .await
            .expect("copy verified");
        b.tiers
            .copy_verified(Tier::Warm, &hot, Tier::Cold, Codec::Zstd, data.len() as u64)
            .await
            .expect("copy verified");
        let cold = BlobRef { codec: Codec::Zstd, ..hot.clone() };
        // A staged upload committed into a hot tier with a class keeps it
        // (streamed again, where a server-side copy would drop it).
        for (tier, blob) in [(Tier::Hot, &hot), (Tier::Warm, &hot), (Tier::Cold, &cold)] {
            let class = b.storage_class(tier, &blob.key());
            assert_eq!(class.as_deref(), expected[tier_index(tier)], "{}: {tier} ({} bytes)", b.name, data.len());
        }
    }
}

async fn every_read_is_verified(b: &Backend) {
    let tenant = TenantId::parse("rotten").expect("parse");
    let data = b"original bytes".repeat(30_000);
    let landing = b.tiers.land(&tenant, &data[..]).await.expect("land");
    b.tiers.settle(&landing, &tenant).await.expect("settle");
    let blake3 = landing.digests().blake3.clone();
    let blob = BlobRef { tenant: &tenant, blake3: &blake3, codec: Codec::None };
    b.raw(Tier::Hot).put(&ObjectPath::from(blob.key()), PutPayload::from_static(b"tampered")).await.expect("put");
    let name = b.name;
    assert!(matches!(b.tiers.read_verified(Tier::Hot, &blob).await, Err(TierError::Corrupt { .. })), "{name}");
    assert!(matches!(b.tiers.verify(Tier::Hot, &blob).await, Err(TierError::Corrupt { .. })), "{name}");
    let out = b.dir.path().join("corrupt.bin");
    assert!(matches!(b.tiers.read_to_file(Tier::Hot, &blob, &out).await, Err(TierError::Corrupt { .. })));
    assert!(!out.exists(), "{name}: no partial or wrong output may appear");
    let mut reader = b.tiers.open_reader(Tier::Hot, &blob).await.expect("open reader");
    let mut last = reader.next_chunk().await;
    while let Ok(Some(_)) = last {
        last = reader.next_chunk().await;
    }
    assert!(matches!(last, Err(TierError::Corrupt { .. })), "{name}: a streamed read ends in an error");
    let copied = b.tiers.copy_verified(Tier::Hot, &blob, Tier::Warm, Codec::None, 8).await;
    assert!(matches!(copied, Err(TierError::Corrupt { .. })), "{name}: {copied:?}");
    assert!(!b.tiers.exists(Tier::Warm, &blob).await.expect("exists"), "{name}: a corrupt copy never lands");
}

async fn a_concurrent_writer_of_the_same_blob_is_success(b: &Backend) {
    let tenant = TenantId::parse("twohosts").expect("parse");
    let data = Bytes::from(b"written by two hosts at once".repeat(1000));
    let blake3 = blake3::hash(&data).to_hex().to_string();
    let blob = BlobRef { tenant: &tenant, blake3: &blake3, codec: Codec::Zstd };
    // Two hosts: two `Tiers` over the same stores.
    let other = b.tiers.clone();
    let (first, second) =
        tokio::join!(b.tiers.write(Tier::Cold, &blob, data.clone()), other.write(Tier::Cold, &blob, data.clone()));
    let (first, second) = (first.expect("first write"), second.expect("second write"));
    assert_eq!(first, second, "{}", b.name);
    assert_eq!(b.tiers.write(Tier::Cold, &blob, data.clone()).await.expect("write"), first, "{}", b.name);
    if b.emulator.is_some() {
        // The store itself refuses a second create: the writes above were conditional.
        let again = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        let refused =
            b.raw(Tier::Cold).put_opts(&ObjectPath::from(blob.key()), PutPayload::from_static(b"x"), again).await;
        assert!(matches!(refused, Err(object_store::Error::AlreadyExists { .. })), "{}: {refused:?}", b.name);
    }
    assert_eq!(b.tiers.read_verified(Tier::Cold, &blob).await.expect("read verified"), data, "{}", b.name);

    // Bad bytes at the address are not taken for the blob: they are replaced.
    b.raw(Tier::Cold).put(&ObjectPath::from(blob.key()), PutPayload::from_static(b"not zstd")).await.expect("put");
    b.tiers.write(Tier::Cold, &blob, data.clone()).await.expect("write");
    assert_eq!(b.tiers.read_verified(Tier::Cold, &blob).await.expect("read verified"), data, "{}", b.name);
}

async fn a_blob_deleted_behind_our_back_is_missing(b: &Backend) {
    let tenant = TenantId::parse("vanished").expect("parse");
    let data = b"here today".repeat(50_000);
    let landing = b.tiers.land(&tenant, &data[..]).await.expect("land");
    b.tiers.settle(&landing, &tenant).await.expect("settle");
    let blake3 = landing.digests().blake3.clone();
    let blob = BlobRef { tenant: &tenant, blake3: &blake3, codec: Codec::None };
    b.raw(Tier::Hot).delete(&ObjectPath::from(blob.key())).await.expect("delete");
    let name = b.name;
    for result in [
        b.tiers.read_verified(Tier::Hot, &blob).await.map(|_| ()),
        b.tiers.verify(Tier::Hot, &blob).await.map(|_| ()),
        b.tiers.open_reader(Tier::Hot, &blob).await.map(|_| ()),
    ] {
        let err = result.expect_err("must fail");
        assert!(matches!(&err, TierError::Missing { tier: Tier::Hot, path } if *path == blob.key()), "{name}: {err:?}");
        assert!(err.to_string().contains(&blake3), "{name}: {err}");
        assert!(!err.is_transient(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_on_local_directories() {
    suite(&local_backend()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_on_s3() {
    let Some(backend) = emulated_backend("the_suite_passes_on_s3", Kind::Moto) else { return };
    backend.tiers.check().await.expect("check");
    suite(&backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_on_azure() {
    let Some(backend) = emulated_backend("the_suite_passes_on_azure", Kind::Azurite) else { return };
    backend.tiers.check().await.expect("check");
    suite(&backend).await;
}

#[test]
fn an_unknown_scheme_is_refused_naming_the_tier() {
    let config =
        config_with([TierLocation::new("/srv/hot"), TierLocation::new("ftp://archive/warm"), TierLocation::new("/c")]);
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Tiers::open(&config, dir.path()).expect_err("must fail");
    assert!(
        matches!(&err, TierError::Open { tier: Tier::Warm, location, message }
            if location == "ftp://archive/warm" && message.contains("unknown scheme \"ftp\"")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_missing_bucket_is_named_at_the_check() {
    for kind in [Kind::Moto, Kind::Azurite] {
        let Some(emulator) = Emulator::start("a_missing_bucket_is_named_at_the_check", kind) else { continue };
        emulator.create_bucket("present").expect("create bucket");
        let config = config_with([
            location(&emulator, "present", "hot", None),
            location(&emulator, "absent", "warm", None),
            location(&emulator, "present", "cold", None),
        ]);
        let dir = tempfile::tempdir().expect("tempdir");
        let tiers = Tiers::open(&config, dir.path()).expect("open");
        let err = tiers.check().await.expect_err("must fail");
        let url = config.storage.warm.as_ref().expect("as ref").url.clone();
        assert!(
            matches!(&err, TierError::Open { tier: Tier::Warm, location, message }
                if *location == url && message.contains("does not exist")),
            "{kind:?}: {err:?}"
        );
        assert!(err.to_string().contains("warm tier"), "{err}");
    }
}

#[tokio::test]
async fn wrong_credentials_are_refused_clearly() {
    let Some(emulator) = Emulator::start("wrong_credentials_are_refused_clearly", Kind::Azurite) else { return };
    emulator.create_bucket("locked").expect("create bucket");
    let wrong = "d3JvbmcgY3JlZGVudGlhbHMgZm9yIHRoaXMgYWNjb3VudA==";
    let config = config_with(TIERS.map(|t| azure_location(&emulator.endpoint(), "locked", t.as_str(), None, wrong)));
    assert_credentials_refused(&config, wrong).await;
}

#[tokio::test]
async fn wrong_credentials_are_refused_clearly_on_s3() {
    let Some(emulator) = Emulator::start_moto_refusing_credentials("wrong_credentials_are_refused_clearly_on_s3")
    else {
        return;
    };
    let config = config_with(TIERS.map(|t| s3_location(&emulator.endpoint(), "locked", t.as_str(), None)));
    assert_credentials_refused(&config, "strata-test-secret").await;
}

/// Opening the tiers of `config` is refused naming the credentials, an
/// upload is denied for good, and no message shows `secret`.
async fn assert_credentials_refused(config: &Config, secret: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let tiers = Tiers::open(config, dir.path()).expect("open");
    let err = tiers.check().await.expect_err("must fail");
    assert!(
        matches!(&err, TierError::Open { tier: Tier::Hot, message, .. } if message.contains("refused the credentials")),
        "{err:?}"
    );
    assert!(!err.to_string().contains(secret), "{err}");
    let tenant = TenantId::parse("acme").expect("parse");
    let err = tiers.land(&tenant, &b"bytes"[..]).await.expect_err("must fail");
    assert!(matches!(err, TierError::Denied { tier: Tier::Hot, .. }), "{err:?}");
    assert!(!err.is_transient(), "retrying with the same credentials cannot help");
    assert!(!err.to_string().contains(secret), "{err}");
}

/// Bytes of [`Pattern`], cutting the store off once `cut_at` were read.
struct CutAfter {
    pattern: Pattern,
    cut_at: usize,
    relay: Option<Relay>,
}

impl AsyncRead for CutAfter {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.pattern.at >= self.cut_at
            && let Some(relay) = self.relay.take()
        {
            relay.cut();
        }
        Pin::new(&mut self.pattern).poll_read(cx, buf)
    }
}

/// The client reaches moto through a relay that is cut 20 MiB into a 40 MiB
/// upload: to the client the server is gone, while moto itself stays up to
/// show what the failed write left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_server_that_stops_mid_write_is_transient_and_leaves_nothing() {
    let test = "an_s3_server_that_stops_mid_write_is_transient_and_leaves_nothing";
    let Some(emulator) = Emulator::start(test, Kind::Moto) else { return };
    emulator.create_bucket("flaky").expect("create bucket");
    let relay = Relay::start(emulator.address()).expect("start");
    let through = format!("http://{}", relay.address());
    let config = config_with(TIERS.map(|t| s3_location(&through, "flaky", t.as_str(), None)));
    let dir = tempfile::tempdir().expect("tempdir");
    let tiers = Tiers::open(&config, dir.path()).expect("open");
    let tenant = TenantId::parse("acme").expect("parse");
    let input = CutAfter { pattern: Pattern { at: 0, len: 40 * MIB }, cut_at: 20 * MIB, relay: Some(relay) };
    let err = tiers.land(&tenant, input).await.expect_err("must fail");
    assert!(err.is_transient(), "{err:?}");
    assert!(matches!(err, TierError::Io { tier: Tier::Hot, .. }), "{err:?}");

    // Nothing half-written is visible: no object under the tenant at all.
    let direct = raw_store(&emulator, "flaky", "hot");
    use futures::TryStreamExt;
    let objects: Vec<_> = direct.list(Some(&ObjectPath::from("acme"))).try_collect().await.expect("try collect");
    assert!(objects.is_empty(), "{objects:?}");
}

#[test]
fn secrets_in_a_tier_configuration_are_never_shown() {
    let toml = r#"
[storage]
hot = "/srv/strata/hot"
[storage.warm]
url = "s3://archive/warm"
endpoint = "http://127.0.0.1:9000"
access_key_id = "AKIDEXAMPLE"
secret_access_key = "s3-secret-never-shown"
storage_class = "STANDARD_IA"
[storage.cold]
url = "az://archive/cold"
account = "strata"
access_key = "YXp1cmUta2V5LW5ldmVyLXNob3du"
"#;
    let config = Config::from_toml(toml).expect("from toml");
    let warm = config.storage.warm.as_ref().expect("as ref");
    assert_eq!(warm.secret_access_key.as_ref().expect("as ref").expose(), "s3-secret-never-shown");
    assert_eq!(warm.storage_class.as_deref(), Some("STANDARD_IA"));
    let shown = format!("{config:?} {config:#?}");
    assert!(shown.contains("s3://archive/warm") && shown.contains("AKIDEXAMPLE"), "{shown}");
    for secret in ["s3-secret-never-shown", "YXp1cmUta2V5LW5ldmVyLXNob3du"] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let tiers = Tiers::open(&config, dir.path()).expect("open");
    let shown = format!("{tiers:?}");
    for secret in ["s3-secret-never-shown", "YXp1cmUta2V5LW5ldmVyLXNob3du"] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_and_gc_work_on_s3_tiers() {
    use strata_core::clock::ManualClock;
    use strata_core::id::ArtifactKey;
    use strata_core::store::{PutOptions, Store};
    let Some(emulator) = Emulator::start("the_store_and_gc_work_on_s3_tiers", Kind::Moto) else { return };
    emulator.create_bucket("store").expect("create bucket");
    let config = config_with(TIERS.map(|t| s3_location(&emulator.endpoint(), "store", t.as_str(), None)));
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let store = Store::open(dir.path(), config, clock.clone()).await.expect("open");
    store.tiers().check().await.expect("check");
    let tenant = TenantId::parse("acme").expect("parse");
    store.add_tenant(&tenant, "free", "test").await.expect("add tenant");
    let key = ArtifactKey::parse("acme/build/app.bin").expect("parse");
    let data: Vec<u8> = (0..MIB).map(pattern_byte).collect();
    let put = PutOptions { actor: "test".into(), ..PutOptions::default() };
    let artifact = store.put(&key, &data[..], put).await.expect("put");
    let out = dir.path().join("app.bin");
    store.get_to_file(&key, &out).await.expect("get to file");
    assert_eq!(std::fs::read(&out).expect("read"), data);

    // An unreferenced blob and a crash leftover, old enough to collect.
    let orphan = Bytes::from_static(b"nobody references this");
    let orphan_blake3 = blake3::hash(&orphan).to_hex().to_string();
    let orphan_blob = BlobRef { tenant: &tenant, blake3: &orphan_blake3, codec: Codec::None };
    store.tiers().write(Tier::Warm, &orphan_blob, orphan).await.expect("write");
    let leftover = ObjectPath::from("acme/.staging/ab/ab01");
    raw_store(&emulator, "store", "hot").put(&leftover, PutPayload::from_static(b"partial")).await.expect("put");
    clock.advance(chrono::Duration::hours(2));

    let report = strata_core::gc::collect(&store, false, "test").await.expect("collect");
    let tally = |tier: Tier| report.tiers.iter().find(|t| t.tier == tier).expect("find").clone();
    assert_eq!(tally(Tier::Warm).unreferenced.files, 1, "{report:?}");
    assert_eq!(tally(Tier::Hot).leftovers.files, 1, "{report:?}");
    assert!(report.missing.is_empty(), "{report:?}");
    assert!(!store.tiers().exists(Tier::Warm, &orphan_blob).await.expect("exists"));
    assert!(!store.tiers().exists_key(Tier::Hot, leftover.as_ref()).await.expect("exists key"));
    let live = BlobRef { tenant: &tenant, blake3: &artifact.blake3, codec: Codec::None };
    assert!(store.tiers().exists(Tier::Hot, &live).await.expect("exists"), "the live artifact's blob stays");
}
