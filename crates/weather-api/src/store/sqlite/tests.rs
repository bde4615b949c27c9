//! The SQLite store's own tests (the contract suite in `tests/api/store.rs` runs on both stores).

use super::open::MIGRATIONS;
use super::writer::{commit, write_batch, MAX_BATCH};
use super::*;
use crate::domain::{RawLocation, RawNewReport};
use crate::store::build_report;

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
        tokio::time::timeout(Duration::from_millis(200), store.add(new_report("gave up"))).await;
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
    // Stamped at their commits: the answer carries the stored time.
    let stored_good = answers.next().unwrap().await.unwrap().unwrap();
    assert_eq!(
        (stored_good.id, &stored_good.description),
        (good.id, &good.description)
    );
    assert!(matches!(
        answers.next().unwrap().await.unwrap(),
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(commits.load(Ordering::Relaxed), 1);
    assert_eq!(store.get(good.id).await.unwrap(), Some(stored_good));
    let stored_taken = store.get(taken.id).await.unwrap().unwrap();
    assert_eq!(stored_taken.description, taken.description);
}

#[tokio::test]
async fn reports_are_stamped_at_commit_never_before_the_newest_stored() {
    let (_dir, path, store) = file_store(BUSY_TIMEOUT).await;
    // Another writer (a process with a clock an hour ahead) stored the newest report.
    let ahead = chrono::Utc::now() + chrono::Duration::hours(1);
    let other = Connection::open(&path).unwrap();
    other
        .execute(
            "INSERT INTO reports (id, description, city, state, country, created_date) \
             VALUES (?1, 'from the future', 'boston', NULL, 'us', ?2)",
            params![Uuid::new_v4().to_string(), stored_time(&ahead)],
        )
        .unwrap();
    let queued_at = chrono::Utc::now();
    let added = store.add(new_report("after it")).await.unwrap();
    // Not behind the newest report (the clock is): it sorts first, at that report's time.
    assert!(added.created_date > queued_at);
    let page = store.page(PageRequest::default()).await.unwrap();
    assert_eq!(page.reports[0], added);
    assert_eq!(page.reports[1].description.as_str(), "from the future");
    assert_eq!(page.reports[0].created_date, page.reports[1].created_date);
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
