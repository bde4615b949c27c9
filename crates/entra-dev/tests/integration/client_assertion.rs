//! Client assertions over real HTTP: certificate-signed JWTs (RFC 7523, RS256 and PS256, `x5t#S256`) and
//! federated credentials (an external issuer's token), each refusal with Entra's code and fix.

use crate::common;

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::{http, invalid_request, peek, spawn_with};
use entra_dev::defaults::{
    DEV_API_APP_ID_URI, DEV_API_CLIENT_ID, DEV_DOWNSTREAM_API_APP_ID_URI, DEV_TENANT_ID, SCOPE_READ,
};
use entra_dev::{
    DevClient, DevIssuerConfig, FederatedCredential, GeneratedCertificate, RunningDevIssuer,
    TokenRequest, TOKEN_EXCHANGE_AUDIENCE,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use serde_json::{json, Value};

const CERT_CLIENT: &str = "ce7ce7ce-0000-4000-8000-00000000ce77";
const FED_CLIENT: &str = "fed0fed0-0000-4000-8000-00000000fed0";
const EXTERNAL_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const EXTERNAL_SUBJECT: &str = "system:serviceaccount:weather:api";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A second key for client certificates, and a third one that nobody registered.
fn client_key() -> rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| entra_dev::DevIssuer::generate_key().unwrap())
        .clone()
}

fn stranger_key() -> rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| entra_dev::DevIssuer::generate_key().unwrap())
        .clone()
}

/// One certificate per test process (each generation has a new serial, so a new thumbprint).
fn certificate() -> GeneratedCertificate {
    static CERT: OnceLock<GeneratedCertificate> = OnceLock::new();
    CERT.get_or_init(|| {
        GeneratedCertificate::from_private_key(
            client_key(),
            "cert client",
            Duration::from_secs(86_400),
        )
        .unwrap()
    })
    .clone()
}

async fn spawn_issuer() -> RunningDevIssuer {
    let mut config = DevIssuerConfig::default();
    config.clients.push(DevClient {
        certificates: vec![certificate().certificate],
        app_roles: vec!["Weather.Read.All".into()],
        ..DevClient::confidential(CERT_CLIENT, "Certificate client")
    });
    let external_pem = stranger_key()
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    config.clients.push(DevClient {
        federated_credentials: vec![FederatedCredential::new(EXTERNAL_ISSUER, EXTERNAL_SUBJECT)
            .with_public_key_pem(Some("k8s-key"), &external_pem)
            .unwrap()],
        app_roles: vec!["Weather.Read.All".into()],
        ..DevClient::confidential(FED_CLIENT, "Workload identity client")
    });
    spawn_with(config).await
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn token_url(running: &RunningDevIssuer) -> String {
    format!("{}{DEV_TENANT_ID}/oauth2/v2.0/token", running.url())
}

fn pem_of(key: &rsa::RsaPrivateKey) -> String {
    key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
}

/// A client assertion as MSAL builds one, with `edit` applied to the claims and header.
fn assertion(
    running: &RunningDevIssuer,
    alg: Algorithm,
    key: &rsa::RsaPrivateKey,
    edit: impl FnOnce(&mut Value, &mut Header),
) -> String {
    let mut header = Header::new(alg);
    header.x5t_s256 = certificate().certificate.x5t_s256().map(str::to_owned);
    let mut claims = json!({
        "aud": token_url(running),
        "iss": CERT_CLIENT,
        "sub": CERT_CLIENT,
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now(),
        "iat": now(),
        "exp": now() + 300,
    });
    edit(&mut claims, &mut header);
    let key = EncodingKey::from_rsa_pem(pem_of(key).as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

async fn client_credentials(
    running: &RunningDevIssuer,
    client_id: &str,
    assertion: &str,
) -> (u16, Value) {
    common::post_form(
        &token_url(running),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
            ("scope", &format!("{DEV_API_APP_ID_URI}/.default")),
        ],
    )
    .await
}

fn assert_invalid_client(status: u16, body: &Value, aadsts: u64, needle: &str) {
    common::assert_entra_error(status, body, 401, "invalid_client", aadsts);
    let d = body["error_description"].as_str().unwrap();
    assert!(d.contains(needle), "{d}");
}

#[tokio::test]
async fn client_credentials_with_rs256_certificate_assertion_returns_token_with_azpacr_2() {
    let running = spawn_issuer().await;
    let a = assertion(&running, Algorithm::RS256, &client_key(), |_, _| {});
    let (status, body) = client_credentials(&running, CERT_CLIENT, &a).await;
    assert_eq!(status, 200, "{body}");
    let claims = peek(body["access_token"].as_str().unwrap());
    assert_eq!(claims["azp"], CERT_CLIENT);
    assert_eq!(claims["azpacr"], "2");
    assert_eq!(claims["roles"], json!(["Weather.Read.All"]));
    assert_eq!(claims["aud"], DEV_API_CLIENT_ID);
    assert_eq!(running.issuer.stats().client_credentials_requests, 1);
}

#[tokio::test]
async fn client_credentials_with_ps256_certificate_assertion_returns_token() {
    let running = spawn_issuer().await;
    let a = assertion(&running, Algorithm::PS256, &client_key(), |_, _| {});
    let (status, body) = client_credentials(&running, CERT_CLIENT, &a).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(peek(body["access_token"].as_str().unwrap())["azpacr"], "2");
}

#[tokio::test]
async fn certificate_assertion_with_v1_token_endpoint_audience_is_accepted() {
    let running = spawn_issuer().await;
    let aud = format!("{}{DEV_TENANT_ID}/oauth2/token", running.url());
    let a = assertion(&running, Algorithm::RS256, &client_key(), |c, _| {
        c["aud"] = json!(aud)
    });
    let (status, body) = client_credentials(&running, CERT_CLIENT, &a).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn certificate_assertion_for_another_audience_returns_700023() {
    let running = spawn_issuer().await;
    let a = assertion(&running, Algorithm::RS256, &client_key(), |c, _| {
        c["aud"] = json!("https://login.microsoftonline.com/other/oauth2/v2.0/token")
    });
    let (status, body) = client_credentials(&running, CERT_CLIENT, &a).await;
    assert_invalid_client(status, &body, 700_023, "expected the token endpoint");
}

#[tokio::test]
async fn certificate_assertion_valid_longer_than_ten_minutes_returns_700024() {
    let running = spawn_issuer().await;
    let a = assertion(&running, Algorithm::RS256, &client_key(), |c, _| {
        c["exp"] = json!(now() + 3600)
    });
    let (status, body) = client_credentials(&running, CERT_CLIENT, &a).await;
    assert_invalid_client(status, &body, 700_024, "at most 600 s");
}

#[tokio::test]
async fn expired_certificate_assertion_returns_700024() {
    let running = spawn_issuer().await;
    let a = assertion(&running, Algorithm::RS256, &client_key(), |c, _| {
        c["nbf"] = json!(now() - 1200);
        c["iat"] = json!(now() - 1200);
        c["exp"] = json!(now() - 900);
    });
    let (status, body) = client_credentials(&running, CERT_CLIENT, &a).await;
    assert_invalid_client(status, &body, 700_024, "expired at");
}

#[tokio::test]
async fn certificate_assertion_without_jti_returns_50027() {
    let running = spawn_issuer().await;
    let a = assertion(&running, Algorithm::RS256, &client_key(), |c, _| {
        c.as_object_mut().unwrap().remove("jti");
    });
    let (status, body) = client_credentials(&running, CERT_CLIENT, &a).await;
    assert_invalid_client(status, &body, 50_027, "no jti claim");
}

#[tokio::test]
async fn certificate_assertion_with_unregistered_thumbprint_returns_700027() {
    let running = spawn_issuer().await;
    let a = assertion(&running, Algorithm::RS256, &client_key(), |_, h| {
        h.x5t_s256 = Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into())
    });
    let (status, body) = client_credentials(&running, CERT_CLIENT, &a).await;
    assert_invalid_client(status, &body, 700_027, "is not registered on application");
}

#[tokio::test]
async fn certificate_assertion_signed_with_another_key_returns_700027() {
    let running = spawn_issuer().await;
    let a = assertion(&running, Algorithm::RS256, &stranger_key(), |_, _| {});
    let (status, body) = client_credentials(&running, CERT_CLIENT, &a).await;
    assert_invalid_client(status, &body, 700_027, "signature does not verify");
}

#[tokio::test]
async fn certificate_assertion_with_sub_other_than_the_client_returns_700021() {
    let running = spawn_issuer().await;
    let a = assertion(&running, Algorithm::RS256, &client_key(), |c, _| {
        c["sub"] = json!("someone-else")
    });
    let (status, body) = client_credentials(&running, CERT_CLIENT, &a).await;
    assert_invalid_client(status, &body, 700_021, "sub must be the client id");
}

#[tokio::test]
async fn certificate_assertion_with_hs256_returns_5002738() {
    let running = spawn_issuer().await;
    let mut header = Header::new(Algorithm::HS256);
    header.x5t_s256 = certificate().certificate.x5t_s256().map(str::to_owned);
    let claims = json!({
        "aud": token_url(&running), "iss": CERT_CLIENT, "sub": CERT_CLIENT,
        "jti": "x", "nbf": now(), "exp": now() + 300,
    });
    let a = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(b"k")).unwrap();
    let (status, body) = client_credentials(&running, CERT_CLIENT, &a).await;
    assert_invalid_client(
        status,
        &body,
        5_002_738,
        "'HS256' is not a supported signature algorithm",
    );
}

#[tokio::test]
async fn client_assertion_with_wrong_assertion_type_returns_invalid_request() {
    let running = spawn_issuer().await;
    let a = assertion(&running, Algorithm::RS256, &client_key(), |_, _| {});
    let body = invalid_request(http().post(token_url(&running)).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", CERT_CLIENT),
        ("client_assertion_type", "jwt"),
        ("client_assertion", a.as_str()),
        ("scope", &format!("{DEV_API_APP_ID_URI}/.default")),
    ]))
    .await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS90014: The request body must contain client_assertion_type="));
    assert!(!body.to_string().contains(&a));
}

#[tokio::test]
async fn obo_with_certificate_authenticated_middle_tier_returns_token_with_azpacr_2() {
    let mut config = DevIssuerConfig::default();
    // The weather API (the middle tier) authenticates with a certificate instead of its secret.
    let api = config
        .clients
        .iter_mut()
        .find(|c| c.client_id == DEV_API_CLIENT_ID)
        .unwrap();
    api.secret = None;
    api.certificates = vec![certificate().certificate];
    let running = spawn_with(config).await;
    let incoming = running
        .issuer
        .mint(&TokenRequest {
            scopes: vec![SCOPE_READ.into()],
            ..TokenRequest::default()
        })
        .unwrap();
    let a = assertion(&running, Algorithm::PS256, &client_key(), |c, _| {
        c["iss"] = json!(DEV_API_CLIENT_ID);
        c["sub"] = json!(DEV_API_CLIENT_ID);
    });
    let res = http()
        .post(token_url(&running))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("client_id", DEV_API_CLIENT_ID),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", a.as_str()),
            ("assertion", incoming.as_str()),
            ("requested_token_use", "on_behalf_of"),
            (
                "scope",
                &format!("{DEV_DOWNSTREAM_API_APP_ID_URI}/downstream.read"),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let claims = peek(body["access_token"].as_str().unwrap());
    assert_eq!(claims["azp"], DEV_API_CLIENT_ID);
    assert_eq!(claims["azpacr"], "2");
    assert_eq!(claims["oid"], entra_dev::defaults::ALICE_OID);
}

// ---------------------------------------------------------------- federated credentials

fn external_token(edit: impl FnOnce(&mut Value)) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("k8s-key".into());
    let mut claims = json!({
        "iss": EXTERNAL_ISSUER,
        "sub": EXTERNAL_SUBJECT,
        "aud": [TOKEN_EXCHANGE_AUDIENCE],
        "iat": now(),
        "nbf": now(),
        "exp": now() + 3600,
    });
    edit(&mut claims);
    let key = EncodingKey::from_rsa_pem(pem_of(&stranger_key()).as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[tokio::test]
async fn federated_credential_with_trusted_external_token_returns_token() {
    let running = spawn_issuer().await;
    let (status, body) = client_credentials(&running, FED_CLIENT, &external_token(|_| {})).await;
    assert_eq!(status, 200, "{body}");
    let claims = peek(body["access_token"].as_str().unwrap());
    assert_eq!(claims["azp"], FED_CLIENT);
    assert_eq!(claims["azpacr"], "2");
    assert_eq!(claims["idtyp"], "app");
}

#[tokio::test]
async fn federated_credential_from_unknown_issuer_returns_700211() {
    let running = spawn_issuer().await;
    let token = external_token(|c| c["iss"] = json!("https://token.actions.githubusercontent.com"));
    let (status, body) = client_credentials(&running, FED_CLIENT, &token).await;
    assert_invalid_client(status, &body, 700_211, EXTERNAL_ISSUER);
}

#[tokio::test]
async fn federated_credential_for_another_subject_returns_700213() {
    let running = spawn_issuer().await;
    let token = external_token(|c| c["sub"] = json!("system:serviceaccount:other:app"));
    let (status, body) = client_credentials(&running, FED_CLIENT, &token).await;
    assert_invalid_client(status, &body, 700_213, "system:serviceaccount:other:app");
}

#[tokio::test]
async fn federated_credential_for_another_audience_returns_700212() {
    let running = spawn_issuer().await;
    let token = external_token(|c| c["aud"] = json!("api://something-else"));
    let (status, body) = client_credentials(&running, FED_CLIENT, &token).await;
    assert_invalid_client(status, &body, 700_212, TOKEN_EXCHANGE_AUDIENCE);
}

#[tokio::test]
async fn federated_credential_with_expired_external_token_returns_700024() {
    let running = spawn_issuer().await;
    let token = external_token(|c| {
        c["nbf"] = json!(now() - 7200);
        c["exp"] = json!(now() - 3600);
    });
    let (status, body) = client_credentials(&running, FED_CLIENT, &token).await;
    assert_invalid_client(status, &body, 700_024, "expired at");
}

#[tokio::test]
async fn federated_credential_signed_with_another_key_returns_700027() {
    let running = spawn_issuer().await;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("k8s-key".into());
    let claims = json!({
        "iss": EXTERNAL_ISSUER, "sub": EXTERNAL_SUBJECT, "aud": TOKEN_EXCHANGE_AUDIENCE, "exp": now() + 600,
    });
    let key = EncodingKey::from_rsa_pem(pem_of(&client_key()).as_bytes()).unwrap();
    let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    let (status, body) = client_credentials(&running, FED_CLIENT, &token).await;
    assert_invalid_client(status, &body, 700_027, "does not verify");
}

#[test]
fn federated_credential_reads_rsa_keys_from_a_jwks_and_refuses_an_empty_one() {
    use base64::Engine as _;
    use rsa::traits::PublicKeyParts as _;
    let key = stranger_key().to_public_key();
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwks = json!({ "keys": [
        { "kty": "RSA", "kid": "a", "n": b64(key.n().to_bytes_be()), "e": b64(key.e().to_bytes_be()) },
        { "kty": "EC", "crv": "P-256" },
    ] });
    let fc = FederatedCredential::new(EXTERNAL_ISSUER, EXTERNAL_SUBJECT)
        .with_jwks(&jwks.to_string())
        .unwrap();
    assert!(format!("{fc:?}").contains("keys: 1"));
    let err = FederatedCredential::new(EXTERNAL_ISSUER, EXTERNAL_SUBJECT)
        .with_jwks(r#"{"keys":[]}"#)
        .unwrap_err();
    assert!(std::error::Error::source(&err)
        .unwrap()
        .to_string()
        .contains("no RSA key"));
}

#[test]
fn generated_certificate_debug_redacts_the_private_key() {
    let generated = certificate();
    assert!(generated
        .private_key_pem
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(generated
        .certificate_pem
        .starts_with("-----BEGIN CERTIFICATE-----"));
    let debug = format!("{generated:?}");
    assert!(debug.contains("<redacted>") && !debug.contains("PRIVATE KEY"));
    let again = entra_dev::ClientCertificate::from_pem(&generated.certificate_pem, None).unwrap();
    assert_eq!(again, generated.certificate);
}
