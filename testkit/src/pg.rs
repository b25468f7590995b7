//! A fresh PostgreSQL schema for one test: created on the test database,
//! named in the catalog URL it hands out (`options[search_path]`), and
//! dropped with everything in it when the test ends, panics included.

/// A schema of its own on the test database, and the catalog URL that uses it.
#[derive(Debug)]
pub struct Schema {
    base: String,
    name: String,
    url: String,
}

impl Schema {
    /// Creates a fresh schema on the database at `base` (a URL from
    /// [`crate::database_url`]). Panics when the database does not answer:
    /// the caller has already found it reachable.
    pub fn create(base: &str) -> Self {
        let name = format!("strata_test_{}", uuid::Uuid::new_v4().simple());
        run(base, format!("CREATE SCHEMA \"{name}\""));
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={name}");
        Self { base: base.to_owned(), name, url }
    }

    /// The catalog URL whose tables live in this schema.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // A test that failed may leave a transaction open in the schema
        // (its rollback waits for a runtime the failing test blocks): the
        // drop waits a bounded time and then leaves the schema behind.
        let drop = format!("SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        run(&self.base, drop);
    }
}

/// Runs statements on the database at `url`, on a thread and runtime of
/// its own, so that it works from synchronous and asynchronous tests alike.
fn run(url: &str, statement: String) {
    let url = url.to_owned();
    let done = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&url).await.expect("the test database answers");
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(&pool).await.expect("the statements run");
            pool.close().await;
        });
    })
    .join();
    if done.is_err() && !std::thread::panicking() {
        panic!("a statement on the test database failed");
    }
}
