//! The on-behalf-of grant over real HTTP: the downstream token keeps the user, every refusal is Entra's
//! answer, and the consent and MFA switches (control endpoint) make both failure paths testable. Long
//! because each refusal is its own named test, plus the claims-challenge round trip through the login page.

use std::time::Duration;

use crate::common::{
    assert_entra_error, get_json, http, peek, post_form, spawn, spawn_with, verify,
};
use base64::Engine as _;
use entra_dev::defaults::{
    ALICE_OID, DEV_API_APP_ID_URI, DEV_API_CLIENT_ID, DEV_API_CLIENT_SECRET, DEV_DAEMON_CLIENT_ID,
    DEV_DAEMON_CLIENT_SECRET, DEV_DOWNSTREAM_API_APP_ID_URI, DEV_DOWNSTREAM_API_CLIENT_ID,
    DEV_PUBLIC_CLIENT_ID, DEV_TENANT_ID, SCOPE_DOWNSTREAM_READ, SCOPE_READ,
};
use entra_dev::{DevIssuerConfig, MfaDemand, RunningDevIssuer, Subject, Switches, TokenRequest};
use serde_json::{json, Value};

const OBO: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn token_url(base: &str) -> String {
    format!("{base}{DEV_TENANT_ID}/oauth2/v2.0/token")
}

/// Alice's token for the weather API (the middle tier), as the public client would get it.
fn user_token(running: &RunningDevIssuer) -> String {
    running
        .issuer
        .mint(&TokenRequest {
            subject: Subject::User("alice".into()),
            scopes: vec![SCOPE_READ.into()],
            ..TokenRequest::default()
        })
        .unwrap()
}

fn downstream_scope() -> String {
    format!("{DEV_DOWNSTREAM_API_APP_ID_URI}/{SCOPE_DOWNSTREAM_READ}")
}

async fn obo(running: &RunningDevIssuer, assertion: &str, scope: &str) -> (u16, Value) {
    post_form(
        &token_url(running.url().as_str()),
        &[
            ("grant_type", OBO),
            ("client_id", DEV_API_CLIENT_ID),
            ("client_secret", DEV_API_CLIENT_SECRET),
            ("assertion", assertion),
            ("requested_token_use", "on_behalf_of"),
            ("scope", scope),
        ],
    )
    .await
}

async fn put_switches(running: &RunningDevIssuer, body: &Value) -> (u16, Value) {
    let res = http()
        .put(format!("{}control/switches", running.url()))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn obo_with_secret_returns_downstream_token_that_keeps_the_user() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let incoming = user_token(&running);
    let before = running.issuer.stats();
    let (status, body) = obo(&running, &incoming, &downstream_scope()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["ext_expires_in"], 3600);
    assert!(
        body.get("refresh_in").is_none(),
        "1 h tokens get no refresh_in"
    );
    assert_eq!(body["scope"], downstream_scope());
    let keys = get_json(
        &http(),
        &format!("{base}{DEV_TENANT_ID}/discovery/v2.0/keys"),
    )
    .await;
    let claims = verify(
        body["access_token"].as_str().unwrap(),
        &keys,
        &format!("{base}{DEV_TENANT_ID}/v2.0"),
        DEV_DOWNSTREAM_API_CLIENT_ID,
    );
    let incoming_claims = peek(&incoming);
    assert_eq!(claims["oid"], ALICE_OID);
    assert_eq!(claims["tid"], DEV_TENANT_ID);
    assert_eq!(claims["name"], incoming_claims["name"]);
    assert_eq!(
        claims["preferred_username"],
        incoming_claims["preferred_username"]
    );
    assert_eq!(claims["scp"], SCOPE_DOWNSTREAM_READ);
    assert_eq!(claims["azp"], DEV_API_CLIENT_ID);
    assert_eq!(claims["azpacr"], "1");
    assert!(claims.get("idtyp").is_none());
    assert!(claims.get("roles").is_none());
    let after = running.issuer.stats();
    assert_eq!(after.token_requests, before.token_requests + 1);
    assert_eq!(
        after.on_behalf_of_requests,
        before.on_behalf_of_requests + 1
    );
    assert_eq!(after.tokens_issued, before.tokens_issued + 1);
    let stats = get_json(&http(), &format!("{base}stats")).await;
    assert_eq!(stats["on_behalf_of_requests"], after.on_behalf_of_requests);
}

#[tokio::test]
async fn obo_with_default_scope_of_the_client_id_grants_every_downstream_scope() {
    let running = spawn().await;
    let (status, body) = obo(
        &running,
        &user_token(&running),
        &format!("{DEV_DOWNSTREAM_API_CLIENT_ID}/.default"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["scope"],
        format!(
            "{DEV_DOWNSTREAM_API_APP_ID_URI}/downstream.read {DEV_DOWNSTREAM_API_APP_ID_URI}/downstream.write"
        )
    );
    let claims = peek(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scp"], "downstream.read downstream.write");
    assert_eq!(claims["aud"], DEV_DOWNSTREAM_API_CLIENT_ID);
}

#[tokio::test]
async fn obo_with_v1_assertion_for_the_app_id_uri_is_accepted() {
    let running = spawn().await;
    let incoming = running
        .issuer
        .mint(&TokenRequest {
            version: entra_dev::TokenVersion::V1,
            scopes: vec![SCOPE_READ.into()],
            ..TokenRequest::default()
        })
        .unwrap();
    assert_eq!(peek(&incoming)["aud"], DEV_API_APP_ID_URI);
    let (status, body) = obo(&running, &incoming, &downstream_scope()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        peek(body["access_token"].as_str().unwrap())["oid"],
        ALICE_OID
    );
}

#[tokio::test]
async fn obo_with_assertion_for_another_audience_returns_500131() {
    let running = spawn().await;
    let incoming = running
        .issuer
        .mint(&TokenRequest {
            scopes: vec![SCOPE_READ.into()],
            audience: Some(DEV_DOWNSTREAM_API_CLIENT_ID.into()),
            ..TokenRequest::default()
        })
        .unwrap();
    let (status, body) = obo(&running, &incoming, &downstream_scope()).await;
    assert_entra_error(status, &body, 400, "invalid_grant", 500_131);
    let d = body["error_description"].as_str().unwrap();
    assert!(
        d.contains(&format!(
            "The audience in the assertion was '{DEV_DOWNSTREAM_API_CLIENT_ID}'"
        )),
        "{d}"
    );
    assert!(
        d.contains(&format!("expected audience is '{DEV_API_CLIENT_ID}'")),
        "{d}"
    );
}

#[tokio::test]
async fn obo_with_app_only_assertion_returns_invalid_grant() {
    let running = spawn().await;
    let incoming = running
        .issuer
        .mint(&TokenRequest {
            subject: Subject::App {
                client_id: DEV_DAEMON_CLIENT_ID.into(),
            },
            roles: vec!["Weather.Read.All".into()],
            ..TokenRequest::default()
        })
        .unwrap();
    let (status, body) = obo(&running, &incoming, &downstream_scope()).await;
    assert_entra_error(status, &body, 400, "invalid_grant", 50_027);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("app-only token"));
}

#[tokio::test]
async fn obo_with_expired_assertion_returns_500133() {
    let running = spawn().await;
    let incoming = running
        .issuer
        .mint(&TokenRequest {
            scopes: vec![SCOPE_READ.into()],
            issued_at: Some(std::time::SystemTime::now() - Duration::from_secs(7200)),
            ..TokenRequest::default()
        })
        .unwrap();
    let (status, body) = obo(&running, &incoming, &downstream_scope()).await;
    assert_entra_error(status, &body, 400, "invalid_grant", 500_133);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("Assertion is not within its valid time range"));
}

#[tokio::test]
async fn obo_with_altered_assertion_returns_50013() {
    let running = spawn().await;
    let incoming = user_token(&running);
    let mut parts: Vec<String> = incoming.split('.').map(str::to_owned).collect();
    let mut claims = peek(&incoming);
    claims["oid"] = json!("00000000-0000-4000-8000-000000000bad");
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let (status, body) = obo(&running, &parts.join("."), &downstream_scope()).await;
    assert_entra_error(status, &body, 400, "invalid_grant", 50_013);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("signature does not verify"));
}

#[tokio::test]
async fn obo_with_malformed_assertion_returns_50027_without_echoing_it() {
    let running = spawn().await;
    let (status, body) = obo(
        &running,
        "not-a-jwt-secret-looking-value",
        &downstream_scope(),
    )
    .await;
    assert_entra_error(status, &body, 400, "invalid_grant", 50_027);
    assert!(!body.to_string().contains("not-a-jwt-secret-looking-value"));
}

#[tokio::test]
async fn obo_from_a_public_client_returns_7000218() {
    let running = spawn().await;
    let (status, body) = post_form(
        &token_url(running.url().as_str()),
        &[
            ("grant_type", OBO),
            ("client_id", DEV_PUBLIC_CLIENT_ID),
            ("assertion", &user_token(&running)),
            ("requested_token_use", "on_behalf_of"),
            ("scope", &downstream_scope()),
        ],
    )
    .await;
    assert_entra_error(status, &body, 401, "invalid_client", 7_000_218);
}

#[tokio::test]
async fn obo_with_wrong_requested_token_use_returns_invalid_request() {
    let running = spawn().await;
    let (status, body) = post_form(
        &token_url(running.url().as_str()),
        &[
            ("grant_type", OBO),
            ("client_id", DEV_API_CLIENT_ID),
            ("client_secret", DEV_API_CLIENT_SECRET),
            ("assertion", &user_token(&running)),
            ("requested_token_use", "something_else"),
            ("scope", &downstream_scope()),
        ],
    )
    .await;
    assert_entra_error(status, &body, 400, "invalid_request", 90_014);
}

#[tokio::test]
async fn obo_for_scopes_of_two_apis_returns_28000() {
    let running = spawn().await;
    let scope = format!("{} {DEV_API_APP_ID_URI}/{SCOPE_READ}", downstream_scope());
    let (status, body) = obo(&running, &user_token(&running), &scope).await;
    assert_entra_error(status, &body, 400, "invalid_scope", 28_000);
}

#[tokio::test]
async fn obo_for_an_unknown_api_returns_500011() {
    let running = spawn().await;
    let (status, body) = obo(&running, &user_token(&running), "api://nobody/read").await;
    assert_entra_error(status, &body, 400, "invalid_scope", 500_011);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains(DEV_DOWNSTREAM_API_APP_ID_URI));
}

#[tokio::test]
async fn obo_on_a_b2c_path_returns_unsupported_grant_type() {
    let running = spawn().await;
    let (status, body) = post_form(
        &format!(
            "{}devb2c.onmicrosoft.com/B2C_1_signin/oauth2/v2.0/token",
            running.url()
        ),
        &[
            ("grant_type", OBO),
            ("client_id", DEV_API_CLIENT_ID),
            ("client_secret", DEV_API_CLIENT_SECRET),
            ("assertion", &user_token(&running)),
            ("requested_token_use", "on_behalf_of"),
            ("scope", &downstream_scope()),
        ],
    )
    .await;
    assert_entra_error(status, &body, 400, "unsupported_grant_type", 70_003);
}

#[tokio::test]
async fn obo_when_consent_switch_is_on_returns_consent_required_until_it_is_off() {
    let running = spawn().await;
    let incoming = user_token(&running);
    let (status, doc) = put_switches(
        &running,
        &json!({ "consent_required": [DEV_DOWNSTREAM_API_APP_ID_URI] }),
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(
        doc,
        json!({ "outage": false, "consent_required": [DEV_DOWNSTREAM_API_APP_ID_URI], "mfa_required": [] })
    );
    let (status, body) = obo(&running, &incoming, &downstream_scope()).await;
    assert_entra_error(status, &body, 400, "invalid_grant", 65_001);
    assert_eq!(body["suberror"], "consent_required");
    assert!(body.get("claims").is_none());
    // Another API is not affected.
    let (status, body) = obo(
        &running,
        &incoming,
        &format!("{DEV_API_APP_ID_URI}/{SCOPE_READ}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = put_switches(&running, &json!({})).await;
    assert_eq!(status, 200);
    let (status, body) = obo(&running, &incoming, &downstream_scope()).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn obo_when_mfa_switch_is_on_returns_claims_challenge_until_token_has_the_context() {
    let running = spawn().await;
    running
        .issuer
        .set_switches(Switches {
            mfa_required: vec![MfaDemand::new(DEV_DOWNSTREAM_API_CLIENT_ID)],
            ..Switches::default()
        })
        .unwrap();
    let get = get_json(&http(), &format!("{}control/switches", running.url())).await;
    assert_eq!(
        get["mfa_required"],
        json!([{ "api": DEV_DOWNSTREAM_API_CLIENT_ID, "auth_context": "c1" }])
    );
    let (status, body) = obo(&running, &user_token(&running), &downstream_scope()).await;
    assert_entra_error(status, &body, 400, "interaction_required", 50_076);
    let claims: Value = serde_json::from_str(body["claims"].as_str().unwrap()).unwrap();
    assert_eq!(
        claims,
        json!({ "access_token": { "acrs": { "essential": true, "value": "c1" } } })
    );
    // After the user signed in again with those claims, the incoming token carries acrs.
    let stepped_up = running
        .issuer
        .mint(&TokenRequest {
            scopes: vec![SCOPE_READ.into()],
            extra_claims: json!({ "acrs": ["c1"] }).as_object().unwrap().clone(),
            ..TokenRequest::default()
        })
        .unwrap();
    let (status, body) = obo(&running, &stepped_up, &downstream_scope()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        peek(body["access_token"].as_str().unwrap())["acrs"],
        json!(["c1"])
    );
}

#[tokio::test]
async fn control_switches_with_unknown_api_returns_400_and_keeps_the_switches() {
    let running = spawn().await;
    let (status, body) =
        put_switches(&running, &json!({ "consent_required": ["api://nobody"] })).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    let d = body["error_description"].as_str().unwrap();
    assert!(
        d.contains("api://nobody") && d.contains(DEV_DOWNSTREAM_API_APP_ID_URI),
        "{d}"
    );
    let (status, body) = put_switches(&running, &json!({ "consent": [] })).await;
    assert_eq!(status, 400);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("unknown field"));
    assert_eq!(running.issuer.switches(), Switches::default());
}

#[tokio::test]
async fn control_switches_outage_makes_metadata_answer_503() {
    let running = spawn().await;
    let (status, _) = put_switches(&running, &json!({ "outage": true })).await;
    assert_eq!(status, 200);
    let res = http()
        .get(format!(
            "{}{DEV_TENANT_ID}/v2.0/.well-known/openid-configuration",
            running.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "temporarily_unavailable"
    );
}

#[tokio::test]
async fn token_response_for_long_lived_tokens_carries_refresh_in_of_half_the_lifetime() {
    let running = spawn_with(DevIssuerConfig {
        token_lifetime: Duration::from_secs(3 * 3600),
        ..DevIssuerConfig::default()
    })
    .await;
    let (status, body) = obo(&running, &user_token(&running), &downstream_scope()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 10_800);
    assert_eq!(body["refresh_in"], 5_400);
    let (status, body) = post_form(
        &token_url(running.url().as_str()),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_DAEMON_CLIENT_ID),
            ("client_secret", DEV_DAEMON_CLIENT_SECRET),
            ("scope", &format!("{DEV_API_APP_ID_URI}/.default")),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["refresh_in"], 5_400);
    let stats = running.issuer.stats();
    assert_eq!(stats.client_credentials_requests, 1);
    assert_eq!(stats.on_behalf_of_requests, 1);
}

/// The whole claims-challenge round trip through the login page: the downstream demands MFA, the
/// middle tier gets `interaction_required` with `claims`, the client signs the user in again passing
/// those claims, and the new token satisfies the demand.
#[tokio::test]
async fn mfa_claims_challenge_round_trip_through_the_login_page_succeeds() {
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const REDIRECT: &str = "http://127.0.0.1:9/callback";
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    running
        .issuer
        .set_switches(Switches {
            mfa_required: vec![MfaDemand::new(DEV_DOWNSTREAM_API_APP_ID_URI)],
            ..Switches::default()
        })
        .unwrap();
    let (status, body) = obo(&running, &user_token(&running), &downstream_scope()).await;
    assert_eq!(status, 400, "{body}");
    let claims = body["claims"].as_str().unwrap().to_owned();

    let client = http();
    let page = client
        .get(format!("{base}{DEV_TENANT_ID}/oauth2/v2.0/authorize"))
        .query(&[
            ("client_id", DEV_PUBLIC_CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", &format!("{DEV_API_APP_ID_URI}/{SCOPE_READ}")),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("claims", &claims),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("id=\"step-up\"") && html.contains("<code>c1</code>"),
        "{html}"
    );
    let form = entra_dev::LoginForm::parse(&html).unwrap();
    assert!(form
        .hidden_fields()
        .iter()
        .any(|(k, v)| k == "claims" && *v == claims));
    let res = client
        .post(form.action())
        .form(&form.accept("alice", &[SCOPE_READ]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let location = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let (status, body) = post_form(
        &token_url(&base),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", DEV_PUBLIC_CLIENT_ID),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let stepped_up = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(peek(&stepped_up)["acrs"], json!(["c1"]));
    let (status, body) = obo(&running, &stepped_up, &downstream_scope()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        peek(body["access_token"].as_str().unwrap())["oid"],
        ALICE_OID
    );
}

#[tokio::test]
async fn authorize_with_claims_that_are_not_json_redirects_with_invalid_request() {
    let running = spawn().await;
    let res = http()
        .get(format!(
            "{}{DEV_TENANT_ID}/oauth2/v2.0/authorize",
            running.url()
        ))
        .query(&[
            ("client_id", DEV_PUBLIC_CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", "http://127.0.0.1:9/callback"),
            ("scope", &format!("{DEV_API_APP_ID_URI}/{SCOPE_READ}")),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
            ("claims", "{not json"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let location = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let pairs: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(pairs["error"], "invalid_request");
    assert!(pairs["error_description"]
        .starts_with("AADSTS90014: The claims parameter is not a valid JSON object"));
}
