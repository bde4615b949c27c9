//! Every protected endpoint × {no token, malformed token, expired token, wrong scope, right scope,
//! app-only with the role, app-only without the role}: status, WWW-Authenticate and body.

use serde_json::Value;

use crate::helpers::{challenge, problem, report_body, spawn_app, Persona, TestApp};

/// A protected endpoint.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    GetWeather,
    ListReports,
    GetReport,
    PostReport,
}

impl Endpoint {
    fn scope(self) -> &'static str {
        match self {
            Self::GetWeather | Self::ListReports | Self::GetReport => "weather.read",
            Self::PostReport => "weather.write",
        }
    }

    fn right(self) -> Persona {
        match self {
            Self::GetWeather | Self::ListReports | Self::GetReport => Persona::Reader,
            Self::PostReport => Persona::Writer,
        }
    }

    fn wrong(self) -> Persona {
        match self {
            Self::GetWeather | Self::ListReports | Self::GetReport => Persona::Writer,
            Self::PostReport => Persona::Reader,
        }
    }

    fn success(self) -> u16 {
        match self {
            Self::PostReport => 201,
            _ => 200,
        }
    }

    async fn call(self, app: &TestApp, token: Option<&str>) -> reqwest::Response {
        match self {
            Self::GetWeather => {
                app.get(
                    "/api/weather/portland?state=OR&country=US&units=imperial",
                    token,
                )
                .await
            }
            Self::ListReports => app.get("/api/reports", token).await,
            Self::GetReport => {
                // A report that exists, stored by the daemon.
                let created: Value = app
                    .post_report_as(Persona::Daemon, &report_body("Hail", "Denver"))
                    .await
                    .json()
                    .await
                    .expect("json");
                let id = created["id"].as_str().expect("id");
                app.get(&format!("/api/reports/{id}"), token).await
            }
            Self::PostReport => {
                app.post_report(&report_body("Sunny", "Portland"), token)
                    .await
            }
        }
    }
}

async fn app() -> TestApp {
    let app = spawn_app().await;
    app.mock_weather_ok().await;
    app
}

async fn assert_unauthorized(response: reqwest::Response, expect_error: bool) -> Value {
    assert_eq!(response.status().as_u16(), 401);
    let challenge = challenge(&response);
    assert!(challenge.starts_with("Bearer"), "challenge: {challenge}");
    if expect_error {
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "challenge: {challenge}"
        );
    } else {
        assert!(!challenge.contains("error="), "challenge: {challenge}");
    }
    let body = problem(response).await;
    assert_eq!(body["status"], 401);
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}

async fn assert_forbidden(response: reqwest::Response, scope: &str) -> Value {
    assert_eq!(response.status().as_u16(), 403);
    let challenge = challenge(&response);
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "challenge: {challenge}"
    );
    assert!(challenge.contains(scope), "challenge: {challenge}");
    let body = problem(response).await;
    assert_eq!(body["status"], 403);
    assert_eq!(body["code"], "insufficient_scope");
    body
}

async fn no_token(endpoint: Endpoint) {
    let app = app().await;
    let token = app.token(Persona::Anonymous);
    let body = assert_unauthorized(endpoint.call(&app, token.as_deref()).await, false).await;
    assert_eq!(body["code"], MISSING_TOKEN_CODE);
    assert_eq!(app.upstream_hits().await, 0);
}

async fn malformed_token(endpoint: Endpoint) {
    let app = app().await;
    let body = assert_unauthorized(endpoint.call(&app, Some("not-a-jwt")).await, true).await;
    assert_eq!(body["code"], MALFORMED_TOKEN_CODE);
}

async fn expired_token(endpoint: Endpoint) {
    let app = app().await;
    let token = app.expired_token();
    let body = assert_unauthorized(endpoint.call(&app, Some(&token)).await, true).await;
    assert_eq!(body["code"], "token_expired");
}

async fn wrong_scope(endpoint: Endpoint) {
    let app = app().await;
    let token = app.token(endpoint.wrong());
    assert_forbidden(
        endpoint.call(&app, token.as_deref()).await,
        endpoint.scope(),
    )
    .await;
    assert_eq!(app.upstream_hits().await, 0);
}

async fn right_scope(endpoint: Endpoint) {
    let app = app().await;
    let token = app.token(endpoint.right());
    let response = endpoint.call(&app, token.as_deref()).await;
    assert_success(endpoint, response).await;
}

async fn app_with_role(endpoint: Endpoint) {
    let app = app().await;
    let token = app.token(Persona::Daemon);
    let response = endpoint.call(&app, token.as_deref()).await;
    assert_success(endpoint, response).await;
}

async fn app_without_role(endpoint: Endpoint) {
    let app = app().await;
    let token = app.token(Persona::DaemonWithoutRole);
    assert_forbidden(
        endpoint.call(&app, token.as_deref()).await,
        endpoint.scope(),
    )
    .await;
}

async fn assert_success(endpoint: Endpoint, response: reqwest::Response) {
    assert_eq!(response.status().as_u16(), endpoint.success());
    assert!(challenge(&response).is_empty());
    let body: Value = response.json().await.expect("json");
    match endpoint {
        Endpoint::GetWeather => assert_eq!(body["temp"], 61.5),
        Endpoint::ListReports => assert!(body.as_array().is_some(), "{body}"),
        Endpoint::GetReport => assert_eq!(body["description"], "Hail"),
        Endpoint::PostReport => assert_eq!(body["description"], "Sunny"),
    }
}

macro_rules! matrix {
    ($module:ident, $endpoint:expr) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn without_token_returns_401_with_bare_bearer_challenge() {
                no_token($endpoint).await;
            }

            #[tokio::test]
            async fn with_malformed_token_returns_401_invalid_token() {
                malformed_token($endpoint).await;
            }

            #[tokio::test]
            async fn with_expired_token_returns_401_token_expired() {
                expired_token($endpoint).await;
            }

            #[tokio::test]
            async fn with_wrong_scope_returns_403_insufficient_scope() {
                wrong_scope($endpoint).await;
            }

            #[tokio::test]
            async fn with_right_scope_succeeds() {
                right_scope($endpoint).await;
            }

            #[tokio::test]
            async fn app_only_with_role_succeeds() {
                app_with_role($endpoint).await;
            }

            #[tokio::test]
            async fn app_only_without_role_returns_403_insufficient_scope() {
                app_without_role($endpoint).await;
            }
        }
    };
}

matrix!(get_weather, Endpoint::GetWeather);
matrix!(list_reports, Endpoint::ListReports);
matrix!(get_report, Endpoint::GetReport);
matrix!(post_report, Endpoint::PostReport);

#[tokio::test]
async fn configured_role_names_replace_the_defaults() {
    let app = crate::helpers::spawn_app_with(
        crate::helpers::TestConfig::new().set("AZURE_AD__READ_ROLE", "Forecast.Reader"),
    )
    .await;
    let custom = app.mint(&crate::helpers::app_with_roles(&["Forecast.Reader"]));
    let response = app.get("/api/reports", Some(&custom)).await;
    assert_eq!(response.status().as_u16(), 200);
    // The default name no longer grants anything.
    let default = app.mint(&crate::helpers::app_with_roles(&["Weather.Read.All"]));
    let response = app.get("/api/reports", Some(&default)).await;
    assert_forbidden(response, "weather.read").await;
}

#[tokio::test]
async fn token_for_another_audience_returns_401_invalid_token() {
    let app = spawn_app().await;
    let mut request = crate::helpers::user_with_scopes(&["weather.read"]);
    request.audience = Some("00000003-0000-0000-c000-000000000000".to_owned());
    let token = app.mint(&request);
    let response = app.get("/api/reports", Some(&token)).await;
    assert_unauthorized(response, true).await;
}

#[tokio::test]
async fn public_routes_need_no_token() {
    let app = spawn_app().await;
    for path in ["/", "/healthz", "/readyz", "/static/css/site.css"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
}

/// The `code` entra-auth answers when there is no token.
const MISSING_TOKEN_CODE: &str = "missing_token";
/// The `code` entra-auth answers for a token that is not a JWT.
const MALFORMED_TOKEN_CODE: &str = "malformed_token";

#[tokio::test]
async fn protected_routes_answer_503_until_keys_arrive_while_public_routes_work() {
    let issuer = entra_dev::DevIssuer::spawn(entra_dev::DevIssuerConfig::default())
        .await
        .unwrap();
    issuer.issuer.set_outage(true);
    let mut config = crate::helpers::TestConfig::new();
    config.issuer = Some(issuer);
    config.warm_up = false;
    // The service starts although the identity provider is down.
    let app = crate::helpers::spawn_app_with(config).await;
    let token = app.token(Persona::Reader);

    let response = app.get("/api/reports", token.as_deref()).await;
    assert_eq!(response.status().as_u16(), 503);
    let body = problem(response).await;
    assert_eq!(body["code"], "keys_unavailable");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status().as_u16(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["checks"]["signing_keys"], false);
    assert_eq!(app.get("/healthz", None).await.status().as_u16(), 200);
    assert_eq!(app.get("/", None).await.status().as_u16(), 200);

    // The identity provider comes back: keys load, the same token is accepted.
    app.issuer.issuer.set_outage(false);
    app.validator.warm_up().await.unwrap();
    let response = app.get("/api/reports", token.as_deref()).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(app.get("/readyz", None).await.status().as_u16(), 200);
}

#[tokio::test]
async fn malformed_token_body_says_what_is_wrong_without_echoing_the_token() {
    let app = spawn_app().await;
    let response = app.get("/api/reports", Some("abc.def")).await;
    let body = assert_unauthorized(response, true).await;
    assert_eq!(body["code"], MALFORMED_TOKEN_CODE);
    assert!(!body.to_string().contains("abc.def"), "{body}");
}
