//! Every answer that is not a success, chosen in one place: ASP.NET's problem details
//! (`type`, `title`, `status`, `detail`, `instance`) where Microsoft's sidecar sends them, and the
//! empty-bodied 401/403/404/405 where it sends none.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

/// A failure of a sidecar route.
#[derive(Debug)]
pub enum Failure {
    /// The inbound token was missing or invalid: the status (401 or 400) and challenge of
    /// entra-auth, no body (as ASP.NET's JWT bearer handler answers).
    Unauthenticated(Box<entra_auth::AuthError>),
    /// `/Validate`: the token lacks every scope of `AzureAd:Scopes` (403, the IDW10203 text).
    MissingScope(Box<entra_auth::AuthError>),
    /// The caller is not on loopback, or lacks the caller secret: 403, no body.
    ForbiddenCaller,
    /// A problem details answer.
    Problem {
        /// The status.
        status: StatusCode,
        /// What is wrong and how to fix it.
        detail: String,
        /// Seconds to wait before retrying, when known.
        retry_after: Option<u64>,
    },
}

impl Failure {
    /// A problem answer.
    pub fn problem(status: StatusCode, detail: impl Into<String>) -> Self {
        Failure::Problem {
            status,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// The 500 whose detail is Microsoft's fixed text (the cause goes to the log).
    pub fn unexpected() -> Self {
        Self::problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unexpected error occurred.",
        )
    }

    /// The response, with `instance` the request's path.
    pub fn into_response_at(self, path: &str) -> Response {
        match self {
            Failure::Unauthenticated(e) => {
                let mut response = e.status().into_response();
                if let Some(challenge) = e.www_authenticate() {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, challenge);
                }
                response
            }
            Failure::MissingScope(e) => {
                let mut response = (
                    StatusCode::FORBIDDEN,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    e.to_string(),
                )
                    .into_response();
                if let Some(challenge) = e.www_authenticate() {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, challenge);
                }
                response
            }
            Failure::ForbiddenCaller => StatusCode::FORBIDDEN.into_response(),
            Failure::Problem {
                status,
                detail,
                retry_after,
            } => {
                let body = ProblemDetails {
                    r#type: type_uri(status),
                    title: status.canonical_reason().unwrap_or("Error"),
                    status: status.as_u16(),
                    detail: &detail,
                    instance: path,
                };
                let json = serde_json::to_vec(&body).unwrap_or_default();
                let mut response = (status, json).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/problem+json"),
                );
                if let Some(secs) = retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                response
            }
        }
    }
}

#[derive(Serialize)]
struct ProblemDetails<'a> {
    r#type: &'static str,
    title: &'static str,
    status: u16,
    detail: &'a str,
    instance: &'a str,
}

/// The RFC 9110 section ASP.NET names as a problem's `type`.
fn type_uri(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        401 => "https://tools.ietf.org/html/rfc9110#section-15.5.2",
        403 => "https://tools.ietf.org/html/rfc9110#section-15.5.4",
        404 => "https://tools.ietf.org/html/rfc9110#section-15.5.5",
        502 => "https://tools.ietf.org/html/rfc9110#section-15.6.3",
        503 => "https://tools.ietf.org/html/rfc9110#section-15.6.4",
        504 => "https://tools.ietf.org/html/rfc9110#section-15.6.5",
        _ => "https://tools.ietf.org/html/rfc9110#section-15.6.1",
    }
}
