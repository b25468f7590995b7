//! Leadership leases in the catalog: any number of schedulers may run, one
//! plans. The fence grows with every change of holder, and a fenced plan
//! checks it inside its own transaction, so a holder that lost the lease can
//! never commit a plan.

use super::sql::sql;
use super::{Catalog, CatalogError, WriteTx};
use crate::clock::to_millis;
use chrono::{DateTime, Utc};
use sqlx::Row;

/// A held leadership lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// What is led (e.g. `scheduler`).
    pub name: String,
    /// Who holds it.
    pub holder: String,
    /// The fencing token of this tenure.
    pub token: i64,
}

impl Catalog {
    /// Takes or renews the lease on `name` for `holder` until `now + ttl`;
    /// `None` while another holder's lease runs.
    pub async fn lead(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Result<Option<Fence>, CatalogError> {
        let row = sqlx::query(sql("INSERT INTO leaders (name, holder, fence, expires_at) VALUES (?1, ?2, 1, ?4)
             ON CONFLICT(name) DO UPDATE SET
                 fence = CASE WHEN leaders.holder = ?2 THEN leaders.fence ELSE leaders.fence + 1 END,
                 holder = ?2,
                 expires_at = ?4
             WHERE leaders.holder = ?2 OR leaders.expires_at < ?3
             RETURNING fence"))
        .bind(name)
        .bind(holder)
        .bind(to_millis(now))
        .bind(to_millis(now.checked_add_signed(ttl).unwrap_or(DateTime::<Utc>::MAX_UTC)))
        .fetch_optional(&self.writer)
        .await?;
        row.map(|r| Ok(Fence { name: name.to_owned(), holder: holder.to_owned(), token: r.try_get("fence")? }))
            .transpose()
    }

    /// Gives the lease up (on shutdown), if `fence` still holds it; the next
    /// holder gets a larger fence.
    pub async fn abdicate(&self, fence: &Fence) -> Result<(), CatalogError> {
        sqlx::query(sql("UPDATE leaders SET expires_at = 0 WHERE name = ? AND holder = ? AND fence = ?"))
            .bind(&fence.name)
            .bind(&fence.holder)
            .bind(fence.token)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}

impl WriteTx {
    /// Whether `fence` still holds its lease at `now`. The lease's row stays
    /// locked until the transaction ends, so no other holder takes the lease
    /// over before this transaction's plan commits.
    pub async fn still_leads(&mut self, fence: &Fence, now: DateTime<Utc>) -> Result<bool, CatalogError> {
        let text = format!(
            "SELECT 1 FROM leaders WHERE name = ? AND holder = ? AND fence = ? AND expires_at >= ?{}",
            self.dialect.for_update()
        );
        let row = sqlx::query(sql(&text))
            .bind(&fence.name)
            .bind(&fence.holder)
            .bind(fence.token)
            .bind(to_millis(now))
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[tokio::test]
    async fn one_holder_at_a_time_and_the_fence_grows_on_take_over() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("c.db"), 0).await.unwrap();
        let t0 = Utc::now();
        let ttl = Duration::seconds(30);
        let a = catalog.lead("scheduler", "a", t0, ttl).await.unwrap().unwrap();
        assert_eq!(a.token, 1);
        assert_eq!(catalog.lead("scheduler", "b", t0 + Duration::seconds(10), ttl).await.unwrap(), None);
        let renewed = catalog.lead("scheduler", "a", t0 + Duration::seconds(20), ttl).await.unwrap().unwrap();
        assert_eq!(renewed.token, 1, "a renewal keeps the fence");
        assert_eq!(catalog.lead("scheduler", "b", t0 + Duration::seconds(45), ttl).await.unwrap(), None);
        let b = catalog.lead("scheduler", "b", t0 + Duration::seconds(51), ttl).await.unwrap().unwrap();
        assert_eq!(b.token, 2, "a take-over grows the fence");
        assert_eq!(catalog.lead("scheduler", "a", t0 + Duration::seconds(52), ttl).await.unwrap(), None);

        let mut tx = catalog.begin_write().await.unwrap();
        assert!(!tx.still_leads(&a, t0 + Duration::seconds(52)).await.unwrap(), "the old holder is fenced off");
        assert!(tx.still_leads(&b, t0 + Duration::seconds(52)).await.unwrap());
        drop(tx);
        catalog.abdicate(&b).await.unwrap();
        assert_eq!(catalog.lead("scheduler", "a", t0 + Duration::seconds(53), ttl).await.unwrap().unwrap().token, 3);
    }
}
