//! [`ApiError`]: every failure a handler can answer, mapped to its status and `application/problem+json`
//! body in ONE place ([`ApiError::status`], [`ApiError::code`], the `IntoResponse` impl).
//!
//! Clients get a terse, stable body (`type`, `title`, `status`, `detail`, `code`); the internal cause is put
//! in the response extensions as [`ErrorCause`] and logged by [`log_error_causes`] inside the request span.
//! No internal error text ever reaches a client.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

use crate::domain::ValidationError;
use crate::store::StoreError;
use crate::upstream::UpstreamError;

/// The `Content-Type` of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

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

/// Builds a problem+json response (also used by middleware that answers on its own: 404, 413, timeouts).
pub fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
    });
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = problem(status, self.code(), &self.detail());
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

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::InvalidQuery(e)
    }
}

/// Middleware: logs the [`ErrorCause`] of error responses inside the request span (5xx at WARN, 4xx at
/// DEBUG), and turns the bare bodies of layers that answer on their own (413 from the body limit, 405 from
/// the router) into problem+json.
pub async fn log_error_causes(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if let Some(ErrorCause(cause)) = response.extensions().get::<ErrorCause>() {
        if status.is_server_error() {
            tracing::warn!(%status, cause = %cause, "request failed");
        } else {
            tracing::debug!(%status, cause = %cause, "request refused");
        }
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if status == StatusCode::PAYLOAD_TOO_LARGE && !is_problem {
        return problem(
            status,
            "payload_too_large",
            "The request body is too large.",
        );
    }
    if status == StatusCode::METHOD_NOT_ALLOWED && !is_problem {
        let mut answer = problem(
            status,
            "method_not_allowed",
            "This resource does not support this method.",
        );
        if let Some(allow) = response.headers().get(header::ALLOW) {
            answer.headers_mut().insert(header::ALLOW, allow.clone());
        }
        return answer;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlx_down() -> StoreError {
        StoreError::Unavailable(sqlx::Error::PoolTimedOut)
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
