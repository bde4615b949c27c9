//! `GET /api/reports` (one page, newest first) and `GET /api/reports/{id}` require [`ReportsRead`];
//! `POST /api/reports` requires [`ReportsWrite`]: each handler's signature says so, followed by the
//! caller's rate limit ([`RateLimited`], after authentication and before any database work).
//!
//! Reads are paged and conditional: `limit` (1 to 500, default 50) and the opaque keyset cursor `after`
//! select a page ([`PageRequest`]); the next page's URL is in `Link: <?limit=..&after=..>; rel="next"`
//! (RFC 8288; a query-only reference, resolved against the request URL, so it stays right behind a
//! reverse proxy that adds a path prefix). Every read answers an `ETag`; `If-None-Match` with a current
//! tag answers 304 without a body.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use entra_auth::Authorized;
use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use uuid::Uuid;

use crate::auth::{ReportsRead, ReportsWrite};
use crate::domain::{JsonObject, NewReport, PageRequest, RawNewReport, RawPageQuery, Report};
use crate::error::ApiError;
use crate::middleware::rate_limit::{RateLimited, ReadClass, WriteClass};
use crate::page_cache::PageAnswer;
use crate::state::AppState;

/// The report routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/reports", get(list_reports).post(create_report))
        .route("/api/reports/{id}", get(get_report))
}

/// Weather reports, newest first, one page at a time
///
/// The newest `limit` reports (default 50, at most 500), or those after the `after` cursor. The body is
/// a JSON array; when more reports follow, `Link` holds the next page's URL (`rel="next"`), so a client
/// reads every report by following it until it is absent. Paging is stable while reports are added.
#[utoipa::path(
    get,
    path = "/api/reports",
    tag = "reports",
    params(
        ("limit" = Option<u16>, Query, minimum = 1, maximum = 500,
            description = "Reports per page, from 1 to 500 (default 50)"),
        ("after" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]{21}[AQgw]$",
            description = "Opaque cursor: copy it from the `Link: rel=\"next\"` URL of the previous page; omit it for the newest reports"),
        ("If-None-Match" = Option<String>, Header,
            description = "The `ETag` of a page read before: 304 without a body while it is unchanged"),
    ),
    responses(
        (status = 200, description = "One page of reports, newest first", body = [Report],
            headers(
                ("ETag" = String, description = "The page's entity tag (send it in `If-None-Match`)"),
                ("Link" = String, description = "`<?limit=..&after=..>; rel=\"next\"` when more reports follow (RFC 8288)"),
            )),
        (status = 304, description = "Not modified: the page's `ETag` matches `If-None-Match`",
            headers(("ETag" = String, description = "The page's entity tag"))),
        (status = 400, response = crate::error::BadRequest),
        (status = 401, response = crate::error::Unauthorized),
        (status = 403, response = crate::error::Forbidden),
        (status = 429, response = crate::error::TooManyRequests),
        (status = 503, response = crate::error::ServiceUnavailable),
    ),
)]
pub(crate) async fn list_reports(
    _auth: Authorized<ReportsRead>,
    _rate: RateLimited<ReadClass>,
    State(state): State<AppState>,
    if_none_match: IfNoneMatch,
    query: Result<Query<RawPageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(raw) = query?;
    let request = PageRequest::parse(&raw)?;
    let limit = request.limit.get();
    // The newest page is served again while nothing was committed (page_cache.rs); read before the
    // page, so that a commit in between makes the next request read again.
    let data_version = match request.after {
        None => state.store.data_version(),
        Some(_) => None,
    };
    if let Some(version) = data_version {
        if let Some(answer) = state.newest_page.get(version, limit) {
            return Ok(answer.respond(if_none_match.matches_value(&answer.etag)));
        }
    }
    let page = state.store.page(request).await?;
    let etag = page.etag();
    if if_none_match.matches(&etag) {
        return Ok(not_modified(etag));
    }
    let link = page.next().and_then(|next| {
        HeaderValue::try_from(format!("<?{}>; rel=\"next\"", request.next_query(next))).ok()
    });
    let body = serde_json::to_vec(&page.reports)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("serialising a page")))?;
    let answer = Arc::new(PageAnswer {
        etag: HeaderValue::try_from(etag)
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("a page's ETag")))?,
        link,
        body: body.into(),
    });
    if let Some(version) = data_version {
        state.newest_page.put(version, limit, Arc::clone(&answer));
    }
    Ok(answer.respond(false))
}

/// The request's `If-None-Match` values (only those: the handlers need no other header, and taking the
/// whole `HeaderMap` would copy every header, the bearer token included, for each request).
#[derive(Debug, Default)]
pub(crate) struct IfNoneMatch(Vec<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .headers
                .get_all(header::IF_NONE_MATCH)
                .iter()
                .cloned()
                .collect(),
        ))
    }
}

impl IfNoneMatch {
    /// [`Self::matches`] for a tag held as a header value.
    fn matches_value(&self, etag: &HeaderValue) -> bool {
        etag.to_str().is_ok_and(|etag| self.matches(etag))
    }

    /// True when `If-None-Match` lists `etag` (weak comparison, RFC 9110 13.1.2) or is `*`.
    fn matches(&self, etag: &str) -> bool {
        let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
        let wanted = opaque(etag);
        self.0
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|tag| tag.trim() == "*" || opaque(tag) == wanted)
    }
}

/// 304 with the entity tag and no body.
fn not_modified(etag: String) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    insert_etag(response.headers_mut(), etag);
    response
}

fn insert_etag(headers: &mut HeaderMap, etag: String) {
    if let Ok(value) = HeaderValue::try_from(etag) {
        headers.insert(header::ETAG, value);
    }
}

/// One weather report
#[utoipa::path(
    get,
    path = "/api/reports/{id}",
    tag = "reports",
    params(
        ("id" = uuid::Uuid, Path, description = "The report's id (from the `Location` header of its creation)"),
        ("If-None-Match" = Option<String>, Header,
            description = "The `ETag` of this report read before: 304 without a body (reports never change)"),
    ),
    responses(
        (status = 200, description = "The report", body = Report,
            headers(("ETag" = String, description = "The report's entity tag"))),
        (status = 304, description = "Not modified: the report's `ETag` matches `If-None-Match`",
            headers(("ETag" = String, description = "The report's entity tag"))),
        (status = 400, response = crate::error::BadRequest),
        (status = 401, response = crate::error::Unauthorized),
        (status = 403, response = crate::error::Forbidden),
        (status = 429, response = crate::error::TooManyRequests),
        (status = 404, response = crate::error::NotFound),
        (status = 503, response = crate::error::ServiceUnavailable),
    ),
)]
pub(crate) async fn get_report(
    _auth: Authorized<ReportsRead>,
    _rate: RateLimited<ReadClass>,
    State(state): State<AppState>,
    if_none_match: IfNoneMatch,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let report = state.store.get(id).await?.ok_or(ApiError::NotFound)?;
    // A report never changes once stored: its id is its version.
    let etag = format!("\"r{}\"", report.id.simple());
    if if_none_match.matches(&etag) {
        return Ok(not_modified(etag));
    }
    let mut response = Json(report).into_response();
    insert_etag(response.headers_mut(), etag);
    Ok(response)
}

/// Report the weather
///
/// Stores a report; the answer is the stored report (normalised: trimmed, lower-cased codes, country
/// `us` by default) and its URL in `Location`.
#[utoipa::path(
    post,
    path = "/api/reports",
    tag = "reports",
    request_body(content = RawNewReport, content_type = "application/json"),
    responses(
        (status = 201, description = "The stored report", body = Report,
            headers(("Location" = String, description = "`/api/reports/{id}` of the new report"))),
        (status = 400, response = crate::error::BadRequest),
        (status = 401, response = crate::error::Unauthorized),
        (status = 403, response = crate::error::Forbidden),
        (status = 429, response = crate::error::TooManyRequests),
        (status = 413, response = crate::error::PayloadTooLarge),
        (status = 415, response = crate::error::UnsupportedMediaType),
        (status = 422, response = crate::error::UnprocessableEntity),
        (status = 503, response = crate::error::ServiceUnavailable),
    ),
)]
pub(crate) async fn create_report(
    _auth: Authorized<ReportsWrite>,
    _rate: RateLimited<WriteClass>,
    State(state): State<AppState>,
    body: Result<Json<JsonObject<RawNewReport>>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(JsonObject(raw)) = body?;
    let new = NewReport::parse(&raw).map_err(ApiError::InvalidBody)?;
    let report = state.store.add(new).await?;
    state.metrics.record_report_stored();
    tracing::info!(report.id = %report.id, "report stored");
    let location = format!("/api/reports/{}", report.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(report),
    )
        .into_response())
}
