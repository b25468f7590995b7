//! What differs between the two databases the catalog runs on: how a
//! writer takes the write lock, how the schema is probed, and JSON access.
//! Everything else is one statement text for both (see `sql.rs`).

/// The database behind a catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite: one file; one writer at a time (`BEGIN IMMEDIATE`).
    Sqlite,
    /// PostgreSQL: many processes on many hosts; every write transaction
    /// takes one advisory lock, so writers are serialized as on SQLite.
    Postgres,
}

/// The transaction-scoped advisory lock of every PostgreSQL write.
const WRITE_LOCK: i64 = 0x7374_7261_7461; // "strata"

impl Dialect {
    /// The dialect of a catalog URL: `postgres://` or `postgresql://`, else SQLite.
    pub(crate) fn of_url(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") { Self::Postgres } else { Self::Sqlite }
    }

    /// What starts a write transaction.
    pub(super) fn begin_write(self) -> &'static str {
        match self {
            Self::Sqlite => "BEGIN IMMEDIATE",
            Self::Postgres => "BEGIN",
        }
    }

    /// A statement run first in a write transaction, if any.
    pub(super) fn write_lock(self) -> Option<String> {
        match self {
            Self::Sqlite => None,
            Self::Postgres => Some(format!("SELECT pg_advisory_xact_lock({WRITE_LOCK})")),
        }
    }

    /// A read that fails unless the database answers and holds the schema.
    pub(super) fn probe(self) -> &'static str {
        match self {
            Self::Sqlite => "SELECT COUNT(*) FROM sqlite_master",
            Self::Postgres => "SELECT COUNT(*) FROM tenants WHERE 1 = 0",
        }
    }

    /// A table of `key` and (text) `value` rows, one per member of the JSON
    /// object in `column`.
    pub(super) fn json_entries(self, column: &str) -> String {
        match self {
            Self::Sqlite => format!("json_each({column})"),
            Self::Postgres => format!("jsonb_each_text({column}::jsonb)"),
        }
    }

    /// The text of member `key` of the JSON object in `column` (NULL when absent).
    pub(super) fn json_text(self, column: &str, key: &str) -> String {
        match self {
            Self::Sqlite => format!("json_extract({column}, '$.{key}')"),
            Self::Postgres => format!("({column}::jsonb ->> '{key}')"),
        }
    }
}

/// `url` with its password replaced, for messages.
pub(crate) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_owned() };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_and_the_rest_is_kept() {
        assert_eq!(
            redacted("postgres://u:secret@db:5432/x?sslmode=require"),
            "postgres://u:***@db:5432/x?sslmode=require"
        );
        assert_eq!(redacted("postgres://u@db/x"), "postgres://u@db/x");
        assert_eq!(redacted("postgres://db/x"), "postgres://db/x");
        assert_eq!(redacted("not a url"), "not a url");
    }

    #[test]
    fn the_dialect_follows_the_scheme() {
        assert_eq!(Dialect::of_url("postgres://h/d"), Dialect::Postgres);
        assert_eq!(Dialect::of_url("postgresql://h/d"), Dialect::Postgres);
        assert_eq!(Dialect::of_url("/var/lib/strata/catalog.db"), Dialect::Sqlite);
    }
}
