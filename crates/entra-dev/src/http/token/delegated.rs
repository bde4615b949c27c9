//! Tokens for a user's sign-in, whichever grant redeems it (authorization code, device code, refresh
//! token): the access token, the granted scopes, an ID token with `openid`, a rotated refresh token with
//! `offline_access`.

use std::time::SystemTime;

use serde_json::{json, Map, Value};

use crate::error::DevIssuerError;
use crate::grants::SignIn;
use crate::http::oauth::{internal, OAuthError};
use crate::mint::{self, CallingClient};
use crate::request::{Subject, TokenRequest};
use crate::state::IssuerState;

/// The token answer for `sign_in`, issued to `calling`.
pub(super) fn issue(
    inner: &IssuerState,
    calling: CallingClient<'_>,
    sign_in: &SignIn,
) -> Result<Value, OAuthError> {
    let req = TokenRequest {
        subject: Subject::User(sign_in.username.clone()),
        version: inner.config.access_token_version,
        scopes: sign_in.scopes.clone(),
        tenant_id: Some(sign_in.tid.clone()),
        b2c_policy: sign_in.policy.clone(),
        extra_claims: if sign_in.acrs.is_empty() {
            Map::new()
        } else {
            Map::from_iter([("acrs".to_owned(), json!(sign_in.acrs))])
        },
        ..TokenRequest::default()
    };
    let token = mint::mint(inner, &req, Some(calling)).map_err(internal)?;
    let scope_out: Vec<String> = sign_in
        .scopes
        .iter()
        .map(|s| format!("{}/{s}", inner.config.api_app_id_uri))
        .collect();
    let mut out = super::bearer_answer(inner, token);
    out.insert("scope".into(), json!(scope_out.join(" ")));
    if sign_in.openid {
        let id_token = id_token(inner, sign_in).map_err(internal)?;
        out.insert("id_token".into(), json!(id_token));
    }
    if sign_in.offline {
        let refresh_token = mint::random_b64(48);
        inner.refresh_tokens.insert(
            refresh_token.clone(),
            sign_in.clone(),
            inner.config.refresh_token_lifetime,
        );
        out.insert("refresh_token".into(), json!(refresh_token));
    }
    Ok(Value::Object(out))
}

fn id_token(inner: &IssuerState, grant: &SignIn) -> Result<String, DevIssuerError> {
    let client_id = grant.client_id.as_str();
    let tid = grant.tid.as_str();
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
