//! Token minting: Entra's v1, v2 and B2C claim shapes, and RS256 signing.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use crate::defaults;
use crate::error::DevIssuerError;
use crate::keys::KeyEntry;
use crate::request::{ClientAuthMethod, Subject, TokenRequest, TokenVersion};
use crate::state::IssuerState;

/// The client that asked for a token (`azp`/`appid`, `azpacr`/`appidacr`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallingClient<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) auth: ClientAuthMethod,
}

/// A user resolved from a user name, or carried over from an incoming token (on-behalf-of).
#[derive(Clone, Debug)]
pub(crate) struct UserIdentity {
    pub(crate) oid: String,
    pub(crate) name: String,
    pub(crate) username: String,
}

pub(crate) fn resolve_user(inner: &IssuerState, username: &str) -> UserIdentity {
    match inner.config.user(username) {
        Some(u) => UserIdentity {
            oid: u.oid.clone(),
            name: u.display_name.clone(),
            username: u.email.clone(),
        },
        None => UserIdentity {
            oid: derived_guid("user", username),
            name: username.to_owned(),
            username: if username.contains('@') {
                username.to_owned()
            } else {
                format!("{username}@dev.example")
            },
        },
    }
}

/// A stable GUID derived from a name (for synthetic users and unregistered clients).
pub(crate) fn derived_guid(kind: &str, value: &str) -> String {
    crate::config::derived_id(kind, value)
}

/// Entra's pairwise `sub`: stable per (user, application), opaque, 43 base64url characters.
pub(crate) fn pairwise_sub(oid: &str, client_id: &str) -> String {
    let digest = Sha256::digest(format!("{}:{}", oid, client_id.to_ascii_lowercase()));
    URL_SAFE_NO_PAD.encode(digest)
}

pub(crate) fn random_b64(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn default_delegating_client(inner: &IssuerState) -> CallingClient<'_> {
    let client_id = inner
        .config
        .clients
        .iter()
        .find(|c| !c.is_confidential())
        .map(|c| c.client_id.as_str())
        .unwrap_or(defaults::DEV_PUBLIC_CLIENT_ID);
    CallingClient {
        client_id,
        auth: ClientAuthMethod::None,
    }
}

fn service_principal_id(inner: &IssuerState, client_id: &str) -> String {
    inner
        .config
        .client(client_id)
        .map(|c| c.service_principal_id.clone())
        .unwrap_or_else(|| derived_guid("service-principal", client_id))
}

/// Builds the claims of an access token.
pub(crate) fn access_token_claims(
    inner: &IssuerState,
    req: &TokenRequest,
    client: Option<CallingClient<'_>>,
    user: Option<&UserIdentity>,
    now: SystemTime,
) -> Map<String, Value> {
    let config = &inner.config;
    let tid = req
        .tenant_id
        .clone()
        .unwrap_or_else(|| config.tenant_id.clone());
    let iat = req.issued_at.unwrap_or(now);
    let lifetime = req.lifetime.unwrap_or(config.token_lifetime);
    let nbf = req.not_before.unwrap_or(iat);
    let exp = iat + lifetime;
    let b2c = req.b2c_policy.is_some();

    let mut c = Map::new();
    let (aud_default, iss) = match (b2c, req.version) {
        (true, _) => (
            config.api_client_id.clone(),
            format!("{}{}/v2.0/", inner.instance, tid),
        ),
        (false, TokenVersion::V2) => (
            config.api_client_id.clone(),
            format!("{}{}/v2.0", inner.instance, tid),
        ),
        (false, TokenVersion::V1) => (
            config.api_app_id_uri.clone(),
            format!("{}{}/", inner.instance, tid),
        ),
    };
    c.insert(
        "aud".into(),
        json!(req.audience.clone().unwrap_or(aud_default)),
    );
    c.insert("iss".into(), json!(iss));
    c.insert("iat".into(), json!(secs(iat)));
    c.insert("nbf".into(), json!(secs(nbf)));
    c.insert("exp".into(), json!(secs(exp)));
    c.insert("tid".into(), json!(tid));
    c.insert("uti".into(), json!(random_b64(16)));
    let ver = if b2c { "1.0" } else { req.version.as_ver() };
    c.insert("ver".into(), json!(ver));

    match &req.subject {
        Subject::User(username) => {
            let user = user
                .cloned()
                .unwrap_or_else(|| resolve_user(inner, username));
            let client = client.unwrap_or_else(|| default_delegating_client(inner));
            let acr = client.auth.acr();
            c.insert("oid".into(), json!(user.oid));
            c.insert("name".into(), json!(user.name));
            if b2c {
                // B2C: `sub` is the user's object id; the user flow is `tfp`.
                c.insert("sub".into(), json!(user.oid));
                c.insert("azp".into(), json!(client.client_id));
                c.insert("emails".into(), json!([user.username]));
                c.insert("auth_time".into(), json!(secs(iat)));
            } else {
                c.insert("aio".into(), json!(random_b64(48)));
                c.insert("rh".into(), json!(format!("0.A{}.", random_b64(40))));
                c.insert(
                    "sub".into(),
                    json!(pairwise_sub(&user.oid, client.client_id)),
                );
                match req.version {
                    TokenVersion::V2 => {
                        c.insert("azp".into(), json!(client.client_id));
                        c.insert("azpacr".into(), json!(acr));
                        c.insert("preferred_username".into(), json!(user.username));
                    }
                    TokenVersion::V1 => {
                        c.insert("appid".into(), json!(client.client_id));
                        c.insert("appidacr".into(), json!(acr));
                        c.insert("acr".into(), json!("1"));
                        c.insert("amr".into(), json!(["pwd"]));
                        c.insert("upn".into(), json!(user.username));
                        c.insert("unique_name".into(), json!(user.username));
                        let (given, family) = split_name(&user.name);
                        if let Some(g) = given {
                            c.insert("given_name".into(), json!(g));
                        }
                        if let Some(f) = family {
                            c.insert("family_name".into(), json!(f));
                        }
                    }
                }
            }
        }
        Subject::App { client_id } => {
            let sp = service_principal_id(inner, client_id);
            let acr = client.map_or("1", |c| c.auth.acr());
            c.insert("oid".into(), json!(sp));
            c.insert("sub".into(), json!(sp));
            c.insert("idtyp".into(), json!("app"));
            if b2c {
                c.insert("azp".into(), json!(client_id));
            } else {
                c.insert("aio".into(), json!(random_b64(48)));
                c.insert("rh".into(), json!(format!("0.A{}.", random_b64(40))));
                match req.version {
                    TokenVersion::V2 => {
                        c.insert("azp".into(), json!(client_id));
                        c.insert("azpacr".into(), json!(acr));
                    }
                    TokenVersion::V1 => {
                        c.insert("appid".into(), json!(client_id));
                        c.insert("appidacr".into(), json!(acr));
                    }
                }
            }
        }
    }
    if let Some(policy) = &req.b2c_policy {
        c.insert("tfp".into(), json!(policy));
    }
    if !req.scopes.is_empty() {
        c.insert("scp".into(), json!(req.scopes.join(" ")));
    }
    if !req.roles.is_empty() {
        c.insert("roles".into(), json!(req.roles));
    }
    for (k, v) in &req.extra_claims {
        c.insert(k.clone(), v.clone());
    }
    c
}

fn split_name(name: &str) -> (Option<&str>, Option<&str>) {
    match name.split_once(' ') {
        Some((g, f)) => (Some(g), Some(f)),
        None => (None, None),
    }
}

pub(crate) fn mint(
    inner: &IssuerState,
    req: &TokenRequest,
    client: Option<CallingClient<'_>>,
) -> Result<String, DevIssuerError> {
    mint_for(inner, req, client, None)
}

/// Like [`mint`], for `user` as given (on-behalf-of keeps the incoming token's user) when `Some`.
pub(crate) fn mint_for(
    inner: &IssuerState,
    req: &TokenRequest,
    client: Option<CallingClient<'_>>,
    user: Option<&UserIdentity>,
) -> Result<String, DevIssuerError> {
    let claims = access_token_claims(inner, req, client, user, SystemTime::now());
    let mut header = Map::new();
    let ring = inner.read_keys();
    let key = ring.current();
    header.insert("typ".into(), json!("JWT"));
    header.insert("alg".into(), json!("RS256"));
    if req.version == TokenVersion::V1 && req.b2c_policy.is_none() {
        header.insert("x5t".into(), json!(key.x5t));
    }
    header.insert("kid".into(), json!(key.kid));
    for (k, v) in &req.extra_header {
        header.insert(k.clone(), v.clone());
    }
    sign_with(key, &header, &claims)
}

pub(crate) fn sign_raw(
    inner: &IssuerState,
    mut header: Map<String, Value>,
    claims: Map<String, Value>,
) -> Result<String, DevIssuerError> {
    let ring = inner.read_keys();
    let key = ring.current();
    header.entry("alg").or_insert_with(|| json!("RS256"));
    header.entry("typ").or_insert_with(|| json!("JWT"));
    header.entry("kid").or_insert_with(|| json!(key.kid));
    sign_with(key, &header, &claims)
}

/// Signs claims with the current key using a standard header (used for ID tokens).
pub(crate) fn sign_claims(
    inner: &IssuerState,
    claims: &Map<String, Value>,
) -> Result<String, DevIssuerError> {
    let ring = inner.read_keys();
    let key = ring.current();
    let mut header = Map::new();
    header.insert("typ".into(), json!("JWT"));
    header.insert("alg".into(), json!("RS256"));
    header.insert("kid".into(), json!(key.kid));
    sign_with(key, &header, claims)
}

fn sign_with(
    key: &KeyEntry,
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
) -> Result<String, DevIssuerError> {
    let h = serde_json::to_vec(header).map_err(DevIssuerError::Json)?;
    let c = serde_json::to_vec(claims).map_err(DevIssuerError::Json)?;
    let mut out = URL_SAFE_NO_PAD.encode(h);
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(c));
    let signature = key.sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_sub_is_stable_per_client_and_43_chars() {
        let a = pairwise_sub(defaults::ALICE_OID, "client-a");
        assert_eq!(a, pairwise_sub(defaults::ALICE_OID, "CLIENT-A"));
        assert_ne!(a, pairwise_sub(defaults::ALICE_OID, "client-b"));
        assert_eq!(a.len(), 43);
    }

    #[test]
    fn derived_guid_is_a_stable_v4_guid() {
        let g = derived_guid("user", "carol");
        assert_eq!(g, derived_guid("user", "Carol"));
        let parsed = uuid::Uuid::parse_str(&g).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
    }
}
