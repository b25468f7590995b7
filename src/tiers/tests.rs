//! The tier stores against local directories.

use super::local::local_root;
use super::*;

#[tokio::test]
async fn stage_commit_read_compress_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let tiers = Tiers::open(&Config::default(), dir.path()).unwrap();
    let tenant = TenantId::parse("acme").unwrap();
    let data = b"hello strata ".repeat(10_000);
    let staged = tiers.stage(&tenant, &data[..]).await.unwrap();
    assert_eq!(staged.digests.size, data.len() as u64);
    tiers.commit_staged(&staged, &tenant).await.unwrap();
    let hot = BlobRef { tenant: &tenant, blake3: &staged.digests.blake3, codec: Codec::None };
    assert_eq!(tiers.read_verified(Tier::Hot, &hot).await.unwrap().as_ref(), &data[..]);

    let cold = BlobRef { codec: Codec::Zstd, ..hot.clone() };
    let stored = tiers.write(Tier::Cold, &cold, Bytes::from(data.clone())).await.unwrap();
    assert!(stored < data.len() as u64 / 10, "compressed to {stored}");
    let out = dir.path().join("out.bin");
    tiers.read_to_file(Tier::Cold, &cold, &out).await.unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), data);

    let mut reader = tiers.open_reader(Tier::Cold, &cold).await.unwrap();
    let mut streamed = Vec::new();
    while let Some(chunk) = reader.next_chunk().await.unwrap() {
        streamed.extend_from_slice(&chunk);
    }
    assert_eq!(streamed, data);

    tiers.delete(Tier::Hot, &hot).await.unwrap();
    tiers.delete(Tier::Hot, &hot).await.unwrap();
    assert!(matches!(tiers.read_verified(Tier::Hot, &hot).await, Err(TierError::Missing { .. })));
}

#[tokio::test]
async fn a_highly_compressed_blob_streams_back_in_bounded_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let tiers = Tiers::open(&Config::default(), dir.path()).unwrap();
    let tenant = TenantId::parse("acme").unwrap();
    // 64 MiB of zeros compress to a few kilobytes: one compressed read
    // must not expand into one 64 MiB chunk.
    let data = vec![0u8; 64 * 1024 * 1024];
    let blake3 = crate::digest::blake3_hex(&data);
    let cold = BlobRef { tenant: &tenant, blake3: &blake3, codec: Codec::Zstd };
    let stored = tiers.write(Tier::Cold, &cold, Bytes::from(data)).await.unwrap();
    assert!(stored < 64 * 1024, "compressed to {stored}");
    let mut reader = tiers.open_reader(Tier::Cold, &cold).await.unwrap();
    let (mut total, mut largest) = (0usize, 0usize);
    while let Some(chunk) = reader.next_chunk().await.unwrap() {
        assert!(chunk.iter().all(|b| *b == 0));
        total += chunk.len();
        largest = largest.max(chunk.len());
    }
    assert_eq!(total, 64 * 1024 * 1024);
    assert!(largest <= CHUNK, "a chunk of {largest} bytes");
}

#[tokio::test]
async fn corruption_is_detected_and_never_returned() {
    let dir = tempfile::tempdir().unwrap();
    let tiers = Tiers::open(&Config::default(), dir.path()).unwrap();
    let tenant = TenantId::parse("acme").unwrap();
    let staged = tiers.stage(&tenant, &b"original"[..]).await.unwrap();
    tiers.commit_staged(&staged, &tenant).await.unwrap();
    let blob = BlobRef { tenant: &tenant, blake3: &staged.digests.blake3, codec: Codec::None };
    let file = tiers.local_path(Tier::Hot, &blob).unwrap();
    assert!(file.starts_with(tiers.root(Tier::Hot).unwrap().join("acme")));
    std::fs::write(file, b"tampered").unwrap();
    assert!(matches!(tiers.read_verified(Tier::Hot, &blob).await, Err(TierError::Corrupt { .. })));
    let out = dir.path().join("out.bin");
    assert!(matches!(tiers.read_to_file(Tier::Hot, &blob, &out).await, Err(TierError::Corrupt { .. })));
    assert!(!out.exists(), "no partial or wrong output may appear");
    let mut reader = tiers.open_reader(Tier::Hot, &blob).await.unwrap();
    let mut last = reader.next_chunk().await;
    while let Ok(Some(_)) = last {
        last = reader.next_chunk().await;
    }
    assert!(matches!(last, Err(TierError::Corrupt { .. })), "a streamed read ends in an error, not an end");
}

#[test]
fn tier_locations_are_local_paths_or_local_file_urls() {
    let root = |location: &str| local_root(Tier::Hot, location);
    assert_eq!(root("/srv/hot").unwrap(), PathBuf::from("/srv/hot"));
    assert_eq!(root("relative/hot").unwrap(), PathBuf::from("relative/hot"));
    assert_eq!(root("file:///srv/hot").unwrap(), PathBuf::from("/srv/hot"));
    assert_eq!(root("FILE:///srv/hot").unwrap(), PathBuf::from("/srv/hot"));
    assert_eq!(root("file://localhost/srv/hot").unwrap(), PathBuf::from("/srv/hot"));
    assert_eq!(root("file:///srv/my%20hot").unwrap(), PathBuf::from("/srv/my hot"));
    let err = root("file://host/path").unwrap_err().to_string();
    assert!(err.contains("\"host\"") && err.contains("file:///"), "{err}");
    let err = root("s3://bucket/hot").unwrap_err();
    assert!(
        matches!(&err, TierError::Open { tier: Tier::Hot, location, message }
            if location == "s3://bucket/hot" && message.contains("not a local directory")),
        "{err:?}"
    );
}

#[tokio::test]
async fn small_uploads_land_in_place_and_large_ones_stream_through_staging() {
    let dir = tempfile::tempdir().unwrap();
    let tiers = Tiers::open(&Config::default(), dir.path()).unwrap();
    let tenant = TenantId::parse("acme").unwrap();

    let small = b"small artifact".to_vec();
    let landing = tiers.land(&tenant, &small[..]).await.unwrap();
    assert!(matches!(landing, Landing::Written { .. }));
    let blob = BlobRef { tenant: &tenant, blake3: &landing.digests().blake3.clone(), codec: Codec::None };
    assert!(tiers.exists(Tier::Hot, &blob).await.unwrap());
    // A concurrent release removed it: settling writes it again.
    tiers.delete(Tier::Hot, &blob).await.unwrap();
    tiers.settle(&landing, &tenant).await.unwrap();
    assert_eq!(tiers.read_verified(Tier::Hot, &blob).await.unwrap().as_ref(), &small[..]);

    let large = vec![7u8; CHUNK * 2 + 5];
    let landing = tiers.land(&tenant, &large[..]).await.unwrap();
    assert!(matches!(landing, Landing::Staged(_)));
    assert_eq!(landing.digests().size, large.len() as u64);
    let blake3 = landing.digests().blake3.clone();
    let blob = BlobRef { tenant: &tenant, blake3: &blake3, codec: Codec::None };
    assert!(!tiers.exists(Tier::Hot, &blob).await.unwrap(), "not addressable before it settles");
    tiers.settle(&landing, &tenant).await.unwrap();
    assert_eq!(tiers.read_verified(Tier::Hot, &blob).await.unwrap().len(), large.len());
}
