//! The device code grant (RFC 8628 §3.4): the device polls with its `device_code` until the user has
//! approved it on the verification page. Answers follow Entra: `authorization_pending` (AADSTS70016),
//! `slow_down`, `expired_token` (AADSTS70019), `authorization_declined`, then the tokens, once.

use axum::http::StatusCode;
use serde_json::Value;

use super::Request;
use crate::grants::DevicePoll;
use crate::http::oauth::OAuthError;

/// The `grant_type` of the device code flow.
pub(crate) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// `grant_type=urn:ietf:params:oauth:grant-type:device_code` with `device_code` and `client_id`.
pub(super) fn grant(request: Request<'_>) -> Result<Value, OAuthError> {
    let (inner, params) = (request.inner, request.params);
    let caller = request.authenticate()?;
    let device_code = params.require("device_code")?;
    let bad = |error: &'static str, code: u32, description: String| {
        OAuthError::new(StatusCode::BAD_REQUEST, error, code, description)
    };
    match inner.devices.poll(device_code, &caller.client.client_id) {
        DevicePoll::Approved(sign_in) => super::delegated::issue(inner, caller.calling(), &sign_in),
        DevicePoll::Pending => Err(bad(
            "authorization_pending",
            70_016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.".to_owned(),
        )),
        DevicePoll::SlowDown(interval) => Err(bad(
            "slow_down",
            70_016,
            format!(
                "OAuth 2.0 device flow error. Polling too fast: wait {interval} seconds between \
                 requests (RFC 8628 §3.5)."
            ),
        )),
        DevicePoll::Expired => Err(bad(
            "expired_token",
            70_019,
            "Verification code expired. Request a new device code and show the user the new code."
                .to_owned(),
        )),
        DevicePoll::Denied => Err(bad(
            "authorization_declined",
            70_000,
            "The user declined the sign-in request on the verification page.".to_owned(),
        )),
        DevicePoll::AlreadyRedeemed => Err(OAuthError::invalid_grant(
            54_005,
            "The device code was already redeemed; request a new device code.",
        )),
        DevicePoll::OtherClient => Err(OAuthError::invalid_grant(
            70_000,
            "Provided grant is invalid or malformed: the device code was issued to another client.",
        )),
        DevicePoll::Unknown => Err(bad(
            "bad_verification_code",
            70_000,
            "The device code is unknown (mistyped or forgotten); request a new one.".to_owned(),
        )),
    }
}
