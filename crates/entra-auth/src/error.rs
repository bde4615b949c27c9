//! [`AuthError`]: every reason a request is refused, and its one mapping to an HTTP answer.
//!
//! | status | `WWW-Authenticate` | when |
//! |---|---|---|
//! | 401 | `Bearer` | no bearer credentials |
//! | 400 | `Bearer error="invalid_request"` | malformed request (two `Authorization` headers, bad characters, oversize) |
//! | 401 | `Bearer error="invalid_token", error_description="..."` | malformed, forged, expired or misdirected token |
//! | 403 | `Bearer error="insufficient_scope", scope="..."` | valid token without the required scope or app role, or failing another requirement |
//! | 401 | `Bearer error="insufficient_claims", claims="..."` | an authentication context (step-up) is required |
//! | 503 | none | signing keys were never loaded from the identity provider; a tenant check failed |
//! | 500 | none | a programming error (no auth layer, unregistered permission) |
//!
//! Bodies are `application/problem+json` (RFC 9457): `{type, title, status, detail, code}`. The detail
//! says what was expected and what was found; it never contains the token, nor configuration the
//! caller has no business seeing ([`AuthError::public_detail`]): the full message is for the log.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};

use crate::challenge::Challenge;
use crate::clock::rfc3339;
use crate::well_known::MicrosoftResource;

/// An error in the configuration, reported once by [`AuthConfigBuilder::build`](crate::AuthConfigBuilder::build).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The tenant is neither a GUID, a domain name, `common` nor `organizations`.
    #[error("invalid tenant {found:?}: expected a tenant id GUID, a domain such as contoso.onmicrosoft.com, \"common\" or \"organizations\"")]
    InvalidTenantId {
        /// The value given.
        found: String,
    },
    /// The client id is not a GUID.
    #[error("invalid client id {found:?}: expected the API's application (client) id, a GUID")]
    InvalidClientId {
        /// The value given.
        found: String,
    },
    /// The instance URL cannot be used.
    #[error("invalid instance URL {found:?}: {reason}")]
    InvalidInstance {
        /// The value given.
        found: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An Azure AD B2C setting is invalid.
    #[error("invalid Azure AD B2C {field} {found:?}: expected letters, digits, '-' or '_'")]
    InvalidB2c {
        /// `tenant_name` or `policy`.
        field: &'static str,
        /// The value given.
        found: String,
    },
    /// An accepted audience is empty or contains whitespace.
    #[error("invalid audience {found:?}: expected a non-empty value without whitespace")]
    InvalidAudience {
        /// The value given.
        found: String,
    },
    /// The list of accepted audiences is empty.
    #[error("no accepted audiences configured")]
    NoAudiences,
    /// The list of accepted token versions is empty.
    #[error("no accepted token versions configured")]
    NoVersions,
    /// The list of accepted algorithms is empty.
    #[error("no accepted signing algorithms configured")]
    NoAlgorithms,
    /// A multi-tenant authority without an allow-list.
    #[error("the multi-tenant authority \"{authority}\" needs an allow-list of tenant ids (allowed_tenants) or the explicit dangerous_accept_any_tenant() opt-in")]
    MissingTenantAllowList {
        /// `common` or `organizations`.
        authority: &'static str,
    },
    /// The proxy URL is not an http(s) URL.
    #[error("invalid HTTP proxy URL {found:?}: expected http(s)://host:port")]
    InvalidProxy {
        /// The value given.
        found: String,
    },
    /// A duration or size setting is out of range.
    #[error("{field} must be {requirement}")]
    OutOfRange {
        /// The setting.
        field: &'static str,
        /// The accepted range.
        requirement: &'static str,
    },
    /// An authority name is empty or has characters other than letters, digits, `-`, `_`, `.`.
    #[error("invalid authority name {found:?}: expected letters, digits, '-', '_' or '.'")]
    InvalidAuthorityName {
        /// The value given.
        found: String,
    },
    /// Several authorities on one validator: each needs a distinct name.
    #[error("authority names must be present and distinct on a validator with several authorities; found {found:?}")]
    AuthorityNames {
        /// The names given (`None` for an unnamed authority).
        found: Vec<Option<String>>,
    },
    /// No authority given to a validator with several authorities.
    #[error("a validator needs at least one authority")]
    NoAuthorities,
    /// An [`Authorized<P>`](crate::Authorized) permission was used without a requirement
    /// registered at start-up ([`AuthState::permit`](crate::AuthState::permit)).
    #[error("permission {permission} is not registered: call AuthState::permit::<{permission}>(requirement) at start-up")]
    PermissionNotRegistered {
        /// The permission's name.
        permission: &'static str,
    },
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client")]
    #[cfg(feature = "reqwest")]
    HttpClient(#[source] reqwest::Error),
}

/// Why a request was malformed (400 `invalid_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidRequestReason {
    /// More than one `Authorization` header.
    MultipleAuthorizationHeaders,
    /// `Bearer` without a token.
    EmptyToken,
    /// The header or token contains characters outside RFC 6750's `b64token`.
    InvalidCharacters,
    /// An `access_token` query parameter (tokens belong in the Authorization header).
    TokenInQuery,
    /// The header is larger than the configured cap.
    TooLarge {
        /// The cap in bytes.
        max: usize,
    },
}

impl fmt::Display for InvalidRequestReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MultipleAuthorizationHeaders => {
                f.write_str("the request has more than one Authorization header; send exactly one")
            }
            Self::EmptyToken => f.write_str("the Authorization header says Bearer but has no token"),
            Self::InvalidCharacters => f.write_str(
                "the bearer token contains characters outside the RFC 6750 token68 set (letters, digits, -._~+/ and trailing =)",
            ),
            Self::TokenInQuery => f.write_str(
                "the request carries an access_token query parameter; send the token only in the Authorization header",
            ),
            Self::TooLarge { max } => write!(f, "the Authorization header is larger than {max} bytes"),
        }
    }
}

/// Why a token could not be parsed (401 `malformed_token`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedReason {
    /// Not three dot-separated segments.
    SegmentCount {
        /// The number of segments found.
        found: usize,
    },
    /// Five segments: an encrypted token (JWE).
    Encrypted,
    /// A segment is empty or not unpadded base64url.
    Base64 {
        /// `header`, `payload` or `signature`.
        segment: &'static str,
    },
    /// A segment is not the expected JSON object.
    Json {
        /// `header` or `payload`.
        segment: &'static str,
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
    },
    /// The token is larger than the configured cap.
    TooLarge {
        /// The cap in bytes.
        max: usize,
    },
    /// The `typ` header is not a JWT type.
    Type {
        /// The `typ` found.
        found: String,
    },
    /// The payload nests arrays and objects deeper than `max` levels (127: serde_json's own
    /// recursion limit, so that [`VerifiedClaims::raw`](crate::VerifiedClaims::raw) can always
    /// parse what was accepted).
    TooDeep {
        /// The deepest nesting accepted.
        max: usize,
    },
}

impl fmt::Display for MalformedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SegmentCount { found } => write!(
                f,
                "expected a compact JWS with 3 dot-separated segments, found {found}"
            ),
            Self::Encrypted => f.write_str("encrypted tokens (JWE, 5 segments) are not accepted; expected a signed JWT"),
            Self::Base64 { segment } => write!(f, "the {segment} segment is not unpadded base64url"),
            Self::Json { segment, line, column } => write!(
                f,
                "the {segment} segment is not the expected JSON object (line {line}, column {column})"
            ),
            Self::TooLarge { max } => write!(f, "the token is larger than {max} bytes"),
            Self::Type { found } => write!(f, "expected typ \"JWT\", found {found:?}"),
            Self::TooDeep { max } => write!(
                f,
                "the payload nests arrays and objects deeper than {max} levels"
            ),
        }
    }
}

/// Why a token was meant for another resource (Microsoft Graph or another Microsoft API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtherResource {
    /// The header has a `nonce` (only the resource itself can verify such a token).
    NonceHeader,
    /// The audience is a Microsoft first-party API of [`well_known`](crate::well_known)'s table
    /// (Microsoft Graph, Azure AD Graph, Azure Resource Manager, Key Vault, ...).
    MicrosoftAudience(&'static MicrosoftResource),
}

/// Which permission rule a token failed (Microsoft.Identity.Web's IDW codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PermissionFailure {
    /// IDW10201: the token has neither `scp` nor `roles`.
    NoScopesOrRoles,
    /// IDW10202: the token lacks every required app role.
    MissingRole,
    /// IDW10203: the token lacks every required scope.
    MissingScope,
}

impl PermissionFailure {
    /// The Microsoft.Identity.Web message id, e.g. `IDW10203`.
    pub fn idw(self) -> &'static str {
        match self {
            Self::NoScopesOrRoles => "IDW10201",
            Self::MissingRole => "IDW10202",
            Self::MissingScope => "IDW10203",
        }
    }
}

/// Every reason a request is refused. Each has a stable [`code`](Self::code) and one HTTP answer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header.
    #[error(
        "no bearer token: send the access token in the Authorization header as \"Bearer <token>\""
    )]
    MissingToken,
    /// An `Authorization` header with another scheme than Bearer.
    #[error("the Authorization header uses the {scheme:?} scheme; expected \"Bearer <token>\"")]
    UnsupportedScheme {
        /// The scheme found (or `<unrecognised>` when it does not look like a scheme).
        scheme: String,
    },
    /// A malformed request (400).
    #[error("malformed request: {reason}")]
    InvalidRequest {
        /// What is wrong.
        reason: InvalidRequestReason,
    },
    /// The token cannot be parsed.
    #[error("malformed token: {reason}")]
    MalformedToken {
        /// What is wrong.
        reason: MalformedReason,
    },
    /// The `alg` is not one of the configured algorithms (`none` and HMAC never are).
    #[error("signature algorithm {found:?} is not accepted; expected one of {accepted:?}")]
    UnsupportedAlgorithm {
        /// The `alg` found.
        found: String,
        /// The configured algorithms.
        accepted: Vec<&'static str>,
    },
    /// A `crit` header this library does not understand.
    #[error("critical header parameters {names:?} are not supported")]
    UnsupportedCriticalHeader {
        /// The `crit` names.
        names: Vec<String>,
    },
    /// The token is for Microsoft Graph or another Microsoft API.
    #[error("{}", other_resource_message(*reason, client_id))]
    TokenForOtherResource {
        /// How it was recognised.
        reason: OtherResource,
        /// This API's client id, for the hint.
        client_id: String,
    },
    /// Neither `kid` nor `x5t` in the header.
    #[error("the token header names no signing key: expected a kid (or x5t) header")]
    MissingKeyId,
    /// No key with the token's `kid` in the identity provider's key set.
    #[error("no signing key with kid {kid:?} in the key set of {jwks_uri}; the token was not issued by the configured authority or its key is unknown")]
    UnknownSigningKey {
        /// The `kid` (or `x5t`) found.
        kid: String,
        /// Where the keys come from.
        jwks_uri: String,
    },
    /// The signature does not verify.
    #[error("the token signature is invalid")]
    InvalidSignature,
    /// `exp` is in the past (beyond the clock skew).
    #[error("token expired at {}, {seconds_ago} seconds ago; request a new token", rfc3339(*expired_at))]
    Expired {
        /// `exp` (Unix seconds).
        expired_at: i64,
        /// Seconds between `exp` and now.
        seconds_ago: i64,
    },
    /// `nbf` is in the future (beyond the clock skew).
    #[error("token not valid before {}, {seconds_until} seconds from now; check the clocks", rfc3339(*not_before))]
    NotYetValid {
        /// `nbf` (Unix seconds).
        not_before: i64,
        /// Seconds between now and `nbf`.
        seconds_until: i64,
    },
    /// A required claim is absent.
    #[error("the token has no {claim} claim")]
    MissingClaim {
        /// The claim name.
        claim: &'static str,
    },
    /// A claim has the wrong form.
    #[error("the {claim} claim is invalid: expected {expected}")]
    InvalidClaim {
        /// The claim name.
        claim: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// The `ver` is not accepted.
    #[error("token version {found:?} is not accepted; expected one of {accepted:?} (the API's app registration sets accessTokenAcceptedVersion)")]
    VersionNotAccepted {
        /// The `ver` found.
        found: String,
        /// The accepted versions.
        accepted: Vec<&'static str>,
    },
    /// `iss` is not the metadata's issuer.
    #[error("issuer mismatch: expected {expected:?}, found {found:?}{}", hint.map(|h| format!("; {h}")).unwrap_or_default())]
    IssuerMismatch {
        /// The issuer from the metadata (tenant substituted).
        expected: String,
        /// The `iss` found.
        found: String,
        /// A hint (v1/v2 or other tenant).
        hint: Option<&'static str>,
    },
    /// `tid` is not the tenant of `iss`.
    #[error("tenant mismatch: tid {tid:?} is not the tenant of the issuer {issuer:?}")]
    TenantMismatch {
        /// The `tid` found.
        tid: String,
        /// The `iss` found.
        issuer: String,
    },
    /// The tenant is not in the allow-list.
    #[error("tenant {tid:?} is not allowed to call this API; expected one of {allowed:?}")]
    TenantNotAllowed {
        /// The `tid` found.
        tid: String,
        /// The allowed tenants.
        allowed: Vec<String>,
    },
    /// The signing key's `issuer` property does not match `iss`.
    #[error(
        "the signing key belongs to issuer {key_issuer:?}, but the token's issuer is {found:?}"
    )]
    KeyIssuerMismatch {
        /// The key's issuer (tenant substituted).
        key_issuer: String,
        /// The `iss` found.
        found: String,
    },
    /// An ID token sent as a bearer token: it has ID-token-only claims (`nonce`, `at_hash`,
    /// `c_hash`) and neither `scp` nor `roles`
    /// (<https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference>).
    #[error("this is an ID token, not an access token (it carries {} and neither a scp nor a roles claim): an ID token tells the client who signed in and no API accepts it. \
             The client sent the wrong token: send the access_token of the token response, requested with scope api://{client_id}/.default or one of this API's scopes", markers.join(", "))]
    IdTokenAsAccessToken {
        /// The ID-token-only claims found (`nonce`, `at_hash`, `c_hash`).
        markers: Vec<&'static str>,
        /// This API's client id, for the hint.
        client_id: String,
    },
    /// `aud` is not accepted.
    #[error("audience mismatch: expected one of {expected:?}, found {found:?}; request a token for this API (scope api://<client id>/.default or one of its scopes)")]
    AudienceMismatch {
        /// The accepted audiences.
        expected: Vec<String>,
        /// The `aud` values found.
        found: Vec<String>,
    },
    /// A valid token without the required scope or app role (403).
    #[error("{}: {}", failure.idw(), permission_message(*failure, required_scopes, required_roles, found_scopes, found_roles))]
    InsufficientScope {
        /// Which rule failed.
        failure: PermissionFailure,
        /// The scopes of which any one would do.
        required_scopes: Vec<String>,
        /// The app roles of which any one would do.
        required_roles: Vec<String>,
        /// The token's scopes.
        found_scopes: Vec<String>,
        /// The token's roles.
        found_roles: Vec<String>,
    },
    /// A claims challenge (continuous access evaluation, RFC 6750 extension used by Microsoft
    /// clients): 401 with `error="insufficient_claims"` and a base64 `claims` parameter. Build it
    /// with [`AuthError::claims_challenge`]; send it only to clients whose token says they handle
    /// it ([`VerifiedClaims::supports_claims_challenge`](crate::VerifiedClaims::supports_claims_challenge)).
    #[error("the token lacks claims this API requires; acquire a new token with the claims challenge in the WWW-Authenticate header")]
    InsufficientClaims {
        /// The claims request JSON, e.g. `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`.
        claims: String,
    },
    /// No signing keys were ever loaded (503).
    #[error("signing keys not yet available: {detail}")]
    KeysUnavailable {
        /// What failed (URL and status).
        detail: String,
    },
    /// An extractor found no claims and has no validator (a programming error: add the AuthLayer or
    /// an `AuthState` with a validator).
    #[error("auth layer missing: the route reads verified claims but no AuthLayer ran and no validator is in the state")]
    AuthLayerMissing,
    /// A valid token that does not meet a [`Requirement`](crate::Requirement) tree (403): what
    /// was required, and for each unmet rule what the token had.
    #[error("the token does not meet the requirement {required}: {}", unmet.join("; "))]
    RequirementNotMet {
        /// The whole requirement, in words.
        required: String,
        /// Each unmet rule with what the token had.
        unmet: Vec<String>,
        /// The scopes the requirement names (for the challenge's `scope` attribute).
        scopes: Vec<String>,
    },
    /// A group requirement cannot be decided from the token: the user is in more groups than a
    /// token holds (`hasgroups`, or `groups` in `_claim_names`). Never "not in the group".
    #[error("the token has a groups overage (the user is in too many groups for the token to list them: hasgroups or _claim_names.groups), so membership of any of the groups {required:?} cannot be decided from the token; the API must resolve the user's groups through Microsoft Graph, or use app roles assigned to the groups instead")]
    GroupsOverage {
        /// The groups of which any one was required.
        required: Vec<String>,
    },
    /// The token lacks a required authentication context (`acrs`, Conditional Access step-up):
    /// 401 with an `insufficient_claims` challenge carrying the claims request.
    #[error("the token lacks the authentication context {context:?} (acrs; found {found:?}); acquire a new token with the claims challenge in the WWW-Authenticate header (it triggers the Conditional Access step-up)")]
    AuthContextRequired {
        /// The authentication context id required, e.g. `c1`.
        context: String,
        /// The token's `acrs` values.
        found: Vec<String>,
    },
    /// An asynchronous tenant check could not answer (503).
    #[error("the tenant check is unavailable: {detail}")]
    TenantCheckUnavailable {
        /// What failed.
        detail: String,
    },
    /// The token's issuer is none of the configured authorities' (401).
    #[error("the token's issuer {found:?} is not accepted; expected one of {accepted:?}")]
    UnknownIssuer {
        /// The `iss` found (unverified).
        found: String,
        /// The issuers of the configured authorities.
        accepted: Vec<String>,
    },
    /// An [`Authorized<P>`](crate::Authorized) for a permission never registered with
    /// [`AuthState::permit`](crate::AuthState::permit) (a programming error, 500; caught at
    /// start-up by [`AuthState::ensure_permits`](crate::AuthState::ensure_permits)).
    #[error("permission {permission} is not registered: call AuthState::permit::<{permission}>(requirement) at start-up")]
    PermissionNotRegistered {
        /// The permission's name.
        permission: &'static str,
    },
}

fn other_resource_message(reason: OtherResource, client_id: &str) -> String {
    match reason {
        OtherResource::NonceHeader => format!(
            "this is an access token for Microsoft Graph or another Microsoft API (the token header has a nonce); only that API can validate it. \
             The client asked for the wrong resource: request a token for this API with scope api://{client_id}/.default or one of its scopes"
        ),
        OtherResource::MicrosoftAudience(r) => format!(
            "this is an access token for {name} (the token's audience is {name}); only {name} can validate it. \
             The client asked for the wrong resource: request a token for this API with scope api://{client_id}/.default or one of its scopes, not for {scope}",
            name = r.name,
            scope = r.default_scope(),
        ),
    }
}

fn permission_message(
    failure: PermissionFailure,
    scopes: &[String],
    roles: &[String],
    found_scopes: &[String],
    found_roles: &[String],
) -> String {
    match failure {
        PermissionFailure::NoScopesOrRoles => format!(
            "the token has neither a scope (scp) nor a roles claim; expected one of the scopes {scopes:?} or app roles {roles:?}"
        ),
        PermissionFailure::MissingScope => format!(
            "the scope claim (scp) does not contain any of the required scopes {scopes:?}{}; found scopes {found_scopes:?}",
            if roles.is_empty() { String::new() } else { format!(" (or app roles {roles:?})") }
        ),
        PermissionFailure::MissingRole => format!(
            "the roles claim does not contain any of the required app roles {roles:?}{}; found roles {found_roles:?}",
            if scopes.is_empty() { String::new() } else { format!(" (or scopes {scopes:?})") }
        ),
    }
}

/// The one source of the stable error codes: generates [`AuthError::code`] and `CODES` (every
/// code, in this order, used by the metrics), so the two cannot drift.
macro_rules! error_codes {
    ($($variant:ident => $code:literal,)*) => {
        /// Every stable error code, in a fixed order (used by the metrics).
        pub(crate) const CODES: &[&str] = &[$($code),*];

        impl AuthError {
            /// The stable machine code, e.g. `token_expired`, `audience_mismatch`,
            /// `insufficient_scope`.
            pub fn code(&self) -> &'static str {
                match self {
                    $(Self::$variant { .. } => $code,)*
                }
            }
        }
    };
}

error_codes! {
    MissingToken => "missing_token",
    UnsupportedScheme => "unsupported_scheme",
    InvalidRequest => "invalid_request",
    MalformedToken => "malformed_token",
    UnsupportedAlgorithm => "unsupported_algorithm",
    UnsupportedCriticalHeader => "unsupported_critical_header",
    TokenForOtherResource => "token_for_other_resource",
    MissingKeyId => "missing_key_id",
    UnknownSigningKey => "unknown_signing_key",
    InvalidSignature => "invalid_signature",
    Expired => "token_expired",
    NotYetValid => "token_not_yet_valid",
    MissingClaim => "missing_claim",
    InvalidClaim => "invalid_claim",
    VersionNotAccepted => "version_not_accepted",
    IssuerMismatch => "issuer_mismatch",
    TenantMismatch => "tenant_mismatch",
    TenantNotAllowed => "tenant_not_allowed",
    KeyIssuerMismatch => "key_issuer_mismatch",
    IdTokenAsAccessToken => "id_token_as_access_token",
    AudienceMismatch => "audience_mismatch",
    InsufficientScope => "insufficient_scope",
    InsufficientClaims => "insufficient_claims",
    KeysUnavailable => "keys_unavailable",
    AuthLayerMissing => "auth_layer_missing",
    RequirementNotMet => "requirement_not_met",
    GroupsOverage => "groups_overage",
    AuthContextRequired => "auth_context_required",
    TenantCheckUnavailable => "tenant_check_unavailable",
    UnknownIssuer => "unknown_issuer",
    PermissionNotRegistered => "permission_not_registered",
}

impl AuthError {
    /// The HTTP status: 400, 401, 403, 500 or 503.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. }
            | Self::RequirementNotMet { .. }
            | Self::GroupsOverage { .. } => StatusCode::FORBIDDEN,
            Self::KeysUnavailable { .. } | Self::TenantCheckUnavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::AuthLayerMissing | Self::PermissionNotRegistered { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The RFC 6750 `error` attribute, if any: `invalid_request`, `invalid_token` or
    /// `insufficient_scope` (none when no credentials were sent).
    pub fn rfc6750_error(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken | Self::UnsupportedScheme { .. } => None,
            Self::KeysUnavailable { .. }
            | Self::AuthLayerMissing
            | Self::TenantCheckUnavailable { .. }
            | Self::PermissionNotRegistered { .. } => None,
            Self::InvalidRequest { .. } => Some("invalid_request"),
            Self::InsufficientScope { .. }
            | Self::RequirementNotMet { .. }
            | Self::GroupsOverage { .. } => Some("insufficient_scope"),
            Self::InsufficientClaims { .. } | Self::AuthContextRequired { .. } => {
                Some("insufficient_claims")
            }
            _ => Some("invalid_token"),
        }
    }

    /// What a client is told (the problem `detail` and the challenge's `error_description`):
    /// what is wrong and what the caller can do. Where the full message ([`Display`](fmt::Display),
    /// for the log) would disclose the server's configuration (the tenant allow-list, the
    /// accepted issuers, key-set and metadata URLs, why a fetch or a tenant lookup failed, a
    /// programming error), this says the same without it.
    ///
    /// ```
    /// use entra_auth::AuthError;
    /// let e = AuthError::TenantNotAllowed {
    ///     tid: "11111111-2222-4333-8444-555555555555".into(),
    ///     allowed: vec!["7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a".into()],
    /// };
    /// assert!(e.to_string().contains("7d6c5b4a")); // the log
    /// assert!(!e.public_detail().contains("7d6c5b4a")); // the client
    /// ```
    pub fn public_detail(&self) -> Cow<'_, str> {
        match self {
            Self::AuthLayerMissing | Self::PermissionNotRegistered { .. } => {
                Cow::Borrowed("authentication is misconfigured on the server")
            }
            Self::TenantNotAllowed { tid, .. } => Cow::Owned(format!(
                "tenant {tid:?} is not allowed to call this API; the API's owner decides which tenants may call it"
            )),
            Self::UnknownIssuer { found, .. } => Cow::Owned(format!(
                "the token's issuer {found:?} is not accepted by this API; request the token from the authority (tenant, cloud instance or user flow) the API is registered with"
            )),
            Self::UnknownSigningKey { kid, .. } => Cow::Owned(format!(
                "no signing key with kid {kid:?} in the identity provider's key set; the token was not issued by the configured authority or its key is unknown"
            )),
            Self::KeysUnavailable { .. } => Cow::Borrowed(
                "signing keys not yet available: the identity provider's metadata and keys have not been loaded; try again shortly",
            ),
            Self::TenantCheckUnavailable { .. } => Cow::Borrowed(
                "the tenant check is unavailable: whether the token's tenant may call this API cannot be decided now; try again shortly",
            ),
            _ => Cow::Owned(self.to_string()),
        }
    }

    /// The `WWW-Authenticate` value, if the answer carries one (400, 401 and 403).
    pub fn www_authenticate(&self) -> Option<HeaderValue> {
        let status = self.status();
        if status != StatusCode::UNAUTHORIZED
            && status != StatusCode::FORBIDDEN
            && status != StatusCode::BAD_REQUEST
        {
            return None;
        }
        let error = self.rfc6750_error();
        let scope = match self {
            Self::InsufficientScope {
                required_scopes,
                required_roles,
                ..
            } => {
                let list = if required_scopes.is_empty() {
                    required_roles
                } else {
                    required_scopes
                };
                (!list.is_empty()).then(|| list.join(" "))
            }
            Self::RequirementNotMet { scopes, .. } => {
                (!scopes.is_empty()).then(|| scopes.join(" "))
            }
            _ => None,
        };
        let claims = match self {
            Self::InsufficientClaims { claims } => {
                Some(base64::engine::general_purpose::STANDARD.encode(claims.as_bytes()))
            }
            Self::AuthContextRequired { context, .. } => Some(
                base64::engine::general_purpose::STANDARD
                    .encode(auth_context_claims(context).as_bytes()),
            ),
            _ => None,
        };
        Some(
            Challenge {
                realm: None,
                authorization_uri: None,
                error,
                description: error.map(|_| self.public_detail().into_owned()),
                scope,
                claims,
            }
            .to_header_value(),
        )
    }

    /// The RFC 9457 problem document: `{type, title, status, detail, code}`.
    pub fn problem_json(&self) -> Bytes {
        let status = self.status();
        let body = serde_json::json!({
            "type": format!("urn:entra-auth:problem:{}", self.code()),
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": self.public_detail(),
            "code": self.code(),
        });
        Bytes::from(body.to_string())
    }

    /// The complete HTTP answer: status, `WWW-Authenticate` (when applicable),
    /// `Content-Type: application/problem+json`, `Cache-Control: no-store` and the problem body.
    /// The error itself is stored in the response extensions for logging middleware.
    pub fn to_response<B: From<Bytes>>(&self) -> http::Response<B> {
        let mut res = http::Response::new(B::from(self.problem_json()));
        *res.status_mut() = self.status();
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.www_authenticate() {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        res.extensions_mut().insert(self.clone());
        res
    }

    /// A claims challenge for continuous access evaluation (see
    /// [`AuthError::InsufficientClaims`]).
    ///
    /// ```
    /// use entra_auth::AuthError;
    /// let e = AuthError::claims_challenge(r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#);
    /// assert_eq!(e.status(), 401);
    /// let h = e.www_authenticate().unwrap();
    /// assert!(h.to_str().unwrap().starts_with("Bearer error=\"insufficient_claims\""));
    /// assert!(h.to_str().unwrap().contains("claims=\"eyJhY2Nlc3NfdG9rZW4i"));
    /// ```
    pub fn claims_challenge(claims_json: &str) -> Self {
        Self::InsufficientClaims {
            claims: claims_json.to_owned(),
        }
    }
}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for AuthError {
    fn into_response(self) -> axum_core::response::Response {
        self.to_response()
    }
}

/// The claims request Entra expects for an authentication context (step-up):
/// `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`.
pub(crate) fn auth_context_claims(context: &str) -> String {
    serde_json::json!({"access_token": {"acrs": {"essential": true, "value": context}}}).to_string()
}

/// Shortens a value taken from a token for a message: at most 200 characters, control characters
/// replaced.
pub(crate) fn clip(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One value of every variant, in the order of `error_codes!`.
    fn one_of_each() -> Vec<AuthError> {
        let s = String::new;
        vec![
            AuthError::MissingToken,
            AuthError::UnsupportedScheme { scheme: s() },
            AuthError::InvalidRequest {
                reason: InvalidRequestReason::EmptyToken,
            },
            AuthError::MalformedToken {
                reason: MalformedReason::Encrypted,
            },
            AuthError::UnsupportedAlgorithm {
                found: s(),
                accepted: vec![],
            },
            AuthError::UnsupportedCriticalHeader { names: vec![] },
            AuthError::TokenForOtherResource {
                reason: OtherResource::MicrosoftAudience(&crate::well_known::MICROSOFT_GRAPH),
                client_id: s(),
            },
            AuthError::MissingKeyId,
            AuthError::UnknownSigningKey {
                kid: s(),
                jwks_uri: s(),
            },
            AuthError::InvalidSignature,
            AuthError::Expired {
                expired_at: 0,
                seconds_ago: 0,
            },
            AuthError::NotYetValid {
                not_before: 0,
                seconds_until: 0,
            },
            AuthError::MissingClaim { claim: "exp" },
            AuthError::InvalidClaim {
                claim: "exp",
                expected: "",
            },
            AuthError::VersionNotAccepted {
                found: s(),
                accepted: vec![],
            },
            AuthError::IssuerMismatch {
                expected: s(),
                found: s(),
                hint: None,
            },
            AuthError::TenantMismatch {
                tid: s(),
                issuer: s(),
            },
            AuthError::TenantNotAllowed {
                tid: s(),
                allowed: vec![],
            },
            AuthError::KeyIssuerMismatch {
                key_issuer: s(),
                found: s(),
            },
            AuthError::IdTokenAsAccessToken {
                markers: vec![],
                client_id: s(),
            },
            AuthError::AudienceMismatch {
                expected: vec![],
                found: vec![],
            },
            AuthError::InsufficientScope {
                failure: PermissionFailure::MissingScope,
                required_scopes: vec![],
                required_roles: vec![],
                found_scopes: vec![],
                found_roles: vec![],
            },
            AuthError::InsufficientClaims { claims: s() },
            AuthError::KeysUnavailable { detail: s() },
            AuthError::AuthLayerMissing,
            AuthError::RequirementNotMet {
                required: s(),
                unmet: vec![],
                scopes: vec![],
            },
            AuthError::GroupsOverage { required: vec![] },
            AuthError::AuthContextRequired {
                context: s(),
                found: vec![],
            },
            AuthError::TenantCheckUnavailable { detail: s() },
            AuthError::UnknownIssuer {
                found: s(),
                accepted: vec![],
            },
            AuthError::PermissionNotRegistered { permission: "P" },
        ]
    }

    #[test]
    fn every_variant_has_its_listed_code_once_in_order() {
        let all = one_of_each();
        // Exhaustive on purpose (no `_` arm): a new variant fails to compile here until it has
        // a sample above, and so a code in `error_codes!`.
        for e in &all {
            match e {
                AuthError::MissingToken
                | AuthError::UnsupportedScheme { .. }
                | AuthError::InvalidRequest { .. }
                | AuthError::MalformedToken { .. }
                | AuthError::UnsupportedAlgorithm { .. }
                | AuthError::UnsupportedCriticalHeader { .. }
                | AuthError::TokenForOtherResource { .. }
                | AuthError::MissingKeyId
                | AuthError::UnknownSigningKey { .. }
                | AuthError::InvalidSignature
                | AuthError::Expired { .. }
                | AuthError::NotYetValid { .. }
                | AuthError::MissingClaim { .. }
                | AuthError::InvalidClaim { .. }
                | AuthError::VersionNotAccepted { .. }
                | AuthError::IssuerMismatch { .. }
                | AuthError::TenantMismatch { .. }
                | AuthError::TenantNotAllowed { .. }
                | AuthError::KeyIssuerMismatch { .. }
                | AuthError::IdTokenAsAccessToken { .. }
                | AuthError::AudienceMismatch { .. }
                | AuthError::InsufficientScope { .. }
                | AuthError::InsufficientClaims { .. }
                | AuthError::KeysUnavailable { .. }
                | AuthError::AuthLayerMissing
                | AuthError::RequirementNotMet { .. }
                | AuthError::GroupsOverage { .. }
                | AuthError::AuthContextRequired { .. }
                | AuthError::TenantCheckUnavailable { .. }
                | AuthError::UnknownIssuer { .. }
                | AuthError::PermissionNotRegistered { .. } => {}
            }
        }
        let codes: Vec<&str> = all.iter().map(AuthError::code).collect();
        assert_eq!(codes, CODES);
        assert_eq!(CODES.len(), 31);
        let mut unique = codes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), CODES.len(), "codes are unique");
        for (e, code) in all.iter().zip(CODES) {
            assert!(
                code.bytes().all(|c| c.is_ascii_lowercase() || c == b'_'),
                "{code}"
            );
            // the code reaches the problem body
            let res: http::Response<Bytes> = e.to_response();
            let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
            assert_eq!(body["code"], *code);
            assert_eq!(body["status"], e.status().as_u16());
        }
    }

    #[test]
    fn missing_token_is_bare_401_challenge() {
        let res: http::Response<Bytes> = AuthError::MissingToken.to_response();
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(body["code"], "missing_token");
        assert_eq!(body["status"], 401);
        assert_eq!(body["title"], "Unauthorized");
    }

    #[test]
    fn expired_message_says_when_and_how_long_ago() {
        let e = AuthError::Expired {
            expired_at: 1_700_000_000,
            seconds_ago: 42,
        };
        assert_eq!(
            e.to_string(),
            "token expired at 2023-11-14T22:13:20Z, 42 seconds ago; request a new token"
        );
        let h = e.www_authenticate().unwrap();
        assert!(h
            .to_str()
            .unwrap()
            .starts_with("Bearer error=\"invalid_token\", error_description=\"token expired at"));
    }

    #[test]
    fn insufficient_scope_is_403_with_scope_attribute() {
        let e = AuthError::InsufficientScope {
            failure: PermissionFailure::MissingScope,
            required_scopes: vec!["weather.read".into()],
            required_roles: vec![],
            found_scopes: vec!["weather.write".into()],
            found_roles: vec![],
        };
        assert_eq!(e.status(), 403);
        let h = e.www_authenticate().unwrap();
        let h = h.to_str().unwrap();
        assert!(h.starts_with("Bearer error=\"insufficient_scope\", error_description=\"IDW10203"));
        assert!(h.ends_with("scope=\"weather.read\""), "{h}");
    }

    #[test]
    fn keys_unavailable_is_503_without_challenge() {
        let e = AuthError::KeysUnavailable { detail: "x".into() };
        assert_eq!(e.status(), 503);
        assert_eq!(e.www_authenticate(), None);
        assert!(
            e.to_string().starts_with("signing keys not yet available"),
            "{e}"
        );
    }

    /// Every variant whose full message names configuration: the client's text names none of it.
    #[test]
    fn public_detail_discloses_no_configuration() {
        let secret =
            "https://login.example/7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a/discovery/v2.0/keys";
        let cases = [
            AuthError::TenantNotAllowed {
                tid: "11111111-2222-4333-8444-555555555555".into(),
                allowed: vec![secret.into()],
            },
            AuthError::UnknownIssuer {
                found: "https://sts.example/x/".into(),
                accepted: vec![secret.into()],
            },
            AuthError::UnknownSigningKey {
                kid: "k1".into(),
                jwks_uri: secret.into(),
            },
            AuthError::KeysUnavailable {
                detail: secret.into(),
            },
            AuthError::TenantCheckUnavailable {
                detail: secret.into(),
            },
        ];
        for e in cases {
            assert!(e.to_string().contains(secret), "the log keeps it: {e}");
            let body: serde_json::Value = serde_json::from_slice(&e.problem_json()).unwrap();
            let detail = body["detail"].as_str().unwrap();
            assert!(!detail.contains(secret), "{}: {detail}", e.code());
            assert_eq!(detail, e.public_detail());
            if let Some(h) = e.www_authenticate() {
                assert!(!h.to_str().unwrap().contains(secret), "{h:?}");
            }
        }
    }

    #[test]
    fn invalid_request_is_400() {
        let e = AuthError::InvalidRequest {
            reason: InvalidRequestReason::MultipleAuthorizationHeaders,
        };
        assert_eq!(e.status(), 400);
        assert!(e
            .www_authenticate()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Bearer error=\"invalid_request\""));
    }

    #[test]
    fn graph_token_message_explains_the_fix() {
        let e = AuthError::TokenForOtherResource {
            reason: OtherResource::NonceHeader,
            client_id: "abc".into(),
        };
        assert!(e.to_string().contains("api://abc/.default"));
    }

    #[test]
    fn microsoft_audience_message_names_the_resource_and_both_scopes() {
        let e = AuthError::TokenForOtherResource {
            reason: OtherResource::MicrosoftAudience(
                crate::well_known::microsoft_resource("https://graph.windows.net/").unwrap(),
            ),
            client_id: "abc".into(),
        };
        assert_eq!(
            e.to_string(),
            "this is an access token for Azure AD Graph (the token's audience is Azure AD Graph); only Azure AD \
             Graph can validate it. The client asked for the wrong resource: request a token for this API with scope \
             api://abc/.default or one of its scopes, not for https://graph.windows.net/.default"
        );
    }

    #[test]
    fn id_token_message_names_the_markers_and_the_fix() {
        let e = AuthError::IdTokenAsAccessToken {
            markers: vec!["nonce", "at_hash"],
            client_id: "abc".into(),
        };
        assert_eq!(
            (e.status().as_u16(), e.code()),
            (401, "id_token_as_access_token")
        );
        let text = e.to_string();
        assert!(
            text.starts_with(
                "this is an ID token, not an access token (it carries nonce, at_hash and neither"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("requested with scope api://abc/.default or one of this API's scopes"),
            "{text}"
        );
        assert!(e
            .www_authenticate()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Bearer error=\"invalid_token\""));
    }

    #[test]
    fn clip_shortens_and_sanitises() {
        assert_eq!(clip("a\nb"), "a?b");
        assert_eq!(clip(&"y".repeat(300)).chars().count(), 201);
    }
}
