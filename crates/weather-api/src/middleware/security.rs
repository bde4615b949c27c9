//! Security headers and log-safe request targets, applied by
//! [`build_router`](crate::startup::build_router):
//!
//! * [`add_headers`]: `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer` on every
//!   answer; on HTML answers a Content-Security-Policy without inline script ([`HTML_CSP`], unless the
//!   route set its own, as `/docs` does) and `X-Frame-Options: DENY`; `Cache-Control: no-store` on every
//!   answer to a request that carried credentials and on every `/api` answer (authenticated data and auth
//!   errors are never stored by a browser or a shared cache).
//! * [`loggable_uri`]: the request target for logs, with credential query parameters redacted.

use http::{header, HeaderValue};

/// The Content-Security-Policy of HTML pages: same-origin resources only, no inline script, no plugins,
/// no framing, no `<base>` rewriting.
pub const HTML_CSP: &str =
    "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'";

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

/// True when the answer to `request` must not be stored by any cache: it carried credentials, or it is
/// an `/api` route.
pub fn is_sensitive<B>(request: &http::Request<B>) -> bool {
    let path = request.uri().path();
    request.headers().contains_key(header::AUTHORIZATION)
        || path == "/api"
        || path.starts_with("/api/")
}

/// The security headers described in the module documentation, on an answer (`sensitive`: see
/// [`is_sensitive`]). Applied by [`AnswerLayer`](super::layers::AnswerLayer).
pub fn add_headers(headers: &mut http::HeaderMap, sensitive: bool) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
