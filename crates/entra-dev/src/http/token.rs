//! The token endpoint (`oauth2/v2.0/token`, v1 `oauth2/token`, B2C): every grant, code redemption included.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use crate::error::DevIssuerError;
use crate::http::endpoint::{tenant_for_tokens, Endpoint};
use crate::http::oauth::{
    authenticate_client, internal, is_api_resource, json_response, no_store, parse_scope,
    OAuthError, Params, ScopeItem,
};
use crate::mint::{self, CallingClient};
use crate::request::{Subject, TokenRequest};
use crate::state::{CodeGrant, Counters, IssuerState, Redemption};

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

fn token_grant(
    inner: &IssuerState,
    ep: &Endpoint,
    v1: bool,
    headers: &HeaderMap,
    body: &str,
) -> Result<Value, OAuthError> {
    let params = Params::parse(body);
    let grant_type = params.require("grant_type")?;
    match grant_type {
        "client_credentials" => client_credentials(inner, ep, v1, &params, headers),
        "authorization_code" => redeem_code(inner, ep, &params, headers),
        other => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70_003,
            format!(
                "The app requested an unsupported grant type '{other}'. entra-dev supports \
                 'client_credentials' and 'authorization_code'."
            ),
        )),
    }
}

fn client_credentials(
    inner: &IssuerState,
    ep: &Endpoint,
    v1: bool,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Value, OAuthError> {
    let client = authenticate_client(inner, params, headers)?;
    if !client.is_confidential() {
        return Err(OAuthError::invalid_client(
            7_000_218,
            "The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'. Public clients cannot use the client_credentials grant.",
        ));
    }
    if v1 {
        let resource = params.require("resource")?;
        if !is_api_resource(inner, resource) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_resource",
                500_011,
                format!(
                    "The resource principal named {resource} was not found in the tenant. This \
                     development tenant's API is {}.",
                    inner.config.api_app_id_uri
                ),
            ));
        }
    } else {
        let scope = params.require("scope")?;
        let items: Vec<&str> = scope.split_whitespace().collect();
        let ok = items.len() == 1 && parse_scope(inner, items[0])? == ScopeItem::Default;
        if !ok {
            return Err(OAuthError::invalid_scope(
                1_002_012,
                format!(
                    "The provided value for scope {scope} is not valid. Client credential flows must \
                     have a scope value with /.default suffixed to the resource identifier \
                     (application ID URI), e.g. {}/.default.",
                    inner.config.api_app_id_uri
                ),
            ));
        }
    }
    let roles: Vec<String> = client
        .app_roles
        .iter()
        .filter(|r| inner.config.app_roles.contains(r))
        .cloned()
        .collect();
    let req = TokenRequest {
        subject: Subject::App {
            client_id: client.client_id.clone(),
        },
        version: inner.config.access_token_version,
        roles,
        tenant_id: Some(tenant_for_tokens(inner, ep)),
        b2c_policy: ep.policy.clone(),
        ..TokenRequest::default()
    };
    let token = mint::mint(
        inner,
        &req,
        Some(CallingClient {
            client_id: &client.client_id,
            confidential: true,
        }),
    )
    .map_err(internal)?;
    let lifetime = inner.config.token_lifetime.as_secs();
    let mut out = Map::new();
    out.insert("token_type".into(), json!("Bearer"));
    out.insert("expires_in".into(), json!(lifetime));
    out.insert("ext_expires_in".into(), json!(lifetime));
    if v1 {
        let now = crate::keys::unix_secs(SystemTime::now());
        out.insert("expires_on".into(), json!((now + lifetime).to_string()));
        out.insert(
            "resource".into(),
            json!(params.get("resource")?.unwrap_or_default()),
        );
    }
    out.insert("access_token".into(), json!(token));
    Ok(Value::Object(out))
}

/// The authorization code grant at the token endpoint.
pub(crate) fn redeem_code(
    inner: &IssuerState,
    ep: &Endpoint,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Value, OAuthError> {
    let client = authenticate_client(inner, params, headers)?;
    let code = params.require("code")?;
    let redirect_uri = params.require("redirect_uri")?;
    let verifier = params.get("code_verifier")?;
    let grant = match inner.codes.redeem(code, &client.client_id) {
        Redemption::Redeemed(grant) => grant,
        Redemption::Unknown => return Err(OAuthError::invalid_grant(
            9_002_313,
            "Invalid request. Request is malformed or invalid: the authorization code is unknown.",
        )),
        Redemption::OtherClient => {
            return Err(OAuthError::invalid_grant(
                70_000,
                "Provided grant is invalid or malformed: the code was issued to another client.",
            ))
        }
        Redemption::AlreadyRedeemed => return Err(OAuthError::invalid_grant(
            54_005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code \
                 or use an existing refresh token.",
        )),
    };
    if SystemTime::now() >= grant.issued_at + inner.config.code_lifetime {
        return Err(OAuthError::invalid_grant(
            70_008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new \
             interactive authorization request for this user and resource.",
        ));
    }
    if grant.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            70_000,
            "Provided grant is invalid or malformed: redirect_uri does not match the one of the \
             authorization request.",
        ));
    }
    if let Some(challenge) = &grant.code_challenge {
        let Some(verifier) = verifier else {
            return Err(OAuthError::missing("code_verifier"));
        };
        if s256(verifier) != *challenge {
            return Err(OAuthError::invalid_grant(
                501_481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization \
                 request.",
            ));
        }
    }
    if let Some(scope) = params.get("scope")? {
        for item in scope.split_whitespace() {
            parse_scope(inner, item)?;
        }
    }
    let calling = CallingClient {
        client_id: &client.client_id,
        confidential: client.is_confidential(),
    };
    let tid = tenant_for_tokens(inner, ep);
    let req = TokenRequest {
        subject: Subject::User(grant.username.clone()),
        version: inner.config.access_token_version,
        scopes: grant.scopes.clone(),
        tenant_id: Some(tid.clone()),
        b2c_policy: grant.policy.clone(),
        ..TokenRequest::default()
    };
    let token = mint::mint(inner, &req, Some(calling)).map_err(internal)?;
    let lifetime = inner.config.token_lifetime.as_secs();
    let scope_out: Vec<String> = grant
        .scopes
        .iter()
        .map(|s| format!("{}/{s}", inner.config.api_app_id_uri))
        .collect();
    let mut out = Map::new();
    out.insert("token_type".into(), json!("Bearer"));
    out.insert("scope".into(), json!(scope_out.join(" ")));
    out.insert("expires_in".into(), json!(lifetime));
    out.insert("ext_expires_in".into(), json!(lifetime));
    out.insert("access_token".into(), json!(token));
    if grant.openid {
        let id_token = id_token(inner, &grant, &client.client_id, &tid).map_err(internal)?;
        out.insert("id_token".into(), json!(id_token));
    }
    Ok(Value::Object(out))
}

fn id_token(
    inner: &IssuerState,
    grant: &CodeGrant,
    client_id: &str,
    tid: &str,
) -> Result<String, DevIssuerError> {
    let user = mint::resolve_user(inner, &grant.username);
    let now = crate::keys::unix_secs(SystemTime::now());
    let iss = match grant.policy {
        Some(_) => format!("{}{tid}/v2.0/", inner.instance),
        None => format!("{}{tid}/v2.0", inner.instance),
    };
    let mut c = Map::new();
    c.insert("aud".into(), json!(client_id));
    c.insert("iss".into(), json!(iss));
    c.insert("iat".into(), json!(now));
    c.insert("nbf".into(), json!(now));
    c.insert(
        "exp".into(),
        json!(now + inner.config.token_lifetime.as_secs()),
    );
    c.insert("name".into(), json!(user.name));
    c.insert("oid".into(), json!(user.oid));
    c.insert("preferred_username".into(), json!(user.username));
    c.insert(
        "sub".into(),
        json!(mint::pairwise_sub(&user.oid, client_id)),
    );
    c.insert("tid".into(), json!(tid));
    c.insert("ver".into(), json!("2.0"));
    if let Some(n) = &grant.nonce {
        c.insert("nonce".into(), json!(n));
    }
    mint::sign_claims(inner, &c)
}

/// base64url(SHA-256(verifier)), the PKCE S256 transform.
pub(crate) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
