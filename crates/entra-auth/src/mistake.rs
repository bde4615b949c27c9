//! The common mistakes a genuine token reveals, recognised so that the 401 says what the client
//! did wrong: a token for a Microsoft first-party API ([`well_known`](crate::well_known)'s table)
//! and an ID token sent as a bearer token. The validator calls these at its audience step.

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::claims::TokenClaims;
use crate::error::{clip, AuthError, OtherResource};
use crate::well_known::microsoft_resource;

/// The error for a token none of whose `found` audiences is accepted: the Microsoft API it was
/// meant for when one is known, else [`AuthError::AudienceMismatch`].
pub(crate) fn audience_error(found: &[String], expected: &[String], client_id: &str) -> AuthError {
    if let Some(resource) = found.iter().find_map(|a| microsoft_resource(a)) {
        return AuthError::TokenForOtherResource {
            reason: OtherResource::MicrosoftAudience(resource),
            client_id: client_id.to_owned(),
        };
    }
    AuthError::AudienceMismatch {
        expected: expected.to_vec(),
        found: found.iter().take(8).map(|a| clip(a)).collect(),
    }
}

/// The ID-token-only claims: `nonce` (echoed from the sign-in request, "emitted ... in the nonce
/// claim of an ID token only"), `at_hash` and `c_hash` (hybrid flow). Access tokens carry none
/// of them in the payload; Microsoft Graph's carry a nonce in the HEADER, which the header check
/// reports. Sources: <https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference>,
/// <https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference>,
/// <https://learn.microsoft.com/azure/active-directory-b2c/tokens-overview>.
#[derive(Deserialize)]
struct IdTokenMarkers {
    nonce: Option<IgnoredAny>,
    at_hash: Option<IgnoredAny>,
    c_hash: Option<IgnoredAny>,
}

/// Refuses an ID token: a token with neither `scp` nor `roles` and an ID-token-only claim.
/// Access tokens always carry `scp` or `roles` (app-only tokens without roles carry no nonce), so
/// the payload is read a second time only for tokens without both, which are rare.
pub(crate) fn reject_id_token(
    claims: &TokenClaims<'_>,
    payload: &[u8],
    client_id: &str,
) -> Result<(), AuthError> {
    let has_scp = claims.scp.as_deref().is_some_and(|s| !s.trim().is_empty());
    if has_scp || claims.roles.is_some() {
        return Ok(());
    }
    let Ok(m) = serde_json::from_slice::<IdTokenMarkers>(payload) else {
        return Ok(());
    };
    let markers: Vec<&'static str> = [
        ("nonce", m.nonce.is_some()),
        ("at_hash", m.at_hash.is_some()),
        ("c_hash", m.c_hash.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, present)| present.then_some(name))
    .collect();
    if markers.is_empty() {
        return Ok(());
    }
    Err(AuthError::IdTokenAsAccessToken {
        markers,
        client_id: client_id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(payload: &str) -> Result<(), AuthError> {
        let claims = TokenClaims::parse(payload.as_bytes()).unwrap();
        reject_id_token(&claims, payload.as_bytes(), "cid")
    }

    #[test]
    fn id_token_claims_without_scp_or_roles_are_an_id_token() {
        let e = check(r#"{"aud":"x","nonce":"n","at_hash":"h"}"#).unwrap_err();
        assert!(
            matches!(&e, AuthError::IdTokenAsAccessToken { markers, .. } if markers == &["nonce", "at_hash"]),
            "{e:?}"
        );
        let e = check(r#"{"c_hash":"h"}"#).unwrap_err();
        assert_eq!(e.code(), "id_token_as_access_token");
    }

    #[test]
    fn access_tokens_and_markerless_tokens_pass() {
        check(r#"{"nonce":"n","scp":"weather.read"}"#).unwrap();
        check(r#"{"nonce":"n","roles":[]}"#).unwrap();
        check(r#"{"aud":"x","sub":"s"}"#).unwrap();
    }

    #[test]
    fn known_audience_is_named_else_mismatch() {
        let e = audience_error(
            &["https://vault.azure.net/".to_owned()],
            &["cid".to_owned()],
            "cid",
        );
        assert_eq!(e.code(), "token_for_other_resource");
        assert!(e.to_string().contains("Azure Key Vault"), "{e}");
        assert!(
            e.to_string()
                .contains("not for https://vault.azure.net/.default"),
            "{e}"
        );
        let e = audience_error(&["api://other".to_owned()], &["cid".to_owned()], "cid");
        assert_eq!(e.code(), "audience_mismatch");
    }
}
