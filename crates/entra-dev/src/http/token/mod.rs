//! The token endpoint (`oauth2/v2.0/token`, v1 `oauth2/token`, B2C): the request's way in, the grant
//! dispatch and the success body every grant shares; one module per grant.

mod client_credentials;
mod code;
mod delegated;
mod device_code;
mod obo;
mod refresh;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::http::client_auth::{authenticate_client, AuthenticatedClient};
use crate::http::endpoint::Endpoint;
use crate::http::oauth::{json_response, no_store, OAuthError, Params};
use crate::request::GrantKind;
use crate::state::{Counters, IssuerState};

/// `POST {tenant}/oauth2/v2.0/token` (and the B2C `{tenant}/{policy}/oauth2/v2.0/token`).
pub(crate) async fn token_v2(
    State(state): State<Arc<IssuerState>>,
    ep: Result<Endpoint, OAuthError>,
    headers: HeaderMap,
    body: String,
) -> Response {
    token_endpoint(state, ep, false, headers, body).await
}

/// `POST {tenant}/oauth2/token` (v1: `resource` instead of `scope`, `expires_on`).
pub(crate) async fn token_v1(
    State(state): State<Arc<IssuerState>>,
    ep: Result<Endpoint, OAuthError>,
    headers: HeaderMap,
    body: String,
) -> Response {
    token_endpoint(state, ep, true, headers, body).await
}

async fn token_endpoint(
    state: Arc<IssuerState>,
    ep: Result<Endpoint, OAuthError>,
    v1: bool,
    headers: HeaderMap,
    body: String,
) -> Response {
    Counters::bump(&state.counters.token);
    let result = match ep {
        Ok(ep) => {
            // Signing costs a millisecond or two of CPU; keep it off the async workers.
            let inner = Arc::clone(&state);
            match tokio::task::spawn_blocking(move || token_grant(&inner, &ep, v1, &headers, &body))
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "token task failed");
                    Err(OAuthError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "server_error",
                        50_000,
                        "entra-dev failed to issue the token",
                    ))
                }
            }
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(body) => {
            Counters::bump(&state.counters.issued);
            no_store(json_response(StatusCode::OK, &body))
        }
        Err(e) => e.into_response(),
    }
}

/// One token request, as every grant reads it: the issuer, the endpoint it came to (tenant, B2C
/// policy), whether it is the v1 endpoint, its form and its headers (client authentication).
#[derive(Clone, Copy)]
struct Request<'a> {
    inner: &'a IssuerState,
    ep: &'a Endpoint,
    v1: bool,
    params: &'a Params,
    headers: &'a HeaderMap,
}

impl<'a> Request<'a> {
    /// The calling client, authenticated by its secret, assertion or Basic header (or a public one).
    fn authenticate(self) -> Result<AuthenticatedClient<'a>, OAuthError> {
        authenticate_client(self.inner, self.ep, self.params, self.headers)
    }
}

fn token_grant(
    inner: &IssuerState,
    ep: &Endpoint,
    v1: bool,
    headers: &HeaderMap,
    body: &str,
) -> Result<Value, OAuthError> {
    let params = Params::parse(body);
    let grant_type = params.require("grant_type")?;
    let request = Request {
        inner,
        ep,
        v1,
        params: &params,
        headers,
    };
    match grant_type {
        "client_credentials" => {
            inner.counters.grant(GrantKind::ClientCredentials);
            client_credentials::grant(request)
        }
        "authorization_code" => {
            inner.counters.grant(GrantKind::AuthorizationCode);
            code::grant(request)
        }
        obo::GRANT_TYPE => {
            inner.counters.grant(GrantKind::OnBehalfOf);
            obo::grant(request)
        }
        device_code::GRANT_TYPE => {
            inner.counters.grant(GrantKind::DeviceCode);
            device_code::grant(request)
        }
        "refresh_token" => {
            inner.counters.grant(GrantKind::RefreshToken);
            refresh::grant(request)
        }
        other => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70_003,
            format!(
                "The app requested an unsupported grant type '{other}'. entra-dev supports \
                 'client_credentials', 'authorization_code', 'refresh_token', '{}' (device code) and \
                 '{}' (on-behalf-of).",
                device_code::GRANT_TYPE,
                obo::GRANT_TYPE
            ),
        )),
    }
}

/// The fields every successful token answer shares: `token_type`, `expires_in`, `ext_expires_in`,
/// `refresh_in` (half the lifetime, for tokens at least [`crate::DevIssuerConfig::refresh_in_min_lifetime`]
/// long) and `access_token`.
pub(super) fn bearer_answer(inner: &IssuerState, access_token: String) -> Map<String, Value> {
    let lifetime = inner.config.token_lifetime.as_secs();
    let mut out = Map::new();
    out.insert("token_type".into(), json!("Bearer"));
    out.insert("expires_in".into(), json!(lifetime));
    out.insert("ext_expires_in".into(), json!(lifetime));
    if inner
        .config
        .refresh_in_min_lifetime
        .is_some_and(|min| inner.config.token_lifetime >= min)
    {
        out.insert("refresh_in".into(), json!(lifetime / 2));
    }
    out.insert("access_token".into(), json!(access_token));
    out
}
