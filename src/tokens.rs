//! Tenant API tokens: 32 random bytes, shown once as hex; the catalog keeps
//! only their sha256, so a leaked catalog does not leak working tokens.

use crate::event::{EventKind, NewEvent};
use crate::id::TenantId;
use crate::store::{Store, StoreError};
use serde_json::json;
use sha2::{Digest, Sha256};

/// A freshly created token: the only moment its value is known.
#[derive(Debug)]
pub struct NewToken {
    /// Its catalog id.
    pub id: i64,
    /// The tenant it reaches.
    pub tenant: TenantId,
    /// The token itself (64 hex digits).
    pub token: String,
}

/// The sha256 of a token, hex: how tokens are stored and looked up.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two hex digests in time independent of where they differ
/// (case-insensitively, as configured digests may be upper case).
fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase()))
            == 0
}

impl Store {
    /// Creates an API token for an existing tenant, with its `token_created` event.
    pub async fn create_token(&self, tenant: &TenantId, actor: &str) -> Result<NewToken, StoreError> {
        self.tenant(tenant).await?;
        let token = hex::encode(rand::random::<[u8; 32]>());
        let now = self.clock.now();
        let mut tx = self.catalog.begin_write().await?;
        let id = tx.add_token(tenant, &token_hash(&token), now, actor).await?;
        let event = NewEvent::new(EventKind::TokenCreated, actor, json!({ "token_id": id }));
        tx.append_event(now, Some(tenant), None, &event).await?;
        tx.commit().await?;
        Ok(NewToken { id, tenant: tenant.clone(), token })
    }

    /// The tenant a presented token reaches, if it is a configured
    /// (`api.tenant_tokens`) or a known, unrevoked token.
    pub async fn token_tenant(&self, token: &str) -> Result<Option<TenantId>, StoreError> {
        let hash = token_hash(token);
        for (tenant, digests) in &self.config.api.tenant_tokens {
            if digests.iter().any(|d| same_digest(d, &hash)) {
                return Ok(TenantId::parse(tenant).ok());
            }
        }
        Ok(self.catalog.token_tenant(&hash).await?)
    }

    /// Revokes token `id` of `tenant`, with its `token_revoked` event.
    pub async fn revoke_token(&self, tenant: &TenantId, id: i64, actor: &str) -> Result<(), StoreError> {
        self.tenant(tenant).await?;
        let now = self.clock.now();
        let mut tx = self.catalog.begin_write().await?;
        if !tx.revoke_token(tenant, id, now).await? {
            return Err(StoreError::TokenNotFound { tenant: tenant.to_string(), id });
        }
        let event = NewEvent::new(EventKind::TokenRevoked, actor, json!({ "token_id": id }));
        tx.append_event(now, Some(tenant), None, &event).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::config::Config;
    use std::sync::Arc;

    #[tokio::test]
    async fn tokens_are_stored_hashed_and_reach_their_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Config::default(), Arc::new(SystemClock)).await.unwrap();
        let acme = TenantId::parse("acme").unwrap();
        assert!(matches!(store.create_token(&acme, "test").await, Err(StoreError::UnknownTenant(_))));
        store.add_tenant(&acme, "free", "test").await.unwrap();
        let created = store.create_token(&acme, "test").await.unwrap();
        assert_eq!(created.token.len(), 64);
        assert_eq!(store.token_tenant(&created.token).await.unwrap(), Some(acme));
        assert_eq!(store.token_tenant("not-a-token").await.unwrap(), None);
        let needle = created.token.as_bytes();
        for file in ["catalog.db", "catalog.db-wal"] {
            let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
            assert!(!bytes.windows(needle.len()).any(|w| w == needle), "the token itself is never stored");
        }
    }
}
