//! The artifact store: the catalog and the tiers together, with the
//! operations a user asks for directly (put, get, list, remove, tenants).

use crate::artifact::{Artifact, Codec, State, Tier};
use crate::catalog::{ArtifactFilter, Catalog, CatalogError, Dialect, RestoreJob, Tenant};
use crate::clock::SharedClock;
use crate::committer::{BlobRelease, Committer, Ingest, LifecycleWrite};
use crate::config::Config;
use crate::event::{EventKind, NewEvent};
use crate::id::{ArtifactKey, TenantId};
use crate::lifecycle;
use crate::tiers::{BlobReader, BlobRef, TierError, Tiers};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncRead;

pub use crate::store_error::StoreError;

/// Options of a put.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// Retention class; `None` = the plan's retention.
    pub class: Option<String>,
    /// Tags.
    pub tags: serde_json::Map<String, serde_json::Value>,
    /// User metadata.
    pub meta: serde_json::Map<String, serde_json::Value>,
    /// MIME type; guessed from the name when `None`.
    pub content_type: Option<String>,
    /// Replace a live artifact with the same key.
    pub overwrite: bool,
    /// Who is writing (for the event).
    pub actor: String,
}

/// The artifact store: the one way into the catalog's writes, the tiers and
/// the group committer for the crates above the core. Its operations are
/// named for what they do, and each is one catalog transaction.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) catalog: Catalog,
    pub(crate) tiers: Tiers,
    pub(crate) config: Arc<Config>,
    pub(crate) clock: SharedClock,
    pub(crate) committer: Committer,
    pub(crate) data_dir: PathBuf,
}

impl Store {
    /// Opens the store in `data_dir` (catalog `catalog.db`, tiers under `tiers/`).
    pub async fn open(data_dir: &Path, config: Config, clock: SharedClock) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| StoreError::DataDir { path: data_dir.to_owned(), source })?;
        let catalog = match config.catalog.url.as_deref() {
            Some(url) if Dialect::of_url(url) == Dialect::Postgres => {
                Catalog::open_postgres(url, config.keep_latest_cap()).await?
            }
            Some(url) => {
                return Err(CatalogError::Open {
                    path: crate::catalog::redacted(url),
                    message: "not a PostgreSQL URL (postgres://…); unset catalog.url (STRATA_DATABASE_URL) for the \
                              embedded SQLite catalog"
                        .into(),
                }
                .into());
            }
            None => {
                Catalog::open_with(&data_dir.join("catalog.db"), config.keep_latest_cap(), config.storage.fsync).await?
            }
        };
        let tiers = Tiers::open(&config, data_dir)?;
        let committer = Committer::start(catalog.clone(), tiers.clone(), clock.clone());
        Ok(Self { catalog, tiers, config: Arc::new(config), clock, committer, data_dir: data_dir.to_owned() })
    }

    /// Records many uploads whose bytes have landed, in ONE transaction (a
    /// bulk import, e.g. to seed a large catalog): each as [`Store::put`]
    /// records it, with its events. All or nothing.
    pub async fn ingest_batch(&self, ingests: &[Ingest]) -> Result<Vec<(Artifact, Option<Artifact>)>, StoreError> {
        let mut tx = self.catalog.begin_write().await?;
        let mut done = Vec::with_capacity(ingests.len());
        for ingest in ingests {
            done.push(crate::committer::record_ingest(&mut tx, &self.tiers, ingest).await?);
        }
        tx.commit().await?;
        Ok(done)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The catalog's queries and its single-transaction operations.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The tier stores.
    pub fn tiers(&self) -> &Tiers {
        &self.tiers
    }

    /// The loaded configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The clock every store operation reads time from.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The clock's current instant.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Applies a batch of lifecycle writes in one commit with multi-row
    /// statements (see [`crate::committer::Committer::apply_many`]); each
    /// write's outcome, in order. The outer error means the committer stopped.
    pub async fn apply_many(&self, writes: Vec<LifecycleWrite>) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
        self.committer.apply_many(writes).await
    }

    /// Adds a tenant on a configured plan.
    pub async fn add_tenant(&self, name: &TenantId, plan: &str, actor: &str) -> Result<Tenant, StoreError> {
        self.check_plan(plan)?;
        let mut tx = self.catalog.begin_write().await?;
        match tx.add_tenant(name, plan, self.clock.now(), actor).await {
            Err(CatalogError::Conflict(_)) => return Err(StoreError::TenantExists(name.to_string())),
            other => other?,
        }
        tx.commit().await?;
        Ok(self.catalog.tenant(name).await?)
    }

    /// [`StoreError::UnknownPlan`] unless `plan` is configured.
    pub fn check_plan(&self, plan: &str) -> Result<(), StoreError> {
        if self.config.has_plan(plan) {
            return Ok(());
        }
        let known = self.config.retention.plans.keys().cloned().collect::<Vec<_>>().join(", ");
        Err(StoreError::UnknownPlan { plan: plan.to_owned(), known })
    }

    /// The tenant, or [`StoreError::UnknownTenant`].
    pub async fn tenant(&self, name: &TenantId) -> Result<Tenant, StoreError> {
        self.catalog.tenant(name).await.map_err(|e| match e {
            CatalogError::NotFound(_) => StoreError::UnknownTenant(name.to_string()),
            e => e.into(),
        })
    }

    /// Streams `reader` into the hot tier and records the artifact, with its
    /// `ingested` event, in one transaction. Nothing is written on bad input.
    pub async fn put<R: AsyncRead + Unpin>(
        &self,
        key: &ArtifactKey,
        reader: R,
        opts: PutOptions,
    ) -> Result<Artifact, StoreError> {
        // Refusals that can be known before any byte is written are made
        // here; the transaction below checks again, for racing writers.
        let (tenant, live) = self.catalog.put_check(key).await.map_err(|e| match e {
            CatalogError::NotFound(_) => StoreError::UnknownTenant(key.tenant.to_string()),
            e => e.into(),
        })?;
        let now = self.clock.now();
        let expires_at = lifecycle::expires_at(&self.config, &tenant.plan, opts.class.as_deref(), now)?;
        match live {
            Some(_) if !opts.overwrite => return Err(StoreError::AlreadyExists(key.clone())),
            Some(true) => return Err(StoreError::Held(key.clone())),
            _ => {}
        }
        let landing = self.tiers.land(&key.tenant, reader).await?;
        let digests = landing.digests().clone();
        let mut artifact = Artifact {
            id: 0,
            tenant: key.tenant.clone(),
            workflow: key.workflow.clone(),
            name: key.name.clone(),
            size: digests.size,
            stored_size: digests.size,
            codec: Codec::None,
            blake3: digests.blake3,
            sha256: digests.sha256,
            content_type: opts.content_type.clone().unwrap_or_else(|| guess_content_type(key.name.as_str()).to_owned()),
            tags: opts.tags,
            meta: opts.meta,
            created_at: now,
            last_accessed_at: now,
            verified_at: now,
            tier: Tier::Hot,
            state: State::Active,
            class: opts.class,
            expires_at,
            eligible_at: None,
            pinned_hot_until: None,
            next_due_at: None,
            job_token: None,
            generation: 0,
            held: false,
            extended: false,
            plan: tenant.plan.clone(),
            newer_live: 0,
            dead_lettered_at: None,
        };
        artifact.next_due_at = lifecycle::decide(&artifact, &self.config, now).next_due_at;
        let ingest = Ingest { artifact, landing: landing.clone(), overwrite: opts.overwrite, actor: opts.actor };
        let result = self.committer.ingest(ingest).await;
        match result {
            Ok((inserted, replaced)) => {
                if let Some(old) = replaced {
                    self.release_blob(&old.tenant, &old.blake3, old.tier, old.codec, None).await?;
                }
                Ok(inserted)
            }
            Err(e) => {
                // Nothing references the upload: its staging file goes, and
                // so does its content address unless a live artifact uses it
                // (checked under the write lock; a concurrent put of the same
                // bytes writes them again when it settles).
                let blake3 = landing.digests().blake3.clone();
                let _ = self.tiers.abandon(landing).await;
                let _ = self.release_blob(&key.tenant, &blake3, Tier::Hot, Codec::None, None).await;
                Err(e)
            }
        }
    }

    /// Writes the artifact's bytes to `dest` (atomically, verified) and
    /// records the access. Retries when a concurrent tier move relocated it.
    pub async fn get_to_file(&self, key: &ArtifactKey, dest: &Path) -> Result<Artifact, StoreError> {
        let mut attempts = 0;
        loop {
            let a = self.catalog.find_live(key).await.map_err(|e| not_found(e, key))?;
            let blob = BlobRef { tenant: &a.tenant, blake3: &a.blake3, codec: a.codec };
            match self.tiers.read_to_file(a.tier, &blob, dest).await {
                Ok(_) => {
                    self.catalog.touch(a.id, self.clock.now()).await?;
                    return Ok(a);
                }
                Err(TierError::Missing { .. }) if attempts < 3 => {
                    let now = self.catalog.find_live(key).await.map_err(|e| not_found(e, key))?;
                    if now.generation == a.generation {
                        return Err(StoreError::BlobMissing { key: key.clone(), tier: a.tier });
                    }
                    attempts += 1;
                }
                Err(TierError::Missing { tier, .. }) => return Err(StoreError::BlobMissing { key: key.clone(), tier }),
                Err(TierError::Corrupt { tier, expected, found, .. }) => {
                    return Err(StoreError::Corrupt {
                        key: key.clone(),
                        tier,
                        detail: format!("expected blake3 {expected}, read {found}"),
                    });
                }
                Err(e) => return Err(read_failure(key, e)),
            }
        }
    }

    /// Opens the artifact's bytes for streaming (from any tier, decoded) and
    /// records the access. The reader checks the digest as the bytes pass and
    /// ends in an error instead of an end when they do not match. Retries
    /// when a concurrent tier move relocated the blob before it was opened.
    pub async fn open_read(&self, key: &ArtifactKey) -> Result<(Artifact, BlobReader), StoreError> {
        let mut attempts = 0;
        loop {
            let a = self.find(key).await?;
            let blob = BlobRef { tenant: &a.tenant, blake3: &a.blake3, codec: a.codec };
            match self.tiers.open_reader(a.tier, &blob).await {
                Ok(reader) => {
                    self.catalog.touch(a.id, self.clock.now()).await?;
                    return Ok((a, reader));
                }
                Err(TierError::Missing { .. }) if attempts < 3 => {
                    if self.find(key).await?.generation == a.generation {
                        return Err(StoreError::BlobMissing { key: key.clone(), tier: a.tier });
                    }
                    attempts += 1;
                }
                Err(TierError::Missing { tier, .. }) => return Err(StoreError::BlobMissing { key: key.clone(), tier }),
                Err(e) => return Err(read_failure(key, e)),
            }
        }
    }

    /// Records a restore job requested over the API (see [`RestoreJob`]).
    pub async fn record_restore_job(&self, job: &RestoreJob) -> Result<(), StoreError> {
        let mut tx = self.catalog.begin_write().await?;
        tx.add_restore_job(job).await?;
        Ok(tx.commit().await?)
    }

    /// The live artifact at `key`.
    pub async fn find(&self, key: &ArtifactKey) -> Result<Artifact, StoreError> {
        self.catalog.find_live(key).await.map_err(|e| not_found(e, key))
    }

    /// Lists artifacts.
    pub async fn list(&self, filter: &ArtifactFilter) -> Result<Vec<Artifact>, StoreError> {
        Ok(self.catalog.list(filter).await?)
    }

    /// The artifacts `query` selects, in its order, once it passes
    /// [`ArtifactQuery::check`](crate::query::ArtifactQuery::check).
    pub async fn query(&self, query: &crate::query::ArtifactQuery) -> Result<Vec<Artifact>, StoreError> {
        query.check()?;
        Ok(self.catalog.query(query).await?)
    }

    /// Deletes a live artifact: tombstone first, bytes second.
    pub async fn remove(&self, key: &ArtifactKey, actor: &str) -> Result<Artifact, StoreError> {
        let mut tx = self.catalog.begin_write().await?;
        let a = tx.find_live(key).await?.ok_or_else(|| StoreError::NotFound(key.clone()))?;
        if a.held {
            return Err(StoreError::Held(key.clone()));
        }
        let tomb = Artifact { state: State::Purged, next_due_at: None, ..a.clone() };
        tx.save(&tomb, a.generation, None, self.clock.now()).await?;
        let event = NewEvent::new(EventKind::Deleted, actor, json!({ "bytes_freed": a.stored_size, "tier": a.tier }));
        tx.append_event(self.clock.now(), None, Some(&a), &event).await?;
        tx.commit().await?;
        self.release_blob(&a.tenant, &a.blake3, a.tier, a.codec, None).await?;
        Ok(a)
    }

    /// Deletes a blob from `tier` unless a live artifact still references it,
    /// and, in the same transaction, ends a job's claim (`(artifact id,
    /// token)`) when one is given. The reference check and the delete run
    /// under the catalog's write lock, so an ingest of the same bytes cannot
    /// slip between them.
    pub async fn release_blob(
        &self,
        tenant: &TenantId,
        blake3: &str,
        tier: Tier,
        codec: Codec,
        claim: Option<(i64, &str)>,
    ) -> Result<bool, StoreError> {
        let release = BlobRelease {
            tenant: tenant.clone(),
            blake3: blake3.to_owned(),
            tier,
            codec,
            claim: claim.map(|(id, token)| (id, token.to_owned())),
        };
        self.committer.release_blob(release).await
    }
}

/// A failed read of `key`'s blob: one that cannot be decoded is corrupt,
/// and the error names the artifact as well as the blob.
fn read_failure(key: &ArtifactKey, e: TierError) -> StoreError {
    match e {
        TierError::Codec { tier, .. } => StoreError::Corrupt { key: key.clone(), tier, detail: e.to_string() },
        e => e.into(),
    }
}

fn not_found(e: CatalogError, key: &ArtifactKey) -> StoreError {
    match e {
        CatalogError::NotFound(_) => StoreError::NotFound(key.clone()),
        e => e.into(),
    }
}

/// A MIME type from a file name's extension (after its last dot, any
/// case), from `mime_guess`'s table; `application/octet-stream` when the
/// name has no extension or an unknown one.
pub fn guess_content_type(name: &str) -> &'static str {
    name.rsplit_once('.')
        .and_then(|(_, ext)| mime_guess::from_ext(ext).first_raw())
        .unwrap_or("application/octet-stream")
}

#[cfg(test)]
mod tests {
    use super::guess_content_type;

    #[test]
    fn content_types_are_guessed_from_the_last_extension() {
        let cases = [
            ("report.json", "application/json"),
            ("build.LOG", "text/plain"),
            ("notes.txt", "text/plain"),
            ("README.md", "text/markdown"),
            ("rows.csv", "text/csv"),
            ("index.htm", "text/html"),
            ("bundle.tar.gz", "application/gzip"),
            ("site.zip", "application/zip"),
            ("layers.tar", "application/x-tar"),
            ("shot.PNG", "image/png"),
            ("photo.jpeg", "image/jpeg"),
            ("manual.pdf", "application/pdf"),
            ("blob.bin", "application/octet-stream"),
            ("data.nosuchext", "application/octet-stream"),
            ("Makefile", "application/octet-stream"),
        ];
        for (name, want) in cases {
            assert_eq!(guess_content_type(name), want, "{name}");
        }
    }
}
