//! Reading a downstream API's `WWW-Authenticate: Bearer error="insufficient_claims",
//! claims="..."` challenge (RFC 9110 auth-params, base64 claims JSON).

use base64::Engine as _;

use crate::error::ClaimsChallenge;

/// A `Bearer error="insufficient_claims", claims="<base64 JSON>"` challenge in
/// `WWW-Authenticate`, decoded.
pub(crate) fn claims_challenge(headers: &http::HeaderMap) -> Option<ClaimsChallenge> {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let params = auth_params(v.trim().strip_prefix("Bearer")?);
            let error = params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("error"))?;
            if error.1 != "insufficient_claims" {
                return None;
            }
            let claims = params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("claims"))?;
            let json = base64::engine::general_purpose::STANDARD
                .decode(claims.1.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())?;
            serde_json::from_str::<serde_json::Value>(&json).ok()?;
            Some(ClaimsChallenge::new(json))
        })
}

/// RFC 9110 auth-params: `k=v` or `k="quoted \" value"`, comma-separated.
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key.trim().to_owned(), value.trim().to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::WWW_AUTHENTICATE, v.parse().unwrap());
        h
    }

    #[test]
    fn graph_style_claims_challenge_is_decoded() {
        let claims = r#"{"access_token":{"nbf":{"essential":true,"value":"1"}}}"#;
        let b64 = base64::engine::general_purpose::STANDARD.encode(claims);
        let h = headers(&format!(
            r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="{b64}""#
        ));
        assert_eq!(claims_challenge(&h).unwrap().claims(), claims);
    }

    #[test]
    fn invalid_token_challenge_is_not_claims_challenge() {
        let h = headers(r#"Bearer error="invalid_token", error_description="expired""#);
        assert!(claims_challenge(&h).is_none());
    }

    #[test]
    fn claims_that_are_not_base64_json_are_ignored() {
        let h = headers(r#"Bearer error="insufficient_claims", claims="!!!""#);
        assert!(claims_challenge(&h).is_none());
    }

    #[test]
    fn quoted_values_keep_commas_and_escapes() {
        let p = auth_params(r#" a="x, \"y\"", b=z"#);
        assert_eq!(
            p,
            vec![("a".into(), "x, \"y\"".into()), ("b".into(), "z".into())]
        );
    }
}
