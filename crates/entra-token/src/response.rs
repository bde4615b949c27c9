//! The token endpoint's answers, parsed without I/O: a token response (`access_token`,
//! `expires_in`, `refresh_in`) or an Entra error body (`error`, `error_description`,
//! `error_codes`, `claims`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::StatusCode;
use serde::Deserialize;

use crate::error::{AadstsError, AadstsKind, ClaimsChallenge, TokenError};
use crate::token::AccessToken;

/// The longest lifetime accepted from a token response (Entra's maximum is 24 h); longer values
/// are capped so that a broken endpoint cannot pin a token in the cache for years.
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

#[derive(Deserialize)]
struct Success {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    expires_in: NumberOrString,
    #[serde(default)]
    refresh_in: Option<NumberOrString>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// A token response with what a public client keeps besides the access token.
pub(crate) struct Tokens {
    pub(crate) access: AccessToken,
    /// The new refresh token (`offline_access`): it replaces the old one.
    pub(crate) refresh_token: Option<String>,
    pub(crate) id_token: Option<String>,
    /// The scopes granted.
    pub(crate) scope: Option<String>,
}

#[derive(Deserialize)]
struct Failure {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u64>,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    claims: Option<String>,
    #[serde(default)]
    suberror: Option<String>,
}

/// v1 endpoints send numbers as strings.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum NumberOrString {
    Number(u64),
    String(String),
}

impl NumberOrString {
    pub(crate) fn seconds(&self) -> Option<u64> {
        match self {
            Self::Number(n) => Some(*n),
            Self::String(s) => s.trim().parse().ok(),
        }
    }
}

/// When to refresh a token living `lifetime`: after `refresh_in` when the answer has a usable one,
/// else after half the lifetime.
pub(crate) fn refresh_after(refresh_in: Option<&NumberOrString>, lifetime: Duration) -> Duration {
    refresh_in
        .and_then(NumberOrString::seconds)
        .map(Duration::from_secs)
        .filter(|r| !r.is_zero() && *r < lifetime)
        .unwrap_or(lifetime / 2)
}

/// Turns an answer into a token (issued at `now`) or a typed error.
pub(crate) fn parse(
    status: StatusCode,
    body: &[u8],
    now: SystemTime,
) -> Result<AccessToken, TokenError> {
    parse_tokens(status, body, now).map(|t| t.access)
}

/// Like [`parse`], keeping the refresh token, the ID token and the granted scopes.
pub(crate) fn parse_tokens(
    status: StatusCode,
    body: &[u8],
    now: SystemTime,
) -> Result<Tokens, TokenError> {
    if status.is_success() {
        return parse_success(status, body, now);
    }
    Err(parse_error(status, body))
}

/// An error answer (any endpoint of the authority): the Entra error body, typed.
pub(crate) fn parse_error(status: StatusCode, body: &[u8]) -> TokenError {
    let failure: Result<Failure, TokenError> =
        serde_json::from_slice(body).map_err(|_| TokenError::InvalidResponse {
            status,
            reason: if status.is_server_error() {
                "a server error without an OAuth error body"
            } else {
                "an error status without an OAuth error body (error, error_description)"
            },
        });
    match failure {
        Ok(f) => f.into_error(status),
        Err(e) => e,
    }
}

fn parse_success(status: StatusCode, body: &[u8], now: SystemTime) -> Result<Tokens, TokenError> {
    let ok: Success = serde_json::from_slice(body).map_err(|_| TokenError::InvalidResponse {
        status,
        reason: "not a token response (JSON with access_token and expires_in)",
    })?;
    if !ok
        .token_type
        .as_deref()
        .is_none_or(|t| t.eq_ignore_ascii_case("bearer"))
    {
        return Err(TokenError::InvalidResponse {
            status,
            reason: "token_type is not Bearer",
        });
    }
    let token = ok.access_token.trim();
    let printable = token.bytes().all(|b| b.is_ascii_graphic());
    if token.is_empty() || !printable {
        return Err(TokenError::InvalidResponse {
            status,
            reason: "access_token is empty or not printable ASCII",
        });
    }
    let lifetime =
        ok.expires_in
            .seconds()
            .filter(|s| *s > 0)
            .ok_or(TokenError::InvalidResponse {
                status,
                reason: "expires_in is missing, zero or not a number",
            })?;
    let lifetime = Duration::from_secs(lifetime).min(MAX_LIFETIME);
    let refresh_in = refresh_after(ok.refresh_in.as_ref(), lifetime);
    let printable_or_none =
        |v: Option<String>| v.filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()));
    Ok(Tokens {
        access: AccessToken::new(Arc::from(token), now + lifetime, now + refresh_in),
        refresh_token: printable_or_none(ok.refresh_token),
        id_token: printable_or_none(ok.id_token),
        scope: ok.scope,
    })
}

impl Failure {
    fn into_error(self, status: StatusCode) -> TokenError {
        let description = self.error_description.unwrap_or_default();
        let mut codes = self.error_codes;
        if codes.is_empty() {
            if let Some(code) = leading_code(&description) {
                codes.push(code);
            }
        }
        let claims = self.claims.filter(|c| !c.trim().is_empty());
        if let Some(claims) = claims {
            if matches!(
                self.error.as_str(),
                "interaction_required" | "invalid_grant"
            ) {
                return TokenError::ClaimsChallenge(ClaimsChallenge::with_code(
                    claims,
                    codes.first().copied(),
                ));
            }
        }
        let kind = codes
            .iter()
            .map(|c| AadstsKind::from_code(*c))
            .find(|k| *k != AadstsKind::Other)
            .unwrap_or(match self.error.as_str() {
                "consent_required" => AadstsKind::ConsentRequired,
                "invalid_scope" => AadstsKind::InvalidScope,
                _ => AadstsKind::Other,
            });
        TokenError::from(AadstsError {
            status,
            error: crate::error::clip(&self.error),
            kind,
            codes,
            description: crate::error::clip(&description),
            suberror: self.suberror.as_deref().map(crate::error::clip),
            trace_id: self.trace_id,
            correlation_id: self.correlation_id,
        })
    }
}

/// `AADSTS7000215: Invalid client secret...` -> 7000215.
fn leading_code(description: &str) -> Option<u64> {
    let rest = description.trim_start().strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)
    }

    #[test]
    fn success_with_refresh_in_sets_refresh_time() {
        let t = parse(
            StatusCode::OK,
            br#"{"token_type":"Bearer","expires_in":3599,"refresh_in":1800,"access_token":"abc.def.ghi"}"#,
            now(),
        )
        .unwrap();
        assert_eq!(t.secret(), "abc.def.ghi");
        assert_eq!(t.expires_at(), now() + Duration::from_secs(3599));
        assert_eq!(t.refresh_at(), now() + Duration::from_secs(1800));
    }

    #[test]
    fn success_without_refresh_in_refreshes_at_half_life() {
        let t = parse(
            StatusCode::OK,
            br#"{"token_type":"Bearer","expires_in":"3600","access_token":"x"}"#,
            now(),
        )
        .unwrap();
        assert_eq!(t.refresh_at(), now() + Duration::from_secs(1800));
    }

    #[test]
    fn success_keeps_refresh_token_id_token_and_granted_scope() {
        let t = parse_tokens(
            StatusCode::OK,
            br#"{"token_type":"Bearer","expires_in":3599,"access_token":"a","refresh_token":"r1","id_token":"h.p.s","scope":"api://x/read"}"#,
            now(),
        )
        .unwrap();
        assert_eq!(t.access.secret(), "a");
        assert_eq!(t.refresh_token.as_deref(), Some("r1"));
        assert_eq!(t.id_token.as_deref(), Some("h.p.s"));
        assert_eq!(t.scope.as_deref(), Some("api://x/read"));
    }

    #[test]
    fn success_without_expires_in_is_invalid_response() {
        let e = parse(StatusCode::OK, br#"{"access_token":"x"}"#, now()).unwrap_err();
        assert!(matches!(e, TokenError::InvalidResponse { .. }), "{e}");
    }

    #[test]
    fn html_error_page_is_invalid_response_naming_status() {
        let e = parse(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>", now()).unwrap_err();
        assert!(e.is_transient());
        assert_eq!(
            e.to_string(),
            "the token endpoint answered 502 Bad Gateway with an unusable body: a server error without an OAuth error body"
        );
    }

    #[test]
    fn invalid_secret_body_is_explained() {
        let e = parse(
            StatusCode::UNAUTHORIZED,
            br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215],"trace_id":"t1","correlation_id":"c1"}"#,
            now(),
        )
        .unwrap_err();
        let TokenError::Rejected(a) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(a.kind, AadstsKind::InvalidClientSecret);
        assert_eq!(a.trace_id.as_deref(), Some("t1"));
        assert!(e.to_string().contains("AADSTS7000215"), "{e}");
        assert!(e.to_string().contains("secret's value (not its id)"), "{e}");
    }

    #[test]
    fn code_is_read_from_description_when_error_codes_missing() {
        let e = parse(
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_grant","error_description":"AADSTS65001: The user or administrator has not consented"}"#,
            now(),
        )
        .unwrap_err();
        let TokenError::Rejected(a) = e else { panic!() };
        assert_eq!(
            (a.kind, a.codes.as_slice()),
            (AadstsKind::ConsentRequired, &[65001][..])
        );
    }

    #[test]
    fn interaction_required_with_claims_is_challenge() {
        let e = parse(
            StatusCode::BAD_REQUEST,
            br#"{"error":"interaction_required","error_description":"AADSTS50079: MFA","error_codes":[50079],"claims":"{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"p1\"]}}}"}"#,
            now(),
        )
        .unwrap_err();
        let c = e.claims_challenge().unwrap();
        assert_eq!(c.aadsts_code(), Some(50079));
        assert!(c.claims().contains("capolids"));
    }
}
