//! Microsoft identity platform (Entra ID single and multi-tenant, Azure AD B2C, External ID,
//! sovereign clouds) bearer-token validation for tower and axum APIs.
//!
//! * Configuration is typed and validated once ([`AuthConfig::builder`]); the library reads no
//!   environment variables or files.
//! * Metadata and signing keys come only from the configured instance; requests read a key
//!   snapshot; an unknown `kid` causes at most one single-flight refresh per minimum gap; an
//!   identity-provider outage keeps the last good keys.
//! * One validation pipeline ([`TokenValidator::validate`]): RS256 from configuration, key by
//!   `kid`, signature, `exp`/`nbf` with skew, issuer from metadata (v1 vs v2, `{tenantid}`
//!   templates, tenant allow-list), the key's `issuer` property, audience, version, `crit`, and
//!   Microsoft Graph tokens refused with an explanation.
//! * A bounded cache of verified tokens (keyed by the SHA-256 of the whole token): a client that
//!   reuses its token skips the signature check and the parsing, while `exp`/`nbf`, a maximum age
//!   and the presence of the signing key in the current key set are checked on every request
//!   ([`AuthConfigBuilder::token_cache`]; hit and miss counts in [`AuthMetrics`]).
//! * Several named authorities on one validator ([`TokenValidator::multi`]: a workforce tenant,
//!   a B2C user flow, partner tenants), each with its own configuration, keys, refresh and
//!   cache; the token's `iss` selects the ones whose issuer it is (an exact issuer before a
//!   `{tenantid}` template, whatever the order of configuration), and the one that accepts it
//!   decides.
//! * Authorisation ([`Requirement`]): any or all of scopes and app roles, `and`/`or`
//!   combinations, calling-application allow-lists and the ACL mode for daemons, no guests,
//!   authority, authentication context (step-up: 401 `insufficient_claims`), groups and
//!   directory roles (overage answered explicitly), named predicates, and an asynchronous
//!   tenant check with a bounded cache ([`TenantCheck`]); exact, case-sensitive, deny-by-default.
//! * Named permissions registered once at start-up ([`AuthState::permit`]) and stated in the
//!   handler signature ([`Authorized<P>`](Authorized)); optional authentication
//!   (`Option<Authenticated>`, [`AuthLayer::optional`]).
//! * RFC 6750 answers with `application/problem+json` bodies ([`AuthError`]).
//!
//! # Quick start
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use entra_auth::{AuthConfig, AuthLayer, Authenticated, Requirement, TokenValidator};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = AuthConfig::builder(
//!     "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a", // tenant id
//!     "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c", // the API's client id
//! )
//! .build()?;
//! let validator = TokenValidator::new(config)?;
//! let _ = validator.warm_up().await; // 503 until keys load; the background task keeps trying
//! let _refresh = validator.spawn_background_refresh();
//!
//! let app: Router = Router::new()
//!     .route("/forecast", get(|Authenticated(claims): Authenticated| async move {
//!         format!("sunny for {}", claims.oid().unwrap_or("?"))
//!     }))
//!     .layer(AuthLayer::new(validator).require(Requirement::scopes(["weather.read"])));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Validating a token directly (here from the local development issuer, `entra-dev`):
//!
//! ```
//! use entra_auth::{AuthConfig, Requirement, TokenValidator};
//! use entra_dev::{defaults, DevIssuer, DevIssuerConfig, TokenRequest};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dev = DevIssuer::spawn(DevIssuerConfig::default()).await?;
//! let config = AuthConfig::builder(defaults::DEV_TENANT_ID, defaults::DEV_API_CLIENT_ID)
//!     .instance(dev.issuer.instance().as_str())
//!     .build()?;
//! let validator = TokenValidator::new(config)?;
//! validator.warm_up().await?;
//!
//! let token = dev.issuer.mint(&TokenRequest {
//!     scopes: vec!["weather.read".into()],
//!     ..TokenRequest::default()
//! })?;
//! let claims = validator.validate(&token).await?;
//! assert_eq!(claims.oid(), Some(defaults::ALICE_OID));
//! Requirement::scopes(["weather.read"]).check(&claims)?;
//! let err = Requirement::scopes(["weather.write"]).check(&claims).unwrap_err();
//! assert_eq!((err.status().as_u16(), err.code()), (403, "insufficient_scope"));
//! # Ok(())
//! # }
//! ```
//!
//! The answers:
//!
//! | situation | status | `WWW-Authenticate` | `code` |
//! |---|---|---|---|
//! | no token | 401 | `Bearer` | `missing_token` |
//! | bad token | 401 | `Bearer error="invalid_token", error_description="..."` | e.g. `token_expired` |
//! | malformed request | 400 | `Bearer error="invalid_request", ...` | `invalid_request` |
//! | missing scope or role | 403 | `Bearer error="insufficient_scope", scope="..."` | `insufficient_scope` |
//! | another requirement unmet | 403 | `Bearer error="insufficient_scope", ...` | `requirement_not_met`, `groups_overage` |
//! | authentication context missing | 401 | `Bearer error="insufficient_claims", ..., claims="..."` | `auth_context_required` |
//! | issuer of no configured authority | 401 | `Bearer error="invalid_token", ...` | `unknown_issuer` |
//! | keys never loaded | 503 | | `keys_unavailable` |
//!
//! Named permissions, registered once with requirements from settings, in the handler
//! signatures; several authorities; optional authentication on a public page:
//!
//! ```
//! use axum::{extract::FromRef, routing::get, Router};
//! use entra_auth::{
//!     AuthConfig, AuthState, Authenticated, Authorized, Permission, PermissionId, Requirement,
//!     TokenValidator,
//! };
//!
//! struct ReportsRead;
//! impl Permission for ReportsRead {}
//!
//! #[derive(Clone)]
//! struct AppState { auth: AuthState }
//! impl FromRef<AppState> for AuthState {
//!     fn from_ref(s: &AppState) -> Self { s.auth.clone() }
//! }
//!
//! async fn reports(auth: Authorized<ReportsRead>) -> String {
//!     format!("reports for {}", auth.claims.oid().unwrap_or("?"))
//! }
//! async fn home(caller: Option<Authenticated>) -> String {
//!     caller.and_then(|Authenticated(c)| c.name().map(str::to_owned)).unwrap_or_default()
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let workforce = AuthConfig::builder(
//!     "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a",
//!     "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c",
//! )
//! .name("workforce")
//! .build()?;
//! let customers = AuthConfig::builder("contosob2c.onmicrosoft.com", "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e")
//!     .b2c("contosob2c", "B2C_1_signin")
//!     .name("customers")
//!     .build()?;
//! let read_role = "Weather.Read.All"; // e.g. from settings
//! let auth = AuthState::new(TokenValidator::multi([workforce, customers])?)
//!     .permit::<ReportsRead>(Requirement::scopes(["weather.read"]).or_roles([read_role]));
//! auth.ensure_permits(&[PermissionId::of::<ReportsRead>()])?; // fails at start-up, not per request
//! let app: Router = Router::new()
//!     .route("/", get(home))
//!     .route("/reports", get(reports))
//!     .with_state(AppState { auth });
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | what |
//! |---|---|---|
//! | `aws-lc-rs` | yes | RSA verification and SHA-256 with aws-lc-rs (measured faster; keys parsed once) |
//! | `ring` | no | the same with ring, for builds without aws-lc-rs: `default-features = false, features = ["ring", ...]`; only one backend is compiled (aws-lc-rs if both are on), one is required |
//! | `reqwest` | yes | the default transport ([`ReqwestFetch`], [`TokenValidator::new`]); without it, pass your own [`HttpFetch`] to [`TokenValidator::with_fetcher`] and reqwest is not linked |
//! | `axum` | yes | the extractors `Authenticated`, `Authorized<P>` and `AuthState` |
//! | `test-util` | no | `test_util`: a canned identity provider and a signer with a public test key, for tests only |
//!
//! Tracing events use the target `entra_auth` (rejections at DEBUG, refresh failures at WARN);
//! the library never installs a subscriber.

#![cfg_attr(test, allow(clippy::unwrap_used))]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's snippets, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod authority;
pub mod bearer;
pub mod claims;
pub mod clock;
pub mod config;
pub mod discovery;
pub mod error;
pub mod explain;
#[cfg(feature = "axum")]
pub mod extract;
pub mod fetch;
pub mod jwks;
pub mod jws;
pub mod layer;
pub mod metrics;
pub mod policy;
pub mod tenant_check;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;
pub mod validator;
pub mod well_known;

mod cache;
mod challenge;
mod mistake;

/// The cryptography backend: aws-lc-rs (feature `aws-lc-rs`, the default), else ring (feature
/// `ring`); the two have the same API.
#[cfg(feature = "aws-lc-rs")]
pub(crate) use aws_lc_rs as crypto;
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
pub(crate) use ring as crypto;
#[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
compile_error!("entra-auth needs a cryptography backend: enable the feature \"aws-lc-rs\" (default) or \"ring\"");

pub use authority::{Authority, MultiTenant, TenantId, TokenVersion};
pub use claims::VerifiedClaims;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{AuthConfig, AuthConfigBuilder, HttpOptions, KeyRefresh, TokenCacheOptions};
pub use error::{AuthError, ConfigError};
pub use explain::Explanation;
#[cfg(feature = "axum")]
pub use extract::{
    permission_of, AuthState, Authenticated, Authorized, Permission, PermissionId,
    RequiresPermission,
};
pub use fetch::HttpFetch;
#[cfg(feature = "reqwest")]
pub use fetch::ReqwestFetch;
pub use jws::Algorithm;
pub use layer::{Auth, AuthLayer, ResponseFuture};
pub use metrics::AuthMetrics;
pub use policy::{AppRole, Requirement, RequirementError, Scope};
pub use tenant_check::TenantCheck;
pub use validator::{RequestHead, TokenValidator};
