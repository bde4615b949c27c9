//! How the confidential client proves who it is: a client secret, a certificate (a signed client
//! assertion, RFC 7523, with the `x5t#S256` header), or a federated token read from a file
//! (workload identity: the file named by `AZURE_FEDERATED_TOKEN_FILE`, which the application reads
//! from its environment and passes here as a path), or a managed identity's token for
//! `api://AzureADTokenExchange` (the managed identity as a federated credential: no secret, no
//! certificate; [`ClientCredential::managed_identity`]).
//!
//! `Debug` never shows a secret, a key or a token.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use entra_core::crypto::{self, RsaPrivateKey, RsaSignature};
use entra_core::{ExposeSecret as _, SecretString};
use url::Url;

use crate::error::{CertificateError, CredentialError};

/// The assertion type sent with a client assertion or a federated token (RFC 7523).
pub(crate) const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The client's credential.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientCredential {
    /// A client secret (`client_secret`).
    Secret(SecretString),
    /// A certificate: each request carries a fresh signed assertion.
    Certificate(Arc<Certificate>),
    /// A federated token read from a file (re-read when the file changes).
    FederatedTokenFile(Arc<FederatedTokenFile>),
    /// A managed identity's token as a federated credential (its own cache, apart from the
    /// tokens it buys).
    ManagedIdentity(Arc<crate::managed_identity::ManagedIdentityAssertion>),
}

impl ClientCredential {
    /// A client secret.
    pub fn secret(secret: impl Into<String>) -> Self {
        Self::Secret(SecretString::from(secret.into()))
    }

    /// A certificate credential (see [`Certificate::from_pem`]).
    pub fn certificate(certificate: Certificate) -> Self {
        Self::Certificate(Arc::new(certificate))
    }

    /// A federated token file (see [`FederatedTokenFile::new`]).
    pub fn federated_token_file(path: impl Into<PathBuf>) -> Self {
        Self::FederatedTokenFile(Arc::new(FederatedTokenFile::new(path)))
    }

    /// A managed identity as the federated credential of the app registration: its token for
    /// `api://AzureADTokenExchange` is the client assertion, for client credentials and
    /// on-behalf-of alike (see [`ManagedIdentityAssertion`](crate::managed_identity::ManagedIdentityAssertion);
    /// [`managed_identity_for_audience`](Self::managed_identity_for_audience) for sovereign clouds).
    pub fn managed_identity(credential: crate::ManagedIdentityCredential) -> Self {
        Self::ManagedIdentity(Arc::new(
            crate::managed_identity::ManagedIdentityAssertion::new(credential),
        ))
    }

    /// As [`managed_identity`](Self::managed_identity), the token asked for `audience` (the
    /// federated credential's audience, e.g. `api://AzureADTokenExchangeUSGov`).
    pub fn managed_identity_for_audience(
        credential: crate::ManagedIdentityCredential,
        audience: impl Into<String>,
    ) -> Self {
        Self::ManagedIdentity(Arc::new(
            crate::managed_identity::ManagedIdentityAssertion::with_audience(credential, audience),
        ))
    }

    /// Appends this credential's form fields (`client_secret`, or `client_assertion_type` and
    /// `client_assertion`) for a request to `token_endpoint`.
    pub(crate) async fn append_to(
        &self,
        form: &mut Vec<(&'static str, String)>,
        client_id: &str,
        token_endpoint: &Url,
        now: SystemTime,
        lifetime: Duration,
    ) -> Result<(), CredentialError> {
        match self {
            Self::Secret(s) => form.push(("client_secret", s.expose_secret().to_owned())),
            Self::Certificate(cert) => {
                let jwt = cert.assertion(client_id, token_endpoint, now, lifetime)?;
                form.push((
                    "client_assertion_type",
                    JWT_BEARER_ASSERTION_TYPE.to_owned(),
                ));
                form.push(("client_assertion", jwt));
            }
            Self::FederatedTokenFile(file) => {
                let token = file.read().await?;
                form.push((
                    "client_assertion_type",
                    JWT_BEARER_ASSERTION_TYPE.to_owned(),
                ));
                form.push(("client_assertion", token.expose_secret().to_owned()));
            }
            Self::ManagedIdentity(mi) => {
                let token = mi
                    .token()
                    .await
                    .map_err(|e| CredentialError::ManagedIdentity(Box::new(e)))?;
                form.push((
                    "client_assertion_type",
                    JWT_BEARER_ASSERTION_TYPE.to_owned(),
                ));
                form.push(("client_assertion", token.secret().to_owned()));
            }
        }
        Ok(())
    }
}

/// The signature algorithm of a certificate assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AssertionAlgorithm {
    /// RSASSA-PSS with SHA-256 (Microsoft's recommendation; the default).
    #[default]
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

impl AssertionAlgorithm {
    /// The JOSE `alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ps256 => "PS256",
            Self::Rs256 => "RS256",
        }
    }

    fn scheme(self) -> RsaSignature {
        match self {
            Self::Ps256 => RsaSignature::Ps256,
            Self::Rs256 => RsaSignature::Rs256,
        }
    }
}

/// A certificate and its RSA private key, signing client assertions; with the certificate's
/// chain when the input held one. Load it from a file with [`Certificate::from_file`] (PEM or
/// PKCS#12, password-protected or not) or from text with [`Certificate::from_pem`].
pub struct Certificate {
    key: RsaPrivateKey,
    x5t_s256: String,
    algorithm: AssertionAlgorithm,
    /// The leaf then its chain, standard base64 DER (the `x5c` header).
    x5c: Vec<String>,
    send_x5c: bool,
    not_after: SystemTime,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("x5t#S256", &self.x5t_s256)
            .field("algorithm", &self.algorithm)
            .field("chain", &(self.x5c.len() - 1))
            .field("send_x5c", &self.send_x5c)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl Certificate {
    /// Loads a certificate (`-----BEGIN CERTIFICATE-----`, with its chain if any) and its RSA
    /// private key: `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1). Both may be in the same
    /// text. The certificate whose public key is the key's signs; it must be valid now.
    /// Assertions are signed with PS256; see [`with_algorithm`](Self::with_algorithm). For an
    /// `ENCRYPTED PRIVATE KEY` see [`from_pem_with_password`](Self::from_pem_with_password); for
    /// files, [`from_file`](Self::from_file).
    ///
    /// # Errors
    /// [`CertificateError`]: no certificate, no key, unparsable input, a key that is not RSA
    /// (2048 bits or more), a key that matches no certificate, an expired or not yet valid
    /// certificate, an encrypted key ([`CertificateError::PasswordRequired`]).
    pub fn from_pem(certificate_pem: &str, key_pem: &str) -> Result<Self, CertificateError> {
        Self::from_pem_with_password(certificate_pem, key_pem, None)
    }

    /// As [`from_pem`](Self::from_pem), from DER bytes (the key PKCS#8).
    ///
    /// # Errors
    /// As [`from_pem`](Self::from_pem).
    pub fn from_der(
        certificate_der: &[u8],
        pkcs8_key_der: &[u8],
    ) -> Result<Self, CertificateError> {
        let chain = crate::certificate::order_chain(pkcs8_key_der, vec![certificate_der.to_vec()])?;
        crate::certificate::check_validity(&chain, SystemTime::now())?;
        Self::from_chain(chain, pkcs8_key_der)
    }

    /// The signing key from parsed material: the leaf's thumbprint, the `x5c` chain.
    pub(crate) fn from_chain(
        chain: crate::certificate::Chain,
        pkcs8_key_der: &[u8],
    ) -> Result<Self, CertificateError> {
        use base64::engine::general_purpose::STANDARD;
        let key = RsaPrivateKey::from_pkcs8_der(pkcs8_key_der)
            .map_err(|_| CertificateError::InvalidKey)?;
        let x5c = std::iter::once(&chain.leaf)
            .chain(&chain.chain)
            .map(|der| STANDARD.encode(der))
            .collect();
        Ok(Self {
            key,
            x5t_s256: URL_SAFE_NO_PAD.encode(crypto::sha256(&chain.leaf)),
            algorithm: AssertionAlgorithm::default(),
            x5c,
            send_x5c: false,
            not_after: chain.not_after,
        })
    }

    /// Sends the certificate and its chain in each assertion's `x5c` header (leaf first, standard
    /// base64 DER), as subject name and issuer authentication requires: the app registration
    /// trusts a subject name and issuer instead of one certificate, so a renewed certificate
    /// works without registering it again. MSAL's `send_x5c`.
    pub fn with_send_x5c(mut self, send: bool) -> Self {
        self.send_x5c = send;
        self
    }

    /// The certificates the input held besides the signing one, standard base64 DER, issuer
    /// first: `x5c` without its first entry.
    pub fn chain(&self) -> &[String] {
        &self.x5c[1..]
    }

    /// When the certificate expires.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// Signs assertions with `algorithm` instead of PS256.
    pub fn with_algorithm(mut self, algorithm: AssertionAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The certificate's SHA-256 thumbprint, base64url (the `x5t#S256` header).
    pub fn thumbprint_sha256(&self) -> &str {
        &self.x5t_s256
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> AssertionAlgorithm {
        self.algorithm
    }

    /// A signed client assertion: header `{alg, typ: JWT, x5t#S256}` (and `x5c` with
    /// [`with_send_x5c`](Self::with_send_x5c)), claims `aud` = the token endpoint, `iss` = `sub` =
    /// the client id, a random `jti`, `iat` = `nbf` = `now`, `exp` = `now + lifetime`.
    ///
    /// # Errors
    /// [`CredentialError::CertificateExpired`] after the certificate's `notAfter`;
    /// [`CredentialError::Signing`] if the signature fails.
    pub fn assertion(
        &self,
        client_id: &str,
        audience: &Url,
        now: SystemTime,
        lifetime: Duration,
    ) -> Result<String, CredentialError> {
        if now > self.not_after {
            return Err(CredentialError::CertificateExpired {
                not_after: self.not_after,
            });
        }
        let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut header = serde_json::json!({
            "alg": self.algorithm.as_str(),
            "typ": "JWT",
            "x5t#S256": self.x5t_s256,
        });
        if self.send_x5c {
            header["x5c"] = serde_json::json!(self.x5c);
        }
        let claims = serde_json::json!({
            "aud": audience.as_str(),
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": iat,
            "nbf": iat,
            "exp": iat + lifetime.as_secs(),
        });
        let mut signing_input = URL_SAFE_NO_PAD.encode(header.to_string());
        signing_input.push('.');
        signing_input.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = self
            .key
            .sign(self.algorithm.scheme(), signing_input.as_bytes())
            .map_err(|_| CredentialError::Signing)?;
        signing_input.push('.');
        signing_input.push_str(&URL_SAFE_NO_PAD.encode(&sig));
        Ok(signing_input)
    }
}

/// A federated token in a file that a platform rotates (Kubernetes workload identity projects a
/// service account token there). Read on first use and again whenever the file's modification
/// time or length changes; never read from the environment by this library.
pub struct FederatedTokenFile {
    path: PathBuf,
    cached: Mutex<Option<Snapshot>>,
}

struct Snapshot {
    modified: Option<SystemTime>,
    len: u64,
    token: SecretString,
}

impl std::fmt::Debug for FederatedTokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FederatedTokenFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FederatedTokenFile {
    /// The file at `path` (typically the value of `AZURE_FEDERATED_TOKEN_FILE`, read by the
    /// application).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cached: Mutex::new(None),
        }
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current token: the cached one while the file is unchanged, else the file's new content.
    ///
    /// # Errors
    /// [`CredentialError::FederatedTokenFile`] when the file cannot be read,
    /// [`CredentialError::FederatedTokenEmpty`] when it holds no token.
    pub async fn read(&self) -> Result<SecretString, CredentialError> {
        let io_err = |source| CredentialError::FederatedTokenFile {
            path: self.path.clone(),
            source,
        };
        let meta = tokio::fs::metadata(&self.path).await.map_err(io_err)?;
        let modified = meta.modified().ok();
        {
            let cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(s) = cached.as_ref() {
                if s.modified == modified && s.len == meta.len() && modified.is_some() {
                    return Ok(s.token.clone());
                }
            }
        }
        let text = tokio::fs::read_to_string(&self.path)
            .await
            .map_err(io_err)?;
        let token = text.trim();
        if token.is_empty() || token.contains(char::is_whitespace) {
            return Err(CredentialError::FederatedTokenEmpty {
                path: self.path.clone(),
            });
        }
        let token = SecretString::from(token.to_owned());
        tracing::debug!(target: "entra_token", path = %self.path.display(), "federated token file (re)read");
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = Some(Snapshot {
            modified,
            len: meta.len(),
            token: token.clone(),
        });
        Ok(token)
    }
}
