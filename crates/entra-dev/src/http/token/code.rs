//! The authorization code grant (PKCE S256), with an ID token when `openid` was granted.

use std::time::SystemTime;

use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use crate::error::DevIssuerError;
use crate::http::client_auth::authenticate_client;
use crate::http::endpoint::{tenant_for_tokens, Endpoint};
use crate::http::oauth::{internal, parse_scope, OAuthError, Params};
use crate::mint;
use crate::request::{Subject, TokenRequest};
use crate::state::{CodeGrant, IssuerState, Redemption};

/// `grant_type=authorization_code`: redeems a code from the login page.
pub(super) fn grant(
    inner: &IssuerState,
    ep: &Endpoint,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Value, OAuthError> {
    let authenticated = authenticate_client(inner, ep, params, headers)?;
    let client = authenticated.client;
    let code = params.require("code")?;
    let redirect_uri = params.require("redirect_uri")?;
    let verifier = params.get("code_verifier")?;
    let grant = match inner.codes.redeem(code, &client.client_id) {
        Redemption::Redeemed(grant) => *grant,
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
    let calling = authenticated.calling();
    let tid = tenant_for_tokens(inner, ep);
    let req = TokenRequest {
        subject: Subject::User(grant.username.clone()),
        version: inner.config.access_token_version,
        scopes: grant.scopes.clone(),
        tenant_id: Some(tid.clone()),
        b2c_policy: grant.policy.clone(),
        extra_claims: if grant.acrs.is_empty() {
            Map::new()
        } else {
            Map::from_iter([("acrs".to_owned(), json!(grant.acrs))])
        },
        ..TokenRequest::default()
    };
    let token = mint::mint(inner, &req, Some(calling)).map_err(internal)?;
    let scope_out: Vec<String> = grant
        .scopes
        .iter()
        .map(|s| format!("{}/{s}", inner.config.api_app_id_uri))
        .collect();
    let mut out = super::bearer_answer(inner, token);
    out.insert("scope".into(), json!(scope_out.join(" ")));
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
