//! Plain-`http` instances over real HTTP: refused at build time off loopback, reachable only
//! through the `dangerous_allow_insecure_http()` opt-in. The identity provider is the development
//! issuer at `http://idp.example/` (a non-loopback name), reached through a forward proxy on
//! 127.0.0.1 that relays to the issuer's own listener on 127.0.0.1.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use entra_auth::{AuthConfig, ConfigError, HttpOptions, ManualClock, TokenValidator};
use entra_dev::defaults::{DEV_API_CLIENT_ID, DEV_TENANT_ID};
use entra_dev::{DevIssuer, DevIssuerConfig, TokenRequest};
use serde_json::Value;
use url::Url;

use crate::common::*;

const INSECURE_INSTANCE: &str = "http://idp.example/";

/// A forward proxy: relays every request it is sent (absolute-form `http://idp.example/...`)
/// to `backend`, counting them.
#[derive(Clone)]
struct Proxy {
    backend: String,
    relayed: Arc<AtomicU64>,
    seen_hosts: Arc<std::sync::Mutex<Vec<String>>>,
}

async fn relay(State(p): State<Proxy>, req: Request) -> Response {
    p.relayed.fetch_add(1, Ordering::SeqCst);
    p.seen_hosts
        .lock()
        .unwrap()
        .push(req.uri().host().unwrap_or_default().to_owned());
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let res = client()
        .get(format!("{}{path}", p.backend))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body = res.bytes().await.unwrap();
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn plain_http_instance_off_loopback_is_refused_at_build_naming_the_setting_and_the_fix() {
    let err = AuthConfig::builder(DEV_TENANT_ID, DEV_API_CLIENT_ID)
        .instance(INSECURE_INSTANCE)
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, ConfigError::InvalidInstance { found, .. } if found == INSECURE_INSTANCE),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("invalid instance URL \"http://idp.example/\": plain http is accepted only for a loopback host"),
        "{text}"
    );
    assert!(text.contains("use https"), "{text}");
    assert!(text.contains("dangerous_allow_insecure_http()"), "{text}");
}

#[tokio::test]
async fn dangerous_allow_insecure_http_validates_tokens_of_a_plain_http_issuer_off_loopback() {
    let instance = Url::parse(INSECURE_INSTANCE).unwrap();
    let issuer = tokio::task::spawn_blocking(move || {
        DevIssuer::new(DevIssuerConfig::default(), instance).unwrap()
    })
    .await
    .unwrap();
    let backend = serve(issuer.router()).await;
    let proxy = Proxy {
        backend,
        relayed: Arc::default(),
        seen_hosts: Arc::default(),
    };
    let proxy_url = serve(Router::new().fallback(relay).with_state(proxy.clone())).await;
    let clock = ManualClock::starting_now();
    let config = AuthConfig::builder(DEV_TENANT_ID, DEV_API_CLIENT_ID)
        .instance(INSECURE_INSTANCE)
        .dangerous_allow_insecure_http()
        .clock(Arc::new(clock.clone()))
        .http(HttpOptions {
            timeout: Duration::from_secs(5),
            proxy: Some(Url::parse(&proxy_url).unwrap()),
            ..HttpOptions::default()
        })
        .build()
        .unwrap();
    assert_eq!(config.instance().as_str(), INSECURE_INSTANCE);
    let validator = TokenValidator::new(config).unwrap();
    let base = serve(protected_router(validator)).await;

    let token = issuer
        .mint(&TokenRequest {
            scopes: vec!["weather.read".into()],
            issued_at: Some(entra_auth::Clock::now(&clock)),
            ..TokenRequest::default()
        })
        .unwrap();
    let (status, challenge, body) = call(&base, "/weather", Some(&token)).await;
    assert_eq!((status, challenge), (200, None), "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["tid"], DEV_TENANT_ID);
    assert_eq!(body["version"], "2.0");
    // metadata and keys came from http://idp.example/ through the proxy, over plain http
    assert!(
        proxy.relayed.load(Ordering::SeqCst) >= 2,
        "relayed {}",
        proxy.relayed.load(Ordering::SeqCst)
    );
    assert!(proxy
        .seen_hosts
        .lock()
        .unwrap()
        .iter()
        .all(|h| h == "idp.example"));
    assert!(issuer.stats().key_requests >= 1);
}
