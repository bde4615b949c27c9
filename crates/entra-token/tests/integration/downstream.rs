//! DownstreamApi against a real downstream API on 127.0.0.1: the bearer token attached, a claims
//! challenge propagated, a plain 401 retried once with a token that bypasses the cache.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use entra_token::{DownstreamApi, DownstreamError, Scopes, UserAssertion};

use crate::common::{self, FakeEndpoint};

const CLAIMS: &str = r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#;

async fn downstream() -> (String, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let app = Router::new()
        .route(
            "/echo",
            get(|headers: HeaderMap| async move {
                headers["authorization"].to_str().unwrap().to_owned()
            }),
        )
        .route(
            "/mfa",
            get(|| async {
                use base64::Engine as _;
                let b64 = base64::engine::general_purpose::STANDARD.encode(CLAIMS);
                (
                    StatusCode::UNAUTHORIZED,
                    [(
                        "www-authenticate",
                        format!(r#"Bearer realm="", error="insufficient_claims", claims="{b64}""#),
                    )],
                )
                    .into_response()
            }),
        )
        .route(
            "/first-token-revoked",
            get(move |headers: HeaderMap| {
                let h = h.clone();
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    let auth = headers["authorization"].to_str().unwrap().to_owned();
                    if auth.starts_with("Bearer tok-1-") {
                        (
                            StatusCode::UNAUTHORIZED,
                            [(
                                "www-authenticate",
                                r#"Bearer error="invalid_token""#.to_owned(),
                            )],
                            String::new(),
                        )
                            .into_response()
                    } else {
                        (StatusCode::OK, auth).into_response()
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits)
}

fn api(ep: &FakeEndpoint) -> DownstreamApi {
    DownstreamApi::new(ep.secret_client(), Scopes::parse(common::DOWNSTREAM_SCOPE))
}

fn user(oid: &str) -> UserAssertion {
    UserAssertion::parse(&common::user_token(oid, common::unix_now() + 3600)).unwrap()
}

#[tokio::test]
async fn on_behalf_of_request_carries_users_downstream_token() {
    let ep = FakeEndpoint::start().await;
    let (base, _) = downstream().await;
    let http = reqwest::Client::new();
    let api = api(&ep);
    let res = api
        .send_on_behalf_of(&user("alice"), http.get(format!("{base}/echo")))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "Bearer tok-1-for-alice");
    let res = api
        .send_on_behalf_of(&user("alice"), http.get(format!("{base}/echo")))
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "Bearer tok-1-for-alice");
    assert_eq!(ep.count(), 1);
}

#[tokio::test]
async fn downstream_claims_challenge_is_propagated_as_insufficient_claims() {
    let ep = FakeEndpoint::start().await;
    let (base, _) = downstream().await;
    let err = api(&ep)
        .send_on_behalf_of(
            &user("alice"),
            reqwest::Client::new().get(format!("{base}/mfa")),
        )
        .await
        .unwrap_err();
    let DownstreamError::ClaimsChallenge(c) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(c.claims(), CLAIMS);
    // The API's answer to its caller names the client's authority as where to sign in again.
    assert_eq!(
        c.authorization_uri(),
        Some(ep.authority().authorize_endpoint().as_str())
    );
    assert_eq!(
        (err.status().as_u16(), err.code()),
        (401, "insufficient_claims")
    );
    let res: http::Response<bytes::Bytes> = err.to_response();
    let www = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        www.starts_with(&format!(
            r#"Bearer realm="", authorization_uri="{}", error="insufficient_claims", claims=""#,
            ep.authority().authorize_endpoint()
        )),
        "{www}"
    );
    // No retry for a claims challenge: one token request.
    assert_eq!(ep.count(), 1);
}

#[tokio::test]
async fn plain_401_is_retried_once_with_token_bypassing_cache() {
    let ep = FakeEndpoint::start().await;
    let (base, hits) = downstream().await;
    let res = api(&ep)
        .send_on_behalf_of(
            &user("alice"),
            reqwest::Client::new().get(format!("{base}/first-token-revoked")),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "Bearer tok-2-for-alice");
    assert_eq!(ep.count(), 2);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn send_with_confidential_client_carries_client_credentials_token() {
    let ep = FakeEndpoint::start().await;
    let (base, _) = downstream().await;
    let api = DownstreamApi::new(ep.secret_client(), Scopes::app_default("api://downstream"));
    let res = api
        .send(reqwest::Client::new().get(format!("{base}/echo")))
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "Bearer tok-1-for-app");
    assert_eq!(ep.last_form()["grant_type"], "client_credentials");
}

#[tokio::test]
async fn expired_incoming_token_fails_before_any_request() {
    let ep = FakeEndpoint::start().await;
    let (base, hits) = downstream().await;
    let expired = UserAssertion::parse(&common::user_token("a", common::unix_now() - 10)).unwrap();
    let err = api(&ep)
        .send_on_behalf_of(
            &expired,
            reqwest::Client::new().get(format!("{base}/first-token-revoked")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DownstreamError::Token(entra_token::TokenError::Assertion(_))
        ),
        "{err:?}"
    );
    assert_eq!((ep.count(), hits.load(Ordering::SeqCst)), (0, 0));
}
