//! The emulated managed identity endpoints (instance metadata service, App Service) over real HTTP, and
//! the development managed identities as federated credentials of the registered clients.

use entra_dev::defaults::{
    DEV_API_CLIENT_ID, DEV_DAEMON_CLIENT_ID, DEV_IDENTITY_HEADER, DEV_SYSTEM_MI_CLIENT_ID,
    DEV_SYSTEM_MI_OBJECT_ID, DEV_TENANT_ID, DEV_USER_MI_CLIENT_ID, DEV_USER_MI_OBJECT_ID,
    DEV_USER_MI_RESOURCE_ID,
};
use entra_dev::{RunningDevIssuer, TOKEN_EXCHANGE_AUDIENCE};
use serde_json::Value;

use crate::common::{get_json, http, invalid_request, peek, spawn, verify};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn imds_url(running: &RunningDevIssuer, query: &[(&str, &str)]) -> String {
    let mut url = running
        .url()
        .join("metadata/identity/oauth2/token")
        .unwrap();
    url.query_pairs_mut().extend_pairs(query);
    url.to_string()
}

fn app_service_url(running: &RunningDevIssuer, query: &[(&str, &str)]) -> String {
    let mut url = running.url().join("msi/token").unwrap();
    url.query_pairs_mut().extend_pairs(query);
    url.to_string()
}

async fn imds_get(running: &RunningDevIssuer, query: &[(&str, &str)]) -> (u16, Value) {
    let res = http()
        .get(imds_url(running, query))
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn imds_token(running: &RunningDevIssuer, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut query = vec![
        ("api-version", "2018-02-01"),
        ("resource", TOKEN_EXCHANGE_AUDIENCE),
    ];
    query.extend_from_slice(extra);
    imds_get(running, &query).await
}

async fn jwks(running: &RunningDevIssuer) -> Value {
    let url = running
        .url()
        .join(&format!("{DEV_TENANT_ID}/discovery/v2.0/keys"))
        .unwrap();
    get_json(&http(), url.as_str()).await
}

fn issuer_v2(running: &RunningDevIssuer) -> String {
    running.issuer.issuer_v2(DEV_TENANT_ID)
}

#[tokio::test]
async fn imds_issues_a_system_assigned_token_with_string_numbers() {
    let running = spawn().await;
    let (status, body) = imds_token(&running, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], TOKEN_EXCHANGE_AUDIENCE);
    assert_eq!(body["client_id"], DEV_SYSTEM_MI_CLIENT_ID);
    for field in ["expires_in", "expires_on", "ext_expires_in", "not_before"] {
        let text = body[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} is a string"));
        assert!(text.parse::<u64>().is_ok(), "{field}: {text}");
    }
    let claims = verify(
        body["access_token"].as_str().unwrap(),
        &jwks(&running).await,
        &issuer_v2(&running),
        TOKEN_EXCHANGE_AUDIENCE,
    );
    assert_eq!(claims["sub"], DEV_SYSTEM_MI_OBJECT_ID);
    assert_eq!(claims["oid"], DEV_SYSTEM_MI_OBJECT_ID);
    assert_eq!(claims["azp"], DEV_SYSTEM_MI_CLIENT_ID);
    assert_eq!(claims["idtyp"], "app");
    assert!(claims.get("xms_mirid").is_none());
    assert_eq!(running.issuer.stats().managed_identity_requests, 1);
}

#[tokio::test]
async fn imds_names_the_user_assigned_identity_by_each_id_kind() {
    let running = spawn().await;
    for (param, value) in [
        ("client_id", DEV_USER_MI_CLIENT_ID),
        ("object_id", DEV_USER_MI_OBJECT_ID),
        ("msi_res_id", DEV_USER_MI_RESOURCE_ID),
    ] {
        let (status, body) = imds_token(&running, &[(param, value)]).await;
        assert_eq!(status, 200, "{param}: {body}");
        assert_eq!(body["client_id"], DEV_USER_MI_CLIENT_ID, "{param}");
        let claims = peek(body["access_token"].as_str().unwrap());
        assert_eq!(claims["oid"], DEV_USER_MI_OBJECT_ID, "{param}");
        assert_eq!(claims["xms_mirid"], DEV_USER_MI_RESOURCE_ID, "{param}");
    }
}

#[tokio::test]
async fn imds_without_the_metadata_header_returns_400() {
    let running = spawn().await;
    let body = invalid_request(http().get(imds_url(
        &running,
        &[
            ("api-version", "2018-02-01"),
            ("resource", TOKEN_EXCHANGE_AUDIENCE),
        ],
    )))
    .await;
    assert_eq!(
        body["error_description"],
        "Required metadata header not specified"
    );
}

#[tokio::test]
async fn imds_for_an_unknown_identity_returns_400_identity_not_found() {
    let running = spawn().await;
    let (status, body) = imds_token(
        &running,
        &[("client_id", "99999999-9999-4999-8999-999999999999")],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["error_description"], "Identity not found");
}

#[tokio::test]
async fn imds_for_an_unknown_resource_returns_400_invalid_resource() {
    let running = spawn().await;
    let (status, body) = imds_get(
        &running,
        &[
            ("api-version", "2018-02-01"),
            ("resource", "https://vault.example"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_resource");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("AADSTS500011"),
        "{body}"
    );
}

#[tokio::test]
async fn imds_for_a_tenant_api_issues_a_token_with_the_apis_audience() {
    let running = spawn().await;
    let (status, body) = imds_get(
        &running,
        &[
            ("api-version", "2018-02-01"),
            ("resource", &format!("api://{DEV_API_CLIENT_ID}")),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let claims = verify(
        body["access_token"].as_str().unwrap(),
        &jwks(&running).await,
        &issuer_v2(&running),
        DEV_API_CLIENT_ID,
    );
    assert_eq!(claims["oid"], DEV_SYSTEM_MI_OBJECT_ID);
}

#[tokio::test]
async fn imds_fault_switch_answers_the_next_n_requests_with_the_status() {
    let running = spawn().await;
    let client = http();
    let res = client
        .put(running.url().join("control/managed-identity").unwrap())
        .header("content-type", "application/json")
        .body(r#"{"status": 429, "count": 2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": 429, "count": 2}));
    for _ in 0..2 {
        let (status, body) = imds_token(&running, &[]).await;
        assert_eq!(status, 429, "{body}");
    }
    let (status, body) = imds_token(&running, &[]).await;
    assert_eq!(status, 200, "{body}");
    running.issuer.fail_managed_identity(410, 1).unwrap();
    assert_eq!(imds_token(&running, &[]).await.0, 410);
    assert_eq!(imds_token(&running, &[]).await.0, 200);
}

#[tokio::test]
async fn fault_switch_refuses_a_status_that_is_no_fault() {
    let running = spawn().await;
    let res = http()
        .put(running.url().join("control/managed-identity").unwrap())
        .header("content-type", "application/json")
        .body(r#"{"status": 400, "count": 2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error_description"].as_str().unwrap().contains("429"),
        "{body}"
    );
    assert!(
        matches!(
            running.issuer.fail_managed_identity(200, 1),
            Err(entra_dev::DevIssuerError::InvalidFault { status: 200 })
        ),
        "a 200 is not a fault"
    );
}

#[tokio::test]
async fn app_service_issues_a_token_with_a_numeric_expires_on() {
    let running = spawn().await;
    let res = http()
        .get(app_service_url(
            &running,
            &[
                ("api-version", "2019-08-01"),
                ("resource", TOKEN_EXCHANGE_AUDIENCE),
                ("mi_res_id", DEV_USER_MI_RESOURCE_ID),
            ],
        ))
        .header("X-IDENTITY-HEADER", DEV_IDENTITY_HEADER)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(body["expires_on"].is_u64(), "{body}");
    assert_eq!(body["client_id"], DEV_USER_MI_CLIENT_ID);
    let claims = peek(body["access_token"].as_str().unwrap());
    assert_eq!(claims["oid"], DEV_USER_MI_OBJECT_ID);
}

#[tokio::test]
async fn app_service_with_a_wrong_or_missing_identity_header_returns_400() {
    let running = spawn().await;
    let url = app_service_url(
        &running,
        &[
            ("api-version", "2019-08-01"),
            ("resource", TOKEN_EXCHANGE_AUDIENCE),
        ],
    );
    for header in [Some("not-the-secret"), None] {
        let mut req = http().get(&url);
        if let Some(h) = header {
            req = req.header("X-IDENTITY-HEADER", h);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 400, "{header:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["statusCode"], 400);
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("X-IDENTITY-HEADER"), "{message}");
        assert!(
            !message.contains(DEV_IDENTITY_HEADER),
            "never echoes the secret"
        );
    }
}

async fn client_credentials_with(
    running: &RunningDevIssuer,
    client_id: &str,
    assertion: &str,
) -> (u16, Value) {
    let url = running
        .url()
        .join(&format!("{DEV_TENANT_ID}/oauth2/v2.0/token"))
        .unwrap();
    let res = http()
        .post(url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("scope", &format!("api://{DEV_API_CLIENT_ID}/.default")),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn managed_identity_token_is_accepted_as_the_daemons_federated_credential() {
    let running = spawn().await;
    let (_, mi) = imds_token(&running, &[]).await;
    let (status, body) = client_credentials_with(
        &running,
        DEV_DAEMON_CLIENT_ID,
        mi["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let claims = peek(body["access_token"].as_str().unwrap());
    assert_eq!(claims["azp"], DEV_DAEMON_CLIENT_ID);
    assert_eq!(claims["azpacr"], "2");
}

#[tokio::test]
async fn managed_identity_token_for_another_audience_is_refused_700212() {
    let running = spawn().await;
    let (_, mi) = imds_get(
        &running,
        &[
            ("api-version", "2018-02-01"),
            ("resource", &format!("api://{DEV_API_CLIENT_ID}")),
        ],
    )
    .await;
    let (status, body) = client_credentials_with(
        &running,
        DEV_DAEMON_CLIENT_ID,
        mi["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error_codes"][0], 700_212);
}

#[tokio::test]
async fn token_signed_by_another_issuer_with_this_issuers_iss_is_refused_700027() {
    let running = spawn().await;
    let other = spawn_other_key().await;
    // Another issuer's token claiming this issuer's `iss` and the trusted subject.
    let mut extra = serde_json::Map::new();
    extra.insert("iss".into(), issuer_v2(&running).into());
    extra.insert("sub".into(), DEV_SYSTEM_MI_OBJECT_ID.into());
    let forged = other
        .issuer
        .mint(&entra_dev::TokenRequest {
            subject: entra_dev::Subject::App {
                client_id: DEV_SYSTEM_MI_CLIENT_ID.into(),
            },
            audience: Some(TOKEN_EXCHANGE_AUDIENCE.into()),
            extra_claims: extra,
            ..entra_dev::TokenRequest::default()
        })
        .unwrap();
    let (status, body) = client_credentials_with(&running, DEV_DAEMON_CLIENT_ID, &forged).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error_codes"][0], 700_027);
}

async fn spawn_other_key() -> RunningDevIssuer {
    // A key of its own (the shared one is the first issuer's).
    let key = entra_dev::DevIssuer::generate_key().unwrap();
    entra_dev::DevIssuer::spawn_with_key(entra_dev::DevIssuerConfig::default(), key)
        .await
        .unwrap()
}
