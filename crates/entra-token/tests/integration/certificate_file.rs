//! Certificates as they are stored: files written by entra-dev (`GeneratedCertificate::to_file`,
//! what `entra-dev cert create --format ...` writes) loaded with `Certificate::from_file` /
//! `parse`, and a client-credentials token acquired with each from the development issuer over
//! real HTTP. Every bad file is its own typed `CertificateError`.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use entra_dev::{
    defaults, CertificateFileFormat, DevIssuer, DevIssuerConfig, GeneratedCertificate,
};
use entra_token::SecretString;
use entra_token::{
    Authority, Certificate, CertificateError, CertificateFormat, ClientCredential,
    ConfidentialClient, ConfidentialConfig, CredentialError, Scopes, TokenError,
};

use crate::common;

const PASSWORD: &str = "correct horse battery staple";
const DAY: Duration = Duration::from_secs(86_400);

/// One RSA key per role for the whole test binary (generation is the slow part).
fn key(n: usize) -> rsa::RsaPrivateKey {
    static KEYS: OnceLock<Vec<rsa::RsaPrivateKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (0..3)
            .map(|_| rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap())
            .collect()
    })[n]
        .clone()
}

fn password() -> SecretString {
    SecretString::from(PASSWORD.to_owned())
}

/// A self-signed certificate valid from an hour ago for a year.
fn leaf() -> GeneratedCertificate {
    let now = SystemTime::now();
    GeneratedCertificate::with_dates(key(0), "daemon", now - DAY / 24, now + 365 * DAY).unwrap()
}

/// A leaf (key 1) issued by a generated CA (key 2).
fn chained() -> (GeneratedCertificate, GeneratedCertificate) {
    let now = SystemTime::now();
    let ca =
        GeneratedCertificate::with_dates(key(2), "issuing ca", now - DAY, now + 730 * DAY).unwrap();
    let leaf = ca
        .issue(key(1), "chained daemon", now - DAY / 24, now + 365 * DAY)
        .unwrap();
    (ca, leaf)
}

fn file(
    cert: &GeneratedCertificate,
    format: CertificateFileFormat,
    password: Option<&str>,
) -> Vec<u8> {
    cert.to_file(format, password).unwrap()
}

/// The development issuer with the daemon (no secret) as `edit` makes it, and a client of it
/// authenticating with `certificate`.
async fn daemon_with(
    edit: impl FnOnce(&mut entra_dev::DevClient),
    certificate: Certificate,
) -> (entra_dev::RunningDevIssuer, ConfidentialClient) {
    let mut config = DevIssuerConfig::default();
    let daemon = config
        .clients
        .iter_mut()
        .find(|c| c.client_id == defaults::DEV_DAEMON_CLIENT_ID)
        .unwrap();
    daemon.secret = None;
    edit(daemon);
    let dev = DevIssuer::spawn(config).await.unwrap();
    let authority = Authority::tenant(defaults::DEV_TENANT_ID)
        .unwrap()
        .with_instance(dev.url().as_str())
        .unwrap();
    let client = ConfidentialClient::new(
        ConfidentialConfig::builder(
            authority,
            defaults::DEV_DAEMON_CLIENT_ID,
            ClientCredential::certificate(certificate),
        )
        .build()
        .unwrap(),
    )
    .unwrap();
    (dev, client)
}

/// The token the daemon, registered by `registered`'s certificate, gets for the development API
/// with `certificate`: authenticated by certificate (`azpacr` 2).
async fn app_token(
    registered: &GeneratedCertificate,
    certificate: Certificate,
) -> serde_json::Value {
    let (_dev, client) = daemon_with(
        |d| d.certificates = vec![registered.certificate.clone()],
        certificate,
    )
    .await;
    let token = client
        .acquire_for_app(&Scopes::app_default(defaults::DEV_API_APP_ID_URI))
        .await
        .unwrap();
    let claims = common::payload(token.secret());
    assert_eq!(claims["azp"], defaults::DEV_DAEMON_CLIENT_ID, "{claims}");
    assert_eq!(
        claims["azpacr"], "2",
        "authenticated by certificate: {claims}"
    );
    claims
}

#[tokio::test]
async fn pkcs12_file_with_password_acquires_a_token() {
    let cert = leaf();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("daemon.pfx");
    std::fs::write(
        &path,
        file(&cert, CertificateFileFormat::Pfx, Some(PASSWORD)),
    )
    .unwrap();
    let loaded = Certificate::from_file(&path, Some(&password())).unwrap();
    assert_eq!(
        loaded.thumbprint_sha256(),
        cert.certificate.x5t_s256().unwrap()
    );
    app_token(&cert, loaded).await;
}

#[tokio::test]
async fn legacy_pkcs12_with_3des_and_rc2_acquires_a_token() {
    let cert = leaf();
    let pfx = file(&cert, CertificateFileFormat::LegacyPfx, Some(PASSWORD));
    let loaded = Certificate::from_pkcs12(&pfx, Some(&password())).unwrap();
    app_token(&cert, loaded).await;
}

#[tokio::test]
async fn pkcs12_without_password_opens_with_none() {
    let cert = leaf();
    let pfx = file(&cert, CertificateFileFormat::Pfx, None);
    let loaded = Certificate::parse(&pfx, None).unwrap();
    assert_eq!(
        loaded.thumbprint_sha256(),
        cert.certificate.x5t_s256().unwrap()
    );
}

#[tokio::test]
async fn encrypted_pem_with_password_acquires_a_token() {
    let cert = leaf();
    let pem = file(&cert, CertificateFileFormat::EncryptedPem, Some(PASSWORD));
    assert!(String::from_utf8_lossy(&pem).contains("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let loaded = Certificate::parse(&pem, Some(&password())).unwrap();
    app_token(&cert, loaded).await;
}

#[tokio::test]
async fn pkcs1_pem_acquires_a_token() {
    let cert = leaf();
    let pem = String::from_utf8(file(&cert, CertificateFileFormat::Pkcs1Pem, None)).unwrap();
    assert!(pem.contains("-----BEGIN RSA PRIVATE KEY-----"));
    // The key alone in its own text, as two files.
    let key_at = pem.find("-----BEGIN RSA PRIVATE KEY-----").unwrap();
    let loaded = Certificate::from_pem(&pem[..key_at], &pem[key_at..]).unwrap();
    app_token(&cert, loaded).await;
}

#[tokio::test]
async fn chain_file_is_signed_by_the_leaf_and_keeps_the_chain() {
    let (ca, leaf) = chained();
    // CA first in the file: the leaf is found by its key, not by its place.
    let mut pem = ca.certificate_pem.clone().into_bytes();
    pem.extend(file(&leaf, CertificateFileFormat::Pem, None));
    let loaded = Certificate::parse(&pem, None).unwrap();
    assert_eq!(
        loaded.thumbprint_sha256(),
        leaf.certificate.x5t_s256().unwrap()
    );
    // The CA appears twice in the input (before the leaf and in the leaf's own chain): kept as is.
    assert!(loaded
        .chain()
        .iter()
        .all(|c| *c == STANDARD.encode(ca.certificate_der())));
    app_token(&leaf, loaded).await;

    let pfx = file(&leaf, CertificateFileFormat::Pfx, Some(PASSWORD));
    let loaded = Certificate::from_pkcs12(&pfx, Some(&password())).unwrap();
    assert_eq!(
        loaded.thumbprint_sha256(),
        leaf.certificate.x5t_s256().unwrap()
    );
    assert_eq!(loaded.chain(), [STANDARD.encode(ca.certificate_der())]);
}

#[tokio::test]
async fn send_x5c_puts_leaf_then_chain_in_the_assertion_header() {
    let (ca, leaf) = chained();
    let pfx = file(&leaf, CertificateFileFormat::Pfx, Some(PASSWORD));
    let load = || {
        Certificate::from_pkcs12(&pfx, Some(&password()))
            .unwrap()
            .with_send_x5c(true)
    };
    // What the token endpoint receives.
    let ep = common::FakeEndpoint::start().await;
    let client = ConfidentialClient::new(
        ep.builder(ClientCredential::certificate(load()))
            .build()
            .unwrap(),
    )
    .unwrap();
    client
        .acquire_for_app(&Scopes::app_default("api://downstream"))
        .await
        .unwrap();
    let header = common::header(&ep.last_form()["client_assertion"]);
    assert_eq!(
        header["x5c"],
        serde_json::json!([
            STANDARD.encode(leaf.certificate_der()),
            STANDARD.encode(ca.certificate_der())
        ]),
        "{header}"
    );
    assert_eq!(header["x5t#S256"], leaf.certificate.x5t_s256().unwrap());
    // Without send_x5c the header has no chain.
    let plain = ConfidentialClient::new(
        ep.builder(ClientCredential::certificate(load().with_send_x5c(false)))
            .build()
            .unwrap(),
    )
    .unwrap();
    plain
        .acquire_for_app(&Scopes::app_default("api://other"))
        .await
        .unwrap();
    assert!(common::header(&ep.last_form()["client_assertion"])
        .get("x5c")
        .is_none());
    // And the issuer accepts the assertion that carries x5c.
    app_token(&leaf, load()).await;
}

// ---- bad input: each a typed error, never the password in the message ----

fn assert_no_secret(err: &CertificateError) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(!text.contains("PRIVATE KEY-----"), "{text}");
}

#[test]
fn pkcs12_with_wrong_password_is_wrong_password() {
    let pfx = file(&leaf(), CertificateFileFormat::Pfx, Some(PASSWORD));
    let wrong = SecretString::from("Tr0ub4dor&3".to_owned());
    let err = Certificate::from_pkcs12(&pfx, Some(&wrong)).unwrap_err();
    assert!(
        matches!(
            err,
            CertificateError::WrongPassword {
                format: CertificateFormat::Pkcs12
            }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("Tr0ub4dor"), "{err}");
    let err = Certificate::from_pkcs12(&pfx, None).unwrap_err();
    assert!(
        matches!(
            err,
            CertificateError::PasswordRequired {
                format: CertificateFormat::Pkcs12
            }
        ),
        "{err:?}"
    );
    let legacy = file(&leaf(), CertificateFileFormat::LegacyPfx, Some(PASSWORD));
    let err = Certificate::from_pkcs12(&legacy, Some(&wrong)).unwrap_err();
    assert!(
        matches!(err, CertificateError::WrongPassword { .. }),
        "{err:?}"
    );
}

#[test]
fn encrypted_pem_with_wrong_or_no_password_is_refused() {
    let pem = file(&leaf(), CertificateFileFormat::EncryptedPem, Some(PASSWORD));
    let wrong = SecretString::from("not it".to_owned());
    let err = Certificate::parse(&pem, Some(&wrong)).unwrap_err();
    assert!(
        matches!(
            err,
            CertificateError::WrongPassword {
                format: CertificateFormat::EncryptedPem
            }
        ),
        "{err:?}"
    );
    assert_no_secret(&err);
    let err = Certificate::parse(&pem, None).unwrap_err();
    assert!(
        matches!(err, CertificateError::PasswordRequired { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("CertificatePassword"), "{err}");
}

#[test]
fn pkcs12_without_key_is_pkcs12_without_key() {
    // A certificate-only export: the file without its key safe.
    let pfx = file(&leaf(), CertificateFileFormat::Pfx, Some(PASSWORD));
    let without_key = common::pkcs12_without_key_safe(&pfx);
    let err = Certificate::from_pkcs12(&without_key, Some(&password())).unwrap_err();
    assert!(matches!(err, CertificateError::Pkcs12WithoutKey), "{err:?}");
    assert!(err.to_string().contains("export"), "{err}");
}

#[test]
fn pem_without_key_is_no_private_key() {
    let cert = leaf();
    let err = Certificate::parse(cert.certificate_pem.as_bytes(), None).unwrap_err();
    assert!(matches!(err, CertificateError::NoPrivateKey), "{err:?}");
    let err = Certificate::parse(cert.private_key_pem.as_bytes(), None).unwrap_err();
    assert!(matches!(err, CertificateError::NoCertificate), "{err:?}");
    assert_no_secret(&err);
}

#[test]
fn expired_certificate_is_refused_with_its_dates() {
    let now = SystemTime::now();
    let expired =
        GeneratedCertificate::with_dates(key(0), "expired", now - 30 * DAY, now - DAY).unwrap();
    let pfx = file(&expired, CertificateFileFormat::Pfx, Some(PASSWORD));
    let err = Certificate::from_pkcs12(&pfx, Some(&password())).unwrap_err();
    let CertificateError::Expired { not_after, .. } = err else {
        panic!("{err:?}");
    };
    assert!(not_after < now);
    assert!(err.to_string().contains("AADSTS700027"), "{err}");

    let future =
        GeneratedCertificate::with_dates(key(0), "future", now + DAY, now + 30 * DAY).unwrap();
    let err =
        Certificate::parse(&file(&future, CertificateFileFormat::Pem, None), None).unwrap_err();
    assert!(
        matches!(err, CertificateError::NotYetValid { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn certificate_expiring_while_running_fails_before_any_request() {
    let now = SystemTime::now();
    let short = GeneratedCertificate::with_dates(key(0), "short", now - DAY, now + DAY).unwrap();
    let cert = Certificate::parse(&file(&short, CertificateFileFormat::Pem, None), None).unwrap();
    let ep = common::FakeEndpoint::start().await;
    let clock = entra_token::ManualClock::starting_now();
    let client = ConfidentialClient::new(
        ep.builder(ClientCredential::certificate(cert))
            .clock(std::sync::Arc::new(clock.clone()))
            .build()
            .unwrap(),
    )
    .unwrap();
    clock.advance(2 * DAY);
    let err = client
        .acquire_for_app(&Scopes::app_default("api://downstream"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TokenError::Credential(CredentialError::CertificateExpired { .. })
        ),
        "{err:?}"
    );
    assert_eq!(ep.count(), 0, "no request with a doomed assertion");
}

#[test]
fn key_of_another_certificate_is_key_mismatch() {
    let cert = leaf();
    let (_, other) = chained();
    let text = format!("{}{}", cert.certificate_pem, other.private_key_pem);
    let err = Certificate::parse(text.as_bytes(), None).unwrap_err();
    assert!(matches!(err, CertificateError::KeyMismatch), "{err:?}");
    assert_no_secret(&err);
}

#[test]
fn garbage_is_unrecognized_or_invalid_pkcs12() {
    let err = Certificate::parse(b"this is not a certificate", None).unwrap_err();
    assert!(
        matches!(err, CertificateError::UnrecognizedFormat),
        "{err:?}"
    );
    let err = Certificate::parse(&[0x30, 0x03, 0x02, 0x01, 0x03], None).unwrap_err();
    assert!(
        matches!(err, CertificateError::InvalidPkcs12 { .. }),
        "{err:?}"
    );
    let mut truncated = file(&leaf(), CertificateFileFormat::Pfx, Some(PASSWORD));
    truncated.truncate(truncated.len() / 2);
    let err = Certificate::from_pkcs12(&truncated, Some(&password())).unwrap_err();
    assert!(
        matches!(err, CertificateError::InvalidPkcs12 { .. }),
        "{err:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let err = Certificate::from_file(dir.path().join("missing.pfx"), None).unwrap_err();
    assert!(matches!(err, CertificateError::Io { .. }), "{err:?}");
}

#[test]
fn unsupported_encryption_is_named() {
    // OpenSSL's traditional encrypted PEM (`openssl rsa -aes256`): headers, not PKCS#8.
    let cert = leaf();
    let text = format!(
        "{}-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        cert.certificate_pem
    );
    let err = Certificate::parse(text.as_bytes(), Some(&password())).unwrap_err();
    let CertificateError::UnsupportedEncryption { algorithm, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(algorithm.contains("AES-256-CBC"), "{algorithm}");
    assert!(err.to_string().contains("openssl pkcs8 -topk8"), "{err}");

    // An encrypted PKCS#8 key under PBES1 (pbeWithMD5AndDES-CBC).
    let epki = common::encrypted_key_with_algorithm("1.2.840.113549.1.5.3");
    let text = format!(
        "{}{}",
        cert.certificate_pem,
        pem::encode(&pem::Pem::new("ENCRYPTED PRIVATE KEY", epki))
    );
    let err = Certificate::parse(text.as_bytes(), Some(&password())).unwrap_err();
    assert!(
        matches!(&err, CertificateError::UnsupportedEncryption { algorithm, .. } if algorithm.contains("pbeWithMD5AndDES-CBC")),
        "{err:?}"
    );
}

/// A client of an issuer where the daemon has no secret and no registered certificate, only
/// subject name + issuer trust in `ca` for `subject`.
async fn subject_name_issuer_client(
    ca: &GeneratedCertificate,
    subject: &str,
    certificate: Certificate,
) -> (entra_dev::RunningDevIssuer, ConfidentialClient) {
    let trusted = entra_dev::TrustedCertificateSubject::new(subject, &ca.certificate_pem).unwrap();
    daemon_with(
        |d| d.trusted_certificate_subjects = vec![trusted],
        certificate,
    )
    .await
}

#[tokio::test]
async fn subject_name_and_issuer_trust_accepts_an_unregistered_certificate_sent_with_x5c() {
    let (ca, leaf) = chained();
    let pfx = file(&leaf, CertificateFileFormat::Pfx, Some(PASSWORD));
    let load = || Certificate::from_pkcs12(&pfx, Some(&password())).unwrap();
    let scopes = Scopes::app_default(defaults::DEV_API_APP_ID_URI);

    let (_dev, client) =
        subject_name_issuer_client(&ca, &leaf.subject(), load().with_send_x5c(true)).await;
    let token = client.acquire_for_app(&scopes).await.unwrap();
    let claims = common::payload(token.secret());
    assert_eq!(
        (claims["azp"].as_str(), claims["azpacr"].as_str()),
        (Some(defaults::DEV_DAEMON_CLIENT_ID), Some("2")),
        "{claims}"
    );

    // The same certificate without x5c: nothing registered names its thumbprint.
    let (_dev, client) = subject_name_issuer_client(&ca, &leaf.subject(), load()).await;
    let err = client.acquire_for_app(&scopes).await.unwrap_err();
    common::rejected(
        &err,
        entra_token::AadstsKind::CertificateAssertionRejected,
        700027,
    );
}

#[tokio::test]
async fn subject_name_and_issuer_trust_refuses_the_same_subject_from_another_issuer() {
    let (ca, leaf) = chained();
    let now = SystemTime::now();
    // Self-signed with the leaf's subject: the name matches, the issuer does not.
    let impostor =
        GeneratedCertificate::with_dates(key(0), "chained daemon", now - DAY, now + DAY).unwrap();
    assert_eq!(impostor.subject(), leaf.subject());
    let cert = Certificate::parse(&file(&impostor, CertificateFileFormat::Pem, None), None)
        .unwrap()
        .with_send_x5c(true);
    let (_dev, client) = subject_name_issuer_client(&ca, &leaf.subject(), cert).await;
    let err = client
        .acquire_for_app(&Scopes::app_default(defaults::DEV_API_APP_ID_URI))
        .await
        .unwrap_err();
    let refusal = common::rejected(
        &err,
        entra_token::AadstsKind::CertificateAssertionRejected,
        700027,
    );
    assert!(
        refusal
            .description
            .contains("subject name and issuer authentication"),
        "{}",
        refusal.description
    );
}
