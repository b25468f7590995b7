//! The tier stores: one `object_store` per tier, holding content-addressed
//! blobs at `{tenant}/{blake3}` (plus `.zst` when compressed).
//!
//! Writes are atomic: the local store writes a staging file and renames it, so
//! no reader ever sees a partial blob. With `storage.fsync` (the default) they
//! are also durable before they return: the file is fsynced, renamed into
//! place, and its directory fsynced (object_store's `with_fsync`).

use crate::artifact::{Codec, Tier};
use crate::config::Config;
use crate::digest::{Digests, Hasher};
use crate::id::TenantId;
use bytes::Bytes;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Streaming chunk size for uploads and downloads.
const CHUNK: usize = 256 * 1024;

/// A tier operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum TierError {
    /// A tier location could not be opened.
    #[error("cannot open {tier} tier at {location}: {message}")]
    Open {
        /// Which tier.
        tier: Tier,
        /// The configured location.
        location: String,
        /// What went wrong.
        message: String,
    },
    /// The blob does not exist.
    #[error("blob {path} is missing from the {tier} tier")]
    Missing {
        /// Which tier.
        tier: Tier,
        /// The blob's key.
        path: String,
    },
    /// The blob's bytes do not match the recorded digest.
    #[error("blob {path} in the {tier} tier is corrupt: expected blake3 {expected}, found {found}")]
    Corrupt {
        /// Which tier.
        tier: Tier,
        /// The blob's key.
        path: String,
        /// The recorded digest.
        expected: String,
        /// The digest of what was read.
        found: String,
    },
    /// The store refused or failed an operation (disk full, permission denied, …).
    #[error("{op} {path} in the {tier} tier failed: {message}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Which tier.
        tier: Tier,
        /// The blob's key or local path.
        path: String,
        /// The underlying error.
        message: String,
    },
    /// The tier's file system has no space (or quota) left for a write.
    /// Retrying cannot help until space is freed.
    #[error(
        "the {tier} tier is full: no space left to write {path} ({message}); free space in the tier, then try again"
    )]
    NoSpace {
        /// Which tier.
        tier: Tier,
        /// The blob's key or local path.
        path: String,
        /// The underlying error.
        message: String,
    },
    /// Compression or decompression failed.
    #[error("zstd {op} of blob {path} in the {tier} tier failed: {message}")]
    Codec {
        /// `compression` or `decompression`.
        op: &'static str,
        /// Which tier.
        tier: Tier,
        /// The blob's key.
        path: String,
        /// The underlying error.
        message: String,
    },
}

impl TierError {
    /// True when retrying later may succeed (I/O trouble, not bad data).
    pub fn is_transient(&self) -> bool {
        matches!(self, TierError::Io { .. })
    }

    fn io(op: &'static str, tier: Tier, path: impl std::fmt::Display, e: impl std::fmt::Display) -> Self {
        TierError::Io { op, tier, path: path.to_string(), message: e.to_string() }
    }

    /// A failed store operation: [`TierError::NoSpace`] when the file system
    /// ran out of space or quota, [`TierError::Io`] otherwise.
    fn store(op: &'static str, tier: Tier, path: impl std::fmt::Display, e: object_store::Error) -> Self {
        if is_no_space(&e) {
            return TierError::NoSpace { tier, path: path.to_string(), message: e.to_string() };
        }
        TierError::io(op, tier, path, e)
    }
}

/// Whether an error, or any error it wraps, is "no space left on device" or
/// "disk quota exceeded".
fn is_no_space(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && matches!(io.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Where a blob lives in a tier: its content address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef<'a> {
    /// Owning tenant.
    pub tenant: &'a TenantId,
    /// blake3 of the original bytes, hex.
    pub blake3: &'a str,
    /// How the blob is encoded.
    pub codec: Codec,
}

impl BlobRef<'_> {
    /// The blob's key: `{tenant}/{first two hex digits}/{blake3}[.zst]`. The
    /// fan-out keeps directories small, so creates and renames in one tier
    /// do not all queue on one directory lock.
    fn key(&self) -> String {
        let suffix = match self.codec {
            Codec::None => "",
            Codec::Zstd => ".zst",
        };
        let fan = self.blake3.get(..2).unwrap_or("00");
        format!("{}/{}/{}{}", self.tenant, fan, self.blake3, suffix)
    }

    fn path(&self) -> ObjectPath {
        ObjectPath::from(self.key())
    }
}

/// Bytes streamed into the hot tier's staging area, not yet addressable.
#[derive(Debug, Clone)]
pub struct Staged {
    path: ObjectPath,
    /// Digests and size of what was streamed.
    pub digests: Digests,
}

/// Uploaded bytes on their way into the hot tier.
#[derive(Debug, Clone)]
pub enum Landing {
    /// A large upload, streamed into the staging area.
    Staged(Staged),
    /// A small upload, already written to its content address; its bytes are
    /// kept to write again should a concurrent release remove the address
    /// before the catalog references it.
    Written {
        /// Digests and size.
        digests: Digests,
        /// The bytes.
        plain: Bytes,
    },
}

impl Landing {
    /// Digests and size of the upload.
    pub fn digests(&self) -> &Digests {
        match self {
            Landing::Staged(s) => &s.digests,
            Landing::Written { digests, .. } => digests,
        }
    }
}

/// The three tier stores.
#[derive(Debug, Clone)]
pub struct Tiers {
    stores: [Arc<dyn ObjectStore>; 3],
    roots: [PathBuf; 3],
    compression_level: i32,
}

fn index(tier: Tier) -> usize {
    match tier {
        Tier::Hot => 0,
        Tier::Warm => 1,
        Tier::Cold => 2,
    }
}

impl Tiers {
    /// Opens (creating if needed) the tier stores configured in `config`,
    /// defaulting to `<data_dir>/tiers/{hot,warm,cold}`.
    pub fn open(config: &Config, data_dir: &Path) -> Result<Self, TierError> {
        let base = config.storage.base_path.clone().unwrap_or_else(|| data_dir.join("tiers"));
        let open_one = |tier: Tier| -> Result<(Arc<dyn ObjectStore>, PathBuf), TierError> {
            let configured = match tier {
                Tier::Hot => &config.storage.hot,
                Tier::Warm => &config.storage.warm,
                Tier::Cold => &config.storage.cold,
            };
            let root = match configured {
                Some(location) => local_root(tier, location)?,
                None => base.join(tier.as_str()),
            };
            let open_err = |e: &dyn std::fmt::Display| TierError::Open {
                tier,
                location: root.display().to_string(),
                message: e.to_string(),
            };
            std::fs::create_dir_all(&root).map_err(|e| open_err(&e))?;
            // Fan-out directories are kept when they empty: removing and
            // recreating them costs more than the empty directory entries.
            let store =
                LocalFileSystem::new_with_prefix(&root).map_err(|e| open_err(&e))?.with_fsync(config.storage.fsync);
            Ok((Arc::new(store), root))
        };
        let (hot, hot_root) = open_one(Tier::Hot)?;
        let (warm, warm_root) = open_one(Tier::Warm)?;
        let (cold, cold_root) = open_one(Tier::Cold)?;
        Ok(Self {
            stores: [hot, warm, cold],
            roots: [hot_root, warm_root, cold_root],
            compression_level: config.tiers.compression_level,
        })
    }

    fn store(&self, tier: Tier) -> &dyn ObjectStore {
        self.stores[index(tier)].as_ref()
    }

    /// Checks that every tier's directory is there (for readiness probes).
    pub async fn check(&self) -> Result<(), TierError> {
        for tier in Tier::ALL {
            let root = self.root(*tier);
            match tokio::fs::metadata(root).await {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(TierError::io("stat", *tier, root.display(), "not a directory")),
                Err(e) => return Err(TierError::io("stat", *tier, root.display(), e)),
            }
        }
        Ok(())
    }

    /// The local directory backing `tier`.
    pub fn root(&self, tier: Tier) -> &Path {
        &self.roots[index(tier)]
    }

    /// The local file holding `blob` in `tier` (for operators and drills).
    pub fn local_path(&self, tier: Tier, blob: &BlobRef<'_>) -> PathBuf {
        self.root(tier).join(blob.key())
    }

    /// Streams `reader` into the hot tier's staging area, computing digests.
    pub async fn stage<R: AsyncRead + Unpin>(&self, tenant: &TenantId, mut reader: R) -> Result<Staged, TierError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let path = ObjectPath::from(format!("{}/.staging/{}/{}", tenant, &id[..2], id));
        let store = self.store(Tier::Hot);
        let upload = store.put_multipart(&path).await.map_err(|e| TierError::store("stage", Tier::Hot, &path, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, CHUNK);
        let mut hasher = Hasher::default();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(TierError::io("read input for", Tier::Hot, &path, e));
                }
            };
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            writer.write(&buf[..n]);
            if let Err(e) = writer.wait_for_capacity(2).await {
                // Removes the partial file now, not in a background task.
                let _ = writer.abort().await;
                return Err(TierError::store("stage", Tier::Hot, &path, e));
            }
        }
        writer.finish().await.map_err(|e| TierError::store("stage", Tier::Hot, &path, e))?;
        Ok(Staged { path, digests: hasher.finish() })
    }

    /// Brings an upload into the hot tier: a small one (up to one chunk) is
    /// written straight to its content address, a larger one streams into
    /// the staging area. Either way, [`Tiers::settle`] makes it addressable
    /// under the catalog's write lock.
    pub async fn land<R: AsyncRead + Unpin>(&self, tenant: &TenantId, mut reader: R) -> Result<Landing, TierError> {
        let mut head = Vec::with_capacity(CHUNK);
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = reader.read(&mut buf).await.map_err(|e| TierError::io("read input for", Tier::Hot, tenant, e))?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
            if head.len() > CHUNK {
                let staged = self.stage(tenant, std::io::Cursor::new(head).chain(reader)).await?;
                return Ok(Landing::Staged(staged));
            }
        }
        let mut hasher = Hasher::default();
        hasher.update(&head);
        let digests = hasher.finish();
        let plain = Bytes::from(head);
        let blob = BlobRef { tenant, blake3: &digests.blake3, codec: Codec::None };
        self.write(Tier::Hot, &blob, plain.clone()).await?;
        Ok(Landing::Written { digests, plain })
    }

    /// Makes a landed upload addressable; call it under the catalog's write
    /// lock, before the commit that references it. Settling again is a
    /// no-op (a transaction that rolled back after settling is retried).
    pub async fn settle(&self, landing: &Landing, tenant: &TenantId) -> Result<(), TierError> {
        match landing {
            Landing::Staged(staged) => match self.commit_staged(staged, tenant).await {
                Err(_)
                    if !self.staged_exists(staged).await?
                        && self
                            .exists(Tier::Hot, &BlobRef { tenant, blake3: &staged.digests.blake3, codec: Codec::None })
                            .await? =>
                {
                    Ok(())
                }
                other => other,
            },
            Landing::Written { digests, plain } => {
                let blob = BlobRef { tenant, blake3: &digests.blake3, codec: Codec::None };
                if !self.exists(Tier::Hot, &blob).await? {
                    self.write(Tier::Hot, &blob, plain.clone()).await?;
                }
                Ok(())
            }
        }
    }

    /// Deletes a landed upload's staging file, if it has one. Its content
    /// address may be shared with a live artifact, so releasing that is left
    /// to a check under the catalog's write lock (`Store::release_blob`).
    pub async fn abandon(&self, landing: Landing) -> Result<(), TierError> {
        match landing {
            Landing::Staged(staged) => self.discard_staged(staged).await,
            Landing::Written { .. } => Ok(()),
        }
    }

    /// Moves a staged upload to its content address in the hot tier. If the
    /// address already holds the same bytes, they are replaced atomically.
    pub async fn commit_staged(&self, staged: &Staged, tenant: &TenantId) -> Result<(), TierError> {
        let blob = BlobRef { tenant, blake3: &staged.digests.blake3, codec: Codec::None };
        self.store(Tier::Hot)
            .rename(&staged.path, &blob.path())
            .await
            .map_err(|e| TierError::store("commit", Tier::Hot, blob.path(), e))
    }

    async fn staged_exists(&self, staged: &Staged) -> Result<bool, TierError> {
        match self.store(Tier::Hot).head(&staged.path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(TierError::io("stat", Tier::Hot, &staged.path, e)),
        }
    }

    /// Deletes a staged upload that will not be committed.
    pub async fn discard_staged(&self, staged: Staged) -> Result<(), TierError> {
        self.store(Tier::Hot)
            .delete(&staged.path)
            .await
            .or_else(ignore_not_found)
            .map_err(|e| TierError::io("discard", Tier::Hot, &staged.path, e))
    }

    /// Reads a whole blob, decodes it and checks it against `expected_blake3`.
    pub async fn read_verified(&self, tier: Tier, blob: &BlobRef<'_>) -> Result<Bytes, TierError> {
        let path = blob.path();
        let raw = match self.store(tier).get(&path).await {
            Ok(r) => r.bytes().await,
            Err(e) => Err(e),
        }
        .map_err(|e| read_error(tier, &path, e))?;
        let plain = match blob.codec {
            Codec::None => raw,
            Codec::Zstd => {
                let p = path.to_string();
                tokio::task::spawn_blocking(move || zstd::decode_all(raw.as_ref()))
                    .await
                    .map_err(|e| codec_error(DECODE, tier, &p, e))?
                    .map(Bytes::from)
                    .map_err(|e| codec_error(DECODE, tier, &p, e))?
            }
        };
        check(tier, &path, blob.blake3, &crate::digest::blake3_hex(&plain))?;
        Ok(plain)
    }

    /// Opens a blob for reading back its original bytes, chunk by chunk.
    async fn plain_reader(&self, tier: Tier, blob: &BlobRef<'_>) -> Result<PlainReader, TierError> {
        let path = blob.path();
        let got = self.store(tier).get(&path).await.map_err(|e| read_error(tier, &path, e))?;
        let stream = match got.payload {
            // A local file is read in large chunks; object_store's own stream
            // of a file reads 8 KiB at a time, which caps throughput.
            GetResultPayload::File(file, _) => file_chunks(file),
            GetResultPayload::Stream(stream) => stream,
        };
        let decoder = match blob.codec {
            Codec::None => None,
            Codec::Zstd => Some(Inflate {
                raw: zstd::stream::raw::Decoder::new().map_err(|e| codec_error(DECODE, tier, &path, e))?,
                input: Bytes::new(),
                used: 0,
                more_output: false,
            }),
        };
        Ok(PlainReader { stream, decoder, path, tier, finished: false })
    }

    /// Opens a blob for streaming its original bytes out, checked against
    /// its digest as they pass (see [`BlobReader`]).
    pub async fn open_reader(&self, tier: Tier, blob: &BlobRef<'_>) -> Result<BlobReader, TierError> {
        Ok(BlobReader {
            plain: self.plain_reader(tier, blob).await?,
            hasher: blake3::Hasher::new(),
            expected: blob.blake3.to_owned(),
        })
    }

    /// Streams a blob, decoded and verified, into `dest` atomically: `dest`
    /// appears only once every byte has been checked against the digest.
    pub async fn read_to_file(&self, tier: Tier, blob: &BlobRef<'_>, dest: &Path) -> Result<Digests, TierError> {
        let local = |e: std::io::Error| TierError::io("write", tier, dest.display(), e);
        let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new().prefix(".strata-get-").tempfile_in(dir).map_err(local)?;
        let mut file = tokio::fs::File::from_std(tmp.reopen().map_err(local)?);
        let mut reader = self.plain_reader(tier, blob).await?;
        let mut hasher = Hasher::default();
        while let Some(plain) = reader.next().await? {
            hasher.update(&plain);
            file.write_all(&plain).await.map_err(local)?;
        }
        file.flush().await.map_err(local)?;
        let digests = hasher.finish();
        check(tier, &blob.path(), blob.blake3, &digests.blake3)?;
        tmp.persist(dest).map_err(|e| local(e.error))?;
        Ok(digests)
    }

    /// Reads a whole blob back, decoded, and checks it against its digest,
    /// holding one chunk at a time.
    pub async fn verify(&self, tier: Tier, blob: &BlobRef<'_>) -> Result<Digests, TierError> {
        let mut reader = self.plain_reader(tier, blob).await?;
        let mut hasher = Hasher::default();
        while let Some(plain) = reader.next().await? {
            hasher.update(&plain);
        }
        let digests = hasher.finish();
        check(tier, &blob.path(), blob.blake3, &digests.blake3)?;
        Ok(digests)
    }

    /// Copies a blob from one tier to another in `codec`, verifying the
    /// original bytes on the way; the copy becomes visible only if they
    /// match. Returns the stored size. Small blobs go through memory, larger
    /// ones stream chunk by chunk.
    pub async fn copy_verified(
        &self,
        from: Tier,
        src: &BlobRef<'_>,
        to: Tier,
        codec: Codec,
        size: u64,
    ) -> Result<u64, TierError> {
        let dst = BlobRef { codec, ..src.clone() };
        if size <= CHUNK as u64 {
            let plain = self.read_verified(from, src).await?;
            return self.write(to, &dst, plain).await;
        }
        let dst_path = dst.path();
        let mut reader = self.plain_reader(from, src).await?;
        let upload =
            self.store(to).put_multipart(&dst_path).await.map_err(|e| TierError::store("write", to, &dst_path, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, CHUNK);
        let mut encoder = match codec {
            Codec::None => None,
            Codec::Zstd => Some(
                zstd::stream::write::Encoder::new(Vec::new(), self.compression_level)
                    .map_err(|e| codec_error(ENCODE, to, &dst_path, e))?,
            ),
        };
        let mut hasher = Hasher::default();
        let mut stored = 0u64;
        let copied: Result<(), TierError> = async {
            while let Some(plain) = reader.next().await? {
                hasher.update(&plain);
                let out = match encoder.as_mut() {
                    None => plain,
                    Some(e) => {
                        use std::io::Write;
                        e.write_all(&plain).map_err(|err| codec_error(ENCODE, to, &dst_path, err))?;
                        Bytes::from(std::mem::take(e.get_mut()))
                    }
                };
                stored += out.len() as u64;
                writer.put(out);
                writer.wait_for_capacity(2).await.map_err(|e| TierError::store("write", to, &dst_path, e))?;
            }
            if let Some(e) = encoder.take() {
                let rest = e.finish().map_err(|err| codec_error(ENCODE, to, &dst_path, err))?;
                stored += rest.len() as u64;
                writer.write(&rest);
            }
            check(from, &src.path(), src.blake3, &hasher.finish().blake3)
        }
        .await;
        match copied {
            Ok(()) => {
                writer.finish().await.map_err(|e| TierError::store("write", to, &dst_path, e))?;
                Ok(stored)
            }
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    /// Writes `plain` (the original bytes) to `tier` in `blob.codec`, returning
    /// the stored size. Compression runs off the async threads.
    pub async fn write(&self, tier: Tier, blob: &BlobRef<'_>, plain: Bytes) -> Result<u64, TierError> {
        let path = blob.path();
        let encoded = match blob.codec {
            Codec::None => plain,
            Codec::Zstd => {
                let level = self.compression_level;
                let p = path.to_string();
                tokio::task::spawn_blocking(move || zstd::encode_all(plain.as_ref(), level))
                    .await
                    .map_err(|e| codec_error(ENCODE, tier, &p, e))?
                    .map(Bytes::from)
                    .map_err(|e| codec_error(ENCODE, tier, &p, e))?
            }
        };
        let stored = encoded.len() as u64;
        self.store(tier)
            .put(&path, PutPayload::from_bytes(encoded))
            .await
            .map_err(|e| TierError::store("write", tier, &path, e))?;
        Ok(stored)
    }

    /// Whether `blob` exists in `tier`.
    pub async fn exists(&self, tier: Tier, blob: &BlobRef<'_>) -> Result<bool, TierError> {
        let path = blob.path();
        match self.store(tier).head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(TierError::io("stat", tier, &path, e)),
        }
    }

    /// Deletes a blob; a blob that is already gone counts as deleted.
    pub async fn delete(&self, tier: Tier, blob: &BlobRef<'_>) -> Result<(), TierError> {
        let path = blob.path();
        self.store(tier)
            .delete(&path)
            .await
            .or_else(ignore_not_found)
            .map_err(|e| TierError::io("delete", tier, &path, e))
    }
}

/// A blob's original bytes streamed out chunk by chunk, holding one chunk at
/// a time. Bytes cannot be checked before they are handed out, so the check
/// comes last: instead of the end, a blob that does not match its digest
/// yields [`TierError::Corrupt`], and the consumer must discard (or abort
/// sending) what it got.
pub struct BlobReader {
    plain: PlainReader,
    hasher: blake3::Hasher,
    expected: String,
}

impl BlobReader {
    /// The next chunk of original bytes; `None` once every byte was read and matched.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, TierError> {
        match self.plain.next().await? {
            Some(chunk) => {
                self.hasher.update(&chunk);
                Ok(Some(chunk))
            }
            None => {
                let found = self.hasher.finalize().to_hex().to_string();
                check(self.plain.tier, &self.plain.path, &self.expected, &found)?;
                Ok(None)
            }
        }
    }
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader").field("path", &self.plain.path).field("tier", &self.plain.tier).finish()
    }
}

/// A local file as a stream of [`CHUNK`]-sized pieces, each read on the
/// blocking pool.
fn file_chunks(file: std::fs::File) -> futures::stream::BoxStream<'static, object_store::Result<Bytes>> {
    futures::stream::try_unfold(Some(file), |file| async move {
        let Some(mut file) = file else { return Ok(None) };
        let (file, chunk) = tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut buf = vec![0; CHUNK];
            let mut filled = 0;
            while filled < CHUNK {
                match file.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            buf.truncate(filled);
            Ok((file, buf))
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|e| object_store::Error::Generic { store: "LocalFileSystem", source: Box::new(e) })?;
        if chunk.is_empty() {
            return Ok(None);
        }
        let next = (chunk.len() == CHUNK).then_some(file);
        Ok(Some((Bytes::from(chunk), next)))
    })
    .boxed()
}

/// A blob's original bytes, chunk by chunk (decoding compressed blobs).
struct PlainReader {
    stream: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
    decoder: Option<Inflate>,
    path: ObjectPath,
    tier: Tier,
    finished: bool,
}

/// A zstd decoder that yields at most [`CHUNK`] bytes at a time, whatever
/// the compression ratio: a small compressed chunk can expand to gigabytes.
struct Inflate {
    raw: zstd::stream::raw::Decoder<'static>,
    /// The compressed chunk being decoded, and how much of it was consumed.
    input: Bytes,
    used: usize,
    /// The last call filled its output: the decoder may hold more.
    more_output: bool,
}

impl Inflate {
    /// Decodes from what is left of the input into at most [`CHUNK`] bytes.
    fn step(&mut self) -> std::io::Result<Vec<u8>> {
        use zstd::stream::raw::{InBuffer, Operation, OutBuffer};
        let mut out = vec![0u8; CHUNK];
        let mut input = InBuffer::around(&self.input[self.used..]);
        let mut output = OutBuffer::around(&mut out[..]);
        self.raw.run(&mut input, &mut output)?;
        let (consumed, produced) = (input.pos(), output.pos());
        self.used += consumed;
        self.more_output = produced == CHUNK;
        out.truncate(produced);
        Ok(out)
    }
}

impl PlainReader {
    /// The next chunk of original bytes, or `None` at the end.
    async fn next(&mut self) -> Result<Option<Bytes>, TierError> {
        if self.finished {
            return Ok(None);
        }
        let Some(d) = self.decoder.as_mut() else {
            return match self.stream.next().await {
                Some(chunk) => Ok(Some(chunk.map_err(|e| read_error(self.tier, &self.path, e))?)),
                None => {
                    self.finished = true;
                    Ok(None)
                }
            };
        };
        loop {
            if d.used < d.input.len() || d.more_output {
                let out = d.step().map_err(|e| codec_error(DECODE, self.tier, &self.path, e))?;
                if !out.is_empty() {
                    return Ok(Some(Bytes::from(out)));
                }
                continue;
            }
            match self.stream.next().await {
                Some(chunk) => {
                    d.input = chunk.map_err(|e| read_error(self.tier, &self.path, e))?;
                    d.used = 0;
                }
                None => {
                    // The input is spent; whatever the decoder still holds
                    // came out above. A truncated frame shows as a digest
                    // mismatch at the end.
                    self.finished = true;
                    return Ok(None);
                }
            }
        }
    }
}

fn read_error(tier: Tier, path: &ObjectPath, e: object_store::Error) -> TierError {
    match e {
        object_store::Error::NotFound { .. } => TierError::Missing { tier, path: path.to_string() },
        e => TierError::io("read", tier, path, e),
    }
}

const ENCODE: &str = "compression";
const DECODE: &str = "decompression";

fn codec_error(op: &'static str, tier: Tier, path: impl std::fmt::Display, e: impl std::fmt::Display) -> TierError {
    TierError::Codec { op, tier, path: path.to_string(), message: e.to_string() }
}

fn check(tier: Tier, path: &ObjectPath, expected: &str, found: &str) -> Result<(), TierError> {
    if expected == found {
        Ok(())
    } else {
        Err(TierError::Corrupt { tier, path: path.to_string(), expected: expected.to_owned(), found: found.to_owned() })
    }
}

fn ignore_not_found(e: object_store::Error) -> Result<(), object_store::Error> {
    match e {
        object_store::Error::NotFound { .. } => Ok(()),
        e => Err(e),
    }
}

/// The local directory of a configured tier location: a path, or a
/// `file://` URL naming this machine (`file:///abs/path` or
/// `file://localhost/abs/path`, percent-decoded).
fn local_root(tier: Tier, location: &str) -> Result<PathBuf, TierError> {
    let refuse = |message: String| TierError::Open { tier, location: location.to_owned(), message };
    if location.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("file://")) {
        let url = url::Url::parse(location).map_err(|e| refuse(format!("not a valid file:// URL: {e}")))?;
        return match url.host_str() {
            None | Some("") | Some("localhost") => url.to_file_path().map_err(|()| {
                refuse("a file:// URL must name an absolute path, as in file:///var/lib/strata/hot".into())
            }),
            Some(host) => Err(refuse(format!(
                "a file:// URL must name a local path (file:///path), not one on host {host:?}; \
                 mount remote storage and give its local path instead"
            ))),
        };
    }
    if location.contains("://") {
        return Err(refuse("only local directories and file:// URLs are supported in this build".into()));
    }
    Ok(PathBuf::from(location))
}

#[cfg(test)]
mod tests {
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
        assert!(tiers.local_path(Tier::Hot, &blob).starts_with(tiers.root(Tier::Hot).join("acme")));
        std::fs::write(tiers.local_path(Tier::Hot, &blob), b"tampered").unwrap();
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
                if location == "s3://bucket/hot" && message.contains("only local directories")),
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
}
