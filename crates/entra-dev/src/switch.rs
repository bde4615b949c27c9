//! Fault and policy switches: a simulated outage, and the two answers a middle-tier API must handle when it
//! calls a downstream API on behalf of its user (consent required; multi-factor authentication demanded
//! through a claims challenge). Set them with [`crate::DevIssuer::set_switches`], over HTTP at
//! `PUT {instance}control/switches`, or with `entra-dev switches set --url ...`. A leaf module.

use serde::{Deserialize, Serialize};

/// The authentication context a [`MfaDemand`] asks for when none is named.
pub const DEFAULT_AUTH_CONTEXT: &str = "c1";

/// Every switch at once (the JSON document of `GET`/`PUT {instance}control/switches`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switches {
    /// While `true`, the metadata and key endpoints answer 503 (as [`crate::DevIssuer::set_outage`]).
    #[serde(default)]
    pub outage: bool,
    /// APIs (client id or App ID URI) for which an on-behalf-of request fails with `invalid_grant`,
    /// suberror `consent_required` (AADSTS65001): nobody has consented to the middle tier calling them.
    #[serde(default)]
    pub consent_required: Vec<String>,
    /// APIs whose tokens need a stronger sign-in: an on-behalf-of request whose assertion lacks the
    /// authentication context fails with `interaction_required` (AADSTS50076) and a `claims` challenge.
    #[serde(default)]
    pub mfa_required: Vec<MfaDemand>,
}

/// A downstream API that demands multi-factor authentication (a Conditional Access authentication context).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaDemand {
    /// The API (client id or App ID URI).
    pub api: String,
    /// The authentication context id (`acrs` claim) the user's token must carry (default `c1`).
    #[serde(default = "default_auth_context")]
    pub auth_context: String,
}

fn default_auth_context() -> String {
    DEFAULT_AUTH_CONTEXT.to_owned()
}

impl MfaDemand {
    /// A demand for `api` with the default authentication context `c1`.
    pub fn new(api: &str) -> Self {
        Self {
            api: api.to_owned(),
            auth_context: default_auth_context(),
        }
    }

    /// The `claims` value Entra sends with `interaction_required`: the client must sign the user in again
    /// with these claims (`claims=` on the authorize request) to get a token with `acrs` = the context.
    pub fn claims_challenge(&self) -> String {
        serde_json::json!({
            "access_token": { "acrs": { "essential": true, "value": self.auth_context } }
        })
        .to_string()
    }
}
