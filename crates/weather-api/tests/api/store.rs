//! The ReportStore contract, run against SQLite always and PostgreSQL when TEST_POSTGRES_URL is set
//! (each test in its own fresh schema).

use std::sync::Arc;

use weather_api::domain::{NewReport, RawLocation, RawNewReport};
use weather_api::store::{ReportStore, SqliteStore};

fn new_report(description: &str, city: &str, state: Option<&str>) -> NewReport {
    NewReport::parse(&RawNewReport {
        description: Some(description.to_owned()),
        location: Some(RawLocation {
            city: Some(city.to_owned()),
            state: state.map(str::to_owned),
            country: Some("US".to_owned()),
        }),
    })
    .unwrap()
}

async fn add_then_get_returns_the_same_report(store: Arc<dyn ReportStore>) {
    let added = store
        .add(new_report("Sunny", "Portland", Some("OR")))
        .await
        .unwrap();
    let fetched = store.get(added.id).await.unwrap();
    assert_eq!(fetched, Some(added));
}

async fn get_unknown_returns_none(store: Arc<dyn ReportStore>) {
    assert_eq!(store.get(uuid::Uuid::new_v4()).await.unwrap(), None);
}

async fn list_is_newest_first_and_limited(store: Arc<dyn ReportStore>) {
    let mut added = Vec::new();
    for i in 0..5 {
        added.push(
            store
                .add(new_report(&format!("report {i}"), "Boston", None))
                .await
                .unwrap(),
        );
    }
    let all = store.list(None).await.unwrap();
    added.reverse();
    assert_eq!(all, added);
    let two = store.list(Some(2)).await.unwrap();
    assert_eq!(two, added[..2].to_vec());
}

async fn empty_store_lists_nothing_and_answers_ping(store: Arc<dyn ReportStore>) {
    assert!(store.list(None).await.unwrap().is_empty());
    store.ping().await.unwrap();
}

async fn sqlite() -> (Arc<dyn ReportStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("reports.db").display());
    (Arc::new(SqliteStore::connect(&url).await.unwrap()), dir)
}

/// A fresh schema of the TEST_POSTGRES_URL database: (URL selecting it, schema name), or None (printing
/// why).
pub(crate) async fn postgres_schema() -> Option<(String, String)> {
    let Ok(url) = std::env::var("TEST_POSTGRES_URL") else {
        println!("skipped: set TEST_POSTGRES_URL");
        return None;
    };
    let schema = format!("weather_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&url)
        .await
        .expect("TEST_POSTGRES_URL connects");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let separator = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    Some((scoped, schema))
}

/// Drops a schema made by [`postgres_schema`].
pub(crate) async fn drop_schema(schema: &str) {
    if let Ok(url) = std::env::var("TEST_POSTGRES_URL") {
        let admin = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite_store {
            $(
                #[tokio::test]
                async fn $name() {
                    let (store, _dir) = super::sqlite().await;
                    super::$name(store).await;
                }
            )*
        }
        mod postgres_store {
            use std::sync::Arc;
            use weather_api::store::PostgresStore;
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some((url, schema)) = super::postgres_schema().await {
                        let store = PostgresStore::connect(&url).await.unwrap();
                        super::$name(Arc::new(store)).await;
                        super::drop_schema(&schema).await;
                    }
                }
            )*
        }
    };
}

contract!(
    add_then_get_returns_the_same_report,
    get_unknown_returns_none,
    list_is_newest_first_and_limited,
    empty_store_lists_nothing_and_answers_ping,
);
