//! [`NewestPageCache`]: the answer to the newest page of reports (its `ETag`, `Link` and JSON body), kept
//! for as long as the store says that nothing was committed since.
//!
//! The newest page is what every client asks first (the course's clients, the home page, `weather
//! reports`); with 50 reports it cost three times the rest of the request to read and serialise again
//! for each call (BENCHMARKS.md, "The cheap request path"). The key is the store's
//! [`data_version`](crate::store::ReportStore::data_version), which changes with every commit by any
//! connection or process, so an answer is never served after a report was added. A store that has no
//! such counter (PostgreSQL, shared by several instances) is never cached. One entry: the newest page at
//! one `limit` (the last asked for).

use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};

/// A page's answer, as sent.
#[derive(Debug)]
pub struct PageAnswer {
    /// The page's entity tag (a quoted string).
    pub etag: HeaderValue,
    /// `Link: <...>; rel="next"` when more reports follow.
    pub link: Option<HeaderValue>,
    /// The JSON array of reports.
    pub body: Bytes,
}

impl PageAnswer {
    /// 200 with the body, `ETag` and `Link`; or 304 with only the `ETag` when `not_modified`.
    pub fn respond(&self, not_modified: bool) -> Response {
        if not_modified {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response
                .headers_mut()
                .insert(header::ETAG, self.etag.clone());
            return response;
        }
        let mut response = Response::new(Body::from(self.body.clone()));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::ETAG, self.etag.clone());
        if let Some(link) = &self.link {
            headers.insert(header::LINK, link.clone());
        }
        response
    }
}

/// The cached newest page (see the module documentation).
#[derive(Debug, Default)]
pub struct NewestPageCache {
    entry: Mutex<Option<Entry>>,
}

#[derive(Debug)]
struct Entry {
    data_version: u64,
    limit: u32,
    answer: Arc<PageAnswer>,
}

impl NewestPageCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The newest page at `limit`, when it was stored at this `data_version`.
    pub fn get(&self, data_version: u64, limit: u32) -> Option<Arc<PageAnswer>> {
        let entry = self.entry.lock().unwrap_or_else(PoisonError::into_inner);
        entry
            .as_ref()
            .filter(|e| e.data_version == data_version && e.limit == limit)
            .map(|e| Arc::clone(&e.answer))
    }

    /// Keeps `answer` as the newest page at `limit`, read after the store said `data_version`.
    pub fn put(&self, data_version: u64, limit: u32, answer: Arc<PageAnswer>) {
        *self.entry.lock().unwrap_or_else(PoisonError::into_inner) = Some(Entry {
            data_version,
            limit,
            answer,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &'static str) -> Arc<PageAnswer> {
        Arc::new(PageAnswer {
            etag: HeaderValue::from_static("\"p1\""),
            link: None,
            body: Bytes::from_static(body.as_bytes()),
        })
    }

    #[test]
    fn an_answer_is_served_only_at_its_data_version_and_limit() {
        let cache = NewestPageCache::new();
        assert!(cache.get(1, 50).is_none());
        cache.put(1, 50, answer("[1]"));
        assert_eq!(cache.get(1, 50).unwrap().body, "[1]");
        assert!(cache.get(2, 50).is_none(), "a commit since: not served");
        assert!(cache.get(1, 10).is_none(), "another limit: not served");
        cache.put(2, 50, answer("[2]"));
        assert_eq!(cache.get(2, 50).unwrap().body, "[2]");
        assert!(cache.get(1, 50).is_none());
    }
}
