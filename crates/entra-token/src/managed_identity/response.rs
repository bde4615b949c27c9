//! The managed identity endpoints' answers, parsed without I/O: a token (`expires_on` as a number or
//! a string, as App Service and the instance metadata service send it; `refresh_in` when present) or
//! an error body in any of the sources' shapes.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::StatusCode;
use serde::Deserialize;

use super::error::ManagedIdentityError;
use super::source::ManagedIdentitySource;
use crate::cache::from_unix;
use crate::error::clip;
use crate::response::{refresh_after, NumberOrString, MAX_LIFETIME};
use crate::token::AccessToken;

#[derive(Deserialize)]
struct Success {
    access_token: String,
    #[serde(default)]
    expires_on: Option<NumberOrString>,
    #[serde(default)]
    expires_in: Option<NumberOrString>,
    #[serde(default)]
    refresh_in: Option<NumberOrString>,
    #[serde(default)]
    token_type: Option<String>,
}

/// A token answered at `now` (the status is a success).
pub(crate) fn parse_token(
    platform: ManagedIdentitySource,
    status: StatusCode,
    body: &[u8],
    now: SystemTime,
) -> Result<AccessToken, ManagedIdentityError> {
    let invalid = |reason| ManagedIdentityError::InvalidResponse {
        platform,
        status,
        reason,
    };
    let ok: Success = serde_json::from_slice(body)
        .map_err(|_| invalid("not a JSON token response with access_token"))?;
    if !ok
        .token_type
        .as_deref()
        .is_none_or(|t| t.eq_ignore_ascii_case("bearer"))
    {
        return Err(invalid("token_type is not Bearer"));
    }
    let token = ok.access_token.trim();
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("access_token is empty or not printable ASCII"));
    }
    let lifetime = match (&ok.expires_on, &ok.expires_in) {
        (Some(on), _) => {
            let on = on
                .seconds()
                .ok_or_else(|| invalid("expires_on is not a number of Unix seconds"))?;
            from_unix(on).duration_since(now).ok()
        }
        (None, Some(within)) => within.seconds().map(Duration::from_secs),
        (None, None) => return Err(invalid("neither expires_on nor expires_in")),
    }
    .filter(|l| !l.is_zero())
    .ok_or_else(|| invalid("the token has already expired (expires_on in the past)"))?
    .min(MAX_LIFETIME);
    let refresh_in = refresh_after(ok.refresh_in.as_ref(), lifetime);
    Ok(AccessToken::new(
        Arc::from(token),
        now + lifetime,
        now + refresh_in,
    ))
}

/// The `error` and `description` of a refusal in any source's shape: `{"error", "error_description"}`
/// (IMDS, Azure Arc, Cloud Shell), `{"statusCode", "message"}` (App Service),
/// `{"error": {"code", "message"}}` (Service Fabric). Clipped; `("", "")` when none.
pub(crate) fn refusal(body: &[u8]) -> (String, String) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (String::new(), "the body is not JSON".to_owned());
    };
    let text = |v: Option<&serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let error = text(v.get("error"))
        .or_else(|| text(v.get("error").and_then(|e| e.get("code"))))
        .or_else(|| text(v.get("statusCode")))
        .or_else(|| text(v.get("StatusCode")))
        .unwrap_or_default();
    let description = text(v.get("error_description"))
        .or_else(|| text(v.get("message")))
        .or_else(|| text(v.get("Message")))
        .or_else(|| text(v.get("error").and_then(|e| e.get("message"))))
        .unwrap_or_default();
    (clip(&error), clip(&description))
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn parse(body: &str) -> Result<AccessToken, ManagedIdentityError> {
        parse_token(
            ManagedIdentitySource::Imds,
            StatusCode::OK,
            body.as_bytes(),
            now(),
        )
    }

    #[test]
    fn expires_on_is_read_as_a_string_or_a_number() {
        let s = parse(&format!(
            r#"{{"access_token":"a.b.c","expires_on":"{}","token_type":"Bearer"}}"#,
            NOW + 3600
        ))
        .unwrap();
        let n = parse(&format!(
            r#"{{"access_token":"a.b.c","expires_on":{}}}"#,
            NOW + 3600
        ))
        .unwrap();
        for t in [s, n] {
            assert_eq!(t.expires_at(), now() + Duration::from_secs(3600));
            assert_eq!(t.refresh_at(), now() + Duration::from_secs(1800));
        }
    }

    #[test]
    fn refresh_in_sets_the_refresh_time() {
        let t = parse(&format!(
            r#"{{"access_token":"a.b.c","expires_on":{},"refresh_in":600}}"#,
            NOW + 86_400
        ))
        .unwrap();
        assert_eq!(t.refresh_at(), now() + Duration::from_secs(600));
    }

    #[test]
    fn garbage_and_past_expiries_are_invalid_responses_without_the_body() {
        for body in [
            "<html>proxy</html>",
            r#"{"access_token":"","expires_on":"1"}"#,
            r#"{"access_token":"secret.token.value","expires_on":"1"}"#,
            r#"{"access_token":"secret.token.value","expires_on":"soon"}"#,
            r#"{"access_token":"secret.token.value"}"#,
            r#"{"access_token":"secret.token.value","expires_in":3600,"token_type":"pop"}"#,
        ] {
            let e = parse(body).unwrap_err();
            assert!(
                matches!(e, ManagedIdentityError::InvalidResponse { .. }),
                "{body}: {e:?}"
            );
            assert!(!e.to_string().contains("secret.token"), "{e}");
        }
    }

    #[test]
    fn refusals_are_read_in_each_sources_shape() {
        assert_eq!(
            refusal(br#"{"error":"invalid_request","error_description":"Identity not found"}"#),
            ("invalid_request".into(), "Identity not found".into())
        );
        assert_eq!(
            refusal(br#"{"statusCode":400,"message":"bad header"}"#),
            ("400".into(), "bad header".into())
        );
        assert_eq!(
            refusal(br#"{"error":{"code":"SecretHeaderNotFound","message":"no secret"}}"#),
            ("SecretHeaderNotFound".into(), "no secret".into())
        );
    }
}
