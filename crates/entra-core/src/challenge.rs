//! `WWW-Authenticate` challenges: THE parser ([`parse`], RFC 7235 §4.1 with RFC 9110's
//! auth-params: several challenges in one header, `token68`, quoted-string escapes) and THE
//! formatter of Bearer challenges ([`BearerChallenge`], RFC 6750 §3).

use std::fmt;

use http::HeaderValue;

/// One challenge of a `WWW-Authenticate` header: its scheme and either a `token68` or
/// auth-params (names kept as sent, values unquoted).
///
/// ```
/// let all = entra_core::challenge::parse(
///     r#"Basic realm="x", Bearer error="insufficient_claims", claims="eyJ9""#,
/// )?;
/// let bearer = all.iter().find(|c| c.is_scheme("bearer")).unwrap();
/// assert_eq!(bearer.param("ERROR"), Some("insufficient_claims"));
/// assert_eq!(bearer.param("claims"), Some("eyJ9"));
/// # Ok::<(), entra_core::challenge::ChallengeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    scheme: String,
    token68: Option<String>,
    params: Vec<(String, String)>,
}

impl Challenge {
    /// The scheme as sent (`Bearer`).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// Whether the scheme is `scheme` (schemes are case-insensitive).
    pub fn is_scheme(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// The `token68` form's value (`Negotiate abc==`), if the challenge has one.
    pub fn token68(&self) -> Option<&str> {
        self.token68.as_deref()
    }

    /// The first parameter named `name` (names are case-insensitive), unquoted.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter in order: name as sent, value unquoted.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Why a `WWW-Authenticate` value could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// The value breaks RFC 7235's grammar at byte `at`.
    #[error("malformed WWW-Authenticate value at byte {at}: expected {expected}")]
    Malformed {
        /// The byte offset.
        at: usize,
        /// What the grammar expected there.
        expected: &'static str,
    },
}

/// The challenges of one `WWW-Authenticate` value, in order.
///
/// # Errors
/// [`ChallengeError::Malformed`] when the value breaks the grammar (an unterminated quoted
/// string, a parameter without a value, text where a comma belongs).
pub fn parse(value: &str) -> Result<Vec<Challenge>, ChallengeError> {
    let mut s = Scanner {
        b: value.as_bytes(),
        at: 0,
    };
    let mut out = Vec::new();
    loop {
        s.skip_list_separators();
        if s.at_end() {
            return Ok(out);
        }
        let scheme = s.token();
        if scheme.is_empty() {
            return Err(s.malformed("an auth-scheme"));
        }
        let mut challenge = Challenge {
            scheme: scheme.to_owned(),
            token68: None,
            params: Vec::new(),
        };
        let spaces = s.skip_spaces();
        if s.at_end() || s.peek() == Some(b',') {
            out.push(challenge);
            continue;
        }
        if spaces == 0 {
            return Err(s.malformed("a space after the auth-scheme"));
        }
        if s.param_ahead() {
            loop {
                let (name, value) = s.param()?;
                challenge.params.push((name, value));
                s.skip_spaces();
                if s.at_end() {
                    break;
                }
                if s.peek() != Some(b',') {
                    return Err(s.malformed("a comma between parameters"));
                }
                s.skip_list_separators();
                if !s.param_ahead() {
                    break;
                }
            }
        } else {
            let t = s.token68();
            if t.is_empty() {
                return Err(s.malformed("a token68 or an auth-param"));
            }
            challenge.token68 = Some(t.to_owned());
            s.skip_spaces();
            if !s.at_end() && s.peek() != Some(b',') {
                return Err(s.malformed("a comma after the token68"));
            }
        }
        out.push(challenge);
    }
}

/// The challenges of every `WWW-Authenticate` header of `headers`, in order; values that are
/// not text or break the grammar are skipped.
pub fn parse_headers(headers: &http::HeaderMap) -> Vec<Challenge> {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| parse(v).ok())
        .flatten()
        .collect()
}

/// RFC 9110 `tchar`.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// RFC 7235 `token68` characters (before the `=` padding).
fn is_token68(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~+/".contains(&c)
}

struct Scanner<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn at_end(&self) -> bool {
        self.at >= self.b.len()
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn malformed(&self, expected: &'static str) -> ChallengeError {
        ChallengeError::Malformed {
            at: self.at,
            expected,
        }
    }

    fn skip_spaces(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
        self.at - start
    }

    /// Commas and whitespace between list elements (RFC 9110 allows empty elements).
    fn skip_list_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.at += 1;
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.at;
        while self.peek().is_some_and(&f) {
            self.at += 1;
        }
        // Only ASCII bytes were taken, so the slice is on character boundaries.
        std::str::from_utf8(&self.b[start..self.at]).unwrap_or_default()
    }

    fn token(&mut self) -> &'a str {
        self.take_while(is_tchar)
    }

    fn token68(&mut self) -> &'a str {
        let start = self.at;
        self.take_while(is_token68);
        if self.at == start {
            return "";
        }
        self.take_while(|c| c == b'=');
        std::str::from_utf8(&self.b[start..self.at]).unwrap_or_default()
    }

    /// Whether an auth-param (`token BWS "=" BWS (token / quoted-string)`) starts here, rather
    /// than a `token68` or the next challenge's scheme.
    fn param_ahead(&self) -> bool {
        let mut probe = Scanner {
            b: self.b,
            at: self.at,
        };
        if probe.token().is_empty() {
            return false;
        }
        probe.skip_spaces();
        if probe.peek() != Some(b'=') {
            return false;
        }
        probe.at += 1;
        probe.skip_spaces();
        probe.peek().is_some_and(|c| c == b'"' || is_tchar(c))
    }

    fn param(&mut self) -> Result<(String, String), ChallengeError> {
        let name = self.token().to_owned();
        self.skip_spaces();
        // param_ahead saw the '='
        self.at += 1;
        self.skip_spaces();
        let value = if self.peek() == Some(b'"') {
            self.quoted_string()?
        } else {
            self.token().to_owned()
        };
        Ok((name, value))
    }

    /// A quoted-string, unescaped (`\x` is `x`).
    fn quoted_string(&mut self) -> Result<String, ChallengeError> {
        let open = self.at;
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => {
                    self.at = open;
                    return Err(self.malformed("a closing quote"));
                }
                Some(b'"') => {
                    self.at += 1;
                    break;
                }
                Some(b'\\') => {
                    self.at += 1;
                    let Some(c) = self.peek() else {
                        self.at = open;
                        return Err(self.malformed("a closing quote"));
                    };
                    out.push(c);
                    self.at += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.at += 1;
                }
            }
        }
        // The input is a &str and an escape only drops a backslash, so this is valid UTF-8
        // unless an escape split a multi-byte character; then it is replaced.
        Ok(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into()))
    }
}

/// A Bearer challenge to send (RFC 6750 §3), formatted by
/// [`to_header_value`](Self::to_header_value): parameters in this order, each a quoted string.
///
/// ```
/// use entra_core::challenge::BearerChallenge;
/// let c = BearerChallenge {
///     error: Some("insufficient_scope"),
///     scope: Some("weather.read".into()),
///     ..BearerChallenge::default()
/// };
/// assert_eq!(c.to_header_value(), r#"Bearer error="insufficient_scope", scope="weather.read""#);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    /// `realm`.
    pub realm: Option<String>,
    /// `authorization_uri`: where a Microsoft client signs in again (claims challenges).
    pub authorization_uri: Option<String>,
    /// `error`: `invalid_request`, `invalid_token`, `insufficient_scope`, `insufficient_claims`.
    pub error: Option<&'static str>,
    /// `error_description` (at most 512 characters are sent).
    pub description: Option<String>,
    /// `scope`: the scopes that would do, space-separated.
    pub scope: Option<String>,
    /// `claims`: the base64 claims request, always sent whole.
    pub claims: Option<String>,
}

impl BearerChallenge {
    /// The header value, e.g. `Bearer error="invalid_token", error_description="token expired"`.
    pub fn to_header_value(&self) -> HeaderValue {
        let value = self.to_string();
        // `quote` only emits visible ASCII and spaces, so this cannot fail.
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }
}

impl fmt::Display for BearerChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params = [
            ("realm", self.realm.as_deref(), 512),
            ("authorization_uri", self.authorization_uri.as_deref(), 2048),
            ("error", self.error, 512),
            ("error_description", self.description.as_deref(), 512),
            ("scope", self.scope.as_deref(), 512),
            // base64: never truncated (a cut claims request is useless to the client)
            ("claims", self.claims.as_deref(), usize::MAX),
        ];
        f.write_str("Bearer")?;
        let mut sep = " ";
        for (name, value, max) in params {
            if let Some(value) = value {
                write!(f, "{sep}{name}={}", quote_limited(value, max))?;
                sep = ", ";
            }
        }
        Ok(())
    }
}

/// An RFC 9110 quoted-string: `"` and `\` are backslash-escaped; control characters and
/// non-ASCII characters (not allowed by RFC 6750) become `?`; at most 512 characters.
pub fn quote(s: &str) -> String {
    quote_limited(s, 512)
}

fn quote_limited(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars) + 2);
    out.push('"');
    for c in s.chars().take(max_chars) {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(v: &str) -> Challenge {
        let mut all = parse(v).unwrap();
        assert_eq!(all.len(), 1, "{v}: {all:?}");
        all.remove(0)
    }

    #[test]
    fn bare_challenge_has_no_parameters() {
        assert_eq!(BearerChallenge::default().to_header_value(), "Bearer");
    }

    #[test]
    fn parameters_are_comma_separated_and_quoted() {
        let c = BearerChallenge {
            realm: Some("api".into()),
            error: Some("insufficient_scope"),
            description: Some("need \"weather.read\" \\ ok".into()),
            scope: Some("weather.read weather.write".into()),
            ..BearerChallenge::default()
        };
        assert_eq!(
            c.to_header_value(),
            r#"Bearer realm="api", error="insufficient_scope", error_description="need \"weather.read\" \\ ok", scope="weather.read weather.write""#
        );
    }

    #[test]
    fn claims_challenge_carries_authorization_uri_in_microsofts_order() {
        let c = BearerChallenge {
            realm: Some(String::new()),
            authorization_uri: Some(
                "https://login.microsoftonline.com/common/oauth2/authorize".into(),
            ),
            error: Some("insufficient_claims"),
            claims: Some("eyJ9".into()),
            ..BearerChallenge::default()
        };
        assert_eq!(
            c.to_string(),
            r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="eyJ9""#
        );
    }

    #[test]
    fn control_and_non_ascii_characters_are_replaced() {
        assert_eq!(quote("a\r\nb\u{e9}"), "\"a??b?\"");
        let long = "x".repeat(2000);
        assert_eq!(quote(&long).len(), 514);
    }

    #[test]
    fn long_claims_request_is_never_truncated() {
        let claims = "Q".repeat(2000);
        let c = BearerChallenge {
            error: Some("insufficient_claims"),
            claims: Some(claims.clone()),
            ..BearerChallenge::default()
        };
        let v = c.to_header_value();
        assert!(v
            .to_str()
            .unwrap()
            .ends_with(&format!("claims=\"{claims}\"")));
    }

    #[test]
    fn graph_style_claims_challenge_is_parsed() {
        let c = one(
            r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnt9fQ==""#,
        );
        assert!(c.is_scheme("bearer"));
        assert_eq!(c.param("realm"), Some(""));
        assert_eq!(c.param("error"), Some("insufficient_claims"));
        assert_eq!(c.param("claims"), Some("eyJhY2Nlc3NfdG9rZW4iOnt9fQ=="));
        assert_eq!(c.token68(), None);
    }

    #[test]
    fn quoted_values_keep_commas_and_escapes() {
        let c = one(r#"Bearer  a="x, \"y\"" , b=z,c = "\\""#);
        assert_eq!(
            c.params().collect::<Vec<_>>(),
            [("a", "x, \"y\""), ("b", "z"), ("c", "\\")]
        );
    }

    #[test]
    fn several_challenges_in_one_header_are_split() {
        let all = parse(r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple", Negotiate abc==, Bearer"#).unwrap();
        let schemes: Vec<&str> = all.iter().map(Challenge::scheme).collect();
        assert_eq!(schemes, ["Newauth", "Basic", "Negotiate", "Bearer"]);
        assert_eq!(all[0].param("title"), Some("Login to \"apps\""));
        assert_eq!(all[0].param("type"), Some("1"));
        assert_eq!(all[1].param("realm"), Some("simple"));
        assert_eq!(all[2].token68(), Some("abc=="));
        assert_eq!(all[3].params().count(), 0);
    }

    #[test]
    fn formatted_challenges_parse_back_to_their_values() {
        let c = BearerChallenge {
            realm: Some("r".into()),
            error: Some("invalid_token"),
            description: Some(r#"the "aud" is \ wrong, see docs"#.into()),
            scope: Some("a b".into()),
            ..BearerChallenge::default()
        };
        let back = one(&c.to_string());
        assert_eq!(back.param("realm"), Some("r"));
        assert_eq!(
            back.param("error_description"),
            Some(r#"the "aud" is \ wrong, see docs"#)
        );
        assert_eq!(back.param("scope"), Some("a b"));
    }

    #[test]
    fn malformed_values_are_refused_with_the_position() {
        for (v, at) in [
            (r#"Bearer error="unterminated"#, 13),
            ("Bearer a=b c=d", 11),
            ("=x", 0),
            ("Bearer abc def", 11),
        ] {
            assert!(
                matches!(parse(v), Err(ChallengeError::Malformed { at: a, .. }) if a == at),
                "{v}: {:?}",
                parse(v)
            );
        }
        assert_eq!(parse("").unwrap(), []);
        assert_eq!(parse(" , ").unwrap(), []);
    }

    #[test]
    fn headers_with_garbage_values_are_skipped() {
        let mut h = http::HeaderMap::new();
        h.append(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer x=\"open"),
        );
        h.append(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        let all = parse_headers(&h);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].param("error"), Some("invalid_token"));
    }
}

#[cfg(test)]
mod proptests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn any_description_yields_a_valid_header(desc in "\\PC{0,300}", scope in "[!#-\\[\\]-~]{1,30}") {
            let c = BearerChallenge {
                error: Some("invalid_token"),
                description: Some(desc.clone()),
                scope: Some(scope.clone()),
                ..BearerChallenge::default()
            };
            let v = c.to_header_value();
            let s = v.to_str().unwrap();
            assert!(s.starts_with("Bearer error=\"invalid_token\", error_description=\""));
            assert!(s.ends_with(&format!("scope={}", quote(&scope))), "{s}");
            if desc.chars().all(|ch| (' '..='~').contains(&ch) && ch != '"' && ch != '\\') && desc.len() <= 512 {
                assert!(s.contains(&desc));
            }
            let back = parse(s).unwrap();
            assert_eq!(back.len(), 1);
            assert_eq!(back[0].param("scope"), Some(scope.as_str()));
        }

        #[test]
        fn parse_never_panics(v in "\\PC{0,200}") {
            let _ = parse(&v);
        }
    }
}
