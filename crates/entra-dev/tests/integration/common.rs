//! Shared helpers of the integration tests: one RSA key per test process, a spawned issuer, an HTTP
//! client, and an independent verifier (jsonwebtoken).

use std::sync::OnceLock;

use entra_dev::{DevIssuer, DevIssuerConfig, RunningDevIssuer};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// One generated key per test process (key generation costs ~100 ms+).
pub(crate) fn shared_key() -> rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| DevIssuer::generate_key().unwrap())
        .clone()
}

pub(crate) async fn spawn() -> RunningDevIssuer {
    spawn_with(DevIssuerConfig::default()).await
}

pub(crate) async fn spawn_with(config: DevIssuerConfig) -> RunningDevIssuer {
    DevIssuer::spawn_with_key(config, shared_key())
        .await
        .unwrap()
}

/// A client that does not follow redirects (the login flow inspects them).
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let res = client.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200, "GET {url}");
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "content type {ct}");
    res.json().await.unwrap()
}

/// Decodes the claims without verifying (to read `tid`, `iss`...).
pub(crate) fn peek(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The JOSE header without verifying.
pub(crate) fn header(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Verifies `token` against the key set with jsonwebtoken (RS256, issuer, audience, exp, nbf).
pub(crate) fn verify(token: &str, jwks: &Value, issuer: &str, audience: &str) -> Value {
    try_verify(token, jwks, issuer, audience).unwrap()
}

pub(crate) fn try_verify(
    token: &str,
    jwks: &Value,
    issuer: &str,
    audience: &str,
) -> Result<Value, jsonwebtoken::errors::Error> {
    let header = jsonwebtoken::decode_header(token)?;
    assert_eq!(header.alg, Algorithm::RS256);
    let kid = header.kid.expect("token has a kid");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} is not in the key set {jwks}"));
    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.validate_nbf = true;
    validation.leeway = 0;
    Ok(jsonwebtoken::decode::<Value>(token, &key, &validation)?.claims)
}

/// POSTs a form to a token-style endpoint; asserts Entra's `Cache-Control` and returns status and JSON.
pub(crate) async fn post_form(url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let res = http().post(url).form(form).send().await.unwrap();
    let status = res.status().as_u16();
    assert_eq!(
        res.headers()["cache-control"].to_str().unwrap(),
        "no-store, no-cache"
    );
    (status, res.json().await.unwrap())
}

/// Sends `request` and asserts a 400 `invalid_request` answer; returns it (its `error_description` for
/// the caller to check).
pub(crate) async fn invalid_request(request: reqwest::RequestBuilder) -> Value {
    let res = request.send().await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    body
}

/// Asserts an Entra-shaped OAuth error: status, `error`, `error_description` starting `AADSTS{code}: `,
/// `error_codes`, and the `trace_id`, `correlation_id` and `timestamp` fields.
pub(crate) fn assert_entra_error(
    status: u16,
    body: &Value,
    want_status: u16,
    error: &str,
    aadsts: u64,
) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    let d = body["error_description"].as_str().unwrap();
    assert!(d.starts_with(&format!("AADSTS{aadsts}: ")), "{d}");
    assert_eq!(body["error_codes"], serde_json::json!([aadsts]), "{body}");
    assert!(body["trace_id"].as_str().is_some_and(|t| t.len() == 36));
    assert!(body["correlation_id"]
        .as_str()
        .is_some_and(|t| t.len() == 36));
    assert!(body["timestamp"].as_str().is_some());
}
