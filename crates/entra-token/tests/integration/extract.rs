//! The `OnBehalfOf` extractor over real HTTP, with entra-auth validating tokens of the development
//! issuer: the assertion is the very token entra-auth verified, and each way a route can be
//! wrong for on-behalf-of has its own answer.

use axum::routing::get;
use axum::{Json, Router};
use entra_auth::{AuthConfig, AuthLayer, AuthState, TokenValidator};
use entra_dev::{defaults, DevIssuer, DevIssuerConfig, RunningDevIssuer, Subject, TokenRequest};
use entra_token::OnBehalfOf;
use serde_json::{json, Value};

use crate::apps;
use crate::common::Reply;

/// What the handler saw: the caller's oid and the assertion's expiry.
async fn whoami(user: OnBehalfOf) -> Json<Value> {
    let expires = user
        .assertion()
        .expires_at()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Json(json!({ "oid": user.claims().oid(), "assertion_expires": expires }))
}

async fn issuer_and_validator() -> (RunningDevIssuer, TokenValidator) {
    let dev = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let config = AuthConfig::builder(defaults::DEV_TENANT_ID, defaults::DEV_API_CLIENT_ID)
        .instance(dev.issuer.instance().as_str())
        .build()
        .unwrap();
    let validator = TokenValidator::new(config).unwrap();
    validator.warm_up().await.unwrap();
    (dev, validator)
}

fn user_token(dev: &RunningDevIssuer) -> String {
    dev.issuer
        .mint(&TokenRequest {
            scopes: vec![defaults::SCOPE_READ.into()],
            ..TokenRequest::default()
        })
        .unwrap()
}

async fn get_with(app: Router, token: Option<&str>) -> Reply {
    let server = apps::serve(app).await.unwrap();
    let mut req = reqwest::Client::new().get(format!("{}me", server.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    Reply::read(res).await
}

#[tokio::test]
async fn on_behalf_of_behind_auth_layer_is_the_verified_token_of_the_caller() {
    let (dev, validator) = issuer_and_validator().await;
    let token = user_token(&dev);
    let app = Router::new()
        .route("/me", get(whoami))
        .layer(AuthLayer::new(validator));
    let reply = get_with(app, Some(&token)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["oid"], defaults::ALICE_OID);
    let exp = crate::common::payload(&token)["exp"].as_u64().unwrap();
    assert_eq!(reply.body["assertion_expires"], exp);
}

#[tokio::test]
async fn on_behalf_of_without_layer_validates_through_the_state_and_answers_entra_auths_401() {
    let (dev, validator) = issuer_and_validator().await;
    let app = || {
        Router::new()
            .route("/me", get(whoami))
            .with_state(AuthState::new(validator.clone()))
    };
    let reply = get_with(app(), Some(&user_token(&dev))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["oid"], defaults::ALICE_OID);

    let reply = get_with(app(), None).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("www-authenticate"), "Bearer");
    assert_eq!(reply.header("content-type"), "application/problem+json");
    assert_eq!(reply.body["code"], "missing_token");
}

#[tokio::test]
async fn on_behalf_of_on_a_route_nothing_verifies_is_500_auth_layer_missing() {
    let (dev, _validator) = issuer_and_validator().await;
    // State `()`: entra-auth's layer-only state, and no layer on the route.
    let app = Router::new().route("/me", get(whoami));
    let reply = get_with(app, Some(&user_token(&dev))).await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert_eq!(reply.header("content-type"), "application/problem+json");
    assert_eq!(reply.body["code"], "auth_layer_missing");
    assert_eq!(reply.header("www-authenticate"), "");
}

#[tokio::test]
async fn on_behalf_of_with_an_app_only_token_is_403_app_only_token() {
    let (dev, validator) = issuer_and_validator().await;
    let app_token = dev
        .issuer
        .mint(&TokenRequest {
            subject: Subject::App {
                client_id: defaults::DEV_DAEMON_CLIENT_ID.into(),
            },
            roles: vec![defaults::ROLE_READ_ALL.into()],
            ..TokenRequest::default()
        })
        .unwrap();
    let app = Router::new()
        .route("/me", get(whoami))
        .layer(AuthLayer::new(validator));
    let reply = get_with(app, Some(&app_token)).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.header("content-type"), "application/problem+json");
    assert_eq!(reply.body["code"], "app_only_token");
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("delegated (user) token"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn on_behalf_of_when_a_layer_replaced_the_verified_token_is_500_and_never_forwards_it() {
    let (dev, validator) = issuer_and_validator().await;
    let other = dev
        .issuer
        .mint(&TokenRequest {
            subject: Subject::User(defaults::BOB_USERNAME.into()),
            scopes: vec![defaults::SCOPE_READ.into()],
            ..TokenRequest::default()
        })
        .unwrap();
    let replace = axum::middleware::map_request(move |mut req: axum::extract::Request| {
        let other = other.clone();
        async move {
            req.headers_mut().insert(
                http::header::AUTHORIZATION,
                format!("Bearer {other}").parse().unwrap(),
            );
            req
        }
    });
    // The header is replaced after entra-auth verified alice's token.
    let app = Router::new()
        .route("/me", get(whoami))
        .layer(replace)
        .layer(AuthLayer::new(validator));
    let reply = get_with(app, Some(&user_token(&dev))).await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert_eq!(reply.body["code"], "configuration_error");
    assert_eq!(reply.header("cache-control"), "no-store");
    assert!(!reply.body.to_string().contains("eyJ"), "{}", reply.body);
}
