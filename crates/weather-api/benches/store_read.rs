//! The SQLite store's cost for the default page, and the alternatives it is measured against, all
//! reading the same 51 rows of the same file with the same SQL and decoding them the same way:
//!
//! - `rusqlite_inline_default_page_50`: rusqlite on the calling thread, a prepared statement;
//! - `rusqlite_spawn_blocking_default_page_50`: the same read sent to tokio's blocking pool and awaited
//!   (the alternative to reading on the calling thread);
//! - `store_default_page_50`: the service's `SqliteStore::page` (rusqlite, pooled reader connection,
//!   calling thread), polled by a tokio runtime.
//!
//! `store_write/store_64_concurrent_adds`: 64 concurrent `add`s through the store's writer thread (group
//! commit, `synchronous = FULL`); criterion's throughput line gives reports per second.
//! `store_write/postgres_64_concurrent_adds`: the same on PostgreSQL (`TEST_POSTGRES_URL`; skipped
//! without it), where each add is its own transaction, ordered by the store's advisory lock.
//!
//! `cargo bench -p weather-api --bench store_read` (figures from `-- --warm-up-time 2 --measurement-time
//! 5` on the 2-core dev VM, ext4): inline 26.6 µs [26.6, 26.7], spawn_blocking 41.4 µs [41.1, 41.6],
//! `SqliteStore::page` 28.3 µs [28.1, 28.8]; 64 concurrent adds 1.70 ms [1.64, 1.78], i.e. 37.7 k
//! reports/s, about 22 reports per commit.

// Benchmark code: a failed unwrap is a failed run.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::{Arc, Mutex};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use weather_api::domain::{NewReport, PageRequest, RawLocation, RawNewReport, Report};
use weather_api::store::{PostgresStore, ReportStore, SqliteStore};

const FIRST_PAGE: &str =
    "SELECT seq, id, description, city, state, country, created_date FROM reports \
     ORDER BY created_date DESC, seq DESC LIMIT ?";

fn report(i: usize) -> NewReport {
    NewReport::parse(&RawNewReport {
        description: Some(format!("bench report {i}")),
        location: Some(RawLocation {
            city: Some("Portland".to_owned()),
            state: Some("OR".to_owned()),
            country: Some("US".to_owned()),
        }),
    })
    .unwrap()
}

/// The default page read straight with rusqlite, decoded into reports.
fn read_page(conn: &rusqlite::Connection) -> Vec<Report> {
    let mut stmt = conn.prepare_cached(FIRST_PAGE).unwrap();
    let rows = stmt
        .query_map([51], |r| {
            let id: String = r.get(1)?;
            let description: String = r.get(2)?;
            let city: String = r.get(3)?;
            let state: Option<String> = r.get(4)?;
            let country: String = r.get(5)?;
            let created: String = r.get(6)?;
            Ok((id, description, city, state, country, created))
        })
        .unwrap();
    rows.map(|row| {
        let (id, description, city, state, country, created) = row.unwrap();
        Report::from_parts(
            uuid::Uuid::parse_str(&id).unwrap(),
            &description,
            &city,
            state.as_deref(),
            &country,
            chrono::DateTime::parse_from_rfc3339(&created)
                .unwrap()
                .with_timezone(&chrono::Utc),
        )
        .unwrap()
    })
    .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn default_page(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let runtime = runtime();
    let store = runtime.block_on(async {
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        for i in 0..100 {
            store.add(report(i)).await.unwrap();
        }
        store
    });
    let mut group = c.benchmark_group("store_read");
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(read_page(&conn).len(), 51);
    group.bench_function("rusqlite_inline_default_page_50", |b| {
        b.iter(|| read_page(&conn))
    });
    let shared = Arc::new(Mutex::new(conn));
    group.bench_function("rusqlite_spawn_blocking_default_page_50", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let conn = Arc::clone(&shared);
                tokio::task::spawn_blocking(move || read_page(&conn.lock().unwrap()))
                    .await
                    .unwrap()
            })
        })
    });
    assert_eq!(
        runtime
            .block_on(store.page(PageRequest::default()))
            .unwrap()
            .reports
            .len(),
        50
    );
    group.bench_function("store_default_page_50", |b| {
        b.iter(|| {
            runtime
                .block_on(store.page(PageRequest::default()))
                .unwrap()
        })
    });
    group.finish();
}

fn concurrent_adds(c: &mut Criterion) {
    const ADDS: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let runtime = runtime();
    let store = runtime
        .block_on(SqliteStore::connect(&format!(
            "sqlite://{}",
            path.display()
        )))
        .unwrap();
    let mut group = c.benchmark_group("store_write");
    group.sample_size(20);
    group.throughput(Throughput::Elements(ADDS as u64));
    group.bench_function("store_64_concurrent_adds", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let adds = (0..ADDS).map(|i| store.add(report(i)));
                for added in futures_util::future::join_all(adds).await {
                    added.unwrap();
                }
            })
        })
    });
    group.finish();
    let commits = store.commits();
    let reports = runtime
        .block_on(store.page(PageRequest::first(weather_api::domain::PageLimit::new(1))))
        .unwrap();
    eprintln!(
        "store_write: {commits} commits so far (group commit), newest report {:?}",
        reports.reports.first().map(|r| r.id)
    );
}

/// The same 64 concurrent adds on PostgreSQL (`TEST_POSTGRES_URL`, in a schema of its own that is
/// dropped afterwards); skipped without it. Each add commits on its own (the pool has 8 connections).
fn postgres_concurrent_adds(c: &mut Criterion) {
    const ADDS: usize = 64;
    let Ok(url) = std::env::var("TEST_POSTGRES_URL") else {
        eprintln!("store_write/postgres_64_concurrent_adds skipped: set TEST_POSTGRES_URL");
        return;
    };
    let runtime = runtime();
    let schema = format!("weather_bench_{}", uuid::Uuid::new_v4().simple());
    let admin = runtime.block_on(sqlx::PgPool::connect(&url)).unwrap();
    runtime
        .block_on(sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin))
        .unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    let store = runtime.block_on(PostgresStore::connect(&scoped)).unwrap();
    let mut group = c.benchmark_group("store_write");
    group.sample_size(20);
    group.throughput(Throughput::Elements(ADDS as u64));
    group.bench_function("postgres_64_concurrent_adds", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let adds = (0..ADDS).map(|i| store.add(report(i)));
                for added in futures_util::future::join_all(adds).await {
                    added.unwrap();
                }
            })
        })
    });
    group.finish();
    drop(store);
    runtime
        .block_on(sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&admin))
        .unwrap();
}

criterion_group!(
    benches,
    default_page,
    concurrent_adds,
    postgres_concurrent_adds
);
criterion_main!(benches);
