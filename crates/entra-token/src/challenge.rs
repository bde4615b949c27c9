//! Reading a downstream API's `WWW-Authenticate: Bearer error="insufficient_claims",
//! claims="..."` challenge (entra-core's one parser; base64 claims JSON).

use base64::Engine as _;

use crate::error::ClaimsChallenge;

/// A `Bearer error="insufficient_claims", claims="<base64 JSON>"` challenge in
/// `WWW-Authenticate`, decoded.
pub(crate) fn claims_challenge(headers: &http::HeaderMap) -> Option<ClaimsChallenge> {
    entra_core::challenge::parse_headers(headers)
        .iter()
        .filter(|c| c.is_scheme("Bearer") && c.param("error") == Some("insufficient_claims"))
        .find_map(|c| {
            let json = base64::engine::general_purpose::STANDARD
                .decode(c.param("claims")?.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())?;
            serde_json::from_str::<serde_json::Value>(&json).ok()?;
            Some(ClaimsChallenge::new(json))
        })
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
    fn claims_challenge_after_another_scheme_in_the_same_header_is_decoded() {
        let claims = r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#;
        let b64 = base64::engine::general_purpose::STANDARD.encode(claims);
        let h = headers(&format!(
            r#"Basic realm="legacy, with a comma", Bearer error="insufficient_claims", claims="{b64}""#
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
        let claims = r#"{"access_token":{}}"#;
        let b64 = base64::engine::general_purpose::STANDARD.encode(claims);
        let h = headers(&format!(
            r#"Bearer error_description="x, \"y\"", error=insufficient_claims, claims="{b64}""#
        ));
        assert_eq!(claims_challenge(&h).unwrap().claims(), claims);
    }
}
