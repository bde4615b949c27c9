//! [`VerifiedClaims`]: the claims of a token that passed every check. Only
//! [`TokenValidator`](crate::TokenValidator) constructs them.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::clock::from_unix_seconds;
use crate::config::TokenVersion;

/// `aud`: one string or an array of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(crate) fn values(&self) -> &[String] {
        match self {
            Self::One(s) => std::slice::from_ref(s),
            Self::Many(v) => v,
        }
    }
}

/// The claims the validator checks and the accessors read, parsed once from the payload.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct TokenClaims {
    pub(crate) iss: Option<String>,
    pub(crate) aud: Option<OneOrMany>,
    pub(crate) exp: Option<f64>,
    pub(crate) nbf: Option<f64>,
    pub(crate) ver: Option<String>,
    pub(crate) tid: Option<String>,
    pub(crate) oid: Option<String>,
    pub(crate) sub: Option<String>,
    pub(crate) azp: Option<String>,
    pub(crate) appid: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) preferred_username: Option<String>,
    pub(crate) scp: Option<String>,
    pub(crate) roles: Option<Vec<String>>,
    pub(crate) idtyp: Option<String>,
    pub(crate) xms_cc: Option<OneOrMany>,
}

/// The claims of a validated access token.
///
/// Identify users by [`oid`](Self::oid) + [`tid`](Self::tid); `name` and `preferred_username` are
/// display data, never use them for authorisation.
///
/// Cheap to clone (an `Arc` inside): the verified-token cache hands out the same claims to every
/// request that presents the same token.
#[derive(Clone)]
pub struct VerifiedClaims {
    inner: Arc<Inner>,
}

struct Inner {
    claims: TokenClaims,
    /// The decoded payload; [`VerifiedClaims::raw`] parses it on first use, so the request path
    /// never builds a `serde_json::Value` tree.
    payload: Box<[u8]>,
    raw: OnceLock<Map<String, Value>>,
    version: TokenVersion,
    expires_at: i64,
}

impl std::fmt::Debug for VerifiedClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedClaims")
            .field("claims", &self.inner.claims)
            .field("version", &self.inner.version)
            .field("expires_at", &self.inner.expires_at)
            .finish_non_exhaustive()
    }
}

impl VerifiedClaims {
    pub(crate) fn new(
        claims: TokenClaims,
        payload: Vec<u8>,
        version: TokenVersion,
        expires_at: i64,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                claims,
                payload: payload.into_boxed_slice(),
                raw: OnceLock::new(),
                version,
                expires_at,
            }),
        }
    }

    #[cfg(test)]
    pub(crate) fn for_tests(v: Value) -> Self {
        let claims: TokenClaims = serde_json::from_value(v.clone()).unwrap_or_default();
        let payload = serde_json::to_vec(&v).unwrap_or_default();
        Self::new(claims, payload, TokenVersion::V2, 0)
    }

    /// Whether `a` and `b` are the very same claims (one validation, shared by the cache).
    #[cfg(test)]
    pub(crate) fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }

    /// `oid`: the user's or service principal's object id (stable across apps).
    pub fn oid(&self) -> Option<&str> {
        self.inner.claims.oid.as_deref()
    }

    /// `tid`: the tenant id.
    pub fn tid(&self) -> Option<&str> {
        self.inner.claims.tid.as_deref()
    }

    /// `sub`: the subject, pairwise per application.
    pub fn sub(&self) -> Option<&str> {
        self.inner.claims.sub.as_deref()
    }

    /// `iss`: the issuer (already checked against the metadata).
    pub fn issuer(&self) -> Option<&str> {
        self.inner.claims.iss.as_deref()
    }

    /// The calling client's id: `azp` (v2) or `appid` (v1).
    pub fn client_id(&self) -> Option<&str> {
        self.inner
            .claims
            .azp
            .as_deref()
            .or(self.inner.claims.appid.as_deref())
    }

    /// `name`: display name (display data only).
    pub fn name(&self) -> Option<&str> {
        self.inner.claims.name.as_deref()
    }

    /// `preferred_username`: display data only, never an identifier for authorisation.
    pub fn preferred_username(&self) -> Option<&str> {
        self.inner.claims.preferred_username.as_deref()
    }

    /// The delegated scopes (`scp`, space-separated).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.inner
            .claims
            .scp
            .as_deref()
            .unwrap_or("")
            .split_ascii_whitespace()
    }

    /// The app roles (`roles`).
    pub fn roles(&self) -> &[String] {
        self.inner.claims.roles.as_deref().unwrap_or(&[])
    }

    /// Whether `scp` contains `scope` exactly (whole word, case-sensitive).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// Whether `roles` contains `role` exactly (case-sensitive).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().iter().any(|r| r == role)
    }

    pub(crate) fn has_scope_claim(&self) -> bool {
        self.inner.claims.scp.is_some()
    }

    pub(crate) fn has_roles_claim(&self) -> bool {
        self.inner.claims.roles.is_some()
    }

    /// The token version (`ver`).
    pub fn version(&self) -> TokenVersion {
        self.inner.version
    }

    /// Whether the token was issued to an application acting as itself (client credentials):
    /// `idtyp` = "app" when present, otherwise `roles` without `scp`.
    pub fn is_app_only(&self) -> bool {
        match self.inner.claims.idtyp.as_deref() {
            Some("app") => true,
            Some(_) => false,
            None => self.inner.claims.scp.is_none() && self.inner.claims.roles.is_some(),
        }
    }

    /// `exp` as a time.
    pub fn expires_at(&self) -> SystemTime {
        from_unix_seconds(self.inner.expires_at)
    }

    /// `xms_cc`: the client capabilities (`cp1` means the client handles claims challenges).
    pub fn client_capabilities(&self) -> &[String] {
        self.inner
            .claims
            .xms_cc
            .as_ref()
            .map_or(&[], OneOrMany::values)
    }

    /// Whether the client declared it handles claims challenges (`xms_cc` contains `cp1`), so an
    /// [`AuthError::claims_challenge`](crate::AuthError::claims_challenge) is worth sending.
    pub fn supports_claims_challenge(&self) -> bool {
        self.client_capabilities().iter().any(|c| c == "cp1")
    }

    /// The audience values (`aud`).
    pub fn audiences(&self) -> &[String] {
        self.inner
            .claims
            .aud
            .as_ref()
            .map_or(&[], OneOrMany::values)
    }

    /// Every claim as JSON, for the claims without a typed accessor. Parsed from the verified
    /// payload on first use (the validation itself never builds this map).
    pub fn raw(&self) -> &Map<String, Value> {
        self.inner.raw.get_or_init(|| {
            // The payload was parsed as a JSON object, and checked against serde_json's nesting
            // limit (`is_too_deep`), before the token was accepted, so this cannot fail; an empty
            // map is the harmless answer if it ever did.
            serde_json::from_slice(&self.inner.payload).unwrap_or_default()
        })
    }

    /// One claim as JSON.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.raw().get(name)
    }
}

/// The deepest nesting of arrays and objects a payload may have (the top-level object counts):
/// serde_json's own recursion limit, so that [`VerifiedClaims::raw`] can always parse what the
/// validator accepted. The typed claims skip unknown claims without a depth limit, hence this check.
pub const MAX_JSON_DEPTH: usize = 127;

/// Whether `json` nests arrays and objects deeper than [`MAX_JSON_DEPTH`]: one pass over the bytes,
/// brackets inside strings ignored, no allocation.
pub(crate) fn is_too_deep(json: &[u8]) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_check_matches_serde_json_limit_and_ignores_strings() {
        let nest = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n - 1), "]".repeat(n - 1));
        for n in [1, 2, 100, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 500] {
            let doc = nest(n);
            let parses = serde_json::from_str::<Map<String, Value>>(&doc).is_ok();
            assert_eq!(is_too_deep(doc.as_bytes()), !parses, "depth {n}");
        }
        let in_string = format!("{{\"a\":\"{}\\\"{}\"}}", "[".repeat(500), "{".repeat(500));
        assert!(!is_too_deep(in_string.as_bytes()));
        assert!(serde_json::from_str::<Map<String, Value>>(&in_string).is_ok());
    }

    #[test]
    fn app_only_prefers_idtyp_then_roles_without_scp() {
        assert!(VerifiedClaims::for_tests(json!({"idtyp": "app"})).is_app_only());
        assert!(!VerifiedClaims::for_tests(json!({"idtyp": "user", "roles": ["A"]})).is_app_only());
        assert!(VerifiedClaims::for_tests(json!({"roles": ["A"]})).is_app_only());
        assert!(!VerifiedClaims::for_tests(json!({"roles": ["A"], "scp": "x"})).is_app_only());
        assert!(!VerifiedClaims::for_tests(json!({})).is_app_only());
    }

    #[test]
    fn accessors_read_typed_claims() {
        let c = VerifiedClaims::for_tests(json!({
            "oid": "o", "tid": "t", "sub": "s", "appid": "app", "name": "N",
            "preferred_username": "p@x", "scp": "a  b", "roles": ["R"], "xms_cc": ["cp1"],
            "aud": ["x", "y"], "custom": 5
        }));
        assert_eq!(c.oid(), Some("o"));
        assert_eq!(c.tid(), Some("t"));
        assert_eq!(c.sub(), Some("s"));
        assert_eq!(c.client_id(), Some("app"));
        assert_eq!(c.name(), Some("N"));
        assert_eq!(c.preferred_username(), Some("p@x"));
        assert_eq!(c.scopes().collect::<Vec<_>>(), ["a", "b"]);
        assert!(c.has_role("R") && !c.has_role("r"));
        assert_eq!(c.client_capabilities(), ["cp1"]);
        assert!(c.supports_claims_challenge());
        assert_eq!(c.audiences(), ["x", "y"]);
        assert_eq!(c.get("custom"), Some(&json!(5)));
    }
}
