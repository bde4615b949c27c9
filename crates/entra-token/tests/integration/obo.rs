//! On-behalf-of: the form fields, the pre-checks that keep bad incoming tokens away from the
//! token endpoint, entra-auth's VerifiedClaims as input, and the per-user cache.

use entra_auth::{AuthConfig, TokenValidator};
use entra_dev::{defaults, DevIssuer, DevIssuerConfig, TokenRequest};
use entra_token::{
    AssertionError, Authority, ClientCredential, ConfidentialClient, ConfidentialConfig, Scopes,
    TokenError, UserAssertion,
};

use crate::common::{self, FakeEndpoint};

fn client(ep: &FakeEndpoint) -> ConfidentialClient {
    ep.secret_client()
}

fn scopes() -> Scopes {
    Scopes::parse(common::DOWNSTREAM_SCOPE)
}

#[tokio::test]
async fn obo_sends_jwt_bearer_grant_with_assertion_and_caches_per_user() {
    let ep = FakeEndpoint::start().await;
    let client = client(&ep);
    let alice = common::user_token("oid-alice", common::unix_now() + 3600);
    let user = UserAssertion::parse(&alice).unwrap();

    let token = client.acquire_on_behalf_of(&user, &scopes()).await.unwrap();
    assert_eq!(token.secret(), "tok-1-for-oid-alice");
    let form = ep.last_form();
    assert_eq!(
        form["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    assert_eq!(form["requested_token_use"], "on_behalf_of");
    assert_eq!(form["assertion"], alice);
    assert_eq!(form["scope"], common::DOWNSTREAM_SCOPE);
    assert_eq!(form["client_id"], common::API_CLIENT_ID);
    assert_eq!(form["client_secret"], common::SECRET);

    let again = client.acquire_on_behalf_of(&user, &scopes()).await.unwrap();
    assert_eq!(again.secret(), token.secret());
    let bob =
        UserAssertion::parse(&common::user_token("oid-bob", common::unix_now() + 3600)).unwrap();
    let for_bob = client.acquire_on_behalf_of(&bob, &scopes()).await.unwrap();
    assert_eq!(for_bob.secret(), "tok-2-for-oid-bob");
    assert_eq!(ep.count(), 2);
}

#[tokio::test]
async fn obo_with_expired_incoming_token_never_reaches_token_endpoint() {
    let ep = FakeEndpoint::start().await;
    let user =
        UserAssertion::parse(&common::user_token("oid-a", common::unix_now() - 120)).unwrap();
    let err = client(&ep)
        .acquire_on_behalf_of(&user, &scopes())
        .await
        .unwrap_err();
    let TokenError::Assertion(AssertionError::Expired { ago_secs }) = err else {
        panic!("{err:?}")
    };
    assert!((120..130).contains(&ago_secs), "{ago_secs}");
    assert_eq!(ep.count(), 0);
}

#[tokio::test]
async fn obo_with_token_for_another_api_never_reaches_token_endpoint() {
    let ep = FakeEndpoint::start().await;
    let foreign = common::shaped_token(serde_json::json!({
        "aud": "https://graph.microsoft.com", "oid": "o", "scp": "User.Read", "exp": common::unix_now() + 600,
    }));
    let user = UserAssertion::parse(&foreign).unwrap();
    let err = client(&ep)
        .acquire_on_behalf_of(&user, &scopes())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TokenError::Assertion(AssertionError::ForeignAudience { .. })
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("graph.microsoft.com") && msg.contains(common::API_CLIENT_ID),
        "{msg}"
    );
    assert_eq!(ep.count(), 0);
}

#[test]
fn obo_with_malformed_or_app_only_token_is_refused_at_parse() {
    assert_eq!(
        UserAssertion::parse("not-a-jwt").unwrap_err(),
        AssertionError::Malformed
    );
    let app = common::shaped_token(serde_json::json!({
        "aud": common::API_CLIENT_ID, "roles": ["Weather.Read.All"], "idtyp": "app", "exp": common::unix_now() + 600,
    }));
    let err = UserAssertion::parse(&app).unwrap_err();
    assert_eq!(err, AssertionError::AppOnly);
    assert!(
        err.to_string().contains("client credentials instead"),
        "{err}"
    );
}

#[tokio::test]
async fn obo_on_b2c_authority_is_refused_with_reason() {
    let ep = FakeEndpoint::start().await;
    let authority = Authority::b2c(&ep.url, "contoso.onmicrosoft.com", "B2C_1_signin").unwrap();
    let config = ConfidentialConfig::builder(
        authority,
        common::API_CLIENT_ID,
        ClientCredential::secret(common::SECRET),
    )
    .build()
    .unwrap();
    let user = UserAssertion::parse(&common::user_token("o", common::unix_now() + 600)).unwrap();
    let err = ConfidentialClient::new(config)
        .unwrap()
        .acquire_on_behalf_of(&user, &scopes())
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::B2cOnBehalfOf { .. }), "{err:?}");
    assert!(
        err.to_string().contains("not available for Azure AD B2C"),
        "{err}"
    );
    assert_eq!(ep.count(), 0);
}

/// The development issuer and entra-auth's validator for its API.
async fn dev_issuer_and_validator() -> (entra_dev::RunningDevIssuer, TokenValidator) {
    let dev = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let validator = TokenValidator::new(
        AuthConfig::builder(defaults::DEV_TENANT_ID, defaults::DEV_API_CLIENT_ID)
            .instance(dev.issuer.instance().as_str())
            .build()
            .unwrap(),
    )
    .unwrap();
    validator.warm_up().await.unwrap();
    (dev, validator)
}

#[tokio::test]
async fn obo_from_entra_auth_verified_claims_exchanges_that_token() {
    let (dev, validator) = dev_issuer_and_validator().await;
    let incoming = dev
        .issuer
        .mint(&TokenRequest {
            scopes: vec![defaults::SCOPE_READ.into()],
            ..TokenRequest::default()
        })
        .unwrap();
    let claims = validator.validate(&incoming).await.unwrap();
    let user = UserAssertion::from_verified(&claims, &incoming).unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {incoming}").parse().unwrap(),
    );
    let from_request = UserAssertion::from_verified_request(&claims, &headers).unwrap();
    assert_eq!(from_request.expires_at(), user.expires_at());
    assert_eq!(
        UserAssertion::from_verified_request(&claims, &http::HeaderMap::new()).unwrap_err(),
        AssertionError::NotTheVerifiedToken
    );

    let ep = FakeEndpoint::start().await;
    let config = ConfidentialConfig::builder(
        ep.authority(),
        common::API_CLIENT_ID,
        ClientCredential::secret(common::SECRET),
    )
    .api_audiences([defaults::DEV_API_CLIENT_ID])
    .build()
    .unwrap();
    let token = ConfidentialClient::new(config)
        .unwrap()
        .acquire_on_behalf_of(&user, &scopes())
        .await
        .unwrap();
    assert_eq!(token.secret(), format!("tok-1-for-{}", defaults::ALICE_OID));
    assert_eq!(ep.last_form()["assertion"], incoming);

    // Another token with the same claims object is refused: it is not the verified token.
    let other = dev
        .issuer
        .mint(&TokenRequest {
            subject: entra_dev::Subject::User(defaults::BOB_USERNAME.into()),
            scopes: vec![defaults::SCOPE_READ.into()],
            ..TokenRequest::default()
        })
        .unwrap();
    assert_eq!(
        UserAssertion::from_verified(&claims, &other).unwrap_err(),
        AssertionError::NotTheVerifiedToken
    );
}

#[tokio::test]
async fn obo_with_app_only_verified_claims_is_refused() {
    let (dev, validator) = dev_issuer_and_validator().await;
    let app_token = dev
        .issuer
        .mint(&TokenRequest {
            subject: entra_dev::Subject::App {
                client_id: defaults::DEV_DAEMON_CLIENT_ID.into(),
            },
            roles: vec![defaults::ROLE_READ_ALL.into()],
            ..TokenRequest::default()
        })
        .unwrap();
    let claims = validator.validate(&app_token).await.unwrap();
    assert_eq!(
        UserAssertion::from_verified(&claims, &app_token).unwrap_err(),
        AssertionError::AppOnly
    );
}

#[tokio::test]
async fn logs_at_trace_never_carry_token_assertion_or_secret() {
    let logs = common::Logs::default();
    let _guard = logs.capture(tracing::Level::TRACE);
    let ep = FakeEndpoint::start().await;
    let client = ep.secret_client();
    let incoming = common::user_token("oid-logged", common::unix_now() + 3600);
    let user = UserAssertion::parse(&incoming).unwrap();
    let token = client.acquire_on_behalf_of(&user, &scopes()).await.unwrap();
    ep.set(common::Answer::Raw {
        status: 400,
        body: serde_json::json!({
            "error": "invalid_grant", "error_description": "AADSTS50013: Assertion failed signature validation.",
            "error_codes": [50013],
        })
        .to_string(),
    });
    let other =
        UserAssertion::parse(&common::user_token("oid-two", common::unix_now() + 3600)).unwrap();
    client
        .acquire_on_behalf_of(&other, &scopes())
        .await
        .unwrap_err();

    let text = logs.text();
    assert!(text.contains("token acquired"), "{text}");
    assert!(text.contains("token request refused"), "{text}");
    let signature_free_payload = incoming.split('.').nth(1).unwrap();
    for secret in [token.secret(), signature_free_payload, common::SECRET] {
        assert!(!text.contains(secret), "{secret} found in logs:\n{text}");
    }
}
