//! The control endpoints of the development issuer: `GET`/`PUT {instance}control/switches` reads or
//! replaces every [`Switches`] value (outage, consent required, MFA demanded), and `POST
//! {instance}control/revoke` revokes a user's refresh tokens, so that tests, `entra-dev switches` and
//! `entra-dev revoke` can drive a running issuer. Like the rest of the issuer it trusts whoever can
//! reach it: it exists only because the issuer is a development tool on loopback.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::http::oauth::{json_response, no_store};
use crate::state::IssuerState;
use crate::switch::Switches;

/// `GET control/switches`: the switches as JSON.
pub(crate) async fn get_switches(State(state): State<Arc<IssuerState>>) -> Response {
    let body = serde_json::to_value(&*state.switches()).unwrap_or_else(|_| json!({}));
    no_store(json_response(StatusCode::OK, &body))
}

/// `PUT control/switches`: replaces the switches with the JSON body; answers the new switches, or 400
/// naming what is wrong.
pub(crate) async fn put_switches(State(state): State<Arc<IssuerState>>, body: String) -> Response {
    let refuse = |description: String| {
        no_store(json_response(
            StatusCode::BAD_REQUEST,
            &json!({ "error": "invalid_request", "error_description": description }),
        ))
    };
    let switches: Switches = match serde_json::from_str(&body) {
        Ok(s) => s,
        Err(e) => {
            return refuse(format!(
                "the body must be the switches document, e.g. {{\"outage\": false, \"consent_required\": \
                 [\"api://...\"], \"mfa_required\": [{{\"api\": \"api://...\", \"auth_context\": \"c1\"}}]}}: {e}"
            ))
        }
    };
    match state.set_switches(switches) {
        Ok(()) => get_switches(State(state)).await,
        Err(e) => refuse(e.to_string()),
    }
}

/// `POST control/revoke` with `{"user": "alice"}`: revokes every refresh token of the user (their next
/// use answers `invalid_grant` AADSTS50173); answers `{"user": ..., "revoked": n}`.
pub(crate) async fn revoke(State(state): State<Arc<IssuerState>>, body: String) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Revoke {
        user: String,
    }
    let request: Revoke = match serde_json::from_str(&body) {
        Ok(r) => r,
        Err(e) => {
            return no_store(json_response(
                StatusCode::BAD_REQUEST,
                &json!({
                    "error": "invalid_request",
                    "error_description": format!("the body must be {{\"user\": \"<user name>\"}}: {e}"),
                }),
            ))
        }
    };
    let username = state
        .config
        .user(&request.user)
        .map_or(request.user.clone(), |u| u.username.clone());
    let revoked = state.refresh_tokens.revoke_user(&username);
    tracing::info!(user = %username, revoked, "revoked refresh tokens");
    no_store(json_response(
        StatusCode::OK,
        &json!({ "user": username, "revoked": revoked }),
    ))
}
