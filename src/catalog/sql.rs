//! Statement text for both databases. Statements are written with SQLite's
//! `?` (next argument) and `?N` (argument N) placeholders, and sent in the
//! `$N` form, which PostgreSQL requires and SQLite also accepts, so one text
//! serves both. Dynamic statements are built with [`Builder`], which numbers
//! its arguments the same way.

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
    args: AnyArguments,
    n: usize,
    failed: Option<sqlx::error::BoxDynError>,
}

impl Builder {
    /// Starts a statement with `text` (no placeholders).
    pub(super) fn new(text: impl Into<String>) -> Self {
        Self { text: text.into(), args: AnyArguments::default(), n: 0, failed: None }
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
        self.n += 1;
        self.text.push('$');
        self.text.push_str(&self.n.to_string());
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

    /// The statement, ready to run; an argument the driver could not carry
    /// is an encoding error.
    pub(super) fn build(self) -> Result<sqlx::query::Query<'static, Any, AnyArguments>, sqlx::Error> {
        STATEMENTS.fetch_add(1, Ordering::Relaxed);
        match self.failed {
            Some(e) => Err(sqlx::Error::Encode(e)),
            None => Ok(sqlx::query_with(sqlx::AssertSqlSafe(self.text), self.args)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn placeholders_are_numbered_in_order_and_quotes_are_left_alone() {
        assert_eq!(numbered("SELECT a FROM t WHERE b = ? AND c = ?"), "SELECT a FROM t WHERE b = $1 AND c = $2");
        assert_eq!(numbered("VALUES (?1, ?2, ?1, ?12)"), "VALUES ($1, $2, $1, $12)");
        assert_eq!(numbered("WHERE a = '?' AND b = ?"), "WHERE a = '?' AND b = $1");
        assert_eq!(numbered("no placeholders"), "no placeholders");
    }
}
