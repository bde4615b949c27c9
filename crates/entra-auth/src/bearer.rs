//! The RFC 6750 extraction of a request's bearer token: entra-core's one scanner
//! ([`entra_core::bearer::BearerHeader`]), shared by the verified-token cache's fast path and the
//! full path, with its refusals as [`AuthError`]s.
//!
//! `BearerHeader::find` takes the one `Authorization` header and locates the token after
//! `Bearer` and its spaces without looking at the token's characters (no allocation). The
//! cache's fast path hashes those bytes (`BearerHeader::candidate`): only tokens that passed every
//! check are ever cached, so a hit proves the bytes well-formed. Everything else asks
//! `BearerHeader::token`, which checks the characters and, when something is off, says what.

use entra_core::bearer::{self as core, BearerError};
use http::HeaderMap;

use crate::error::{AuthError, InvalidRequestReason};

impl From<BearerError> for AuthError {
    fn from(e: BearerError) -> Self {
        let reason = match e {
            BearerError::Missing => return Self::MissingToken,
            BearerError::UnsupportedScheme { scheme } => return Self::UnsupportedScheme { scheme },
            BearerError::MultipleHeaders => InvalidRequestReason::MultipleAuthorizationHeaders,
            BearerError::TooLarge { max } => InvalidRequestReason::TooLarge { max },
            BearerError::EmptyToken => InvalidRequestReason::EmptyToken,
            _ => InvalidRequestReason::InvalidCharacters,
        };
        Self::InvalidRequest { reason }
    }
}

/// The request's one `Authorization` header, with the token located when the value has the
/// plain `Bearer <token>` shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BearerHeader<'a>(core::BearerHeader<'a>);

impl<'a> BearerHeader<'a> {
    /// The one `Authorization` header of `headers`, at most `max_len` bytes of token.
    ///
    /// # Errors
    /// [`AuthError::MissingToken`] (no header), [`AuthError::InvalidRequest`] (several headers,
    /// or a value larger than `Bearer ` plus `max_len`).
    pub(crate) fn find(headers: &'a HeaderMap, max_len: usize) -> Result<Self, AuthError> {
        core::BearerHeader::find(headers, max_len)
            .map(Self)
            .map_err(AuthError::from)
    }

    /// The located token bytes, characters not yet checked (for the cache lookup).
    pub(crate) fn candidate(&self) -> Option<&'a [u8]> {
        self.0.candidate()
    }

    /// The token: scheme `Bearer` in any case, then `token68` characters with optional trailing
    /// `=` (RFC 6750 §2.1).
    ///
    /// # Errors
    /// [`AuthError::UnsupportedScheme`] (another scheme) or [`AuthError::InvalidRequest`] (empty
    /// token, bad characters).
    pub(crate) fn token(&self) -> Result<&'a str, AuthError> {
        self.0.token().map_err(AuthError::from)
    }
}

/// Extracts the bearer token from the `Authorization` header (RFC 6750 §2.1): exactly one header,
/// scheme `Bearer` in any case, a token of `token68` characters, at most `max_len` bytes.
///
/// ```
/// use http::{header::AUTHORIZATION, HeaderMap};
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, "Bearer abc.def".parse().unwrap());
/// assert_eq!(entra_auth::bearer::bearer_token(&headers, 100).unwrap(), "abc.def");
/// ```
///
/// # Errors
/// [`AuthError::MissingToken`] (no header), [`AuthError::UnsupportedScheme`] (another scheme), or
/// [`AuthError::InvalidRequest`] (several headers, empty or oversize token, bad characters).
pub fn bearer_token(headers: &HeaderMap, max_len: usize) -> Result<&str, AuthError> {
    BearerHeader::find(headers, max_len)?.token()
}

/// Whether a query string carries an `access_token` parameter (RFC 6750 §2.3), which this
/// library refuses: tokens in URLs end up in logs, and a token must not be sent in two places.
pub(crate) fn has_access_token_param(query: &str) -> bool {
    query
        .split('&')
        .any(|pair| pair.split('=').next() == Some("access_token"))
}

#[cfg(test)]
mod tests {
    use http::{header, HeaderValue, StatusCode};

    use super::*;

    /// One `Authorization` header per value (collecting appends).
    fn headers(values: &[&str]) -> HeaderMap {
        values
            .iter()
            .map(|v| (header::AUTHORIZATION, HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn bearer_refusals_are_rfc6750_answers() {
        assert_eq!(bearer_token(&headers(&["bEaReR abc"]), 100).unwrap(), "abc");
        let big = format!("Bearer {}", "a".repeat(200));
        for (values, code, status) in [
            (vec![], "missing_token", StatusCode::UNAUTHORIZED),
            (
                vec!["Basic dXNlcjpwYXNz"],
                "unsupported_scheme",
                StatusCode::UNAUTHORIZED,
            ),
            (
                vec!["Bearer a", "Bearer b"],
                "invalid_request",
                StatusCode::BAD_REQUEST,
            ),
            (vec!["Bearer "], "invalid_request", StatusCode::BAD_REQUEST),
            (
                vec!["Bearer a,b"],
                "invalid_request",
                StatusCode::BAD_REQUEST,
            ),
            (
                vec![big.as_str()],
                "invalid_request",
                StatusCode::BAD_REQUEST,
            ),
        ] {
            let e = bearer_token(&headers(&values), 100).unwrap_err();
            assert_eq!((e.code(), e.status()), (code, status), "{values:?}: {e}");
        }
        // a bare token is not echoed back as a "scheme"
        let e = bearer_token(
            &headers(&["eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"]),
            100,
        )
        .unwrap_err();
        assert!(!e.to_string().contains("eyJ"), "{e}");
    }

    #[test]
    fn candidate_is_located_without_character_checks() {
        let h = headers(&["bearer   a,b"]);
        let found = BearerHeader::find(&h, 100).unwrap();
        assert_eq!(found.candidate(), Some(&b"a,b"[..]));
        assert_eq!(found.token().unwrap_err().code(), "invalid_request");
        let h = headers(&["Basic abc"]);
        assert_eq!(BearerHeader::find(&h, 100).unwrap().candidate(), None);
    }

    #[test]
    fn access_token_query_parameter_is_found_by_name_only() {
        assert!(has_access_token_param("a=1&access_token=x"));
        assert!(has_access_token_param("access_token"));
        assert!(!has_access_token_param("my_access_token=x&b=2"));
    }
}
