//! Python exceptions for entra-auth's answers.
//!
//! Every rejection raises a subclass of `AuthError` carrying what the HTTP answer must be, decided
//! by entra-auth: `status`, `code` (stable), `www_authenticate` (the RFC 6750 challenge, or
//! `None`), `body` (the problem+json document, `str`), `detail` (the explanation) and `headers`
//! (the headers to send with the body). The subclass follows the status: `BadRequest` (400),
//! `Unauthorized` (401), `Forbidden` (403), `ServiceUnavailable` (503), `ServerError` (500).

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

create_exception!(
    entra_auth,
    AuthError,
    PyException,
    "A request refused by entra-auth: `status`, `code`, `www_authenticate`, `body` (problem+json), `detail`, `headers`."
);
create_exception!(
    entra_auth,
    BadRequest,
    AuthError,
    "400: a malformed request (`invalid_request`)."
);
create_exception!(
    entra_auth,
    Unauthorized,
    AuthError,
    "401: no token, or a token that is not valid for this API."
);
create_exception!(
    entra_auth,
    Forbidden,
    AuthError,
    "403: a valid token without the required scope, role or other requirement."
);
create_exception!(
    entra_auth,
    ServiceUnavailable,
    AuthError,
    "503: the signing keys could not be loaded yet (or a tenant check is unreachable)."
);
create_exception!(
    entra_auth,
    ServerError,
    AuthError,
    "500: authentication is misconfigured on the server, or an internal fault."
);
create_exception!(
    entra_auth,
    ConfigError,
    PyValueError,
    "An invalid setting, raised once at start-up, naming the setting."
);
create_exception!(
    entra_auth,
    TokenError,
    PyException,
    "A token for a downstream API could not be acquired: `kind` (e.g. `rejected`, `timeout`, `assertion`) and the explanation."
);

const PROBLEM_JSON: &str = "application/problem+json";

/// The Python exception for an entra-auth rejection.
pub(crate) fn auth_error(py: Python<'_>, e: &entra_auth::AuthError) -> PyErr {
    let status = e.status().as_u16();
    let challenge = e
        .www_authenticate()
        .and_then(|h| h.to_str().ok().map(str::to_owned));
    let body = String::from_utf8_lossy(&e.problem_json()).into_owned();
    let detail = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
        .unwrap_or_else(|| e.to_string());
    raise(py, status, e.code(), challenge, body, detail)
}

/// `ServerError` (500) for a fault inside the binding (a caught panic): the message is for logs;
/// the body says only that the server failed.
pub(crate) fn internal_error(py: Python<'_>, message: &str) -> PyErr {
    let body = serde_json::json!({
        "type": "urn:entra-auth:problem:internal_error",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "authentication failed inside the server",
        "code": "internal_error",
    })
    .to_string();
    raise(
        py,
        500,
        "internal_error",
        None,
        body,
        format!("internal fault in entra-auth: {message}"),
    )
}

/// The HTTP answer entra-token gives a token error (a claims challenge: 401 `insufficient_claims`
/// with the authority's `authorization_uri`), raised as the exception of its status.
pub(crate) fn token_answer(py: Python<'_>, e: &entra_token::TokenError) -> PyErr {
    let res: http::Response<Vec<u8>> = e.to_response();
    let challenge = e
        .www_authenticate()
        .and_then(|h| h.to_str().ok().map(str::to_owned));
    let body = String::from_utf8_lossy(res.body()).into_owned();
    let detail = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
        .unwrap_or_else(|| e.to_string());
    raise(py, res.status().as_u16(), e.code(), challenge, body, detail)
}

/// `TokenError` for a failed token acquisition (a claims challenge is an HTTP answer instead:
/// [`token_answer`]).
pub(crate) fn token_error(py: Python<'_>, e: &entra_token::TokenError) -> PyErr {
    use entra_token::TokenError as E;
    let kind = match e {
        E::Assertion(_) => "assertion",
        E::B2cOnBehalfOf { .. } => "b2c_on_behalf_of",
        E::InvalidScopes { .. } => "invalid_scopes",
        E::Rejected(_) => "rejected",
        E::ClaimsChallenge(_) => "claims_challenge",
        E::InvalidResponse { .. } => "invalid_response",
        E::Timeout { .. } => "timeout",
        E::Transport(_) => "transport",
        E::Credential(_) => "credential",
        _ => "other",
    };
    let err = TokenError::new_err(e.to_string());
    if let Err(set) = err.value(py).setattr("kind", kind) {
        return set;
    }
    err
}

/// `ConfigError` for an invalid setting.
pub(crate) fn config_error(e: impl std::fmt::Display) -> PyErr {
    ConfigError::new_err(e.to_string())
}

fn raise(
    py: Python<'_>,
    status: u16,
    code: &str,
    challenge: Option<String>,
    body: String,
    detail: String,
) -> PyErr {
    let err = match status {
        400 => BadRequest::new_err(detail.clone()),
        401 => Unauthorized::new_err(detail.clone()),
        403 => Forbidden::new_err(detail.clone()),
        503 => ServiceUnavailable::new_err(detail.clone()),
        _ => ServerError::new_err(detail.clone()),
    };
    if let Err(e) = decorate(py, &err, status, code, challenge, body, detail) {
        return e;
    }
    err
}

fn decorate(
    py: Python<'_>,
    err: &PyErr,
    status: u16,
    code: &str,
    challenge: Option<String>,
    body: String,
    detail: String,
) -> PyResult<()> {
    let value = err.value(py);
    let headers = PyDict::new(py);
    headers.set_item("Content-Type", PROBLEM_JSON)?;
    headers.set_item("Cache-Control", "no-store")?;
    if let Some(c) = &challenge {
        headers.set_item("WWW-Authenticate", c)?;
    }
    value.setattr("status", status)?;
    value.setattr("code", code)?;
    value.setattr("www_authenticate", challenge)?;
    value.setattr("body", body)?;
    value.setattr("detail", detail)?;
    value.setattr("headers", headers)?;
    Ok(())
}
