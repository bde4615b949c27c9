//! HTTP endpoints: metadata documents, key sets, the token endpoint, and the OAuth 2.0 error format.

use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use crate::issuer::{DevClient, DevIssuer, Inner, Subject, TokenRequest, TokenVersion};
use crate::login;
use crate::mint::{self, CallingClient};

/// The literal multi-tenant placeholder, as in Entra's documents.
pub(crate) const TENANT_TEMPLATE: &str = "{tenantid}";

pub(crate) fn router(issuer: DevIssuer) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/stats", get(stats))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(metadata_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(metadata_v1),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(keys_v2))
        .route("/{tenant}/discovery/keys", get(keys_v1))
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(token_v2).options(preflight),
        )
        .route("/{tenant}/oauth2/token", post(token_v1).options(preflight))
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(login::authorize_get).post(login::authorize_post),
        )
        .route(
            "/{tenant}/oauth2/authorize",
            get(login::authorize_get).post(login::authorize_post),
        )
        .route(
            "/{tenant}/{policy}/v2.0/.well-known/openid-configuration",
            get(metadata_b2c),
        )
        .route("/{tenant}/{policy}/discovery/v2.0/keys", get(keys_b2c))
        .route(
            "/{tenant}/{policy}/oauth2/v2.0/token",
            post(token_b2c).options(preflight),
        )
        .route(
            "/{tenant}/{policy}/oauth2/v2.0/authorize",
            get(login::authorize_get_b2c).post(login::authorize_post_b2c),
        )
        .layer(axum::middleware::map_response(allow_any_origin))
        .with_state(issuer)
}

/// Like Entra's public endpoints, allow browser apps on other origins (Swagger UI on the API's port) to read
/// the documents and call the token endpoint.
async fn allow_any_origin(mut res: Response) -> Response {
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}

/// CORS preflight of the token endpoint.
async fn preflight() -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, authorization, accept, x-requested-with"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("3600"),
    );
    res
}

/// Where a request came in: which tenant path, and which B2C policy if any.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    /// The tenant path segment as it appears in URLs we generate.
    pub(crate) segment: String,
    /// The `tid` to put in issuers: a GUID or the `{tenantid}` template (multi-tenant aliases).
    pub(crate) issuer_tenant: String,
    /// B2C user flow.
    pub(crate) policy: Option<String>,
}

impl Endpoint {
    pub(crate) fn base(&self, inner: &Inner) -> String {
        match &self.policy {
            Some(p) => format!("{}{}/{}", inner.instance, self.segment, p),
            None => format!("{}{}", inner.instance, self.segment),
        }
    }
}

/// Resolves a workforce tenant segment: the tenant GUID, `common` or `organizations`.
pub(crate) fn resolve_tenant(inner: &Inner, segment: &str) -> Result<Endpoint, OAuthError> {
    let tid = &inner.config.tenant_id;
    if segment.eq_ignore_ascii_case(tid) {
        return Ok(Endpoint {
            segment: tid.clone(),
            issuer_tenant: tid.clone(),
            policy: None,
        });
    }
    if segment.eq_ignore_ascii_case("common") || segment.eq_ignore_ascii_case("organizations") {
        return Ok(Endpoint {
            segment: segment.to_ascii_lowercase(),
            issuer_tenant: TENANT_TEMPLATE.to_owned(),
            policy: None,
        });
    }
    Err(unknown_tenant(segment))
}

/// Resolves a B2C path: `{name}.onmicrosoft.com` (or the tenant GUID) and a policy.
pub(crate) fn resolve_b2c(
    inner: &Inner,
    segment: &str,
    policy: &str,
) -> Result<Endpoint, OAuthError> {
    let domain = format!("{}.onmicrosoft.com", inner.config.b2c_tenant_name);
    let known = segment.eq_ignore_ascii_case(&domain)
        || segment.eq_ignore_ascii_case(&inner.config.tenant_id);
    let valid_policy = !policy.is_empty()
        && policy
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !known {
        return Err(unknown_tenant(segment));
    }
    if !valid_policy {
        return Err(OAuthError::new(
            StatusCode::NOT_FOUND,
            "invalid_request",
            90_002,
            format!("the policy '{policy}' does not exist"),
        ));
    }
    Ok(Endpoint {
        segment: domain,
        issuer_tenant: inner.config.tenant_id.clone(),
        policy: Some(policy.to_owned()),
    })
}

fn unknown_tenant(segment: &str) -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_tenant",
        90_002,
        format!(
            "Tenant '{segment}' not found. entra-dev serves the development tenant, 'common' and \
             'organizations' (and B2C paths under {{name}}.onmicrosoft.com/{{policy}})."
        ),
    )
}

/// An OAuth 2.0 error answer in Entra's format.
#[derive(Debug)]
pub(crate) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl OAuthError {
    pub(crate) fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error,
            code,
            description: description.into(),
        }
    }

    pub(crate) fn invalid_request(code: u32, description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            code,
            description,
        )
    }

    pub(crate) fn missing(parameter: &str) -> Self {
        Self::invalid_request(
            900_144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    pub(crate) fn invalid_client(code: u32, description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            code,
            description,
        )
    }

    pub(crate) fn invalid_grant(code: u32, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", code, description)
    }

    pub(crate) fn invalid_scope(code: u32, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", code, description)
    }

    /// The OAuth error code (`invalid_grant`...).
    pub(crate) fn error(&self) -> &'static str {
        self.error
    }

    /// `AADSTS{code}: {description}`.
    pub(crate) fn description(&self) -> String {
        format!("AADSTS{}: {}", self.code, self.description)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let now = crate::format_unix_time(
            i64::try_from(crate::keys::unix_secs(SystemTime::now())).unwrap_or(0),
        );
        let trace_id = uuid::Uuid::new_v4().to_string();
        let body = json!({
            "error": self.error,
            "error_description": format!("{} Trace ID: {trace_id} Timestamp: {now}", self.description()),
            "error_codes": [self.code],
            "timestamp": now,
            "trace_id": trace_id,
            "correlation_id": uuid::Uuid::new_v4().to_string(),
        });
        tracing::debug!(error = self.error, code = self.code, description = %self.description, "oauth error");
        no_store(json_response(self.status, &body))
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut res = (status, axum::Json(body)).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    res
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
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

fn is_down(inner: &Inner) -> bool {
    inner.outage.load(Ordering::SeqCst)
}

/// The request counters as JSON: load tests read `key_requests` before and after a run to prove
/// that the service under test fetched no keys on its request path.
async fn stats(State(issuer): State<DevIssuer>) -> Response {
    let s = issuer.stats();
    axum::Json(json!({
        "metadata_requests": s.metadata_requests,
        "key_requests": s.key_requests,
        "token_requests": s.token_requests,
        "tokens_issued": s.tokens_issued,
        "authorize_requests": s.authorize_requests,
    }))
    .into_response()
}

async fn index(State(issuer): State<DevIssuer>) -> Html<String> {
    let inner = &issuer.inner;
    let tid = &inner.config.tenant_id;
    let base = &inner.instance;
    let b2c = format!(
        "{base}{}.onmicrosoft.com/B2C_1_signupsignin",
        inner.config.b2c_tenant_name
    );
    let link = |u: String| {
        let e = login::escape(&u);
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

fn metadata_document(inner: &Inner, ep: &Endpoint, version: TokenVersion) -> Value {
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
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
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
        "grant_types_supported": ["authorization_code", "client_credentials"],
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
    if version == TokenVersion::V1 && ep.policy.is_none() {
        if let Some(m) = doc.as_object_mut() {
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

pub(crate) fn key_set_document(inner: &Inner, shape: KeySetShape) -> Value {
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
    issuer: &DevIssuer,
    ep: Result<Endpoint, OAuthError>,
    version: TokenVersion,
) -> Response {
    let inner = &issuer.inner;
    inner.counters.metadata.fetch_add(1, Ordering::Relaxed);
    if is_down(inner) {
        return outage();
    }
    match ep {
        Ok(ep) => json_response(StatusCode::OK, &metadata_document(inner, &ep, version)),
        Err(e) => e.into_response(),
    }
}

fn serve_keys(
    issuer: &DevIssuer,
    ep: Result<Endpoint, OAuthError>,
    shape: KeySetShape,
) -> Response {
    let inner = &issuer.inner;
    inner.counters.keys.fetch_add(1, Ordering::Relaxed);
    if is_down(inner) {
        return outage();
    }
    if let Err(e) = ep {
        return e.into_response();
    }
    let body = inner
        .key_override
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    match body {
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

async fn metadata_v2(State(issuer): State<DevIssuer>, Path(tenant): Path<String>) -> Response {
    let ep = resolve_tenant(&issuer.inner, &tenant);
    serve_metadata(&issuer, ep, TokenVersion::V2)
}

async fn metadata_v1(State(issuer): State<DevIssuer>, Path(tenant): Path<String>) -> Response {
    let ep = resolve_tenant(&issuer.inner, &tenant);
    serve_metadata(&issuer, ep, TokenVersion::V1)
}

async fn metadata_b2c(
    State(issuer): State<DevIssuer>,
    Path((tenant, policy)): Path<(String, String)>,
) -> Response {
    let ep = resolve_b2c(&issuer.inner, &tenant, &policy);
    serve_metadata(&issuer, ep, TokenVersion::V2)
}

async fn keys_v2(State(issuer): State<DevIssuer>, Path(tenant): Path<String>) -> Response {
    let ep = resolve_tenant(&issuer.inner, &tenant);
    serve_keys(&issuer, ep, KeySetShape::V2)
}

async fn keys_v1(State(issuer): State<DevIssuer>, Path(tenant): Path<String>) -> Response {
    let ep = resolve_tenant(&issuer.inner, &tenant);
    serve_keys(&issuer, ep, KeySetShape::V1)
}

async fn keys_b2c(
    State(issuer): State<DevIssuer>,
    Path((tenant, policy)): Path<(String, String)>,
) -> Response {
    let ep = resolve_b2c(&issuer.inner, &tenant, &policy);
    serve_keys(&issuer, ep, KeySetShape::B2c)
}

async fn token_v2(
    State(issuer): State<DevIssuer>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let ep = resolve_tenant(&issuer.inner, &tenant);
    token_endpoint(&issuer, ep, false, &headers, &body).await
}

async fn token_v1(
    State(issuer): State<DevIssuer>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let ep = resolve_tenant(&issuer.inner, &tenant);
    token_endpoint(&issuer, ep, true, &headers, &body).await
}

async fn token_b2c(
    State(issuer): State<DevIssuer>,
    Path((tenant, policy)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let ep = resolve_b2c(&issuer.inner, &tenant, &policy);
    token_endpoint(&issuer, ep, false, &headers, &body).await
}

/// Form parameters; a repeated parameter is an error (RFC 6749 §3.1).
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(body: &str) -> Self {
        Self(
            url::form_urlencoded::parse(body.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The single value of `name`; empty values count as absent.
    pub(crate) fn get(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut values = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(OAuthError::invalid_request(
                90_015,
                format!("Requested query string is too long or parameter '{name}' is duplicated."),
            ));
        }
        Ok(first.filter(|v| !v.is_empty()))
    }

    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub(crate) fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)?.ok_or_else(|| OAuthError::missing(name))
    }
}

/// A scope as requested.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ScopeItem {
    /// One of the API's delegated scopes (short name).
    Api(String),
    /// `{resource}/.default`.
    Default,
    /// `openid`, `profile`, `email`, `offline_access`.
    Oidc(String),
}

/// Resolves one requested scope: `api://{client}/weather.read`, `{client}/weather.read`, bare `weather.read`,
/// `{resource}/.default`, or an OpenID Connect scope.
pub(crate) fn parse_scope(inner: &Inner, scope: &str) -> Result<ScopeItem, OAuthError> {
    let lower = scope.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "openid" | "profile" | "email" | "offline_access"
    ) {
        return Ok(ScopeItem::Oidc(lower));
    }
    let name = match scope.rsplit_once('/') {
        Some((resource, name)) => {
            if !is_api_resource(inner, resource) {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    500_011,
                    format!(
                        "The resource principal named {resource} was not found in the tenant. \
                         This development tenant's API is {} (client id {}).",
                        inner.config.api_app_id_uri, inner.config.api_client_id
                    ),
                ));
            }
            name
        }
        None => scope,
    };
    if name == ".default" {
        return Ok(ScopeItem::Default);
    }
    match inner.config.scopes.iter().find(|s| s.as_str() == name) {
        Some(s) => Ok(ScopeItem::Api(s.clone())),
        None => Err(OAuthError::invalid_scope(
            70_011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope '{scope}' \
                 does not exist. The API exposes: {}.",
                inner.config.scopes.join(", ")
            ),
        )),
    }
}

fn is_api_resource(inner: &Inner, resource: &str) -> bool {
    let resource = resource.trim_end_matches('/');
    resource.eq_ignore_ascii_case(&inner.config.api_app_id_uri)
        || resource.eq_ignore_ascii_case(&inner.config.api_client_id)
}

/// Authenticates the client of a token request (form `client_id`/`client_secret` or HTTP Basic).
pub(crate) fn authenticate_client<'a>(
    inner: &'a Inner,
    params: &Params,
    headers: &HeaderMap,
) -> Result<&'a DevClient, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':').map(|(id, secret)| {
                let decode = |x: &str| {
                    url::form_urlencoded::parse(format!("x={x}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                (decode(id), decode(secret))
            })
        });
    let form_id = params.get("client_id")?;
    let form_secret = params.get("client_secret")?;
    let (client_id, secret) = match &basic {
        // Some public clients send Basic with an empty secret: that is no secret.
        Some((id, secret)) => (id.as_str(), Some(secret.as_str()).filter(|s| !s.is_empty())),
        None => (
            form_id.ok_or_else(|| OAuthError::missing("client_id"))?,
            form_secret,
        ),
    };
    let client = inner.config.client(client_id).ok_or_else(|| {
        OAuthError::invalid_client(
            700_016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory 'entra-dev'. \
                 Registered clients: {}.",
                inner
                    .config
                    .clients
                    .iter()
                    .map(|c| c.client_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    match (&client.secret, secret) {
        (Some(_), None) => Err(OAuthError::invalid_client(
            7_000_218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )),
        (Some(expected), Some(given)) => {
            if constant_time_eq(expected.as_bytes(), given.as_bytes()) {
                Ok(client)
            } else {
                Err(OAuthError::invalid_client(
                    7_000_215,
                    format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is \
                         the client secret value, not the client secret ID, for a secret added to app \
                         '{}'.",
                        client.client_id
                    ),
                ))
            }
        }
        (None, Some(_)) => Err(OAuthError::invalid_client(
            700_025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        )),
        (None, None) => Ok(client),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let da = Sha256::digest(a);
    let db = Sha256::digest(b);
    da.iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

async fn token_endpoint(
    issuer: &DevIssuer,
    ep: Result<Endpoint, OAuthError>,
    v1: bool,
    headers: &HeaderMap,
    body: &str,
) -> Response {
    let inner = &issuer.inner;
    inner.counters.token.fetch_add(1, Ordering::Relaxed);
    let result = match ep {
        Ok(ep) => {
            // Signing costs a millisecond or two of CPU; keep it off the async workers.
            let issuer = issuer.clone();
            let headers = headers.clone();
            let body = body.to_owned();
            match tokio::task::spawn_blocking(move || {
                token_grant(&issuer, &ep, v1, &headers, &body)
            })
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
            inner.counters.issued.fetch_add(1, Ordering::Relaxed);
            no_store(json_response(StatusCode::OK, &body))
        }
        Err(e) => e.into_response(),
    }
}

fn token_grant(
    issuer: &DevIssuer,
    ep: &Endpoint,
    v1: bool,
    headers: &HeaderMap,
    body: &str,
) -> Result<Value, OAuthError> {
    let inner = &issuer.inner;
    let params = Params::parse(body);
    let grant_type = params.require("grant_type")?;
    match grant_type {
        "client_credentials" => client_credentials(inner, ep, v1, &params, headers),
        "authorization_code" => login::redeem_code(inner, ep, &params, headers),
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
    inner: &Inner,
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

/// The `tid` for tokens issued at an endpoint: multi-tenant aliases issue for the home (development) tenant.
pub(crate) fn tenant_for_tokens(inner: &Inner, ep: &Endpoint) -> String {
    if ep.issuer_tenant == TENANT_TEMPLATE {
        inner.config.tenant_id.clone()
    } else {
        ep.issuer_tenant.clone()
    }
}

pub(crate) fn internal(e: crate::DevIssuerError) -> OAuthError {
    tracing::warn!(error = %e, "minting failed");
    OAuthError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        50_000,
        "entra-dev failed to sign the token",
    )
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

    #[test]
    fn params_reject_duplicates_and_treat_empty_as_absent() {
        let p = Params::parse("a=1&a=2&b=&c=x%20y");
        assert_eq!(p.get("a").unwrap_err().error(), "invalid_request");
        assert_eq!(p.get("b").unwrap(), None);
        assert_eq!(p.get("c").unwrap(), Some("x y"));
        assert_eq!(p.require("b").unwrap_err().error(), "invalid_request");
    }
}
