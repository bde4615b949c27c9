//! [`TokenError`] and [`DownstreamError`](crate::DownstreamError) as the HTTP answer of an API
//! that calls downstream on behalf of its caller, in entra-auth's shape: a status, a stable
//! machine `code`, an RFC 6750 `WWW-Authenticate` challenge where one applies, and an
//! `application/problem+json` body (RFC 9457: `{type, title, status, detail, code}`) whose detail
//! says what to fix without a token, a secret or the server's configuration. With the `axum`
//! feature both errors are `IntoResponse`, so a handler returns `Result<_, DownstreamError>`.
//!
//! The table is on [`TokenError::to_response`].
//!
//! Every 5xx is logged (target `entra_token`, WARN or ERROR) with the full error, which never
//! holds a token or secret; 4xx answers at DEBUG.

use std::borrow::Cow;

use base64::Engine as _;
use bytes::Bytes;
use entra_core::challenge::BearerChallenge;
use http::{header, HeaderValue, StatusCode};

use super::{AadstsKind, AssertionError, ClaimsChallenge, TokenError};

/// The public detail of every `configuration_error`.
const CONFIGURATION_DETAIL: &str = "this API cannot get a token for the downstream API because \
     of its own configuration: its operator must fix it (the cause is in the API's log); \
     retrying will not help";

/// How an error answers.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) detail: Cow<'static, str>,
    pub(crate) challenge: Option<HeaderValue>,
}

impl Answer {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            challenge: None,
        }
    }

    fn configuration() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "configuration_error",
            CONFIGURATION_DETAIL,
        )
    }

    /// 401 `invalid_token` with RFC 6750's challenge carrying `detail`.
    fn invalid_token(detail: String) -> Self {
        let challenge = BearerChallenge {
            error: Some("invalid_token"),
            description: Some(detail.clone()),
            ..BearerChallenge::default()
        };
        Self {
            challenge: Some(challenge.to_header_value()),
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_token", detail)
        }
    }

    /// 401 `insufficient_claims` (Microsoft's claims challenge format).
    pub(crate) fn claims(c: &ClaimsChallenge) -> Self {
        let challenge = BearerChallenge {
            realm: Some(String::new()),
            authorization_uri: c.authorization_uri().map(str::to_owned),
            error: Some("insufficient_claims"),
            claims: Some(base64::engine::general_purpose::STANDARD.encode(c.claims())),
            ..BearerChallenge::default()
        };
        Self {
            challenge: Some(challenge.to_header_value()),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "insufficient_claims",
                "the downstream API requires more claims (MFA or Conditional Access): sign in \
                 again at the challenge's authorization_uri with the claims of this claims \
                 challenge (WWW-Authenticate), then retry with the new token",
            )
        }
    }

    /// The response: status, `Content-Type: application/problem+json`, `Cache-Control:
    /// no-store`, the challenge, the problem body.
    pub(crate) fn into_response<B: From<Bytes>>(self) -> http::Response<B> {
        let body = serde_json::json!({
            "type": format!("urn:entra-token:problem:{}", self.code),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
            "code": self.code,
        });
        let mut res = http::Response::new(B::from(Bytes::from(body.to_string())));
        *res.status_mut() = self.status;
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.challenge {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        res
    }
}

/// Logs the error behind an answer: 5xx at ERROR (configuration) or WARN, others at DEBUG.
pub(crate) fn log(answer: &Answer, error: &dyn std::error::Error) {
    let (status, code) = (answer.status.as_u16(), answer.code);
    if answer.code == "configuration_error" {
        tracing::error!(target: "entra_token", status, code, error = %error, "cannot call downstream: fix the configuration");
    } else if answer.status.is_server_error() {
        tracing::warn!(target: "entra_token", status, code, error = %error, "cannot call downstream");
    } else {
        tracing::debug!(target: "entra_token", status, code, error = %error, "downstream call refused for the caller");
    }
}

impl TokenError {
    pub(crate) fn answer(&self) -> Answer {
        match self {
            Self::ClaimsChallenge(c) => Answer::claims(c),
            Self::Assertion(a) => assertion_answer(a),
            Self::Rejected(a) => {
                let code = a.primary_code();
                match a.kind {
                    AadstsKind::ConsentRequired => Answer::new(
                        StatusCode::FORBIDDEN,
                        "consent_required",
                        format!(
                            "consent is missing for this API to call the downstream API on the \
                             user's behalf (AADSTS{code}): {}",
                            a.kind.fix()
                        ),
                    ),
                    AadstsKind::InvalidAssertion | AadstsKind::SignInNoLongerValid => {
                        Answer::invalid_token(format!(
                            "on-behalf-of refused by the identity provider (AADSTS{code}): the \
                             caller must sign in again or get a new token for this API, then retry"
                        ))
                    }
                    AadstsKind::AssertionExpired | AadstsKind::AssertionAudienceMismatch => {
                        Answer::invalid_token(format!(
                            "on-behalf-of refused by the identity provider (AADSTS{code}): {}",
                            a.kind.fix()
                        ))
                    }
                    AadstsKind::InvalidClientSecret
                    | AadstsKind::ExpiredClientSecret
                    | AadstsKind::CertificateAssertionRejected
                    | AadstsKind::ApplicationNotFound
                    | AadstsKind::InvalidScope
                    | AadstsKind::TenantNotFound
                    | AadstsKind::ResourceNotFound
                    | AadstsKind::FederatedCredentialRejected
                    | AadstsKind::AssertionOutsideValidity
                    | AadstsKind::AssertionClaimsMismatch => Answer::configuration(),
                    AadstsKind::Other if a.is_transient() => unavailable(),
                    AadstsKind::Other => Answer::new(
                        StatusCode::BAD_GATEWAY,
                        "token_request_refused",
                        format!(
                            "the identity provider refused this API's token request ({}, \
                             AADSTS{code}): its operator can look the trace id up in the API's log",
                            super::clip(&a.error)
                        ),
                    ),
                }
            }
            Self::InvalidResponse { status, .. } if status.is_server_error() => unavailable(),
            Self::InvalidResponse { .. } => Answer::new(
                StatusCode::BAD_GATEWAY,
                "token_endpoint_invalid_response",
                "the identity provider's answer was not a token response (a proxy in the way?): \
                 retry later; the API's operator finds the cause in its log",
            ),
            Self::Timeout { .. } => Answer::new(
                StatusCode::GATEWAY_TIMEOUT,
                "token_endpoint_timeout",
                "the identity provider did not answer in time (transient): retry later",
            ),
            Self::Transport(_) => unavailable(),
            Self::ManagedIdentity(e) if e.is_transient() => unavailable(),
            Self::Credential(super::CredentialError::ManagedIdentity(e)) if e.is_transient() => {
                unavailable()
            }
            Self::ManagedIdentity(_) => Answer::configuration(),
            Self::B2cOnBehalfOf { .. }
            | Self::InvalidScopes { .. }
            | Self::Credential(_)
            | Self::SignInRequired { .. }
            | Self::SignInDeclined { .. }
            | Self::DeviceCodeExpired { .. }
            | Self::Loopback(_)
            | Self::Cache(_)
            | Self::OnBehalfOfUnsupported { .. }
            | Self::StaticTokenExpired => Answer::configuration(),
        }
    }

    /// The HTTP status of the answer to the API's caller (see [`to_response`](Self::to_response)).
    pub fn status(&self) -> StatusCode {
        self.answer().status
    }

    /// The stable machine code of the answer's problem body, e.g. `insufficient_claims`.
    pub fn code(&self) -> &'static str {
        self.answer().code
    }

    /// The `WWW-Authenticate` value of the answer, if it carries one (401 answers).
    pub fn www_authenticate(&self) -> Option<HeaderValue> {
        self.answer().challenge
    }

    /// The answer to the API's caller: the status, `Content-Type: application/problem+json`,
    /// `Cache-Control: no-store`, the challenge if any and the problem body. A 5xx answer logs
    /// the error at WARN, or ERROR for the API's configuration, whose public detail is generic.
    ///
    /// | status | `code` | `WWW-Authenticate` | when |
    /// |---|---|---|---|
    /// | 401 | `insufficient_claims` | `Bearer realm="", authorization_uri="{instance}{tenant}/oauth2/v2.0/authorize", error="insufficient_claims", claims="{base64}"` | MFA or Conditional Access: the token endpoint's `interaction_required`/`invalid_grant` with `claims`, or the downstream API's own challenge |
    /// | 401 | `invalid_token` | `Bearer error="invalid_token", error_description="..."` | the caller's token cannot be exchanged: expired (within entra-auth's clock skew), malformed, for another API, or refused by the identity provider as an assertion (AADSTS50013) or sign-in no longer valid |
    /// | 403 | `app_only_token` | none | an app-only token where the operation acts for a user |
    /// | 403 | `consent_required` | none | AADSTS65001: the user or an administrator of their tenant can grant consent; the caller can act on it |
    /// | 503 | `token_endpoint_unavailable` | none | the identity provider is unreachable or answered 5xx (transient; `Retry-After` when the answer said) |
    /// | 504 | `token_endpoint_timeout` | none | no answer within the configured timeout (transient) |
    /// | 502 | `token_endpoint_invalid_response` | none | an answer that is not Entra's (a proxy's page) |
    /// | 502 | `token_request_refused` | none | a refusal this crate cannot attribute (its AADSTS code is named) |
    /// | 502 | `downstream_unreachable`, `downstream_refused`, `downstream_invalid_response` | none | the downstream API could not be reached, answered an error status, or a body that is not JSON |
    /// | 500 | `configuration_error` | none | this API's own set-up (secret, certificate, federated credential, scopes, tenant, B2C, a token source that cannot act for a user): a generic public detail; the cause is logged at ERROR |
    ///
    ///
    /// ```
    /// use entra_token::{ClaimsChallenge, TokenError};
    /// let challenge = ClaimsChallenge::new(r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#)
    ///     .with_authorization_uri("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize");
    /// let res: http::Response<bytes::Bytes> = TokenError::ClaimsChallenge(challenge).to_response();
    /// assert_eq!(res.status(), 401);
    /// assert_eq!(
    ///     res.headers()["www-authenticate"],
    ///     "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize\", \
    ///      error=\"insufficient_claims\", claims=\"eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19\""
    /// );
    /// assert!(std::str::from_utf8(res.body()).unwrap().contains(r#""code":"insufficient_claims""#));
    /// ```
    pub fn to_response<B: From<Bytes>>(&self) -> http::Response<B> {
        let answer = self.answer();
        log(&answer, self);
        answer.into_response()
    }

    /// The same error, a claims challenge naming `authority`'s authorize endpoint as where the
    /// user signs in again.
    pub(crate) fn with_authority(self, authority: &crate::Authority) -> Self {
        match self {
            Self::ClaimsChallenge(c) if c.authorization_uri().is_none() => Self::ClaimsChallenge(
                c.with_authorization_uri(authority.authorize_endpoint().as_str()),
            ),
            other => other,
        }
    }
}

fn unavailable() -> Answer {
    Answer::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "token_endpoint_unavailable",
        "the identity provider is unreachable or failing (transient): retry later",
    )
}

fn assertion_answer(a: &AssertionError) -> Answer {
    match a {
        AssertionError::AppOnly => Answer::new(
            StatusCode::FORBIDDEN,
            "app_only_token",
            "on-behalf-of refused: the token is app-only (no signed-in user) and this operation \
             calls downstream on behalf of a user: call it with a delegated (user) token",
        ),
        AssertionError::ForeignAudience { .. } => Answer::invalid_token(
            "on-behalf-of refused: the incoming token was not issued for this API: get a token \
             for this API's scope and retry"
                .to_owned(),
        ),
        AssertionError::NotTheVerifiedToken => Answer::configuration(),
        AssertionError::Malformed
        | AssertionError::MissingExpiry
        | AssertionError::Expired { .. }
        | AssertionError::ExpiresTooSoon { .. } => {
            Answer::invalid_token(format!("on-behalf-of refused: {a}"))
        }
    }
}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for TokenError {
    fn into_response(self) -> axum_core::response::Response {
        self.to_response()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::AadstsError;

    fn rejected(status: u16, error: &str, code: u64) -> TokenError {
        TokenError::from(AadstsError {
            status: StatusCode::from_u16(status).unwrap(),
            error: error.to_owned(),
            kind: AadstsKind::from_code(code),
            codes: vec![code],
            description: format!("AADSTS{code}: Entra's text"),
            suberror: None,
            trace_id: Some("t".into()),
            correlation_id: None,
        })
    }

    fn body(e: &TokenError) -> serde_json::Value {
        let res: http::Response<Bytes> = e.to_response();
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        serde_json::from_slice(res.body()).unwrap()
    }

    #[test]
    fn claims_challenge_without_authority_has_no_authorization_uri() {
        let e = TokenError::ClaimsChallenge(ClaimsChallenge::new("{}"));
        assert_eq!(
            e.www_authenticate().unwrap(),
            r#"Bearer realm="", error="insufficient_claims", claims="e30=""#
        );
    }

    #[test]
    fn consent_required_is_403_naming_admin_consent_and_the_code() {
        let e = rejected(400, "invalid_grant", 65001);
        assert_eq!(
            (e.status(), e.code()),
            (StatusCode::FORBIDDEN, "consent_required")
        );
        assert!(e.www_authenticate().is_none());
        let detail = body(&e)["detail"].as_str().unwrap().to_owned();
        assert!(
            detail.contains("AADSTS65001") && detail.contains("admin consent"),
            "{detail}"
        );
    }

    #[test]
    fn configuration_refusals_are_500_with_a_generic_detail() {
        for e in [
            rejected(401, "invalid_client", 7_000_215),
            rejected(400, "invalid_scope", 70_011),
            TokenError::InvalidScopes {
                found: "api://secret-name/x".into(),
                expected: "e",
            },
            TokenError::OnBehalfOfUnsupported {
                credential: "PublicClient",
            },
        ] {
            assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR, "{e}");
            let b = body(&e);
            assert_eq!(b["code"], "configuration_error");
            assert_eq!(b["detail"], CONFIGURATION_DETAIL);
            assert_eq!(b["type"], "urn:entra-token:problem:configuration_error");
        }
    }

    #[test]
    fn transient_failures_are_503_or_504_saying_retry() {
        let server = rejected(503, "temporarily_unavailable", 0);
        assert_eq!(server.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(server.code(), "token_endpoint_unavailable");
        let timeout = TokenError::Timeout {
            after: Duration::from_secs(5),
        };
        assert_eq!(timeout.status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(body(&timeout)["detail"]
            .as_str()
            .unwrap()
            .contains("retry later"));
    }

    #[test]
    fn expired_assertion_is_401_invalid_token_with_description() {
        let e = TokenError::Assertion(AssertionError::Expired { ago_secs: 60 });
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
        let h = e.www_authenticate().unwrap();
        assert!(
            h.to_str()
                .unwrap()
                .starts_with(r#"Bearer error="invalid_token", error_description="on-behalf-of refused: the incoming token expired 60 s ago"#),
            "{h:?}"
        );
        let foreign = TokenError::Assertion(AssertionError::ForeignAudience {
            found: vec!["api://other".into()],
            expected: "api://mine-internal".into(),
        });
        assert!(!body(&foreign)["detail"]
            .as_str()
            .unwrap()
            .contains("mine-internal"));
    }
}
