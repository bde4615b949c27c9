//! Test helpers: an Entra-shaped token endpoint on 127.0.0.1:0 that checks the form fields it
//! receives and counts requests, certificates, tokens shaped like Entra's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use entra_token::{
    AadstsError, AadstsKind, Authority, ClientCredential, ConfidentialConfig,
    ConfidentialConfigBuilder, TokenError,
};

pub(crate) const TENANT: &str = "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a";
pub(crate) const API_CLIENT_ID: &str = "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c";
pub(crate) const SECRET: &str = "s3cr3t-value-never-logged";
pub(crate) const DOWNSTREAM_SCOPE: &str = "api://downstream/access_as_user";

/// What the fake endpoint answers.
#[derive(Clone, Debug)]
pub(crate) enum Answer {
    /// A token response; the token text is `tok-{n}-{hash of the assertion or "app"}`.
    Token {
        expires_in: u64,
        refresh_in: Option<u64>,
    },
    /// This status and body.
    Raw { status: u16, body: String },
    /// Wait, then a token.
    Slow(Duration),
}

#[derive(Default)]
pub(crate) struct Recorded {
    pub(crate) forms: Vec<HashMap<String, String>>,
}

#[derive(Clone)]
pub(crate) struct FakeEndpoint {
    pub(crate) url: String,
    pub(crate) answer: Arc<Mutex<Answer>>,
    pub(crate) delay: Arc<Mutex<Duration>>,
    /// When set, each token request waits for a permit before it is answered.
    pub(crate) gate: Arc<Mutex<Option<Arc<tokio::sync::Semaphore>>>>,
    pub(crate) requests: Arc<AtomicU64>,
    pub(crate) recorded: Arc<Mutex<Recorded>>,
}

impl FakeEndpoint {
    pub(crate) async fn start() -> Self {
        let ep = FakeEndpoint {
            url: String::new(),
            answer: Arc::new(Mutex::new(Answer::Token {
                expires_in: 3600,
                refresh_in: None,
            })),
            delay: Arc::new(Mutex::new(Duration::ZERO)),
            gate: Arc::new(Mutex::new(None)),
            requests: Arc::new(AtomicU64::new(0)),
            recorded: Arc::new(Mutex::new(Recorded::default())),
        };
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .with_state(ep.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeEndpoint {
            url: format!("http://{addr}/"),
            ..ep
        }
    }

    pub(crate) fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    pub(crate) fn set_delay(&self, d: Duration) {
        *self.delay.lock().unwrap() = d;
    }

    /// From now on every token request is held (counted, not answered) until the returned
    /// semaphore gets a permit for it.
    pub(crate) fn hold(&self) -> Arc<tokio::sync::Semaphore> {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        *self.gate.lock().unwrap() = Some(Arc::clone(&gate));
        gate
    }

    pub(crate) fn count(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    pub(crate) fn last_form(&self) -> HashMap<String, String> {
        self.recorded.lock().unwrap().forms.last().cloned().unwrap()
    }

    pub(crate) fn authority(&self) -> Authority {
        Authority::tenant(TENANT)
            .unwrap()
            .with_instance(&self.url)
            .unwrap()
    }

    pub(crate) fn token_endpoint(&self) -> String {
        format!("{}{TENANT}/oauth2/v2.0/token", self.url)
    }

    pub(crate) fn builder(&self, credential: ClientCredential) -> ConfidentialConfigBuilder {
        ConfidentialConfig::builder(self.authority(), API_CLIENT_ID, credential)
    }

    pub(crate) fn secret_builder(&self) -> ConfidentialConfigBuilder {
        self.builder(ClientCredential::secret(SECRET))
    }

    /// A client with the default configuration and the secret this endpoint accepts.
    pub(crate) fn secret_client(&self) -> entra_token::ConfidentialClient {
        entra_token::ConfidentialClient::new(self.secret_builder().build().unwrap()).unwrap()
    }
}

fn oauth_error(status: StatusCode, error: &str, code: u64, text: &str) -> Response {
    let body = serde_json::json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text} Trace ID: t Correlation ID: c"),
        "error_codes": [code],
        "trace_id": "0000-trace",
        "correlation_id": "0000-corr",
    });
    (status, axum::Json(body)).into_response()
}

/// Checks the fields every Entra token request must carry, then answers as configured.
async fn token(
    State(ep): State<FakeEndpoint>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let n = ep.requests.fetch_add(1, Ordering::SeqCst) + 1;
    ep.recorded.lock().unwrap().forms.push(form.clone());
    let delay = *ep.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let gate = ep.gate.lock().unwrap().clone();
    if let Some(gate) = gate {
        gate.acquire().await.unwrap().forget();
    }
    if tenant != TENANT {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            "Tenant not found.",
        );
    }
    if form.get("client_id").map(String::as_str) != Some(API_CLIENT_ID) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "Application not found.",
        );
    }
    let authenticated = form.get("client_secret").map(String::as_str) == Some(SECRET)
        || (form.get("client_assertion_type").map(String::as_str)
            == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            && form.contains_key("client_assertion"));
    if !authenticated {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided.",
        );
    }
    let subject = match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {
            if !form.get("scope").is_some_and(|s| s.ends_with("/.default")) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    1002012,
                    "scope must end with /.default",
                );
            }
            "app".to_owned()
        }
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
            if form.get("requested_token_use").map(String::as_str) != Some("on_behalf_of") {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    900144,
                    "requested_token_use missing",
                );
            }
            let Some(assertion) = form.get("assertion") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    900144,
                    "assertion missing",
                );
            };
            if form.get("scope").is_none_or(|s| s.is_empty()) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    70011,
                    "scope missing",
                );
            }
            // The user the assertion is about: its oid claim.
            payload(assertion)["oid"].as_str().unwrap_or("?").to_owned()
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                "grant",
            )
        }
    };
    let answer = ep.answer.lock().unwrap().clone();
    match answer {
        Answer::Raw { status, body } => {
            (StatusCode::from_u16(status).unwrap(), body).into_response()
        }
        Answer::Slow(d) => {
            tokio::time::sleep(d).await;
            token_body(n, &subject, 3600, None)
        }
        Answer::Token {
            expires_in,
            refresh_in,
        } => token_body(n, &subject, expires_in, refresh_in),
    }
}

fn token_body(n: u64, subject: &str, expires_in: u64, refresh_in: Option<u64>) -> Response {
    let mut body = serde_json::json!({
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": format!("tok-{n}-for-{subject}"),
    });
    if let Some(r) = refresh_in {
        body["refresh_in"] = r.into();
    }
    axum::Json(body).into_response()
}

/// The JSON payload of a compact JWT.
pub(crate) fn payload(jwt: &str) -> serde_json::Value {
    let p = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

/// The JSON header of a compact JWT.
pub(crate) fn header(jwt: &str) -> serde_json::Value {
    let p = jwt.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

/// An unsigned JWT-shaped user token for this API (the fake endpoint does not verify it).
pub(crate) fn user_token(oid: &str, exp: u64) -> String {
    shaped_token(serde_json::json!({
        "aud": API_CLIENT_ID, "oid": oid, "tid": TENANT, "scp": "access_as_user", "exp": exp,
    }))
}

pub(crate) fn shaped_token(claims: serde_json::Value) -> String {
    format!(
        "{}.{}.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A self-signed certificate and its PKCS#8 key, both PEM, plus the certificate DER.
pub(crate) struct TestCert {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
    pub(crate) cert_der: Vec<u8>,
    pub(crate) public_key_der: Vec<u8>,
}

pub(crate) fn test_cert() -> TestCert {
    use rsa::pkcs1::EncodeRsaPublicKey as _;
    use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
    use rsa::signature::Keypair as _;
    use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
    use x509_cert::der::{Encode as _, EncodePem as _};

    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    let spki =
        x509_cert::spki::SubjectPublicKeyInfoOwned::from_key(signer.verifying_key()).unwrap();
    let cert = CertificateBuilder::new(
        Profile::Root,
        x509_cert::serial_number::SerialNumber::new(&[1, 2, 3]).unwrap(),
        x509_cert::time::Validity::from_now(Duration::from_secs(3600)).unwrap(),
        "CN=entra-token test".parse().unwrap(),
        spki,
        &signer,
    )
    .unwrap()
    .build::<rsa::pkcs1v15::Signature>()
    .unwrap();
    TestCert {
        cert_pem: cert.to_pem(LineEnding::LF).unwrap(),
        key_pem: key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
        cert_der: cert.to_der().unwrap(),
        public_key_der: key.to_public_key().to_pkcs1_der().unwrap().into_vec(),
    }
}

/// Captured log output of the current thread (the tests run on current-thread runtimes).
#[derive(Clone, Default)]
pub(crate) struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Captures events up to `level` until the guard is dropped.
    pub(crate) fn capture(&self, level: tracing::Level) -> tracing::subscriber::DefaultGuard {
        let sink = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// Everything captured so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// The token endpoint's refusal inside `err`, checked to be of `kind` with the AADSTS `code`.
pub(crate) fn rejected(err: &TokenError, kind: AadstsKind, code: u64) -> &AadstsError {
    let TokenError::Rejected(a) = err else {
        panic!("expected the token endpoint's refusal {kind:?} (AADSTS{code}), got {err:?}")
    };
    assert_eq!((a.kind, a.primary_code()), (kind, code), "{a:?}");
    a
}

/// `TEST_REDIS_URL`, or `None` after printing the skip line.
#[cfg(feature = "redis")]
pub(crate) fn redis_url() -> Option<String> {
    let url = std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        println!("skipped: set TEST_REDIS_URL");
    }
    url
}

/// The Redis keys under `prefix`.
#[cfg(feature = "redis")]
pub(crate) async fn redis_keys(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
) -> Vec<String> {
    redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(conn)
        .await
        .unwrap()
}

/// The PKCS#12 file `pfx` without its unencrypted safe (where the shrouded key bag is) and without
/// its MAC: a certificate-only export.
pub(crate) fn pkcs12_without_key_safe(pfx: &[u8]) -> Vec<u8> {
    use der::asn1::{Any, OctetString};
    use der::{Decode as _, Encode as _};
    let mut pfx = pkcs12::pfx::Pfx::from_der(pfx).unwrap();
    let content = pfx.auth_safe.content.decode_as::<OctetString>().unwrap();
    let safes: Vec<cms::content_info::ContentInfo> = Vec::from_der(content.as_bytes()).unwrap();
    let data = der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
    let kept: Vec<_> = safes
        .into_iter()
        .filter(|s| s.content_type != data)
        .collect();
    let octets = OctetString::new(kept.to_der().unwrap()).unwrap();
    pfx.auth_safe.content = Any::encode_from(&octets).unwrap();
    pfx.mac_data = None;
    pfx.to_der().unwrap()
}

/// An `EncryptedPrivateKeyInfo` (DER) naming the password-based scheme `oid` with PBE
/// parameters (salt, 2048 iterations) around 32 bytes that are no key.
pub(crate) fn encrypted_key_with_algorithm(oid: &str) -> Vec<u8> {
    use der::asn1::{Any, OctetString};
    use der::Encode as _;
    let params = pkcs12::pbe_params::Pkcs12PbeParams {
        salt: OctetString::new(vec![7u8; 8]).unwrap(),
        iterations: 2048,
    };
    pkcs12::pbe_params::EncryptedPrivateKeyInfo {
        encryption_algorithm: x509_cert::spki::AlgorithmIdentifierOwned {
            oid: der::oid::ObjectIdentifier::new_unwrap(oid),
            parameters: Some(Any::encode_from(&params).unwrap()),
        },
        encrypted_data: OctetString::new(vec![0u8; 32]).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// An API's answer, read whole (status, headers, JSON body).
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: serde_json::Value,
}

impl Reply {
    /// Reads `res` whole; its body must be JSON.
    pub(crate) async fn read(res: reqwest::Response) -> Self {
        Self {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body: res.json().await.unwrap(),
        }
    }

    /// The header's value, `""` when absent.
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }

    /// A problem answer of this status and code.
    pub(crate) fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.header("content-type"), "application/problem+json");
        assert_eq!(self.body["status"], status, "{}", self.body);
        assert_eq!(self.body["code"], code, "{}", self.body);
    }
}
