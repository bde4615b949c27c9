//! The authorization endpoint: the login and consent page, and the authorization codes it issues
//! (redeemed by [`crate::http::token`]).

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::config::DevClient;
use crate::grants::SignIn;
use crate::http::endpoint::{tenant_for_tokens, Endpoint};
use crate::http::oauth::{requested_scopes, OAuthError, Params, Requested};
use crate::http::page::{error_page, escape, page, scope_choices, user_choices, with_page_policy};
use crate::mint;
use crate::state::{CodeGrant, Counters, IssuerState};

/// `GET {tenant}/oauth2/v2.0/authorize` (and v1, and B2C): the login page, or the request's error.
pub(crate) async fn authorize_get(
    State(state): State<Arc<IssuerState>>,
    ep: Result<Endpoint, OAuthError>,
    RawQuery(query): RawQuery,
) -> Response {
    with_page_policy(show(&state, ep, query.as_deref().unwrap_or("")))
}

/// `POST {tenant}/oauth2/v2.0/authorize`: the login form's answer, redirected to the client.
pub(crate) async fn authorize_post(
    State(state): State<Arc<IssuerState>>,
    ep: Result<Endpoint, OAuthError>,
    body: String,
) -> Response {
    with_page_policy(submit(&state, ep, &body))
}

/// A validated authorization request.
struct AuthorizeRequest {
    client: DevClient,
    redirect_uri: String,
    state: Option<String>,
    scope: String,
    scopes: Vec<String>,
    openid: bool,
    offline: bool,
    code_challenge: Option<String>,
    nonce: Option<String>,
    login_hint: Option<String>,
    acrs: Vec<String>,
}

/// Why an authorization request failed: before the redirect URI is trusted we must show a page, after it we
/// redirect with `error` (RFC 6749 §4.1.2.1).
enum Failure {
    Page(StatusCode, String),
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: Box<OAuthError>,
    },
}

impl Failure {
    fn page(e: &OAuthError) -> Self {
        Self::Page(StatusCode::BAD_REQUEST, e.description())
    }
}

fn validate(inner: &IssuerState, params: &Params) -> Result<AuthorizeRequest, Failure> {
    let client_id = params.require("client_id").map_err(|e| Failure::page(&e))?;
    let client = inner.config.client(client_id).ok_or_else(|| {
        Failure::Page(
            StatusCode::BAD_REQUEST,
            format!(
                "AADSTS700016: Application with identifier '{client_id}' was not found in the directory \
                 'entra-dev'. The development public client is {}.",
                crate::defaults::DEV_PUBLIC_CLIENT_ID
            ),
        )
    })?;
    let redirect_uri = params
        .require("redirect_uri")
        .map_err(|e| Failure::page(&e))?;
    if !client.allows_redirect(redirect_uri) {
        return Err(Failure::Page(
            StatusCode::BAD_REQUEST,
            format!(
                "AADSTS50011: The redirect URI '{redirect_uri}' specified in the request does not match \
                 the redirect URIs configured for the application '{}'. Public development clients may \
                 use any http://127.0.0.1:PORT/, http://localhost:PORT/ or http://[::1]:PORT/ URL.",
                client.client_id
            ),
        ));
    }
    let state = params.get("state").ok().flatten().map(str::to_owned);
    let redirect = |error: OAuthError| Failure::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        state: state.clone(),
        error: Box::new(error),
    };
    let response_type = params.require("response_type").map_err(redirect)?;
    if response_type != "code" {
        return Err(redirect(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
            700_054,
            format!("response_type '{response_type}' is not supported; entra-dev supports 'code'."),
        )));
    }
    if let Some(mode) = params.get("response_mode").map_err(redirect)? {
        if mode != "query" {
            return Err(redirect(OAuthError::invalid_request(
                900_144,
                format!("response_mode '{mode}' is not supported; entra-dev supports 'query'."),
            )));
        }
    }
    let challenge = params.get("code_challenge").map_err(redirect)?;
    let method = params.get("code_challenge_method").map_err(redirect)?;
    let code_challenge = match (challenge, method) {
        (None, _) if !client.is_confidential() => {
            return Err(redirect(OAuthError::invalid_request(
                9_002_325,
                "Proof Key for Code Exchange is required for public clients: send code_challenge \
                 and code_challenge_method=S256.",
            )))
        }
        (None, _) => None,
        (Some(c), Some("S256")) => {
            let well_formed = c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !well_formed {
                return Err(redirect(OAuthError::invalid_request(
                    501_491,
                    "Invalid size of Code_Challenge parameter: an S256 challenge is 43 base64url \
                     characters.",
                )));
            }
            Some(c.to_owned())
        }
        (Some(_), m) => {
            return Err(redirect(OAuthError::invalid_request(
                5_000_751,
                format!(
                    "code_challenge_method '{}' is not supported; entra-dev only accepts S256.",
                    m.unwrap_or("plain")
                ),
            )))
        }
    };
    // v1 requests name a `resource` instead of scopes: that means every scope of the resource.
    let resource_scope;
    let scope = match params.get("scope").map_err(redirect)? {
        Some(s) => s,
        None => match params.get("resource").map_err(redirect)? {
            Some(resource) => {
                resource_scope = format!("{}/.default", resource.trim_end_matches('/'));
                resource_scope.as_str()
            }
            None => return Err(redirect(OAuthError::missing("scope"))),
        },
    };
    let Requested {
        scopes,
        openid,
        offline,
    } = requested_scopes(inner, scope).map_err(redirect)?;
    let acrs = match params.get("claims").map_err(redirect)? {
        Some(claims) => requested_acrs(claims).map_err(redirect)?,
        None => Vec::new(),
    };
    Ok(AuthorizeRequest {
        client: client.clone(),
        redirect_uri: redirect_uri.to_owned(),
        state,
        scope: scope.to_owned(),
        scopes,
        openid,
        offline,
        code_challenge,
        nonce: params.get("nonce").ok().flatten().map(str::to_owned),
        login_hint: params.get("login_hint").ok().flatten().map(str::to_owned),
        acrs,
    })
}

/// The authentication contexts a `claims` request parameter asks for (a claims challenge passed on by the
/// client: `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`, or `"values": [...]`). The
/// development sign-in satisfies them without a second factor; other requested claims are ignored.
fn requested_acrs(claims: &str) -> Result<Vec<String>, OAuthError> {
    let doc: serde_json::Value = serde_json::from_str(claims).map_err(|e| {
        OAuthError::invalid_request(
            90_014,
            format!("The claims parameter is not a valid JSON object ({e})."),
        )
    })?;
    let acrs = &doc["access_token"]["acrs"];
    let mut out: Vec<String> = Vec::new();
    if let Some(v) = acrs["value"].as_str() {
        out.push(v.to_owned());
    }
    if let Some(values) = acrs["values"].as_array() {
        out.extend(values.iter().filter_map(|v| v.as_str().map(str::to_owned)));
    }
    Ok(out)
}

fn failure_response(f: Failure) -> Response {
    match f {
        Failure::Page(status, message) => (status, error_page(&message)).into_response(),
        Failure::Redirect {
            redirect_uri,
            state,
            error,
        } => {
            let mut pairs = vec![
                ("error", error.error().to_owned()),
                ("error_description", error.description()),
            ];
            if let Some(s) = state {
                pairs.push(("state", s));
            }
            redirect_to(&redirect_uri, &pairs)
        }
    }
}

fn redirect_to(redirect_uri: &str, pairs: &[(&str, String)]) -> Response {
    let location = match url::Url::parse(redirect_uri) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => redirect_uri.to_owned(),
    };
    let mut res = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn login_page(
    inner: &IssuerState,
    ep: &Endpoint,
    req: &AuthorizeRequest,
    params: &Params,
) -> Html<String> {
    let action = format!("{}/oauth2/v2.0/authorize", ep.base(inner));
    let mut hidden = String::new();
    for name in [
        "client_id",
        "redirect_uri",
        "response_type",
        "response_mode",
        "scope",
        "resource",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "claims",
    ] {
        if let Ok(Some(v)) = params.get(name) {
            hidden.push_str(&format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(v)
            ));
        }
    }
    let users = user_choices(&inner.config.users, req.login_hint.as_deref().unwrap_or(""));
    let scopes = scope_choices(&req.scopes);
    page(
        "Sign in",
        &format!(
            "<h1>Sign in to the development tenant</h1>\
             <p><strong>{client}</strong> (<code>{client_id}</code>) wants to call <code>{api}</code> on \
             your behalf.</p>\
             <form method=\"post\" action=\"{action}\">{hidden}\
             <fieldset><legend>Pick a test user</legend>{users}</fieldset>\
             <fieldset><legend>Consent to these permissions</legend>{scopes}</fieldset>\
             <button type=\"submit\" name=\"action\" value=\"accept\">Sign in and accept</button>\
             <button type=\"submit\" name=\"action\" value=\"cancel\">Cancel</button></form>\
             <p>After sign-in you are sent back to <code>{redirect}</code> with a one-time code.</p>{step_up}",
            client = escape(&req.client.display_name),
            client_id = escape(&req.client.client_id),
            api = escape(&inner.config.api_app_id_uri),
            action = escape(&action),
            redirect = escape(&req.redirect_uri),
            step_up = if req.acrs.is_empty() {
                String::new()
            } else {
                format!(
                    "<p id=\"step-up\">The application asks for a stronger sign-in (authentication \
                     context <code>{}</code>). entra-dev asks for no second factor: the token will \
                     carry it.</p>",
                    escape(&req.acrs.join(", "))
                )
            },
        ),
    )
}

fn show(inner: &IssuerState, ep: Result<Endpoint, OAuthError>, query: &str) -> Response {
    Counters::bump(&inner.counters.authorize);
    let ep = match ep {
        Ok(ep) => ep,
        Err(e) => return (StatusCode::BAD_REQUEST, error_page(&e.description())).into_response(),
    };
    let params = Params::parse(query);
    match validate(inner, &params) {
        Ok(req) => login_page(inner, &ep, &req, &params).into_response(),
        Err(f) => failure_response(f),
    }
}

fn submit(inner: &IssuerState, ep: Result<Endpoint, OAuthError>, body: &str) -> Response {
    Counters::bump(&inner.counters.authorize);
    let ep = match ep {
        Ok(ep) => ep,
        Err(e) => return (StatusCode::BAD_REQUEST, error_page(&e.description())).into_response(),
    };
    let params = Params::parse(body);
    let req = match validate(inner, &params) {
        Ok(req) => req,
        Err(f) => return failure_response(f),
    };
    let mut back = Vec::new();
    if let Some(s) = &req.state {
        back.push(("state", s.clone()));
    }
    let deny = |description: &str| {
        let e = OAuthError::new(
            StatusCode::BAD_REQUEST,
            "access_denied",
            65_004,
            description,
        );
        let mut pairs = vec![
            ("error", e.error().to_owned()),
            ("error_description", e.description()),
        ];
        pairs.extend(back.iter().cloned());
        redirect_to(&req.redirect_uri, &pairs)
    };
    if params.get("action").ok().flatten() != Some("accept") {
        return deny("User declined to consent to access the app.");
    }
    let Some(username) = params.get("username").ok().flatten() else {
        return (
            StatusCode::BAD_REQUEST,
            error_page("Pick a test user to sign in as."),
        )
            .into_response();
    };
    let Some(user) = inner.config.user(username) else {
        return (
            StatusCode::BAD_REQUEST,
            error_page(&format!(
                "There is no test user '{username}' in the development tenant."
            )),
        )
            .into_response();
    };
    let consented = params.all("consented_scope");
    let granted: Vec<String> = req
        .scopes
        .iter()
        .filter(|s| consented.contains(&s.as_str()))
        .cloned()
        .collect();
    if granted.is_empty() {
        return deny("The user consented to none of the requested permissions.");
    }
    let code = mint::random_b64(32);
    let grant = CodeGrant {
        sign_in: SignIn {
            client_id: req.client.client_id.clone(),
            username: user.username.clone(),
            scopes: granted,
            openid: req.openid,
            offline: req.offline,
            nonce: req.nonce.clone(),
            policy: ep.policy.clone(),
            acrs: req.acrs.clone(),
            tid: tenant_for_tokens(inner, &ep),
        },
        redirect_uri: req.redirect_uri.clone(),
        code_challenge: req.code_challenge.clone(),
        issued_at: SystemTime::now(),
        redeemed: false,
    };
    inner
        .codes
        .insert(code.clone(), grant, inner.config.code_lifetime);
    tracing::debug!(client_id = %req.client.client_id, user = %user.username, scope = %req.scope, "issued an authorization code");
    let mut pairs = vec![("code", code)];
    pairs.extend(back);
    redirect_to(&req.redirect_uri, &pairs)
}
