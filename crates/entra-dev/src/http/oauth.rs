//! The OAuth 2.0 vocabulary of the endpoints: Entra-shaped error answers ([`OAuthError`]), form parameters,
//! scope parsing and client authentication.

use std::time::SystemTime;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::error::DevIssuerError;
use crate::state::IssuerState;
use crate::time::format_unix_time;

/// An OAuth 2.0 error answer in Entra's format.
#[derive(Debug)]
pub(crate) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
    suberror: Option<&'static str>,
    claims: Option<String>,
}

impl OAuthError {
    pub(crate) fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error,
            code,
            description: description.into(),
            suberror: None,
            claims: None,
        }
    }

    /// Adds Entra's `suberror` (`consent_required`, `basic_action`...).
    pub(crate) fn with_suberror(mut self, suberror: &'static str) -> Self {
        self.suberror = Some(suberror);
        self
    }

    /// Adds a `claims` challenge (the client must acquire a token satisfying it).
    pub(crate) fn with_claims(mut self, claims: String) -> Self {
        self.claims = Some(claims);
        self
    }

    pub(crate) fn invalid_request(code: u32, description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            code,
            description,
        )
    }

    pub(crate) fn missing(parameter: &str) -> Self {
        Self::invalid_request(
            900_144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    pub(crate) fn invalid_client(code: u32, description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            code,
            description,
        )
    }

    pub(crate) fn invalid_grant(code: u32, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", code, description)
    }

    pub(crate) fn invalid_scope(code: u32, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", code, description)
    }

    /// The OAuth error code (`invalid_grant`...).
    pub(crate) fn error(&self) -> &'static str {
        self.error
    }

    /// `AADSTS{code}: {description}`.
    pub(crate) fn description(&self) -> String {
        format!("AADSTS{}: {}", self.code, self.description)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let now =
            format_unix_time(i64::try_from(crate::keys::unix_secs(SystemTime::now())).unwrap_or(0));
        let trace_id = uuid::Uuid::new_v4().to_string();
        let mut body = json!({
            "error": self.error,
            "error_description": format!("{} Trace ID: {trace_id} Timestamp: {now}", self.description()),
            "error_codes": [self.code],
            "timestamp": now,
            "trace_id": trace_id,
            "correlation_id": uuid::Uuid::new_v4().to_string(),
        });
        if let Some(m) = body.as_object_mut() {
            if let Some(suberror) = self.suberror {
                m.insert("suberror".into(), json!(suberror));
            }
            if let Some(claims) = &self.claims {
                m.insert("claims".into(), json!(claims));
            }
        }
        tracing::debug!(error = self.error, code = self.code, description = %self.description, "oauth error");
        no_store(json_response(self.status, &body))
    }
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut res = (status, axum::Json(body)).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    res
}

pub(crate) fn no_store(mut res: Response) -> Response {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// Form parameters; a repeated parameter is an error (RFC 6749 §3.1).
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(body: &str) -> Self {
        Self(
            url::form_urlencoded::parse(body.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The single value of `name`; empty values count as absent.
    pub(crate) fn get(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut values = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(OAuthError::invalid_request(
                90_015,
                format!("Requested query string is too long or parameter '{name}' is duplicated."),
            ));
        }
        Ok(first.filter(|v| !v.is_empty()))
    }

    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub(crate) fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)?.ok_or_else(|| OAuthError::missing(name))
    }
}

/// A scope as requested.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ScopeItem {
    /// One of the API's delegated scopes (short name).
    Api(String),
    /// `{resource}/.default`.
    Default,
    /// `openid`, `profile`, `email`, `offline_access`.
    Oidc(String),
}

/// Resolves one requested scope: `api://{client}/weather.read`, `{client}/weather.read`, bare `weather.read`,
/// `{resource}/.default`, or an OpenID Connect scope.
pub(crate) fn parse_scope(inner: &IssuerState, scope: &str) -> Result<ScopeItem, OAuthError> {
    let lower = scope.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "openid" | "profile" | "email" | "offline_access"
    ) {
        return Ok(ScopeItem::Oidc(lower));
    }
    let name = match scope.rsplit_once('/') {
        Some((resource, name)) => {
            if !is_api_resource(inner, resource) {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    500_011,
                    format!(
                        "The resource principal named {resource} was not found in the tenant. \
                         This development tenant's API is {} (client id {}).",
                        inner.config.api_app_id_uri, inner.config.api_client_id
                    ),
                ));
            }
            name
        }
        None => scope,
    };
    if name == ".default" {
        return Ok(ScopeItem::Default);
    }
    match inner.config.scopes.iter().find(|s| s.as_str() == name) {
        Some(s) => Ok(ScopeItem::Api(s.clone())),
        None => Err(OAuthError::invalid_scope(
            70_011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope '{scope}' \
                 does not exist. The API exposes: {}.",
                inner.config.scopes.join(", ")
            ),
        )),
    }
}

/// The delegated scopes of a sign-in request (authorize, device code): the main API's scopes, and
/// whether `openid` and `offline_access` were asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requested {
    pub(crate) scopes: Vec<String>,
    pub(crate) openid: bool,
    pub(crate) offline: bool,
}

/// Resolves a `scope` parameter of a sign-in request; at least one of the API's scopes is required.
pub(crate) fn requested_scopes(inner: &IssuerState, scope: &str) -> Result<Requested, OAuthError> {
    let mut out = Requested {
        scopes: Vec::new(),
        openid: false,
        offline: false,
    };
    for item in scope.split_whitespace() {
        match parse_scope(inner, item)? {
            ScopeItem::Api(s) => {
                if !out.scopes.contains(&s) {
                    out.scopes.push(s);
                }
            }
            ScopeItem::Default => {
                for s in &inner.config.scopes {
                    if !out.scopes.contains(s) {
                        out.scopes.push(s.clone());
                    }
                }
            }
            ScopeItem::Oidc(s) => {
                out.openid |= s == "openid";
                out.offline |= s == "offline_access";
            }
        }
    }
    if out.scopes.is_empty() {
        return Err(OAuthError::invalid_scope(
            70_011,
            format!(
                "The request names none of the API's scopes; ask for e.g. {}/{}.",
                inner.config.api_app_id_uri,
                inner
                    .config
                    .scopes
                    .first()
                    .map(String::as_str)
                    .unwrap_or(".default")
            ),
        ));
    }
    Ok(out)
}

pub(crate) fn is_api_resource(inner: &IssuerState, resource: &str) -> bool {
    let resource = resource.trim_end_matches('/');
    resource.eq_ignore_ascii_case(&inner.config.api_app_id_uri)
        || resource.eq_ignore_ascii_case(&inner.config.api_client_id)
}

pub(crate) fn internal(e: DevIssuerError) -> OAuthError {
    tracing::warn!(error = %e, "minting failed");
    OAuthError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        50_000,
        "entra-dev failed to sign the token",
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn params_reject_duplicates_and_treat_empty_as_absent() {
        let p = Params::parse("a=1&a=2&b=&c=x%20y");
        assert_eq!(p.get("a").unwrap_err().error(), "invalid_request");
        assert_eq!(p.get("b").unwrap(), None);
        assert_eq!(p.get("c").unwrap(), Some("x y"));
        assert_eq!(p.require("b").unwrap_err().error(), "invalid_request");
    }
}
