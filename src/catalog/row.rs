//! Decoding helpers for the values both databases store the same way but
//! report under different types.

use sqlx::Row;
use sqlx::any::AnyRow;

/// A 0/1 flag column (SQLite has no boolean type: flags are integers).
pub(super) fn flag(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}
