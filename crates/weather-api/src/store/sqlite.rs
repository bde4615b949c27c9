//! SQLite store: one file, WAL journal, `synchronous = FULL` (a committed report survives a power cut).

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row as _, SqlitePool};
use uuid::Uuid;

use futures_util::future::BoxFuture;

use super::{build_report, into_page, ReportStore, Row, StoreError};
use crate::domain::{NewReport, Page, PageRequest, Report};

/// Reports in a SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

const COLUMNS: &str = "seq, id, description, city, state, country, created_date";

/// The newest page: a scan of the `reports_created_date` index from its start.
const FIRST_PAGE: &str =
    "SELECT seq, id, description, city, state, country, created_date FROM reports \
     ORDER BY created_date DESC, seq DESC LIMIT ?";
/// A later page: the same scan started strictly after the cursor (a row-value range on the index).
const NEXT_PAGE: &str =
    "SELECT seq, id, description, city, state, country, created_date FROM reports \
     WHERE (created_date, seq) < (?, ?) ORDER BY created_date DESC, seq DESC LIMIT ?";

/// `created_date` as stored: fixed-width RFC 3339 with microseconds, so that text order is time order.
fn stored_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path` or `sqlite::memory:`) and applies
    /// the embedded migrations.
    ///
    /// # Errors
    /// [`StoreError`] when the file cannot be opened or migrated.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(StoreError::Migration)?;
        Ok(Self { pool })
    }

    fn row(r: &sqlx::sqlite::SqliteRow) -> Result<Row, StoreError> {
        let id: String = r.try_get("id")?;
        let created: String = r.try_get("created_date")?;
        let corrupt = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Corrupt {
            id: id.clone(),
            source: e,
        };
        Ok(Row {
            seq: r.try_get("seq")?,
            id: Uuid::parse_str(&id).map_err(|e| corrupt(Box::new(e)))?,
            description: r.try_get("description")?,
            city: r.try_get("city")?,
            state: r.try_get("state")?,
            country: r.try_get("country")?,
            created_date: chrono::DateTime::parse_from_rfc3339(&created)
                .map_err(|e| corrupt(Box::new(e)))?
                .with_timezone(&chrono::Utc),
        })
    }
}

impl ReportStore for SqliteStore {
    fn add(&self, new: NewReport) -> BoxFuture<'_, Result<Report, StoreError>> {
        Box::pin(async move {
            let report = build_report(new);
            sqlx::query(
                "INSERT INTO reports (id, description, city, state, country, created_date) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(report.id.to_string())
            .bind(report.description.as_str())
            .bind(report.location.city.as_str())
            .bind(report.location.state.as_ref().map(|s| s.as_str()))
            .bind(report.location.country.as_str())
            .bind(stored_time(&report.created_date))
            .execute(&self.pool)
            .await?;
            Ok(report)
        })
    }

    fn page(&self, request: PageRequest) -> BoxFuture<'_, Result<Page, StoreError>> {
        Box::pin(async move {
            let fetch = i64::from(request.limit.get()) + 1;
            let query = match request.after {
                None => sqlx::query(FIRST_PAGE).bind(fetch),
                Some(after) => sqlx::query(NEXT_PAGE)
                    .bind(stored_time(&after.created_date()))
                    .bind(after.seq())
                    .bind(fetch),
            };
            let rows = query.fetch_all(&self.pool).await?;
            let rows = rows.iter().map(Self::row).collect::<Result<_, _>>()?;
            into_page(rows, request)
        })
    }

    fn get(&self, id: Uuid) -> BoxFuture<'_, Result<Option<Report>, StoreError>> {
        Box::pin(async move {
            let sql = format!("SELECT {COLUMNS} FROM reports WHERE id = ?");
            let row = sqlx::query(&sql)
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
            row.map(|r| Self::row(&r).and_then(Row::into_report))
                .transpose()
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn database_file_is_created_in_wal_mode_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        assert!(path.is_file());
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        // 2 = FULL
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(sync, 2);
    }
}
