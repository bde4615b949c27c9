//! The SQLite driver's cost for the default page (issue 15: "if the SQLite driver's design is the cost,
//! measure the alternatives"): the service's store (sqlx: each query goes to the connection's worker
//! thread and back) against rusqlite on the calling thread, both reading the same 51 rows of the same
//! file with the same SQL and decoding them the same way. `cargo bench -p weather-api --bench store_read`.

// Benchmark code: a failed unwrap is a failed run.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use weather_api::domain::{NewReport, PageRequest, RawLocation, RawNewReport, Report};
use weather_api::store::{ReportStore, SqliteStore};

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

fn default_page(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
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
    group.bench_function("sqlx_default_page_50", |b| {
        b.iter(|| {
            runtime
                .block_on(store.page(PageRequest::default()))
                .unwrap()
        })
    });
    let conn = rusqlite::Connection::open(&path).unwrap();
    group.bench_function("rusqlite_inline_default_page_50", |b| {
        b.iter(|| {
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
            let reports: Vec<Report> = rows
                .map(|row| {
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
                .collect();
            reports
        })
    });
    group.finish();
}

criterion_group!(benches, default_page);
criterion_main!(benches);
