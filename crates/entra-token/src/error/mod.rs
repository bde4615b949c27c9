//! Every error of the crate: [`ConfigError`] (building a client), [`TokenError`] (acquiring a
//! token), [`AadstsError`] (the token endpoint's refusal, with the fix) and [`ClaimsChallenge`]
//! (the downstream API wants more claims: turn it into a 401 for the caller).
//!
//! Messages never contain a secret, a key, a token or an assertion. The AADSTS table lives in
//! `aadsts.rs`, the public client's errors in `public.rs`, the HTTP answer of each error (status,
//! code, challenge, problem body) in `answer.rs`.

mod aadsts;
pub(crate) mod answer;
mod public;

use std::time::Duration;

use http::StatusCode;

pub use aadsts::{AadstsError, AadstsKind};
use public::describe;
pub use public::{FileCacheError, LoopbackError, SignInReason};

/// Why a client configuration was refused (at start-up, once).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The tenant is not a GUID or a domain name.
    #[error(
        "invalid tenant {found:?}: expected the directory (tenant) id GUID or a domain such as \
         contoso.onmicrosoft.com"
    )]
    InvalidTenant {
        /// The value given (clipped).
        found: String,
    },
    /// `common`, `organizations` or `consumers` was given to a confidential client.
    #[error(
        "tenant {found:?} cannot be used by a confidential client: client credentials and \
         on-behalf-of need the tenant id (or domain) of the directory that issued the API's tokens"
    )]
    MultiTenantAuthority {
        /// The value given.
        found: String,
    },
    /// The instance URL is not an absolute `https` URL (`http` only for loopback hosts).
    #[error(
        "invalid instance {found:?}: expected an absolute https URL such as \
         https://login.microsoftonline.com/ (http only for 127.0.0.1 or localhost)"
    )]
    InvalidInstance {
        /// The value given (clipped).
        found: String,
    },
    /// The client id is empty or contains characters that cannot be an application id.
    #[error("invalid client id {found:?}: expected the application (client) id GUID")]
    InvalidClientId {
        /// The value given (clipped).
        found: String,
    },
    /// A B2C policy name that is not `B2C_1_...` / `B2C_1A_...`-shaped.
    #[error("invalid B2C policy {found:?}: expected a user flow or custom policy name such as B2C_1_signin")]
    InvalidPolicy {
        /// The value given (clipped).
        found: String,
    },
    /// A duration setting outside its bounds.
    #[error("{setting} must be between {min:?} and {max:?}, found {found:?}")]
    OutOfRange {
        /// The setting's name.
        setting: &'static str,
        /// The smallest accepted value.
        min: Duration,
        /// The largest accepted value.
        max: Duration,
        /// The value given.
        found: Duration,
    },
    /// A size setting that must be positive was zero.
    #[error("{setting} must be at least 1")]
    Zero {
        /// The setting's name.
        setting: &'static str,
    },
    /// The certificate or key PEM could not be used.
    #[error("certificate credential: {0}")]
    Certificate(#[from] CertificateError),
    /// An encryption key of the wrong length.
    #[error("the cache encryption key must be 32 bytes (AES-256), found {found} bytes")]
    EncryptionKeyLength {
        /// The length given.
        found: usize,
    },
    /// A shared cache encryption key id that cannot be used.
    #[error("invalid encryption key id {found:?}: {reason}")]
    InvalidKeyId {
        /// The id given (clipped).
        found: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    HttpClient(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The Redis URL could not be used.
    #[error("invalid Redis URL: {reason}")]
    InvalidRedisUrl {
        /// Why (never the URL itself: it may hold a password).
        reason: String,
    },
}

/// Why a certificate credential could not be loaded. Never shows a password or key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// No `-----BEGIN CERTIFICATE-----` block (PEM), or no certificate bag (PKCS#12).
    #[error(
        "no certificate was found: expected a PEM block labelled CERTIFICATE (or a PKCS#12 file \
         with a certificate); export the certificate with its private key, or pass the certificate \
         file as well as the key file"
    )]
    NoCertificate,
    /// The PEM text has no private key block.
    #[error(
        "no private key was found in the PEM input: expected a block labelled PRIVATE KEY \
         (PKCS#8), RSA PRIVATE KEY (PKCS#1) or ENCRYPTED PRIVATE KEY; append the key to the \
         certificate file or pass the key file"
    )]
    NoPrivateKey,
    /// A PKCS#12 (PFX) file with certificates but no private key.
    #[error(
        "the PKCS#12 file holds no private key (a certificate-only export, like a .cer or a PFX \
         exported without its key): export it again with the private key (Azure portal / Key \
         Vault: download in PFX/PEM format; Windows: \"Yes, export the private key\")"
    )]
    Pkcs12WithoutKey,
    /// The key or file is encrypted and no password was given.
    #[error("the {format} is password-protected: pass its password (CertificatePassword)")]
    PasswordRequired {
        /// What is encrypted.
        format: CertificateFormat,
    },
    /// The password does not open the key or file.
    #[error(
        "the password does not decrypt the {format} (integrity check or decryption failed): pass \
         the password the file was exported with"
    )]
    WrongPassword {
        /// What could not be opened.
        format: CertificateFormat,
    },
    /// The password has characters PKCS#12 cannot encode.
    #[error(
        "the password has characters outside the Basic Multilingual Plane, which PKCS#12 cannot \
         encode: export the file again with another password"
    )]
    PasswordEncoding,
    /// The key or file is encrypted with an algorithm this library does not implement.
    #[error(
        "the {format} is encrypted with {algorithm}, which is not supported: supported are PBES2 \
         (PBKDF2 with HMAC-SHA-1/SHA-256, AES-128/256-CBC or 3DES), PKCS#12 \
         pbeWithSHAAnd3-KeyTripleDES-CBC and pbeWithSHAAnd40BitRC2-CBC; convert with \
         `openssl pkcs12 -in old.pfx -out new.pfx -export` (OpenSSL 3: AES-256-CBC) or \
         `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
    )]
    UnsupportedEncryption {
        /// What is encrypted.
        format: CertificateFormat,
        /// The algorithm's name, or its object identifier when it has no known name.
        algorithm: String,
    },
    /// The input is neither PEM nor PKCS#12.
    #[error(
        "the input is neither PEM text (-----BEGIN ...) nor a PKCS#12 (PFX) file: expected a \
         certificate with its private key in one of these forms"
    )]
    UnrecognizedFormat,
    /// The PEM text could not be parsed.
    #[error("malformed PEM: {0}")]
    Pem(#[from] pem::PemError),
    /// The PKCS#12 structure could not be parsed.
    #[error("the file is not a valid PKCS#12 (PFX) file: its {part} cannot be read")]
    InvalidPkcs12 {
        /// Which part is malformed.
        part: &'static str,
    },
    /// The certificate DER could not be parsed.
    #[error("the certificate is not valid X.509 DER")]
    InvalidCertificate,
    /// The key is not an RSA key that the crypto backend accepts (2048 bits or more).
    #[error(
        "the private key is not an RSA key of 2048 bits or more (PKCS#8 or PKCS#1): Entra client \
         assertions are RS256/PS256; create an RSA-2048 (or larger) certificate"
    )]
    InvalidKey,
    /// The key does not belong to the certificate.
    #[error(
        "the private key does not match the certificate's public key (nor any certificate in the \
         input): Entra would reject every assertion (AADSTS700027); load the key that was \
         generated with this certificate"
    )]
    KeyMismatch,
    /// The certificate's validity ended.
    #[error(
        "the certificate expired at {} (it was valid from {}): Entra refuses assertions signed \
         with it (AADSTS700027); create or renew a certificate and register it on the app",
        utc(*.not_after), utc(*.not_before)
    )]
    Expired {
        /// Start of validity.
        not_before: std::time::SystemTime,
        /// End of validity.
        not_after: std::time::SystemTime,
    },
    /// The certificate's validity has not begun (beyond five minutes of clock skew).
    #[error(
        "the certificate is valid only from {} (until {}): check this machine's clock, or wait \
         until then",
        utc(*.not_before), utc(*.not_after)
    )]
    NotYetValid {
        /// Start of validity.
        not_before: std::time::SystemTime,
        /// End of validity.
        not_after: std::time::SystemTime,
    },
    /// The certificate file cannot be read.
    #[error("cannot read the certificate file {path}")]
    Io {
        /// The path given.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Which form of certificate input an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateFormat {
    /// A PEM `ENCRYPTED PRIVATE KEY` (encrypted PKCS#8).
    EncryptedPem,
    /// A PKCS#12 (PFX) file.
    Pkcs12,
}

impl std::fmt::Display for CertificateFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::EncryptedPem => "encrypted PEM private key (ENCRYPTED PRIVATE KEY)",
            Self::Pkcs12 => "PKCS#12 (PFX) file",
        })
    }
}

/// A UTC time as RFC 3339 (`2026-12-06T20:00:00Z`).
pub(crate) fn utc(t: std::time::SystemTime) -> String {
    der::DateTime::from_system_time(t).map_or_else(|_| format!("{t:?}"), |d| d.to_string())
}

/// What is wrong with an incoming token offered as an on-behalf-of assertion (found before any
/// network call).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssertionError {
    /// Not three base64url segments with a JSON payload.
    #[error(
        "the incoming token is not a compact JWT (three base64url segments with a JSON payload)"
    )]
    Malformed,
    /// `exp` missing.
    #[error("the incoming token has no exp claim")]
    MissingExpiry,
    /// `exp` is in the past: the caller must get a new token.
    #[error("the incoming token expired {ago_secs} s ago: the caller must sign in again or refresh its token")]
    Expired {
        /// Seconds since `exp`.
        ago_secs: u64,
    },
    /// `exp` is so near that the identity provider would find the token expired when the
    /// exchange reaches it (network time, clock skew): AADSTS500133, refused before the network.
    #[error(
        "the incoming token expires in {in_secs} s, too soon to exchange it (on-behalf-of needs at \
         least {margin_secs} s left, or the identity provider refuses it as expired): the caller \
         must get a fresh token (refresh or sign in again) and call again"
    )]
    ExpiresTooSoon {
        /// Seconds until `exp`.
        in_secs: u64,
        /// The margin required ([`UserAssertion::EXPIRY_MARGIN`](crate::UserAssertion::EXPIRY_MARGIN)).
        margin_secs: u64,
    },
    /// An app-only token (client credentials) has no user to act for.
    #[error(
        "the incoming token is app-only (no user): on-behalf-of needs a delegated user token; \
         call the downstream API with client credentials instead"
    )]
    AppOnly,
    /// The token's audience is not this API.
    #[error(
        "the incoming token's audience {found:?} is not this API ({expected}): only a token issued \
         for this API can be exchanged on behalf of its user"
    )]
    ForeignAudience {
        /// The audience values found (clipped).
        found: Vec<String>,
        /// The accepted audiences.
        expected: String,
    },
    /// The raw token given with verified claims is not the token those claims came from (or
    /// the request has no bearer token).
    #[error(
        "the bearer token is not the token the verified claims came from: pass the very bearer \
         token that entra-auth validated (has a layer between entra-auth and the handler replaced \
         the Authorization header, or inserted claims of another token?)"
    )]
    NotTheVerifiedToken,
}

/// The downstream API (or the token endpoint, for it) asks for more claims: MFA, a Conditional
/// Access policy, or a continuous access evaluation event. The API must answer its own caller
/// **401** with Microsoft's claims challenge, `WWW-Authenticate: Bearer realm="",
/// authorization_uri="...", error="insufficient_claims", claims="..."`, so the caller's client
/// signs the user in again (at `authorization_uri`) with those claims: that is the answer of
/// [`TokenError::ClaimsChallenge`] and [`DownstreamError::ClaimsChallenge`](crate::DownstreamError::ClaimsChallenge)
/// ([`TokenError::to_response`]; `IntoResponse` with the `axum` feature).
///
/// ```
/// use entra_token::{ClaimsChallenge, TokenError};
/// let challenge = ClaimsChallenge::new(r#"{"access_token":{"capolids":{"essential":true,"values":["c1"]}}}"#)
///     .with_authorization_uri("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize");
/// let answer = TokenError::from(challenge);
/// assert_eq!(answer.status(), 401);
/// assert_eq!(answer.code(), "insufficient_claims");
/// let header = answer.www_authenticate().unwrap();
/// assert!(header.to_str().unwrap().starts_with(
///     r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize", error="insufficient_claims""#
/// ));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsChallenge {
    claims: String,
    aadsts: Option<u64>,
    authorization_uri: Option<Box<str>>,
}

impl ClaimsChallenge {
    /// A challenge carrying the claims request JSON (as Entra sent it in `claims`).
    pub fn new(claims_json: impl Into<String>) -> Self {
        Self {
            claims: claims_json.into(),
            aadsts: None,
            authorization_uri: None,
        }
    }

    pub(crate) fn with_code(claims_json: String, code: Option<u64>) -> Self {
        Self {
            claims: claims_json,
            aadsts: code,
            authorization_uri: None,
        }
    }

    /// The same challenge naming where the user signs in again: the `authorization_uri` of the
    /// `WWW-Authenticate` answer (the authority's authorize endpoint,
    /// `{instance}{tenant}/oauth2/v2.0/authorize`). The clients set it from their authority.
    pub fn with_authorization_uri(mut self, uri: &str) -> Self {
        self.authorization_uri = Some(uri.into());
        self
    }

    /// Where the user signs in again with these claims, when known.
    pub fn authorization_uri(&self) -> Option<&str> {
        self.authorization_uri.as_deref()
    }

    /// The claims request JSON, e.g. `{"access_token":{"capolids":{...}}}`.
    pub fn claims(&self) -> &str {
        &self.claims
    }

    /// The AADSTS code that came with it (50076, 50079: MFA), when the token endpoint sent it.
    pub fn aadsts_code(&self) -> Option<u64> {
        self.aadsts
    }
}

impl std::fmt::Display for ClaimsChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the downstream API requires more claims (MFA or Conditional Access): answer the caller 401 insufficient_claims")?;
        if let Some(code) = self.aadsts {
            write!(f, " (AADSTS{code})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ClaimsChallenge {}

/// Why a token could not be acquired.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The incoming token cannot be used for on-behalf-of (nothing was sent).
    #[error("on-behalf-of refused before calling the token endpoint: {0}")]
    Assertion(#[from] AssertionError),
    /// On-behalf-of asked of a B2C authority.
    #[error(
        "on-behalf-of is not available for Azure AD B2C (policy {policy}): B2C has no jwt-bearer \
         grant; call the downstream API with the user's token from the client, or with client \
         credentials"
    )]
    B2cOnBehalfOf {
        /// The configured policy.
        policy: String,
    },
    /// The scopes cannot be used for this grant (nothing was sent).
    #[error("invalid scopes {found:?}: {expected}")]
    InvalidScopes {
        /// The scopes given (clipped).
        found: String,
        /// What the grant needs.
        expected: &'static str,
    },
    /// The token endpoint refused, with an explained AADSTS code.
    #[error(transparent)]
    Rejected(Box<AadstsError>),
    /// More claims are needed: answer the caller 401 `insufficient_claims`.
    #[error(transparent)]
    ClaimsChallenge(#[from] ClaimsChallenge),
    /// The token endpoint's answer was not an Entra token response or error.
    #[error("the token endpoint answered {status} with an unusable body: {reason}")]
    InvalidResponse {
        /// The HTTP status.
        status: StatusCode,
        /// What was wrong (never the body's secret parts).
        reason: &'static str,
    },
    /// No complete answer within the configured timeout.
    #[error("the token endpoint did not answer within {after:?}")]
    Timeout {
        /// The configured timeout.
        after: Duration,
    },
    /// Connection or TLS failure.
    #[error("cannot reach the token endpoint or read its answer")]
    Transport(#[source] TransportError),
    /// The credential could not produce a client assertion (federated token file, signing).
    #[error("the client credential failed: {0}")]
    Credential(#[from] CredentialError),
    /// A public client cannot get a token silently: the user must sign in again (interactively
    /// or with a device code).
    #[error("{reason}: sign in again")]
    SignInRequired {
        /// Why.
        reason: SignInReason,
        /// The token endpoint's refusal (`invalid_grant`), when that is the reason.
        refusal: Option<Box<AadstsError>>,
    },
    /// The user (or the identity provider for them) declined the sign-in.
    #[error("the sign-in was declined ({error}){}", describe(.description))]
    SignInDeclined {
        /// `access_denied` or `authorization_declined`.
        error: String,
        /// `error_description` (clipped), may be empty.
        description: String,
    },
    /// The device code expired before the user entered it.
    #[error(
        "the device code expired after {after:?} without a sign-in: start again and enter the code \
         sooner"
    )]
    DeviceCodeExpired {
        /// The code's lifetime (`expires_in`).
        after: Duration,
    },
    /// The loopback redirect of an interactive sign-in failed.
    #[error(transparent)]
    Loopback(#[from] LoopbackError),
    /// The persistent token cache could not be read or written.
    #[error(transparent)]
    Cache(#[from] FileCacheError),
    /// On-behalf-of was asked of a [`TokenCredential`](crate::TokenCredential) that cannot act
    /// for another user (nothing was sent).
    #[error(
        "{credential} cannot act on behalf of another user: on-behalf-of needs a \
         ConfidentialClient (the API's own registration and credential)"
    )]
    OnBehalfOfUnsupported {
        /// The credential's type.
        credential: &'static str,
    },
    /// A [`StaticToken`](crate::StaticToken) expired or was refused by the API: it cannot be
    /// renewed.
    #[error("the given token expired or was refused and cannot be renewed: supply a new token")]
    StaticTokenExpired,
    /// A managed identity endpoint gave no token (it names the source and the fix).
    #[error(transparent)]
    ManagedIdentity(Box<crate::managed_identity::error::ManagedIdentityError>),
}

impl From<crate::managed_identity::error::ManagedIdentityError> for TokenError {
    fn from(e: crate::managed_identity::error::ManagedIdentityError) -> Self {
        Self::ManagedIdentity(Box::new(e))
    }
}

impl From<AadstsError> for TokenError {
    fn from(e: AadstsError) -> Self {
        Self::Rejected(Box::new(e))
    }
}

impl TokenError {
    /// The claims challenge, if this error is one.
    pub fn claims_challenge(&self) -> Option<&ClaimsChallenge> {
        match self {
            Self::ClaimsChallenge(c) => Some(c),
            _ => None,
        }
    }

    /// Whether the identity provider could not be reached or answered unusably (a caller may
    /// answer 503 and retry later), as opposed to a configuration or input problem.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Transport(_) => true,
            Self::InvalidResponse { status, .. } => status.is_server_error(),
            Self::Rejected(e) => e.is_transient(),
            Self::ManagedIdentity(e) => e.is_transient(),
            Self::Credential(CredentialError::ManagedIdentity(e)) => e.is_transient(),
            _ => false,
        }
    }

    /// Whether the user must sign in again ([`TokenError::SignInRequired`]).
    pub fn is_sign_in_required(&self) -> bool {
        matches!(self, Self::SignInRequired { .. })
    }
}

impl TokenError {
    /// The OAuth `error` value of a token endpoint refusal, e.g. `invalid_grant`.
    pub(crate) fn oauth_error(&self) -> Option<&str> {
        match self {
            Self::Rejected(a) => Some(&a.error),
            _ => None,
        }
    }
}

/// A transport failure before a complete answer: entra-core's [`HttpError`](entra_core::HttpError)
/// (connection failed, the transport's own request timeout, a body over the cap).
pub use entra_core::http::HttpError as TransportError;

/// A credential could not produce what the token request needs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The federated token file cannot be read.
    #[error(
        "cannot read the federated token file {path}: check the projected service account token \
         volume (AZURE_FEDERATED_TOKEN_FILE) is mounted"
    )]
    FederatedTokenFile {
        /// The configured path.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The federated token file is empty or not a single line of token text.
    #[error("the federated token file {path} is empty or not a token")]
    FederatedTokenEmpty {
        /// The configured path.
        path: std::path::PathBuf,
    },
    /// RSA signing failed.
    #[error("signing the client assertion failed")]
    Signing,
    /// The managed identity gave no token to send as the client assertion (a federated credential).
    #[error("the managed identity's token for the client assertion: {0}")]
    ManagedIdentity(#[source] Box<crate::managed_identity::error::ManagedIdentityError>),
    /// The certificate expired while the client was running.
    #[error(
        "the client certificate expired at {}: Entra refuses assertions signed with it \
         (AADSTS700027); load a renewed certificate",
        utc(*.not_after)
    )]
    CertificateExpired {
        /// End of the certificate's validity.
        not_after: std::time::SystemTime,
    },
}

/// Clips a value taken from input for a message: at most 120 characters, control characters and
/// bidirectional formatting characters replaced by `?`.
pub(crate) fn clip(s: &str) -> String {
    s.chars()
        .take(120)
        .map(|c| if is_unsafe_char(c) { '?' } else { c })
        .collect()
}

/// A text taken from input to be shown whole (the device code prompt): control characters and
/// bidirectional formatting characters replaced by U+FFFD, nothing cut.
pub(crate) fn printable_text(s: &str) -> String {
    s.chars()
        .map(|c| if is_unsafe_char(c) { '\u{FFFD}' } else { c })
        .collect()
}

/// Whether `c` must not reach a terminal or a log as it is: a control character (C0, DEL, C1: the
/// start of escape sequences) or a bidirectional formatting character (it reorders what is shown).
pub(crate) fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}
