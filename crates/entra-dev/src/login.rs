//! The authorization endpoint: a small HTML login and consent page, authorization codes, and their redemption
//! (authorization code grant with PKCE S256).

use std::time::{Duration, SystemTime};

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::issuer::{DevClient, DevIssuer, Inner, Subject, TokenRequest};
use crate::mint::{self, CallingClient};
use crate::routes::{
    authenticate_client, internal, parse_scope, resolve_b2c, resolve_tenant, s256,
    tenant_for_tokens, Endpoint, OAuthError, Params, ScopeItem,
};

/// How long redeemed or expired codes are remembered (to answer "already redeemed" / "expired" precisely).
const CODE_MEMORY: Duration = Duration::from_secs(3600);

/// An issued authorization code.
#[derive(Clone, Debug)]
pub(crate) struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    username: String,
    scopes: Vec<String>,
    openid: bool,
    nonce: Option<String>,
    code_challenge: Option<String>,
    policy: Option<String>,
    issued_at: SystemTime,
    redeemed: bool,
}

/// The login and error pages' own `Content-Security-Policy`: their inline style and nothing else (no script,
/// no framing). A host that sets a default policy on HTML answers only where none is present (weather-api's
/// security headers) keeps this one, so the page keeps its look, including the DEVELOPMENT ONLY warning.
/// `form-action` stays open: the form's answer redirects to the client's redirect URI on another origin.
pub(crate) const PAGE_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

/// Adds [`PAGE_POLICY`] to an HTML answer (redirects are left as they are).
fn with_page_policy(mut response: Response) -> Response {
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_html {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        );
    }
    response
}

/// HTML-escapes text for element content and quoted attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Reverses [`escape`].
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of attribute `name` in one HTML tag, as the login page writes it (double-quoted, escaped).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// The sign-in form of the development issuer's login page, read back from the HTML it served.
///
/// It lets tests and headless clients play the browser in the authorization-code flow (pick a test
/// user, consent, submit) without an HTML parser. It reads only the page this crate writes.
///
/// ```
/// # use entra_dev::LoginForm;
/// let html = r#"<form method="post" action="http://127.0.0.1:1/t/oauth2/v2.0/authorize">
///   <input type="hidden" name="state" value="a&amp;b"><input type="radio" name="username" value="alice">
/// </form>"#;
/// let form = LoginForm::parse(html).expect("a login form");
/// assert_eq!(form.action(), "http://127.0.0.1:1/t/oauth2/v2.0/authorize");
/// assert_eq!(form.hidden_fields(), [("state".to_owned(), "a&b".to_owned())]);
/// assert_eq!(form.accept("bob", &["weather.read"]).last().map(|(k, v)| (k.as_str(), v.as_str())), Some(("action", "accept")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginForm {
    action: String,
    hidden: Vec<(String, String)>,
}

impl LoginForm {
    /// Reads the form's target and its hidden fields (client, redirect URI, state, PKCE challenge...)
    /// from a login page; `None` when `html` holds no such form.
    pub fn parse(html: &str) -> Option<Self> {
        let form_start = html.find("<form")?;
        let form_tag = &html[form_start..form_start + html[form_start..].find('>')?];
        let action = attribute(form_tag, "action")?;
        let mut hidden = Vec::new();
        for chunk in html[form_start..].split("<input").skip(1) {
            let tag = &chunk[..chunk.find('>')?];
            if attribute(tag, "type").as_deref() == Some("hidden") {
                hidden.push((attribute(tag, "name")?, attribute(tag, "value")?));
            }
        }
        Some(Self { action, hidden })
    }

    /// Where the form posts (the authorize endpoint of the same tenant or B2C policy path).
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The hidden fields carried from the authorization request.
    pub fn hidden_fields(&self) -> &[(String, String)] {
        &self.hidden
    }

    /// The form body that signs in as `username`, consenting to `consent` (a subset of the requested
    /// scopes), and accepts.
    pub fn accept(&self, username: &str, consent: &[&str]) -> Vec<(String, String)> {
        let mut body = self.hidden.clone();
        body.push(("username".to_owned(), username.to_owned()));
        body.extend(
            consent
                .iter()
                .map(|s| ("consented_scope".to_owned(), (*s).to_owned())),
        );
        body.push(("action".to_owned(), "accept".to_owned()));
        body
    }

    /// The form body of pressing "Cancel" (the client then receives `access_denied`).
    pub fn cancel(&self) -> Vec<(String, String)> {
        let mut body = self.hidden.clone();
        body.push(("action".to_owned(), "cancel".to_owned()));
        body
    }
}

/// A validated authorization request.
struct AuthorizeRequest {
    client: DevClient,
    redirect_uri: String,
    state: Option<String>,
    scope: String,
    scopes: Vec<String>,
    openid: bool,
    code_challenge: Option<String>,
    nonce: Option<String>,
    login_hint: Option<String>,
}

/// Why an authorization request failed: before the redirect URI is trusted we must show a page, after it we
/// redirect with `error` (RFC 6749 §4.1.2.1).
enum Failure {
    Page(StatusCode, String),
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

impl Failure {
    fn page(e: &OAuthError) -> Self {
        Self::Page(StatusCode::BAD_REQUEST, e.description())
    }
}

fn validate(inner: &Inner, params: &Params) -> Result<AuthorizeRequest, Failure> {
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
        error,
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
    let mut scopes: Vec<String> = Vec::new();
    let mut openid = false;
    for item in scope.split_whitespace() {
        match parse_scope(inner, item).map_err(redirect)? {
            ScopeItem::Api(s) => {
                if !scopes.contains(&s) {
                    scopes.push(s);
                }
            }
            ScopeItem::Default => {
                for s in &inner.config.scopes {
                    if !scopes.contains(s) {
                        scopes.push(s.clone());
                    }
                }
            }
            ScopeItem::Oidc(s) => openid |= s == "openid",
        }
    }
    if scopes.is_empty() {
        return Err(redirect(OAuthError::invalid_scope(
            70_011,
            format!(
                "The request names none of the API's scopes; ask for e.g. {}/{}.",
                inner.config.api_app_id_uri,
                inner
                    .config
                    .scopes
                    .first()
                    .map(String::as_str)
                    .unwrap_or(".default")
            ),
        )));
    }
    Ok(AuthorizeRequest {
        client: client.clone(),
        redirect_uri: redirect_uri.to_owned(),
        state,
        scope: scope.to_owned(),
        scopes,
        openid,
        code_challenge,
        nonce: params.get("nonce").ok().flatten().map(str::to_owned),
        login_hint: params.get("login_hint").ok().flatten().map(str::to_owned),
    })
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

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} - entra-dev</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#222}}\
         .warn{{background:#fff3cd;border:1px solid #e0c060;padding:.5rem .75rem;border-radius:4px}}\
         fieldset{{margin:1rem 0;border:1px solid #ccc;border-radius:4px}} label{{display:block;margin:.3rem 0}}\
         button{{padding:.4rem 1rem;margin-right:.5rem}} code{{background:#f4f4f4;padding:0 .2rem}}\
         </style></head><body>\
         <p class=\"warn\"><strong>entra-dev: DEVELOPMENT ONLY.</strong> No password is checked; anyone can \
         sign in as any test user. Never trust these tokens in production.</p>{body}</body></html>",
        title = escape(title)
    ))
}

fn error_page(message: &str) -> Html<String> {
    page(
        "Sign-in error",
        &format!(
            "<h1>Sorry, the sign-in request is invalid</h1><p id=\"error\">{}</p>",
            escape(message)
        ),
    )
}

fn login_page(
    inner: &Inner,
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
    ] {
        if let Ok(Some(v)) = params.get(name) {
            hidden.push_str(&format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(v)
            ));
        }
    }
    let hint = req.login_hint.as_deref().unwrap_or("");
    let mut users = String::new();
    for (i, u) in inner.config.users.iter().enumerate() {
        let checked = if (hint.is_empty() && i == 0)
            || u.username.eq_ignore_ascii_case(hint)
            || u.email.eq_ignore_ascii_case(hint)
        {
            " checked"
        } else {
            ""
        };
        users.push_str(&format!(
            "<label><input type=\"radio\" name=\"username\" value=\"{}\"{checked}> {} \
             (<code>{}</code>, oid <code>{}</code>)</label>",
            escape(&u.username),
            escape(&u.display_name),
            escape(&u.email),
            escape(&u.oid)
        ));
    }
    let mut scopes = String::new();
    for s in &req.scopes {
        scopes.push_str(&format!(
            "<label><input type=\"checkbox\" name=\"consented_scope\" value=\"{s}\" checked> \
             <code>{s}</code></label>",
            s = escape(s)
        ));
    }
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
             <p>After sign-in you are sent back to <code>{redirect}</code> with a one-time code.</p>",
            client = escape(&req.client.display_name),
            client_id = escape(&req.client.client_id),
            api = escape(&inner.config.api_app_id_uri),
            action = escape(&action),
            redirect = escape(&req.redirect_uri),
        ),
    )
}

pub(crate) async fn authorize_get(
    State(issuer): State<DevIssuer>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let ep = resolve_tenant(&issuer.inner, &tenant);
    with_page_policy(show(&issuer, ep, query.as_deref().unwrap_or("")))
}

pub(crate) async fn authorize_get_b2c(
    State(issuer): State<DevIssuer>,
    Path((tenant, policy)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let ep = resolve_b2c(&issuer.inner, &tenant, &policy);
    with_page_policy(show(&issuer, ep, query.as_deref().unwrap_or("")))
}

pub(crate) async fn authorize_post(
    State(issuer): State<DevIssuer>,
    Path(tenant): Path<String>,
    body: String,
) -> Response {
    let ep = resolve_tenant(&issuer.inner, &tenant);
    with_page_policy(submit(&issuer, ep, &body))
}

pub(crate) async fn authorize_post_b2c(
    State(issuer): State<DevIssuer>,
    Path((tenant, policy)): Path<(String, String)>,
    body: String,
) -> Response {
    let ep = resolve_b2c(&issuer.inner, &tenant, &policy);
    with_page_policy(submit(&issuer, ep, &body))
}

fn show(issuer: &DevIssuer, ep: Result<Endpoint, OAuthError>, query: &str) -> Response {
    let inner = &issuer.inner;
    inner
        .counters
        .authorize
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

fn submit(issuer: &DevIssuer, ep: Result<Endpoint, OAuthError>, body: &str) -> Response {
    let inner = &issuer.inner;
    inner
        .counters
        .authorize
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
        client_id: req.client.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        username: user.username.clone(),
        scopes: granted,
        openid: req.openid,
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        policy: ep.policy.clone(),
        issued_at: SystemTime::now(),
        redeemed: false,
    };
    {
        let mut codes = inner
            .codes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = SystemTime::now();
        let keep = inner.config.code_lifetime + CODE_MEMORY;
        codes.retain(|_, g| g.issued_at + keep > now);
        codes.insert(code.clone(), grant);
    }
    tracing::debug!(client_id = %req.client.client_id, user = %user.username, scope = %req.scope, "issued an authorization code");
    let mut pairs = vec![("code", code)];
    pairs.extend(back);
    redirect_to(&req.redirect_uri, &pairs)
}

/// The authorization code grant at the token endpoint.
pub(crate) fn redeem_code(
    inner: &Inner,
    ep: &Endpoint,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Value, OAuthError> {
    let client = authenticate_client(inner, params, headers)?;
    let code = params.require("code")?;
    let redirect_uri = params.require("redirect_uri")?;
    let verifier = params.get("code_verifier")?;
    let grant = {
        let mut codes = inner
            .codes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(grant) = codes.get_mut(code) else {
            return Err(OAuthError::invalid_grant(
                9_002_313,
                "Invalid request. Request is malformed or invalid: the authorization code is unknown.",
            ));
        };
        if !grant.client_id.eq_ignore_ascii_case(&client.client_id) {
            return Err(OAuthError::invalid_grant(
                70_000,
                "Provided grant is invalid or malformed: the code was issued to another client.",
            ));
        }
        if grant.redeemed {
            return Err(OAuthError::invalid_grant(
                54_005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code \
                 or use an existing refresh token.",
            ));
        }
        grant.redeemed = true;
        grant.clone()
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
    inner: &Inner,
    grant: &CodeGrant,
    client_id: &str,
    tid: &str,
) -> Result<String, crate::DevIssuerError> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{escape, LoginForm};

    #[test]
    fn login_form_reads_back_hidden_fields_written_with_escape() {
        let tricky = "s\"t<a>&'x";
        let html = format!(
            "<p>x</p><form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"state\" value=\"{}\">\
             <input type=\"radio\" name=\"username\" value=\"alice\" checked>\
             <input type=\"hidden\" name=\"code_challenge\" value=\"abc\"></form>",
            escape("http://h/t/oauth2/v2.0/authorize?a=1&b=2"),
            escape(tricky)
        );
        let form = LoginForm::parse(&html).unwrap();
        assert_eq!(form.action(), "http://h/t/oauth2/v2.0/authorize?a=1&b=2");
        assert_eq!(
            form.hidden_fields(),
            [
                ("state".to_owned(), tricky.to_owned()),
                ("code_challenge".to_owned(), "abc".to_owned())
            ]
        );
        let accept = form.accept("bob", &["weather.read", "weather.write"]);
        assert_eq!(accept.len(), 6);
        assert_eq!(accept[2], ("username".to_owned(), "bob".to_owned()));
        assert_eq!(accept[5], ("action".to_owned(), "accept".to_owned()));
        assert_eq!(form.cancel().last().unwrap().1, "cancel");
    }

    #[test]
    fn login_form_is_none_without_a_form() {
        assert_eq!(
            LoginForm::parse("<h1>Error</h1><p>unknown client</p>"),
            None
        );
        assert_eq!(LoginForm::parse("<form method=\"post\">"), None);
    }

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
