//! # entra-dev: a local, Entra-shaped development issuer
//!
//! **DEVELOPMENT ONLY. Never use this crate, its keys or its tokens in production.** Anyone who can reach
//! the issuer can mint any token it signs; its keys sit unencrypted on disk; its client secret is printed in
//! this crate's source.
//!
//! `entra-dev` imitates the public side of Microsoft Entra ID closely enough that an API validates its tokens
//! through exactly the same discovery and key path as in production:
//!
//! - v2 and v1 OpenID metadata (`{instance}{tenant}/v2.0/.well-known/openid-configuration`,
//!   `{instance}{tenant}/.well-known/openid-configuration`), for the development tenant, the multi-tenant
//!   aliases `common` and `organizations` (issuer template with the literal `{tenantid}`), and a B2C-shaped
//!   policy path (`{instance}{name}.onmicrosoft.com/{policy}/v2.0/.well-known/openid-configuration`);
//! - key sets (`discovery/v2.0/keys`, `discovery/keys`) with `kid`, `x5t`, `n`, `e`, `x5c`, and on v2
//!   keys the `issuer` property;
//! - a token endpoint (`oauth2/v2.0/token`, v1 `oauth2/token`) for `client_credentials`,
//!   `authorization_code` with PKCE (S256) through a small HTML login page (`oauth2/v2.0/authorize`) where
//!   a developer picks a test user and consents to scopes, the device code flow (`oauth2/v2.0/devicecode`
//!   and a verification page), rotated refresh tokens, and on-behalf-of; clients authenticate with a
//!   secret, a certificate-signed client assertion or a federated credential;
//! - switches and a control endpoint (`control/switches`, `control/revoke`, JSON bodies only) to simulate
//!   an outage, consent required, a downstream API that demands MFA, and revoked refresh tokens;
//! - browser safety: CORS only for [`DevIssuerConfig::allowed_origins`] (never on the control endpoints),
//!   and a `Host` check (loopback names and addresses, the instance's host,
//!   [`DevIssuerConfig::allowed_hosts`]) against DNS rebinding;
//! - v1, v2 and B2C access tokens shaped like Entra's, signed with RS256 by an RSA-2048 key that can be
//!   persisted in a data directory (mode 0600) and rotated with a grace period.
//!
//! The fixed development identities (tenant, API, clients, users) are in [`defaults`].
//!
//! ## Quick start
//!
//! ```no_run
//! use entra_dev::{DevIssuer, DevIssuerConfig, Subject, TokenRequest};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // Serve the issuer on 127.0.0.1:<random port> (tests), ...
//! let running = DevIssuer::spawn(DevIssuerConfig::default()).await?;
//! println!("v2 metadata: {}{}/v2.0/.well-known/openid-configuration",
//!     running.issuer.instance(), entra_dev::defaults::DEV_TENANT_ID);
//!
//! // ... and mint tokens directly, without HTTP.
//! let token = running.issuer.mint(&TokenRequest {
//!     subject: Subject::User("alice".into()),
//!     scopes: vec!["weather.read".into()],
//!     ..TokenRequest::default()
//! })?;
//! # let _ = token;
//! # Ok(()) }
//! ```
//!
//! To mount the issuer inside an application, give it the URL it will be reachable at and nest its router:
//!
//! ```no_run
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use entra_dev::{DevIssuer, DevIssuerConfig};
//! let instance = url::Url::parse("http://127.0.0.1:8000/dev-issuer/")?;
//! let issuer = DevIssuer::new(DevIssuerConfig::default(), instance)?;
//! let app: axum::Router = axum::Router::new().nest("/dev-issuer", issuer.router());
//! # let _ = app;
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's snippets, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod defaults;

// Vocabulary and signing (leaf modules).
mod cert_file;
mod config;
mod credential;
mod error;
mod grants;
mod host;
mod jwt;
mod keys;
mod mint;
mod request;
mod state;
mod switch;
mod time;

// HTTP and the facade at the top.
mod http;
mod issuer;

// The user's side of a sign-in, for the tests of clients.
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use cert_file::CertificateFileFormat;
pub use config::{
    default_data_dir, DevApi, DevClient, DevIssuerConfig, DevManagedIdentity, TestUser,
};
pub use credential::{
    ClientCertificate, FederatedCredential, GeneratedCertificate, TrustedCertificateSubject,
    TOKEN_EXCHANGE_AUDIENCE,
};
pub use error::DevIssuerError;
pub use host::{host_name, is_loopback_host};
pub use http::page::LoginForm;
pub use issuer::{DevIssuer, RunningDevIssuer};
pub use keys::KeyInfo;
pub use request::{IssuerStats, Subject, TokenRequest, TokenVersion};
pub use switch::{MfaDemand, Switches, DEFAULT_AUTH_CONTEXT};
pub use time::format_unix_time;

/// The name of the key file inside the data directory.
pub const KEY_FILE_NAME: &str = keys::KEY_FILE_NAME;
