//! The reader connections: a small pool of `query_only` connections, its lock held only to pop or push.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::url::Target;
use crate::store::StoreError;

/// The busy timeout of a reader connection, at most. A read runs on a runtime worker thread, so its wait
/// is bounded much lower than the writer's: in WAL mode readers only wait in rare cases (another process
/// recovering the WAL after a crash, a `locking_mode = EXCLUSIVE` connection), and a 503 after 250 ms is
/// better than a stalled worker.
pub(super) const READ_BUSY_TIMEOUT: Duration = Duration::from_millis(250);
/// Reader connections kept open between requests, at least (more are opened under load, then closed):
/// a read holds its connection only while it runs on a worker thread, so a few per core suffice.
pub(super) const MIN_IDLE_READERS: usize = 8;

/// The reader connections not in use.
#[derive(Debug)]
pub(super) struct Readers {
    pub(super) target: Target,
    pub(super) busy_timeout: Duration,
    pub(super) idle: Mutex<Vec<Connection>>,
    /// At most this many idle connections are kept: two per core, at least [`MIN_IDLE_READERS`].
    pub(super) max_idle: usize,
}

impl Readers {
    pub(super) fn open(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.target.uri,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(self.busy_timeout)?;
        conn.pragma_update(None, "query_only", true)?;
        if self.target.memory {
            conn.pragma_update(None, "read_uncommitted", true)?;
        }
        Ok(conn)
    }

    /// Runs `read` on an idle connection (or a new one), then keeps the connection if it succeeded and
    /// fewer than `max_idle` are idle. The lock is held only to pop and to push.
    pub(super) fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = read(&conn);
        if result.is_ok() {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < self.max_idle {
                idle.push(conn);
                return result;
            }
        }
        // Closed here, outside the lock.
        drop(conn);
        result
    }
}
