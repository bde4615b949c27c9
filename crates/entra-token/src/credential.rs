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
use std::time::{Duration, SystemTime};

use entra_core::{ExposeSecret as _, SecretString};
use url::Url;

pub use crate::certificate::{AssertionAlgorithm, Certificate};
use crate::error::CredentialError;

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
