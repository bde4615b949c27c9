//! Heap allocations per request through the tower layer, counted by a global allocator (its own
//! test binary: the count is process-wide, so nothing else may run beside it).
//!
//! A request presenting a cached token (the steady state of a client reusing its token) makes at
//! most 3 allocations (188 bytes): the claims in the request extensions and the test's own
//! service; the layer's pin-projected future allocates nothing (a boxed future would add one per
//! request, and this test fails on it).
//!
//! A token the cache does not hold, with one authority and its key in the snapshot, is verified
//! inside `call()` without a boxed future: through the layer it costs what `validate` costs plus
//! what a cached request costs (7 + 3 = 10 allocations, counted here).
#![allow(missing_docs, clippy::unwrap_used)]

use std::alloc::System;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use entra_auth::test_util::CannedIdp;
use entra_auth::{AuthConfig, AuthLayer, Requirement, TokenValidator};
use entra_dev::{defaults, DevIssuer, DevIssuerConfig, TokenRequest};
use http::{Request, Response, StatusCode};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tower::{Layer, Service, ServiceExt};
use url::Url;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const INSTANCE: &str = "https://issuer.alloc/";

/// The layer's figure before the pin-projected future (a `Box` per request), measured by this test.
const BEFORE_PER_REQUEST: usize = 4;

#[test]
fn layer_allocates_no_boxed_future_for_cached_or_snapshot_verified_tokens() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let issuer = DevIssuer::new(DevIssuerConfig::default(), Url::parse(INSTANCE).unwrap()).unwrap();
    let tid = defaults::DEV_TENANT_ID;
    let canned = Arc::new(CannedIdp::empty());
    let metadata = serde_json::json!({
        "issuer": issuer.issuer_v2(tid),
        "jwks_uri": format!("{INSTANCE}{tid}/discovery/v2.0/keys"),
    });
    for v in ["v2.0/", ""] {
        let url = format!("{INSTANCE}{tid}/{v}.well-known/openid-configuration");
        canned.set(&url, 200, metadata.to_string());
    }
    let keys = issuer.key_set().to_string();
    canned.set(&format!("{INSTANCE}{tid}/discovery/v2.0/keys"), 200, keys);
    let config = AuthConfig::builder(tid, defaults::DEV_API_CLIENT_ID)
        .instance(INSTANCE)
        .build()
        .unwrap();
    let validator = TokenValidator::with_fetcher(config, canned);
    rt.block_on(validator.warm_up()).unwrap();
    let token = issuer
        .mint(&TokenRequest {
            scopes: vec!["weather.read".into()],
            ..TokenRequest::default()
        })
        .unwrap();
    let layer = AuthLayer::new(validator.clone()).require(Requirement::scopes(["weather.read"]));
    let mut service = layer.layer(tower::service_fn(|req: Request<String>| async move {
        let oid = req
            .extensions()
            .get::<entra_auth::VerifiedClaims>()
            .and_then(|c| c.oid().map(str::len))
            .unwrap_or(0);
        Ok::<_, Infallible>(Response::new(Bytes::from_static(if oid > 0 {
            b"ok"
        } else {
            b""
        })))
    }));
    let request = || {
        Request::builder()
            .uri("/forecast")
            .header("authorization", format!("Bearer {token}"))
            .body(String::new())
            .unwrap()
    };
    // first request verifies and caches the token
    let res = rt.block_on(async {
        service
            .ready()
            .await
            .unwrap()
            .call(request())
            .await
            .unwrap()
    });
    assert_eq!(res.status(), StatusCode::OK);

    const N: usize = 200;
    let requests: Vec<_> = (0..N).map(|_| request()).collect();
    let mut statuses = Vec::with_capacity(N);
    let region = Region::new(GLOBAL);
    rt.block_on(async {
        for req in requests {
            let res = service.ready().await.unwrap().call(req).await.unwrap();
            statuses.push((res.status(), res.into_body()));
        }
    });
    let stats = region.change();
    assert!(statuses
        .iter()
        .all(|(s, b)| *s == StatusCode::OK && b == "ok"));
    assert_eq!(validator.metrics().token_cache_hits, N as u64);
    let per_request = stats.allocations / N;
    println!("allocations per request through the layer: {per_request} ({stats:?})");
    assert!(
        per_request < BEFORE_PER_REQUEST,
        "{per_request} allocations per request, {BEFORE_PER_REQUEST} before"
    );

    // A token the cache does not hold (cache off) whose key is in the snapshot is verified in
    // `call()`, CPU only: no boxed future, and no clone of the inner service moved into one.
    // Through the layer it allocates what `validate` itself does, plus what the cached path
    // above adds (the claims in the extensions, the test's service) and nothing more.
    let config = AuthConfig::builder(tid, defaults::DEV_API_CLIENT_ID)
        .instance(INSTANCE)
        .token_cache(entra_auth::TokenCacheOptions::disabled())
        .build()
        .unwrap();
    let canned_cold = Arc::new(CannedIdp::empty());
    for v in ["v2.0/", ""] {
        let url = format!("{INSTANCE}{tid}/{v}.well-known/openid-configuration");
        canned_cold.set(&url, 200, metadata.to_string());
    }
    canned_cold.set(
        &format!("{INSTANCE}{tid}/discovery/v2.0/keys"),
        200,
        issuer.key_set().to_string(),
    );
    let cold = TokenValidator::with_fetcher(config, canned_cold);
    rt.block_on(cold.warm_up()).unwrap();
    const M: usize = 50;
    let region = Region::new(GLOBAL);
    rt.block_on(async {
        for _ in 0..M {
            let claims = cold.validate(&token).await.unwrap();
            assert!(claims.oid().is_some());
        }
    });
    let direct = region.change().allocations / M;
    let layer = AuthLayer::new(cold).require(Requirement::scopes(["weather.read"]));
    let mut service = layer.layer(tower::service_fn(|req: Request<String>| async move {
        let ok = req
            .extensions()
            .get::<entra_auth::VerifiedClaims>()
            .is_some();
        Ok::<_, Infallible>(Response::new(Bytes::from_static(if ok {
            b"ok"
        } else {
            b""
        })))
    }));
    let requests: Vec<_> = (0..M).map(|_| request()).collect();
    let region = Region::new(GLOBAL);
    rt.block_on(async {
        for req in requests {
            let res = service.ready().await.unwrap().call(req).await.unwrap();
            assert_eq!(
                (res.status(), res.into_body()),
                (StatusCode::OK, Bytes::from_static(b"ok"))
            );
        }
    });
    let through_layer = region.change().allocations / M;
    println!("cold (cache off): validate {direct} allocations per token, through the layer {through_layer}");
    assert!(
        through_layer <= direct + per_request,
        "the layer added {} allocations to a cold verification ({through_layer} vs {direct}; a cached request costs {per_request})",
        through_layer - direct
    );
}
