//! The read queries and the decoding of their rows.

use rusqlite::Statement;
use uuid::Uuid;

use crate::store::{Row, StoreError, Stored};

/// The newest page: a scan of the `reports_created_date` index from its start.
pub(super) const FIRST_PAGE: &str =
    "SELECT seq, id, description, city, state, country, created_date FROM reports \
     ORDER BY created_date DESC, seq DESC LIMIT ?1";
/// A later page: the same scan started strictly after the cursor (a row-value range on the index).
pub(super) const NEXT_PAGE: &str =
    "SELECT seq, id, description, city, state, country, created_date FROM reports \
     WHERE (created_date, seq) < (?1, ?2) ORDER BY created_date DESC, seq DESC LIMIT ?3";
/// One report, by the unique index on `id`.
pub(super) const BY_ID: &str =
    "SELECT seq, id, description, city, state, country, created_date FROM reports \
     WHERE id = ?1";

/// `created_date` as stored: fixed-width RFC 3339 with microseconds, so that text order is time order.
pub(super) fn stored_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
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
pub(super) fn query_rows(
    stmt: &mut Statement<'_>,
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
