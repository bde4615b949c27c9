//! The device authorization grant (RFC 8628), parsed without I/O: the device authorization
//! answer ([`DeviceCodePrompt`], what the user is shown) and what each polling answer means.

use std::time::Duration;

use http::StatusCode;
use serde::Deserialize;
use url::Url;

use crate::error::{clip, TokenError};

/// The grant type of the polling requests.
pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Polling interval when the answer names none (RFC 8628 section 3.2).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// `slow_down` adds this to the interval (RFC 8628 section 3.5).
pub(crate) const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// What to show the user: go to [`verification_uri`](Self::verification_uri) on any device and
/// enter [`user_code`](Self::user_code). The device code itself stays inside the client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceCodePrompt {
    /// The code the user types, e.g. `ABCD1234E`.
    pub user_code: String,
    /// Where to type it, e.g. `https://microsoft.com/devicelogin`.
    pub verification_uri: Url,
    /// The identity provider's own sentence with both (localised by Entra).
    pub message: Option<String>,
    /// How long the code is valid.
    pub expires_in: Duration,
    /// How often the client polls (the server's `interval`).
    pub interval: Duration,
}

#[derive(Deserialize)]
struct Answer {
    device_code: String,
    user_code: String,
    #[serde(alias = "verification_url")]
    verification_uri: String,
    expires_in: u64,
    #[serde(default)]
    interval: Option<u64>,
    #[serde(default)]
    message: Option<String>,
}

/// The device authorization answer: the prompt and the (secret) device code.
pub(crate) struct DeviceAuthorization {
    pub(crate) prompt: DeviceCodePrompt,
    pub(crate) device_code: String,
}

/// Parses the device authorization endpoint's 200 answer.
pub(crate) fn parse(status: StatusCode, body: &[u8]) -> Result<DeviceAuthorization, TokenError> {
    let bad = |reason| TokenError::InvalidResponse { status, reason };
    let a: Answer = serde_json::from_slice(body).map_err(|_| {
        bad("not a device authorization answer (device_code, user_code, verification_uri, expires_in)")
    })?;
    let verification_uri = Url::parse(&a.verification_uri)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http"))
        .ok_or_else(|| bad("verification_uri is not an http(s) URL"))?;
    let printable =
        |s: &str| !s.is_empty() && s.len() <= 512 && s.bytes().all(|b| b.is_ascii_graphic());
    if !printable(&a.device_code) || !printable(&a.user_code) {
        return Err(bad(
            "device_code or user_code is empty or not printable ASCII",
        ));
    }
    Ok(DeviceAuthorization {
        device_code: a.device_code,
        prompt: DeviceCodePrompt {
            user_code: a.user_code,
            verification_uri,
            message: a.message.map(|m| clip(&m)),
            expires_in: Duration::from_secs(a.expires_in),
            interval: a.interval.map_or(DEFAULT_INTERVAL, Duration::from_secs),
        },
    })
}

/// What a polling answer's error means.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Poll {
    /// `authorization_pending`: ask again after the interval.
    Pending,
    /// `slow_down`: ask again after the interval, now 5 s longer.
    SlowDown,
    /// Stop with this error.
    Stop,
}

/// Classifies a polling error.
pub(crate) fn classify(error: &TokenError) -> Poll {
    match error.oauth_error() {
        Some("authorization_pending") => Poll::Pending,
        Some("slow_down") => Poll::SlowDown,
        _ => Poll::Stop,
    }
}

/// Turns the terminal polling refusals into their own errors: `expired_token`,
/// `authorization_declined` / `access_denied`.
pub(crate) fn terminal(error: TokenError, lifetime: Duration) -> TokenError {
    let TokenError::Rejected(a) = &error else {
        return error;
    };
    match a.error.as_str() {
        "expired_token" | "code_expired" => TokenError::DeviceCodeExpired { after: lifetime },
        "authorization_declined" | "access_denied" => TokenError::SignInDeclined {
            error: a.error.clone(),
            description: a.description.clone(),
        },
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_answer_parses_with_interval_and_message() {
        let d = parse(
            StatusCode::OK,
            br#"{"user_code":"ABCD1234E","device_code":"DAQABAAEAAAD","verification_uri":"https://microsoft.com/devicelogin","expires_in":900,"interval":5,"message":"To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD1234E to authenticate."}"#,
        )
        .unwrap();
        assert_eq!(d.prompt.user_code, "ABCD1234E");
        assert_eq!(
            d.prompt.verification_uri.as_str(),
            "https://microsoft.com/devicelogin"
        );
        assert_eq!(d.prompt.expires_in, Duration::from_secs(900));
        assert_eq!(d.prompt.interval, Duration::from_secs(5));
        assert_eq!(d.device_code, "DAQABAAEAAAD");
        assert!(!format!("{:?}", d.prompt).contains("DAQABAAEAAAD"));
    }

    #[test]
    fn v1_verification_url_and_missing_interval_default_to_five_seconds() {
        let d = parse(
            StatusCode::OK,
            br#"{"user_code":"X","device_code":"Y","verification_url":"https://microsoft.com/devicelogin","expires_in":"900"}"#,
        );
        // expires_in as a string is not what the v2 endpoint sends: refused, not guessed.
        assert!(matches!(d, Err(TokenError::InvalidResponse { .. })));
        let d = parse(
            StatusCode::OK,
            br#"{"user_code":"X","device_code":"Y","verification_url":"https://microsoft.com/devicelogin","expires_in":900}"#,
        )
        .unwrap();
        assert_eq!(d.prompt.interval, Duration::from_secs(5));
    }

    #[test]
    fn javascript_verification_uri_is_refused() {
        let e = parse(
            StatusCode::OK,
            br#"{"user_code":"X","device_code":"Y","verification_uri":"javascript:alert(1)","expires_in":900}"#,
        )
        .err()
        .unwrap();
        assert_eq!(
            e.to_string(),
            "the token endpoint answered 200 OK with an unusable body: verification_uri is not an http(s) URL"
        );
    }
}
