//! Keyset paging of the report list: [`PageLimit`] (how many), [`Cursor`] (where the next page starts),
//! [`PageRequest`] (both, parsed from the query string) and [`Page`] (what the store answers).
//!
//! The order is newest first: `created_date` descending, then the store's insertion sequence descending
//! (two reports of the same microsecond). A cursor is the position `(created_date, seq)` of the last
//! report of a page; the next page is every report strictly after it in that order. Reports are never
//! updated or deleted and a new one always sorts before every report already read, so paging is stable
//! while reports are being added: no report is skipped or shown twice.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;

use super::{Report, ValidationError};

/// How many reports a page holds: from [`PageLimit::MIN`] to [`PageLimit::MAX`],
/// [`PageLimit::DEFAULT`] when the query does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u16);

impl PageLimit {
    /// The smallest page.
    pub const MIN: u16 = 1;
    /// The largest page.
    pub const MAX: u16 = 500;
    /// The page size when `limit` is not given.
    pub const DEFAULT: Self = Self(50);

    /// A limit known to be in range at compile time (`PageLimit::new(20)`), clamped otherwise.
    pub const fn new(n: u16) -> Self {
        if n < Self::MIN {
            Self(Self::MIN)
        } else if n > Self::MAX {
            Self(Self::MAX)
        } else {
            Self(n)
        }
    }

    /// Parses the `limit` query parameter.
    ///
    /// # Errors
    /// [`ValidationError::InvalidLimit`] when it is not a whole number from 1 to 500.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw.trim().parse::<u16>() {
            Ok(n) if (Self::MIN..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(ValidationError::InvalidLimit(truncate(raw))),
        }
    }

    /// The number of reports.
    pub fn get(self) -> u32 {
        u32::from(self.0)
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for PageLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The position of a report in the newest-first order, sent to clients as an opaque string (the `after`
/// query parameter of the `Link: rel="next"` URL).
///
/// The string is base64url (no padding, canonical) of the report's `created_date` in microseconds since
/// the Unix epoch and its insertion sequence, 8 bytes each: exactly [`Cursor::PATTERN`]. Anything else
/// (edited characters outside the alphabet, truncated, lengthened, non-canonical) is refused with 400.
/// Every string of that shape is a position in the order (times are clamped to years 1970 to 9999), so
/// an edit that keeps the shape starts the page elsewhere, which grants nothing a client could not
/// reach by paging; a MAC would refuse those too, but would make schema-valid values fail (the
/// OpenAPI document states the pattern, and schemathesis checks that every value it allows is accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    created_micros: i64,
    seq: i64,
}

const CURSOR_BYTES: usize = 8 + 8;

/// The earliest time a cursor stands for (1970-01-01).
const MIN_MICROS: i64 = 0;
/// The latest time a cursor stands for (9999-12-31T23:59:59.999999Z), so that SQLite's text order of
/// four-digit years stays time order.
const MAX_MICROS: i64 = 253_402_300_799_999_999;

impl Cursor {
    /// The shape of a cursor (22 base64url characters; the last holds 2 bits), as the OpenAPI document
    /// states it.
    pub const PATTERN: &'static str = "^[A-Za-z0-9_-]{21}[AQgw]$";

    /// The position of the report created at `created_micros` (microseconds since the Unix epoch) with
    /// insertion sequence `seq` (what a store reads from its row).
    pub fn new(created_micros: i64, seq: i64) -> Self {
        Self {
            created_micros,
            seq,
        }
    }

    /// The report's `created_date` in microseconds since the Unix epoch.
    pub fn created_micros(&self) -> i64 {
        self.created_micros
    }

    /// The report's insertion sequence.
    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// The report's `created_date`, clamped to the years 1970 to 9999.
    pub fn created_date(&self) -> chrono::DateTime<chrono::Utc> {
        let micros = self.created_micros.clamp(MIN_MICROS, MAX_MICROS);
        chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default()
    }

    /// Parses the `after` query parameter.
    ///
    /// # Errors
    /// [`ValidationError::InvalidCursor`] when it does not have the cursor's shape ([`Cursor::PATTERN`]:
    /// base64url of exactly 16 bytes, canonical).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| ValidationError::InvalidCursor)?;
        let bytes: [u8; CURSOR_BYTES] = bytes
            .try_into()
            .map_err(|_| ValidationError::InvalidCursor)?;
        let field = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            i64::from_be_bytes(b)
        };
        Ok(Self::new(field(0), field(8)))
    }

    /// The opaque string form (URL-safe, no escaping needed in a query string).
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; CURSOR_BYTES];
        bytes[..8].copy_from_slice(&self.created_micros.to_be_bytes());
        bytes[8..].copy_from_slice(&self.seq.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

/// A query parameter that was given and is not blank.
fn given(value: Option<&str>) -> Option<&str> {
    value.filter(|s| !s.trim().is_empty())
}

/// The first 40 characters of a refused value, for the error message.
fn truncate(raw: &str) -> String {
    raw.chars().take(40).collect()
}

/// The query string of `GET /api/reports`, as written (parsed by [`PageRequest::parse`]).
#[derive(Debug, Default, Deserialize)]
pub struct RawPageQuery {
    /// `limit`: reports per page.
    pub limit: Option<String>,
    /// `after`: the cursor from the previous page's `Link: rel="next"`.
    pub after: Option<String>,
}

/// Which page to read: at most `limit` reports, starting after `after` (the newest when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageRequest {
    /// Reports per page.
    pub limit: PageLimit,
    /// Start strictly after this position; `None` = the newest reports.
    pub after: Option<Cursor>,
}

impl PageRequest {
    /// The newest `limit` reports.
    pub fn first(limit: PageLimit) -> Self {
        Self { limit, after: None }
    }

    /// Parses the query string; absent or blank parameters take their defaults.
    ///
    /// # Errors
    /// [`ValidationError::InvalidLimit`] or [`ValidationError::InvalidCursor`].
    pub fn parse(raw: &RawPageQuery) -> Result<Self, ValidationError> {
        Ok(Self {
            limit: given(raw.limit.as_deref())
                .map(PageLimit::parse)
                .transpose()?
                .unwrap_or_default(),
            after: given(raw.after.as_deref()).map(Cursor::parse).transpose()?,
        })
    }

    /// The query string of the page after `next` with the same limit (`limit=50&after=...`).
    pub fn next_query(&self, next: Cursor) -> String {
        format!("limit={}&after={}", self.limit, next.encode())
    }
}

/// One page of reports, newest first, as a store answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The reports, newest first.
    pub reports: Vec<Report>,
    /// The position of the first report (`None` when the page is empty).
    pub first: Option<Cursor>,
    /// The position of the last report (`None` when the page is empty).
    pub last: Option<Cursor>,
    /// True when at least one report follows the last one.
    pub has_more: bool,
}

impl Page {
    /// The cursor of the next page, when there is one.
    pub fn next(&self) -> Option<Cursor> {
        self.last.filter(|_| self.has_more)
    }

    /// A strong entity tag of this page's representation.
    ///
    /// Reports are immutable and only ever added, so a page is identified by the positions of its first
    /// and last reports, its length and whether more follow: any added report that belongs in this page
    /// changes the first or last position (or the length of a short page). No hashing of the body, which
    /// would cost more than the rest of the request.
    pub fn etag(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let words = [
            self.first.map_or(0, |c| c.created_micros),
            self.first.map_or(0, |c| c.seq),
            self.last.map_or(0, |c| c.created_micros),
            self.last.map_or(0, |c| c.seq),
            i64::try_from(self.reports.len()).unwrap_or(i64::MAX),
            i64::from(self.has_more),
        ];
        for word in words {
            for b in word.to_be_bytes() {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        format!("\"p{hash:016x}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_through_its_string_form_and_matches_its_pattern() {
        let cursor = Cursor::new(1_764_580_000_123_456, 42);
        let text = cursor.encode();
        assert_eq!(text.len(), 22);
        assert!(text[..21]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!("AQgw".contains(&text[21..]), "{text}");
        assert_eq!(Cursor::parse(&text), Ok(cursor));
    }

    #[test]
    fn malformed_cursor_is_refused() {
        let text = Cursor::new(1_764_580_000_123_456, 42).encode();
        let mut bad = vec![
            text[..21].to_owned(),                    // truncated
            format!("{text}A"),                       // lengthened
            format!("{}B", &text[..21]),              // non-canonical last character
            format!("{}+{}", &text[..5], &text[6..]), // outside the alphabet
            format!("{text}="),                       // padded
            " ".to_owned(),
            "not a cursor!".to_owned(),
        ];
        bad.push(format!(" {text}"));
        for raw in bad {
            assert_eq!(
                Cursor::parse(&raw),
                Err(ValidationError::InvalidCursor),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn every_well_formed_cursor_is_a_position_with_a_clamped_time() {
        let far = Cursor::new(i64::MAX, -1);
        assert_eq!(Cursor::parse(&far.encode()), Ok(far));
        assert_eq!(far.created_date().timestamp_micros(), MAX_MICROS);
        assert_eq!(
            Cursor::new(i64::MIN, 0).created_date().timestamp_micros(),
            0
        );
    }

    #[test]
    fn limit_accepts_1_to_500_and_names_the_bounds_otherwise() {
        assert_eq!(PageLimit::parse("1").unwrap().get(), 1);
        assert_eq!(PageLimit::parse("500").unwrap().get(), 500);
        for bad in ["0", "501", "-1", "ten", "1.5", "99999999999"] {
            let err = PageLimit::parse(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_limit");
            assert!(err.to_string().contains("from 1 to 500"), "{err}");
        }
    }

    #[test]
    fn request_defaults_to_the_newest_50() {
        let request = PageRequest::parse(&RawPageQuery::default()).unwrap();
        assert_eq!(request, PageRequest::first(PageLimit::DEFAULT));
        assert_eq!(request.limit.get(), 50);
        let blank = RawPageQuery {
            limit: Some(" ".to_owned()),
            after: Some(String::new()),
        };
        assert_eq!(PageRequest::parse(&blank).unwrap(), request);
    }

    #[test]
    fn page_etag_changes_with_its_first_report() {
        let page = |first: i64| Page {
            reports: Vec::new(),
            first: Some(Cursor::new(first, first)),
            last: Some(Cursor::new(1, 1)),
            has_more: true,
        };
        assert_eq!(page(5).etag(), page(5).etag());
        assert_ne!(page(5).etag(), page(6).etag());
        assert!(page(5).etag().starts_with("\"p"));
    }
}
