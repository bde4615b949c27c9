//! [`finish`]: logs the internal cause of error answers inside the request span, and answers
//! for the layers that answer on their own without a problem body (413 from the body limit, 405 from the
//! router) through [`ApiError`], so that every error body is problem+json.

use axum::response::{IntoResponse, Response};
use http::{header, StatusCode};

use crate::error::{ApiError, ErrorCause, PROBLEM_JSON};

/// Logs the [`ErrorCause`] of error responses (5xx at WARN, 4xx at DEBUG), and replaces the bare bodies
/// of 413 and 405 answers by [`ApiError::PayloadTooLarge`] and [`ApiError::MethodNotAllowed`] (keeping
/// `Allow`). Applied by [`AnswerLayer`](super::layers::AnswerLayer), inside the request span.
pub fn finish(response: Response) -> Response {
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
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return response;
    }
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge.into_response(),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed {
            allow: response.headers().get(header::ALLOW).cloned(),
        }
        .into_response(),
        _ => response,
    }
}
