//! The on-behalf-of input: the caller's access token ([`UserAssertion`]), checked before any
//! network call (shape, `exp`, a user rather than an app, this API's audience), with the SHA-256
//! that keys the cache, so one user's downstream token is never served for another.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::borrow::Cow;

use crate::error::{clip, AssertionError};

/// The incoming access token that on-behalf-of exchanges. `Debug` never shows it.
#[derive(Clone)]
pub struct UserAssertion {
    token: Arc<str>,
    hash: [u8; 32],
    expires_at: SystemTime,
    audiences: Arc<[String]>,
}

impl std::fmt::Debug for UserAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserAssertion")
            .field("token", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The claims the pre-checks read (borrowed from the decoded payload where possible).
#[derive(Deserialize)]
struct Payload<'a> {
    exp: Option<f64>,
    #[serde(default, borrow)]
    aud: Option<OneOrMany<'a>>,
    #[serde(default, borrow)]
    idtyp: Option<Cow<'a, str>>,
    #[serde(default)]
    scp: Option<IgnoredAny>,
    #[serde(default)]
    roles: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<'a> {
    #[serde(borrow)]
    One(Cow<'a, str>),
    Many(Vec<String>),
}

impl UserAssertion {
    /// The token that entra-auth validated, with its [`entra_auth::VerifiedClaims`]: the token
    /// must be the one those claims were verified from
    /// ([`VerifiedClaims::is_from_token`](entra_auth::VerifiedClaims::is_from_token)) and must
    /// not be app-only. The expiry and audiences come from the claims: the token is not decoded
    /// again.
    ///
    /// # Errors
    /// [`AssertionError::AppOnly`], [`AssertionError::NotTheVerifiedToken`].
    pub fn from_verified(
        claims: &entra_auth::VerifiedClaims,
        token: &str,
    ) -> Result<Self, AssertionError> {
        if claims.is_app_only() {
            return Err(AssertionError::AppOnly);
        }
        let token = token.trim();
        if !claims.is_from_token(token) {
            return Err(AssertionError::NotTheVerifiedToken);
        }
        Ok(Self::new(
            token,
            claims.expires_at(),
            claims.audiences().into(),
        ))
    }

    /// As [`from_verified`](Self::from_verified), taking the token from the request's
    /// `Authorization: Bearer` header with entra-auth's RFC 6750 scanner
    /// ([`VerifiedClaims::verified_token`](entra_auth::VerifiedClaims::verified_token)). In an
    /// axum handler, take the `OnBehalfOf` extractor instead (feature
    /// `axum`).
    ///
    /// # Errors
    /// [`AssertionError::AppOnly`]; [`AssertionError::NotTheVerifiedToken`] when the request has
    /// no bearer token or another one than the claims were verified from.
    pub fn from_verified_request(
        claims: &entra_auth::VerifiedClaims,
        headers: &http::HeaderMap,
    ) -> Result<Self, AssertionError> {
        if claims.is_app_only() {
            return Err(AssertionError::AppOnly);
        }
        let token = claims
            .verified_token(headers)
            .ok_or(AssertionError::NotTheVerifiedToken)?;
        Ok(Self::new(
            token,
            claims.expires_at(),
            claims.audiences().into(),
        ))
    }

    /// A raw incoming token (not verified here: the token endpoint checks its signature), checked
    /// for shape, `exp` and a user subject. The audience and expiry are checked again, against the
    /// client's configuration and clock, when the token is exchanged.
    ///
    /// # Errors
    /// [`AssertionError::Malformed`], [`AssertionError::MissingExpiry`],
    /// [`AssertionError::AppOnly`].
    pub fn parse(token: &str) -> Result<Self, AssertionError> {
        let token = token.trim();
        let bytes = decode(token)?;
        let p: Payload<'_> =
            serde_json::from_slice(&bytes).map_err(|_| AssertionError::Malformed)?;
        Self::from_payload(token, p)
    }

    fn from_payload(token: &str, p: Payload<'_>) -> Result<Self, AssertionError> {
        let exp = p.exp.ok_or(AssertionError::MissingExpiry)?;
        if !(0.0..=1e11).contains(&exp) {
            return Err(AssertionError::Malformed);
        }
        let app_only = match p.idtyp.as_deref() {
            Some("app") => true,
            Some(_) => false,
            None => p.scp.is_none() && p.roles.is_some(),
        };
        if app_only {
            return Err(AssertionError::AppOnly);
        }
        let audiences: Vec<String> = match p.aud {
            Some(OneOrMany::One(a)) => vec![a.into_owned()],
            Some(OneOrMany::Many(v)) => v,
            None => Vec::new(),
        };
        Ok(Self::new(
            token,
            UNIX_EPOCH + Duration::from_secs(exp as u64),
            audiences.into(),
        ))
    }

    /// The assertion `token`, with the SHA-256 that keys the cache.
    fn new(token: &str, expires_at: SystemTime, audiences: Arc<[String]>) -> Self {
        Self {
            token: Arc::from(token),
            hash: entra_core::crypto::sha256(token.as_bytes()),
            expires_at,
            audiences,
        }
    }

    /// When the incoming token expires.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// The least lifetime an incoming token must have left when it is sent to the token endpoint:
    /// a token expiring sooner would be found expired there (AADSTS500133) after the network
    /// time and any clock skew, so it is refused before the network with
    /// [`AssertionError::ExpiresTooSoon`]. A token already exchanged is served from the cache
    /// until it expires.
    pub const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

    /// The check made before the exchange goes to the network: at least
    /// [`EXPIRY_MARGIN`](Self::EXPIRY_MARGIN) left at `now`.
    pub(crate) fn check_exchange_margin(&self, now: SystemTime) -> Result<(), AssertionError> {
        match self.expires_at.duration_since(now) {
            Ok(left) if left >= Self::EXPIRY_MARGIN => Ok(()),
            Ok(left) => Err(AssertionError::ExpiresTooSoon {
                in_secs: left.as_secs(),
                margin_secs: Self::EXPIRY_MARGIN.as_secs(),
            }),
            Err(ago) => Err(AssertionError::Expired {
                ago_secs: ago.duration().as_secs(),
            }),
        }
    }

    /// SHA-256 of the token: what the cache key holds instead of the token.
    pub(crate) fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// The pre-checks made at exchange time: not expired at `now`, audience accepted.
    pub(crate) fn check(&self, now: SystemTime, accepted: &[String]) -> Result<(), AssertionError> {
        if let Ok(ago) = now.duration_since(self.expires_at) {
            return Err(AssertionError::Expired {
                ago_secs: ago.as_secs(),
            });
        }
        if !self.audiences.iter().any(|a| accepted.contains(a)) {
            return Err(AssertionError::ForeignAudience {
                found: self.audiences.iter().take(5).map(|a| clip(a)).collect(),
                expected: accepted.join(" or "),
            });
        }
        Ok(())
    }
}

/// The largest incoming token accepted, in bytes.
const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// The decoded payload bytes of a compact JWT.
fn decode(token: &str) -> Result<Vec<u8>, AssertionError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AssertionError::Malformed);
    };
    if h.is_empty() || s.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(AssertionError::Malformed);
    }
    URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|_| AssertionError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: serde_json::Value) -> String {
        format!(
            "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(payload.to_string())
        )
    }

    #[test]
    fn two_segments_are_malformed() {
        assert_eq!(
            UserAssertion::parse("abc.def").unwrap_err(),
            AssertionError::Malformed
        );
    }

    #[test]
    fn non_json_payload_is_malformed() {
        assert_eq!(
            UserAssertion::parse("a.bm90IGpzb24.c").unwrap_err(),
            AssertionError::Malformed
        );
    }

    #[test]
    fn app_only_token_is_refused() {
        let t = jwt(serde_json::json!({"exp": 2_000_000_000u64, "aud": "x", "roles": ["R"]}));
        assert_eq!(
            UserAssertion::parse(&t).unwrap_err(),
            AssertionError::AppOnly
        );
        let t = jwt(
            serde_json::json!({"exp": 2_000_000_000u64, "aud": "x", "idtyp": "app", "scp": "a"}),
        );
        assert_eq!(
            UserAssertion::parse(&t).unwrap_err(),
            AssertionError::AppOnly
        );
    }

    #[test]
    fn missing_exp_is_refused() {
        let t = jwt(serde_json::json!({"aud": "x", "scp": "a"}));
        assert_eq!(
            UserAssertion::parse(&t).unwrap_err(),
            AssertionError::MissingExpiry
        );
    }

    #[test]
    fn expired_and_foreign_are_found_by_check() {
        let t = jwt(serde_json::json!({"exp": 1_000u64, "aud": ["other"], "scp": "a"}));
        let a = UserAssertion::parse(&t).unwrap();
        let late = UNIX_EPOCH + Duration::from_secs(1_060);
        assert_eq!(
            a.check(late, &["api".into()]).unwrap_err(),
            AssertionError::Expired { ago_secs: 60 }
        );
        let early = UNIX_EPOCH + Duration::from_secs(10);
        let e = a.check(early, &["api".into()]).unwrap_err();
        assert!(matches!(e, AssertionError::ForeignAudience { .. }));
        assert_eq!(
            a.check(early, &["other".into()]),
            Ok(()),
            "an unexpired token for an accepted audience passes"
        );
    }

    #[test]
    fn debug_hides_the_token() {
        let t = jwt(serde_json::json!({"exp": 2_000_000_000u64, "aud": "x", "scp": "a"}));
        let a = UserAssertion::parse(&t).unwrap();
        assert!(!format!("{a:?}").contains(&t[20..40]));
    }
}
