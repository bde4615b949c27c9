//! The authorization code grant (PKCE S256), with an ID token when `openid` was granted.

use std::time::SystemTime;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::Request;
use crate::http::oauth::{parse_scope, OAuthError};
use crate::state::Redemption;

/// `grant_type=authorization_code`: redeems a code from the login page.
pub(super) fn grant(request: Request<'_>) -> Result<Value, OAuthError> {
    let (inner, params) = (request.inner, request.params);
    let authenticated = request.authenticate()?;
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
    super::delegated::issue(inner, authenticated.calling(), &grant.sign_in)
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
