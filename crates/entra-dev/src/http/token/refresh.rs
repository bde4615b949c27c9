//! The refresh token grant: a refresh token (from a sign-in with `offline_access`) is exchanged once for
//! new tokens and a new refresh token (rotation); a rotated, revoked or expired one is `invalid_grant`.

use serde_json::Value;

use super::Request;
use crate::grants::RefreshRefusal;
use crate::http::oauth::{parse_scope, OAuthError, ScopeItem};

/// `grant_type=refresh_token` with `refresh_token`, `client_id` (and the client's credential if it is
/// confidential), and optionally `scope` (a subset of what was granted).
pub(super) fn grant(request: Request<'_>) -> Result<Value, OAuthError> {
    let (inner, params) = (request.inner, request.params);
    let caller = request.authenticate()?;
    let token = params.require("refresh_token")?;
    let mut sign_in = inner
        .refresh_tokens
        .redeem(
            token,
            &caller.client.client_id,
            inner.config.refresh_token_lifetime,
        )
        .map_err(|refusal| refused(refusal, &caller.client.client_id))?;
    if let Some(scope) = params.get("scope")? {
        let mut narrowed = Vec::new();
        for item in scope.split_whitespace() {
            if let ScopeItem::Api(s) = parse_scope(inner, item)? {
                if !sign_in.scopes.contains(&s) {
                    return Err(OAuthError::invalid_grant(
                        65_001,
                        format!(
                            "The user or administrator has not consented to use the application with \
                             ID '{}' for the scope '{s}': the refresh token grants {}. Sign the user in \
                             again asking for it.",
                            caller.client.client_id,
                            sign_in.scopes.join(", ")
                        ),
                    )
                    .with_suberror("consent_required"));
                }
                narrowed.push(s);
            }
        }
        if !narrowed.is_empty() {
            sign_in.scopes = narrowed;
        }
    }
    super::delegated::issue(inner, caller.calling(), &sign_in)
}

fn refused(refusal: RefreshRefusal, client_id: &str) -> OAuthError {
    match refusal {
        RefreshRefusal::Unknown => OAuthError::invalid_grant(
            9_002_313,
            "Invalid request. Request is malformed or invalid: the refresh token is unknown. Sign the \
             user in again.",
        ),
        RefreshRefusal::OtherClient => OAuthError::invalid_grant(
            70_000,
            format!(
                "Provided grant is invalid or malformed: the refresh token was issued to another client \
                 than '{client_id}'."
            ),
        ),
        RefreshRefusal::Rotated => OAuthError::invalid_grant(
            70_000,
            "Provided grant is invalid or malformed: this refresh token was already exchanged and \
             replaced by a newer one (rotation). Keep the refresh token of the latest answer.",
        ),
        RefreshRefusal::Revoked => OAuthError::invalid_grant(
            50_173,
            "The provided grant has expired due to it being revoked, a fresh auth token is needed. The \
             user might have changed or reset their password. Sign the user in again.",
        ),
        RefreshRefusal::Expired => OAuthError::invalid_grant(
            70_008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new \
             interactive authorization request for this user and resource.",
        ),
    }
}
