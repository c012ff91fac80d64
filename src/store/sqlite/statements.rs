//! Running statements on the writer's `rusqlite` connection: one prepared
//! statement per SQL text, and its errors classified as the readers' are.
//! Every aggregate's writes use these, and so do the chat rows the journal
//! carries; they import nothing else of the adapter.

use rusqlite::{Connection, ErrorCode};

use crate::store::{StoreError, StoreResult};

/// Runs one statement (prepared once per SQL text) and returns the number
/// of rows it changed.
pub(super) fn execute(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<usize> {
    connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.execute(params))
        .map_err(classify)
}

/// Runs one statement that returns at most one row (`RETURNING`), read by
/// `read`.
pub(super) fn optional_row<T>(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Option<T>> {
    use rusqlite::OptionalExtension as _;
    connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.query_row(params, read).optional())
        .map_err(classify)
}

/// Driver errors, classified as the sqlx side classifies them: unique
/// violations are duplicates; busy, locked, I/O, full and cannot-open mean
/// the store is unavailable; the rest is a bug.
pub(super) fn classify(error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            ErrorCode::ConstraintViolation
                if matches!(
                    failure.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
            {
                StoreError::Duplicate
            }
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::CannotOpen => StoreError::Unavailable(error.into()),
            _ => StoreError::Internal(error.into()),
        },
        _ => StoreError::Internal(error.into()),
    }
}
