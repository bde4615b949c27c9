//! The token endpoint over real HTTP: client credentials and authorization code + PKCE (through the HTML
//! login page), with their OAuth 2.0 error answers. Long because each error answer is its own named test;
//! the other grants have their own files (obo.rs, client_assertion.rs, device_refresh.rs).

use crate::common;

use std::time::Duration;

use crate::common::{get_json, http, spawn, spawn_with, verify};
use base64::Engine as _;
use entra_dev::defaults::{
    ALICE_OID, BOB_OID, DEV_API_APP_ID_URI, DEV_API_CLIENT_ID, DEV_DAEMON_CLIENT_ID,
    DEV_DAEMON_CLIENT_SECRET, DEV_DAEMON_SERVICE_PRINCIPAL_ID, DEV_PUBLIC_CLIENT_ID, DEV_TENANT_ID,
};
use entra_dev::{DevIssuerConfig, LoginForm, TokenVersion};
use serde_json::{json, Value};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn token_url(base: &str) -> String {
    format!("{base}{DEV_TENANT_ID}/oauth2/v2.0/token")
}

async fn post_form(url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let res = http().post(url).form(form).send().await.unwrap();
    let status = res.status().as_u16();
    let cache = res
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(cache.as_deref(), Some("no-store, no-cache"));
    (status, res.json().await.unwrap())
}

fn assert_oauth_error(status: u16, body: &Value, want_status: u16, error: &str, aadsts: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{aadsts}: ")),
        "{description}"
    );
    assert_eq!(body["error_codes"][0], aadsts.parse::<u64>().unwrap());
    assert!(body["trace_id"].as_str().is_some());
}

async fn v2_keys(base: &str) -> Value {
    get_json(
        &http(),
        &format!("{base}{DEV_TENANT_ID}/discovery/v2.0/keys"),
    )
    .await
}

// ---------------------------------------------------------------- client credentials

#[tokio::test]
async fn client_credentials_with_default_scope_returns_app_token_with_assigned_roles() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let scope = format!("{DEV_API_APP_ID_URI}/.default");
    let (status, body) = post_form(
        &token_url(&base),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_DAEMON_CLIENT_ID),
            ("client_secret", DEV_DAEMON_CLIENT_SECRET),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    let claims = verify(
        token,
        &v2_keys(&base).await,
        &format!("{base}{DEV_TENANT_ID}/v2.0"),
        DEV_API_CLIENT_ID,
    );
    assert_eq!(
        claims["roles"],
        json!(["Weather.Read.All", "Weather.Write.All"])
    );
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["azp"], DEV_DAEMON_CLIENT_ID);
    assert_eq!(claims["azpacr"], "1");
    assert_eq!(claims["oid"], DEV_DAEMON_SERVICE_PRINCIPAL_ID);
    assert!(claims.get("scp").is_none());
    let stats = running.issuer.stats();
    assert_eq!((stats.token_requests, stats.tokens_issued), (1, 1));
}

#[tokio::test]
async fn client_credentials_accepts_http_basic_and_client_id_resource() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{DEV_DAEMON_CLIENT_ID}:{DEV_DAEMON_CLIENT_SECRET}"));
    let scope = format!("{DEV_API_CLIENT_ID}/.default");
    let res = http()
        .post(token_url(&base))
        .header("authorization", format!("Basic {basic}"))
        .form(&[("grant_type", "client_credentials"), ("scope", &scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let claims = common::peek(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], DEV_API_CLIENT_ID);
}

#[tokio::test]
async fn client_credentials_with_wrong_secret_returns_401_invalid_client() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let scope = format!("{DEV_API_APP_ID_URI}/.default");
    let (status, body) = post_form(
        &token_url(&base),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_DAEMON_CLIENT_ID),
            ("client_secret", "wrong"),
            ("scope", &scope),
        ],
    )
    .await;
    assert_oauth_error(status, &body, 401, "invalid_client", "7000215");
    let stats = running.issuer.stats();
    assert_eq!((stats.token_requests, stats.tokens_issued), (1, 0));
}

#[tokio::test]
async fn client_credentials_without_secret_returns_401_invalid_client() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let scope = format!("{DEV_API_APP_ID_URI}/.default");
    let (status, body) = post_form(
        &token_url(&base),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_DAEMON_CLIENT_ID),
            ("scope", &scope),
        ],
    )
    .await;
    assert_oauth_error(status, &body, 401, "invalid_client", "7000218");
}

#[tokio::test]
async fn client_credentials_for_unknown_client_returns_401_invalid_client() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let scope = format!("{DEV_API_APP_ID_URI}/.default");
    let (status, body) = post_form(
        &token_url(&base),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "00000000-0000-4000-8000-000000000000"),
            ("client_secret", "x"),
            ("scope", &scope),
        ],
    )
    .await;
    assert_oauth_error(status, &body, 401, "invalid_client", "700016");
}

#[tokio::test]
async fn client_credentials_for_public_client_returns_401_invalid_client() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let scope = format!("{DEV_API_APP_ID_URI}/.default");
    let (status, body) = post_form(
        &token_url(&base),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_PUBLIC_CLIENT_ID),
            ("scope", &scope),
        ],
    )
    .await;
    assert_oauth_error(status, &body, 401, "invalid_client", "7000218");
}

#[tokio::test]
async fn client_credentials_with_named_scope_instead_of_default_returns_invalid_scope() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let scope = format!("{DEV_API_APP_ID_URI}/weather.read");
    let (status, body) = post_form(
        &token_url(&base),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_DAEMON_CLIENT_ID),
            ("client_secret", DEV_DAEMON_CLIENT_SECRET),
            ("scope", &scope),
        ],
    )
    .await;
    assert_oauth_error(status, &body, 400, "invalid_scope", "1002012");
}

#[tokio::test]
async fn client_credentials_for_unknown_resource_returns_invalid_scope() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let (status, body) = post_form(
        &token_url(&base),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_DAEMON_CLIENT_ID),
            ("client_secret", DEV_DAEMON_CLIENT_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_oauth_error(status, &body, 400, "invalid_scope", "500011");
}

#[tokio::test]
async fn token_request_without_scope_returns_invalid_request() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let (status, body) = post_form(
        &token_url(&base),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_DAEMON_CLIENT_ID),
            ("client_secret", DEV_DAEMON_CLIENT_SECRET),
        ],
    )
    .await;
    assert_oauth_error(status, &body, 400, "invalid_request", "900144");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("'scope'"));
}

#[tokio::test]
async fn token_request_without_grant_type_returns_invalid_request() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let (status, body) = post_form(&token_url(&base), &[("client_id", DEV_DAEMON_CLIENT_ID)]).await;
    assert_oauth_error(status, &body, 400, "invalid_request", "900144");
}

#[tokio::test]
async fn password_grant_returns_unsupported_grant_type() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let (status, body) = post_form(
        &token_url(&base),
        &[
            ("grant_type", "password"),
            ("client_id", DEV_PUBLIC_CLIENT_ID),
            ("username", "alice"),
            ("password", "x"),
        ],
    )
    .await;
    assert_oauth_error(status, &body, 400, "unsupported_grant_type", "70003");
}

#[tokio::test]
async fn v1_token_endpoint_with_resource_issues_v1_token_when_api_requests_v1() {
    let running = spawn_with(DevIssuerConfig {
        access_token_version: TokenVersion::V1,
        ..DevIssuerConfig::default()
    })
    .await;
    let base = running.url().as_str().to_owned();
    let (status, body) = post_form(
        &format!("{base}{DEV_TENANT_ID}/oauth2/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_DAEMON_CLIENT_ID),
            ("client_secret", DEV_DAEMON_CLIENT_SECRET),
            ("resource", DEV_API_APP_ID_URI),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let meta = get_json(
        &http(),
        &format!("{base}{DEV_TENANT_ID}/.well-known/openid-configuration"),
    )
    .await;
    let jwks = get_json(&http(), meta["jwks_uri"].as_str().unwrap()).await;
    let token = body["access_token"].as_str().unwrap();
    assert!(common::header(token)["x5t"].is_string());
    let claims = verify(
        token,
        &jwks,
        meta["issuer"].as_str().unwrap(),
        DEV_API_APP_ID_URI,
    );
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["appid"], DEV_DAEMON_CLIENT_ID);
    assert_eq!(claims["appidacr"], "1");
    assert_eq!(claims["idtyp"], "app");
}

#[tokio::test]
async fn b2c_token_endpoint_issues_tokens_with_b2c_issuer_and_policy() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let policy_base = format!("{base}devb2c.onmicrosoft.com/B2C_1_susi");
    let scope = format!("{DEV_API_APP_ID_URI}/.default");
    let (status, body) = post_form(
        &format!("{policy_base}/oauth2/v2.0/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_DAEMON_CLIENT_ID),
            ("client_secret", DEV_DAEMON_CLIENT_SECRET),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let meta = get_json(
        &http(),
        &format!("{policy_base}/v2.0/.well-known/openid-configuration"),
    )
    .await;
    let jwks = get_json(&http(), meta["jwks_uri"].as_str().unwrap()).await;
    let claims = verify(
        body["access_token"].as_str().unwrap(),
        &jwks,
        meta["issuer"].as_str().unwrap(),
        DEV_API_CLIENT_ID,
    );
    assert_eq!(claims["tfp"], "B2C_1_susi");
    assert_eq!(claims["ver"], "1.0");
}

#[tokio::test]
async fn unknown_tenant_returns_400_with_aadsts90002() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let res = http()
        .get(format!(
            "{base}not-a-tenant/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_tenant");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS90002: Tenant 'not-a-tenant' not found"));
}

// ---------------------------------------------------------------- authorization code + PKCE

fn authorize_query(scope: &str, challenge: Option<&str>) -> Vec<(String, String)> {
    let mut q = vec![
        ("client_id".to_owned(), DEV_PUBLIC_CLIENT_ID.to_owned()),
        ("response_type".to_owned(), "code".to_owned()),
        ("redirect_uri".to_owned(), REDIRECT.to_owned()),
        ("scope".to_owned(), scope.to_owned()),
        ("state".to_owned(), "st4te".to_owned()),
        ("nonce".to_owned(), "n0nce".to_owned()),
    ];
    if let Some(c) = challenge {
        q.push(("code_challenge".to_owned(), c.to_owned()));
        q.push(("code_challenge_method".to_owned(), "S256".to_owned()));
    }
    q
}

/// GET the login page, POST it as `user` consenting to `consent`; returns the redirect's query pairs.
async fn sign_in(
    authorize_url: &str,
    query: &[(String, String)],
    user: &str,
    consent: &[&str],
) -> Vec<(String, String)> {
    let client = http();
    let page = client.get(authorize_url).query(query).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    // Its own policy: the inline style only (a host's stricter HTML default would strip its look).
    assert_eq!(
        page.headers()["content-security-policy"],
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("DEVELOPMENT ONLY"));
    assert!(!html.contains("<script"), "the login page runs no script");
    assert!(html.contains("Alice Example") && html.contains("Bob Example"));
    let form = LoginForm::parse(&html).expect("the login page has a sign-in form");
    // The form posts to the v2 authorize endpoint of the same tenant (or B2C policy) path.
    let prefix = authorize_url.split("/oauth2/").next().unwrap();
    assert_eq!(form.action(), format!("{prefix}/oauth2/v2.0/authorize"));
    let res = client
        .post(form.action())
        .form(&form.accept(user, consent))
        .send()
        .await
        .unwrap();
    redirect_query(res)
}

fn redirect_query(res: reqwest::Response) -> Vec<(String, String)> {
    assert_eq!(res.status(), 302);
    let location = res.headers()["location"].to_str().unwrap();
    let url = url::Url::parse(location).unwrap();
    assert_eq!(
        format!("{}://{}{}", url.scheme(), url.authority(), url.path()),
        REDIRECT
    );
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn redeem(base: &str, code: &str, verifier: &str) -> (u16, Value) {
    post_form(
        &token_url(base),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", DEV_PUBLIC_CLIENT_ID),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

fn authorize_url(base: &str) -> String {
    format!("{base}{DEV_TENANT_ID}/oauth2/v2.0/authorize")
}

#[tokio::test]
async fn auth_code_with_pkce_end_to_end_issues_a_verifiable_delegated_token() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let scope = format!("{DEV_API_APP_ID_URI}/weather.read weather.write openid profile");
    let back = sign_in(
        &authorize_url(&base),
        &authorize_query(&scope, Some(CHALLENGE)),
        "bob",
        &["weather.read"],
    )
    .await;
    assert_eq!(get(&back, "state"), Some("st4te"));
    let code = get(&back, "code").unwrap();
    let (status, body) = redeem(&base, code, VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], format!("{DEV_API_APP_ID_URI}/weather.read"));
    let jwks = v2_keys(&base).await;
    let issuer = format!("{base}{DEV_TENANT_ID}/v2.0");
    let claims = verify(
        body["access_token"].as_str().unwrap(),
        &jwks,
        &issuer,
        DEV_API_CLIENT_ID,
    );
    assert_eq!(claims["scp"], "weather.read", "only the consented scope");
    assert_eq!(claims["oid"], BOB_OID);
    assert_eq!(claims["name"], "Bob Example");
    assert_eq!(claims["preferred_username"], "bob@dev.example");
    assert_eq!(claims["azp"], DEV_PUBLIC_CLIENT_ID);
    assert_eq!(claims["azpacr"], "0");
    assert_eq!(claims["sub"].as_str().unwrap().len(), 43);
    assert_ne!(claims["sub"], BOB_OID, "sub is pairwise, not the oid");
    for claim in ["aio", "rh", "uti", "iat", "nbf", "exp"] {
        assert!(claims.get(claim).is_some(), "missing {claim}");
    }
    let id = verify(
        body["id_token"].as_str().unwrap(),
        &jwks,
        &issuer,
        DEV_PUBLIC_CLIENT_ID,
    );
    assert_eq!(id["nonce"], "n0nce");
    assert_eq!(id["oid"], BOB_OID);
    assert!(running.issuer.stats().authorize_requests >= 2);
}

#[tokio::test]
async fn auth_code_with_wrong_verifier_returns_invalid_grant() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let back = sign_in(
        &authorize_url(&base),
        &authorize_query("weather.read", Some(CHALLENGE)),
        "alice",
        &["weather.read"],
    )
    .await;
    let code = get(&back, "code").unwrap();
    let (status, body) = redeem(
        &base,
        code,
        "a-wrong-verifier-that-is-long-enough-0123456789",
    )
    .await;
    assert_oauth_error(status, &body, 400, "invalid_grant", "501481");
}

#[tokio::test]
async fn auth_code_reused_returns_invalid_grant_already_redeemed() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let back = sign_in(
        &authorize_url(&base),
        &authorize_query("weather.read", Some(CHALLENGE)),
        "alice",
        &["weather.read"],
    )
    .await;
    let code = get(&back, "code").unwrap();
    let (status, body) = redeem(&base, code, VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        common::peek(body["access_token"].as_str().unwrap())["oid"],
        ALICE_OID
    );
    let (status, body) = redeem(&base, code, VERIFIER).await;
    assert_oauth_error(status, &body, 400, "invalid_grant", "54005");
}

#[tokio::test]
async fn auth_code_past_its_lifetime_returns_invalid_grant_expired() {
    let running = spawn_with(DevIssuerConfig {
        code_lifetime: Duration::ZERO,
        ..DevIssuerConfig::default()
    })
    .await;
    let base = running.url().as_str().to_owned();
    let back = sign_in(
        &authorize_url(&base),
        &authorize_query("weather.read", Some(CHALLENGE)),
        "alice",
        &["weather.read"],
    )
    .await;
    let (status, body) = redeem(&base, get(&back, "code").unwrap(), VERIFIER).await;
    assert_oauth_error(status, &body, 400, "invalid_grant", "70008");
}

#[tokio::test]
async fn auth_code_unknown_code_returns_invalid_grant() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let (status, body) = redeem(&base, "made-up-code", VERIFIER).await;
    assert_oauth_error(status, &body, 400, "invalid_grant", "9002313");
}

#[tokio::test]
async fn auth_code_redeemed_with_other_redirect_uri_returns_invalid_grant() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let back = sign_in(
        &authorize_url(&base),
        &authorize_query("weather.read", Some(CHALLENGE)),
        "alice",
        &["weather.read"],
    )
    .await;
    let (status, body) = post_form(
        &token_url(&base),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", DEV_PUBLIC_CLIENT_ID),
            ("code", get(&back, "code").unwrap()),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_oauth_error(status, &body, 400, "invalid_grant", "70000");
}

#[tokio::test]
async fn authorize_with_unknown_client_shows_error_page_without_redirecting() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let mut q = authorize_query("weather.read", Some(CHALLENGE));
    q[0].1 = "00000000-0000-4000-8000-000000000000".into();
    let res = http()
        .get(authorize_url(&base))
        .query(&q)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    assert!(res.text().await.unwrap().contains("AADSTS700016"));
}

#[tokio::test]
async fn token_request_from_unknown_client_returns_invalid_client() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let (status, body) = post_form(
        &token_url(&base),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "00000000-0000-4000-8000-000000000000"),
            ("code", "x"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_oauth_error(status, &body, 401, "invalid_client", "700016");
}

#[tokio::test]
async fn authorize_with_non_loopback_redirect_shows_error_page() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let mut q = authorize_query("weather.read", Some(CHALLENGE));
    q[2].1 = "https://evil.example/callback".into();
    let res = http()
        .get(authorize_url(&base))
        .query(&q)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("AADSTS50011"));
}

#[tokio::test]
async fn authorize_with_unknown_scope_redirects_with_invalid_scope_and_state() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let q = authorize_query(
        &format!("{DEV_API_APP_ID_URI}/weather.delete"),
        Some(CHALLENGE),
    );
    let res = http()
        .get(authorize_url(&base))
        .query(&q)
        .send()
        .await
        .unwrap();
    let back = redirect_query(res);
    assert_eq!(get(&back, "error"), Some("invalid_scope"));
    assert!(get(&back, "error_description")
        .unwrap()
        .starts_with("AADSTS70011:"));
    assert_eq!(get(&back, "state"), Some("st4te"));
    assert_eq!(get(&back, "code"), None);
}

#[tokio::test]
async fn authorize_for_public_client_without_pkce_redirects_with_invalid_request() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let q = authorize_query("weather.read", None);
    let res = http()
        .get(authorize_url(&base))
        .query(&q)
        .send()
        .await
        .unwrap();
    let back = redirect_query(res);
    assert_eq!(get(&back, "error"), Some("invalid_request"));
}

#[tokio::test]
async fn authorize_with_plain_pkce_method_redirects_with_invalid_request() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let mut q = authorize_query("weather.read", Some(CHALLENGE));
    q.last_mut().unwrap().1 = "plain".into();
    let res = http()
        .get(authorize_url(&base))
        .query(&q)
        .send()
        .await
        .unwrap();
    let back = redirect_query(res);
    assert_eq!(get(&back, "error"), Some("invalid_request"));
    assert!(get(&back, "error_description").unwrap().contains("S256"));
}

#[tokio::test]
async fn login_cancelled_redirects_with_access_denied() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let mut form = authorize_query("weather.read", Some(CHALLENGE));
    form.push(("username".into(), "alice".into()));
    form.push(("action".into(), "cancel".into()));
    let res = http()
        .post(authorize_url(&base))
        .form(&form)
        .send()
        .await
        .unwrap();
    let back = redirect_query(res);
    assert_eq!(get(&back, "error"), Some("access_denied"));
    assert_eq!(get(&back, "state"), Some("st4te"));
}

#[tokio::test]
async fn auth_code_through_common_alias_and_b2c_policy_matches_their_metadata() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    for (prefix, issuer) in [
        (
            format!("{base}common"),
            format!("{base}{DEV_TENANT_ID}/v2.0"),
        ),
        (
            format!("{base}devb2c.onmicrosoft.com/B2C_1_susi"),
            format!("{base}{DEV_TENANT_ID}/v2.0/"),
        ),
    ] {
        let back = sign_in(
            &format!("{prefix}/oauth2/v2.0/authorize"),
            &authorize_query("weather.read", Some(CHALLENGE)),
            "alice",
            &["weather.read"],
        )
        .await;
        let (status, body) = post_form(
            &format!("{prefix}/oauth2/v2.0/token"),
            &[
                ("grant_type", "authorization_code"),
                ("client_id", DEV_PUBLIC_CLIENT_ID),
                ("code", get(&back, "code").unwrap()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let meta = get_json(
            &http(),
            &format!("{prefix}/v2.0/.well-known/openid-configuration"),
        )
        .await;
        let template = meta["issuer"].as_str().unwrap();
        assert_eq!(template.replace("{tenantid}", DEV_TENANT_ID), issuer);
        let jwks = get_json(&http(), meta["jwks_uri"].as_str().unwrap()).await;
        let claims = verify(
            body["access_token"].as_str().unwrap(),
            &jwks,
            &issuer,
            DEV_API_CLIENT_ID,
        );
        assert_eq!(claims["oid"], ALICE_OID);
    }
}

#[tokio::test]
async fn v1_authorize_with_resource_grants_every_api_scope() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let mut q = authorize_query("x", Some(CHALLENGE));
    q.retain(|(k, _)| k != "scope");
    q.push(("resource".into(), DEV_API_APP_ID_URI.into()));
    let back = sign_in(
        &format!("{base}{DEV_TENANT_ID}/oauth2/authorize"),
        &q,
        "alice",
        &["weather.read", "weather.write"],
    )
    .await;
    let (status, body) = redeem(&base, get(&back, "code").unwrap(), VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        common::peek(body["access_token"].as_str().unwrap())["scp"],
        "weather.read weather.write"
    );
}

/// Signs alice in for `scope` through the login page (consenting to weather.read) and redeems the code.
async fn alice_tokens(base: &str, scope: &str) -> Value {
    let back = sign_in(
        &authorize_url(base),
        &authorize_query(scope, Some(CHALLENGE)),
        "alice",
        &["weather.read"],
    )
    .await;
    let (status, body) = redeem(base, get(&back, "code").unwrap(), VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn auth_code_with_offline_access_returns_a_refresh_token_that_refreshes() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let body = alice_tokens(
        &base,
        &format!("{DEV_API_APP_ID_URI}/weather.read offline_access"),
    )
    .await;
    let refresh_token = body["refresh_token"].as_str().unwrap();
    let (status, refreshed) = post_form(
        &token_url(&base),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", DEV_PUBLIC_CLIENT_ID),
            ("refresh_token", refresh_token),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_ne!(refreshed["refresh_token"], body["refresh_token"]);
    let claims = common::peek(refreshed["access_token"].as_str().unwrap());
    assert_eq!(claims["oid"], ALICE_OID);
    assert_eq!(claims["scp"], "weather.read");
}

#[tokio::test]
async fn auth_code_without_offline_access_returns_no_refresh_token() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let body = alice_tokens(&base, &format!("{DEV_API_APP_ID_URI}/weather.read")).await;
    assert!(body.get("refresh_token").is_none(), "{body}");
}
