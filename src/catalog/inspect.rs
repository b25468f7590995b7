//! Reads for operators: what ended each tombstone, and the blobs of a tier's
//! newest live artifacts (to notice a tier directory moved away from them).

use super::sql::{Builder, sql};
use super::{Catalog, CatalogError};
use crate::artifact::{Codec, Tier};
use crate::id::TenantId;
use sqlx::Row;
use std::collections::HashMap;

/// The blob address of one live artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampledBlob {
    /// Owning tenant.
    pub tenant: TenantId,
    /// blake3 of the original bytes, hex.
    pub blake3: String,
    /// How the blob is encoded.
    pub codec: Codec,
}

/// The event kinds that turn an artifact row into a tombstone.
const ENDINGS: &str = "'deleted', 'overwritten', 'purged', 'erased'";

impl Catalog {
    /// What ended each of the tombstones `ids`: the kind of its last
    /// `deleted`, `overwritten`, `purged` or `erased` event, by row id. Rows
    /// without such an event are left out.
    pub async fn tombstone_endings(&self, ids: &[i64]) -> Result<HashMap<i64, String>, CatalogError> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(500) {
            let mut q = Builder::new(format!(
                "SELECT artifact_id, kind FROM events WHERE kind IN ({ENDINGS}) AND artifact_id IN ("
            ));
            q.push_binds(chunk.iter().copied());
            q.push(") ORDER BY seq");
            for row in q.build(self.dialect)?.fetch_all(&self.pool).await? {
                out.insert(row.try_get("artifact_id")?, row.try_get("kind")?);
            }
        }
        Ok(out)
    }

    /// The blobs of the `limit` newest live artifacts in `tier`.
    pub async fn newest_live_blobs(&self, tier: Tier, limit: i64) -> Result<Vec<SampledBlob>, CatalogError> {
        let rows = sqlx::query(sql("SELECT tenant, blake3, codec FROM artifacts \
             WHERE tier = ? AND state IN ('active', 'eligible') ORDER BY id DESC LIMIT ?"))
        .bind(tier.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let bad = |e: &dyn std::fmt::Display| CatalogError::BadRow(e.to_string());
        rows.iter()
            .map(|r| {
                Ok(SampledBlob {
                    tenant: TenantId::parse(&r.try_get::<String, _>("tenant")?).map_err(|e| bad(&e))?,
                    blake3: r.try_get("blake3")?,
                    codec: r.try_get::<String, _>("codec")?.parse().map_err(|e| bad(&e))?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::artifact::Tier;
    use crate::clock::ManualClock;
    use crate::config::Config;
    use crate::id::{ArtifactKey, TenantId};
    use crate::store::{PutOptions, Store};
    use std::sync::Arc;

    #[tokio::test]
    async fn endings_name_what_ended_each_tombstone_and_blobs_come_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(dir.path(), Config::default(), Arc::new(ManualClock::new(chrono::Utc::now()))).await.unwrap();
        store.add_tenant(&TenantId::parse("acme").unwrap(), "pro", "test").await.unwrap();
        let key = |n: &str| ArtifactKey::parse(&format!("acme/wf/{n}")).unwrap();
        let gone = store.put(&key("gone"), &b"gone"[..], PutOptions::default()).await.unwrap();
        let old = store.put(&key("kept"), &b"old"[..], PutOptions::default()).await.unwrap();
        let new = store
            .put(&key("kept"), &b"new"[..], PutOptions { overwrite: true, ..PutOptions::default() })
            .await
            .unwrap();
        store.remove(&key("gone"), "test").await.unwrap();
        let endings = store.catalog.tombstone_endings(&[gone.id, old.id, new.id]).await.unwrap();
        assert_eq!(endings.get(&gone.id).map(String::as_str), Some("deleted"));
        assert_eq!(endings.get(&old.id).map(String::as_str), Some("overwritten"));
        assert_eq!(endings.get(&new.id), None, "a live row has no ending");
        let blobs = store.catalog.newest_live_blobs(Tier::Hot, 5).await.unwrap();
        assert_eq!(blobs.iter().map(|b| b.blake3.as_str()).collect::<Vec<_>>(), [new.blake3.as_str()]);
        assert!(store.catalog.newest_live_blobs(Tier::Cold, 5).await.unwrap().is_empty());
    }
}
