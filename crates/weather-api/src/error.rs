//! [`ApiError`]: every failure the service answers, mapped to its status and `application/problem+json`
//! body in ONE place ([`ApiError::status`], [`ApiError::code`], the `IntoResponse` impl): handler errors,
//! and the answers of the layers (load shedding, request timeout, through `From<BoxError>`; body limit and
//! the router's 405, through [`error_log`](crate::middleware::error_log)). No other module picks a status
//! or a problem code.
//!
//! Clients get a terse, stable body, the [`Problem`] document; the internal cause is put in the response
//! extensions as [`ErrorCause`] and logged by
//! [`error_log::finish`](crate::middleware::error_log::finish) inside the request span. No
//! internal error text ever reaches a client.
//!
//! The OpenAPI side lives here too: the [`Problem`] schema and the reusable problem+json responses
//! ([`BadRequest`], [`Unauthorized`], ...) that the handlers' `#[utoipa::path]` annotations name.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::response::{Html, IntoResponse};
use axum::Json;
use http::{header, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower::BoxError;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response as ResponseDoc, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{PartialSchema, ToResponse, ToSchema};

use crate::domain::{RateDecision, Readiness, ValidationError};
use crate::store::StoreError;
use crate::upstream::UpstreamError;

/// The `Content-Type` of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Seconds a shed client is asked to wait (`Retry-After` of [`ApiError::Overloaded`]).
pub const RETRY_AFTER_SECS: u32 = 1;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter or path segment did not parse (400, the original's messages).
    #[error(transparent)]
    InvalidQuery(ValidationError),
    /// The JSON body is well-formed but a field is invalid (422).
    #[error(transparent)]
    InvalidBody(ValidationError),
    /// The body is not JSON, or not the expected shape (400), or too large (413), or not declared as JSON (415).
    #[error("invalid json body")]
    Json(#[from] JsonRejection),
    /// The query string could not be decoded.
    #[error("invalid query string")]
    Query(#[from] QueryRejection),
    /// A path segment could not be decoded (e.g. not UTF-8).
    #[error("invalid path")]
    Path(#[from] PathRejection),
    /// No such resource (404).
    #[error("not found")]
    NotFound,
    /// The route exists but not for this method (405, answered by the router; `Allow` kept).
    #[error("method not allowed")]
    MethodNotAllowed {
        /// The router's `Allow` header.
        allow: Option<HeaderValue>,
    },
    /// The body is larger than `max_body_bytes` (413, answered by the body-limit layer).
    #[error("payload too large")]
    PayloadTooLarge,
    /// The client's address is not in `metrics_allow` (403 on `/metrics`).
    #[error("metrics forbidden for this address")]
    MetricsForbidden,
    /// Development mode answers local requests only: this one came through a proxy or names another
    /// host (403).
    #[error(transparent)]
    DevModeRemote(crate::dev_mode::RemoteRequest),
    /// More than `max_in_flight` requests at once (503 with `Retry-After`, from the load-shedding layer).
    #[error("overloaded")]
    Overloaded,
    /// The caller used up its quota for this route class (429 with `Retry-After`, `RateLimit-Policy`
    /// and `RateLimit`).
    #[error("rate limited")]
    RateLimited(RateDecision),
    /// The client address presented too many invalid tokens: its requests with a token are refused
    /// before verification for a while (429 with `Retry-After`, from
    /// [`InvalidTokenLayer`](crate::middleware::rate_limit::InvalidTokenLayer)).
    #[error("too many invalid tokens from this address")]
    TooManyInvalidTokens {
        /// When the address may present a token again.
        retry_after: std::time::Duration,
    },
    /// The request took longer than `request_timeout_ms` (503, from the timeout layer).
    #[error("request timed out")]
    RequestTimeout,
    /// A readiness check failed (503 on `/readyz`; the body is the [`Readiness`] document, not a problem,
    /// as probes and the OpenAPI document expect).
    #[error("not ready")]
    NotReady(Readiness),
    /// No such page outside `/api` (404; the body is the rendered HTML not-found page).
    #[error("page not found")]
    PageNotFound(String),
    /// The weather upstream failed.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The report store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else: answered as a bare 500 without detail.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The internal cause of an error response, kept in the response extensions for the logging middleware.
#[derive(Debug, Clone)]
pub struct ErrorCause(pub std::sync::Arc<String>);

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            Self::InvalidBody(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Json(rejection) => match rejection {
                JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                JsonRejection::BytesRejection(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    StatusCode::PAYLOAD_TOO_LARGE
                }
                _ => StatusCode::BAD_REQUEST,
            },
            Self::Query(_) | Self::Path(_) => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MetricsForbidden | Self::DevModeRemote(_) => StatusCode::FORBIDDEN,
            Self::RateLimited(_) | Self::TooManyInvalidTokens { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::Overloaded | Self::RequestTimeout | Self::NotReady(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::PageNotFound(_) => StatusCode::NOT_FOUND,
            Self::Upstream(e) => match e {
                UpstreamError::CityNotFound => StatusCode::NOT_FOUND,
                UpstreamError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::BAD_GATEWAY,
            },
            Self::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine code in the body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidQuery(e) | Self::InvalidBody(e) => e.code(),
            Self::Json(JsonRejection::MissingJsonContentType(_)) => "unsupported_media_type",
            Self::Json(_) if self.status() == StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            Self::PayloadTooLarge => "payload_too_large",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::MetricsForbidden => "metrics_forbidden",
            Self::DevModeRemote(_) => "development_mode_local_only",
            Self::Overloaded => "overloaded",
            Self::RateLimited(_) => "rate_limited",
            Self::TooManyInvalidTokens { .. } => "too_many_invalid_tokens",
            Self::RequestTimeout => "request_timeout",
            Self::NotReady(_) => "not_ready",
            Self::PageNotFound(_) => "not_found",
            Self::Json(JsonRejection::JsonDataError(_)) => "invalid_body",
            Self::Json(_) => "invalid_json",
            Self::Query(_) => "invalid_query",
            Self::Path(_) => "invalid_path",
            Self::NotFound => "not_found",
            Self::Upstream(e) => match e {
                UpstreamError::CityNotFound => "city_not_found",
                UpstreamError::MissingApiKey => "missing_api_key",
                UpstreamError::InvalidApiKey => "invalid_api_key",
                UpstreamError::Timeout(_) => "upstream_timeout",
                UpstreamError::Unreachable(_) => "upstream_unreachable",
                _ => "upstream_error",
            },
            Self::Store(StoreError::Unavailable(_)) => "database_unavailable",
            Self::Store(_) | Self::Internal(_) => "internal_error",
        }
    }

    /// The client-facing explanation: what went wrong and what to do. Never internal error text.
    pub fn detail(&self) -> String {
        match self {
            Self::InvalidQuery(e) | Self::InvalidBody(e) => e.to_string(),
            Self::Json(JsonRejection::MissingJsonContentType(_)) => {
                "Send the body as JSON with Content-Type: application/json.".to_owned()
            }
            Self::Json(_) if self.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                "The request body is too large.".to_owned()
            }
            Self::PayloadTooLarge => "The request body is too large.".to_owned(),
            Self::MethodNotAllowed { .. } => {
                "This resource does not support this method.".to_owned()
            }
            Self::MetricsForbidden => {
                "This address may not read the metrics (see the metrics_allow setting).".to_owned()
            }
            Self::DevModeRemote(crate::dev_mode::RemoteRequest::Forwarded(name)) => format!(
                "This service runs in development mode, which answers requests made on this machine \
                 only; this one came through a proxy ({name}). Production configures azure_ad."
            ),
            Self::DevModeRemote(crate::dev_mode::RemoteRequest::Host) => {
                "This service runs in development mode, which answers requests made on this machine \
                 only: call it as http://localhost:PORT or http://127.0.0.1:PORT."
                    .to_owned()
            }
            Self::Overloaded => {
                "The service is at capacity; retry after the number of seconds in Retry-After."
                    .to_owned()
            }
            Self::RateLimited(d) => format!(
                "Too many requests: this caller may make {} {} requests per {} s; retry after {} s \
                 (Retry-After), and pace requests with the RateLimit header.",
                d.quota.requests(),
                d.class.as_str(),
                d.quota.window().as_secs_f64(),
                d.retry_after_secs()
            ),
            Self::TooManyInvalidTokens { retry_after } => format!(
                "Too many invalid tokens from this address: requests with a token are refused \
                 without being checked for {} s (Retry-After). Get a new token for this API (check \
                 its audience, issuer and expiry) before retrying.",
                retry_after_secs(*retry_after)
            ),
            Self::RequestTimeout => "The request took too long; try again later.".to_owned(),
            Self::NotReady(readiness) => format!(
                "Not ready: {} not available yet; try again shortly.",
                readiness.missing.join(", ")
            ),
            Self::PageNotFound(_) => "No such page.".to_owned(),
            // serde's own message names the field and position and contains no server internals.
            Self::Json(JsonRejection::JsonDataError(e)) => {
                format!(
                    "The JSON body does not have the expected shape: {}",
                    e.body_text()
                )
            }
            Self::Json(JsonRejection::JsonSyntaxError(e)) => {
                format!("The body is not valid JSON: {}", e.body_text())
            }
            Self::Json(_) => "The body could not be read as JSON.".to_owned(),
            Self::Query(_) => "The query string could not be decoded.".to_owned(),
            Self::Path(_) => "The path could not be decoded.".to_owned(),
            Self::NotFound => "No such resource.".to_owned(),
            Self::Upstream(e) => match e {
                UpstreamError::CityNotFound => {
                    "OpenWeatherMap does not know this city: check the city, state and country."
                        .to_owned()
                }
                UpstreamError::MissingApiKey => "No OpenWeatherMap API key is configured: set \
                     api_key in settings.json (or WEATHER_API__API_KEY)."
                    .to_owned(),
                UpstreamError::InvalidApiKey => "OpenWeatherMap rejected the configured API key: \
                     set a valid api_key in settings.json (or WEATHER_API__API_KEY)."
                    .to_owned(),
                UpstreamError::Timeout(_) => {
                    "OpenWeatherMap did not answer in time; try again later.".to_owned()
                }
                UpstreamError::Unreachable(_) => {
                    "OpenWeatherMap could not be reached; try again later.".to_owned()
                }
                _ => "OpenWeatherMap answered with an error; try again later.".to_owned(),
            },
            Self::Store(StoreError::Unavailable(_)) => {
                "The report database is unavailable; try again later.".to_owned()
            }
            Self::Store(_) | Self::Internal(_) => "An internal error occurred.".to_owned(),
        }
    }
}

/// The problem+json answer: the serialised [`Problem`] with its content type.
fn problem(status: StatusCode, code: &str, detail: &str) -> axum::response::Response {
    let body = Problem {
        kind: "about:blank".to_owned(),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: detail.to_owned(),
        code: code.to_owned(),
    };
    let body = serde_json::to_value(&body)
        .and_then(|value| serde_json::to_vec(&value))
        .expect("BUG: a problem document always serialises");
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let status = self.status();
        // The two answers whose body is not a problem document.
        match self {
            Self::NotReady(readiness) => {
                return (status, Json(readiness.to_json())).into_response()
            }
            Self::PageNotFound(page) => return (status, Html(page)).into_response(),
            _ => {}
        }
        let mut response = problem(status, self.code(), &self.detail());
        let headers = response.headers_mut();
        match &self {
            Self::Overloaded => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            }
            Self::RateLimited(decision) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(decision.retry_after_secs()),
                );
                insert_rate_limit_headers(headers, decision);
            }
            Self::TooManyInvalidTokens { retry_after } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs(*retry_after)),
                );
            }
            Self::MethodNotAllowed { allow: Some(allow) } => {
                headers.insert(header::ALLOW, allow.clone());
            }
            _ => {}
        }
        // Shedding and timeouts have no cause beyond their code; logging each would flood the log
        // exactly when the service is overloaded.
        if matches!(
            self,
            Self::Overloaded
                | Self::RequestTimeout
                | Self::RateLimited(_)
                | Self::TooManyInvalidTokens { .. }
        ) {
            return response;
        }
        let cause = match std::error::Error::source(&self) {
            Some(source) => format!("{self}: {source}"),
            None => self.to_string(),
        };
        response
            .extensions_mut()
            .insert(ErrorCause(std::sync::Arc::new(cause)));
        response
    }
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
fn retry_after_secs(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers) for `decision`: on a 429
/// here, and on every answer of a rate-limited route through
/// [`rate_limit::add_headers`](crate::middleware::rate_limit::add_headers).
pub fn insert_rate_limit_headers(headers: &mut http::HeaderMap, decision: &RateDecision) {
    for (name, value) in [
        ("ratelimit-policy", decision.policy_header()),
        ("ratelimit", decision.limit_header()),
    ] {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(http::HeaderName::from_static(name), value);
        }
    }
}

/// The errors of the tower layers (`HandleErrorLayer::new(|e| async { ApiError::from(e) })`): load
/// shedding is [`ApiError::Overloaded`], the request timeout [`ApiError::RequestTimeout`], anything else
/// [`ApiError::Internal`] (logged with its cause, answered without it).
impl From<BoxError> for ApiError {
    fn from(err: BoxError) -> Self {
        if err.is::<tower::load_shed::error::Overloaded>() {
            Self::Overloaded
        } else if err.is::<tower::timeout::error::Elapsed>() {
            Self::RequestTimeout
        } else {
            Self::Internal(anyhow::anyhow!(err).context("unhandled middleware error"))
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::InvalidQuery(e)
    }
}

/// An RFC 9457 problem document: the body of every error answer (`Content-Type: application/problem+json`).
// The fields are declared in the document's order (`type` first); on the wire the keys are in
// alphabetical order, as the service has always sent them (`problem` serialises through a Value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "type": "about:blank",
    "title": "Bad Request",
    "status": 400,
    "detail": "Invalid country: usa. It must be a two letter abbreviation such as US or GB.",
    "code": "invalid_country"
}))]
pub struct Problem {
    /// `about:blank` for the service's own errors, `urn:entra-auth:problem:{code}` for token errors.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP reason phrase of the status.
    pub title: String,
    /// The HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What was expected and what was found, and what to do about it. Never internal error text.
    pub detail: String,
    /// A stable machine-readable code (`invalid_country`, `token_expired`, `insufficient_scope`, ...).
    #[schema(pattern = "^[a-z0-9_]+$")]
    pub code: String,
}

/// A problem example for a response component: (name, code, detail).
type ProblemExample = (&'static str, &'static str, &'static str);

/// A reusable problem+json response with examples and, for token errors, the `WWW-Authenticate` header.
fn problem_response(
    status: http::StatusCode,
    description: &str,
    examples: &[ProblemExample],
    challenge: bool,
) -> RefOr<ResponseDoc> {
    let title = status.canonical_reason().unwrap_or("Error");
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .examples_from_iter(examples.iter().map(|(name, code, detail)| {
            let kind = if is_token_error(code) {
                format!("urn:entra-auth:problem:{code}")
            } else {
                "about:blank".to_owned()
            };
            (
                *name,
                ExampleBuilder::new().summary(*code).value(Some(json!({
                    "type": kind,
                    "title": title,
                    "status": status.as_u16(),
                    "detail": detail,
                    "code": code,
                }))),
            )
        }))
        .build();
    let mut response = ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, content);
    if challenge {
        response = response.header(
            "WWW-Authenticate",
            HeaderBuilder::new()
                .schema(String::schema())
                .description(Some(
                    "RFC 6750 challenge: `Bearer`, with `error`, `error_description` and (403) the \
                     `scope` needed.",
                ))
                .build(),
        );
    }
    if status == http::StatusCode::TOO_MANY_REQUESTS {
        for (name, description) in [
            ("Retry-After", "Seconds to wait before the next request of this class."),
            ("RateLimit-Policy", "The quota: `\"read\";q=600;w=60` (requests per window in seconds)."),
            ("RateLimit", "What is left: `\"read\";r=0;t=12` (remaining requests; seconds until the quota is whole)."),
        ] {
            response = response.header(
                name,
                HeaderBuilder::new()
                    .schema(String::schema())
                    .description(Some(description))
                    .build(),
            );
        }
    }
    response.build().into()
}

/// The codes answered by entra-auth (their problem `type` is a URN).
fn is_token_error(code: &str) -> bool {
    matches!(
        code,
        "invalid_request"
            | "missing_token"
            | "token_expired"
            | "invalid_signature"
            | "audience_mismatch"
            | "insufficient_scope"
            | "keys_unavailable"
    )
}

macro_rules! problem_responses {
    ($($(#[$doc:meta])* $name:ident = ($status:ident, $description:literal, $challenge:literal, [$($example:expr),* $(,)?]);)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<ResponseDoc>) {
                (
                    stringify!($name),
                    problem_response(http::StatusCode::$status, $description, &[$($example),*], $challenge),
                )
            }
        }
    )*};
}

problem_responses! {
    /// 400: a query parameter, the path or the JSON body is invalid, or the request is malformed for auth.
    BadRequest = (BAD_REQUEST, "The request is invalid: the `code` says which part (problem+json).", false, [
        ("invalid_country", "invalid_country", "Invalid country: usa. It must be a two letter abbreviation such as US or GB."),
        ("invalid_state", "invalid_state", "Invalid state: ore. It must be a two letter abbreviation such as CA or KS (use for US only)."),
        ("invalid_units", "invalid_units", "Invalid units 'kelvin', it must be one of standard, metric, imperial."),
        ("invalid_limit", "invalid_limit", "Invalid limit: 0. It must be a whole number from 1 to 500 (default 50)."),
        ("invalid_cursor", "invalid_cursor", "Invalid cursor: after must be copied unchanged from the Link rel=\"next\" header of a previous page; omit it to start from the newest report."),
        ("invalid_json", "invalid_json", "The body is not valid JSON: EOF while parsing an object at line 1 column 1"),
        ("invalid_body", "invalid_body", "The JSON body does not have the expected shape: description: invalid type: integer `1`, expected a string at line 1 column 17"),
        ("invalid_request", "invalid_request", "malformed request: the request carries an access_token query parameter; send the token only in the Authorization header"),
    ]);
    /// 401: no token, or a token that is not valid for this API.
    Unauthorized = (UNAUTHORIZED, "No valid access token: sign in (Authorize) or send `Authorization: Bearer <token>` (problem+json, RFC 6750 challenge).", true, [
        ("missing_token", "missing_token", "no bearer token: send the access token in the Authorization header as \"Bearer <token>\""),
        ("token_expired", "token_expired", "token expired at 2026-11-29T08:00:00Z, 3600 seconds ago; request a new token"),
        ("audience_mismatch", "audience_mismatch", "audience mismatch: expected one of [\"a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c\", \"api://a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c\"], found [\"https://graph.microsoft.com\"]; request a token for this API (scope api://<client id>/.default or one of its scopes)"),
    ]);
    /// 403: the token is valid but lacks the scope or app role the operation needs.
    Forbidden = (FORBIDDEN, "The token lacks the scope (or app role) this operation needs (problem+json, RFC 6750 challenge naming the scope).", true, [
        ("insufficient_scope", "insufficient_scope", "IDW10203: the scope claim (scp) does not contain any of the required scopes [\"weather.read\"] (or app roles [\"Weather.Read.All\"]); found scopes [\"weather.write\"]"),
    ]);
    /// 404: no such report, or a city OpenWeatherMap does not know.
    NotFound = (NOT_FOUND, "Not found (problem+json).", false, [
        ("not_found", "not_found", "No such resource."),
        ("city_not_found", "city_not_found", "OpenWeatherMap does not know this city: check the city, state and country."),
    ]);
    /// 413: the body is larger than `max_body_bytes`.
    PayloadTooLarge = (PAYLOAD_TOO_LARGE, "The body is larger than the configured `max_body_bytes` (problem+json).", false, [
        ("payload_too_large", "payload_too_large", "The request body is too large."),
    ]);
    /// 415: the body is not declared as JSON.
    UnsupportedMediaType = (UNSUPPORTED_MEDIA_TYPE, "The body is not sent with `Content-Type: application/json` (problem+json).", false, [
        ("unsupported_media_type", "unsupported_media_type", "Send the body as JSON with Content-Type: application/json."),
    ]);
    /// 422: the JSON body has the right shape but a field is missing or invalid.
    UnprocessableEntity = (UNPROCESSABLE_ENTITY, "A field of the report is missing or invalid: the `code` names it (problem+json).", false, [
        ("missing_description", "missing_description", "Description is required."),
        ("description_too_long", "description_too_long", "Invalid description: it must be at most 1000 characters long."),
        ("missing_location", "missing_location", "Location is required."),
        ("missing_city", "missing_city", "City is required."),
        ("invalid_country", "invalid_country", "Invalid country: usa. It must be a two letter abbreviation such as US or GB."),
    ]);
    /// 429: the caller used up its quota for this route class.
    TooManyRequests = (TOO_MANY_REQUESTS, "This caller used up its quota for this kind of request: wait `Retry-After` seconds; `RateLimit-Policy` and `RateLimit` (IETF draft) give the quota and what is left. Or this client address presented too many invalid tokens (`too_many_invalid_tokens`): its requests with a token are refused unverified for `Retry-After` seconds (problem+json).", false, [
        ("rate_limited", "rate_limited", "Too many requests: this caller may make 600 read requests per 60 s; retry after 1 s (Retry-After), and pace requests with the RateLimit header."),
        ("too_many_invalid_tokens", "too_many_invalid_tokens", "Too many invalid tokens from this address: requests with a token are refused without being checked for 1 s (Retry-After). Get a new token for this API (check its audience, issuer and expiry) before retrying."),
    ]);
    /// 502: OpenWeatherMap failed, or the API key is missing or rejected.
    BadGateway = (BAD_GATEWAY, "OpenWeatherMap failed, or no valid `api_key` is configured (problem+json).", false, [
        ("missing_api_key", "missing_api_key", "No OpenWeatherMap API key is configured: set api_key in settings.json (or WEATHER_API__API_KEY)."),
        ("invalid_api_key", "invalid_api_key", "OpenWeatherMap rejected the configured API key: set a valid api_key in settings.json (or WEATHER_API__API_KEY)."),
        ("upstream_error", "upstream_error", "OpenWeatherMap answered with an error; try again later."),
        ("upstream_unreachable", "upstream_unreachable", "OpenWeatherMap could not be reached; try again later."),
    ]);
    /// 503: signing keys not loaded yet, database down, or the request took too long.
    ServiceUnavailable = (SERVICE_UNAVAILABLE, "Try again later: signing keys not loaded yet, the database is unavailable, the request took longer than `request_timeout_ms`, or the service is at capacity (`overloaded`, with `Retry-After`) (problem+json).", false, [
        ("keys_unavailable", "keys_unavailable", "signing keys not yet available: the identity provider's metadata and keys have not been loaded; try again shortly"),
        ("database_unavailable", "database_unavailable", "The report database is unavailable; try again later."),
        ("request_timeout", "request_timeout", "The request took too long; try again later."),
        ("overloaded", "overloaded", "The service is at capacity; retry after the number of seconds in Retry-After."),
    ]);
    /// 504: OpenWeatherMap did not answer within `openweather_timeout_ms`.
    GatewayTimeout = (GATEWAY_TIMEOUT, "OpenWeatherMap did not answer in time (problem+json).", false, [
        ("upstream_timeout", "upstream_timeout", "OpenWeatherMap did not answer in time; try again later."),
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlx_down() -> StoreError {
        StoreError::from(sqlx::Error::PoolTimedOut)
    }

    #[test]
    fn status_mapping_is_decided_here() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (ValidationError::MissingCity.into(), 400, "missing_city"),
            (
                ApiError::InvalidBody(ValidationError::MissingDescription),
                422,
                "missing_description",
            ),
            (ApiError::NotFound, 404, "not_found"),
            (ApiError::PayloadTooLarge, 413, "payload_too_large"),
            (
                ApiError::MethodNotAllowed { allow: None },
                405,
                "method_not_allowed",
            ),
            (ApiError::MetricsForbidden, 403, "metrics_forbidden"),
            (ApiError::Overloaded, 503, "overloaded"),
            (ApiError::RequestTimeout, 503, "request_timeout"),
            (UpstreamError::CityNotFound.into(), 404, "city_not_found"),
            (UpstreamError::MissingApiKey.into(), 502, "missing_api_key"),
            (UpstreamError::InvalidApiKey.into(), 502, "invalid_api_key"),
            (
                UpstreamError::Status(StatusCode::INTERNAL_SERVER_ERROR).into(),
                502,
                "upstream_error",
            ),
            (sqlx_down().into(), 503, "database_unavailable"),
            (
                ApiError::Internal(anyhow::anyhow!("secret internals")),
                500,
                "internal_error",
            ),
        ];
        for (error, status, code) in cases {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            assert_eq!(error.code(), code, "{error:?}");
        }
    }

    #[tokio::test]
    async fn internal_details_never_reach_the_body() {
        let response = ApiError::Internal(anyhow::anyhow!("secret internals")).into_response();
        assert!(response.extensions().get::<ErrorCause>().is_some());
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("internal_error"));
    }

    #[tokio::test]
    async fn service_problem_bodies_match_the_problem_schema_byte_for_byte() {
        let response = ApiError::from(ValidationError::MissingCity).into_response();
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let problem: Problem = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem.status, 400);
        assert_eq!(problem.code, "missing_city");
        // The same bytes as the `json!` object the service answered before the typed document.
        let before = serde_json::json!({
            "type": "about:blank",
            "title": "Bad Request",
            "status": 400,
            "detail": problem.detail,
            "code": "missing_city",
        });
        assert_eq!(body, before.to_string().as_bytes());
    }

    #[tokio::test]
    async fn layer_errors_map_to_their_problems() {
        let shed = ApiError::from(BoxError::from(tower::load_shed::error::Overloaded::new()));
        assert_eq!(shed.code(), "overloaded");
        let response = shed.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let timeout = ApiError::from(BoxError::from(tower::timeout::error::Elapsed::new()));
        assert_eq!(timeout.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(timeout.code(), "request_timeout");
        let other = ApiError::from(BoxError::from("boom"));
        assert_eq!(other.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(other.into_response().into_body(), 4096)
            .await
            .unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("boom"));
    }

    #[tokio::test]
    async fn not_ready_answers_503_with_the_readiness_document() {
        let readiness = Readiness::new(crate::domain::ReadinessChecks {
            signing_keys: true,
            database: false,
        });
        let response = ApiError::NotReady(readiness).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        assert_eq!(
            body,
            r#"{"checks":{"database":false,"signing_keys":true},"missing":["database"],"status":"not ready"}"#
        );
    }

    #[tokio::test]
    async fn page_not_found_answers_404_html() {
        let response = ApiError::PageNotFound("<p>gone</p>".to_owned()).into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        assert_eq!(body, "<p>gone</p>");
    }

    #[tokio::test]
    async fn method_not_allowed_keeps_allow() {
        let response = ApiError::MethodNotAllowed {
            allow: Some(HeaderValue::from_static("GET,HEAD")),
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "GET,HEAD");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }

    #[tokio::test]
    async fn database_unavailable_body_says_try_later() {
        let response = ApiError::from(sqlx_down()).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["code"], "database_unavailable");
        assert!(!json.to_string().contains("PoolTimedOut"));
    }
}
