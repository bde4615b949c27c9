//! Web hardening and overload protection, applied by [`build_router`](crate::startup::build_router):
//!
//! * [`security_headers`]: `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer` on every
//!   answer; on HTML answers a Content-Security-Policy without inline script ([`HTML_CSP`], unless the
//!   route set its own, as `/docs` does) and `X-Frame-Options: DENY`; `Cache-Control: no-store` on every
//!   answer to a request that carried credentials and on every `/api` answer (authenticated data and auth
//!   errors are never stored by a browser or a shared cache).
//! * [`loggable_uri`]: the request target for logs, with credential query parameters redacted.
//! * Load shedding: beyond `max_in_flight` concurrent requests the service answers at once
//!   [`overloaded`] (503 problem+json, `Retry-After`) instead of queueing without bound.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{header, HeaderValue, StatusCode};

use crate::error::problem;

/// The Content-Security-Policy of HTML pages: same-origin resources only, no inline script, no plugins,
/// no framing, no `<base>` rewriting.
pub const HTML_CSP: &str =
    "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Seconds a shed client is asked to wait (`Retry-After`).
pub const RETRY_AFTER_SECS: u32 = 1;

/// Query parameters whose values are credentials: never written to logs.
const SECRET_QUERY_PARAMS: &[&str] = &["access_token", "id_token", "code", "client_secret"];

/// The request target as it may be logged: the values of credential query parameters
/// (`access_token`, ...) replaced by `[redacted]`. A client that wrongly puts its token in the URL is
/// refused (400) and its token stays out of the logs.
pub fn loggable_uri(uri: &http::Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.to_string();
    };
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            if SECRET_QUERY_PARAMS
                .iter()
                .any(|s| s.eq_ignore_ascii_case(name))
            {
                format!("{name}=[redacted]")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    format!("{}?{}", uri.path(), redacted.join("&"))
}

/// Middleware: the security headers described in the module documentation.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let sensitive = request.headers().contains_key(header::AUTHORIZATION)
        || request.uri().path() == "/api"
        || request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_html {
        if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(HTML_CSP),
            );
        }
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if sensitive {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The answer beyond capacity (the load-shedding layer's error): 503 problem+json `overloaded` with
/// `Retry-After`. Any other middleware error is a 500 without detail.
pub async fn overloaded(err: tower::BoxError) -> Response {
    if err.is::<tower::load_shed::error::Overloaded>() {
        let mut response = problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "The service is at capacity; retry after the number of seconds in Retry-After.",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        response
    } else {
        tracing::error!(error = %err, "unhandled middleware error");
        problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "An internal error occurred.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn overloaded_answers_503_problem_with_retry_after() {
        let response = overloaded(Box::new(tower::load_shed::error::Overloaded::new())).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            crate::error::PROBLEM_JSON
        );
    }

    #[test]
    fn credential_query_parameters_are_redacted_for_logs() {
        let uri: http::Uri = "/api/reports?a=1&access_token=eyJ.x.y&ACCESS_TOKEN=z&code=c"
            .parse()
            .unwrap();
        assert_eq!(
            loggable_uri(&uri),
            "/api/reports?a=1&access_token=[redacted]&ACCESS_TOKEN=[redacted]&code=[redacted]"
        );
        let plain: http::Uri = "/api/weather/portland?units=metric".parse().unwrap();
        assert_eq!(loggable_uri(&plain), "/api/weather/portland?units=metric");
    }

    #[test]
    fn html_policy_allows_no_inline_script() {
        assert!(!HTML_CSP.contains("unsafe-inline"));
        assert!(HTML_CSP.contains("script-src 'self'"));
    }
}
