//! The blobs live artifacts reference, for garbage collection and the
//! reconciliation of the catalog with the tiers.

use super::sql::sql;
use super::{Catalog, CatalogError};
use crate::artifact::{Codec, Tier};
use sqlx::Row;

/// A blob that a live (active or eligible) artifact references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveBlob {
    /// The artifact's id.
    pub id: i64,
    /// The artifact's key, `TENANT/WORKFLOW/NAME`.
    pub key: String,
    /// The owning tenant, as the tiers spell it.
    pub tenant: String,
    /// blake3 of the original bytes, hex.
    pub blake3: String,
    /// The tier holding it.
    pub tier: Tier,
    /// Its encoding there.
    pub codec: Codec,
}

impl Catalog {
    /// Every blob a live artifact references, by artifact id.
    pub async fn live_blobs(&self) -> Result<Vec<LiveBlob>, CatalogError> {
        let rows = sqlx::query(sql("SELECT id, tenant, workflow, name, blake3, tier, codec FROM artifacts \
             WHERE state IN ('active', 'eligible') ORDER BY id"))
        .fetch_all(&self.pool)
        .await?;
        let bad = |e: crate::artifact::UnknownValue| CatalogError::BadRow(e.to_string());
        rows.iter()
            .map(|r| {
                let tenant: String = r.try_get("tenant")?;
                let workflow: String = r.try_get("workflow")?;
                let name: String = r.try_get("name")?;
                Ok(LiveBlob {
                    id: r.try_get("id")?,
                    key: format!("{tenant}/{workflow}/{name}"),
                    tenant,
                    blake3: r.try_get("blake3")?,
                    tier: r.try_get::<String, _>("tier")?.parse().map_err(bad)?,
                    codec: r.try_get::<String, _>("codec")?.parse().map_err(bad)?,
                })
            })
            .collect()
    }
}
