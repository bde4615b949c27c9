//! The device code flow (RFC 8628) and refresh tokens over real HTTP: the device authorization endpoint,
//! the verification page, the polling answers, rotation and revocation.

use std::time::Duration;

use crate::common::{
    assert_entra_error, get_json, http, invalid_request, peek, post_form, spawn, spawn_with, verify,
};
use entra_dev::defaults::{
    BOB_OID, DEV_API_APP_ID_URI, DEV_API_CLIENT_ID, DEV_DAEMON_CLIENT_ID, DEV_DAEMON_CLIENT_SECRET,
    DEV_PUBLIC_CLIENT_ID, DEV_TENANT_ID,
};
use entra_dev::testing::{Answer, Browser};
use entra_dev::{DevIssuerConfig, LoginForm, RunningDevIssuer};
use serde_json::{json, Value};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const PAGE_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

fn scope() -> String {
    format!("{DEV_API_APP_ID_URI}/weather.read {DEV_API_APP_ID_URI}/weather.write offline_access openid")
}

async fn device_code(running: &RunningDevIssuer, scope: &str) -> (u16, Value) {
    post_form(
        &format!("{}{DEV_TENANT_ID}/oauth2/v2.0/devicecode", running.url()),
        &[("client_id", DEV_PUBLIC_CLIENT_ID), ("scope", scope)],
    )
    .await
}

async fn poll(running: &RunningDevIssuer, device_code: &str) -> (u16, Value) {
    post_form(
        &format!("{}{DEV_TENANT_ID}/oauth2/v2.0/token", running.url()),
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", DEV_PUBLIC_CLIENT_ID),
            ("device_code", device_code),
        ],
    )
    .await
}

/// Posts `user_code` to the verification page.
async fn post_code(running: &RunningDevIssuer, user_code: &str) -> reqwest::Response {
    http()
        .post(format!("{}devicelogin", running.url()))
        .form(&[("user_code", user_code)])
        .send()
        .await
        .unwrap()
}

/// Enters `user_code` on the verification page and returns the sign-in form.
async fn enter_code(running: &RunningDevIssuer, user_code: &str) -> LoginForm {
    let res = post_code(running, user_code).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-security-policy"], PAGE_POLICY);
    let html = res.text().await.unwrap();
    assert!(html.contains("DEVELOPMENT ONLY") && html.contains("Bob Example"));
    assert!(!html.contains("<script"));
    LoginForm::parse(&html).unwrap()
}

/// Enters a code the page must refuse: 400, the page's CSP; returns the HTML.
async fn refused_code(running: &RunningDevIssuer, user_code: &str) -> String {
    let res = post_code(running, user_code).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-security-policy"], PAGE_POLICY);
    res.text().await.unwrap()
}

async fn submit(form: &LoginForm, body: &[(String, String)]) -> (u16, String) {
    let res = http().post(form.action()).form(body).send().await.unwrap();
    let status = res.status().as_u16();
    assert_eq!(res.headers()["content-security-policy"], PAGE_POLICY);
    (status, res.text().await.unwrap())
}

/// The whole device flow as `user`: the token answer.
async fn device_sign_in(running: &RunningDevIssuer, user: &str) -> Value {
    let (_, start) = device_code(running, &scope()).await;
    Browser::new()
        .unwrap()
        .approve_device_code(
            running.url(),
            start["user_code"].as_str().unwrap(),
            Answer::accept(user, &["weather.read", "weather.write"]),
        )
        .await
        .unwrap();
    let (status, body) = poll(running, start["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn refresh(running: &RunningDevIssuer, token: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", DEV_PUBLIC_CLIENT_ID),
        ("refresh_token", token),
    ];
    form.extend_from_slice(extra);
    post_form(
        &format!("{}{DEV_TENANT_ID}/oauth2/v2.0/token", running.url()),
        &form,
    )
    .await
}

#[tokio::test]
async fn device_code_flow_end_to_end_issues_tokens_once() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let metadata = get_json(
        &http(),
        &format!("{base}{DEV_TENANT_ID}/v2.0/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(
        metadata["device_authorization_endpoint"],
        format!("{base}{DEV_TENANT_ID}/oauth2/v2.0/devicecode")
    );
    let (status, start) = device_code(&running, &scope()).await;
    assert_eq!(status, 200, "{start}");
    let user_code = start["user_code"].as_str().unwrap().to_owned();
    assert_eq!(user_code.len(), 9);
    assert!(user_code
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    assert_eq!(start["verification_uri"], format!("{base}devicelogin"));
    assert_eq!(start["expires_in"], 900);
    assert_eq!(start["interval"], 5);
    let message = start["message"].as_str().unwrap();
    assert!(message.contains(&user_code) && message.contains(&format!("{base}devicelogin")));
    let device = start["device_code"].as_str().unwrap().to_owned();

    let (status, body) = poll(&running, &device).await;
    assert_entra_error(status, &body, 400, "authorization_pending", 70_016);

    let page = http()
        .get(format!("{base}devicelogin"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-security-policy"], PAGE_POLICY);
    assert!(page.text().await.unwrap().contains("name=\"user_code\""));
    // People type codes in lower case with dashes.
    let typed = format!("{}-{}", &user_code[..4], &user_code[4..]).to_ascii_lowercase();
    let form = enter_code(&running, &typed).await;
    let (status, html) = submit(&form, &form.accept("bob", &["weather.read"])).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("You have signed in") && html.contains("Bob Example"),
        "{html}"
    );

    let (status, body) = poll(&running, &device).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], format!("{DEV_API_APP_ID_URI}/weather.read"));
    assert!(body["refresh_token"]
        .as_str()
        .is_some_and(|r| r.len() >= 40));
    assert_eq!(peek(body["id_token"].as_str().unwrap())["oid"], BOB_OID);
    let keys = get_json(
        &http(),
        &format!("{base}{DEV_TENANT_ID}/discovery/v2.0/keys"),
    )
    .await;
    let claims = verify(
        body["access_token"].as_str().unwrap(),
        &keys,
        &format!("{base}{DEV_TENANT_ID}/v2.0"),
        DEV_API_CLIENT_ID,
    );
    assert_eq!(claims["oid"], BOB_OID);
    assert_eq!(claims["scp"], "weather.read");
    assert_eq!(claims["azp"], DEV_PUBLIC_CLIENT_ID);
    assert_eq!(claims["azpacr"], "0");

    let (status, body) = poll(&running, &device).await;
    assert_entra_error(status, &body, 400, "invalid_grant", 54_005);
    let stats = running.issuer.stats();
    assert_eq!(stats.device_authorization_requests, 1);
    assert_eq!(stats.device_code_requests, 3);
    assert_eq!(stats.tokens_issued, 1);
}

#[tokio::test]
async fn device_code_polled_before_the_interval_returns_slow_down_with_a_longer_interval() {
    let running = spawn().await;
    let (_, start) = device_code(&running, &scope()).await;
    let device = start["device_code"].as_str().unwrap();
    let (status, body) = poll(&running, device).await;
    assert_entra_error(status, &body, 400, "authorization_pending", 70_016);
    let (status, body) = poll(&running, device).await;
    assert_entra_error(status, &body, 400, "slow_down", 70_016);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("wait 10 seconds"));
}

#[tokio::test]
async fn device_code_past_its_lifetime_returns_expired_token_and_the_page_says_so() {
    let running = spawn_with(DevIssuerConfig {
        device_code_lifetime: Duration::ZERO,
        ..DevIssuerConfig::default()
    })
    .await;
    let (_, start) = device_code(&running, &scope()).await;
    assert_eq!(start["expires_in"], 0);
    let (status, body) = poll(&running, start["device_code"].as_str().unwrap()).await;
    assert_entra_error(status, &body, 400, "expired_token", 70_019);
    let html = refused_code(&running, start["user_code"].as_str().unwrap()).await;
    assert!(html.contains("That code has expired"));
}

#[tokio::test]
async fn device_code_declined_on_the_page_returns_authorization_declined() {
    let running = spawn().await;
    let (_, start) = device_code(&running, &scope()).await;
    let form = enter_code(&running, start["user_code"].as_str().unwrap()).await;
    let (status, html) = submit(&form, &form.cancel()).await;
    assert_eq!(status, 200);
    assert!(html.contains("Sign-in declined"));
    let (status, body) = poll(&running, start["device_code"].as_str().unwrap()).await;
    assert_entra_error(status, &body, 400, "authorization_declined", 70_000);
    // The code cannot be used again.
    let html = refused_code(&running, start["user_code"].as_str().unwrap()).await;
    assert!(html.contains("already used"));
}

#[tokio::test]
async fn verification_page_with_an_unknown_code_returns_400_and_escapes_nothing_it_echoes() {
    let running = spawn().await;
    let html = refused_code(&running, "<script>x</script>").await;
    assert!(html.contains("That code is not valid"));
    assert!(!html.contains("<script>"));
}

#[tokio::test]
async fn device_authorization_for_unknown_client_missing_scope_or_b2c_is_refused() {
    let running = spawn().await;
    let url = format!("{}{DEV_TENANT_ID}/oauth2/v2.0/devicecode", running.url());
    let (status, body) = post_form(&url, &[("client_id", "nobody"), ("scope", &scope())]).await;
    assert_entra_error(status, &body, 401, "invalid_client", 700_016);
    let (status, body) = post_form(&url, &[("client_id", DEV_PUBLIC_CLIENT_ID)]).await;
    assert_entra_error(status, &body, 400, "invalid_request", 900_144);
    let (status, body) = post_form(
        &url,
        &[("client_id", DEV_PUBLIC_CLIENT_ID), ("scope", "openid")],
    )
    .await;
    assert_entra_error(status, &body, 400, "invalid_scope", 70_011);
    let (status, body) = post_form(
        &format!(
            "{}devb2c.onmicrosoft.com/B2C_1_signin/oauth2/v2.0/devicecode",
            running.url()
        ),
        &[("client_id", DEV_PUBLIC_CLIENT_ID), ("scope", &scope())],
    )
    .await;
    assert_entra_error(status, &body, 400, "unsupported_grant_type", 70_003);
}

#[tokio::test]
async fn refresh_token_rotates_and_the_replaced_one_is_refused() {
    let running = spawn().await;
    let first = device_sign_in(&running, "bob").await;
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let (status, second) = refresh(&running, &r1, &[]).await;
    assert_eq!(status, 200, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    let claims = peek(second["access_token"].as_str().unwrap());
    assert_eq!(claims["oid"], BOB_OID);
    assert_eq!(claims["scp"], "weather.read weather.write");
    assert!(second["id_token"].as_str().is_some());
    let (status, body) = refresh(&running, &r1, &[]).await;
    assert_entra_error(status, &body, 400, "invalid_grant", 70_000);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("rotation"));
    let (status, third) = refresh(
        &running,
        &r2,
        &[(
            "scope",
            &format!("{DEV_API_APP_ID_URI}/weather.read offline_access"),
        )],
    )
    .await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(
        peek(third["access_token"].as_str().unwrap())["scp"],
        "weather.read"
    );
    assert_eq!(running.issuer.stats().refresh_token_requests, 3);
}

#[tokio::test]
async fn refresh_token_for_a_scope_never_granted_returns_consent_required() {
    let running = spawn().await;
    let (_, start) = device_code(
        &running,
        &format!("{DEV_API_APP_ID_URI}/weather.read offline_access"),
    )
    .await;
    let form = enter_code(&running, start["user_code"].as_str().unwrap()).await;
    submit(&form, &form.accept("alice", &["weather.read"])).await;
    let (_, tokens) = poll(&running, start["device_code"].as_str().unwrap()).await;
    assert!(tokens.get("id_token").is_none(), "no openid, no id_token");
    let (status, body) = refresh(
        &running,
        tokens["refresh_token"].as_str().unwrap(),
        &[("scope", &format!("{DEV_API_APP_ID_URI}/weather.write"))],
    )
    .await;
    assert_entra_error(status, &body, 400, "invalid_grant", 65_001);
    assert_eq!(body["suberror"], "consent_required");
}

#[tokio::test]
async fn refresh_token_after_revocation_returns_50173() {
    let running = spawn().await;
    let tokens = device_sign_in(&running, "alice").await;
    let other = device_sign_in(&running, "bob").await;
    let res = http()
        .post(format!("{}control/revoke", running.url()))
        .json(&json!({ "user": "alice@dev.example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({ "user": "alice", "revoked": 1 })
    );
    let (status, body) = refresh(&running, tokens["refresh_token"].as_str().unwrap(), &[]).await;
    assert_entra_error(status, &body, 400, "invalid_grant", 50_173);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("Sign the user in again"));
    // Bob keeps his.
    let (status, _) = refresh(&running, other["refresh_token"].as_str().unwrap(), &[]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn refresh_token_presented_by_another_client_returns_70000() {
    let running = spawn().await;
    let tokens = device_sign_in(&running, "bob").await;
    let (status, body) = post_form(
        &format!("{}{DEV_TENANT_ID}/oauth2/v2.0/token", running.url()),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", DEV_DAEMON_CLIENT_ID),
            ("client_secret", DEV_DAEMON_CLIENT_SECRET),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_entra_error(status, &body, 400, "invalid_grant", 70_000);
    let (status, body) = refresh(&running, "never-issued", &[]).await;
    assert_entra_error(status, &body, 400, "invalid_grant", 9_002_313);
}

#[tokio::test]
async fn control_revoke_with_a_bad_body_returns_400() {
    let running = spawn().await;
    let body = invalid_request(
        http()
            .post(format!("{}control/revoke", running.url()))
            .header("content-type", "application/json")
            .body("alice"),
    )
    .await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("{\"user\""));
}
