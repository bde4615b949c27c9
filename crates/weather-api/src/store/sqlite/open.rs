//! Opening the write connection and bringing the schema up to date (the embedded migrations).

use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::url::Target;
use super::SqliteError;
use crate::store::StoreError;

/// The embedded migrations, in the order they apply; `PRAGMA user_version` counts those applied.
pub(super) const MIGRATIONS: &[(&str, &str)] = &[(
    "20261129000000_create_reports",
    include_str!("../../../migrations/sqlite/20261129000000_create_reports.sql"),
)];

/// The write connection: created if missing, WAL journal, `synchronous = FULL`.
pub(super) fn open_writer(
    target: &Target,
    busy_timeout: Duration,
) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        &target.uri,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(busy_timeout)?;
    // An in-memory database answers "memory": there is no file to journal.
    let _mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Applies the migrations not yet applied, in one transaction, and records their count in
/// `PRAGMA user_version`.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let failed = |e: rusqlite::Error| StoreError::Migration(Box::new(e));
    let known = i64::try_from(MIGRATIONS.len()).expect("BUG: a handful of migrations");
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed)?;
    let applied: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(failed)?;
    if !(0..=known).contains(&applied) {
        return Err(StoreError::Migration(Box::new(
            SqliteError::UnknownSchemaVersion {
                found: applied,
                known,
            },
        )));
    }
    for (number, (name, sql)) in (1_i64..).zip(MIGRATIONS) {
        if number <= applied {
            continue;
        }
        tx.execute_batch(sql).map_err(failed)?;
        tx.pragma_update(None, "user_version", number)
            .map_err(failed)?;
        tracing::info!(migration = name, "sqlite migration applied");
    }
    tx.commit().map_err(failed)
}
