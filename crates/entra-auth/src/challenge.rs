//! `WWW-Authenticate: Bearer ...` formatting (RFC 6750 §3) with quoted-string escaping.

use http::HeaderValue;

/// A Bearer challenge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) realm: Option<String>,
    pub(crate) error: Option<&'static str>,
    pub(crate) description: Option<String>,
    pub(crate) scope: Option<String>,
    pub(crate) claims: Option<String>,
}

impl Challenge {
    /// The header value, e.g. `Bearer error="invalid_token", error_description="token expired"`.
    pub(crate) fn to_header_value(&self) -> HeaderValue {
        let mut params = Vec::new();
        if let Some(realm) = &self.realm {
            params.push(format!("realm={}", quote(realm)));
        }
        if let Some(error) = self.error {
            params.push(format!("error={}", quote(error)));
        }
        if let Some(d) = &self.description {
            params.push(format!("error_description={}", quote(d)));
        }
        if let Some(s) = &self.scope {
            params.push(format!("scope={}", quote(s)));
        }
        if let Some(c) = &self.claims {
            // base64: never truncated (a cut claims request is useless to the client)
            params.push(format!("claims={}", quote_all(c)));
        }
        let value = if params.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", params.join(", "))
        };
        // `quote` only emits visible ASCII and spaces, so this cannot fail.
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }
}

/// An RFC 9110 quoted-string: `"` and `\` are backslash-escaped; control characters and
/// non-ASCII characters (not allowed by RFC 6750) become `?`; at most 512 characters.
pub(crate) fn quote(s: &str) -> String {
    quote_limited(s, 512)
}

/// [`quote`] without the length limit, for values that must arrive whole (the base64 `claims`).
fn quote_all(s: &str) -> String {
    quote_limited(s, usize::MAX)
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

    #[test]
    fn bare_challenge_has_no_parameters() {
        assert_eq!(Challenge::default().to_header_value(), "Bearer");
    }

    #[test]
    fn parameters_are_comma_separated_and_quoted() {
        let c = Challenge {
            realm: Some("api".into()),
            error: Some("insufficient_scope"),
            description: Some("need \"weather.read\" \\ ok".into()),
            scope: Some("weather.read weather.write".into()),
            claims: None,
        };
        assert_eq!(
            c.to_header_value(),
            r#"Bearer realm="api", error="insufficient_scope", error_description="need \"weather.read\" \\ ok", scope="weather.read weather.write""#
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
        let c = Challenge {
            error: Some("insufficient_claims"),
            claims: Some(claims.clone()),
            ..Challenge::default()
        };
        let v = c.to_header_value();
        assert!(v
            .to_str()
            .unwrap()
            .ends_with(&format!("claims=\"{claims}\"")));
    }
}

#[cfg(test)]
mod proptests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn any_description_yields_a_valid_header(desc in "\\PC{0,300}", scope in "[!#-\\[\\]-~]{1,30}") {
            let c = Challenge {
                realm: None,
                error: Some("invalid_token"),
                description: Some(desc.clone()),
                scope: Some(scope.clone()),
                claims: None,
            };
            let v = c.to_header_value();
            let s = v.to_str().unwrap();
            assert!(s.starts_with("Bearer error=\"invalid_token\", error_description=\""));
            assert!(s.ends_with(&format!("scope=\"{scope}\"")), "{s}");
            if desc.chars().all(|ch| (' '..='~').contains(&ch) && ch != '"' && ch != '\\') && desc.len() <= 512 {
                assert!(s.contains(&desc));
            }
        }
    }
}
