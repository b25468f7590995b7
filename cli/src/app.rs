//! Opening the store and queue a command needs, and mapping errors to exit codes.

use crate::args::Global;
use std::sync::Arc;
use std::time::Duration;
use strata_core::clock::SystemClock;
use strata_core::config::{Config, ConfigError};
use strata_core::id::IdError;
use strata_core::store::{Store, StoreError};
use strata_workers::queue::redis::RedisQueue;
use strata_workers::queue::sqlite::SqliteQueue;
use strata_workers::queue::{DeadLetterRetention, Queue, QueueError};

/// A user error: bad input that changed nothing (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Everything a command works with.
pub struct App {
    /// The artifact store.
    pub store: Store,
    /// The job queue.
    pub queue: Arc<dyn Queue>,
}

impl App {
    /// Loads the configuration and opens the store and the embedded queue.
    pub async fn open(global: &Global) -> anyhow::Result<Self> {
        let config = Config::load(global.config.as_deref())?;
        let queue_config = config.queue.clone();
        let store = Store::open(&global.data_dir, config, Arc::new(SystemClock)).await?;
        let retention = DeadLetterRetention {
            max_count: queue_config.dead_letter_max_count,
            max_age: Duration::from_secs(u64::from(queue_config.dead_letter_max_age_days) * 86_400),
        };
        let queue: Arc<dyn Queue> = match &queue_config.redis_url {
            Some(url) => Arc::new(
                RedisQueue::connect(url, &queue_config.redis_prefix, store.clock.clone())
                    .await?
                    .with_retention(retention),
            ),
            None => Arc::new(
                SqliteQueue::new(
                    store.catalog.sqlite_pool().clone(),
                    store.catalog.sqlite_writer().clone(),
                    store.clock.clone(),
                )
                .with_retention(retention),
            ),
        };
        Ok(Self { store, queue })
    }
}

/// 2 for bad input (nothing changed), 1 for anything else.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if cause.is::<UsageError>() || cause.is::<ConfigError>() || cause.is::<IdError>() {
            return 2;
        }
        if let Some(QueueError::NotFound(_)) = cause.downcast_ref::<QueueError>() {
            return 2;
        }
        if let Some(se) = cause.downcast_ref::<StoreError>() {
            return match se {
                StoreError::UnknownTenant(_)
                | StoreError::TenantExists(_)
                | StoreError::UnknownPlan { .. }
                | StoreError::NotFound(_)
                | StoreError::AlreadyExists(_)
                | StoreError::UnknownClass(_)
                | StoreError::Held(_)
                | StoreError::HoldNotFound { .. }
                | StoreError::TokenNotFound { .. }
                | StoreError::MissingReason
                | StoreError::NotLater { .. }
                | StoreError::NeverExpires(_)
                | StoreError::Hold(_) => 2,
                _ => 1,
            };
        }
    }
    1
}
