//! Extensions: an artifact's expiry moved later, with a reason.

use super::{require_reason, save_change};
use crate::artifact::{Artifact, State};
use crate::event::{EventKind, NewEvent};
use crate::id::ArtifactKey;
use crate::lifecycle::effective_expiry;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde_json::json;

impl Store {
    /// Moves an artifact's expiry to `until`, strictly later than the current
    /// one, with a mandatory reason (one `retention.extended` event). An
    /// eligible artifact whose new expiry is in the future leaves eligibility.
    pub async fn extend(
        &self,
        key: &ArtifactKey,
        until: DateTime<Utc>,
        reason: &str,
        actor: &str,
    ) -> Result<Artifact, StoreError> {
        require_reason(reason)?;
        let now = self.clock.now();
        let mut tx = self.catalog.begin_write().await?;
        let stored = tx.find_live(key).await?.ok_or_else(|| StoreError::NotFound(key.clone()))?;
        // The expiry to beat is the one the current policy decides.
        let current =
            effective_expiry(&stored, &self.config).at.ok_or_else(|| StoreError::NeverExpires(key.clone()))?;
        if until <= current {
            return Err(StoreError::NotLater {
                key: key.clone(),
                current: current.to_rfc3339(),
                requested: until.to_rfc3339(),
            });
        }
        let updated = Artifact { expires_at: Some(until), extended: true, ..stored.clone() };
        let mut event = NewEvent::new(EventKind::RetentionExtended, actor, json!({ "from": current, "to": until }));
        event.reason = Some(reason.to_owned());
        let revoked = (stored.state == State::Eligible && until > now).then(|| {
            let mut revoked = NewEvent::new(EventKind::EligibilityRevoked, actor, json!({ "extended_to": until }));
            revoked.reason = Some(reason.to_owned());
            revoked
        });
        let updated = save_change(&mut tx, self, &stored, updated, now, Some(event), revoked).await?;
        tx.commit().await?;
        Ok(updated)
    }
}
