//! Acquire Microsoft identity platform (Entra ID) tokens to call downstream APIs, as the
//! application (client credentials) or on behalf of the signed-in caller (the OAuth 2.0
//! on-behalf-of flow), through a bounded, single-flight token cache.
//!
//! * Typed configuration validated once ([`ConfidentialConfig::builder`]); the library reads no
//!   environment variable (the application passes, say, the `AZURE_FEDERATED_TOKEN_FILE` path).
//! * Credentials ([`ClientCredential`]): a client secret, a certificate (an RFC 7523 client
//!   assertion with `x5t#S256`, PS256 or RS256), or a federated token file re-read when it
//!   changes. `Debug` never shows a secret, key or token.
//! * Authorities ([`Authority`]): a tenant on the public cloud, sovereign clouds, custom
//!   instances (the development issuer); B2C (client credentials only: on-behalf-of is refused).
//! * On-behalf-of takes the incoming token ([`UserAssertion`]: in an axum handler the
//!   `OnBehalfOf` extractor, from what entra-auth verified; or raw): malformed, expired, app-only
//!   and foreign tokens are refused before any network call.
//! * Token sources ([`TokenCredential`], after azure_core's): the confidential client, the public
//!   client, a [`StaticToken`] and an Azure managed identity ([`ManagedIdentityCredential`]: the
//!   instance metadata service, App Service, Azure Arc, Cloud Shell, Service Fabric, picked from the
//!   variables the application passes), taken by [`DownstreamApi`] and [`BearerLayer`].
//! * Errors ([`TokenError`]): the token endpoint's AADSTS codes explained with the fix
//!   ([`AadstsError`]); `interaction_required` with `claims` becomes a [`ClaimsChallenge`]. Each
//!   error is its own HTTP answer for the API's caller ([`TokenError::to_response`]: status,
//!   code, RFC 6750 challenge, problem+json; `IntoResponse` with the `axum` feature).
//! * Cache: in memory (bounded by entries and bytes, in every client) and shared
//!   ([`cache::SharedCache`]; Redis with the `redis` feature, AES-256-GCM encrypted, hashed keys),
//!   keyed per client, authority, scopes and (on-behalf-of) assertion hash; refreshed ahead of
//!   expiry (`refresh_in`, else half the lifetime); one token request per key at a time.
//! * [`DownstreamApi`] (feature `reqwest`): attach a fresh bearer token to a `reqwest` request,
//!   surface a downstream claims challenge, retry a plain 401 once with a new token; or
//!   [`BearerLayer`], the same as tower middleware for any HTTP client service, explicitly on
//!   behalf of each request's user or as the app.
//! * Public clients ([`PublicClient`], a CLI or desktop app): the browser sign-in (authorization
//!   code + PKCE, loopback redirect), the device code flow (RFC 8628), refresh tokens rotated on
//!   every use, kept with the accounts in a [`FileCache`] (0600, atomic, locked across
//!   processes); silent first ([`PublicClient::acquire`]), and a plain
//!   [`TokenError::SignInRequired`] when the refresh token is revoked or expired.
//!
//! # Quick start
//!
//! ```no_run
//! use entra_token::{Authority, ClientCredential, ConfidentialClient, ConfidentialConfig, Scopes};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ConfidentialConfig::builder(
//!     Authority::tenant("7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a")?,
//!     "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c",
//!     ClientCredential::secret(std::env::var("CLIENT_SECRET")?),
//! )
//! .build()?;
//! let client = ConfidentialClient::new(config)?;
//! let token = client
//!     .acquire_for_app(&Scopes::app_default("https://graph.microsoft.com"))
//!     .await?;
//! let _ = reqwest::Client::new()
//!     .get("https://graph.microsoft.com/v1.0/users")
//!     .bearer_auth(token.secret())
//!     .send()
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! On behalf of the caller of an API protected by entra-auth (feature `axum`): the handler takes
//! the `OnBehalfOf` extractor (the token entra-auth verified, not decoded again) and returns
//! `Result<_, DownstreamError>`, whose errors answer the caller themselves (401
//! `insufficient_claims` with the authority's `authorization_uri` for MFA or Conditional Access,
//! 403 `consent_required`, 503 when the identity provider is down, 500 for this API's own
//! configuration; see [`TokenError::to_response`]):
//!
//! ```no_run
//! # #[cfg(feature = "axum")]
//! # mod m {
//! use axum::{extract::State, Json};
//! use entra_token::{DownstreamApi, DownstreamError, OnBehalfOf};
//! use serde_json::Value;
//!
//! async fn orders(
//!     State(orders): State<DownstreamApi>,
//!     user: OnBehalfOf,
//! ) -> Result<Json<Value>, DownstreamError> {
//!     let request = reqwest::Client::new().get("https://orders.example/api/orders");
//!     let response = orders.send_on_behalf_of(user.assertion(), request).await?;
//!     Ok(Json(DownstreamApi::json(response).await?))
//! }
//! # }
//! ```
//!
//! Anything that gives a token is a [`TokenCredential`]: the confidential client (as the app, or
//! on behalf of a user), the public client (silently), a [`StaticToken`].
//!
//! A CLI keeping its user signed in (the path comes from the application, e.g. the platform's
//! data directory):
//!
//! ```no_run
//! use entra_token::{Authority, FileCache, PublicClient, PublicConfig, Scopes, TokenError};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let cache = FileCache::new("/home/me/.local/share/myapp/tokens.json");
//! let config = PublicConfig::builder(
//!     Authority::public("organizations")?,
//!     "5a5a5a5a-6b6b-4c7c-8d8d-9e9e9e9e9e9e",
//!     cache,
//! )
//! .build()?;
//! let client = PublicClient::new(config)?;
//! let scopes = Scopes::parse("api://weather/weather.read");
//! let token = match client.acquire_silent(None, &scopes).await {
//!     Ok(t) => t,
//!     Err(e) if e.is_sign_in_required() => {
//!         client
//!             .acquire_by_device_code(&scopes, &|p| {
//!                 eprintln!("open {} and enter {}", p.verification_uri, p.user_code)
//!             })
//!             .await?
//!     }
//!     Err(e) => return Err(e.into()),
//! };
//! println!("signed in as {}", token.account.display_name());
//! # Ok(())
//! # }
//! ```
//!
//! Tracing events use the target `entra_token` and never carry a token, secret or assertion;
//! the library never installs a subscriber.

#![cfg_attr(test, allow(clippy::unwrap_used))]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
compile_error!("entra-token needs a cryptography backend: enable the feature \"aws-lc-rs\" (default) or \"ring\"");

/// The README's snippets, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod assertion;
pub mod authority;
pub mod cache;
mod certificate;
pub mod confidential;
pub mod config;
pub mod credential;
#[cfg(feature = "reqwest")]
pub mod downstream;
pub mod error;
#[cfg(feature = "axum")]
pub mod extract;
pub mod layer;
pub mod managed_identity;
pub mod public;
pub mod token;
pub mod token_credential;
pub mod transport;

mod challenge;
mod response;

pub use assertion::UserAssertion;
pub use authority::Authority;
pub use cache::{Account, FileCache};
pub use confidential::{ClientStats, ConfidentialClient};
pub use config::{
    CacheOptions, ConfidentialConfig, ConfidentialConfigBuilder, HttpOptions, PublicConfig,
    PublicConfigBuilder,
};
pub use credential::{AssertionAlgorithm, Certificate, ClientCredential, FederatedTokenFile};
#[cfg(feature = "reqwest")]
pub use downstream::{DownstreamApi, DownstreamError};
pub use entra_core::{Clock, ExposeSecret, ManualClock, SecretString, SystemClock};
pub use error::{
    AadstsError, AadstsKind, AssertionError, CertificateError, CertificateFormat, ClaimsChallenge,
    ConfigError, CredentialError, FileCacheError, LoopbackError, SignInReason, TokenError,
    TransportError,
};
#[cfg(feature = "axum")]
pub use extract::{OnBehalfOf, OnBehalfOfRejection};
pub use layer::{Bearer, BearerError, BearerLayer};
pub use managed_identity::{
    ManagedIdentityAssertion, ManagedIdentityCredential, ManagedIdentityError, ManagedIdentityId,
    ManagedIdentityOptions, ManagedIdentityRetry, ManagedIdentitySource,
};
pub use public::device::DeviceCodePrompt;
pub use public::loopback::{LoopbackListener, Pkce};
pub use public::{AuthResult, Interaction, PublicClient, TokenSource};
pub use token::{AccessToken, Scopes};
pub use token_credential::{StaticToken, TokenCredential, TokenRequestOptions};
#[cfg(feature = "reqwest")]
pub use transport::ReqwestTransport;
pub use transport::{BoxFuture, HttpClient, TokenTransport};
