//! The public documents: OpenID metadata (v2, v1, B2C), key sets (v2 with `issuer`, v1, B2C), the index page
//! and the request counters at `/stats`.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{json, Value};

use crate::http::endpoint::{Endpoint, TENANT_TEMPLATE};
use crate::http::oauth::{json_response, OAuthError};
use crate::http::page::escape;
use crate::request::TokenVersion;
use crate::state::{Counters, IssuerState};

/// `{tenant}/v2.0/.well-known/openid-configuration` and the B2C `{tenant}/{policy}/v2.0/...` document.
pub(crate) async fn metadata_v2(
    State(state): State<Arc<IssuerState>>,
    ep: Result<Endpoint, OAuthError>,
) -> Response {
    serve_metadata(&state, ep, TokenVersion::V2)
}

/// `{tenant}/.well-known/openid-configuration` (v1).
pub(crate) async fn metadata_v1(
    State(state): State<Arc<IssuerState>>,
    ep: Result<Endpoint, OAuthError>,
) -> Response {
    serve_metadata(&state, ep, TokenVersion::V1)
}

/// `{tenant}/discovery/v2.0/keys` (with `issuer`) and the B2C `{tenant}/{policy}/discovery/v2.0/keys`.
pub(crate) async fn keys_v2(
    State(state): State<Arc<IssuerState>>,
    ep: Result<Endpoint, OAuthError>,
) -> Response {
    let shape = match &ep {
        Ok(Endpoint {
            policy: Some(_), ..
        }) => KeySetShape::B2c,
        _ => KeySetShape::V2,
    };
    serve_keys(&state, ep, shape)
}

/// `{tenant}/discovery/keys` (v1, no `issuer`).
pub(crate) async fn keys_v1(
    State(state): State<Arc<IssuerState>>,
    ep: Result<Endpoint, OAuthError>,
) -> Response {
    serve_keys(&state, ep, KeySetShape::V1)
}

fn outage() -> Response {
    json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({
            "error": "temporarily_unavailable",
            "error_description": "entra-dev: simulated identity provider outage (set_outage(true))",
        }),
    )
}

/// The request counters as JSON: load tests read `key_requests` before and after a run to prove
/// that the service under test fetched no keys on its request path.
pub(crate) async fn stats(State(state): State<Arc<IssuerState>>) -> Response {
    let s = state.counters.snapshot();
    axum::Json(json!({
        "metadata_requests": s.metadata_requests,
        "key_requests": s.key_requests,
        "token_requests": s.token_requests,
        "tokens_issued": s.tokens_issued,
        "authorize_requests": s.authorize_requests,
        "client_credentials_requests": s.client_credentials_requests,
        "authorization_code_requests": s.authorization_code_requests,
        "on_behalf_of_requests": s.on_behalf_of_requests,
        "device_code_requests": s.device_code_requests,
        "refresh_token_requests": s.refresh_token_requests,
        "device_authorization_requests": s.device_authorization_requests,
        "managed_identity_requests": s.managed_identity_requests,
    }))
    .into_response()
}

pub(crate) async fn index(State(state): State<Arc<IssuerState>>) -> Html<String> {
    let inner = &*state;
    let tid = &inner.config.tenant_id;
    let base = &inner.instance;
    let b2c = format!(
        "{base}{}.onmicrosoft.com/B2C_1_signupsignin",
        inner.config.b2c_tenant_name
    );
    let link = |u: String| {
        let e = escape(&u);
        format!("<li><a href=\"{e}\">{e}</a></li>")
    };
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>entra-dev (DEVELOPMENT ONLY)</title></head>\
         <body><h1>entra-dev: development issuer</h1>\
         <p><strong>DEVELOPMENT ONLY. Never trust these tokens in production.</strong></p><ul>{}{}{}{}{}{}</ul></body></html>",
        link(format!("{base}{tid}/v2.0/.well-known/openid-configuration")),
        link(format!("{base}{tid}/.well-known/openid-configuration")),
        link(format!("{base}{tid}/discovery/v2.0/keys")),
        link(format!("{base}common/v2.0/.well-known/openid-configuration")),
        link(format!("{b2c}/v2.0/.well-known/openid-configuration")),
        link(format!(
            "{base}{tid}/oauth2/v2.0/authorize?client_id={}&response_type=code&redirect_uri=http://127.0.0.1:1/&scope={}/weather.read&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
            crate::defaults::DEV_PUBLIC_CLIENT_ID,
            inner.config.api_app_id_uri
        )),
    ))
}

fn claims_supported() -> Value {
    json!([
        "sub",
        "iss",
        "cloud_instance_name",
        "cloud_instance_host_name",
        "cloud_graph_host_name",
        "msgraph_host",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "acr",
        "nonce",
        "preferred_username",
        "name",
        "tid",
        "ver",
        "at_hash",
        "c_hash",
        "email"
    ])
}

fn metadata_document(inner: &IssuerState, ep: &Endpoint, version: TokenVersion) -> Value {
    let base = ep.base(inner);
    let (issuer, oauth, jwks) = match (&ep.policy, version) {
        (Some(_), _) => (
            format!("{}{}/v2.0/", inner.instance, ep.issuer_tenant),
            format!("{base}/oauth2/v2.0"),
            format!("{base}/discovery/v2.0/keys"),
        ),
        (None, TokenVersion::V2) => (
            format!("{}{}/v2.0", inner.instance, ep.issuer_tenant),
            format!("{base}/oauth2/v2.0"),
            format!("{base}/discovery/v2.0/keys"),
        ),
        (None, TokenVersion::V1) => (
            format!("{}{}/", inner.instance, ep.issuer_tenant),
            format!("{base}/oauth2"),
            format!("{base}/discovery/keys"),
        ),
    };
    let host = inner.instance.host_str().unwrap_or("localhost").to_owned();
    let mut doc = json!({
        "token_endpoint": format!("{oauth}/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": jwks,
        "response_modes_supported": ["query"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": false,
        "authorization_endpoint": format!("{oauth}/authorize"),
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": [
            "authorization_code",
            "client_credentials",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code",
            "urn:ietf:params:oauth:grant-type:jwt-bearer"
        ],
        "http_logout_supported": false,
        "frontchannel_logout_supported": false,
        "claims_supported": claims_supported(),
        "tenant_region_scope": "DEV",
        "cloud_instance_name": host,
        "cloud_graph_host_name": host,
        "msgraph_host": host,
        "rbac_url": host,
        "x_entra_dev": "DEVELOPMENT ONLY: tokens from this issuer must never be trusted in production",
    });
    if let (Some(m), None) = (doc.as_object_mut(), &ep.policy) {
        m.insert(
            "device_authorization_endpoint".into(),
            json!(format!("{oauth}/devicecode")),
        );
        if version == TokenVersion::V1 {
            m.insert("microsoft_multi_refresh_token".into(), json!(true));
        }
    }
    doc
}

/// The shape of a key set document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeySetShape {
    /// `discovery/v2.0/keys`: with `issuer`.
    V2,
    /// `discovery/keys`: no `issuer`.
    V1,
    /// B2C: `kid`, `nbf`, `use`, `kty`, `e`, `n`.
    B2c,
}

pub(crate) fn key_set_document(inner: &IssuerState, shape: KeySetShape) -> Value {
    let ring = inner.read_keys();
    let host = inner.instance.host_str().unwrap_or("localhost").to_owned();
    let keys: Vec<Value> = ring
        .published(SystemTime::now(), inner.config.key_grace_period)
        .into_iter()
        .map(|k| match shape {
            KeySetShape::B2c => json!({
                "kid": k.kid, "nbf": k.created_at, "use": "sig", "kty": "RSA", "e": k.e, "n": k.n,
            }),
            KeySetShape::V1 => json!({
                "kty": "RSA", "use": "sig", "kid": k.kid, "x5t": k.x5t, "n": k.n, "e": k.e,
                "x5c": [k.x5c()],
            }),
            KeySetShape::V2 => json!({
                "kty": "RSA", "use": "sig", "kid": k.kid, "x5t": k.x5t, "n": k.n, "e": k.e,
                "x5c": [k.x5c()], "cloud_instance_name": host,
                "issuer": format!("{}{}/v2.0", inner.instance, TENANT_TEMPLATE),
            }),
        })
        .collect();
    json!({ "keys": keys })
}

fn serve_metadata(
    inner: &IssuerState,
    ep: Result<Endpoint, OAuthError>,
    version: TokenVersion,
) -> Response {
    Counters::bump(&inner.counters.metadata);
    if inner.is_down() {
        return outage();
    }
    match ep {
        Ok(ep) => json_response(StatusCode::OK, &metadata_document(inner, &ep, version)),
        Err(e) => e.into_response(),
    }
}

fn serve_keys(
    inner: &IssuerState,
    ep: Result<Endpoint, OAuthError>,
    shape: KeySetShape,
) -> Response {
    Counters::bump(&inner.counters.keys);
    if inner.is_down() {
        return outage();
    }
    if let Err(e) = ep {
        return e.into_response();
    }
    match inner.key_override() {
        Some(body) => {
            let mut res = (StatusCode::OK, body).into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            res
        }
        None => json_response(StatusCode::OK, &key_set_document(inner, shape)),
    }
}
