//! The token endpoint's refusals: [`AadstsKind`] (the codes this crate explains, each with its
//! fix) and [`AadstsError`] (the parsed Entra error body).

use http::StatusCode;

/// The token endpoint's error codes this crate explains. The numeric AADSTS code is kept in
/// [`AadstsError::codes`] for any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AadstsKind {
    /// AADSTS7000215: invalid client secret.
    InvalidClientSecret,
    /// AADSTS7000222: the client secret expired.
    ExpiredClientSecret,
    /// AADSTS700027: the certificate (client assertion) was rejected.
    CertificateAssertionRejected,
    /// AADSTS65001: the user or an administrator has not consented.
    ConsentRequired,
    /// AADSTS700016: no application with this client id in the tenant.
    ApplicationNotFound,
    /// AADSTS50013: the on-behalf-of assertion was rejected (signature, audience, lifetime).
    InvalidAssertion,
    /// AADSTS70011 / AADSTS1002012: the scope is not valid for this grant.
    InvalidScope,
    /// AADSTS90002: the tenant does not exist.
    TenantNotFound,
    /// AADSTS500011: the resource (downstream API) was not found in the tenant.
    ResourceNotFound,
    /// AADSTS70021 / AADSTS700211-700213: no federated credential matches the presented token.
    FederatedCredentialRejected,
    /// AADSTS700024: the client assertion (certificate or federated token) is outside its
    /// validity period.
    AssertionOutsideValidity,
    /// AADSTS700021 / AADSTS700023: the client assertion names another client or audience.
    AssertionClaimsMismatch,
    /// AADSTS500133: the on-behalf-of assertion (the incoming token) expired by the time it
    /// reached the identity provider.
    AssertionExpired,
    /// AADSTS500131: the on-behalf-of assertion's audience is not this application (a token
    /// issued for another API).
    AssertionAudienceMismatch,
    /// AADSTS50173 (revoked), AADSTS70008 / AADSTS700082 (expired), AADSTS50133 (password
    /// changed), AADSTS70000 (a refresh token already replaced by a newer one), AADSTS54005 (a
    /// code already redeemed): the user must sign in again.
    SignInNoLongerValid,
    /// Any other error code.
    Other,
}

impl AadstsKind {
    /// The kind for a numeric AADSTS code.
    pub fn from_code(code: u64) -> Self {
        match code {
            7_000_215 => Self::InvalidClientSecret,
            7_000_222 => Self::ExpiredClientSecret,
            700_027 => Self::CertificateAssertionRejected,
            65_001 => Self::ConsentRequired,
            700_016 => Self::ApplicationNotFound,
            50_013 => Self::InvalidAssertion,
            500_133 => Self::AssertionExpired,
            500_131 => Self::AssertionAudienceMismatch,
            70_011 | 1_002_012 => Self::InvalidScope,
            90_002 => Self::TenantNotFound,
            500_011 => Self::ResourceNotFound,
            70_021 | 700_211 | 700_212 | 700_213 => Self::FederatedCredentialRejected,
            700_024 => Self::AssertionOutsideValidity,
            700_021 | 700_023 => Self::AssertionClaimsMismatch,
            50_173 | 70_008 | 700_082 | 50_133 | 70_000 | 54_005 => Self::SignInNoLongerValid,
            _ => Self::Other,
        }
    }

    /// What to do about it.
    pub fn fix(self) -> &'static str {
        match self {
            Self::InvalidClientSecret => {
                "the client secret is wrong: configure the secret's value (not its id) from the app \
                 registration's Certificates & secrets page"
            }
            Self::ExpiredClientSecret => {
                "the client secret expired: create a new secret in the app registration and \
                 configure it"
            }
            Self::CertificateAssertionRejected => {
                "the certificate is not registered for this application (or its thumbprint \
                 differs): upload the certificate's public part to the app registration's \
                 Certificates & secrets page"
            }
            Self::ConsentRequired => {
                "the downstream API's permissions have not been consented: an administrator must \
                 grant admin consent for this application (or list it in the downstream API's \
                 knownClientApplications)"
            }
            Self::ApplicationNotFound => {
                "no application with this client id exists in the tenant: check the client id and \
                 the tenant, and that the app was not deleted"
            }
            Self::InvalidAssertion => {
                "the incoming token cannot be exchanged: it must be a user access token issued for \
                 this API (its aud is this API's client id or App ID URI) and still valid"
            }
            Self::InvalidScope => {
                "the scope is not valid for this grant: client credentials need exactly one \
                 {resource}/.default scope; on-behalf-of needs the downstream API's delegated \
                 scopes such as api://{downstream}/access_as_user"
            }
            Self::AssertionExpired => {
                "the incoming token expired before it could be exchanged: the caller must get a \
                 fresh token (refresh or sign in again) and call again"
            }
            Self::AssertionAudienceMismatch => {
                "the incoming token was issued for another application: the caller must get a \
                 token for this API (its client id or App ID URI as the audience) and call again"
            }
            Self::TenantNotFound => "the tenant does not exist: check the tenant id or domain",
            Self::ResourceNotFound => {
                "the downstream API is not known in this tenant: check the resource part of the \
                 scope and that the API has a service principal in the tenant"
            }
            Self::FederatedCredentialRejected => {
                "the federated token was not accepted: check the federated credential's issuer, \
                 subject and audience (api://AzureADTokenExchange) in the app registration"
            }
            Self::AssertionOutsideValidity => {
                "the client assertion is expired or not yet valid: synchronise this machine's \
                 clock (NTP); for a federated token, check that the platform still rotates the \
                 token file"
            }
            Self::AssertionClaimsMismatch => {
                "the client assertion's iss/sub or aud do not match: iss and sub must be this \
                 client id and aud the token endpoint of this tenant"
            }
            Self::SignInNoLongerValid => {
                "the sign-in is no longer valid (revoked, expired, the password changed, or the \
                 refresh token was replaced by a newer one): sign in again"
            }
            Self::Other => "see the error description and the Entra error code reference",
        }
    }
}

/// The token endpoint refused the request (an OAuth error body with AADSTS codes), or could not
/// serve it for now ([`is_transient`](Self::is_transient): a 5xx or `temporarily_unavailable`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.message())]
#[non_exhaustive]
pub struct AadstsError {
    /// The HTTP status of the answer.
    pub status: StatusCode,
    /// The OAuth `error` value, e.g. `invalid_client`.
    pub error: String,
    /// The explained kind.
    pub kind: AadstsKind,
    /// The numeric AADSTS codes (`error_codes`, or the one that starts the description).
    pub codes: Vec<u64>,
    /// `error_description` (Entra's text; it names codes and ids, never a secret).
    pub description: String,
    /// Entra's `suberror`, when sent: what the user or client can do, e.g. `consent_required`,
    /// `basic_action`, `additional_action`, `message_only`, `bad_token`, `token_expired`,
    /// `user_password_expired`.
    pub suberror: Option<String>,
    /// `trace_id`, for a support request.
    pub trace_id: Option<String>,
    /// `correlation_id`, for a support request.
    pub correlation_id: Option<String>,
}

impl AadstsError {
    /// The first AADSTS code (0 when the answer had none).
    pub fn primary_code(&self) -> u64 {
        self.codes.first().copied().unwrap_or(0)
    }

    /// Whether the failure is transient (the identity provider answered 5xx or
    /// `temporarily_unavailable`): the same request may succeed a little later.
    pub fn is_transient(&self) -> bool {
        self.status.is_server_error() || self.error == "temporarily_unavailable"
    }

    fn message(&self) -> String {
        let code = self.primary_code();
        let suberror = self
            .suberror
            .as_deref()
            .map(|s| format!(", {s}"))
            .unwrap_or_default();
        if self.is_transient() {
            format!(
                "the token endpoint is temporarily unable to answer (HTTP {}, {}, AADSTS{code}{suberror}): \
                 a transient failure, not a configuration problem; retry after a short wait (the \
                 caller's 503 with Retry-After)",
                self.status.as_u16(),
                self.error
            )
        } else {
            format!(
                "the token endpoint refused the request ({}, AADSTS{code}{suberror}): {}",
                self.error,
                self.kind.fix()
            )
        }
    }
}
