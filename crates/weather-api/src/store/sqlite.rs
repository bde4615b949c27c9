//! SQLite store on rusqlite: one file, WAL journal, `synchronous = FULL` (a committed report survives a
//! power cut).
//!
//! - **Reads** (`page`, `get`, `ping`) run on the calling thread, when their future is first polled: each
//!   is one indexed range scan of at most 501 rows (or one row by the unique `id` index) out of the page
//!   cache, CPU-bound and bounded like serialising the answer, so sending it to another thread would cost
//!   more than the query (issue 15: sqlx-sqlite's worker thread made the default page ten times dearer;
//!   `benches/store_read.rs` has the figures, `spawn_blocking` included). Reader connections
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

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::BoxFuture;
use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{build_report, into_page, ReportStore, Row, StoreError, Stored};
use crate::domain::{NewReport, Page, PageRequest, Report};

/// How long the writer waits for another connection's lock before answering "database unavailable".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The same for a reader. A read runs on a runtime worker thread, so its wait is bounded much lower: in
/// WAL mode readers only wait in rare cases (another process recovering the WAL after a crash, a
/// `locking_mode = EXCLUSIVE` connection), and a 503 after 250 ms is better than a stalled worker.
const READ_BUSY_TIMEOUT: Duration = Duration::from_millis(250);
/// Reader connections kept open between requests, at least (more are opened under load, then closed):
/// a read holds its connection only while it runs on a worker thread, so a few per core suffice.
const MIN_IDLE_READERS: usize = 8;
/// The most reports committed in one transaction.
const MAX_BATCH: usize = 256;
/// The most reports waiting for the writer; beyond, `add` answers "database unavailable" at once
/// instead of queueing without bound while the database is locked or slow.
const QUEUE_CAPACITY: usize = 4 * MAX_BATCH;

/// The embedded migrations, in the order they apply; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[(&str, &str)] = &[(
    "20261129000000_create_reports",
    include_str!("../../migrations/sqlite/20261129000000_create_reports.sql"),
)];

/// The newest page: a scan of the `reports_created_date` index from its start.
const FIRST_PAGE: &str =
    "SELECT seq, id, description, city, state, country, created_date FROM reports \
     ORDER BY created_date DESC, seq DESC LIMIT ?1";
/// A later page: the same scan started strictly after the cursor (a row-value range on the index).
const NEXT_PAGE: &str =
    "SELECT seq, id, description, city, state, country, created_date FROM reports \
     WHERE (created_date, seq) < (?1, ?2) ORDER BY created_date DESC, seq DESC LIMIT ?3";
/// One report, by the unique index on `id`.
const BY_ID: &str = "SELECT seq, id, description, city, state, country, created_date FROM reports \
     WHERE id = ?1";
const INSERT: &str = "INSERT INTO reports (id, description, city, state, country, created_date) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

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

/// `created_date` as stored: fixed-width RFC 3339 with microseconds, so that text order is time order.
fn stored_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// What SQLite opens: a `file:` URI (with `SQLITE_OPEN_URI`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    uri: String,
    /// A shared-cache in-memory database (see the module docs).
    memory: bool,
}

impl Target {
    /// `sqlite://PATH[?mode=...]`, `sqlite:PATH`, `sqlite::memory:` or `sqlite://:memory:`. PATH is
    /// percent-decoded (`my%20db.db` is `my db.db`), as the sqlx-based store read it. The one parameter
    /// is sqlx's `mode`: `rwc` and `rw` (the default: the file is created if missing, as before),
    /// `memory`; `ro` and any other parameter are refused, naming what is supported (SQLite itself would
    /// ignore a misspelt parameter, or refuse `mode=rwc` on the reader connections).
    fn parse(url: &str) -> Result<Self, StoreError> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| unavailable(SqliteError::NotSqliteUrl))?;
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let mut memory = path == ":memory:";
        for param in query.into_iter().flat_map(|q| q.split('&')) {
            match param {
                "" | "mode=rwc" | "mode=rw" => {}
                "mode=memory" => memory = true,
                other => {
                    return Err(unavailable(SqliteError::UnsupportedParameter(
                        other.to_owned(),
                    )))
                }
            }
        }
        if memory {
            return Ok(Self {
                uri: format!(
                    "file:weather-{}?mode=memory&cache=shared",
                    Uuid::new_v4().simple()
                ),
                memory: true,
            });
        }
        let path = percent_decode(path)?;
        if path.is_empty() {
            return Err(unavailable(SqliteError::NoFile));
        }
        // An absolute path gets the empty authority (`file:///abs`), so that `//` can never start one.
        let mut uri = String::from(if path.starts_with('/') {
            "file://"
        } else {
            "file:"
        });
        for c in path.chars() {
            match c {
                '%' => uri.push_str("%25"),
                '?' => uri.push_str("%3f"),
                '#' => uri.push_str("%23"),
                c => uri.push(c),
            }
        }
        Ok(Self { uri, memory: false })
    }
}

/// `%XX` escapes decoded (an invalid escape is kept as written); the result must be UTF-8.
fn percent_decode(path: &str) -> Result<String, StoreError> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        let escape = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)),
            _ => None,
        };
        match escape {
            Some((h, l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| unavailable(SqliteError::PathNotUtf8))
}

/// The write connection: created if missing, WAL journal, `synchronous = FULL`.
fn open_writer(target: &Target, busy_timeout: Duration) -> Result<Connection, StoreError> {
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
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
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

/// The reader connections not in use.
#[derive(Debug)]
struct Readers {
    target: Target,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    /// At most this many idle connections are kept: two per core, at least [`MIN_IDLE_READERS`].
    max_idle: usize,
}

impl Readers {
    fn open(&self) -> Result<Connection, StoreError> {
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
    fn with<T>(
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

/// A report on its way to the writer thread, and where its answer goes.
struct Job {
    report: Report,
    reply: oneshot::Sender<Result<Report, StoreError>>,
}

/// Which step of a write transaction failed.
#[derive(Debug)]
enum WriteFailure {
    /// `BEGIN IMMEDIATE` or `COMMIT`: the database refused the whole transaction.
    Transaction(rusqlite::Error),
    /// One `INSERT` (whose row it was is not known to the caller: it retries one by one).
    Insert(rusqlite::Error),
}

/// Drops the jobs whose request has gone (client disconnected, request timeout answered 503): nobody
/// would learn that their report was stored, and a client that retries would store it twice.
fn drop_cancelled(jobs: &mut Vec<Job>) {
    let queued = jobs.len();
    jobs.retain(|job| !job.reply.is_closed());
    if jobs.len() < queued {
        tracing::debug!(
            dropped = queued - jobs.len(),
            "sqlite writer: reports of cancelled requests not written"
        );
    }
}

/// Inserts the jobs' reports in one transaction; `Ok(false)` when none was left to write. The jobs
/// whose request has gone are dropped once the transaction holds the write lock (which may have
/// taken up to the busy timeout), so that only the inserts and the `COMMIT` remain between that check
/// and the answer.
fn commit(conn: &mut Connection, jobs: &mut Vec<Job>) -> Result<bool, WriteFailure> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(WriteFailure::Transaction)?;
    drop_cancelled(jobs);
    if jobs.is_empty() {
        // Nothing written: the transaction is rolled back when dropped.
        return Ok(false);
    }
    {
        let mut insert = tx.prepare_cached(INSERT).map_err(WriteFailure::Insert)?;
        for job in jobs.iter() {
            let report = &job.report;
            insert
                .execute(params![
                    report.id.to_string(),
                    report.description.as_str(),
                    report.location.city.as_str(),
                    report.location.state.as_ref().map(|s| s.as_str()),
                    report.location.country.as_str(),
                    stored_time(&report.created_date),
                ])
                .map_err(WriteFailure::Insert)?;
        }
    }
    // On failure the transaction is rolled back when dropped.
    tx.commit().map_err(WriteFailure::Transaction)?;
    Ok(true)
}

/// Marks the writer stopped when its thread ends, however it ends (a panic included), so that
/// readiness ([`ReportStore::ping`]) says so.
struct RunningFlag(Arc<AtomicBool>);

impl Drop for RunningFlag {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The writer thread's loop: one group commit per wake-up, until every sender is gone.
fn run_writer(
    mut conn: Connection,
    jobs: mpsc::Receiver<Job>,
    commits: &AtomicU64,
    running: RunningFlag,
) {
    let _running = running;
    let mut batch = Vec::new();
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        drop_cancelled(&mut batch);
        if !batch.is_empty() {
            write_batch(&mut conn, &mut batch, commits);
        }
    }
    tracing::debug!("sqlite writer: the store was dropped, the thread ends");
}

/// Commits the jobs of `batch` (leaving it empty) and answers each, only once its `COMMIT` returned.
fn write_batch(conn: &mut Connection, batch: &mut Vec<Job>, commits: &AtomicU64) {
    let failure = match commit(conn, batch) {
        Ok(committed) => {
            if committed {
                commits.fetch_add(1, Ordering::Relaxed);
            }
            None
        }
        Err(WriteFailure::Insert(e)) if batch.len() > 1 => {
            tracing::warn!(error = %e, reports = batch.len(), "sqlite insert failed: retrying the batch one by one");
            for job in batch.drain(..) {
                let mut one = vec![job];
                let result = match commit(conn, &mut one) {
                    Ok(true) => {
                        commits.fetch_add(1, Ordering::Relaxed);
                        Ok(())
                    }
                    // Its request has gone: dropped unwritten.
                    Ok(false) => continue,
                    Err(WriteFailure::Insert(e) | WriteFailure::Transaction(e)) => {
                        Err(unavailable(e))
                    }
                };
                if let Some(job) = one.pop() {
                    let _ = job.reply.send(result.map(|()| job.report));
                }
            }
            return;
        }
        Err(WriteFailure::Insert(e) | WriteFailure::Transaction(e)) => Some(Arc::new(e)),
    };
    match failure {
        None => {
            tracing::debug!(reports = batch.len(), "sqlite group commit");
            for job in batch.drain(..) {
                // The caller may have gone after the check (request cancelled): stored all the same.
                let _ = job.reply.send(Ok(job.report));
            }
        }
        Some(e) => {
            tracing::warn!(error = %e, reports = batch.len(), "sqlite write transaction failed");
            for job in batch.drain(..) {
                let _ = job.reply.send(Err(unavailable(Arc::clone(&e))));
            }
        }
    }
}

/// Decodes a row of the `SELECT seq, id, description, city, state, country, created_date` queries.
/// The text columns are borrowed from SQLite's buffers: [`Row::parse`] copies each once.
fn decode(r: &rusqlite::Row<'_>) -> Result<Stored, StoreError> {
    let seq: i64 = r.get(0)?;
    let id = r.get_ref(1)?.as_str().map_err(|e| StoreError::Corrupt {
        id: format!("(unreadable id, seq {seq})"),
        source: Box::new(e),
    })?;
    let corrupt = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Corrupt {
        id: id.to_owned(),
        source: e,
    };
    let text = |i: usize| -> Result<&str, StoreError> {
        r.get_ref(i)?.as_str().map_err(|e| corrupt(Box::new(e)))
    };
    let created = text(6)?;
    Row {
        seq,
        id: Uuid::parse_str(id).map_err(|e| corrupt(Box::new(e)))?,
        description: text(2)?,
        city: text(3)?,
        state: r
            .get_ref(4)?
            .as_str_or_null()
            .map_err(|e| corrupt(Box::new(e)))?,
        country: text(5)?,
        created_date: chrono::DateTime::parse_from_rfc3339(created)
            .map_err(|e| corrupt(Box::new(e)))?
            .with_timezone(&chrono::Utc),
    }
    .parse()
}

/// The first `limit` rows `stmt` answers for `params`, decoded, and whether another row follows (that
/// one is not decoded: a page's answer does not depend on it).
fn query_rows(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
    limit: usize,
) -> Result<(Vec<Stored>, bool), StoreError> {
    let mut rows = stmt.query(params)?;
    let mut decoded = Vec::with_capacity(limit.min(1024));
    while let Some(row) = rows.next()? {
        if decoded.len() == limit {
            return Ok((decoded, true));
        }
        decoded.push(decode(row)?);
    }
    Ok((decoded, false))
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
mod tests {
    use super::*;
    use crate::domain::{RawLocation, RawNewReport};

    fn new_report(description: &str) -> NewReport {
        NewReport::parse(&RawNewReport {
            description: Some(description.to_owned()),
            location: Some(RawLocation {
                city: Some("Portland".to_owned()),
                state: Some("OR".to_owned()),
                country: Some("US".to_owned()),
            }),
        })
        .unwrap()
    }

    fn file_url(dir: &tempfile::TempDir) -> (std::path::PathBuf, String) {
        let path = dir.path().join("reports.db");
        let url = format!("sqlite://{}", path.display());
        (path, url)
    }

    /// A store on a fresh file whose writer waits `busy_timeout` for a lock, and that file's path (the
    /// directory lives as long as the returned guard).
    async fn file_store(
        busy_timeout: Duration,
    ) -> (tempfile::TempDir, std::path::PathBuf, Arc<SqliteStore>) {
        let dir = tempfile::tempdir().unwrap();
        let (path, url) = file_url(&dir);
        let store = SqliteStore::open(&url, busy_timeout).await.unwrap();
        (dir, path, Arc::new(store))
    }

    /// Another connection holding the file's write lock until it rolls back.
    fn hold_write_lock(path: &std::path::Path) -> Connection {
        let lock = Connection::open(path).unwrap();
        lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
        lock
    }

    #[test]
    fn urls_become_sqlite_uris() {
        let uri = |url: &str| Target::parse(url).unwrap().uri;
        assert_eq!(uri("sqlite:///var/lib/w.db"), "file:///var/lib/w.db");
        assert_eq!(uri("sqlite:/var/lib/w.db"), "file:///var/lib/w.db");
        assert_eq!(uri("sqlite://weather.db"), "file:weather.db");
        // sqlx's forms: `mode=rwc` / `rw` open (and create) the file; escapes are decoded.
        assert_eq!(uri("sqlite://weather.db?mode=rwc"), "file:weather.db");
        assert_eq!(uri("sqlite:weather.db?mode=rw"), "file:weather.db");
        assert_eq!(uri("sqlite:///data/my%20db.db"), "file:///data/my db.db");
        assert_eq!(uri("sqlite:///a%b#c.db"), "file:///a%25b%23c.db");
        assert_eq!(uri("sqlite:///a%2525.db"), "file:///a%2525.db");
        for memory in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://x.db?mode=memory",
        ] {
            let target = Target::parse(memory).unwrap();
            assert!(target.memory, "{memory}");
            assert!(target.uri.starts_with("file:weather-"), "{}", target.uri);
            assert!(target.uri.ends_with("?mode=memory&cache=shared"));
        }
        assert_ne!(uri("sqlite::memory:"), uri("sqlite::memory:"));
        for bad in [
            "postgres://x",
            "weather.db",
            "sqlite://",
            "sqlite:?mode=rwc",
            "sqlite:w.db?mode=ro",
            "sqlite:w.db?mdoe=rwc",
            "sqlite:w.db?cache=shared",
            "sqlite:///%ff.db",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(StoreError::Unavailable(_))),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn database_file_is_created_in_wal_mode_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let (path, url) = file_url(&dir);
        let store = SqliteStore::connect(&url).await.unwrap();
        assert!(path.is_file());
        let other = Connection::open(&path).unwrap();
        let mode: String = other
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let version: i64 = other
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 1);
        // synchronous is per connection: the writer's, as opened.
        let writer = open_writer(&Target::parse(&url).unwrap(), BUSY_TIMEOUT).unwrap();
        let sync: i64 = writer
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "2 = FULL");
        drop(store);
    }

    #[tokio::test]
    async fn database_made_by_the_sqlx_version_opens_with_its_reports() {
        let dir = tempfile::tempdir().unwrap();
        let (path, url) = file_url(&dir);
        // The layout sqlx's migrator left: its bookkeeping table, the reports, user_version 0.
        let old = Connection::open(&path).unwrap();
        old.pragma_update(None, "journal_mode", "WAL").unwrap();
        old.execute_batch(
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
             installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
             checksum BLOB NOT NULL, execution_time BIGINT NOT NULL);
             INSERT INTO _sqlx_migrations VALUES (20261129000000, 'create reports', \
             CURRENT_TIMESTAMP, 1, x'00', 1);",
        )
        .unwrap();
        old.execute_batch(MIGRATIONS[0].1).unwrap();
        let id = Uuid::new_v4();
        old.execute(
            "INSERT INTO reports (id, description, city, state, country, created_date) \
             VALUES (?1, 'Old rain', 'Seattle', 'WA', 'US', '2026-11-29T10:00:00.000000Z')",
            params![id.to_string()],
        )
        .unwrap();
        drop(old);

        let store = SqliteStore::connect(&url).await.unwrap();
        let report = store.get(id).await.unwrap().unwrap();
        assert_eq!(report.description.as_str(), "Old rain");
        assert_eq!(report.location.city.as_str(), "seattle");
        let added = store.add(new_report("New sun")).await.unwrap();
        let page = store.page(PageRequest::default()).await.unwrap();
        assert_eq!(page.reports, vec![added, report]);
        let check = Connection::open(&path).unwrap();
        let version: i64 = check
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 1);
    }

    #[tokio::test]
    async fn corrupt_rows_are_errors_naming_the_row_never_panics() {
        let (_dir, path, store) = file_store(BUSY_TIMEOUT).await;
        let other = Connection::open(&path).unwrap();
        // Each row breaks one rule: a blank description, a blob for a city, a date that is not RFC
        // 3339, a description that is not UTF-8; then (below) an id that is not a UUID.
        let cases = [
            ("'   '", "'Boston'", "'2026-11-29T10:00:00.000000Z'"),
            ("'Fog'", "x'4243'", "'2026-11-29T10:00:00.000000Z'"),
            ("'Fog'", "'Boston'", "'yesterday'"),
            (
                "CAST(x'ff' AS TEXT)",
                "'Boston'",
                "'2026-11-29T10:00:00.000000Z'",
            ),
        ];
        for (description, city, created) in cases {
            other.execute("DELETE FROM reports", []).unwrap();
            let id = Uuid::new_v4();
            other
                .execute(
                    &format!(
                        "INSERT INTO reports (id, description, city, state, country, created_date) \
                         VALUES (?1, {description}, {city}, NULL, 'us', {created})"
                    ),
                    params![id.to_string()],
                )
                .unwrap();
            let err = store.page(PageRequest::default()).await.unwrap_err();
            assert!(
                matches!(&err, StoreError::Corrupt { id: named, .. } if *named == id.to_string()),
                "{description} {city} {created}: {err:?}"
            );
            assert!(matches!(
                store.get(id).await.unwrap_err(),
                StoreError::Corrupt { .. }
            ));
        }
        other.execute("DELETE FROM reports", []).unwrap();
        other
            .execute(
                "INSERT INTO reports (id, description, city, state, country, created_date) \
                 VALUES ('not-a-uuid', 'Fog', 'Boston', NULL, 'us', '2026-11-29T10:00:00.000000Z')",
                [],
            )
            .unwrap();
        assert!(matches!(
            store.page(PageRequest::default()).await.unwrap_err(),
            StoreError::Corrupt { id, .. } if id == "not-a-uuid"
        ));
    }

    #[tokio::test]
    async fn database_with_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (path, url) = file_url(&dir);
        let newer = Connection::open(&path).unwrap();
        newer.pragma_update(None, "user_version", 7).unwrap();
        drop(newer);
        let err = SqliteStore::connect(&url).await.unwrap_err();
        assert!(matches!(err, StoreError::Migration(_)), "{err:?}");
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "the database's schema version 7 is not one this build knows (0 to 1)"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_adds_share_commits_and_are_all_readable() {
        let dir = tempfile::tempdir().unwrap();
        let (_, url) = file_url(&dir);
        let store = SqliteStore::connect(&url).await.unwrap();
        let adds = (0..64).map(|i| store.add(new_report(&format!("report {i}"))));
        let added = futures_util::future::join_all(adds).await;
        let added: Vec<Report> = added.into_iter().map(Result::unwrap).collect();
        for report in &added {
            assert_eq!(store.get(report.id).await.unwrap().as_ref(), Some(report));
        }
        let page = store
            .page(PageRequest::first(crate::domain::PageLimit::new(100)))
            .await
            .unwrap();
        assert_eq!(page.reports.len(), 64);
        let commits = store.commits();
        assert!(
            (1..64).contains(&commits),
            "64 concurrent adds took {commits} commits"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_memory_store_is_shared_by_writer_and_readers() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let adds = (0..32).map(|i| store.add(new_report(&format!("report {i}"))));
        let reads = (0..32).map(|_| store.page(PageRequest::default()));
        let (added, read) = futures_util::future::join(
            futures_util::future::join_all(adds),
            futures_util::future::join_all(reads),
        )
        .await;
        for page in read {
            page.unwrap();
        }
        for report in added {
            let report = report.unwrap();
            assert_eq!(store.get(report.id).await.unwrap(), Some(report));
        }
        store.ping().await.unwrap();
        // Another in-memory store is another database.
        let other = SqliteStore::connect("sqlite::memory:").await.unwrap();
        assert!(other
            .page(PageRequest::default())
            .await
            .unwrap()
            .reports
            .is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn locked_database_fails_every_queued_add_then_recovers() {
        let (_dir, path, store) = file_store(Duration::from_millis(200)).await;
        let before = store.add(new_report("before")).await.unwrap();
        let commits_before = store.commits();
        let lock = hold_write_lock(&path);

        let adds = (0..16).map(|i| store.add(new_report(&format!("locked {i}"))));
        let results = futures_util::future::join_all(adds).await;
        for result in results {
            assert!(
                matches!(result, Err(StoreError::Unavailable(_))),
                "{result:?}"
            );
        }
        assert_eq!(store.commits(), commits_before);
        // Reads go on meanwhile (WAL: the lock holder blocks writers only).
        assert_eq!(
            store.page(PageRequest::default()).await.unwrap().reports,
            vec![before.clone()]
        );

        lock.execute_batch("ROLLBACK").unwrap();
        drop(lock);
        let after = store.add(new_report("after")).await.unwrap();
        let page = store.page(PageRequest::default()).await.unwrap();
        assert_eq!(page.reports, vec![after, before]);
    }

    #[tokio::test]
    async fn report_of_a_request_cancelled_before_its_commit_began_is_not_written() {
        let (_dir, path, store) = file_store(Duration::from_secs(5)).await;
        let lock = hold_write_lock(&path);
        // The writer takes the first report and waits for the lock...
        let first = tokio::spawn({
            let store = Arc::clone(&store);
            async move { store.add(new_report("waited for the lock")).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        // ...while the second one's request gives up (a timeout, a client gone).
        let cancelled = tokio::time::timeout(
            Duration::from_millis(50),
            store.add(new_report("cancelled")),
        )
        .await;
        assert!(cancelled.is_err(), "{cancelled:?}");
        lock.execute_batch("ROLLBACK").unwrap();
        drop(lock);
        let first = first.await.unwrap().unwrap();
        let last = store.add(new_report("after")).await.unwrap();
        let page = store.page(PageRequest::default()).await.unwrap();
        assert_eq!(page.reports, vec![last, first]);
    }

    #[tokio::test]
    async fn sqlx_style_urls_open_the_file_they_name() {
        let dir = tempfile::tempdir().unwrap();
        let rwc = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
        let store = SqliteStore::connect(&rwc).await.unwrap();
        store.add(new_report("in a")).await.unwrap();
        assert!(dir.path().join("a.db").is_file());
        let escaped = format!("sqlite://{}/my%20db.db", dir.path().display());
        let store = SqliteStore::connect(&escaped).await.unwrap();
        store.add(new_report("in my db")).await.unwrap();
        assert!(dir.path().join("my db.db").is_file());
        assert!(!dir.path().join("my%20db.db").exists());
    }

    #[tokio::test]
    async fn a_corrupt_row_past_the_page_only_says_more_follow() {
        let (_dir, path, store) = file_store(BUSY_TIMEOUT).await;
        let other = Connection::open(&path).unwrap();
        other
            .execute(
                "INSERT INTO reports (id, description, city, state, country, created_date) \
                 VALUES (?1, '   ', 'boston', NULL, 'us', '2000-01-01T00:00:00.000000Z')",
                params![Uuid::new_v4().to_string()],
            )
            .unwrap();
        let newer = store.add(new_report("newer")).await.unwrap();
        let newest = store.add(new_report("newest")).await.unwrap();
        let page = store
            .page(PageRequest::first(crate::domain::PageLimit::new(2)))
            .await
            .unwrap();
        assert_eq!(page.reports, vec![newest, newer]);
        assert!(page.has_more);
        assert!(matches!(
            store
                .page(PageRequest::first(crate::domain::PageLimit::new(3)))
                .await,
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[tokio::test]
    async fn a_full_write_queue_answers_unavailable_at_once() {
        let (_dir, path, store) = file_store(Duration::from_secs(5)).await;
        let lock = hold_write_lock(&path);
        // One batch waits for the lock, the queue fills behind it...
        let waiting: Vec<_> = (0..MAX_BATCH + QUEUE_CAPACITY)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.add(new_report(&format!("queued {i}"))).await })
            })
            .collect();
        // ...and once it is full, one more is refused without waiting for the lock: an add that
        // queued instead would still be waiting after 50 ms (the lock is held for seconds).
        let mut refused = None;
        for _ in 0..200 {
            match tokio::time::timeout(Duration::from_millis(50), store.add(new_report("one more")))
                .await
            {
                Ok(result) => {
                    refused = Some(result.unwrap_err());
                    break;
                }
                // Queued (the queue was not full yet); cancelled, so the writer drops it.
                Err(_) => continue,
            }
        }
        let refused = refused.expect("the queue never filled");
        let cause = std::error::Error::source(&refused).unwrap().to_string();
        assert!(cause.contains("queue is full"), "{cause}");
        lock.execute_batch("ROLLBACK").unwrap();
        drop(lock);
        for task in waiting {
            let _ = task.await.unwrap();
        }
        store.add(new_report("after")).await.unwrap();
    }

    #[tokio::test]
    async fn report_cancelled_while_its_batch_waited_for_the_lock_is_not_written() {
        let (_dir, path, store) = file_store(Duration::from_secs(5)).await;
        let lock = hold_write_lock(&path);
        // The writer takes this report and waits in BEGIN IMMEDIATE; its request gives up meanwhile.
        let gave_up =
            tokio::time::timeout(Duration::from_millis(200), store.add(new_report("gave up")))
                .await;
        assert!(gave_up.is_err(), "{gave_up:?}");
        lock.execute_batch("ROLLBACK").unwrap();
        drop(lock);
        let after = store.add(new_report("after")).await.unwrap();
        let page = store.page(PageRequest::default()).await.unwrap();
        assert_eq!(page.reports, vec![after]);
    }

    #[tokio::test]
    async fn failed_insert_is_retried_alone_and_fails_only_its_own_report() {
        let dir = tempfile::tempdir().unwrap();
        let (_, url) = file_url(&dir);
        let store = SqliteStore::connect(&url).await.unwrap();
        let mut conn = Connection::open(&url["sqlite://".len()..]).unwrap();
        let good = build_report(new_report("good"));
        let taken = build_report(new_report("taken"));
        // The second report's id is already stored: its insert fails, the first's must not.
        let mut clash = build_report(new_report("clash"));
        clash.id = taken.id;
        let (reply, _waiting) = oneshot::channel();
        let mut first = vec![Job {
            report: taken.clone(),
            reply,
        }];
        assert!(commit(&mut conn, &mut first).unwrap());
        let jobs: Vec<_> = [good.clone(), clash]
            .into_iter()
            .map(|report| {
                let (reply, answer) = oneshot::channel();
                (Job { report, reply }, answer)
            })
            .collect();
        let (mut batch, answers): (Vec<Job>, Vec<_>) = jobs.into_iter().unzip();
        let commits = AtomicU64::new(0);
        write_batch(&mut conn, &mut batch, &commits);
        assert!(batch.is_empty());
        let mut answers = answers.into_iter();
        assert_eq!(answers.next().unwrap().await.unwrap().unwrap(), good);
        assert!(matches!(
            answers.next().unwrap().await.unwrap(),
            Err(StoreError::Unavailable(_))
        ));
        assert_eq!(commits.load(Ordering::Relaxed), 1);
        assert_eq!(store.get(good.id).await.unwrap(), Some(good));
        assert_eq!(store.get(taken.id).await.unwrap(), Some(taken));
    }

    #[tokio::test]
    async fn dropped_store_ends_its_writer_thread() {
        let mut store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.add(new_report("one")).await.unwrap();
        let writer = store.writer.take().unwrap();
        assert_eq!(writer.thread().name(), Some("sqlite-writer"));
        drop(store);
        let joined = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::task::spawn_blocking(move || writer.join()),
        )
        .await
        .expect("the writer thread ends once the store is dropped");
        joined.unwrap().unwrap();
    }
}
