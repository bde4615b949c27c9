//! The device authorization grant's user side (RFC 8628): the device authorization endpoint
//! (`{tenant}/oauth2/v2.0/devicecode`), and the verification page (`{instance}devicelogin`) where the
//! user enters the code and signs in as a test user, in the login page's look, CSP and escaping.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use rand::Rng as _;
use serde_json::json;

use crate::grants::{DeviceGrant, SignIn, UserCodeLookup};
use crate::http::endpoint::{tenant_for_tokens, Endpoint};
use crate::http::oauth::{json_response, no_store, requested_scopes, OAuthError, Params};
use crate::http::page::{error_page, escape, page, scope_choices, user_choices, with_page_policy};
use crate::mint;
use crate::state::{Counters, IssuerState};

/// The path of the verification page, relative to the instance.
pub(crate) const VERIFICATION_PATH: &str = "devicelogin";

/// User codes: nine characters without look-alikes (no 0/O, 1/I/L).
const USER_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// `POST {tenant}/oauth2/v2.0/devicecode` (and v1 `oauth2/devicecode`): `client_id` and `scope`.
pub(crate) async fn device_authorization(
    State(state): State<Arc<IssuerState>>,
    ep: Result<Endpoint, OAuthError>,
    _headers: HeaderMap,
    body: String,
) -> Response {
    Counters::bump(&state.counters.device_authorization);
    match start(&state, ep, &body) {
        Ok(answer) => no_store(json_response(StatusCode::OK, &answer)),
        Err(e) => e.into_response(),
    }
}

fn start(
    inner: &IssuerState,
    ep: Result<Endpoint, OAuthError>,
    body: &str,
) -> Result<serde_json::Value, OAuthError> {
    let ep = ep?;
    if ep.policy.is_some() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70_003,
            "Azure AD B2C does not support the device code flow.",
        ));
    }
    let params = Params::parse(body);
    let client_id = params.require("client_id")?;
    let client = inner.config.client(client_id).ok_or_else(|| {
        OAuthError::invalid_client(
            700_016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory 'entra-dev'. \
                 The development public client is {}.",
                crate::defaults::DEV_PUBLIC_CLIENT_ID
            ),
        )
    })?;
    let requested = requested_scopes(inner, params.require("scope")?)?;
    let user_code: String = {
        let mut rng = rand::thread_rng();
        (0..9)
            .map(|_| char::from(USER_CODE_ALPHABET[rng.gen_range(0..USER_CODE_ALPHABET.len())]))
            .collect()
    };
    let device_code = mint::random_b64(48);
    let lifetime = inner.config.device_code_lifetime;
    let interval = inner.config.device_poll_interval.as_secs();
    let sign_in = SignIn {
        client_id: client.client_id.clone(),
        username: String::new(),
        scopes: requested.scopes,
        openid: requested.openid,
        offline: requested.offline,
        nonce: None,
        policy: None,
        acrs: Vec::new(),
        tid: tenant_for_tokens(inner, &ep),
    };
    inner.devices.insert(
        device_code.clone(),
        DeviceGrant::new(
            user_code.clone(),
            sign_in,
            client.display_name.clone(),
            SystemTime::now() + lifetime,
            interval,
        ),
    );
    let uri = format!("{}{VERIFICATION_PATH}", inner.instance);
    tracing::debug!(client_id = %client.client_id, "issued a device code");
    Ok(json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": uri,
        "expires_in": lifetime.as_secs(),
        "interval": interval,
        "message": format!(
            "To sign in, use a web browser to open the page {uri} and enter the code {user_code} to \
             authenticate."
        ),
    }))
}

/// `GET {instance}devicelogin`: the page where the user enters the code.
pub(crate) async fn verification_get(State(state): State<Arc<IssuerState>>) -> Response {
    Counters::bump(&state.counters.authorize);
    with_page_policy(code_entry(&state, None).into_response())
}

/// `POST {instance}devicelogin`: the entered code (then the sign-in form), or the sign-in decision.
pub(crate) async fn verification_post(
    State(state): State<Arc<IssuerState>>,
    body: String,
) -> Response {
    Counters::bump(&state.counters.authorize);
    with_page_policy(verify(&state, &body))
}

fn code_entry(inner: &IssuerState, problem: Option<&str>) -> Html<String> {
    let action = format!("{}{VERIFICATION_PATH}", inner.instance);
    let problem = problem
        .map(|p| format!("<p id=\"error\">{}</p>", escape(p)))
        .unwrap_or_default();
    page(
        "Enter code",
        &format!(
            "<h1>Sign in a device to the development tenant</h1>{problem}\
             <form method=\"post\" action=\"{action}\">\
             <label>Code shown on your device <input type=\"text\" name=\"user_code\" \
             autocomplete=\"off\" autofocus></label>\
             <button type=\"submit\">Next</button></form>",
            action = escape(&action)
        ),
    )
}

fn verify(inner: &IssuerState, body: &str) -> Response {
    let params = Params::parse(body);
    let Some(user_code) = params.get("user_code").ok().flatten() else {
        return (
            StatusCode::BAD_REQUEST,
            code_entry(inner, Some("Enter the code shown on your device.")),
        )
            .into_response();
    };
    let grant = match inner.devices.lookup(user_code) {
        UserCodeLookup::Pending(grant) => grant,
        UserCodeLookup::Unknown => {
            return (
                StatusCode::BAD_REQUEST,
                code_entry(
                    inner,
                    Some("That code is not valid. Check the code on your device."),
                ),
            )
                .into_response()
        }
        UserCodeLookup::Expired => {
            return (
                StatusCode::BAD_REQUEST,
                code_entry(
                    inner,
                    Some("That code has expired. Start the sign-in again on your device."),
                ),
            )
                .into_response()
        }
        UserCodeLookup::Used => {
            return (
                StatusCode::BAD_REQUEST,
                code_entry(
                    inner,
                    Some("That code was already used. Start the sign-in again on your device."),
                ),
            )
                .into_response()
        }
    };
    match params.get("action").ok().flatten() {
        None => sign_in_form(inner, &grant).into_response(),
        Some("accept") => {
            let Some(user) = params
                .get("username")
                .ok()
                .flatten()
                .and_then(|u| inner.config.user(u))
            else {
                return (
                    StatusCode::BAD_REQUEST,
                    error_page("Pick a test user to sign in as."),
                )
                    .into_response();
            };
            let consented = params.all("consented_scope");
            let granted: Vec<String> = grant
                .requested
                .iter()
                .filter(|s| consented.contains(&s.as_str()))
                .cloned()
                .collect();
            if granted.is_empty() {
                return (
                    StatusCode::BAD_REQUEST,
                    error_page("Consent to at least one permission, or press Cancel."),
                )
                    .into_response();
            }
            if !inner
                .devices
                .decide(user_code, Some((user.username.clone(), granted)))
            {
                return (
                    StatusCode::BAD_REQUEST,
                    code_entry(
                        inner,
                        Some("That code can no longer be used. Start again on your device."),
                    ),
                )
                    .into_response();
            }
            tracing::debug!(user = %user.username, "approved a device code");
            done(&format!(
                "You have signed in to {} as {} on your device. You may now close this window.",
                grant.client_name, user.display_name
            ))
            .into_response()
        }
        Some(_) => {
            inner.devices.decide(user_code, None);
            done("Sign-in declined. The device will be told; you may now close this window.")
                .into_response()
        }
    }
}

fn sign_in_form(inner: &IssuerState, grant: &DeviceGrant) -> Html<String> {
    let action = format!("{}{VERIFICATION_PATH}", inner.instance);
    page(
        "Sign in",
        &format!(
            "<h1>Sign in to the development tenant</h1>\
             <p><strong>{client}</strong> (<code>{client_id}</code>) on your device wants to call \
             <code>{api}</code> on your behalf.</p>\
             <form method=\"post\" action=\"{action}\">\
             <input type=\"hidden\" name=\"user_code\" value=\"{code}\">\
             <fieldset><legend>Pick a test user</legend>{users}</fieldset>\
             <fieldset><legend>Consent to these permissions</legend>{scopes}</fieldset>\
             <button type=\"submit\" name=\"action\" value=\"accept\">Sign in and accept</button>\
             <button type=\"submit\" name=\"action\" value=\"cancel\">Cancel</button></form>",
            client = escape(&grant.client_name),
            client_id = escape(&grant.sign_in.client_id),
            api = escape(&inner.config.api_app_id_uri),
            action = escape(&action),
            code = escape(&grant.user_code),
            users = user_choices(&inner.config.users, ""),
            scopes = scope_choices(&grant.requested),
        ),
    )
}

fn done(message: &str) -> Html<String> {
    page(
        "Signed in",
        &format!(
            "<h1>Device sign-in</h1><p id=\"done\">{}</p>",
            escape(message)
        ),
    )
}
