//! A health probe of each tier: write a small object under `.doctor/`, read
//! it back, verify it, read back the storage class the store gave it (when
//! the tier sets one), delete it and check that it is gone. Opening for a
//! probe creates no directory, and a probe leaves nothing behind.

use super::error::TierError;
use super::{TierStore, base_dir, open_tier};
use crate::artifact::Tier;
use crate::config::Config;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::path::Path;

/// The prefix every probe object is written under.
const PREFIX: &str = ".doctor";

/// What probing one tier found.
#[derive(Debug)]
pub struct TierProbe {
    /// The tier.
    pub tier: Tier,
    /// Its directory or URL (never a secret).
    pub location: String,
    /// The storage class the probe object was written with, if one is configured.
    pub storage_class: Option<String>,
    /// Whether the write, read, verify and delete all succeeded.
    pub outcome: Result<(), TierError>,
    /// The storage class the store reports for the probe object, when one
    /// is configured and the object was written.
    pub reported_class: Option<Result<String, TierError>>,
}

impl TierProbe {
    /// Whether the store reports the configured storage class (compared
    /// without regard to case); `None` when there is nothing to compare.
    pub fn class_honoured(&self) -> Option<bool> {
        let asked = self.storage_class.as_ref()?;
        Some(matches!(&self.reported_class, Some(Ok(reported)) if reported.eq_ignore_ascii_case(asked)))
    }
}

/// Probes every tier `config` sets up (see the module documentation).
pub async fn probe_tiers(config: &Config, data_dir: &Path) -> Vec<TierProbe> {
    let base = base_dir(config, data_dir);
    let mut probes = Vec::with_capacity(Tier::ALL.len());
    for tier in Tier::ALL {
        let configured = match tier {
            Tier::Hot => &config.storage.hot,
            Tier::Warm => &config.storage.warm,
            Tier::Cold => &config.storage.cold,
        };
        let storage_class = configured.as_ref().and_then(|l| l.storage_class.clone());
        let probe = match open_tier(config, &base, *tier, false) {
            Ok(store) => {
                let (outcome, reported_class) = round_trip(*tier, &store, storage_class.is_some()).await;
                TierProbe { tier: *tier, location: store.location.clone(), storage_class, outcome, reported_class }
            }
            Err(e) => {
                let location = configured
                    .as_ref()
                    .map_or_else(|| base.join(tier.as_str()).display().to_string(), |l| l.url.clone());
                TierProbe { tier: *tier, location, storage_class, outcome: Err(e), reported_class: None }
            }
        };
        probes.push(probe);
    }
    probes
}

/// Writes, reads, verifies and deletes one probe object in `t`; with
/// `class`, also reads back the storage class the store gave it.
async fn round_trip(
    tier: Tier,
    t: &TierStore,
    class: bool,
) -> (Result<(), TierError>, Option<Result<String, TierError>>) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let path = ObjectPath::from(format!("{PREFIX}/{id}"));
    let body = bytes::Bytes::from(format!("strata doctor probe {id}\n"));
    let done = write_read_verify(tier, t, &path, body).await;
    let reported = match (&done, &t.class) {
        (Ok(()), Some(reader)) if class => Some(reader.read(tier, &path).await),
        _ => None,
    };
    let deleted = match t.store.delete(&path).await {
        Ok(()) => gone(tier, t.store.as_ref(), &path).await,
        Err(e) => Err(TierError::store("delete", tier, &path, e)),
    };
    if let Some(root) = &t.local {
        // The local store leaves the directory it created for the object.
        let _ = std::fs::remove_dir(root.join(PREFIX));
    }
    (done.and(deleted), reported)
}

async fn write_read_verify(tier: Tier, t: &TierStore, path: &ObjectPath, body: bytes::Bytes) -> Result<(), TierError> {
    let opts = PutOptions { mode: PutMode::Create, attributes: t.attributes.clone(), ..Default::default() };
    t.store
        .put_opts(path, PutPayload::from_bytes(body.clone()), opts)
        .await
        .map_err(|e| TierError::store("write", tier, path, e))?;
    let read = t.store.get(path).await.map_err(|e| TierError::read(tier, path, e))?;
    let found = read.bytes().await.map_err(|e| TierError::read(tier, path, e))?;
    if found != body {
        return Err(TierError::Corrupt {
            tier,
            path: path.to_string(),
            expected: blake3::hash(&body).to_hex().to_string(),
            found: blake3::hash(&found).to_hex().to_string(),
        });
    }
    Ok(())
}

/// Checks that the deleted object at `path` is no longer there.
async fn gone(tier: Tier, store: &dyn ObjectStore, path: &ObjectPath) -> Result<(), TierError> {
    match store.head(path).await {
        Err(object_store::Error::NotFound { .. }) => Ok(()),
        Ok(_) => Err(TierError::io("delete", tier, path, "the object is still there after its delete")),
        Err(e) => Err(TierError::store("stat", tier, path, e)),
    }
}
