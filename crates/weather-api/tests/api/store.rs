//! The ReportStore contract, run against SQLite always and PostgreSQL when TEST_POSTGRES_URL is set
//! (each test in its own fresh schema).

use std::sync::Arc;

use weather_api::domain::{NewReport, PageLimit, PageRequest, RawLocation, RawNewReport, Report};
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

/// Every report, following the pages of `limit` from the newest.
async fn all_pages(store: &dyn ReportStore, limit: u16) -> (Vec<Report>, usize) {
    let mut request = PageRequest::first(PageLimit::new(limit));
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let page = store.page(request).await.unwrap();
        pages += 1;
        assert!(page.reports.len() <= usize::from(limit));
        all.extend(page.reports.iter().cloned());
        match page.next() {
            Some(next) => request.after = Some(next),
            None => return (all, pages),
        }
    }
}

/// Adds `n` reports; returns them newest first.
async fn add_reports(store: &dyn ReportStore, n: usize) -> Vec<Report> {
    let mut added = Vec::new();
    for i in 0..n {
        added.push(
            store
                .add(new_report(&format!("report {i}"), "Boston", None))
                .await
                .unwrap(),
        );
    }
    added.reverse();
    added
}

async fn page_is_newest_first_and_limited(store: Arc<dyn ReportStore>) {
    let added = add_reports(store.as_ref(), 5).await;
    let two = store
        .page(PageRequest::first(PageLimit::new(2)))
        .await
        .unwrap();
    assert_eq!(two.reports, added[..2].to_vec());
    assert!(two.has_more);
    assert!(two.next().is_some());
    let all = store
        .page(PageRequest::first(PageLimit::new(5)))
        .await
        .unwrap();
    assert_eq!(all.reports, added);
    assert!(!all.has_more, "exactly `limit` reports: no next page");
    assert_eq!(all.next(), None);
}

async fn pages_cover_every_report_once_in_order(store: Arc<dyn ReportStore>) {
    let added = add_reports(store.as_ref(), 7).await;
    let (all, pages) = all_pages(store.as_ref(), 3).await;
    assert_eq!(all, added);
    assert_eq!(pages, 3, "3 + 3 + 1");
    let (all, pages) = all_pages(store.as_ref(), 7).await;
    assert_eq!((all.len(), pages), (7, 1));
}

async fn paging_is_stable_while_reports_are_added(store: Arc<dyn ReportStore>) {
    for i in 0..10 {
        store
            .add(new_report(&format!("old {i}"), "Boston", None))
            .await
            .unwrap();
    }
    let before = store
        .page(PageRequest::first(PageLimit::new(10)))
        .await
        .unwrap()
        .reports;
    let mut request = PageRequest::first(PageLimit::new(4));
    let mut seen = Vec::new();
    loop {
        let page = store.page(request).await.unwrap();
        seen.extend(page.reports.iter().cloned());
        // A report added between two page reads is newer than everything read so far.
        store
            .add(new_report("added while paging", "Austin", None))
            .await
            .unwrap();
        match page.next() {
            Some(next) => request.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, before, "no report skipped, none shown twice");
}

/// The reports committed since the previous sync, newest first: pages of `limit` from the newest until
/// `top`, the newest report that sync saw (what a client does to pick up new reports).
async fn sync(store: &dyn ReportStore, top: Option<uuid::Uuid>, limit: u16) -> Vec<Report> {
    let mut request = PageRequest::first(PageLimit::new(limit));
    let mut fresh = Vec::new();
    loop {
        let page = store.page(request).await.unwrap();
        for report in &page.reports {
            if Some(report.id) == top {
                return fresh;
            }
            fresh.push(report.clone());
        }
        match page.next() {
            Some(next) => request.after = Some(next),
            None => return fresh,
        }
    }
}

/// Writers add concurrently while a client keeps syncing: every report must come to the client once.
/// A report that commits with a place in the order *behind* one the client already read (it was
/// stamped earlier but committed later, or on a slower clock) is never shown to it: skipped.
async fn concurrent_writers_never_commit_behind_a_report_already_read(store: Arc<dyn ReportStore>) {
    const WRITERS: usize = 16;
    const EACH: usize = 25;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..EACH {
                    let report = store
                        .add(new_report(
                            &format!("writer {w} report {i}"),
                            "Boston",
                            None,
                        ))
                        .await
                        .unwrap();
                    ids.push(report.id);
                }
                ids
            })
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut top = None;
    let mut syncs = 0;
    loop {
        let finished = writers.iter().all(tokio::task::JoinHandle::is_finished);
        let fresh = sync(store.as_ref(), top, 5).await;
        syncs += 1;
        if let Some(newest) = fresh.first() {
            top = Some(newest.id);
        }
        for report in fresh {
            assert!(
                seen.insert(report.id),
                "{} shown twice",
                report.description.as_str()
            );
        }
        if finished {
            break;
        }
        tokio::task::yield_now().await;
    }
    let mut added = std::collections::HashSet::new();
    for writer in writers {
        added.extend(writer.await.unwrap());
    }
    assert_eq!(added.len(), WRITERS * EACH);
    let skipped = added.difference(&seen).count();
    assert_eq!(
        skipped,
        0,
        "{skipped} of {} reports were committed behind a report already read ({syncs} syncs)",
        added.len()
    );
    assert_eq!(seen, added, "nothing shown that was not added");
}

async fn page_etag_changes_when_a_report_is_added(store: Arc<dyn ReportStore>) {
    let empty = store.page(PageRequest::default()).await.unwrap();
    assert!(empty.reports.is_empty());
    assert_eq!(
        (empty.first, empty.last, empty.has_more),
        (None, None, false)
    );
    store
        .add(new_report("first", "Boston", None))
        .await
        .unwrap();
    let one = store.page(PageRequest::default()).await.unwrap();
    assert_eq!(one.reports.len(), 1);
    assert_ne!(one.etag(), empty.etag());
    assert_eq!(
        store.page(PageRequest::default()).await.unwrap().etag(),
        one.etag(),
        "unchanged page, same tag"
    );
    store
        .add(new_report("second", "Boston", None))
        .await
        .unwrap();
    assert_ne!(
        store.page(PageRequest::default()).await.unwrap().etag(),
        one.etag()
    );
}

async fn empty_store_pages_nothing_and_answers_ping(store: Arc<dyn ReportStore>) {
    let page = store.page(PageRequest::default()).await.unwrap();
    assert!(page.reports.is_empty());
    assert_eq!(page.next(), None);
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
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
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
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
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
    page_is_newest_first_and_limited,
    pages_cover_every_report_once_in_order,
    paging_is_stable_while_reports_are_added,
    concurrent_writers_never_commit_behind_a_report_already_read,
    page_etag_changes_when_a_report_is_added,
    empty_store_pages_nothing_and_answers_ping,
);
