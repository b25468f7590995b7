//! The tier stores: one `object_store` per tier, holding content-addressed
//! blobs at `{tenant}/{ab}/{blake3}` (plus `.zst` when compressed).
//!
//! A tier is a local directory (a path or `file://` URL) or an object store
//! (`s3://`, `az://` or `azure://`, `gs://`); each tier may live in a
//! different store. Whichever it is, strata reaches it only through the
//! `ObjectStore` API, so every operation below works on each.
//!
//! Writes are atomic. The local store writes a staging file and renames it,
//! so no reader ever sees a partial blob; with `storage.fsync` (the default)
//! they are also durable before they return: the file is fsynced, renamed
//! into place, and its directory fsynced (object_store's `with_fsync`). An
//! object store makes an object visible only once its upload completed; a
//! failed upload is aborted and leaves nothing at the blob's address.
//!
//! Two hosts may write the same content-addressed blob at once. On an
//! object store a blob small enough for one request is written only if
//! absent (`PutMode::Create`); finding it there already counts as success
//! once the bytes there verify (and corrupt bytes there are replaced). A
//! larger blob goes up in parts, and completing a multipart upload cannot be
//! made conditional: the last writer's copy of the same bytes wins, which
//! readers cannot tell apart.

mod error;
mod local;
mod probe;
mod reader;
mod remote;
#[cfg(test)]
mod tests;

pub use error::TierError;
pub use probe::{TierProbe, probe_tiers};
pub use reader::BlobReader;

use crate::artifact::{Codec, Tier};
use crate::config::{Backend, Config, TierLocation};
use crate::digest::{Digests, Hasher};
use crate::id::TenantId;
use bytes::Bytes;
use error::ignore_not_found;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attributes, ObjectStore, ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, WriteMultipart,
};
use reader::{PlainReader, check};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Streaming chunk size for uploads and downloads.
const CHUNK: usize = 256 * 1024;

/// Part size of an object store's multipart uploads: S3 refuses parts
/// under 5 MiB (but the last). At most this plus two parts in flight are
/// held per upload.
const PART: usize = 8 * 1024 * 1024;

/// What a failed compression is called in errors.
const ENCODE: &str = "compression";

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
    pub fn key(&self) -> String {
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

/// An object found in a tier by [`Tiers::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierObject {
    /// Its key under the tier's root, `/`-separated.
    pub key: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was last written.
    pub modified: chrono::DateTime<chrono::Utc>,
}

/// One tier's store and how it is written.
#[derive(Clone)]
struct TierStore {
    store: Arc<dyn ObjectStore>,
    /// The location, for messages: a directory or a URL (never a secret).
    location: String,
    /// The directory, for a local tier.
    local: Option<PathBuf>,
    /// What every blob is written with (an object store's storage class).
    attributes: Attributes,
    /// Reads an object's storage class back, for an object store.
    class: Option<remote::ClassReader>,
}

/// Shows the location only: a store's client holds its credentials.
impl std::fmt::Debug for TierStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TierStore").field("location", &self.location).field("attributes", &self.attributes).finish()
    }
}

/// Where the tiers without a configured location live.
fn base_dir(config: &Config, data_dir: &Path) -> PathBuf {
    config.storage.base_path.clone().unwrap_or_else(|| data_dir.join("tiers"))
}

/// Opens `tier`'s store as `config` sets it (under `base` by default). A
/// local directory is created when `create` is set; otherwise a missing one
/// is an error.
fn open_tier(config: &Config, base: &Path, tier: Tier, create: bool) -> Result<TierStore, TierError> {
    let configured = match tier {
        Tier::Hot => &config.storage.hot,
        Tier::Warm => &config.storage.warm,
        Tier::Cold => &config.storage.cold,
    };
    let default = TierLocation::new(base.join(tier.as_str()).display().to_string());
    let location = configured.as_ref().unwrap_or(&default);
    let backend =
        location.backend().map_err(|message| TierError::Open { tier, location: location.url.clone(), message })?;
    if backend == Backend::Local {
        let root = match configured {
            Some(l) => local::local_root(tier, &l.url)?,
            None => base.join(tier.as_str()),
        };
        let store = local::open(tier, &root, config.storage.fsync, create)?;
        return Ok(TierStore {
            store: Arc::new(store),
            location: root.display().to_string(),
            local: Some(root),
            attributes: Attributes::new(),
            class: None,
        });
    }
    let opened = remote::open(tier, location, backend)?;
    Ok(TierStore {
        store: opened.store,
        location: location.url.clone(),
        local: None,
        attributes: remote::attributes(location),
        class: Some(opened.class),
    })
}

/// The three tier stores.
#[derive(Debug, Clone)]
pub struct Tiers {
    tiers: [TierStore; 3],
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
    /// Opens the tier stores configured in `config`, defaulting to
    /// `<data_dir>/tiers/{hot,warm,cold}`; local directories are created if
    /// needed. Object stores are not contacted here: [`Tiers::check`] does.
    pub fn open(config: &Config, data_dir: &Path) -> Result<Self, TierError> {
        let base = base_dir(config, data_dir);
        Ok(Self {
            tiers: [
                open_tier(config, &base, Tier::Hot, true)?,
                open_tier(config, &base, Tier::Warm, true)?,
                open_tier(config, &base, Tier::Cold, true)?,
            ],
            compression_level: config.tiers.compression_level,
        })
    }

    fn tier(&self, tier: Tier) -> &TierStore {
        &self.tiers[index(tier)]
    }

    fn store(&self, tier: Tier) -> &dyn ObjectStore {
        self.tier(tier).store.as_ref()
    }

    /// Checks that every tier is reachable (for startup and readiness
    /// probes): a local directory exists; an object store lists the tier's
    /// root, so a missing bucket or refused credentials name the tier.
    pub async fn check(&self) -> Result<(), TierError> {
        for tier in Tier::ALL {
            let t = self.tier(*tier);
            match &t.local {
                Some(root) => local::check(*tier, root).await?,
                None => remote::check(*tier, &t.location, t.store.as_ref()).await?,
            }
        }
        Ok(())
    }

    /// Where `tier` keeps its bytes: its directory or its URL.
    pub fn location(&self, tier: Tier) -> &str {
        &self.tier(tier).location
    }

    /// The local directory backing `tier`; `None` for an object store.
    pub fn root(&self, tier: Tier) -> Option<&Path> {
        self.tier(tier).local.as_deref()
    }

    /// The local file holding `blob` in `tier` (for operators and drills);
    /// `None` for an object store, where [`BlobRef::key`] under the tier's
    /// location names it.
    pub fn local_path(&self, tier: Tier, blob: &BlobRef<'_>) -> Option<PathBuf> {
        self.root(tier).map(|root| root.join(blob.key()))
    }

    /// Streams `reader` into the hot tier's staging area, computing digests.
    pub async fn stage<R: AsyncRead + Unpin>(&self, tenant: &TenantId, mut reader: R) -> Result<Staged, TierError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let path = ObjectPath::from(format!("{}/.staging/{}/{}", tenant, &id[..2], id));
        let mut writer = self.upload(Tier::Hot, &path, "stage").await?;
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
                // Removes the partial upload now, not in a background task.
                let _ = writer.abort().await;
                return Err(TierError::store("stage", Tier::Hot, &path, e));
            }
        }
        writer.finish().await.map_err(|e| TierError::store("stage", Tier::Hot, &path, e))?;
        Ok(Staged { path, digests: hasher.finish() })
    }

    /// Starts a multipart upload to `path` in `tier`, written with the tier's attributes.
    async fn upload(&self, tier: Tier, path: &ObjectPath, op: &'static str) -> Result<WriteMultipart, TierError> {
        let t = self.tier(tier);
        let opts = PutMultipartOptions { attributes: t.attributes.clone(), ..Default::default() };
        let upload = t.store.put_multipart_opts(path, opts).await.map_err(|e| TierError::store(op, tier, path, e))?;
        let part = if t.local.is_some() { CHUNK } else { PART };
        Ok(WriteMultipart::new_with_chunk_size(upload, part))
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
    /// A store renames server-side, unless the tier sets a storage class: a
    /// server-side copy would not keep it, so the bytes are streamed again
    /// (and verified on the way) into a new upload.
    pub async fn commit_staged(&self, staged: &Staged, tenant: &TenantId) -> Result<(), TierError> {
        let blob = BlobRef { tenant, blake3: &staged.digests.blake3, codec: Codec::None };
        if self.tier(Tier::Hot).attributes.is_empty() {
            return self
                .store(Tier::Hot)
                .rename(&staged.path, &blob.path())
                .await
                .map_err(|e| TierError::store("commit", Tier::Hot, blob.path(), e));
        }
        let reader = self.plain_reader_at(Tier::Hot, staged.path.clone(), Codec::None).await?;
        self.transfer(reader, &staged.digests.blake3, Tier::Hot, &blob).await?;
        self.store(Tier::Hot)
            .delete(&staged.path)
            .await
            .or_else(ignore_not_found)
            .map_err(|e| TierError::store("discard", Tier::Hot, &staged.path, e))
    }

    async fn staged_exists(&self, staged: &Staged) -> Result<bool, TierError> {
        match self.store(Tier::Hot).head(&staged.path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(TierError::store("stat", Tier::Hot, &staged.path, e)),
        }
    }

    /// Deletes a staged upload that will not be committed.
    pub async fn discard_staged(&self, staged: Staged) -> Result<(), TierError> {
        self.store(Tier::Hot)
            .delete(&staged.path)
            .await
            .or_else(ignore_not_found)
            .map_err(|e| TierError::store("discard", Tier::Hot, &staged.path, e))
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
        let reader = self.plain_reader(from, src).await?;
        self.transfer(reader, src.blake3, to, &dst).await
    }

    /// Streams `reader`'s original bytes into `dst` in `to`, encoded in
    /// `dst.codec`; the upload completes only if the bytes match `expected`.
    /// Returns the stored size.
    async fn transfer(
        &self,
        mut reader: PlainReader,
        expected: &str,
        to: Tier,
        dst: &BlobRef<'_>,
    ) -> Result<u64, TierError> {
        let dst_path = dst.path();
        let mut writer = self.upload(to, &dst_path, "write").await?;
        let mut encoder = match dst.codec {
            Codec::None => None,
            Codec::Zstd => Some(
                zstd::stream::write::Encoder::new(Vec::new(), self.compression_level)
                    .map_err(|e| TierError::codec(ENCODE, to, &dst_path, e))?,
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
                        e.write_all(&plain).map_err(|err| TierError::codec(ENCODE, to, &dst_path, err))?;
                        Bytes::from(std::mem::take(e.get_mut()))
                    }
                };
                stored += out.len() as u64;
                writer.put(out);
                writer.wait_for_capacity(2).await.map_err(|e| TierError::store("write", to, &dst_path, e))?;
            }
            if let Some(e) = encoder.take() {
                let rest = e.finish().map_err(|err| TierError::codec(ENCODE, to, &dst_path, err))?;
                stored += rest.len() as u64;
                writer.write(&rest);
            }
            check(reader.tier, &reader.path, expected, &hasher.finish().blake3)
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
    /// the stored size. Compression runs off the async threads. On an object
    /// store the write is conditional (see the module's documentation).
    pub async fn write(&self, tier: Tier, blob: &BlobRef<'_>, plain: Bytes) -> Result<u64, TierError> {
        let path = blob.path();
        let encoded = match blob.codec {
            Codec::None => plain,
            Codec::Zstd => {
                let level = self.compression_level;
                let p = path.to_string();
                tokio::task::spawn_blocking(move || zstd::encode_all(plain.as_ref(), level))
                    .await
                    .map_err(|e| TierError::codec(ENCODE, tier, &p, e))?
                    .map(Bytes::from)
                    .map_err(|e| TierError::codec(ENCODE, tier, &p, e))?
            }
        };
        let stored = encoded.len() as u64;
        let t = self.tier(tier);
        let put = |mode: PutMode| {
            let opts = PutOptions { mode, attributes: t.attributes.clone(), ..Default::default() };
            t.store.put_opts(&path, PutPayload::from_bytes(encoded.clone()), opts)
        };
        if t.local.is_some() {
            put(PutMode::Overwrite).await.map_err(|e| TierError::store("write", tier, &path, e))?;
            return Ok(stored);
        }
        match put(PutMode::Create).await {
            Ok(_) => Ok(stored),
            Err(object_store::Error::AlreadyExists { .. }) => match self.verify(tier, blob).await {
                // A concurrent writer stored the same content address first.
                Ok(_) => self.stored_size(tier, &path).await,
                Err(TierError::Corrupt { .. } | TierError::Codec { .. }) => {
                    put(PutMode::Overwrite).await.map_err(|e| TierError::store("write", tier, &path, e))?;
                    Ok(stored)
                }
                Err(e) => Err(e),
            },
            Err(object_store::Error::NotImplemented { .. }) => {
                put(PutMode::Overwrite).await.map_err(|e| TierError::store("write", tier, &path, e))?;
                Ok(stored)
            }
            Err(e) => Err(TierError::store("write", tier, &path, e)),
        }
    }

    async fn stored_size(&self, tier: Tier, path: &ObjectPath) -> Result<u64, TierError> {
        let meta = self.store(tier).head(path).await.map_err(|e| TierError::read(tier, path, e))?;
        Ok(meta.size)
    }

    /// Whether `blob` exists in `tier`.
    pub async fn exists(&self, tier: Tier, blob: &BlobRef<'_>) -> Result<bool, TierError> {
        let path = blob.path();
        match self.store(tier).head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(TierError::store("stat", tier, &path, e)),
        }
    }

    /// Every object in `tier`, by its key under the tier's root (for
    /// garbage collection of an object store tier).
    pub async fn list(&self, tier: Tier) -> Result<Vec<TierObject>, TierError> {
        use futures::TryStreamExt;
        let t = self.tier(tier);
        t.store
            .list(None)
            .map_ok(|m| TierObject { key: m.location.to_string(), bytes: m.size, modified: m.last_modified })
            .try_collect()
            .await
            .map_err(|e| TierError::store("list", tier, &t.location, e))
    }

    /// Whether the object at `key` (as [`Tiers::list`] names it) exists.
    pub async fn exists_key(&self, tier: Tier, key: &str) -> Result<bool, TierError> {
        match self.store(tier).head(&ObjectPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(TierError::store("stat", tier, key, e)),
        }
    }

    /// Deletes the object at `key` (as [`Tiers::list`] names it); one
    /// already gone counts as deleted.
    pub async fn delete_key(&self, tier: Tier, key: &str) -> Result<(), TierError> {
        self.store(tier)
            .delete(&ObjectPath::from(key))
            .await
            .or_else(ignore_not_found)
            .map_err(|e| TierError::store("delete", tier, key, e))
    }

    /// Deletes a blob; a blob that is already gone counts as deleted.
    pub async fn delete(&self, tier: Tier, blob: &BlobRef<'_>) -> Result<(), TierError> {
        let path = blob.path();
        self.store(tier)
            .delete(&path)
            .await
            .or_else(ignore_not_found)
            .map_err(|e| TierError::store("delete", tier, &path, e))
    }
}
