//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the development issuer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevIssuerError {
    /// The instance URL cannot serve as a base URL (it must be an absolute `http` or `https` URL).
    #[error("the instance url must be an absolute http or https url, got {0}")]
    InvalidInstance(url::Url),
    /// Generating the RSA key failed.
    #[error("rsa key generation failed")]
    KeyGeneration(#[source] rsa::Error),
    /// Building the self-signed certificate failed.
    #[error("building the self-signed certificate failed")]
    Certificate(#[source] x509_cert::builder::Error),
    /// DER encoding of certificate parts failed.
    #[error("encoding the certificate failed")]
    CertificateEncoding(#[source] der::Error),
    /// Reading or writing the data directory failed.
    #[error("i/o error on {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The key file exists but cannot be used.
    #[error("the key file {path} is invalid (delete it to start over with a new key)")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Signing failed.
    #[error("signing failed")]
    Signing(#[source] rsa::signature::Error),
    /// Serialising JSON failed.
    #[error("serialising json failed")]
    Json(#[source] serde_json::Error),
    /// Binding or serving the listener failed.
    #[error("binding the listener failed")]
    Bind(#[source] std::io::Error),
    /// A client certificate, public key or federated credential key set in the configuration cannot be
    /// read (see the source for what is wrong).
    #[error("a client credential in the configuration cannot be read")]
    Credential(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A switch names an API that is not registered in the tenant.
    #[error("no API '{api}' is registered in the development tenant; registered APIs: {known}")]
    UnknownApi {
        /// The API as named.
        api: String,
        /// The registered APIs' App ID URIs.
        known: String,
    },
    /// A fault status the managed identity endpoints cannot be switched to.
    #[error("status {status} is not a fault of the managed identity endpoints: use 404, 408, 410, 429 or 5xx")]
    InvalidFault {
        /// The refused status.
        status: u16,
    },
    /// A blocking background task (key generation) panicked or was cancelled.
    #[error("a background task failed")]
    Task(#[source] tokio::task::JoinError),
}
