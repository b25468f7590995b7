//! What differs between the two databases the catalog runs on: how a
//! writer takes its locks, how event sequence numbers are reserved, how the
//! schema is probed, and JSON access. Everything else is one statement text
//! for both (see `sql.rs`).

/// The database behind a catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite: one file; one writer at a time (`BEGIN IMMEDIATE`).
    Sqlite,
    /// PostgreSQL: many processes on many hosts; a write transaction takes
    /// the catalog lock shared and the locks of the event chains it appends
    /// to, or the catalog lock exclusively (ADR 0017).
    Postgres,
}

/// The transaction-scoped advisory lock on the whole catalog (bigint key space).
const CATALOG_LOCK: i64 = 0x7374_7261_7461; // "strata"

/// The first key of every event chain's advisory lock (two-int key space,
/// which PostgreSQL keeps apart from the bigint one).
const CHAIN_LOCK_CLASS: i32 = 0x6368_6e73; // "chns"

/// The second advisory lock key of the event chain `chain` (a tenant name,
/// or empty for the catalog's own chain). Two chains that share a key only
/// wait for each other.
pub(super) fn chain_lock_key(chain: &str) -> i32 {
    let hash = blake3::hash(chain.as_bytes());
    let mut first = [0u8; 4];
    first.copy_from_slice(&hash.as_bytes()[..4]);
    i32::from_le_bytes(first)
}

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

    /// A statement run first in a write transaction, if any: the catalog
    /// lock, exclusive or shared, then the locks of `chains` (ignored when
    /// exclusive: no other writer runs then), in the order of their keys so
    /// that two writers never wait for each other in a circle.
    pub(super) fn write_locks<'a>(self, exclusive: bool, chains: impl IntoIterator<Item = &'a str>) -> Option<String> {
        match self {
            Self::Sqlite => None,
            Self::Postgres if exclusive => Some(format!("SELECT pg_advisory_xact_lock({CATALOG_LOCK})")),
            Self::Postgres => {
                let mut text = format!("SELECT pg_advisory_xact_lock_shared({CATALOG_LOCK})");
                text.push_str(&Self::chain_lock_calls(chains));
                Some(text)
            }
        }
    }

    /// A statement that locks `chains` (in key order) in a transaction that
    /// already holds the catalog lock shared; `None` on SQLite or when
    /// `chains` is empty.
    pub(super) fn chain_locks<'a>(self, chains: impl IntoIterator<Item = &'a str>) -> Option<String> {
        match self {
            Self::Sqlite => None,
            Self::Postgres => {
                let calls = Self::chain_lock_calls(chains);
                (!calls.is_empty()).then(|| format!("SELECT 1{calls}"))
            }
        }
    }

    /// `, pg_advisory_xact_lock(class, key)` per distinct key, in key order
    /// (PostgreSQL evaluates a select list left to right).
    fn chain_lock_calls<'a>(chains: impl IntoIterator<Item = &'a str>) -> String {
        let keys: std::collections::BTreeSet<i32> = chains.into_iter().map(chain_lock_key).collect();
        keys.iter().map(|key| format!(", pg_advisory_xact_lock({CHAIN_LOCK_CLASS}, {key})")).collect()
    }

    /// A select of `n` fresh event sequence numbers as rows of
    /// `(chain, n, hash)` with a NULL chain, to be joined by `UNION ALL` to
    /// the chain heads. PostgreSQL draws them from the column's sequence (one
    /// row each); SQLite, whose single writer holds the database, returns
    /// one row with the largest number used so far (see [`Self::seqs_from`]).
    pub(super) fn next_seqs(self, n: usize) -> String {
        match self {
            Self::Sqlite => {
                "SELECT CAST(NULL AS TEXT) AS chain, COALESCE(MAX(seq), 0) AS n, CAST(NULL AS TEXT) AS hash FROM events"
                    .to_owned()
            }
            Self::Postgres => format!(
                "SELECT CAST(NULL AS TEXT) AS chain, nextval(pg_get_serial_sequence('events', 'seq')) AS n, \
                 CAST(NULL AS TEXT) AS hash FROM generate_series(1, {n})"
            ),
        }
    }

    /// Whether a writer may number its next events on from the last number it
    /// used in the transaction (SQLite: no other writer runs beside it).
    pub(super) fn counts_seqs(self) -> bool {
        self == Self::Sqlite
    }

    /// The `n` sequence numbers that the rows of [`Self::next_seqs`] give, in order.
    pub(super) fn seqs_from(self, mut drawn: Vec<i64>, n: usize) -> Vec<i64> {
        match self {
            Self::Sqlite => {
                let last = drawn.first().copied().unwrap_or(0);
                (1..=i64::try_from(n).unwrap_or(i64::MAX)).map(|i| last + i).collect()
            }
            Self::Postgres => {
                drawn.sort_unstable();
                drawn
            }
        }
    }

    /// What a read of rows that the transaction will update appends so that
    /// concurrent writers of the same rows wait for it (SQLite has one writer).
    pub(super) fn for_update(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE",
        }
    }

    /// A read that fails unless the database answers and holds the schema.
    pub(super) fn probe(self) -> &'static str {
        match self {
            Self::Sqlite => "SELECT COUNT(*) FROM sqlite_master",
            Self::Postgres => "SELECT COUNT(*) FROM tenants WHERE 1 = 0",
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
