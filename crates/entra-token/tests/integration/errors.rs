//! The token endpoint's refusals, garbage and slowness, as typed errors.

use std::time::{Duration, Instant};

use entra_token::{AadstsKind, ConfidentialClient, HttpOptions, Scopes, TokenError, UserAssertion};
use http_body_util::BodyExt as _;

use crate::common::{self, Answer, FakeEndpoint};

fn client(ep: &FakeEndpoint) -> ConfidentialClient {
    ep.secret_client()
}

fn entra_error(error: &str, code: u64, extra: serde_json::Value) -> Answer {
    let mut body = serde_json::json!({
        "error": error,
        "error_description": format!("AADSTS{code}: something. Trace ID: 1 Correlation ID: 2 Timestamp: 2026-01-01 00:00:00Z"),
        "error_codes": [code],
        "timestamp": "2026-01-01 00:00:00Z",
        "trace_id": "trace-1",
        "correlation_id": "corr-1",
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    Answer::Raw {
        status: 400,
        body: body.to_string(),
    }
}

async fn obo_error(answer: Answer) -> TokenError {
    let ep = FakeEndpoint::start().await;
    ep.set(answer);
    let user = UserAssertion::parse(&common::user_token("o", common::unix_now() + 600)).unwrap();
    let err = client(&ep)
        .acquire_on_behalf_of(&user, &Scopes::parse(common::DOWNSTREAM_SCOPE))
        .await
        .unwrap_err();
    assert_eq!(ep.count(), 1);
    err
}

async fn assert_kind(error: &str, code: u64, kind: AadstsKind, fix: &str) {
    let err = obo_error(entra_error(error, code, serde_json::json!({}))).await;
    let TokenError::Rejected(a) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (a.kind, a.primary_code(), a.error.as_str()),
        (kind, code, error)
    );
    assert_eq!(a.correlation_id.as_deref(), Some("corr-1"));
    let msg = err.to_string();
    assert!(msg.contains(&format!("AADSTS{code}")), "{msg}");
    assert!(msg.contains(fix), "{msg}");
}

#[tokio::test]
async fn invalid_secret_answer_is_invalid_client_secret_with_fix() {
    assert_kind(
        "invalid_client",
        7000215,
        AadstsKind::InvalidClientSecret,
        "not its id",
    )
    .await;
}

#[tokio::test]
async fn certificate_rejected_answer_is_explained() {
    assert_kind(
        "invalid_client",
        700027,
        AadstsKind::CertificateAssertionRejected,
        "upload the certificate's public part",
    )
    .await;
}

#[tokio::test]
async fn consent_required_answer_says_admin_consent() {
    assert_kind(
        "invalid_grant",
        65001,
        AadstsKind::ConsentRequired,
        "admin consent",
    )
    .await;
}

#[tokio::test]
async fn application_not_found_answer_says_check_client_id() {
    assert_kind(
        "unauthorized_client",
        700016,
        AadstsKind::ApplicationNotFound,
        "check the client id",
    )
    .await;
}

#[tokio::test]
async fn invalid_assertion_answer_says_token_must_be_for_this_api() {
    assert_kind(
        "invalid_grant",
        50013,
        AadstsKind::InvalidAssertion,
        "issued for this API",
    )
    .await;
}

#[tokio::test]
async fn interaction_required_with_claims_becomes_401_insufficient_claims_answer() {
    let claims = r#"{"access_token":{"capolids":{"essential":true,"values":["c1"]}}}"#;
    let err = obo_error(entra_error(
        "interaction_required",
        50079,
        serde_json::json!({"claims": claims, "suberror": "basic_action"}),
    ))
    .await;
    let challenge = err.claims_challenge().expect("a claims challenge").clone();
    assert_eq!(challenge.claims(), claims);
    assert_eq!(challenge.aadsts_code(), Some(50079));

    // Where the user signs in again: the client's authority.
    let uri = challenge.authorization_uri().unwrap().to_owned();
    assert!(
        uri.starts_with("http://127.0.0.1:")
            && uri.ends_with(&format!("/{}/oauth2/v2.0/authorize", common::TENANT)),
        "{uri}"
    );

    // What the protected API answers its caller.
    let res: http::Response<axum::body::Body> = err.to_response();
    assert_eq!(res.status(), 401);
    let www = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(claims);
    assert_eq!(
        www,
        format!(
            r#"Bearer realm="", authorization_uri="{uri}", error="insufficient_claims", claims="{b64}""#
        )
    );
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (body["status"].as_u64(), body["code"].as_str()),
        (Some(401), Some("insufficient_claims"))
    );
}

#[tokio::test]
async fn invalid_grant_with_claims_is_claims_challenge_too() {
    let err = obo_error(entra_error(
        "invalid_grant",
        50076,
        serde_json::json!({"claims": r#"{"access_token":{"acrs":{"essential":true,"value":"c2"}}}"#}),
    ))
    .await;
    assert_eq!(err.claims_challenge().unwrap().aadsts_code(), Some(50076));
}

#[tokio::test]
async fn garbage_success_body_is_invalid_response() {
    let err = obo_error(Answer::Raw {
        status: 200,
        body: "<html>hello</html>".into(),
    })
    .await;
    assert!(
        matches!(err, TokenError::InvalidResponse { status, .. } if status == 200),
        "{err:?}"
    );
    assert!(err.to_string().contains("not a token response"), "{err}");
}

#[tokio::test]
async fn html_502_is_transient_invalid_response() {
    let err = obo_error(Answer::Raw {
        status: 502,
        body: "<html>bad gateway</html>".into(),
    })
    .await;
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("502"), "{err}");
}

#[tokio::test]
async fn slow_token_endpoint_is_timeout_within_configured_limit() {
    let ep = FakeEndpoint::start().await;
    ep.set(Answer::Slow(Duration::from_secs(30)));
    let config = ep
        .secret_builder()
        .http(HttpOptions {
            timeout: Duration::from_millis(300),
            connect_timeout: Duration::from_millis(200),
            ..HttpOptions::default()
        })
        .build()
        .unwrap();
    let started = Instant::now();
    let err = ConfidentialClient::new(config)
        .unwrap()
        .acquire_for_app(&Scopes::app_default("api://x"))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(err, TokenError::Timeout { after } if after == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(ep.count(), 1);
}

#[tokio::test]
async fn unreachable_token_endpoint_is_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let authority = entra_token::Authority::tenant(common::TENANT)
        .unwrap()
        .with_instance(&url)
        .unwrap();
    let config = entra_token::ConfidentialConfig::builder(
        authority,
        common::API_CLIENT_ID,
        entra_token::ClientCredential::secret(common::SECRET),
    )
    .build()
    .unwrap();
    let err = ConfidentialClient::new(config)
        .unwrap()
        .acquire_for_app(&Scopes::app_default("api://x"))
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::Transport(_)), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(
        err.to_string(),
        "cannot reach the token endpoint or read its answer"
    );
}

#[tokio::test]
async fn oversized_token_endpoint_answer_is_refused_at_the_cap() {
    let body = format!(
        r#"{{"access_token":"{}","expires_in":3600}}"#,
        "a".repeat(200_000)
    );
    let err = obo_error(Answer::Raw { status: 200, body }).await;
    let TokenError::Transport(cause) = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(
            cause,
            entra_token::TransportError::TooLarge { limit: 65536 }
        ),
        "{cause:?}"
    );
}

#[tokio::test]
async fn assertion_outside_validity_answer_says_check_clock() {
    assert_kind(
        "invalid_client",
        700024,
        AadstsKind::AssertionOutsideValidity,
        "synchronise this machine's clock",
    )
    .await;
}

#[tokio::test]
async fn federated_credential_mismatch_answer_names_issuer_subject_audience() {
    assert_kind(
        "invalid_client",
        700213,
        AadstsKind::FederatedCredentialRejected,
        "issuer, subject and audience",
    )
    .await;
}
