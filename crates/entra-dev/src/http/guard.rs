//! What keeps a browser page from using the issuer: the `Host` check on every request (DNS rebinding) and
//! the JSON requirement of the control endpoints (a cross-site form or `text/plain` POST needs no CORS
//! preflight; `application/json` does, and the control endpoints answer none).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

use crate::host::{host_name, is_loopback_host};
use crate::http::oauth::{json_response, no_store};
use crate::state::IssuerState;

/// Refuses (403 `invalid_request`) a request whose `Host` is not a loopback name or address, the
/// instance's host or one of [`DevIssuerConfig::allowed_hosts`](crate::DevIssuerConfig::allowed_hosts),
/// unless `dangerous_accept_any_host`.
pub(crate) async fn check_host(
    State(state): State<Arc<IssuerState>>,
    request: Request,
    next: Next,
) -> Response {
    let config = &state.config;
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default();
    let allowed = config.dangerous_accept_any_host
        || is_loopback_host(host)
        || host_name(host).is_some_and(|name| {
            state
                .instance
                .host_str()
                .is_some_and(|h| h.trim_matches(['[', ']']).eq_ignore_ascii_case(&name))
                || config
                    .allowed_hosts
                    .iter()
                    .any(|h| h.trim_matches(['[', ']']).eq_ignore_ascii_case(&name))
        });
    if allowed {
        return next.run(request).await;
    }
    tracing::warn!(host, "refused a request for another host");
    no_store(json_response(
        StatusCode::FORBIDDEN,
        &json!({
            "error": "invalid_request",
            "error_description": format!(
                "the development issuer answers requests for localhost, loopback addresses and {} only, \
                 not for host {host:?} (allowed_hosts adds names)",
                state.instance.host_str().unwrap_or("its instance host")
            ),
        }),
    ))
}

/// Refuses (415 `invalid_request`) a `PUT` or `POST` whose `Content-Type` is not `application/json`.
pub(crate) async fn require_json(request: Request, next: Next) -> Response {
    let writes = matches!(*request.method(), Method::PUT | Method::POST);
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !writes || json {
        return next.run(request).await;
    }
    no_store(json_response(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &json!({
            "error": "invalid_request",
            "error_description": "the control endpoints take a JSON body: send Content-Type: application/json",
        }),
    ))
}
