//! The device authorization grant (RFC 8628), parsed without I/O: the device authorization
//! answer ([`DeviceCodePrompt`], what the user is shown) and what each polling answer means.

use std::time::Duration;

use http::StatusCode;
use serde::Deserialize;
use url::Url;

use crate::error::{printable_text, TokenError};

/// The grant type of the polling requests.
pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Polling interval when the answer names none (RFC 8628 section 3.2).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// `slow_down` adds this to the interval (RFC 8628 section 3.5).
pub(crate) const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// The shortest polling interval: an `interval` of 0 never makes the client poll back to back.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The longest polling interval, `slow_down` steps included.
pub(crate) const MAX_INTERVAL: Duration = Duration::from_secs(60);

/// The longest a device code is waited for (Entra's codes live 15 minutes): a longer
/// `expires_in` is cut to this, so no answer can keep a sign-in waiting for days.
const MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// The polling interval after a `slow_down`, within [`MAX_INTERVAL`].
pub(crate) fn slowed_down(interval: Duration) -> Duration {
    interval.saturating_add(SLOW_DOWN_STEP).min(MAX_INTERVAL)
}

/// What to show the user: go to [`verification_uri`](Self::verification_uri) on any device and
/// enter [`user_code`](Self::user_code). The device code itself stays inside the client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceCodePrompt {
    /// The code the user types, e.g. `ABCD1234E`.
    pub user_code: String,
    /// Where to type it, e.g. `https://microsoft.com/devicelogin`.
    pub verification_uri: Url,
    /// The identity provider's own sentence with both (localised by Entra), whole, with control
    /// characters and bidirectional overrides replaced by U+FFFD (safe to print to a terminal).
    pub message: Option<String>,
    /// How long the code is valid (the server's `expires_in`, at most an hour).
    pub expires_in: Duration,
    /// How often the client polls (the server's `interval`, between 1 s and 60 s).
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
            message: a.message.map(|m| printable_text(&m)),
            expires_in: Duration::from_secs(a.expires_in).min(MAX_LIFETIME),
            interval: a
                .interval
                .map_or(DEFAULT_INTERVAL, Duration::from_secs)
                .clamp(MIN_INTERVAL, MAX_INTERVAL),
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
