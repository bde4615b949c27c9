//! BearerLayer in front of an inner HTTP service: the token from the real token-endpoint
//! double, on behalf of the request's user or explicitly as the app; a claims challenge surfaced.

use std::convert::Infallible;

use entra_token::{BearerError, BearerLayer, Scopes, UserAssertion};
use tower::{Layer as _, ServiceExt as _};

use crate::common::{self, FakeEndpoint};

/// A downstream service: echoes the Authorization header, or demands MFA on `/mfa`.
async fn downstream(req: http::Request<String>) -> Result<http::Response<String>, Infallible> {
    use base64::Engine as _;
    if req.uri().path() == "/mfa" {
        let claims = base64::engine::general_purpose::STANDARD
            .encode(r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#);
        return Ok(http::Response::builder()
            .status(401)
            .header(
                "www-authenticate",
                format!(r#"Bearer error="insufficient_claims", claims="{claims}""#),
            )
            .body(String::new())
            .unwrap());
    }
    let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
    Ok(http::Response::new(auth))
}

#[tokio::test]
async fn on_behalf_of_layer_sets_users_token_from_request_user_assertion() {
    let ep = FakeEndpoint::start().await;
    let layer =
        BearerLayer::on_behalf_of(ep.secret_client(), Scopes::parse(common::DOWNSTREAM_SCOPE));
    let svc = layer.layer(tower::service_fn(downstream));
    let mut req = http::Request::new(String::new());
    req.extensions_mut().insert(
        UserAssertion::parse(&common::user_token("carol", common::unix_now() + 3600)).unwrap(),
    );
    let res = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.body(), "Bearer tok-1-for-carol");
    assert_eq!(ep.last_form()["requested_token_use"], "on_behalf_of");
}

#[tokio::test]
async fn as_app_layer_sends_app_token_even_when_request_carries_user_assertion() {
    let ep = FakeEndpoint::start().await;
    let layer = BearerLayer::as_app(ep.secret_client(), Scopes::app_default("api://downstream"));
    let svc = layer.layer(tower::service_fn(downstream));
    let res = svc
        .clone()
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(res.body(), "Bearer tok-1-for-app");
    assert_eq!(ep.last_form()["grant_type"], "client_credentials");
    // The layer was built "as the app": a user in the extensions does not change that.
    let mut req = http::Request::new(String::new());
    req.extensions_mut().insert(
        UserAssertion::parse(&common::user_token("carol", common::unix_now() + 3600)).unwrap(),
    );
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.body(), "Bearer tok-1-for-app");
    assert_eq!(ep.count(), 1, "the cached app token");
}

#[tokio::test]
async fn layer_turns_downstream_claims_challenge_into_error_naming_the_authority() {
    let ep = FakeEndpoint::start().await;
    let layer = BearerLayer::as_app(ep.secret_client(), Scopes::app_default("api://downstream"));
    let req = http::Request::builder()
        .uri("/mfa")
        .body(String::new())
        .unwrap();
    let err = layer
        .layer(tower::service_fn(downstream))
        .oneshot(req)
        .await
        .unwrap_err();
    let BearerError::ClaimsChallenge(c) = &err else {
        panic!("{err:?}")
    };
    assert!(c.claims().contains("acrs"), "{}", c.claims());
    assert_eq!(
        c.authorization_uri(),
        Some(ep.authority().authorize_endpoint().as_str())
    );
}

#[tokio::test]
async fn layer_with_expired_user_never_calls_token_endpoint_or_downstream() {
    let ep = FakeEndpoint::start().await;
    let layer =
        BearerLayer::on_behalf_of(ep.secret_client(), Scopes::parse(common::DOWNSTREAM_SCOPE));
    let mut req = http::Request::new(String::new());
    req.extensions_mut()
        .insert(UserAssertion::parse(&common::user_token("x", common::unix_now() - 5)).unwrap());
    let downstream_calls = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let calls = downstream_calls.clone();
    let err = layer
        .layer(tower::service_fn(move |req: http::Request<String>| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            downstream(req)
        }))
        .oneshot(req)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            BearerError::Token(entra_token::TokenError::Assertion(_))
        ),
        "{err:?}"
    );
    assert_eq!(ep.count(), 0);
    assert_eq!(
        downstream_calls.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}
