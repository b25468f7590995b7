//! The scale-out profile for a test: a fresh schema on the test PostgreSQL
//! (the catalog) and a fresh key prefix on the test Redis (the queue), both
//! removed when dropped.

use sqlx::Executor;

use super::redis::Cleanup;

/// A fresh PostgreSQL schema, and the catalog URL that uses it; dropped
/// (with everything in it) when dropped.
pub struct Schema {
    base: String,
    name: String,
    /// The base URL with `options[search_path]` set to the schema.
    pub url: String,
}

impl Schema {
    /// Creates a schema with a unique name on the database at `base`.
    pub fn create(base: &str) -> Self {
        let name = format!("strata_test_{}", uuid::Uuid::new_v4().simple());
        run_sql(base, &format!("CREATE SCHEMA \"{name}\""));
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={name}");
        Self { base: base.to_owned(), name, url }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let statement = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        if let Err(e) = try_run_sql(&self.base, &statement) {
            // A second panic while a failed test unwinds would abort the run.
            assert!(std::thread::panicking(), "{statement}: {e}");
        }
    }
}

/// Runs one statement on the database at `url`.
pub fn run_sql(url: &str, statement: &str) {
    try_run_sql(url, statement).unwrap_or_else(|e| panic!("{statement} on the test PostgreSQL at {url}: {e}"));
}

fn try_run_sql(url: &str, statement: &str) -> Result<(), sqlx::Error> {
    super::block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(url).await?;
        let done = pool.execute(sqlx::AssertSqlSafe(statement.to_owned())).await.map(drop);
        pool.close().await;
        done
    })
}

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
        [
            ("STRATA_DATABASE_URL", &self.schema.url),
            ("STRATA_REDIS_URL", &self.redis),
            ("STRATA_REDIS_PREFIX", &self.prefix),
        ]
    }
}
