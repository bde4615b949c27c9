//! Shared helpers: an in-process development issuer on 127.0.0.1:0, a validator on a manual clock
//! pointed at it, token minting relative to that clock, and a protected axum server.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use entra_auth::{
    AuthConfig, AuthConfigBuilder, AuthLayer, Authenticated, ManualClock, Requirement,
    TokenValidator,
};
use entra_dev::defaults::{DEV_API_CLIENT_ID, DEV_TENANT_ID};
use entra_dev::{DevIssuer, DevIssuerConfig, RunningDevIssuer, TokenRequest};
use serde_json::{json, Map, Value};

pub const OTHER_TENANT: &str = "11111111-2222-4333-8444-555555555555";
pub const THIRD_TENANT: &str = "99999999-8888-4777-8666-555544443333";
pub const FOREIGN_KEY_PEM: &[u8] = include_bytes!("../../src/testdata/other_key.pem");

pub struct Env {
    pub dev: RunningDevIssuer,
    pub clock: ManualClock,
    pub validator: TokenValidator,
}

impl Env {
    pub fn issuer(&self) -> &DevIssuer {
        &self.dev.issuer
    }

    pub fn instance(&self) -> String {
        self.dev.issuer.instance().to_string()
    }

    /// A token request whose times are relative to the validator's clock.
    pub fn request(&self) -> TokenRequest {
        TokenRequest {
            issued_at: Some(entra_auth::Clock::now(&self.clock)),
            ..TokenRequest::default()
        }
    }

    pub fn mint(&self, req: &TokenRequest) -> String {
        self.dev.issuer.mint(req).unwrap()
    }

    /// A v2 delegated token with `weather.read`.
    pub fn reader(&self) -> String {
        self.mint(&TokenRequest {
            scopes: vec!["weather.read".into()],
            ..self.request()
        })
    }

    pub fn sign_raw(&self, header: Value, claims: Value) -> String {
        let (Value::Object(h), Value::Object(c)) = (header, claims) else {
            panic!("objects expected")
        };
        self.dev.issuer.sign_raw(h, c).unwrap()
    }

    pub fn key_requests(&self) -> u64 {
        self.dev.issuer.stats().key_requests
    }

    pub fn metadata_requests(&self) -> u64 {
        self.dev.issuer.stats().metadata_requests
    }
}

/// The issuer plus a validator built by `f` from the single-tenant development configuration.
pub async fn env_with(f: impl FnOnce(AuthConfigBuilder) -> AuthConfigBuilder) -> Env {
    env_for(DEV_TENANT_ID, f).await
}

/// Like [`env_with`] for another tenant argument (`common`, `organizations`).
pub async fn env_for(tenant: &str, f: impl FnOnce(AuthConfigBuilder) -> AuthConfigBuilder) -> Env {
    let dev = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let clock = ManualClock::starting_now();
    let builder = AuthConfig::builder(tenant, DEV_API_CLIENT_ID)
        .instance(dev.issuer.instance().as_str())
        .clock(Arc::new(clock.clone()))
        .http(entra_auth::HttpOptions {
            timeout: Duration::from_secs(5),
            ..Default::default()
        });
    let validator = TokenValidator::new(f(builder).build().unwrap()).unwrap();
    Env {
        dev,
        clock,
        validator,
    }
}

pub async fn env() -> Env {
    env_with(|b| b).await
}

/// The payload of a compact JWS (test-side decoding, to build forged variants).
pub fn claims_of(token: &str) -> Map<String, Value> {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub fn header_of(token: &str) -> Map<String, Value> {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs with a key the identity provider never published.
pub fn sign_foreign(header: &Value, claims: &Value) -> String {
    let msg = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(FOREIGN_KEY_PEM).unwrap();
    let sig =
        jsonwebtoken::crypto::sign(msg.as_bytes(), &key, jsonwebtoken::Algorithm::RS256).unwrap();
    format!("{msg}.{sig}")
}

/// Binds 127.0.0.1:0, serves `app`, returns the base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

/// `/weather` requires `weather.read` or the `Weather.Read.All` app role (one layer on the router)
/// and echoes who called; `/open` is public.
pub fn protected_router(validator: TokenValidator) -> Router {
    let protected = Router::new()
        .route(
            "/weather",
            get(|Authenticated(c): Authenticated| async move {
                Json(json!({
                    "oid": c.oid(),
                    "tid": c.tid(),
                    "app_only": c.is_app_only(),
                    "version": c.version().as_str(),
                }))
            }),
        )
        .layer(
            AuthLayer::new(validator)
                .require(Requirement::scopes(["weather.read"]).or_roles(["Weather.Read.All"])),
        );
    Router::new()
        .route("/open", get(|| async { "open" }))
        .merge(protected)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// An axum state holding the library's [`AuthState`](entra_auth::AuthState).
#[derive(Clone)]
pub struct AppState {
    pub auth: entra_auth::AuthState,
}

impl axum::extract::FromRef<AppState> for entra_auth::AuthState {
    fn from_ref(s: &AppState) -> Self {
        s.auth.clone()
    }
}

/// GET `path` with an optional bearer token: status, `WWW-Authenticate`, body text.
pub async fn call(base: &str, path: &str, token: Option<&str>) -> (u16, Option<String>, String) {
    let mut req = client().get(format!("{base}{path}"));
    if let Some(t) = token {
        req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get(http::header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    (status, challenge, res.text().await.unwrap())
}
