//! The scale-out profile for a test: a fresh schema on the test PostgreSQL
//! (the catalog) and a fresh key prefix on the test Redis (the queue), both
//! removed when dropped.

pub use strata_testkit::pg::Schema;

use super::redis::Cleanup;
use strata_core::config::env;

/// A PostgreSQL catalog and a Redis queue of their own: what every process
/// of the scale-out profile is pointed at.
pub struct ScaleOut {
    /// The catalog's schema.
    pub schema: Schema,
    /// The Redis URL.
    pub redis: String,
    /// The Redis key prefix, unique to this instance.
    pub prefix: String,
    _keys: Cleanup,
}

impl ScaleOut {
    /// A fresh schema on the database at `database` and a fresh prefix on the
    /// Redis at `redis`.
    pub fn create(database: &str, redis: &str) -> Self {
        let schema = Schema::create(database);
        let prefix = format!("strata-test-{}", uuid::Uuid::new_v4().simple());
        let keys = Cleanup(redis.to_owned(), prefix.clone());
        Self { schema, redis: redis.to_owned(), prefix, _keys: keys }
    }

    /// The services `STRATA_TEST_CATALOG=postgres` runs on:
    /// `STRATA_TEST_DATABASE_URL` and `STRATA_TEST_REDIS_URL`, else the local
    /// servers. Asked for explicitly, a missing service is a failure.
    pub fn from_env() -> Self {
        let var = |name: &str, local: &str| std::env::var(name).unwrap_or_else(|_| local.to_owned());
        let database = var(strata_testkit::DATABASE_URL_VAR, strata_testkit::LOCAL_DATABASE_URL);
        let redis = var(strata_testkit::REDIS_URL_VAR, strata_testkit::LOCAL_REDIS_URL);
        Self::create(&database, &redis)
    }

    /// The environment that points a `strata` process at this catalog and queue.
    pub fn env(&self) -> [(&'static str, &str); 3] {
        [(env::DATABASE_URL, self.schema.url()), (env::REDIS_URL, &self.redis), (env::REDIS_PREFIX, &self.prefix)]
    }
}
