//! The routes of Microsoft's sidecar contract and the edges around them: caller restriction,
//! case-insensitive paths, no-store headers on successes, metrics.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use entra_auth::{Requirement, TokenValidator, VerifiedClaims};
use entra_core::{ExposeSecret as _, SecretString};
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use serde_json::json;

use crate::acquire::{Caller, Tokens};
use crate::metrics::Metrics;
use crate::overrides::Overrides;
use crate::problem::Failure;
use crate::settings::{AllowOverrides, DownstreamApi, Settings};

/// Microsoft's OpenAPI document of the contract, served at `/openapi/v1.json` in Development.
const OPENAPI: &str = include_str!("../openapi/Microsoft.Identity.Web.Sidecar.openapi.json");
/// Largest request body forwarded downstream (Kestrel's default limit).
const MAX_REQUEST_BODY: usize = 30_000_000;
/// Largest downstream answer relayed.
const MAX_DOWNSTREAM_BODY: usize = 16 * 1024 * 1024;

/// What every request shares.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    validator: TokenValidator,
    validate_requirement: Option<Requirement>,
    tokens: Option<Tokens>,
    apis: std::collections::BTreeMap<String, DownstreamApi>,
    allow_overrides: AllowOverrides,
    development: bool,
    caller_secret: Option<(HeaderName, SecretString)>,
    downstream: reqwest::Client,
    metrics: Metrics,
}

impl AppState {
    /// The state of a sidecar configured by `settings`, validating with `validator` and
    /// acquiring with `tokens`.
    ///
    /// # Errors
    /// A caller-secret header name that is not a header name, or `AzureAd:Scopes` that are not
    /// scope names.
    pub fn new(
        settings: &Settings,
        validator: TokenValidator,
        tokens: Option<Tokens>,
    ) -> anyhow::Result<Self> {
        let validate_requirement = if settings.azure_ad.scopes.is_empty() {
            None
        } else {
            Some(
                Requirement::try_scopes(settings.azure_ad.scopes.iter().map(String::as_str))
                    .map_err(|e| anyhow::anyhow!("AzureAd:Scopes: {e}"))?,
            )
        };
        let caller_secret = match &settings.caller_secret {
            None => None,
            Some(secret) => Some((
                HeaderName::try_from(settings.caller_secret_header.as_str()).map_err(|_| {
                    anyhow::anyhow!(
                        "Sidecar:CallerSecretHeader = {:?} is not a header name",
                        settings.caller_secret_header
                    )
                })?,
                secret.clone(),
            )),
        };
        let redirects = if settings.allow_outbound_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        };
        let downstream = reqwest::Client::builder()
            .redirect(redirects)
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(100))
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                validator,
                validate_requirement,
                tokens,
                apis: settings.downstream.clone(),
                allow_overrides: settings.allow_overrides,
                development: settings.environment.is_development(),
                caller_secret,
                downstream,
                metrics: Metrics::default(),
            }),
        })
    }

    /// The validator (readiness, metrics).
    pub fn validator(&self) -> &TokenValidator {
        &self.inner.validator
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}

impl AppState {
    async fn caller(&self, parts: &Parts) -> Result<(VerifiedClaims, String), Failure> {
        let claims = self
            .inner
            .validator
            .authorize(parts, None)
            .await
            .map_err(|e| match e.status() {
                StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST => {
                    tracing::debug!(code = e.code(), "inbound token refused");
                    Failure::Unauthenticated(Box::new(e))
                }
                _ => {
                    tracing::warn!(error = %e, "inbound token cannot be validated now");
                    Failure::Problem {
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        detail: "the identity provider's signing keys are not available yet; retry shortly".into(),
                        retry_after: Some(5),
                    }
                }
            })?;
        // The token these claims were verified from, by entra-auth's own RFC 6750 scanner (no
        // second decode): the assertion an on-behalf-of exchange forwards.
        let token = claims
            .verified_token(&parts.headers)
            .ok_or_else(|| {
                tracing::error!("the verified token is not the request's bearer token");
                Failure::unexpected()
            })?
            .to_owned();
        Ok((claims, token))
    }
}

/// The router of the contract (paths already lower-cased by [`normalize_path`]).
pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/validate", get(validate))
        .route("/authorizationheader/{api}", get(authorization_header))
        .route(
            "/authorizationheaderunauthenticated/{api}",
            get(authorization_header_unauthenticated),
        )
        .route("/downstreamapi/{api}", post(downstream_api))
        .route(
            "/downstreamapiunauthenticated/{api}",
            post(downstream_api_unauthenticated),
        )
        .route(
            "/healthz",
            get(|| async { ([(header::CONTENT_TYPE, "text/plain")], "Healthy") }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    if state.inner.development {
        router = router.route(
            "/openapi/v1.json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
                    OPENAPI,
                )
            }),
        );
    }
    router
        .fallback(|| async { StatusCode::NOT_FOUND })
        .method_not_allowed_fallback(|| async { StatusCode::METHOD_NOT_ALLOWED })
        .layer(axum::middleware::from_fn_with_state(state.clone(), edge))
        .with_state(state)
}

/// The path as the caller wrote it (problem `instance`).
#[derive(Clone)]
struct OriginalPath(String);

/// Lower-cases the route segment of the path (paths are case-insensitive in ASP.NET's routing;
/// the API name keeps its spelling and is looked up case-insensitively).
pub fn normalize_path<B>(mut request: Request<B>) -> Request<B> {
    let uri = request.uri();
    let path = uri.path();
    let (first, rest) = match path[1.min(path.len())..].split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (&path[1.min(path.len())..], None),
    };
    if first.bytes().any(|b| b.is_ascii_uppercase()) {
        let mut new_path = format!("/{}", first.to_ascii_lowercase());
        if let Some(rest) = rest {
            new_path.push('/');
            new_path.push_str(rest);
        }
        let original = path.to_owned();
        let pq = match uri.query() {
            Some(q) => format!("{new_path}?{q}"),
            None => new_path,
        };
        if let Ok(pq) = pq.parse::<http::uri::PathAndQuery>() {
            let mut parts = uri.clone().into_parts();
            parts.path_and_query = Some(pq);
            if let Ok(new_uri) = http::Uri::from_parts(parts) {
                request.extensions_mut().insert(OriginalPath(original));
                *request.uri_mut() = new_uri;
            }
        }
    }
    request
}

/// Caller restriction (loopback outside Development, the caller secret when configured; the
/// probes exempt), no-store headers on every 2xx, request metrics.
async fn edge(
    State(state): State<AppState>,
    request: Request<Body>,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let probe = path == "/healthz" || path == "/readyz";
    let route = route_name(&path);
    if !probe {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if !state.inner.development && !peer.is_none_or(is_loopback) {
            tracing::warn!(peer = ?peer, "caller refused: not on loopback");
            state.inner.metrics.record(route, StatusCode::FORBIDDEN);
            return StatusCode::FORBIDDEN.into_response();
        }
        if let Some((name, secret)) = &state.inner.caller_secret {
            let given = request.headers().get(name).map(HeaderValue::as_bytes);
            if !given.is_some_and(|g| constant_time_eq(g, secret.expose_secret().as_bytes())) {
                tracing::warn!("caller refused: missing or wrong caller secret");
                state.inner.metrics.record(route, StatusCode::FORBIDDEN);
                return StatusCode::FORBIDDEN.into_response();
            }
        }
    }
    let mut response = next.run(request).await;
    if response.status().is_success() {
        let h = response.headers_mut();
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache, no-store, must-revalidate"),
        );
        h.insert(header::EXPIRES, HeaderValue::from_static("0"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    state.inner.metrics.record(route, response.status());
    response
}

fn route_name(path: &str) -> &'static str {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "validate" => "Validate",
        "authorizationheader" => "AuthorizationHeader",
        "authorizationheaderunauthenticated" => "AuthorizationHeaderUnauthenticated",
        "downstreamapi" => "DownstreamApi",
        "downstreamapiunauthenticated" => "DownstreamApiUnauthenticated",
        "healthz" => "healthz",
        "readyz" => "readyz",
        "metrics" => "metrics",
        "openapi" => "openapi",
        _ => "other",
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn instance(parts: &Parts) -> String {
    parts
        .extensions
        .get::<OriginalPath>()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.0.clone())
}

async fn validate(State(state): State<AppState>, parts: Parts) -> Response {
    let at = instance(&parts);
    match validate_inner(&state, &parts).await {
        Ok(r) => r,
        Err(f) => f.into_response_at(&at),
    }
}

async fn validate_inner(state: &AppState, parts: &Parts) -> Result<Response, Failure> {
    let (claims, token) = state.caller(parts).await?;
    if let Some(requirement) = &state.inner.validate_requirement {
        requirement
            .check(&claims)
            .map_err(|e| Failure::MissingScope(Box::new(e)))?;
    }
    Ok(validate_result(&token, claims.payload_json()))
}

/// `ValidateAuthorizationHeaderResult` of Microsoft's document, in its field order: the claims are
/// the verified payload's JSON text as the token carried it, so a cached token's answer builds no
/// claims map (and the verified-token cache keeps none).
fn validate_result(token: &str, payload_json: &str) -> Response {
    let token = serde_json::Value::from(token).to_string();
    let mut body = String::with_capacity(token.len() + payload_json.len() + 40);
    body.push_str(r#"{"protocol":"Bearer","token":"#);
    body.push_str(&token);
    body.push_str(r#","claims":"#);
    body.push_str(payload_json);
    body.push('}');
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// `DownstreamApiResult` of Microsoft's document, in its field order.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct DownstreamResult {
    status_code: u16,
    headers: serde_json::Map<String, serde_json::Value>,
    content: serde_json::Value,
}

/// The downstream API `name` with the request's overrides merged when `allowed`.
fn resolve(
    state: &AppState,
    name: &str,
    parts: &Parts,
    allowed: bool,
    route: &str,
) -> Result<DownstreamApi, Failure> {
    let overrides = Overrides::parse(parts.uri.query());
    if overrides.base_url_ignored {
        tracing::warn!(
            route,
            "optionsOverride.BaseUrl ignored: the downstream host is fixed by configuration"
        );
    }
    if overrides.agent_identity {
        return Err(Failure::problem(
            StatusCode::BAD_REQUEST,
            "agent identities (AgentIdentity, AgentUsername, AgentUserId) are not supported by entra-sidecar",
        ));
    }
    let configured = state.inner.apis.get(&name.to_ascii_lowercase());
    let empty = DownstreamApi {
        name: name.to_owned(),
        http_method: "GET".into(),
        ..DownstreamApi::default()
    };
    let base = configured.unwrap_or(&empty);
    let api = if overrides.any && allowed {
        overrides.apply(base)
    } else {
        if overrides.any {
            tracing::warn!(route, "optionsOverride parameters ignored: Sidecar:AllowOverrides is false for this route");
        }
        base.clone()
    };
    if api.scopes.is_empty() {
        return Err(Failure::problem(
            StatusCode::BAD_REQUEST,
            format!("No scopes found for the API '{name}' or in optionsOverride. 'scopes' needs to be either a single value or a list of values."),
        ));
    }
    Ok(api)
}

fn tokens(state: &AppState) -> Result<&Tokens, Failure> {
    state.inner.tokens.as_ref().ok_or_else(|| {
        tracing::error!(
            "a token was requested but AzureAd:ClientCredentials has no usable credential"
        );
        Failure::problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the sidecar has no client credential: configure AzureAd:ClientCredentials",
        )
    })
}

async fn authorization_header(
    State(state): State<AppState>,
    Path(api): Path<String>,
    parts: Parts,
) -> Response {
    let at = instance(&parts);
    header_inner(&state, &api, &parts, true)
        .await
        .unwrap_or_else(|f| f.into_response_at(&at))
}

async fn authorization_header_unauthenticated(
    State(state): State<AppState>,
    Path(api): Path<String>,
    parts: Parts,
) -> Response {
    let at = instance(&parts);
    header_inner(&state, &api, &parts, false)
        .await
        .unwrap_or_else(|f| f.into_response_at(&at))
}

/// The two routes that acquire a token, each with an authenticated and an unauthenticated form.
#[derive(Debug, Clone, Copy)]
enum TokenRoute {
    /// `/AuthorizationHeader/{api}` and `/AuthorizationHeaderUnauthenticated/{api}`.
    AuthorizationHeader,
    /// `/DownstreamApi/{api}` and `/DownstreamApiUnauthenticated/{api}`.
    DownstreamApi,
}

/// The caller (validated) on an authenticated route, none on an unauthenticated one; and the API
/// `name` with the request's overrides, if the route's `AllowOverrides` setting allows them.
async fn gate(
    state: &AppState,
    name: &str,
    parts: &Parts,
    route: TokenRoute,
    authenticated: bool,
) -> Result<(Option<(VerifiedClaims, String)>, DownstreamApi), Failure> {
    let o = &state.inner.allow_overrides;
    let (allowed, route_name) = match (route, authenticated) {
        (TokenRoute::AuthorizationHeader, true) => {
            (o.get_authorization_header, "GetAuthorizationHeader")
        }
        (TokenRoute::AuthorizationHeader, false) => (
            o.get_authorization_header_unauthenticated,
            "GetAuthorizationHeaderUnauthenticated",
        ),
        (TokenRoute::DownstreamApi, true) => (o.call_downstream_api, "CallDownstreamApi"),
        (TokenRoute::DownstreamApi, false) => (
            o.call_downstream_api_unauthenticated,
            "CallDownstreamApiUnauthenticated",
        ),
    };
    let user = if authenticated {
        Some(state.caller(parts).await?)
    } else {
        None
    };
    Ok((user, resolve(state, name, parts, allowed, route_name)?))
}

async fn header_inner(
    state: &AppState,
    name: &str,
    parts: &Parts,
    authenticated: bool,
) -> Result<Response, Failure> {
    let (user, api) = gate(
        state,
        name,
        parts,
        TokenRoute::AuthorizationHeader,
        authenticated,
    )
    .await?;
    let token = acquire(state, user.as_ref(), &api).await?;
    Ok(
        Json(json!({ "authorizationHeader": format!("Bearer {}", token.secret()) }))
            .into_response(),
    )
}

async fn acquire(
    state: &AppState,
    user: Option<&(VerifiedClaims, String)>,
    api: &DownstreamApi,
) -> Result<entra_token::AccessToken, Failure> {
    let caller = match user {
        Some((claims, token)) => Caller::User { claims, token },
        None => Caller::Anonymous,
    };
    tokens(state)?
        .acquire(
            caller,
            &api.scopes,
            api.request_app_token,
            api.tenant.as_deref(),
            api.force_refresh,
        )
        .await
}

async fn downstream_api(
    State(state): State<AppState>,
    Path(api): Path<String>,
    request: Request<Body>,
) -> Response {
    downstream_outer(state, api, request, true).await
}

async fn downstream_api_unauthenticated(
    State(state): State<AppState>,
    Path(api): Path<String>,
    request: Request<Body>,
) -> Response {
    downstream_outer(state, api, request, false).await
}

async fn downstream_outer(
    state: AppState,
    name: String,
    request: Request<Body>,
    authenticated: bool,
) -> Response {
    let (parts, body) = request.into_parts();
    let at = instance(&parts);
    downstream_inner(&state, &name, &parts, body, authenticated)
        .await
        .unwrap_or_else(|f| f.into_response_at(&at))
}

async fn downstream_inner(
    state: &AppState,
    name: &str,
    parts: &Parts,
    body: Body,
    authenticated: bool,
) -> Result<Response, Failure> {
    let (user, api) = gate(state, name, parts, TokenRoute::DownstreamApi, authenticated).await?;
    let Some(base) = &api.base_url else {
        return Err(Failure::problem(
            StatusCode::BAD_REQUEST,
            format!("DownstreamApis:{}:BaseUrl is not configured", api.name),
        ));
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .filter(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
        .cloned();
    let payload = if content_type.is_some() {
        Some(
            axum::body::to_bytes(body, MAX_REQUEST_BODY)
                .await
                .map_err(|_| {
                    Failure::problem(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("the request body is larger than {MAX_REQUEST_BODY} bytes"),
                    )
                })?,
        )
    } else {
        None
    };
    let token = acquire(state, user.as_ref(), &api).await?;
    let url = downstream_url(base, &api).map_err(|reason| {
        Failure::problem(
            StatusCode::BAD_REQUEST,
            format!("the downstream URL of '{}' is invalid: {reason}", api.name),
        )
    })?;
    let method = Method::from_bytes(api.http_method.as_bytes()).map_err(|_| {
        Failure::problem(
            StatusCode::BAD_REQUEST,
            format!("HttpMethod {:?} is not an HTTP method", api.http_method),
        )
    })?;
    let mut outbound = state
        .inner
        .downstream
        .request(method, url)
        .bearer_auth(token.secret())
        .header(
            header::ACCEPT,
            api.accept_header.as_deref().unwrap_or("application/json"),
        );
    for (k, v) in &api.extra_headers {
        outbound = outbound.header(k.as_str(), v.as_str());
    }
    if let (Some(ct), Some(payload)) = (content_type, payload) {
        outbound = outbound.header(header::CONTENT_TYPE, ct).body(payload);
    }
    let answer = outbound.send().await.map_err(|e| {
        let timeout = e.is_timeout();
        tracing::warn!(api = %api.name, error = %e.without_url(), "downstream call failed");
        if timeout {
            Failure::problem(
                StatusCode::GATEWAY_TIMEOUT,
                format!("the downstream API '{}' did not answer in time", api.name),
            )
        } else {
            Failure::problem(
                StatusCode::BAD_GATEWAY,
                format!("the downstream API '{}' could not be reached", api.name),
            )
        }
    })?;
    let status = answer.status().as_u16();
    let headers = content_headers(answer.headers());
    let bytes = read_capped(answer).await.map_err(|()| {
        Failure::problem(
            StatusCode::BAD_GATEWAY,
            format!(
                "the downstream API '{}' answered more than {MAX_DOWNSTREAM_BODY} bytes",
                api.name
            ),
        )
    })?;
    let content = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
    };
    Ok(Json(DownstreamResult {
        status_code: status,
        headers,
        content,
    })
    .into_response())
}

async fn read_capped(mut answer: reqwest::Response) -> Result<Bytes, ()> {
    if answer
        .content_length()
        .is_some_and(|n| n > MAX_DOWNSTREAM_BODY as u64)
    {
        return Err(());
    }
    let mut buf = Vec::new();
    while let Some(chunk) = answer.chunk().await.map_err(|_| ())? {
        if buf.len() + chunk.len() > MAX_DOWNSTREAM_BODY {
            return Err(());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// `BaseUrl` (its trailing `/` dropped) + `/` + `RelativePath`, then `ExtraQueryParameters`, as
/// Microsoft.Identity.Web builds it.
fn downstream_url(base: &url::Url, api: &DownstreamApi) -> Result<url::Url, String> {
    let text = format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        api.relative_path.trim_start_matches('/')
    );
    let mut url = url::Url::parse(&text).map_err(|e| e.to_string())?;
    if url.host_str() != base.host_str()
        || url.port_or_known_default() != base.port_or_known_default()
    {
        return Err("RelativePath must stay on the configured host".into());
    }
    if !api.extra_query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in &api.extra_query {
            pairs.append_pair(k, v);
        }
    }
    Ok(url)
}

/// The content headers of an answer (.NET's `HttpContentHeaders`), as lists of values.
fn content_headers(headers: &HeaderMap) -> serde_json::Map<String, serde_json::Value> {
    const NAMES: [(&str, &str); 11] = [
        ("allow", "Allow"),
        ("content-disposition", "Content-Disposition"),
        ("content-encoding", "Content-Encoding"),
        ("content-language", "Content-Language"),
        ("content-length", "Content-Length"),
        ("content-location", "Content-Location"),
        ("content-md5", "Content-MD5"),
        ("content-range", "Content-Range"),
        ("content-type", "Content-Type"),
        ("expires", "Expires"),
        ("last-modified", "Last-Modified"),
    ];
    let mut out = serde_json::Map::new();
    for (lower, canonical) in NAMES {
        let values: Vec<serde_json::Value> = headers
            .get_all(lower)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| serde_json::Value::String(v.to_owned()))
            .collect();
        if !values.is_empty() {
            out.insert(canonical.to_owned(), serde_json::Value::Array(values));
        }
    }
    out
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.inner.validator.is_ready() {
        (StatusCode::OK, Json(json!({ "status": "ready" }))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "not ready",
                "missing": ["the identity provider's signing keys are not loaded yet (see the sidecar's log for the metadata fetch)"],
            })),
        )
            .into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.inner.metrics.render(
        &state.inner.validator.metrics(),
        state.inner.tokens.as_ref().map(Tokens::stats),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_segments_lower_case_and_api_names_keep_their_spelling() {
        let r = normalize_path(
            Request::get("/AuthorizationHeader/Graph?optionsOverride.Scopes=A")
                .body(())
                .expect("request"),
        );
        assert_eq!(r.uri().path(), "/authorizationheader/Graph");
        assert_eq!(r.uri().query(), Some("optionsOverride.Scopes=A"));
        assert_eq!(
            r.extensions().get::<OriginalPath>().map(|p| p.0.as_str()),
            Some("/AuthorizationHeader/Graph")
        );
    }

    #[test]
    fn loopback_includes_ipv4_mapped_ipv6() {
        assert!(is_loopback("127.0.0.2".parse().expect("ip")));
        assert!(is_loopback("::1".parse().expect("ip")));
        assert!(is_loopback("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(!is_loopback("::ffff:10.0.0.1".parse().expect("ip")));
        assert!(!is_loopback("192.0.2.1".parse().expect("ip")));
    }

    #[test]
    fn downstream_url_joins_like_microsoft_identity_web_and_stays_on_host() {
        let base: url::Url = "https://graph.microsoft.com/v1.0/".parse().expect("url");
        let mut api = DownstreamApi {
            relative_path: "/me".into(),
            ..DownstreamApi::default()
        };
        api.extra_query.insert("$select".into(), "id".into());
        assert_eq!(
            downstream_url(&base, &api).expect("valid").as_str(),
            "https://graph.microsoft.com/v1.0/me?%24select=id"
        );
        api.relative_path = "//evil.example/x".into();
        let joined = downstream_url(&base, &api);
        assert!(
            joined
                .as_ref()
                .map_or(true, |u| u.host_str() == Some("graph.microsoft.com")),
            "{joined:?}"
        );
    }
}
