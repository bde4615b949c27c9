//! Client credentials: against the real development issuer (secret), and against the test
//! endpoint for certificate assertions and federated token files.

use std::time::Duration;

use entra_dev::{defaults, DevIssuer, DevIssuerConfig};
use entra_token::{
    AadstsKind, AssertionAlgorithm, Authority, Certificate, ClientCredential, ConfidentialClient,
    ConfidentialConfig, Scopes, TokenError,
};

use crate::common::{self, FakeEndpoint};

fn dev_client(instance: &str, secret: &str) -> ConfidentialClient {
    dev_client_as(instance, defaults::DEV_DAEMON_CLIENT_ID, secret)
}

fn dev_client_as(instance: &str, client_id: &str, secret: &str) -> ConfidentialClient {
    let authority = Authority::tenant(defaults::DEV_TENANT_ID)
        .unwrap()
        .with_instance(instance)
        .unwrap();
    let config =
        ConfidentialConfig::builder(authority, client_id, ClientCredential::secret(secret))
            .build()
            .unwrap();
    ConfidentialClient::new(config).unwrap()
}

#[tokio::test]
async fn secret_against_dev_issuer_returns_app_token_and_second_call_is_cached() {
    let dev = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let client = dev_client(dev.url().as_str(), defaults::DEV_DAEMON_CLIENT_SECRET);
    let scopes = Scopes::app_default(defaults::DEV_API_APP_ID_URI);

    let first = client.acquire_for_app(&scopes).await.unwrap();
    let claims = common::payload(first.secret());
    assert_eq!(claims["aud"], defaults::DEV_API_CLIENT_ID);
    assert_eq!(claims["azp"], defaults::DEV_DAEMON_CLIENT_ID);
    assert_eq!(claims["idtyp"], "app");
    assert!(claims["roles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == defaults::ROLE_READ_ALL));

    let second = client.acquire_for_app(&scopes).await.unwrap();
    assert_eq!(second.secret(), first.secret());
    assert_eq!(dev.issuer.stats().token_requests, 1);
    let stats = client.stats();
    assert_eq!((stats.token_requests, stats.memory_hits), (1, 1));
    // The dev issuer's own /stats counter agrees.
    let body: serde_json::Value = reqwest::get(format!("{}stats", dev.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["token_requests"], 1, "{body}");
}

#[tokio::test]
async fn wrong_secret_against_dev_issuer_is_rejected_with_invalid_secret_fix() {
    let dev = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let client = dev_client(dev.url().as_str(), "not-the-secret");
    let err = client
        .acquire_for_app(&Scopes::app_default(defaults::DEV_API_APP_ID_URI))
        .await
        .unwrap_err();
    let TokenError::Rejected(a) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(a.error, "invalid_client");
    assert_eq!(a.status, 401);
    assert_eq!(a.kind, AadstsKind::InvalidClientSecret, "{a:?}");
    assert!(a.trace_id.is_some());
    let msg = err.to_string();
    assert!(
        msg.contains("AADSTS7000215") && msg.contains("secret's value"),
        "{msg}"
    );
    assert!(!msg.contains("not-the-secret"), "{msg}");
}

#[tokio::test]
async fn unknown_client_against_dev_issuer_is_application_not_found() {
    let dev = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let client = dev_client_as(
        dev.url().as_str(),
        "00000000-0000-4000-8000-000000000001",
        "x",
    );
    let err = client
        .acquire_for_app(&Scopes::app_default(defaults::DEV_API_APP_ID_URI))
        .await
        .unwrap_err();
    common::rejected(&err, AadstsKind::ApplicationNotFound, 700016);
    assert!(err.to_string().contains("check the client id"), "{err}");
}

#[tokio::test]
async fn delegated_scope_for_client_credentials_is_refused_before_any_request() {
    let ep = FakeEndpoint::start().await;
    let client = ep.secret_client();
    let err = client
        .acquire_for_app(&Scopes::parse("api://x/read"))
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::InvalidScopes { .. }), "{err:?}");
    assert!(err.to_string().contains("/.default"), "{err}");
    assert_eq!(ep.count(), 0);
}

#[tokio::test]
async fn secret_is_sent_as_client_secret_form_field() {
    let ep = FakeEndpoint::start().await;
    let client = ep.secret_client();
    let token = client
        .acquire_for_app(&Scopes::app_default("https://graph.microsoft.com"))
        .await
        .unwrap();
    assert_eq!(token.secret(), "tok-1-for-app");
    let form = ep.last_form();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["scope"], "https://graph.microsoft.com/.default");
    assert_eq!(form["client_id"], common::API_CLIENT_ID);
    assert_eq!(form["client_secret"], common::SECRET);
    assert!(!form.contains_key("client_assertion"));
}

fn verify_assertion(ep: &FakeEndpoint, cert: &common::TestCert, alg: &str) {
    use base64::Engine as _;
    use rsa::pkcs1::DecodeRsaPublicKey as _;
    use rsa::signature::Verifier as _;
    use sha2::Digest as _;
    let form = ep.last_form();
    assert_eq!(
        form["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert!(!form.contains_key("client_secret"));
    let jwt = &form["client_assertion"];
    let header = common::header(jwt);
    let claims = common::payload(jwt);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let thumb = b64.encode(sha2::Sha256::digest(&cert.cert_der));
    assert_eq!(header["alg"], alg);
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["x5t#S256"], thumb);
    assert_eq!(claims["aud"], ep.token_endpoint());
    assert_eq!(claims["iss"], common::API_CLIENT_ID);
    assert_eq!(claims["sub"], common::API_CLIENT_ID);
    assert_eq!(claims["jti"].as_str().unwrap().len(), 36);
    let (nbf, exp) = (
        claims["nbf"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert!(exp > nbf && exp - nbf <= 600, "{claims}");
    assert!(nbf.abs_diff(common::unix_now()) < 60);
    let (signing_input, sig) = jwt.rsplit_once('.').unwrap();
    // Verified by the rsa crate, independently of the crypto backend that signed.
    let public = rsa::RsaPublicKey::from_pkcs1_der(&cert.public_key_der).unwrap();
    let sig = b64.decode(sig).unwrap();
    let verified = if alg == "PS256" {
        rsa::pss::VerifyingKey::<sha2::Sha256>::new(public).verify(
            signing_input.as_bytes(),
            &rsa::pss::Signature::try_from(sig.as_slice()).unwrap(),
        )
    } else {
        rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public).verify(
            signing_input.as_bytes(),
            &rsa::pkcs1v15::Signature::try_from(sig.as_slice()).unwrap(),
        )
    };
    verified.expect("the assertion's signature verifies with the certificate's key");
}

#[tokio::test]
async fn certificate_assertion_is_ps256_with_x5t_s256_and_verifies() {
    let ep = FakeEndpoint::start().await;
    let cert = common::test_cert();
    let credential = Certificate::from_pem(&cert.cert_pem, &cert.key_pem).unwrap();
    let client = ConfidentialClient::new(
        ep.builder(ClientCredential::certificate(credential))
            .build()
            .unwrap(),
    )
    .unwrap();
    let token = client
        .acquire_for_app(&Scopes::app_default("api://downstream"))
        .await
        .unwrap();
    assert_eq!(token.secret(), "tok-1-for-app");
    verify_assertion(&ep, &cert, "PS256");
}

#[tokio::test]
async fn certificate_assertion_with_rs256_verifies_and_each_request_has_new_jti() {
    let ep = FakeEndpoint::start().await;
    let cert = common::test_cert();
    let credential = Certificate::from_pem(&cert.cert_pem, &cert.key_pem)
        .unwrap()
        .with_algorithm(AssertionAlgorithm::Rs256);
    let client = ConfidentialClient::new(
        ep.builder(ClientCredential::certificate(credential))
            .build()
            .unwrap(),
    )
    .unwrap();
    client
        .acquire_for_app(&Scopes::app_default("api://one"))
        .await
        .unwrap();
    verify_assertion(&ep, &cert, "RS256");
    let jti1 = common::payload(&ep.last_form()["client_assertion"])["jti"].clone();
    client
        .acquire_for_app(&Scopes::app_default("api://two"))
        .await
        .unwrap();
    let jti2 = common::payload(&ep.last_form()["client_assertion"])["jti"].clone();
    assert_ne!(jti1, jti2);
    assert_eq!(ep.count(), 2);
}

#[tokio::test]
async fn certificate_with_key_of_another_certificate_is_refused_at_load() {
    let a = common::test_cert();
    let b = common::test_cert();
    let err = Certificate::from_pem(&a.cert_pem, &b.key_pem).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    let err = Certificate::from_pem(&a.key_pem, &a.key_pem).unwrap_err();
    assert!(err.to_string().contains("CERTIFICATE"), "{err}");
}

#[tokio::test]
async fn federated_token_file_is_sent_and_reread_when_it_changes() {
    let ep = FakeEndpoint::start().await;
    let dir = std::env::temp_dir().join(format!("entra-token-fed-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("token");
    std::fs::write(&path, "eyJfirst.token.one\n").unwrap();
    let client = ConfidentialClient::new(
        ep.builder(ClientCredential::federated_token_file(&path))
            .build()
            .unwrap(),
    )
    .unwrap();
    client
        .acquire_for_app(&Scopes::app_default("api://one"))
        .await
        .unwrap();
    assert_eq!(ep.last_form()["client_assertion"], "eyJfirst.token.one");
    assert_eq!(
        ep.last_form()["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    // The platform rotates the file (a new length and modification time).
    std::fs::write(&path, "eyJsecond.rotated.token-two").unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(later)
        .unwrap();
    client
        .acquire_for_app(&Scopes::app_default("api://two"))
        .await
        .unwrap();
    assert_eq!(
        ep.last_form()["client_assertion"],
        "eyJsecond.rotated.token-two"
    );

    std::fs::remove_file(&path).unwrap();
    let err = client
        .acquire_for_app(&Scopes::app_default("api://three"))
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::Credential(_)), "{err:?}");
    assert!(err.to_string().contains("federated token file"), "{err}");
    assert_eq!(ep.count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn debug_output_never_shows_secret_key_or_token() {
    let cert = common::test_cert();
    let secret = ClientCredential::secret(common::SECRET);
    let certificate = ClientCredential::certificate(
        Certificate::from_pem(&cert.cert_pem, &cert.key_pem).unwrap(),
    );
    let config = ConfidentialConfig::builder(
        Authority::tenant(common::TENANT).unwrap(),
        common::API_CLIENT_ID,
        secret.clone(),
    )
    .build()
    .unwrap();
    let texts = [
        format!("{secret:?}"),
        format!("{certificate:?}"),
        format!("{config:?}"),
    ];
    let key_body: String = cert.key_pem.lines().nth(3).unwrap().to_owned();
    for t in &texts {
        assert!(!t.contains(common::SECRET), "{t}");
        assert!(!t.contains(&key_body), "{t}");
    }
    assert!(texts[1].contains("x5t#S256"), "{}", texts[1]);
}
