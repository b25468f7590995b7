//! Statement text for both databases. Statements are written with SQLite's
//! `?` (next argument) and `?N` (argument N) placeholders, and sent in the
//! `$N` form, which PostgreSQL requires and SQLite also accepts, so one text
//! serves both. Dynamic statements are built with [`Builder`], which numbers
//! its arguments the same way on PostgreSQL and leaves them anonymous (`?`,
//! each the next argument) on SQLite: the SQLite driver looks each numbered
//! placeholder up by name, a scan of all of them, so a statement with
//! thousands of arguments would spend most of its time binding.

use super::Dialect;
use sqlx::any::AnyArguments;
use sqlx::{Any, Arguments, Encode, Type};
use std::sync::atomic::{AtomicU64, Ordering};

/// Statements prepared in this process, by [`sql`] and [`Builder::build`].
static STATEMENTS: AtomicU64 = AtomicU64::new(0);

/// How many catalog statements this process has prepared so far (every
/// catalog statement goes through [`sql`] or [`Builder`]): benchmarks read
/// it before and after a step to count statements per transition.
pub fn statements() -> u64 {
    STATEMENTS.load(Ordering::Relaxed)
}

/// `text` with every `?` and `?N` placeholder outside quotes as `$N`.
pub(super) fn sql(text: &str) -> sqlx::AssertSqlSafe<String> {
    STATEMENTS.fetch_add(1, Ordering::Relaxed);
    sqlx::AssertSqlSafe(numbered(text))
}

fn numbered(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut next = 0_usize;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                out.push('$');
                if chars.peek().is_some_and(char::is_ascii_digit) {
                    while let Some(d) = chars.next_if(char::is_ascii_digit) {
                        out.push(d);
                    }
                } else {
                    next += 1;
                    out.push_str(&next.to_string());
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// A statement built piece by piece, with its arguments.
pub(super) struct Builder {
    text: String,
    /// Where each placeholder goes in `text`, in argument order.
    slots: Vec<usize>,
    args: AnyArguments,
    failed: Option<sqlx::error::BoxDynError>,
}

impl Builder {
    /// Starts a statement with `text` (no placeholders).
    pub(super) fn new(text: impl Into<String>) -> Self {
        Self { text: text.into(), slots: Vec::new(), args: AnyArguments::default(), failed: None }
    }

    /// Appends `text` (no placeholders).
    pub(super) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub(super) fn push_bind<'q, T>(&mut self, value: T) -> &mut Self
    where
        T: 'q + Encode<'q, Any> + Type<Any>,
    {
        self.slots.push(self.text.len());
        // A value the driver cannot carry fails `build`.
        if let Err(e) = self.args.add(value) {
            self.failed.get_or_insert(e);
        }
        self
    }

    /// Appends placeholders for `values`, separated by commas.
    pub(super) fn push_binds<'q, T>(&mut self, values: impl IntoIterator<Item = T>) -> &mut Self
    where
        T: 'q + Encode<'q, Any> + Type<Any>,
    {
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.push_bind(v);
        }
        self
    }

    /// The statement for `dialect`, ready to run; an argument the driver
    /// could not carry is an encoding error.
    pub(super) fn build(self, dialect: Dialect) -> Result<sqlx::query::Query<'static, Any, AnyArguments>, sqlx::Error> {
        STATEMENTS.fetch_add(1, Ordering::Relaxed);
        if let Some(e) = self.failed {
            return Err(sqlx::Error::Encode(e));
        }
        Ok(sqlx::query_with(sqlx::AssertSqlSafe(self.text_for(dialect)), self.args))
    }

    /// The text with its placeholders in `dialect`'s form.
    fn text_for(&self, dialect: Dialect) -> String {
        let mut out = String::with_capacity(self.text.len() + 6 * self.slots.len());
        let mut from = 0;
        for (n, &at) in self.slots.iter().enumerate() {
            out.push_str(&self.text[from..at]);
            match dialect {
                Dialect::Sqlite => out.push('?'),
                Dialect::Postgres => {
                    out.push('$');
                    out.push_str(&(n + 1).to_string());
                }
            }
            from = at;
        }
        out.push_str(&self.text[from..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{Builder, Dialect, numbered};

    #[test]
    fn built_placeholders_are_numbered_on_postgres_and_anonymous_on_sqlite() {
        let mut q = Builder::new("SELECT a FROM t WHERE b IN (");
        q.push_binds([1_i64, 2, 3]).push(") AND c = ").push_bind("x").push(" AND d = '$'");
        assert_eq!(q.text_for(Dialect::Postgres), "SELECT a FROM t WHERE b IN ($1, $2, $3) AND c = $4 AND d = '$'");
        assert_eq!(q.text_for(Dialect::Sqlite), "SELECT a FROM t WHERE b IN (?, ?, ?) AND c = ? AND d = '$'");
    }

    #[test]
    fn placeholders_are_numbered_in_order_and_quotes_are_left_alone() {
        assert_eq!(numbered("SELECT a FROM t WHERE b = ? AND c = ?"), "SELECT a FROM t WHERE b = $1 AND c = $2");
        assert_eq!(numbered("VALUES (?1, ?2, ?1, ?12)"), "VALUES ($1, $2, $1, $12)");
        assert_eq!(numbered("WHERE a = '?' AND b = ?"), "WHERE a = '?' AND b = $1");
        assert_eq!(numbered("no placeholders"), "no placeholders");
    }
}
