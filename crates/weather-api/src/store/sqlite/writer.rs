//! The writer thread: the only write connection, group commits, an answer only after `COMMIT`.
//!
//! It also stamps each report's `created_date`, inside its transaction: the newest-first paging order
//! (`created_date`, then `seq`) is then the commit order, so a report never commits behind one a
//! client has already read. One writer holding the write lock makes the stamps monotonic: each batch
//! is stamped with the current time, or the newest stored `created_date` if the clock is behind it
//! (stepped back, or another process wrote with a faster clock); `seq` orders equal stamps.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use rusqlite::{params, Connection, TransactionBehavior};
use tokio::sync::oneshot;

use chrono::{DateTime, Utc};

use super::row::stored_time;
use super::unavailable;
use crate::domain::Report;
use crate::store::{now_micros, StoreError};

/// The most reports committed in one transaction.
pub(super) const MAX_BATCH: usize = 256;
/// The most reports waiting for the writer; beyond, `add` answers "database unavailable" at once
/// instead of queueing without bound while the database is locked or slow.
pub(super) const QUEUE_CAPACITY: usize = 4 * MAX_BATCH;

/// The newest report's `created_date`: the first entry of the `reports_created_date` index.
const NEWEST_CREATED: &str =
    "SELECT created_date FROM reports ORDER BY created_date DESC, seq DESC LIMIT 1";
const INSERT: &str = "INSERT INTO reports (id, description, city, state, country, created_date) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// A report on its way to the writer thread, and where its answer goes.
pub(super) struct Job {
    pub(super) report: Report,
    pub(super) reply: oneshot::Sender<Result<Report, StoreError>>,
}

/// Which step of a write transaction failed.
#[derive(Debug)]
pub(super) enum WriteFailure {
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
pub(super) fn commit(conn: &mut Connection, jobs: &mut Vec<Job>) -> Result<bool, WriteFailure> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(WriteFailure::Transaction)?;
    drop_cancelled(jobs);
    if jobs.is_empty() {
        // Nothing written: the transaction is rolled back when dropped.
        return Ok(false);
    }
    // The reports' place in the paging order is the commit order: stamped here, inside the
    // transaction that holds the database's write lock, never before the newest report committed.
    let stamp = now_micros().max(newest_created(&tx).map_err(WriteFailure::Insert)?);
    {
        let mut insert = tx.prepare_cached(INSERT).map_err(WriteFailure::Insert)?;
        for job in jobs.iter_mut() {
            job.report.created_date = stamp;
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

/// The `created_date` of the newest stored report (`DateTime::<Utc>::MIN_UTC` when there is none, or
/// when it does not parse: a corrupt row does not stop writes). Read inside the write transaction, so
/// no other connection (another process included) commits in between.
fn newest_created(conn: &Connection) -> Result<DateTime<Utc>, rusqlite::Error> {
    let mut newest = conn.prepare_cached(NEWEST_CREATED)?;
    let mut rows = newest.query([])?;
    let Some(row) = rows.next()? else {
        return Ok(DateTime::<Utc>::MIN_UTC);
    };
    let stored = row.get_ref(0)?.as_str().unwrap_or_default();
    Ok(DateTime::parse_from_rfc3339(stored)
        .map_or(DateTime::<Utc>::MIN_UTC, |t| t.with_timezone(&Utc)))
}

/// Marks the writer stopped when its thread ends, however it ends (a panic included), so that
/// readiness ([`ReportStore::ping`]) says so.
pub(super) struct RunningFlag(pub(super) Arc<AtomicBool>);

impl Drop for RunningFlag {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The writer thread's loop: one group commit per wake-up, until every sender is gone.
pub(super) fn run_writer(
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
pub(super) fn write_batch(conn: &mut Connection, batch: &mut Vec<Job>, commits: &AtomicU64) {
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
