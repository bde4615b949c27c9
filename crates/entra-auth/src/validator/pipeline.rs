//! The pipeline, CPU only: token -> header -> claims -> key -> signature -> lifetime -> issuer
//! -> audience -> [`Verified`] (numbered steps). No I/O: a key the snapshot lacks is a
//! [`Pending::Keys`] carrying the parsed token ([`KeyMiss`]), so that verification resumes after
//! the fetch without parsing again.
//!
//! No other code in this crate decodes a token.

use std::sync::Arc;

use crate::authority::{is_guid, TokenVersion};
use crate::cache::Verified;
use crate::claims::{
    KeptClaims, OneOrMany, PayloadError, TokenClaims, VerifiedClaims, MAX_JSON_DEPTH,
};
use crate::clock::unix_seconds;
use crate::config::AuthConfig;
use crate::discovery::{expected_issuer, tenant_segment, TemplateError};
use crate::error::{clip, AuthError, MalformedReason};
use crate::jwks::{KeyStore, SourceKeys};
use crate::jws::{Algorithm, Compact, JoseHeader, MAX_SIGNATURE_BYTES};
use crate::mistake;

/// Why [`verify_now`] could not finish.
pub(crate) enum Pending {
    /// The token is refused.
    Failed(AuthError),
    /// The key snapshot lacks the token's metadata source or key: fetch, then [`resume`].
    Keys(Box<KeyMiss>),
}

impl From<AuthError> for Pending {
    fn from(e: AuthError) -> Self {
        Self::Failed(e)
    }
}

/// A token parsed (steps 1 to 3) whose key is not in the snapshot, owned so that it outlives
/// the request's borrow while keys are fetched.
pub(crate) struct KeyMiss {
    signing_input: Box<[u8]>,
    signature: Box<[u8]>,
    alg: Algorithm,
    kid: Option<Box<str>>,
    x5t: Option<Box<str>>,
    payload: Vec<u8>,
    claims: TokenClaims<'static>,
    version: TokenVersion,
    source_index: usize,
}

impl std::fmt::Debug for KeyMiss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMiss")
            .field("kid", &self.kid)
            .field("source_index", &self.source_index)
            .finish_non_exhaustive()
    }
}

/// The parsed token, borrowed: what steps 4 to 8 read.
struct Parsed<'p> {
    signing_input: &'p [u8],
    signature: &'p [u8],
    alg: Algorithm,
    kid: Option<&'p str>,
    x5t: Option<&'p str>,
    payload: &'p [u8],
    claims: &'p TokenClaims<'p>,
    version: TokenVersion,
    source_index: usize,
}

/// What steps 4 to 8 established, for the [`Verified`] record.
struct Checked {
    source: Arc<SourceKeys>,
    key_index: usize,
    exp: i64,
    nbf: Option<i64>,
}

/// What to do when the snapshot lacks the key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnKeyMiss {
    /// Hand the parsed token back (keys can still be fetched).
    Defer,
    /// Refuse (keys were fetched already).
    Refuse,
}

/// Verifies `token` from the current key snapshot, without I/O. A key miss is
/// [`Pending::Keys`], carrying the parse.
pub(crate) fn verify_now(
    config: &AuthConfig,
    keys: &KeyStore,
    token: &str,
) -> Result<Verified, Pending> {
    let jws = Compact::split(token)?;

    // 1. header
    let header_bytes = jws.header_bytes()?;
    let header = JoseHeader::parse(&header_bytes, config.algorithms(), config.client_id())?;

    // 2. payload, parsed once into typed claims (the bytes are kept for `raw()`)
    let payload = jws.payload_bytes()?;
    let claims = TokenClaims::parse(&payload).map_err(|e| {
        malformed(match e {
            PayloadError::TooDeep => MalformedReason::TooDeep {
                max: MAX_JSON_DEPTH,
            },
            PayloadError::Json { line, column } => MalformedReason::Json {
                segment: "payload",
                line,
                column,
            },
        })
    })?;
    let mut sig_buf = [0u8; MAX_SIGNATURE_BYTES + 8];
    let signature = jws.signature(&mut sig_buf)?;

    // 3. version -> metadata source
    let (version, source_index) = version_source(config, &claims)?;

    let parsed = Parsed {
        signing_input: jws.signing_input(),
        signature,
        alg: header.alg,
        kid: header.kid.as_deref(),
        x5t: header.x5t.as_deref(),
        payload: &payload,
        claims: &claims,
        version,
        source_index,
    };
    match check(config, keys, &parsed, OnKeyMiss::Defer) {
        Ok(checked) => {
            let kept = claims.keep(&payload);
            Ok(verified(
                config,
                kept,
                payload,
                version,
                source_index,
                checked,
            ))
        }
        Err(Some(e)) => Err(Pending::Failed(e)),
        Err(None) => {
            let miss = KeyMiss {
                signing_input: parsed.signing_input.into(),
                signature: parsed.signature.into(),
                alg: parsed.alg,
                kid: parsed.kid.map(Into::into),
                x5t: parsed.x5t.map(Into::into),
                claims: claims.into_owned(),
                payload,
                version,
                source_index,
            };
            Err(Pending::Keys(Box::new(miss)))
        }
    }
}

/// Finishes a token parsed by [`verify_now`] after keys were fetched: steps 4 to 9 on the new
/// snapshot; a key still missing is refused (keys unavailable, unknown signing key).
pub(crate) fn resume(
    config: &AuthConfig,
    keys: &KeyStore,
    miss: KeyMiss,
) -> Result<Verified, AuthError> {
    let parsed = Parsed {
        signing_input: &miss.signing_input,
        signature: &miss.signature,
        alg: miss.alg,
        kid: miss.kid.as_deref(),
        x5t: miss.x5t.as_deref(),
        payload: &miss.payload,
        claims: &miss.claims,
        version: miss.version,
        source_index: miss.source_index,
    };
    let checked = check(config, keys, &parsed, OnKeyMiss::Refuse).map_err(|e| {
        // `Refuse` turns every key miss into its error: `None` is not reached.
        e.unwrap_or_else(|| AuthError::KeysUnavailable {
            detail: keys.last_error(),
        })
    })?;
    let kept = miss.claims.keep(&miss.payload);
    Ok(verified(
        config,
        kept,
        miss.payload,
        miss.version,
        miss.source_index,
        checked,
    ))
}

/// Step 3: the token's version, accepted, and the metadata source its tokens are checked against.
fn version_source(
    config: &AuthConfig,
    claims: &TokenClaims<'_>,
) -> Result<(TokenVersion, usize), AuthError> {
    let ver = claims
        .ver
        .as_deref()
        .ok_or(AuthError::MissingClaim { claim: "ver" })?;
    let not_accepted = || AuthError::VersionNotAccepted {
        found: clip(ver),
        accepted: TokenVersion::names(config.accepted_versions()),
    };
    let version = TokenVersion::from_claim(ver)
        .filter(|v| config.accepted_versions().contains(v))
        .ok_or_else(not_accepted)?;
    let source_index = config.source_for(version).ok_or_else(not_accepted)?;
    Ok((version, source_index))
}

/// Steps 4 to 8 on a parsed token. `Err(None)`: the snapshot lacks the key and `on_miss` is
/// [`OnKeyMiss::Defer`].
fn check(
    config: &AuthConfig,
    keys: &KeyStore,
    t: &Parsed<'_>,
    on_miss: OnKeyMiss,
) -> Result<Checked, Option<AuthError>> {
    let claims = t.claims;
    let refuse = on_miss == OnKeyMiss::Refuse;

    // 4. key (kid, x5t as fallback) from the snapshot
    if t.kid.is_none() && t.x5t.is_none() {
        return Err(Some(AuthError::MissingKeyId));
    }
    let source = match keys.source(t.source_index) {
        Some(s) => s,
        None if refuse => {
            return Err(Some(AuthError::KeysUnavailable {
                detail: keys.last_error(),
            }))
        }
        None => return Err(None),
    };
    let key_index = match source.keys.position(t.kid, t.x5t) {
        Some(i) => i,
        None if refuse => {
            return Err(Some(AuthError::UnknownSigningKey {
                kid: clip(t.kid.or(t.x5t).unwrap_or("")),
                jwks_uri: source.jwks_uri.to_string(),
            }))
        }
        None => return Err(None),
    };
    let key = &source.keys.keys()[key_index];

    // 5. signature over the exact bytes received
    if !key.verify(t.alg, t.signing_input, t.signature) {
        return Err(Some(AuthError::InvalidSignature));
    }

    // 6. lifetime
    let now = unix_seconds(config.clock().now());
    let skew = i64::try_from(config.clock_skew().as_secs()).unwrap_or(0);
    let exp = numeric_date(claims.exp, "exp")?.ok_or(AuthError::MissingClaim { claim: "exp" })?;
    if now > exp.saturating_add(skew) {
        return Err(Some(AuthError::Expired {
            expired_at: exp,
            seconds_ago: now - exp,
        }));
    }
    let nbf = numeric_date(claims.nbf, "nbf")?;
    if let Some(nbf) = nbf {
        if nbf.saturating_sub(skew) > now {
            return Err(Some(AuthError::NotYetValid {
                not_before: nbf,
                seconds_until: nbf - now,
            }));
        }
    }

    // 7. issuer, tenant, key issuer
    check_issuer(config, claims, &source, key.issuer(), t.version)?;

    // 8. an ID token sent as a bearer token, then the audience (or the Microsoft API the
    // token was meant for)
    mistake::reject_id_token(claims, t.payload, config.client_id())?;
    let found: &[String] = claims.aud.as_ref().map_or(&[], OneOrMany::values);
    if found.is_empty() {
        return Err(Some(AuthError::MissingClaim { claim: "aud" }));
    }
    if !found.iter().any(|a| config.audiences().contains(a)) {
        return Err(Some(mistake::audience_error(
            found,
            config.audiences(),
            config.client_id(),
        )));
    }
    Ok(Checked {
        source,
        key_index,
        exp,
        nbf,
    })
}

/// Step 9, verified: the claims kept with the payload they were parsed from.
fn verified(
    config: &AuthConfig,
    claims: KeptClaims,
    payload: Vec<u8>,
    version: TokenVersion,
    source_index: usize,
    checked: Checked,
) -> Verified {
    Verified {
        claims: VerifiedClaims::new(claims, payload, version, checked.exp, config.name_arc()),
        source_index,
        source: checked.source,
        key_index: checked.key_index,
        exp: checked.exp,
        nbf: checked.nbf,
    }
}

/// Step 7, the issuer: the metadata's (its `{tenantid}` template filled with `tid`), `tid` the
/// tenant of `iss`, the tenant allowed, and the key's own `issuer` property (v2 tokens).
fn check_issuer(
    config: &AuthConfig,
    claims: &TokenClaims<'_>,
    source: &SourceKeys,
    key_issuer: Option<&str>,
    version: TokenVersion,
) -> Result<(), AuthError> {
    let iss = claims
        .iss
        .as_deref()
        .ok_or(AuthError::MissingClaim { claim: "iss" })?;
    let tid = claims.tid.as_deref();
    if let Some(t) = tid {
        if !is_guid(t) {
            return Err(AuthError::InvalidClaim {
                claim: "tid",
                expected: "a tenant id GUID",
            });
        }
    }
    let expected = expected_issuer(&source.issuer, tid).map_err(|e| match e {
        TemplateError::MissingTid => AuthError::MissingClaim { claim: "tid" },
        TemplateError::TidNotGuid => AuthError::InvalidClaim {
            claim: "tid",
            expected: "a tenant id GUID",
        },
    })?;
    if iss != expected {
        return Err(AuthError::IssuerMismatch {
            hint: issuer_hint(&expected, iss, version),
            expected: expected.into_owned(),
            found: clip(iss),
        });
    }
    // tid must be the tenant segment of iss
    if let (Some(t), Some(seg)) = (tid, tenant_segment(iss)) {
        if !t.eq_ignore_ascii_case(seg) {
            return Err(AuthError::TenantMismatch {
                tid: clip(t),
                issuer: clip(iss),
            });
        }
    }
    // allow-list (required for multi-tenant authorities unless any tenant is accepted)
    let allowed = config.allowed_tenants();
    if !config.is_any_tenant_accepted() && !allowed.is_empty() {
        let tenant = tid.or_else(|| tenant_segment(iss)).unwrap_or("");
        if !allowed
            .iter()
            .any(|a| a.as_str().eq_ignore_ascii_case(tenant))
        {
            return Err(AuthError::TenantNotAllowed {
                tid: clip(tenant),
                allowed: allowed.iter().map(ToString::to_string).collect(),
            });
        }
    }
    // the key's own issuer property (v2 tokens)
    if version == TokenVersion::V2 {
        if let Some(key_iss) = key_issuer {
            let key_expected =
                expected_issuer(key_iss, tid).map_err(|_| AuthError::KeyIssuerMismatch {
                    key_issuer: key_iss.to_owned(),
                    found: clip(iss),
                })?;
            if key_expected != iss {
                return Err(AuthError::KeyIssuerMismatch {
                    key_issuer: key_expected.into_owned(),
                    found: clip(iss),
                });
            }
        }
    }
    Ok(())
}

fn issuer_hint(expected: &str, found: &str, version: TokenVersion) -> Option<&'static str> {
    let found_v2 = found.contains("/v2.0");
    let expected_v2 = expected.contains("/v2.0");
    if found_v2 != expected_v2 {
        return Some(match version {
            TokenVersion::V2 => "the token says ver 2.0 but carries a v1 issuer (https://sts.windows.net/{tid}/); check the identity provider",
            TokenVersion::V1 => "the token says ver 1.0 but carries a v2 issuer; check the identity provider",
        });
    }
    match (tenant_segment(expected), tenant_segment(found)) {
        (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b) => {
            Some("the token was issued by another tenant; request a token from this API's tenant")
        }
        _ if found.starts_with("https://sts.windows.net/") != expected.starts_with("https://sts.windows.net/") => {
            Some("v1 tokens are issued by https://sts.windows.net/{tid}/ and v2 tokens by {instance}{tid}/v2.0; the API's app registration (accessTokenAcceptedVersion) decides which it receives")
        }
        _ => Some("the token was issued by another authority or cloud instance than the one configured"),
    }
}

fn malformed(reason: MalformedReason) -> AuthError {
    AuthError::MalformedToken { reason }
}

fn numeric_date(v: Option<f64>, claim: &'static str) -> Result<Option<i64>, AuthError> {
    match v {
        None => Ok(None),
        Some(f) if (0.0..1e15).contains(&f) => Ok(Some(f as i64)),
        Some(_) => Err(AuthError::InvalidClaim {
            claim,
            expected: "a NumericDate (seconds since 1970)",
        }),
    }
}
