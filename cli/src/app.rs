//! Opening the store and queue a command needs, and mapping errors to exit codes.

use crate::args::Global;
use std::sync::Arc;
use std::time::Duration;
use strata_core::artifact::Tier;
use strata_core::clock::SystemClock;
use strata_core::config::{Config, ConfigError};
use strata_core::error_kind::ErrorKind;
use strata_core::id::IdError;
use strata_core::store::{Store, StoreError};
use strata_core::tiers::BlobRef;
use strata_queue::sqlite::SqliteQueue;
use strata_queue::{DeadLetterRetention, Queue, QueueError};
use strata_workers::queue::redis::RedisQueue;

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

/// How a command opens its data directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opening {
    /// The command only reads: a data directory without a catalog is an
    /// error, and nothing is created.
    pub read_only: bool,
    /// `--live` was given: the dry-run switch does not hold in this process.
    pub live: bool,
    /// The command moves or deletes blobs: it refuses to start when a tier's
    /// configured directory appears to have moved away from its blobs.
    pub check_tiers: bool,
}

/// Live artifacts sampled per tier, newest first, to notice a moved tier.
const TIER_SAMPLE: i64 = 20;

impl App {
    /// Loads the configuration and opens the store and the embedded queue.
    pub async fn open(global: &Global, opening: Opening) -> anyhow::Result<Self> {
        let mut config = Config::load(global.config.as_deref())?;
        if opening.read_only && config.catalog.url.is_none() && !global.data_dir.join("catalog.db").is_file() {
            return Err(UsageError(format!(
                "no strata data directory at {} (it holds no catalog.db): nothing to read, and nothing was created; \
                 give --data-dir (or STRATA_DATA_DIR), or create one with `strata tenant add` or `strata demo`",
                global.data_dir.display()
            ))
            .into());
        }
        if opening.live {
            config.lifecycle.dry_run = false;
        }
        let queue_config = config.queue.clone();
        let store = Store::open(&global.data_dir, config, Arc::new(SystemClock)).await?;
        let retention = DeadLetterRetention {
            max_count: queue_config.dead_letter_max_count,
            max_age: Duration::from_secs(u64::from(queue_config.dead_letter_max_age_days) * 86_400),
        };
        let queue: Arc<dyn Queue> = match &queue_config.redis_url {
            Some(url) => Arc::new(
                RedisQueue::connect(url, &queue_config.redis_prefix, store.clock().clone())
                    .await?
                    .with_retention(retention),
            ),
            None if !store.catalog().is_embedded() => {
                anyhow::bail!(
                    "a PostgreSQL catalog needs the Redis queue: set STRATA_REDIS_URL (or [queue] redis_url); the \
                     embedded queue lives in the embedded SQLite catalog"
                );
            }
            None => Arc::new(
                SqliteQueue::new(store.catalog().job_queue()?, store.clock().clone()).with_retention(retention),
            ),
        };
        let app = Self { store, queue };
        if opening.check_tiers {
            app.check_tiers_in_place().await?;
        }
        Ok(app)
    }

    /// Whether the dry-run switch holds in this process.
    pub fn dry_run(&self) -> bool {
        self.store.config().lifecycle.dry_run
    }

    /// Prints the dry-run notice on standard error when the switch holds;
    /// returns whether it does.
    pub fn announce_dry_run(&self) -> bool {
        if self.dry_run() {
            eprintln!("{}", strata_queue::plan::dry_run_notice());
        }
        self.dry_run()
    }

    /// Refuses to go on when a tier's configured directory appears to have
    /// moved: none of the newest live artifacts of that tier has its blob
    /// there, while some have theirs at the tier's default location
    /// (`<data-dir>/tiers/<tier>`). Jobs started now would dead-letter every
    /// such artifact as missing. An object store tier whose bucket is
    /// missing, or that refuses the credentials, stops them as well (an
    /// unreachable store does not: the workers wait for it).
    async fn check_tiers_in_place(&self) -> anyhow::Result<()> {
        let tiers = self.store.tiers();
        if let Err(e) = tiers.check().await
            && !e.is_transient()
        {
            anyhow::bail!("{e}");
        }
        for tier in Tier::ALL {
            let Some(root) = tiers.root(*tier) else { continue };
            let old = self.store.data_dir().join("tiers").join(tier.as_str());
            if old == root {
                continue;
            }
            let blobs = self.store.catalog().newest_live_blobs(*tier, TIER_SAMPLE).await?;
            let (mut here, mut there) = (0, 0);
            for b in &blobs {
                let path = root.join(BlobRef { tenant: &b.tenant, blake3: &b.blake3, codec: b.codec }.key());
                if path.exists() {
                    here += 1;
                } else if path.strip_prefix(root).is_ok_and(|rel| old.join(rel).exists()) {
                    there += 1;
                }
            }
            if here == 0 && there > 0 {
                anyhow::bail!(
                    "the {tier} tier appears to have moved: none of its {} newest live artifacts has its blob in {} \
                     (the configured {tier} tier), and {there} have theirs in {}. Move the files from {} to {} \
                     (or configure the {tier} tier at {} again); refusing to start, so that no job fails on a \
                     missing blob",
                    blobs.len(),
                    root.display(),
                    old.display(),
                    old.display(),
                    root.display(),
                    old.display()
                );
            }
        }
        Ok(())
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
            return match se.kind() {
                ErrorKind::NotFound | ErrorKind::Invalid | ErrorKind::Conflict | ErrorKind::Refused => 2,
                ErrorKind::Corrupt | ErrorKind::NoSpace | ErrorKind::Transient | ErrorKind::Internal => 1,
            };
        }
    }
    1
}
