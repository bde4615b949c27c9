//! Report persistence: the [`ReportStore`] trait and its SQLite and PostgreSQL implementations.
//!
//! Both implementations commit before they return, so a report answered with 201 is durable. One contract
//! test suite (`tests/api/store.rs`) runs against both. SQLite goes through rusqlite (reads on the calling
//! thread, writes group-committed by one writer thread), PostgreSQL through sqlx.

mod postgres;
mod sqlite;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use uuid::Uuid;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::domain::{Cursor, NewReport, Page, PageRequest, Report};
use crate::settings::DatabaseUrl;

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be reached, or refused the operation (locked, connection lost...). The
    /// cause is the driver's error (`sqlx::Error`, `rusqlite::Error`...), for the logs only.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored row no longer parses into a report.
    #[error("stored report {id} is invalid")]
    Corrupt {
        /// The row's id (as stored).
        id: String,
        /// What did not parse.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Applying the embedded migrations failed (the cause is the driver's or migrator's error).
    #[error("database migration failed")]
    Migration(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database that `database_url` names cannot be opened, for a reason the service explains
    /// (start-up only).
    #[error(transparent)]
    Open(#[from] OpenError),
}

/// Why the database that `database_url` names cannot be opened: what was tried and how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The SQLite file's directory does not exist (SQLite creates the file, never its directory).
    #[error(
        "the SQLite database's directory {dir} does not exist; create it (mkdir -p {dir}) or point \
         database_url at a file in an existing directory"
    )]
    SqliteDirectoryMissing {
        /// The directory, as the URL names it.
        dir: String,
    },
    /// Nothing listens at the PostgreSQL host and port.
    #[error(
        "PostgreSQL at {addr}: connection refused; check the host and port in database_url \
         (is PostgreSQL running and listening there?)"
    )]
    PostgresRefused {
        /// `host:port`.
        addr: String,
    },
    /// The PostgreSQL host did not answer in time.
    #[error(
        "PostgreSQL at {addr}: no answer within {secs} s; check the host and port in database_url \
         and any firewall between"
    )]
    PostgresNoAnswer {
        /// `host:port`.
        addr: String,
        /// How long the service waited.
        secs: u64,
    },
    /// The PostgreSQL host cannot be reached (name not resolved, no route...).
    #[error(
        "PostgreSQL at {addr}: cannot connect ({cause}); check the host and port in database_url"
    )]
    PostgresUnreachable {
        /// `host:port`.
        addr: String,
        /// The operating system's error.
        cause: std::io::Error,
    },
    /// The server answers but has no database of that name.
    #[error(
        "PostgreSQL at {addr}: database {database:?} does not exist; create it \
         (createdb -h {host} -p {port} -U {user} {database}) or fix the database name in database_url"
    )]
    PostgresDatabaseMissing {
        /// `host:port`.
        addr: String,
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// The user.
        user: String,
        /// The database name.
        database: String,
    },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unavailable(Box::new(e))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Unavailable(Box::new(e))
    }
}

/// Where reports live.
pub trait ReportStore: Send + Sync + std::fmt::Debug {
    /// Stores a new report with a fresh id; returns it once committed. Its `created_date` is stamped
    /// when it commits, by the database's one clock, and never before a report committed earlier: the
    /// paging order is the commit order, so a report cannot appear behind a page a client already read.
    fn add(&self, report: NewReport) -> BoxFuture<'_, Result<Report, StoreError>>;
    /// One page of reports, newest first (`created_date`, then insertion order, descending): at most
    /// `request.limit` of them, strictly after `request.after` when given. One indexed range scan of
    /// `limit + 1` rows (the extra row says whether a next page exists), whatever the table's size.
    fn page(&self, request: PageRequest) -> BoxFuture<'_, Result<Page, StoreError>>;
    /// One report by id.
    fn get(&self, id: Uuid) -> BoxFuture<'_, Result<Option<Report>, StoreError>>;
    /// Checks that the database answers (readiness).
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>>;
    /// A number that changes whenever anything (this process or another) commits to the database, read
    /// now, without waiting; `None` when the store has no such number or cannot read it. Equal numbers
    /// mean nothing was committed in between, so an answer read after the first may be served again
    /// ([`NewestPageCache`](crate::page_cache::NewestPageCache)). The default: `None`.
    fn data_version(&self) -> Option<u64> {
        None
    }
}

/// How long [`CachedPing`] reuses a database check.
pub const PING_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// The readiness check of the database, done at most once per [`PING_CACHE_TTL`]: `/readyz` is polled
/// by load balancers and orchestrators, often several per instance, and a `SELECT` per poll cost more
/// than the rest of the request. While one request refreshes the result, the others answer the previous
/// one (no queue behind the database). A database that stops answering is seen within the TTL.
#[derive(Debug)]
pub struct CachedPing {
    ttl: std::time::Duration,
    last: std::sync::Mutex<Option<(std::time::Instant, bool)>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl CachedPing {
    /// A cache that keeps a result for `ttl`.
    pub fn new(ttl: std::time::Duration) -> Self {
        Self {
            ttl,
            last: std::sync::Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// True when the database answered its last check, made at most `ttl` ago (made now if needed).
    pub async fn is_ready(&self, store: &dyn ReportStore) -> bool {
        let cached = *self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, ok)) = cached {
            if at.elapsed() < self.ttl {
                return ok;
            }
        }
        let _guard = match (self.refreshing.try_lock(), cached) {
            (Ok(guard), _) => guard,
            // Someone else is asking the database: their previous answer stands meanwhile.
            (Err(_), Some((_, ok))) => return ok,
            (Err(_), None) => self.refreshing.lock().await,
        };
        let ok = match store.ping().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "readiness: database does not answer");
                false
            }
        };
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((std::time::Instant::now(), ok));
        ok
    }
}

/// Opens the store named by the database URL, creating the SQLite file and applying migrations as needed.
///
/// # Errors
/// [`StoreError`] when the database cannot be opened or migrated.
pub async fn connect(url: &DatabaseUrl) -> Result<Arc<dyn ReportStore>, StoreError> {
    Ok(match url {
        DatabaseUrl::Sqlite(url) => Arc::new(SqliteStore::connect(url).await?),
        DatabaseUrl::Postgres(url) => {
            Arc::new(PostgresStore::connect(entra_core::ExposeSecret::expose_secret(url)).await?)
        }
    })
}

/// The current time truncated to microseconds, the precision both databases keep, so that what `add`
/// returns equals what `list` later reads.
fn now_micros() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// A row as both databases return it, its text borrowed from the driver's buffers (each field is
/// copied once, by the parse into a [`Report`]).
struct Row<'a> {
    seq: i64,
    id: Uuid,
    description: &'a str,
    city: &'a str,
    state: Option<&'a str>,
    country: &'a str,
    created_date: chrono::DateTime<chrono::Utc>,
}

/// A stored report and its place in the newest-first order.
struct Stored {
    cursor: Cursor,
    report: Report,
}

impl Row<'_> {
    /// The report, every field re-parsed so that a corrupt row is an error instead of an invalid value.
    fn parse(self) -> Result<Stored, StoreError> {
        let report = Report::from_parts(
            self.id,
            self.description,
            self.city,
            self.state,
            self.country,
            self.created_date,
        )
        .map_err(|e| StoreError::Corrupt {
            id: self.id.to_string(),
            source: Box::new(e),
        })?;
        Ok(Stored {
            cursor: Cursor::new(self.created_date.timestamp_micros(), self.seq),
            report,
        })
    }
}

/// The page made of the rows a store read (at most the page's limit) and whether more follow (the
/// store read one row past the limit to know; that row is not decoded).
fn into_page(rows: Vec<Stored>, has_more: bool) -> Page {
    let first = rows.first().map(|s| s.cursor);
    let last = rows.last().map(|s| s.cursor);
    Page {
        reports: rows.into_iter().map(|s| s.report).collect(),
        first,
        last,
        has_more,
    }
}

/// A report with a fresh id; its `created_date` (now) is provisional: each store replaces it with the
/// time of its commit.
fn build_report(new: NewReport) -> Report {
    Report {
        id: Uuid::new_v4(),
        description: new.description,
        location: new.location,
        created_date: now_micros(),
    }
}
