//! [`VerifiedClaims`]: the claims of a token that passed every check. Only
//! [`TokenValidator`](crate::TokenValidator) constructs them.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::authority::TokenVersion;
use crate::clock::from_unix_seconds;

/// `aud` and `xms_cc`: one string or an array of strings (read without buffering, unlike
/// `#[serde(untagged)]`).
#[derive(Debug, Clone)]
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

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(OneOrMany::Many(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A claim string borrowed from the payload (copied only when it contains escapes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The claims the validator checks and the accessors read, parsed once from the payload, their
/// strings borrowed from it.
#[derive(Debug, Default)]
pub(crate) struct TokenClaims<'a> {
    pub(crate) iss: Option<Text<'a>>,
    pub(crate) aud: Option<OneOrMany>,
    pub(crate) exp: Option<f64>,
    pub(crate) nbf: Option<f64>,
    pub(crate) ver: Option<Text<'a>>,
    pub(crate) tid: Option<Text<'a>>,
    pub(crate) oid: Option<Text<'a>>,
    pub(crate) sub: Option<Text<'a>>,
    pub(crate) azp: Option<Text<'a>>,
    pub(crate) appid: Option<Text<'a>>,
    pub(crate) name: Option<Text<'a>>,
    pub(crate) preferred_username: Option<Text<'a>>,
    pub(crate) scp: Option<Text<'a>>,
    pub(crate) roles: Option<Vec<String>>,
    pub(crate) idtyp: Option<Text<'a>>,
    pub(crate) xms_cc: Option<OneOrMany>,
}

/// Why a payload was refused by [`TokenClaims::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadError {
    /// Nested deeper than [`MAX_JSON_DEPTH`].
    TooDeep,
    /// Not a JSON object with claims of the expected types (position of the error).
    Json { line: usize, column: usize },
}

impl<'a> TokenClaims<'a> {
    /// Parses the payload in one pass: the claims read, borrowed, and every other claim skipped
    /// with its nesting depth counted against [`MAX_JSON_DEPTH`] (so that
    /// [`VerifiedClaims::raw`] can always parse what the validator accepted).
    pub(crate) fn parse(payload: &'a [u8]) -> Result<Self, PayloadError> {
        let mut de = serde_json::Deserializer::from_slice(payload);
        let parsed = de
            .deserialize_map(ClaimsVisitor)
            .and_then(|claims| de.end().map(|()| claims));
        parsed.map_err(|e| {
            // The error path only: say "too deep" whenever the payload is (as the one pass would
            // have, had the error come later), whatever else is wrong with it.
            if is_too_deep(payload) {
                PayloadError::TooDeep
            } else {
                PayloadError::Json {
                    line: e.line(),
                    column: e.column(),
                }
            }
        })
    }
}

impl TokenClaims<'_> {
    /// The same claims owning their strings, for a token that outlives the bytes it was parsed
    /// from (its keys are fetched first): no second parse.
    pub(crate) fn into_owned(self) -> TokenClaims<'static> {
        let o = |t: Option<Text<'_>>| t.map(|t| Text(Cow::Owned(t.0.into_owned())));
        TokenClaims {
            iss: o(self.iss),
            aud: self.aud,
            exp: self.exp,
            nbf: self.nbf,
            ver: o(self.ver),
            tid: o(self.tid),
            oid: o(self.oid),
            sub: o(self.sub),
            azp: o(self.azp),
            appid: o(self.appid),
            name: o(self.name),
            preferred_username: o(self.preferred_username),
            scp: o(self.scp),
            roles: self.roles,
            idtyp: o(self.idtyp),
            xms_cc: self.xms_cc,
        }
    }

    /// The claims to keep with `payload` (the bytes they were parsed from).
    pub(crate) fn keep(self, payload: &[u8]) -> KeptClaims {
        let k = |t| Stored::of(t, payload);
        KeptClaims {
            iss: k(self.iss),
            aud: self.aud,
            exp: self.exp,
            nbf: self.nbf,
            ver: k(self.ver),
            tid: k(self.tid),
            oid: k(self.oid),
            sub: k(self.sub),
            azp: k(self.azp),
            appid: k(self.appid),
            name: k(self.name),
            preferred_username: k(self.preferred_username),
            scp: k(self.scp),
            roles: self.roles,
            idtyp: k(self.idtyp),
            xms_cc: self.xms_cc,
        }
    }
}

struct ClaimsVisitor;

impl<'de> Visitor<'de> for ClaimsVisitor {
    type Value = TokenClaims<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TokenClaims<'de>, A::Error> {
        fn put<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
            map: &mut A,
            slot: &mut Option<T>,
            seen: &mut bool,
            name: &'static str,
        ) -> Result<(), A::Error> {
            if std::mem::replace(seen, true) {
                return Err(de::Error::duplicate_field(name));
            }
            *slot = map.next_value()?;
            Ok(())
        }
        let mut c = TokenClaims::default();
        let mut seen = [false; 16];
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let s = &mut seen;
            match &*key {
                "iss" => put(&mut map, &mut c.iss, &mut s[0], "iss")?,
                "aud" => put(&mut map, &mut c.aud, &mut s[1], "aud")?,
                "exp" => put(&mut map, &mut c.exp, &mut s[2], "exp")?,
                "nbf" => put(&mut map, &mut c.nbf, &mut s[3], "nbf")?,
                "ver" => put(&mut map, &mut c.ver, &mut s[4], "ver")?,
                "tid" => put(&mut map, &mut c.tid, &mut s[5], "tid")?,
                "oid" => put(&mut map, &mut c.oid, &mut s[6], "oid")?,
                "sub" => put(&mut map, &mut c.sub, &mut s[7], "sub")?,
                "azp" => put(&mut map, &mut c.azp, &mut s[8], "azp")?,
                "appid" => put(&mut map, &mut c.appid, &mut s[9], "appid")?,
                "name" => put(&mut map, &mut c.name, &mut s[10], "name")?,
                "preferred_username" => put(
                    &mut map,
                    &mut c.preferred_username,
                    &mut s[11],
                    "preferred_username",
                )?,
                "scp" => put(&mut map, &mut c.scp, &mut s[12], "scp")?,
                "roles" => put(&mut map, &mut c.roles, &mut s[13], "roles")?,
                "idtyp" => put(&mut map, &mut c.idtyp, &mut s[14], "idtyp")?,
                "xms_cc" => put(&mut map, &mut c.xms_cc, &mut s[15], "xms_cc")?,
                _ => map.next_value_seed(Skip { depth: 1 })?,
            }
        }
        Ok(c)
    }
}

/// Skips a claim nobody reads, counting the nesting depth (`depth`: the enclosing level).
#[derive(Clone, Copy)]
struct Skip {
    depth: usize,
}

impl Skip {
    fn enter<E: de::Error>(self) -> Result<Self, E> {
        let depth = self.depth + 1;
        if depth > MAX_JSON_DEPTH {
            return Err(E::custom("nested too deep"));
        }
        Ok(Self { depth })
    }
}

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.enter()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.enter()?;
        while map.next_key_seed(inner)?.is_some() {
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

/// A claim string kept by [`VerifiedClaims`]: a range of the payload, or its own copy (a string
/// with escapes).
#[derive(Clone)]
enum Stored {
    Span(usize, usize),
    Owned(Box<str>),
}

impl Stored {
    fn of(text: Option<Text<'_>>, payload: &[u8]) -> Option<Self> {
        let text = text?;
        Some(match text.0 {
            Cow::Borrowed(s) => {
                let start = (s.as_ptr() as usize).wrapping_sub(payload.as_ptr() as usize);
                if start <= payload.len() && s.len() <= payload.len() - start {
                    Self::Span(start, start + s.len())
                } else {
                    Self::Owned(s.into())
                }
            }
            Cow::Owned(s) => Self::Owned(s.into_boxed_str()),
        })
    }
}

/// The claims kept after verification, their strings ranges of the payload.
pub(crate) struct KeptClaims {
    iss: Option<Stored>,
    aud: Option<OneOrMany>,
    exp: Option<f64>,
    nbf: Option<f64>,
    ver: Option<Stored>,
    tid: Option<Stored>,
    oid: Option<Stored>,
    sub: Option<Stored>,
    azp: Option<Stored>,
    appid: Option<Stored>,
    name: Option<Stored>,
    preferred_username: Option<Stored>,
    scp: Option<Stored>,
    roles: Option<Vec<String>>,
    idtyp: Option<Stored>,
    xms_cc: Option<OneOrMany>,
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
    claims: KeptClaims,
    /// The decoded payload (UTF-8: every string in it was checked by the parse); the claims'
    /// strings are ranges of it. [`VerifiedClaims::raw`] parses it on first use, so the request
    /// path never builds a `serde_json::Value` tree.
    payload: String,
    raw: OnceLock<Map<String, Value>>,
    version: TokenVersion,
    expires_at: i64,
    /// The name of the authority that accepted the token, if it has one.
    authority: Option<Arc<str>>,
}

/// The claims as `TokenClaims { iss: Some("..."), .. }`.
struct DebugClaims<'a>(&'a Inner);

impl<'a> fmt::Debug for DebugClaims<'a> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (i, c): (&'a Inner, &'a KeptClaims) = (self.0, &self.0.claims);
        let t = |s: &'a Option<Stored>| i.text(s.as_ref());
        f.debug_struct("TokenClaims")
            .field("iss", &t(&c.iss))
            .field("aud", &c.aud)
            .field("exp", &c.exp)
            .field("nbf", &c.nbf)
            .field("ver", &t(&c.ver))
            .field("tid", &t(&c.tid))
            .field("oid", &t(&c.oid))
            .field("sub", &t(&c.sub))
            .field("azp", &t(&c.azp))
            .field("appid", &t(&c.appid))
            .field("name", &t(&c.name))
            .field("preferred_username", &t(&c.preferred_username))
            .field("scp", &t(&c.scp))
            .field("roles", &c.roles)
            .field("idtyp", &t(&c.idtyp))
            .field("xms_cc", &c.xms_cc)
            .finish()
    }
}

impl Inner {
    fn text<'s>(&'s self, s: Option<&'s Stored>) -> Option<&'s str> {
        match s? {
            Stored::Span(a, b) => self.payload.get(*a..*b),
            Stored::Owned(s) => Some(s),
        }
    }
}

impl fmt::Debug for VerifiedClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedClaims")
            .field("claims", &DebugClaims(&self.inner))
            .field("version", &self.inner.version)
            .field("expires_at", &self.inner.expires_at)
            .finish_non_exhaustive()
    }
}

impl VerifiedClaims {
    /// The verified claims: `claims` (from [`TokenClaims::keep`]) of `payload`.
    pub(crate) fn new(
        claims: KeptClaims,
        payload: Vec<u8>,
        version: TokenVersion,
        expires_at: i64,
        authority: Option<Arc<str>>,
    ) -> Self {
        // UTF-8 already: the parse checked every string, and JSON is ASCII outside them.
        let payload = String::from_utf8(payload)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Self {
            inner: Arc::new(Inner {
                claims,
                payload,
                raw: OnceLock::new(),
                version,
                expires_at,
                authority,
            }),
        }
    }

    #[cfg(test)]
    pub(crate) fn for_tests(v: Value) -> Self {
        let payload = serde_json::to_vec(&v).unwrap_or_default();
        let claims = TokenClaims::parse(&payload)
            .unwrap_or_default()
            .keep(&payload);
        Self::new(claims, payload, TokenVersion::V2, 0, None)
    }

    #[cfg(test)]
    pub(crate) fn for_tests_from(v: Value, authority: &str) -> Self {
        let payload = serde_json::to_vec(&v).unwrap_or_default();
        let claims = TokenClaims::parse(&payload)
            .unwrap_or_default()
            .keep(&payload);
        Self::new(claims, payload, TokenVersion::V2, 0, Some(authority.into()))
    }

    /// Whether `a` and `b` are the very same claims (one validation, shared by the cache).
    #[cfg(test)]
    pub(crate) fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }

    /// `oid`: the user's or service principal's object id (stable across apps).
    pub fn oid(&self) -> Option<&str> {
        self.inner.text(self.inner.claims.oid.as_ref())
    }

    /// `tid`: the tenant id.
    pub fn tid(&self) -> Option<&str> {
        self.inner.text(self.inner.claims.tid.as_ref())
    }

    /// `sub`: the subject, pairwise per application.
    pub fn sub(&self) -> Option<&str> {
        self.inner.text(self.inner.claims.sub.as_ref())
    }

    /// `iss`: the issuer (already checked against the metadata).
    pub fn issuer(&self) -> Option<&str> {
        self.inner.text(self.inner.claims.iss.as_ref())
    }

    /// The calling client's id: `azp` (v2) or `appid` (v1).
    pub fn client_id(&self) -> Option<&str> {
        let c = &self.inner.claims;
        self.inner
            .text(c.azp.as_ref())
            .or(self.inner.text(c.appid.as_ref()))
    }

    /// `name`: display name (display data only).
    pub fn name(&self) -> Option<&str> {
        self.inner.text(self.inner.claims.name.as_ref())
    }

    /// `preferred_username`: display data only, never an identifier for authorisation.
    pub fn preferred_username(&self) -> Option<&str> {
        self.inner
            .text(self.inner.claims.preferred_username.as_ref())
    }

    /// The delegated scopes (`scp`, space-separated).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.inner
            .text(self.inner.claims.scp.as_ref())
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
        match self.inner.text(self.inner.claims.idtyp.as_ref()) {
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

    /// Whether `token` is the token these claims were verified from: its payload segment is,
    /// byte for byte, the base64url form of the verified payload (compared in place: the token is
    /// neither decoded nor parsed, and nothing is allocated). What an on-behalf-of exchange
    /// checks before it forwards a bearer token as the user's assertion.
    ///
    /// ```
    /// # async fn run(validator: entra_auth::TokenValidator, token: &str) -> Result<(), entra_auth::AuthError> {
    /// let claims = validator.validate(token).await?;
    /// assert!(claims.is_from_token(token));
    /// # Ok(()) }
    /// ```
    pub fn is_from_token(&self, token: &str) -> bool {
        use base64::Engine as _;
        let mut segments = token.split('.');
        let (Some(_), Some(payload), Some(_), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return false;
        };
        let verified = self.inner.payload.as_bytes();
        if base64::encoded_len(verified.len(), false) != Some(payload.len()) {
            return false;
        }
        // 48 bytes encode to 64 characters without padding: compare chunk by chunk.
        let mut buf = [0u8; 64];
        verified.chunks(48).enumerate().all(|(i, chunk)| {
            let engine = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
            match engine.encode_slice(chunk, &mut buf) {
                Ok(n) => payload.as_bytes().get(i * 64..i * 64 + n) == Some(&buf[..n]),
                Err(_) => false,
            }
        })
    }

    /// The request's bearer token, found by the RFC 6750 scanner the validator uses (one
    /// `Authorization: Bearer` header), if it is the token these claims were verified from
    /// ([`is_from_token`](Self::is_from_token)): the very assertion an on-behalf-of exchange
    /// forwards (entra-token's `OnBehalfOf` extractor), without a second decode of the token.
    /// `None` without such a header, or with another token in it.
    pub fn verified_token<'h>(&self, headers: &'h http::HeaderMap) -> Option<&'h str> {
        // A token is longer than its payload's base64 form; the header cannot be shorter.
        let max_len = self
            .inner
            .payload
            .len()
            .saturating_mul(2)
            .saturating_add(16 * 1024);
        let token = crate::bearer::BearerHeader::find(headers, max_len)
            .ok()?
            .token()
            .ok()?;
        self.is_from_token(token).then_some(token)
    }

    /// The verified payload as JSON text: the object exactly as the token carried it (its
    /// claims in the token's order, nothing added or dropped). For answers that echo the claims
    /// (a sidecar's `/Validate`), it costs no parse and keeps nothing per cached token, where
    /// [`raw`](Self::raw) builds a map and keeps it with the cached claims.
    pub fn payload_json(&self) -> &str {
        &self.inner.payload
    }

    /// Every claim as JSON, for the claims without a typed accessor. Parsed from the verified
    /// payload on first use (the validation itself never builds this map).
    pub fn raw(&self) -> &Map<String, Value> {
        self.inner.raw.get_or_init(|| {
            // The payload was parsed as a JSON object, and checked against serde_json's nesting
            // limit (in the one parse), before the token was accepted, so this cannot fail; an empty
            // map is the harmless answer if it ever did.
            serde_json::from_str(&self.inner.payload).unwrap_or_default()
        })
    }

    /// One claim as JSON.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.raw().get(name)
    }

    /// The name of the authority that accepted the token ([`AuthConfigBuilder::name`](crate::AuthConfigBuilder::name)),
    /// when the validator has several or the one was named.
    pub fn authority(&self) -> Option<&str> {
        self.inner.authority.as_deref()
    }

    fn strings(&self, name: &str) -> impl Iterator<Item = &str> {
        self.get(name)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str))
            .into_iter()
            .flatten()
    }

    /// `groups`: the object ids of the user's groups (when the app registration emits them).
    /// Empty with an overage: check [`has_groups_overage`](Self::has_groups_overage).
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.strings("groups")
    }

    /// Whether the token has a groups overage: the user is in more groups than the token can
    /// list (`hasgroups: true` in implicit-flow tokens, or `groups` named in `_claim_names`
    /// with its `_claim_sources` entry). Then [`groups`](Self::groups) is not the user's groups.
    pub fn has_groups_overage(&self) -> bool {
        let has_groups = self.get("hasgroups").and_then(Value::as_bool) == Some(true)
            || self.get("hasgroups").and_then(Value::as_str) == Some("true");
        let named = self
            .get("_claim_names")
            .and_then(Value::as_object)
            .is_some_and(|m| m.contains_key("groups"));
        has_groups || named
    }

    /// `wids`: the directory role template ids of the user's Entra roles.
    pub fn directory_roles(&self) -> impl Iterator<Item = &str> {
        self.strings("wids")
    }

    /// `acrs`: the authentication context ids the token satisfies (Conditional Access).
    pub fn auth_contexts(&self) -> impl Iterator<Item = &str> {
        self.strings("acrs")
    }

    /// `acct`: the account status, 0 for a member of the tenant, 1 for a guest (an optional
    /// claim).
    pub fn acct(&self) -> Option<i64> {
        let v = self.get("acct")?;
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    }

    /// `idp`: the identity provider that authenticated the user, when it is not the issuing
    /// tenant (another tenant's issuer for guests, `live.com` for personal accounts, ...).
    pub fn idp(&self) -> Option<&str> {
        self.get("idp").and_then(Value::as_str)
    }

    /// Whether the user is a guest or external user of the token's tenant: `acct` = 1, or an
    /// `idp` that names another tenant or an external provider (app-only tokens name their own
    /// tenant, or carry no `idp`).
    pub fn is_guest(&self) -> bool {
        if self.acct() == Some(1) {
            return true;
        }
        self.idp().is_some_and(|idp| !self.is_own_idp(idp))
    }

    /// Whether `idp` is the token's own tenant (its issuer, or an issuer naming its `tid`).
    fn is_own_idp(&self, idp: &str) -> bool {
        let tid = self.tid().unwrap_or("");
        self.issuer() == Some(idp)
            || crate::discovery::tenant_segment(idp)
                .is_some_and(|seg| !tid.is_empty() && seg.eq_ignore_ascii_case(tid))
    }

    /// What marks the user as a guest, in words (for the 403 body).
    pub(crate) fn guest_marker(&self) -> Option<String> {
        if self.acct() == Some(1) {
            return Some("acct 1 (a guest account)".to_owned());
        }
        let idp = self.idp()?;
        let tid = self.tid().unwrap_or("");
        (!self.is_own_idp(idp)).then(|| {
            format!("idp {idp:?} (the user's home is another tenant or identity provider than the token's tenant {tid:?})")
        })
    }
}

/// The deepest nesting of arrays and objects a payload may have (the top-level object counts):
/// serde_json's own recursion limit, so that [`VerifiedClaims::raw`] can always parse what the
/// validator accepted. The one parse of the payload counts the depth of the claims it
/// skips against it.
pub(crate) const MAX_JSON_DEPTH: usize = 127;

/// Whether `json` nests arrays and objects deeper than [`MAX_JSON_DEPTH`]: one pass over the bytes,
/// brackets inside strings ignored, no allocation. Only the error path of [`TokenClaims::parse`]
/// runs it, to report "too deep" for a payload that is also broken in another way.
fn is_too_deep(json: &[u8]) -> bool {
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
    fn is_from_token_matches_only_the_verified_payload_segment() {
        use base64::Engine as _;
        // 100 characters of payload: two whole 48-byte chunks and a partial one.
        let v = json!({"aud": "api", "oid": "o", "name": "x".repeat(60), "exp": 2_000_000_000u64});
        let claims = VerifiedClaims::for_tests(v.clone());
        let b64 = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
        };
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{}.c2ln", b64(&v));
        assert!(claims.is_from_token(&token));

        let mut other = v.clone();
        other["oid"] = json!("p");
        let forged = format!("eyJhbGciOiJSUzI1NiJ9.{}.c2ln", b64(&other));
        assert!(!claims.is_from_token(&forged), "another payload");
        let padded = token.replace(".c2ln", "=.c2ln");
        assert!(!claims.is_from_token(&padded), "a padded payload segment");
        assert!(
            !claims.is_from_token(&format!("{token}.x")),
            "four segments"
        );
        assert!(
            !claims.is_from_token(&token[..token.rfind('.').unwrap()]),
            "two segments"
        );

        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            format!("bearer  {token}").parse().unwrap(),
        );
        assert_eq!(claims.verified_token(&headers), Some(token.as_str()));
        headers.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {forged}").parse().unwrap(),
        );
        assert_eq!(claims.verified_token(&headers), None);
        headers.append(
            http::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        assert_eq!(
            claims.verified_token(&headers),
            None,
            "two Authorization headers"
        );
    }

    #[test]
    fn depth_check_matches_serde_json_limit_and_ignores_strings() {
        let nest = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n - 1), "]".repeat(n - 1));
        for n in [1, 2, 100, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 500] {
            let doc = nest(n);
            let parses = serde_json::from_str::<Map<String, Value>>(&doc).is_ok();
            assert_eq!(is_too_deep(doc.as_bytes()), !parses, "depth {n}");
            let one_pass = TokenClaims::parse(doc.as_bytes()).map(|_| ());
            let expected = if parses {
                Ok(())
            } else {
                Err(PayloadError::TooDeep)
            };
            assert_eq!(one_pass, expected, "one pass, depth {n}");
        }
        let in_string = format!("{{\"a\":\"{}\\\"{}\"}}", "[".repeat(500), "{".repeat(500));
        assert!(!is_too_deep(in_string.as_bytes()));
        assert_eq!(
            serde_json::from_str::<Map<String, Value>>(&in_string)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Ok(())
        );
    }

    #[test]
    fn one_pass_borrows_unescaped_strings_and_copies_escaped_ones() {
        let payload = br#"{"iss":"https://x/","oid":"a\u0041","aud":"api","x":{"y":[1,"z",null]}}"#;
        let claims = TokenClaims::parse(payload).unwrap();
        assert!(matches!(
            claims.iss,
            Some(Text(Cow::Borrowed("https://x/")))
        ));
        assert_eq!(claims.oid.as_deref(), Some("aA"));
        assert!(matches!(claims.oid, Some(Text(Cow::Owned(_)))));
        let kept = claims.keep(payload);
        let v = VerifiedClaims::new(kept, payload.to_vec(), TokenVersion::V2, 0, None);
        assert_eq!((v.issuer(), v.oid()), (Some("https://x/"), Some("aA")));
        assert_eq!(v.audiences(), ["api"]);
        assert_eq!(v.get("x"), Some(&json!({"y": [1, "z", null]})));
    }

    #[test]
    fn one_pass_refuses_duplicates_wrong_types_and_non_objects() {
        for bad in [
            &br#"{"iss":"a","iss":"b"}"#[..],
            br#"{"iss":null,"iss":"b"}"#,
            br#"{"exp":"soon"}"#,
            br#"{"aud":[1]}"#,
            br#"["iss"]"#,
            br#"{"a":1} x"#,
        ] {
            assert!(
                matches!(TokenClaims::parse(bad), Err(PayloadError::Json { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
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
