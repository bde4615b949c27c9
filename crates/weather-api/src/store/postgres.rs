//! PostgreSQL store, for several instances sharing one database.
//!
//! The paging order (`created_date`, then `seq`, newest first) is the commit order: several instances
//! have several clocks, and a sequence value is drawn before its transaction commits, so neither alone
//! would do. Each insert takes a transaction-level advisory lock first ([`ORDER_LOCK`]), then stamps
//! the report with the database's clock (never before the newest stored report) and draws its `seq`;
//! the lock is released by the `COMMIT`. Writes to one table are therefore serialised (reads are not):
//! BENCHMARKS.md has the throughput this costs.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row as _};
use uuid::Uuid;

use futures_util::future::BoxFuture;

use super::{build_report, into_page, OpenError, ReportStore, Row, StoreError, Stored};
use crate::domain::{NewReport, Page, PageRequest, Report};

/// Reports in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

const COLUMNS: &str = "seq, id, description, city, state, country, created_date";

/// The newest page: a scan of the `reports_created_date` index from its start.
const FIRST_PAGE: &str =
    "SELECT seq, id, description, city, state, country, created_date FROM reports \
     ORDER BY created_date DESC, seq DESC LIMIT $1";
/// A later page: the same scan started strictly after the cursor (a row comparison on the index).
const NEXT_PAGE: &str =
    "SELECT seq, id, description, city, state, country, created_date FROM reports \
     WHERE (created_date, seq) < ($2, $3) ORDER BY created_date DESC, seq DESC LIMIT $1";

/// The transaction-level advisory lock that orders the writers of one `reports` table (the two-key
/// form: a constant of this service, and the table's oid, so each schema has its own lock).
const ORDER_LOCK: &str = "SELECT pg_advisory_xact_lock(2026112901, 'reports'::regclass::oid::int4)";
/// The insert, under [`ORDER_LOCK`]: `created_date` is the database server's clock at the insert,
/// or the newest stored `created_date` if that is later (the clock stepped back), and `seq` is drawn
/// under the lock, so (`created_date`, `seq`) grows in commit order.
const INSERT: &str = "INSERT INTO reports (id, description, city, state, country, created_date) \
     VALUES ($1, $2, $3, $4, $5, GREATEST(clock_timestamp(), \
     COALESCE((SELECT max(created_date) FROM reports), '-infinity'))) \
     RETURNING created_date";

impl PostgresStore {
    /// Connects to `url` (`postgres://...`; an `options=-c search_path=...` parameter selects a schema)
    /// and applies the embedded migrations.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be reached or migrated.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        // One connection first, so that its error is the one reported: the pool retries failed
        // connections until its acquire timeout and then says only "pool timed out".
        let first = tokio::time::timeout(CONNECT_TIMEOUT, sqlx::ConnectOptions::connect(&options))
            .await
            .map_err(|_| OpenError::PostgresNoAnswer {
                addr: addr(&options),
                secs: CONNECT_TIMEOUT.as_secs(),
            })?
            .map_err(|e| open_error(&options, e))?;
        let _ = sqlx::Connection::close(first).await;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(Box::new(e)))?;
        Ok(Self { pool })
    }

    fn row(r: &sqlx::postgres::PgRow) -> Result<Stored, StoreError> {
        Row {
            seq: r.try_get("seq")?,
            id: r.try_get("id")?,
            description: r.try_get("description")?,
            city: r.try_get("city")?,
            state: r.try_get("state")?,
            country: r.try_get("country")?,
            created_date: r.try_get("created_date")?,
        }
        .parse()
    }
}

/// How long the first connection may take before start-up gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `host:port` of the server `options` names.
fn addr(options: &PgConnectOptions) -> String {
    format!("{}:{}", options.get_host(), options.get_port())
}

/// The first connection's failure, explained when it is a mistake in `database_url` (nothing
/// listening, an unknown host, a missing database); the driver's error otherwise.
fn open_error(options: &PgConnectOptions, e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Io(cause) if cause.kind() == std::io::ErrorKind::ConnectionRefused => {
            OpenError::PostgresRefused {
                addr: addr(options),
            }
            .into()
        }
        sqlx::Error::Io(cause) => OpenError::PostgresUnreachable {
            addr: addr(options),
            cause,
        }
        .into(),
        sqlx::Error::Database(db) if db.code().as_deref() == Some("3D000") => {
            OpenError::PostgresDatabaseMissing {
                addr: addr(options),
                host: options.get_host().to_owned(),
                port: options.get_port(),
                user: options.get_username().to_owned(),
                database: options
                    .get_database()
                    .unwrap_or(options.get_username())
                    .to_owned(),
            }
            .into()
        }
        other => other.into(),
    }
}

impl ReportStore for PostgresStore {
    fn add(&self, new: NewReport) -> BoxFuture<'_, Result<Report, StoreError>> {
        Box::pin(async move {
            let mut report = build_report(new);
            let mut tx = self.pool.begin().await?;
            // Held until COMMIT: the writers of this table commit one after the other, in the order
            // they took it, and each reads the newest `created_date` only once the previous one
            // committed (a new statement, a new snapshot).
            sqlx::query(ORDER_LOCK).execute(&mut *tx).await?;
            let created: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(INSERT)
                .bind(report.id)
                .bind(report.description.as_str())
                .bind(report.location.city.as_str())
                .bind(report.location.state.as_ref().map(|s| s.as_str()))
                .bind(report.location.country.as_str())
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            report.created_date = created;
            Ok(report)
        })
    }

    fn page(&self, request: PageRequest) -> BoxFuture<'_, Result<Page, StoreError>> {
        Box::pin(async move {
            let fetch = i64::from(request.limit.get()) + 1;
            let query = match request.after {
                None => sqlx::query(FIRST_PAGE).bind(fetch),
                Some(after) => sqlx::query(NEXT_PAGE)
                    .bind(fetch)
                    .bind(after.created_date())
                    .bind(after.seq()),
            };
            let rows = query.fetch_all(&self.pool).await?;
            let limit = usize::try_from(request.limit.get()).unwrap_or(usize::MAX);
            let has_more = rows.len() > limit;
            // The row past the limit only says that more follow: it is not decoded.
            let rows = rows
                .iter()
                .take(limit)
                .map(Self::row)
                .collect::<Result<_, _>>()?;
            Ok(into_page(rows, has_more))
        })
    }

    fn get(&self, id: Uuid) -> BoxFuture<'_, Result<Option<Report>, StoreError>> {
        Box::pin(async move {
            let sql = format!("SELECT {COLUMNS} FROM reports WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            Ok(row
                .map(|r| Self::row(&r))
                .transpose()?
                .map(|stored| stored.report))
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            // Not just `SELECT 1`: the database must still hold the service's table.
            sqlx::query("SELECT 1 FROM reports LIMIT 1")
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }
}
