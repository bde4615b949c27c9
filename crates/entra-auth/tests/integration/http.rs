//! The tower layer and the axum extractors over real HTTP (axum on 127.0.0.1:0, reqwest).
#![allow(clippy::unwrap_used)]

use crate::common::*;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use entra_auth::{
    AuthLayer, AuthState, Authenticated, Authorized, Permission, Requirement, TokenValidator,
};
use entra_dev::TokenRequest;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::ServiceExt;

struct WeatherWrite;
impl Permission for WeatherWrite {}

#[tokio::test]
async fn route_layer_protects_one_route_and_leaves_others_open() {
    let e = env().await;
    let app = Router::new()
        .route(
            "/private",
            get(|Authenticated(c): Authenticated| async move { c.name().unwrap_or("").to_owned() })
                .route_layer(AuthLayer::new(e.validator.clone())),
        )
        .route("/public", get(|| async { "hello" }));
    let base = serve(app).await;

    assert_eq!(
        call(&base, "/public", None).await,
        (200, None, "hello".into())
    );
    let (s, ch, body) = call(&base, "/private", None).await;
    assert_eq!(s, 401);
    assert_eq!(ch.as_deref(), Some("Bearer"));
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "missing_token");
    assert_eq!(body["title"], "Unauthorized");
    let (s, _, body) = call(&base, "/private", Some(&e.reader())).await;
    assert_eq!((s, body.as_str()), (200, "Alice Example"));
}

#[tokio::test]
async fn extractors_validate_through_state_without_a_layer() {
    let e = env().await;
    let app = Router::new()
        .route(
            "/me",
            get(|Authenticated(c): Authenticated| async move { c.oid().unwrap_or("").to_owned() }),
        )
        .route(
            "/write",
            get(|a: Authorized<WeatherWrite>| async move {
                a.into_claims().scopes().collect::<Vec<_>>().join(",")
            }),
        )
        .with_state(AppState {
            auth: AuthState::new(e.validator.clone()).permit::<WeatherWrite>(
                Requirement::scopes(["weather.write"]).or_roles(["Weather.Write.All"]),
            ),
        });
    let base = serve(app).await;

    let (s, ch, _) = call(&base, "/me", None).await;
    assert_eq!((s, ch.as_deref()), (401, Some("Bearer")));
    let (s, _, body) = call(&base, "/me", Some(&e.reader())).await;
    assert_eq!((s, body.as_str()), (200, entra_dev::defaults::ALICE_OID));

    let (s, ch, body) = call(&base, "/write", Some(&e.reader())).await;
    assert_eq!(s, 403);
    let ch = ch.unwrap();
    assert!(
        ch.starts_with("Bearer error=\"insufficient_scope\""),
        "{ch}"
    );
    assert!(ch.ends_with("scope=\"weather.write\""), "{ch}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "insufficient_scope");
    assert!(body["detail"].as_str().unwrap().starts_with("IDW10203"));

    let writer = e.mint(&TokenRequest {
        scopes: vec!["weather.read".into(), "weather.write".into()],
        ..e.request()
    });
    let (s, _, body) = call(&base, "/write", Some(&writer)).await;
    assert_eq!((s, body.as_str()), (200, "weather.read,weather.write"));

    // each request counted once: the 403 is a rejection only, not also an acceptance
    let m = e.validator.metrics();
    assert_eq!(m.accepted, 2);
    assert_eq!(m.rejected_with("missing_token"), 1);
    assert_eq!(m.rejected_with("insufficient_scope"), 1);
}

#[tokio::test]
async fn extractor_without_layer_or_validator_answers_500_auth_layer_missing() {
    let app = Router::new().route(
        "/me",
        get(|Authenticated(c): Authenticated| async move { c.sub().unwrap_or("").to_owned() }),
    );
    let base = serve(app).await;
    let (s, ch, body) = call(&base, "/me", Some("abc")).await;
    assert_eq!(s, 500);
    assert!(ch.is_none());
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "auth_layer_missing");
}

#[tokio::test]
async fn layer_protects_a_plain_tower_service() {
    let e = env().await;
    let svc = tower::service_fn(|req: http::Request<()>| async move {
        let c = req
            .extensions()
            .get::<entra_auth::VerifiedClaims>()
            .cloned()
            .unwrap();
        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(
            c.preferred_username().unwrap_or("").to_owned(),
        ))))
    });
    let svc = tower::Layer::layer(
        &AuthLayer::new(e.validator.clone()).require(Requirement::scopes(["weather.read"])),
        svc,
    );

    let req = http::Request::builder()
        .header(AUTHORIZATION, format!("Bearer {}", e.reader()))
        .body(())
        .unwrap();
    let res = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"alice@dev.example");

    let req = http::Request::builder()
        .header(AUTHORIZATION, "Bearer a.b.c")
        .body(())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()[WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .starts_with("Bearer error=\"invalid_token\""));
    assert!(res.extensions().get::<entra_auth::AuthError>().is_some());
}

#[tokio::test]
async fn validator_is_cheap_to_clone_and_shares_keys() {
    let e = env().await;
    let clone: TokenValidator = e.validator.clone();
    e.validator.warm_up().await.unwrap();
    assert!(clone.is_ready());
    assert_eq!(
        clone
            .validate(&e.reader())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    assert_eq!(e.validator.metrics().accepted, 1);
}

#[tokio::test]
async fn token_in_query_string_is_refused_with_400() {
    let e = env().await;
    let base = serve(protected_router(e.validator.clone())).await;
    let token = e.reader();
    let res = client()
        .get(format!("{base}/weather?access_token={token}"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers()[WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .starts_with("Bearer error=\"invalid_request\""));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "invalid_request");
    assert!(!body["detail"].as_str().unwrap().contains(&token));
}

#[tokio::test]
async fn handler_can_answer_a_claims_challenge_to_capable_clients() {
    let e = env().await;
    let app = Router::new()
        .route(
            "/sensitive",
            get(|Authenticated(c): Authenticated| async move {
                if c.supports_claims_challenge() {
                    Err(entra_auth::AuthError::claims_challenge(
                        r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#,
                    ))
                } else {
                    Ok("no step-up possible")
                }
            }),
        )
        .layer(AuthLayer::new(e.validator.clone()));
    let base = serve(app).await;
    let mut extra = serde_json::Map::new();
    extra.insert("xms_cc".into(), serde_json::json!(["cp1"]));
    let capable = e.mint(&TokenRequest {
        extra_claims: extra,
        ..e.request()
    });
    let (s, ch, body) = call(&base, "/sensitive", Some(&capable)).await;
    assert_eq!(s, 401);
    let ch = ch.unwrap();
    assert!(
        ch.starts_with("Bearer error=\"insufficient_claims\""),
        "{ch}"
    );
    assert!(
        ch.contains("claims=\"eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6"),
        "{ch}"
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "insufficient_claims");
    let (s, _, body) = call(&base, "/sensitive", Some(&e.reader())).await;
    assert_eq!((s, body.as_str()), (200, "no step-up possible"));
}
