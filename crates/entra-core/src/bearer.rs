//! THE RFC 6750 §2.1 extraction: the bearer token of a request's `Authorization` header, found
//! by one scanner shared by a cache's fast path and the full path.
//!
//! [`BearerHeader::find`] takes the one `Authorization` header and locates the token after
//! `Bearer` and its spaces without looking at the token's characters (no allocation): a cache
//! that only ever stores tokens that passed every check can hash those bytes
//! ([`BearerHeader::candidate`]), since a hit proves them well-formed. Everything else asks
//! [`BearerHeader::token`], which checks the characters (one table lookup per byte) and, when
//! something is off, says what.

use http::{header, HeaderMap, HeaderValue};

/// Why a request has no usable bearer token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BearerError {
    /// No `Authorization` header.
    #[error("the request has no Authorization header")]
    Missing,
    /// More than one `Authorization` header.
    #[error("the request has more than one Authorization header; send exactly one")]
    MultipleHeaders,
    /// The header is larger than the cap.
    #[error("the Authorization header is larger than {max} bytes of token")]
    TooLarge {
        /// The cap in bytes.
        max: usize,
    },
    /// Another scheme than `Bearer` (named only when it looks like a scheme, so that a bare
    /// token is never echoed).
    #[error("the Authorization scheme is {scheme}, expected Bearer")]
    UnsupportedScheme {
        /// The scheme, or `<unrecognised>`.
        scheme: String,
    },
    /// `Bearer` without a token.
    #[error("the Authorization header says Bearer but has no token")]
    EmptyToken,
    /// Characters outside RFC 6750's `b64token` (`token68`).
    #[error("the bearer token contains characters outside the RFC 6750 token68 set (letters, digits, -._~+/ and trailing =)")]
    InvalidCharacters,
}

/// `token68` characters (RFC 7235), `=` excepted (only allowed as trailing padding).
const TOKEN68: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        c += 1;
    }
    t
};

/// The request's one `Authorization` header, with the token located when the value has the
/// plain `Bearer <token>` shape.
#[derive(Debug, Clone, Copy)]
pub struct BearerHeader<'a> {
    value: &'a HeaderValue,
    /// The bytes after a case-insensitive `Bearer ` and its spaces, when non-empty: the token if
    /// its characters are right (not yet checked).
    candidate: Option<&'a [u8]>,
}

impl<'a> BearerHeader<'a> {
    /// The one `Authorization` header of `headers`, at most `max_len` bytes of token.
    ///
    /// # Errors
    /// [`BearerError::Missing`], [`BearerError::MultipleHeaders`], [`BearerError::TooLarge`]
    /// (a value larger than `Bearer ` plus `max_len`).
    pub fn find(headers: &'a HeaderMap, max_len: usize) -> Result<Self, BearerError> {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let value = values.next().ok_or(BearerError::Missing)?;
        if values.next().is_some() {
            return Err(BearerError::MultipleHeaders);
        }
        let bytes = value.as_bytes();
        if bytes.len() > max_len.saturating_add("Bearer ".len()) {
            return Err(BearerError::TooLarge { max: max_len });
        }
        let candidate = bytes
            .get(..7)
            .filter(|s| s.eq_ignore_ascii_case(b"bearer "))
            .map(|_| &bytes[7..])
            .and_then(|rest| rest.iter().position(|c| *c != b' ').map(|i| &rest[i..]));
        Ok(Self { value, candidate })
    }

    /// The located token bytes, characters not yet checked (for a cache lookup), if the value
    /// has the `Bearer <token>` shape (at most `max_len` bytes, as the whole value is).
    pub fn candidate(&self) -> Option<&'a [u8]> {
        self.candidate
    }

    /// The token: scheme `Bearer` in any case, then `token68` characters with optional trailing
    /// `=` (RFC 6750 §2.1).
    ///
    /// # Errors
    /// [`BearerError::UnsupportedScheme`], [`BearerError::EmptyToken`],
    /// [`BearerError::InvalidCharacters`].
    pub fn token(&self) -> Result<&'a str, BearerError> {
        if let Some(token) = self.candidate.and_then(well_formed) {
            return Ok(token);
        }
        self.explain()
    }

    /// Something is off: the checks below say what, in order.
    fn explain(&self) -> Result<&'a str, BearerError> {
        let value = self
            .value
            .to_str()
            .map_err(|_| BearerError::InvalidCharacters)?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            // Name the scheme only when it looks like one (a bare token must not be echoed).
            let looks_like_scheme = scheme.len() <= 16
                && scheme
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-');
            return Err(BearerError::UnsupportedScheme {
                scheme: if looks_like_scheme {
                    scheme.to_owned()
                } else {
                    "<unrecognised>".to_owned()
                },
            });
        }
        let token = rest.trim_start_matches(' ');
        if token.is_empty() {
            return Err(BearerError::EmptyToken);
        }
        well_formed(token.as_bytes()).ok_or(BearerError::InvalidCharacters)
    }
}

/// `bytes` as text when they are `token68` characters with optional trailing `=`.
fn well_formed(bytes: &[u8]) -> Option<&str> {
    let body_len = bytes.len() - bytes.iter().rev().take_while(|c| **c == b'=').count();
    let body = &bytes[..body_len];
    if body.is_empty() || !body.iter().all(|c| TOKEN68[usize::from(*c)]) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// The bearer token of the `Authorization` header (RFC 6750 §2.1): exactly one header, scheme
/// `Bearer` in any case, a token of `token68` characters, at most `max_len` bytes.
///
/// ```
/// use http::{header::AUTHORIZATION, HeaderMap};
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, "Bearer abc.def".parse().unwrap());
/// assert_eq!(entra_core::bearer::bearer_token(&headers, 100).unwrap(), "abc.def");
/// ```
///
/// # Errors
/// As [`BearerHeader::find`] and [`BearerHeader::token`].
pub fn bearer_token(headers: &HeaderMap, max_len: usize) -> Result<&str, BearerError> {
    BearerHeader::find(headers, max_len)?.token()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_extraction_follows_rfc6750() {
        assert_eq!(
            bearer_token(&headers(&["Bearer abc.def-_~+/="]), 100).unwrap(),
            "abc.def-_~+/="
        );
        assert_eq!(bearer_token(&headers(&["bEaReR abc"]), 100).unwrap(), "abc");
        assert_eq!(
            bearer_token(&headers(&["Bearer    abc"]), 100).unwrap(),
            "abc"
        );
        assert_eq!(
            bearer_token(&headers(&[]), 100).unwrap_err(),
            BearerError::Missing
        );
        assert_eq!(
            bearer_token(&headers(&["Basic dXNlcjpwYXNz"]), 100).unwrap_err(),
            BearerError::UnsupportedScheme {
                scheme: "Basic".into()
            }
        );
        // a bare token is not echoed back as a "scheme"
        let e = bearer_token(
            &headers(&["eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"]),
            100,
        )
        .unwrap_err();
        assert_eq!(
            e,
            BearerError::UnsupportedScheme {
                scheme: "<unrecognised>".into()
            }
        );
        for (bad, expected) in [
            (vec!["Bearer a", "Bearer b"], BearerError::MultipleHeaders),
            (vec!["Bearer"], BearerError::EmptyToken),
            (vec!["Bearer "], BearerError::EmptyToken),
            (vec!["Bearer a b"], BearerError::InvalidCharacters),
            (vec!["Bearer a,b"], BearerError::InvalidCharacters),
            (vec!["Bearer =abc"], BearerError::InvalidCharacters),
        ] {
            assert_eq!(
                bearer_token(&headers(&bad), 100).unwrap_err(),
                expected,
                "{bad:?}"
            );
        }
        let big = format!("Bearer {}", "a".repeat(200));
        assert_eq!(
            bearer_token(&headers(&[&big]), 100).unwrap_err(),
            BearerError::TooLarge { max: 100 }
        );
    }

    #[test]
    fn candidate_is_located_without_character_checks() {
        let h = headers(&["bearer   a,b"]);
        let found = BearerHeader::find(&h, 100).unwrap();
        assert_eq!(found.candidate(), Some(&b"a,b"[..]));
        assert_eq!(found.token().unwrap_err(), BearerError::InvalidCharacters);
        let h = headers(&["Basic abc"]);
        assert_eq!(BearerHeader::find(&h, 100).unwrap().candidate(), None);
    }
}
