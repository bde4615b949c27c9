//! SQLite store on rusqlite: one file, WAL journal, `synchronous = FULL` (a committed report survives a
//! power cut).
//!
//! - **Reads** (`page`, `get`, `ping`) run on the calling thread, when their future is first polled: each
//!   is one indexed range scan of at most 501 rows (or one row by the unique `id` index) out of the page
//!   cache, CPU-bound and bounded like serialising the answer, so sending it to another thread would cost
//!   more than the query (a worker thread like sqlx-sqlite's makes the default page about ten times
//!   dearer; `benches/store_read.rs` has the figures, `spawn_blocking` included). Reader connections
//!   (`query_only`) come from a small pool whose lock is held only to pop or push one, never during a
//!   query.
//! - **Writes** (`add`) go to one thread, `sqlite-writer`, owning the only write connection. It takes a
//!   job, drains whatever else is already queued (at most `MAX_BATCH`, 256), and commits them in one
//!   `BEGIN IMMEDIATE` ... `COMMIT` (group commit: one fsync for the lot). Every report is answered only
//!   after that `COMMIT` returned, so a 201 means committed and synced. A report whose request was
//!   cancelled before its transaction began (the client left, the request timed out with a 503) is not
//!   written, so a client that retries after a 503 does not store it twice. A failed transaction answers
//!   [`StoreError::Unavailable`] to every job in it; a failed insert rolls back and retries the jobs one
//!   by one, so one bad row never fails its neighbours. The thread ends when the store is dropped (after
//!   answering what was queued).
//! - **Opening** is blocking and done once, on a blocking thread: the file is created if missing, the
//!   embedded migrations (`migrations/sqlite/`) are applied in order inside one transaction, and
//!   `PRAGMA user_version` records how many are applied. A database made by the sqlx-based version
//!   (`_sqlx_migrations` table, `user_version = 0`) opens fine: the first migration is `IF NOT EXISTS`.
//! - **In memory** (`sqlite::memory:`, `sqlite://:memory:` or `?mode=memory`): a database private to the
//!   store, named `file:weather-<uuid>?mode=memory&cache=shared` so that the writer and the readers
//!   share it. Shared cache locks tables, not the file, and `busy_timeout` does not apply to those
//!   locks, so readers there set `read_uncommitted` (they never wait for, nor block, the writer). They
//!   may therefore see a batch before its `COMMIT`, including one that is then rolled back (a failed
//!   insert), so a report answered 503 may briefly have been listed; the newest page is never cached
//!   in this mode. For tests and
//!   development only.
//!
//! The seams: `url` (what a `sqlite://` URL names), `open` (the write connection and the migrations),
//! `readers` (the reader pool), `writer` (the writer thread and its group commits), `row` (the read
//! queries and row decoding); this file joins them into [`SqliteStore`].

mod open;
mod readers;
mod row;
mod url;
mod writer;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::BoxFuture;
use rusqlite::{params, Connection};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{build_report, into_page, ReportStore, StoreError};
use crate::domain::{NewReport, Page, PageRequest, Report};
use open::{migrate, open_writer};
use readers::{Readers, MIN_IDLE_READERS, READ_BUSY_TIMEOUT};
use row::{query_rows, stored_time, BY_ID, FIRST_PAGE, NEXT_PAGE};
use url::Target;
use writer::{run_writer, Job, RunningFlag, QUEUE_CAPACITY};

/// How long the writer waits for another connection's lock before answering "database unavailable".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the SQLite store could not do something, beyond the driver's own errors (the source of a
/// [`StoreError`]; never shown to clients).
#[derive(Debug, thiserror::Error)]
enum SqliteError {
    #[error("not a sqlite URL (expected sqlite://PATH or sqlite::memory:)")]
    NotSqliteUrl,
    #[error("the sqlite URL names no file")]
    NoFile,
    #[error("the sqlite URL's path is not UTF-8 once percent-decoded")]
    PathNotUtf8,
    #[error(
        "sqlite URL parameter `{0}` is not supported (supported: mode=rwc, mode=rw, mode=memory)"
    )]
    UnsupportedParameter(String),
    #[error("the sqlite writer's queue is full ({QUEUE_CAPACITY} reports waiting)")]
    QueueFull,
    #[error("the sqlite writer thread has stopped")]
    WriterStopped,
    #[error("the database's schema version {found} is not one this build knows (0 to {known})")]
    UnknownSchemaVersion { found: i64, known: i64 },
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

/// Reports in a SQLite database file (see the module docs for the threads and connections).
pub struct SqliteStore {
    readers: Readers,
    /// A reader connection kept for `PRAGMA data_version` alone: it never writes, so its value changes
    /// with every commit of any other connection (the writer, another process).
    watcher: Mutex<Connection>,
    jobs: mpsc::SyncSender<Job>,
    /// False once the writer thread has ended (readiness fails then).
    writer_running: Arc<AtomicBool>,
    commits: Arc<AtomicU64>,
    /// The writer thread, joined by tests (in production it ends on its own once `jobs` is dropped).
    #[cfg(test)]
    writer: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("uri", &self.readers.target.uri)
            .field("commits", &self.commits())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and applies the embedded migrations, on a
    /// blocking thread; starts the writer thread. `url` is `sqlite://PATH` or `sqlite:PATH`, optionally
    /// with `?PARAMS` handed to SQLite as URI parameters (e.g. `mode=ro`), or `sqlite::memory:` (see the
    /// module docs).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the URL is not a SQLite one or the file cannot be opened,
    /// [`StoreError::Migration`] when the migrations fail or the database's schema is newer than this
    /// build.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::open(url, BUSY_TIMEOUT).await
    }

    async fn open(url: &str, busy_timeout: Duration) -> Result<Self, StoreError> {
        let url = url.to_owned();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            span.in_scope(|| Self::open_blocking(&url, busy_timeout))
        })
        .await
        .map_err(unavailable)?
    }

    fn open_blocking(url: &str, busy_timeout: Duration) -> Result<Self, StoreError> {
        let target = Target::parse(url)?;
        if let Some(dir) = target.dir.as_deref().filter(|d| !d.is_dir()) {
            return Err(crate::store::OpenError::SqliteDirectoryMissing {
                dir: dir.display().to_string(),
            }
            .into());
        }
        let mut writer = open_writer(&target, busy_timeout)?;
        migrate(&mut writer)?;
        let readers = Readers {
            target,
            busy_timeout: busy_timeout.min(READ_BUSY_TIMEOUT),
            idle: Mutex::new(Vec::new()),
            max_idle: std::thread::available_parallelism()
                .map_or(MIN_IDLE_READERS, |n| 2 * n.get())
                .max(MIN_IDLE_READERS),
        };
        // One reader opened now: a database that cannot be read fails at start-up, not on a request.
        let first = readers.open()?;
        let watcher = Mutex::new(readers.open()?);
        readers
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(first);
        let (jobs, queue) = mpsc::sync_channel(QUEUE_CAPACITY);
        let commits = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&commits);
        let writer_running = Arc::new(AtomicBool::new(true));
        let flag = RunningFlag(Arc::clone(&writer_running));
        let span = tracing::Span::current();
        let handle = std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || span.in_scope(|| run_writer(writer, queue, &counter, flag)))
            .map_err(unavailable)?;
        #[cfg(not(test))]
        drop(handle);
        Ok(Self {
            readers,
            watcher,
            jobs,
            writer_running,
            commits,
            #[cfg(test)]
            writer: Some(handle),
        })
    }

    /// How many write transactions the writer thread has committed so far. Concurrent `add`s share one
    /// (group commit), so under load this grows slower than the number of reports.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

impl ReportStore for SqliteStore {
    fn add(&self, new: NewReport) -> BoxFuture<'_, Result<Report, StoreError>> {
        Box::pin(async move {
            let report = build_report(new);
            let (reply, answer) = oneshot::channel();
            self.jobs
                .try_send(Job { report, reply })
                .map_err(|e| match e {
                    mpsc::TrySendError::Full(_) => unavailable(SqliteError::QueueFull),
                    mpsc::TrySendError::Disconnected(_) => unavailable(SqliteError::WriterStopped),
                })?;
            answer
                .await
                .map_err(|_| unavailable(SqliteError::WriterStopped))?
        })
    }

    fn page(&self, request: PageRequest) -> BoxFuture<'_, Result<Page, StoreError>> {
        Box::pin(async move {
            let fetch = i64::from(request.limit.get()) + 1;
            let limit = usize::try_from(request.limit.get()).unwrap_or(usize::MAX);
            let (rows, has_more) = self.readers.with(|conn| match request.after {
                None => query_rows(
                    &mut *conn.prepare_cached(FIRST_PAGE)?,
                    params![fetch],
                    limit,
                ),
                Some(after) => {
                    let cursor = params![stored_time(&after.created_date()), after.seq(), fetch];
                    query_rows(&mut *conn.prepare_cached(NEXT_PAGE)?, cursor, limit)
                }
            })?;
            Ok(into_page(rows, has_more))
        })
    }

    fn get(&self, id: Uuid) -> BoxFuture<'_, Result<Option<Report>, StoreError>> {
        Box::pin(async move {
            let (rows, _) = self.readers.with(|conn| {
                query_rows(
                    &mut *conn.prepare_cached(BY_ID)?,
                    params![id.to_string()],
                    1,
                )
            })?;
            Ok(rows.into_iter().next().map(|stored| stored.report))
        })
    }

    fn data_version(&self) -> Option<u64> {
        // A shared-cache in-memory database (tests, development) reads uncommitted data: nothing to key
        // a cache on.
        if self.readers.target.memory {
            return None;
        }
        let conn = self.watcher.lock().unwrap_or_else(PoisonError::into_inner);
        let version = conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, i64>(0)));
        match version {
            Ok(v) => u64::try_from(v).ok(),
            Err(e) => {
                tracing::debug!(error = %e, "sqlite data_version unreadable: the page is read again");
                None
            }
        }
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            if !self.writer_running.load(Ordering::Acquire) {
                return Err(unavailable(SqliteError::WriterStopped));
            }
            // Not just `SELECT 1`: the database must still hold the service's table.
            self.readers.with(|conn| {
                let mut stmt = conn.prepare_cached("SELECT 1 FROM reports LIMIT 1")?;
                stmt.query([])?.next()?;
                Ok(())
            })
        })
    }
}

#[cfg(test)]
mod tests;
