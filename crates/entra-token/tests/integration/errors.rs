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

/// Entra's error body as it answers on-behalf-of requests, with `extra` fields (e.g. suberror).
fn entra_body(status: u16, error: &str, code: u64, text: &str, extra: serde_json::Value) -> Answer {
    let mut body = serde_json::json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text} Trace ID: 5e2f Correlation ID: 9c1a Timestamp: 2026-12-06 18:00:00Z"),
        "error_codes": [code],
        "timestamp": "2026-12-06 18:00:00Z",
        "trace_id": "5e2f",
        "correlation_id": "9c1a",
        "error_uri": "https://login.microsoftonline.com/error?code={code}",
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    Answer::Raw {
        status,
        body: body.to_string(),
    }
}

#[tokio::test]
async fn obo_assertion_expired_at_the_identity_provider_says_the_caller_needs_a_fresh_token() {
    let err = obo_error(entra_body(
        400,
        "invalid_grant",
        500133,
        "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: 2026-12-06T18:00:00.0000000Z, expiry time of assertion 2026-12-06T17:59:58.0000000Z.",
        serde_json::json!({}),
    ))
    .await;
    let a = common::rejected(&err, AadstsKind::AssertionExpired, 500133);
    assert!(!a.is_transient());
    assert!(!err.is_transient());
    assert_eq!(
        err.to_string(),
        "the token endpoint refused the request (invalid_grant, AADSTS500133): the incoming token \
         expired before it could be exchanged: the caller must get a fresh token (refresh or sign \
         in again) and call again"
    );
}

#[tokio::test]
async fn obo_assertion_for_another_audience_says_the_caller_needs_a_token_for_this_api() {
    let err = obo_error(entra_body(
        400,
        "invalid_grant",
        500131,
        "Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was 'api://other' and the expected audience is 'a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c' or one of the Application Uris of this application.",
        serde_json::json!({}),
    ))
    .await;
    common::rejected(&err, AadstsKind::AssertionAudienceMismatch, 500131);
    assert_eq!(
        err.to_string(),
        "the token endpoint refused the request (invalid_grant, AADSTS500131): the incoming token \
         was issued for another application: the caller must get a token for this API (its client \
         id or App ID URI as the audience) and call again"
    );
}

#[tokio::test]
async fn temporarily_unavailable_503_is_transient_and_says_to_retry() {
    let err = obo_error(entra_body(
        503,
        "temporarily_unavailable",
        90033,
        "A transient error has occurred. Please try again.",
        serde_json::json!({}),
    ))
    .await;
    let TokenError::Rejected(a) = &err else {
        panic!("{err:?}")
    };
    assert_eq!((a.status.as_u16(), a.primary_code()), (503, 90033));
    assert!(a.is_transient() && err.is_transient());
    assert_eq!(
        err.to_string(),
        "the token endpoint is temporarily unable to answer (HTTP 503, temporarily_unavailable, \
         AADSTS90033): a transient failure, not a configuration problem; retry after a short wait \
         (the caller's 503 with Retry-After)"
    );
    // The same error with a 400 status (as Entra sometimes sends it) is transient too.
    let err = obo_error(entra_body(
        400,
        "temporarily_unavailable",
        90033,
        "A transient error has occurred.",
        serde_json::json!({}),
    ))
    .await;
    assert!(err.is_transient(), "{err}");
    assert!(
        err.to_string().contains("retry after a short wait"),
        "{err}"
    );
}

#[tokio::test]
async fn suberror_is_kept_on_the_typed_error_and_named_in_the_message() {
    let err = obo_error(entra_body(
        400,
        "invalid_grant",
        65001,
        "The user or administrator has not consented to use the application with ID 'a9e7b3c1' named 'API A'.",
        serde_json::json!({"suberror": "consent_required"}),
    ))
    .await;
    let a = common::rejected(&err, AadstsKind::ConsentRequired, 65001);
    assert_eq!(a.suberror.as_deref(), Some("consent_required"));
    assert!(
        err.to_string()
            .starts_with("the token endpoint refused the request (invalid_grant, AADSTS65001, consent_required): "),
        "{err}"
    );
    let err = obo_error(entra_body(
        400,
        "invalid_grant",
        50173,
        "The provided grant has expired due to it being revoked.",
        serde_json::json!({"suberror": "bad_token"}),
    ))
    .await;
    let TokenError::Rejected(a) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(a.suberror.as_deref(), Some("bad_token"));
    let err = obo_error(entra_body(
        400,
        "invalid_grant",
        50058,
        "A silent sign-in request was sent but none of the currently signed in user(s) match.",
        serde_json::json!({}),
    ))
    .await;
    let TokenError::Rejected(a) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(a.suberror, None);
}
