//! What a minted token is about ([`TokenRequest`], [`Subject`], [`TokenVersion`]) and the issuer's request
//! counters ([`IssuerStats`]). A leaf module.

use std::time::{Duration, SystemTime};

use crate::defaults;

/// Which access token format: Entra's v1.0 or v2.0 shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TokenVersion {
    /// v1.0: `iss` `{instance}{tid}/`, `aud` the App ID URI, `appid`, `upn`, `unique_name`, `x5t` header.
    V1,
    /// v2.0: `iss` `{instance}{tid}/v2.0`, `aud` the client id, `azp`, `preferred_username`.
    #[default]
    V2,
}

impl TokenVersion {
    /// The `ver` claim: `"1.0"` or `"2.0"`.
    pub fn as_ver(self) -> &'static str {
        match self {
            Self::V1 => "1.0",
            Self::V2 => "2.0",
        }
    }
}

impl std::fmt::Display for TokenVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_ver())
    }
}

/// Who a minted token is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A delegated (user) token for this user name. A name that is not a configured test user gets a
    /// synthetic identity (stable `oid` derived from the name, `preferred_username` `{name}@dev.example`).
    User(String),
    /// An app-only token for this calling client: `idtyp` "app", `oid`/`sub` its service principal id.
    App {
        /// The calling client's id (`azp`/`appid`).
        client_id: String,
    },
}

impl Default for Subject {
    fn default() -> Self {
        Self::User(defaults::ALICE_USERNAME.to_owned())
    }
}

/// What to put in a token minted by [`DevIssuer::mint`](crate::DevIssuer::mint). Every field has an Entra-like default.
#[derive(Clone, Debug, Default)]
pub struct TokenRequest {
    /// The user or app the token is about (default: user `alice`).
    pub subject: Subject,
    /// Token shape (default v2).
    pub version: TokenVersion,
    /// Delegated scopes, emitted as the space-separated `scp`; omitted when empty.
    pub scopes: Vec<String>,
    /// App roles, emitted as the `roles` array; omitted when empty.
    pub roles: Vec<String>,
    /// `aud`; default: the API's client id for v2 (and B2C), its App ID URI for v1.
    pub audience: Option<String>,
    /// `tid` (and the issuer's tenant); default: the configured tenant.
    pub tenant_id: Option<String>,
    /// `Some(policy)`: a B2C-shaped token (`iss` `{instance}{tid}/v2.0/`, `ver` "1.0", `tfp` = policy).
    pub b2c_policy: Option<String>,
    /// `iat`; default now. `nbf` = `iat` and `exp` = `iat + lifetime` unless overridden.
    pub issued_at: Option<SystemTime>,
    /// Lifetime; default the configured token lifetime.
    pub lifetime: Option<Duration>,
    /// `nbf`; default `iat`.
    pub not_before: Option<SystemTime>,
    /// Claims merged last (they may override anything, including `iss`).
    pub extra_claims: serde_json::Map<String, serde_json::Value>,
    /// Header parameters merged last (e.g. `nonce`, `jku`, or an override of `alg`/`kid`).
    pub extra_header: serde_json::Map<String, serde_json::Value>,
}

/// A snapshot of the issuer's request counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuerStats {
    /// Requests for a metadata (openid-configuration) document.
    pub metadata_requests: u64,
    /// Requests for a key set.
    pub key_requests: u64,
    /// Requests to a token endpoint (successful or not).
    pub token_requests: u64,
    /// Tokens issued by the token endpoint.
    pub tokens_issued: u64,
    /// Requests to the authorize endpoint (login page and form).
    pub authorize_requests: u64,
    /// Token requests with `grant_type=client_credentials` (successful or not).
    pub client_credentials_requests: u64,
    /// Token requests with `grant_type=authorization_code`.
    pub authorization_code_requests: u64,
    /// Token requests with the on-behalf-of grant (`urn:ietf:params:oauth:grant-type:jwt-bearer`).
    pub on_behalf_of_requests: u64,
    /// Token requests with the device code grant (`urn:ietf:params:oauth:grant-type:device_code`),
    /// pending polls included.
    pub device_code_requests: u64,
    /// Token requests with `grant_type=refresh_token`.
    pub refresh_token_requests: u64,
    /// Requests to the device authorization endpoint (`oauth2/v2.0/devicecode`).
    pub device_authorization_requests: u64,
    /// Requests to the emulated managed identity endpoints (instance metadata service, App Service),
    /// refused ones included.
    pub managed_identity_requests: u64,
}

/// The grants the token endpoint counts separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GrantKind {
    ClientCredentials,
    AuthorizationCode,
    OnBehalfOf,
    DeviceCode,
    RefreshToken,
}

/// How the client of a token request authenticated: `azpacr`/`appidacr` "0", "1" or "2".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientAuthMethod {
    /// A public client: no credential.
    None,
    /// A client secret.
    Secret,
    /// A client assertion: a certificate-signed JWT or a federated credential.
    Assertion,
}

impl ClientAuthMethod {
    /// The `azpacr` / `appidacr` claim.
    pub(crate) fn acr(self) -> &'static str {
        match self {
            Self::None => "0",
            Self::Secret => "1",
            Self::Assertion => "2",
        }
    }
}
