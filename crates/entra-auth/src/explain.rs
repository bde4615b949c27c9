//! [`TokenValidator::explain`]: every check the validator makes on a token, its expected and
//! found value, and the first one that fails, with the same codes as the 401 bodies.
//!
//! The verdict is the validator's own: `explain` runs the very pipeline of
//! [`validate`](TokenValidator::validate) (without the token cache and the counters) and maps the
//! error it returns onto the step that produced it (an exhaustive match, so a new error variant
//! must be placed). The expected and found values are read from the configuration, the loaded
//! metadata and the decoded token for display only; nothing here decides whether a token passes.

use std::fmt;

use serde_json::{json, Value};

use crate::authority::TokenVersion;
use crate::claims::VerifiedClaims;
use crate::clock::{rfc3339, unix_seconds};
use crate::discovery::expected_issuer;
use crate::error::{clip, AuthError, OtherResource};
use crate::jwks::SourceKeys;
use crate::jws::{Algorithm, Compact};
use crate::validator::TokenValidator;

/// One check of the pipeline, in the order the validator makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Check {
    /// A compact JWS: three base64url segments, a JSON header and payload, within the size cap.
    Format,
    /// The JOSE header: an accepted `alg`, no unknown `crit`, no Microsoft Graph `nonce`.
    Header,
    /// The `ver` claim is an accepted token version.
    Version,
    /// The `kid` (or `x5t`) names a key of the authority's key set.
    SigningKey,
    /// The signature verifies with that key.
    Signature,
    /// `nbf` and `exp` around now, within the clock skew.
    Lifetime,
    /// `iss` is the metadata's issuer.
    Issuer,
    /// `tid` is the issuer's tenant (and an allowed one for multi-tenant APIs).
    Tenant,
    /// The signing key's own `issuer` property (v2 keys) matches `iss`.
    KeyIssuer,
    /// An access token, not an ID token.
    TokenType,
    /// `aud` is this API.
    Audience,
}

impl Check {
    /// Every check, in pipeline order.
    pub const ALL: [Check; 11] = [
        Check::Format,
        Check::Header,
        Check::Version,
        Check::SigningKey,
        Check::Signature,
        Check::Lifetime,
        Check::Issuer,
        Check::Tenant,
        Check::KeyIssuer,
        Check::TokenType,
        Check::Audience,
    ];

    /// A stable name, e.g. `signing_key`.
    pub fn name(self) -> &'static str {
        match self {
            Check::Format => "format",
            Check::Header => "header",
            Check::Version => "version",
            Check::SigningKey => "signing_key",
            Check::Signature => "signature",
            Check::Lifetime => "lifetime",
            Check::Issuer => "issuer",
            Check::Tenant => "tenant",
            Check::KeyIssuer => "key_issuer",
            Check::TokenType => "token_type",
            Check::Audience => "audience",
        }
    }

    /// The check that produced `error` (errors no token check produces map to [`Check::Format`]).
    pub fn of(error: &AuthError) -> Check {
        use AuthError as E;
        match error {
            E::MalformedToken { .. } => Check::Format,
            E::UnsupportedAlgorithm { .. } | E::UnsupportedCriticalHeader { .. } => Check::Header,
            E::TokenForOtherResource {
                reason: OtherResource::NonceHeader,
                ..
            } => Check::Header,
            E::TokenForOtherResource { .. } => Check::Audience,
            E::VersionNotAccepted { .. } => Check::Version,
            E::MissingKeyId | E::UnknownSigningKey { .. } | E::KeysUnavailable { .. } => {
                Check::SigningKey
            }
            E::InvalidSignature => Check::Signature,
            E::Expired { .. } | E::NotYetValid { .. } => Check::Lifetime,
            E::MissingClaim { claim } | E::InvalidClaim { claim, .. } => match *claim {
                "ver" => Check::Version,
                "exp" | "nbf" => Check::Lifetime,
                "iss" | "tid" => Check::Issuer,
                "aud" => Check::Audience,
                _ => Check::Format,
            },
            E::IssuerMismatch { .. } | E::UnknownIssuer { .. } => Check::Issuer,
            E::TenantMismatch { .. } | E::TenantNotAllowed { .. } => Check::Tenant,
            E::KeyIssuerMismatch { .. } => Check::KeyIssuer,
            E::IdTokenAsAccessToken { .. } => Check::TokenType,
            E::AudienceMismatch { .. } => Check::Audience,
            // Request-level answers, never the result of checking a token's bytes.
            E::MissingToken
            | E::UnsupportedScheme { .. }
            | E::InvalidRequest { .. }
            | E::InsufficientScope { .. }
            | E::InsufficientClaims { .. }
            | E::RequirementNotMet { .. }
            | E::GroupsOverage { .. }
            | E::AuthContextRequired { .. }
            | E::TenantCheckUnavailable { .. }
            | E::PermissionNotRegistered { .. }
            | E::AuthLayerMissing => Check::Format,
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a check went.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It passed.
    Passed,
    /// It failed: the stable code and the detail of the 401 (or 503) body.
    Failed {
        /// The problem `code`, e.g. `token_expired`.
        code: &'static str,
        /// The problem `detail`.
        detail: String,
    },
    /// Not reached: an earlier check failed.
    NotChecked,
}

/// One check: what was expected, what the token had, and how it went.
#[derive(Debug, Clone)]
pub struct ExplainedStep {
    check: Check,
    expected: String,
    found: String,
    outcome: Outcome,
}

impl ExplainedStep {
    /// The check.
    pub fn check(&self) -> Check {
        self.check
    }

    /// What the validator expects (from the configuration and the authority's metadata).
    pub fn expected(&self) -> &str {
        &self.expected
    }

    /// What the token has (values taken from it are shortened and sanitised).
    pub fn found(&self) -> &str {
        &self.found
    }

    /// How it went.
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }
}

/// What [`TokenValidator::explain`] found: each check in order and the validator's verdict.
#[derive(Debug, Clone)]
pub struct Explanation {
    steps: Vec<ExplainedStep>,
    result: Result<VerifiedClaims, AuthError>,
}

impl Explanation {
    /// Every check, in pipeline order.
    pub fn steps(&self) -> &[ExplainedStep] {
        &self.steps
    }

    /// The check that failed, if any.
    pub fn first_failure(&self) -> Option<&ExplainedStep> {
        self.steps
            .iter()
            .find(|s| matches!(s.outcome, Outcome::Failed { .. }))
    }

    /// The validator's error (what the 401 body says), if the token was refused.
    pub fn error(&self) -> Option<&AuthError> {
        self.result.as_ref().err()
    }

    /// The verified claims, if the token was accepted.
    pub fn claims(&self) -> Option<&VerifiedClaims> {
        self.result.as_ref().ok()
    }

    /// Whether the validator accepts the token.
    pub fn is_accepted(&self) -> bool {
        self.result.is_ok()
    }

    /// The explanation as JSON: `{"accepted", "code", "status", "detail", "steps": [{"check",
    /// "outcome" ("passed" | "failed" | "not_checked"), "expected", "found", "code"?, "detail"?}]}`.
    pub fn to_json(&self) -> Value {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                let mut v =
                    json!({"check": s.check.name(), "expected": s.expected, "found": s.found});
                match &s.outcome {
                    Outcome::Passed => v["outcome"] = json!("passed"),
                    Outcome::NotChecked => v["outcome"] = json!("not_checked"),
                    Outcome::Failed { code, detail } => {
                        v["outcome"] = json!("failed");
                        v["code"] = json!(code);
                        v["detail"] = json!(detail);
                    }
                }
                v
            })
            .collect();
        match &self.result {
            Ok(_) => json!({"accepted": true, "steps": steps}),
            Err(e) => json!({
                "accepted": false,
                "status": e.status().as_u16(),
                "code": e.code(),
                "detail": e.to_string(),
                "steps": steps,
            }),
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.steps {
            let mark = match &s.outcome {
                Outcome::Passed => "ok  ",
                Outcome::Failed { .. } => "FAIL",
                Outcome::NotChecked => " -- ",
            };
            writeln!(f, "[{mark}] {}", s.check)?;
            writeln!(f, "       expected: {}", s.expected)?;
            writeln!(f, "       found:    {}", s.found)?;
            if let Outcome::Failed { code, detail } = &s.outcome {
                writeln!(f, "       {code}: {detail}")?;
            }
        }
        match &self.result {
            Ok(_) => writeln!(f, "\nACCEPTED: the validator accepts this token"),
            Err(e) => writeln!(
                f,
                "\nREFUSED: {} {} (code {})",
                e.status().as_u16(),
                e.status().canonical_reason().unwrap_or(""),
                e.code()
            ),
        }
    }
}

impl TokenValidator {
    /// Explains what the validator makes of `token`: each check in order with its expected and
    /// found value, and the first one that fails with the code of the 401 body. It runs the same
    /// pipeline as [`validate`](Self::validate) (fetching metadata and keys as needed) but
    /// bypasses the token cache and is not counted in the metrics. The token itself is never
    /// part of the explanation.
    ///
    /// ```
    /// # async fn f() {
    /// use entra_auth::explain::{Check, Outcome};
    /// let (validator, _idp) = entra_auth::test_util::validator();
    /// let e = validator.explain("not-a-token").await;
    /// assert_eq!(e.first_failure().unwrap().check(), Check::Format);
    /// assert_eq!(e.error().unwrap().code(), "malformed_token");
    /// assert_eq!(e.steps()[1].outcome(), &Outcome::NotChecked);
    /// # }
    /// ```
    pub async fn explain(&self, token: &str) -> Explanation {
        let result = self.verify_uncached(token).await;
        let failed = result.as_ref().err().map(Check::of);
        let view = TokenView::decode(token);
        let version = view.str_claim("ver").and_then(TokenVersion::from_claim);
        let source = version.and_then(|v| self.source_for(v));
        let mut reached = true;
        let steps = Check::ALL
            .iter()
            .map(|&check| {
                let outcome = match (&result, failed) {
                    (Err(e), Some(f)) if f == check => {
                        reached = false;
                        Outcome::Failed {
                            code: e.code(),
                            detail: e.to_string(),
                        }
                    }
                    _ if reached => Outcome::Passed,
                    _ => Outcome::NotChecked,
                };
                let (expected, found) = describe(check, self, &view, source.as_deref());
                ExplainedStep {
                    check,
                    expected,
                    found,
                    outcome,
                }
            })
            .collect();
        Explanation { steps, result }
    }
}

/// The token decoded for display only (no check relies on it).
struct TokenView {
    segments: usize,
    bytes: usize,
    header: Option<Value>,
    payload: Option<Value>,
}

impl TokenView {
    fn decode(token: &str) -> Self {
        let (header, payload) = match Compact::split(token) {
            Ok(c) => (
                c.header_bytes()
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok()),
                c.payload_bytes()
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok()),
            ),
            Err(_) => (None, None),
        };
        Self {
            segments: token.split('.').count(),
            bytes: token.len(),
            header,
            payload,
        }
    }

    fn header_str(&self, name: &str) -> Option<&str> {
        self.header.as_ref()?.get(name)?.as_str()
    }

    fn claim(&self, name: &str) -> Option<&Value> {
        self.payload.as_ref()?.get(name)
    }

    fn str_claim(&self, name: &str) -> Option<&str> {
        self.claim(name)?.as_str()
    }

    /// A claim for display: `absent`, the string itself (clipped) or the JSON value.
    fn show(&self, name: &str) -> String {
        match self.claim(name) {
            None => "absent".to_owned(),
            Some(Value::String(s)) => clip(s),
            Some(v) => clip(&v.to_string()),
        }
    }
}

fn list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    v.join(", ")
}

fn time(v: Option<&Value>) -> String {
    match v.and_then(Value::as_f64) {
        Some(t) if (0.0..1e15).contains(&t) => {
            let t = t as i64;
            format!("{} ({t})", rfc3339(t))
        }
        Some(_) => "not a NumericDate".to_owned(),
        None => "absent".to_owned(),
    }
}

/// The expected and found values of `check`, for display.
fn describe(
    check: Check,
    validator: &TokenValidator,
    t: &TokenView,
    source: Option<&SourceKeys>,
) -> (String, String) {
    let config = validator.config();
    let kid = t.header_str("kid").or_else(|| t.header_str("x5t"));
    match check {
        Check::Format => (
            format!(
                "a signed JWT: 3 base64url segments with a JSON header and payload, at most {} bytes",
                config.max_token_bytes()
            ),
            format!(
                "{} segments, {} bytes, header {}, payload {}",
                t.segments,
                t.bytes,
                if t.header.is_some() { "decoded" } else { "not decoded" },
                if t.payload.is_some() { "decoded" } else { "not decoded" },
            ),
        ),
        Check::Header => (
            format!(
                "alg one of [{}], typ JWT, no unknown crit, no nonce (Microsoft Graph tokens carry one)",
                list(config.algorithms().iter().map(|a| Algorithm::as_str(*a)))
            ),
            format!(
                "alg {}, typ {}{}{}",
                t.header_str("alg").map_or("absent".into(), clip),
                t.header_str("typ").map_or("absent".into(), clip),
                if t.header.as_ref().is_some_and(|h| h.get("crit").is_some()) {
                    ", crit"
                } else {
                    ""
                },
                if t.header.as_ref().is_some_and(|h| h.get("nonce").is_some()) {
                    ", nonce"
                } else {
                    ""
                },
            ),
        ),
        Check::Version => (
            format!(
                "ver one of [{}]",
                list(config.accepted_versions().iter().map(|v| v.as_str()))
            ),
            format!("ver {}", t.show("ver")),
        ),
        Check::SigningKey => (
            match source {
                Some(s) => format!("the kid (or x5t) of one of the {} keys at {}", s.keys.keys().len(), s.jwks_uri),
                None => "the kid (or x5t) of a key in the authority's key set (not loaded)".to_owned(),
            },
            match (t.header_str("kid"), t.header_str("x5t")) {
                (Some(k), _) => format!("kid {}", clip(k)),
                (None, Some(x)) => format!("x5t {} (no kid)", clip(x)),
                (None, None) => "no kid and no x5t".to_owned(),
            },
        ),
        Check::Signature => (
            "a valid signature by that key over the header and payload".to_owned(),
            format!("{} signature", t.header_str("alg").map_or("an".into(), clip)),
        ),
        Check::Lifetime => {
            let now = unix_seconds(config.clock().now());
            (
                format!(
                    "nbf <= now <= exp, within a clock skew of {}s (now {})",
                    config.clock_skew().as_secs(),
                    rfc3339(now)
                ),
                format!("nbf {}, exp {}", time(t.claim("nbf")), time(t.claim("exp"))),
            )
        }
        Check::Issuer => (
            match source {
                Some(s) => expected_issuer(&s.issuer, t.str_claim("tid"))
                    .map_or_else(|_| format!("{} (tid substituted)", s.issuer), |e| e.into_owned()),
                None => "the issuer of the authority's metadata (not loaded)".to_owned(),
            },
            t.show("iss"),
        ),
        Check::Tenant => {
            let allowed = config.allowed_tenants();
            (
                if config.is_any_tenant_accepted() || allowed.is_empty() {
                    "tid = the tenant of the issuer".to_owned()
                } else {
                    format!(
                        "tid = the tenant of the issuer, one of [{}]",
                        list(allowed.iter().map(|a| a.as_str()))
                    )
                },
                format!("tid {}", t.show("tid")),
            )
        }
        Check::KeyIssuer => {
            let key_issuer = source
                .and_then(|s| s.keys.find(t.header_str("kid"), t.header_str("x5t")))
                .and_then(|k| k.issuer());
            (
                match (key_issuer, t.str_claim("ver")) {
                    (_, Some("1.0")) => "not checked for v1 tokens (v1 keys carry no issuer)".to_owned(),
                    (Some(i), _) => expected_issuer(i, t.str_claim("tid"))
                        .map_or_else(|_| i.to_owned(), |e| e.into_owned()),
                    (None, _) if kid.is_some() => "any (the key has no issuer property)".to_owned(),
                    (None, _) => "the issuer property of the signing key".to_owned(),
                },
                t.show("iss"),
            )
        }
        Check::TokenType => {
            let markers: Vec<&str> = ["nonce", "at_hash", "c_hash"]
                .into_iter()
                .filter(|m| t.claim(m).is_some())
                .collect();
            (
                "an access token: scp or roles, and no ID-token claim (nonce, at_hash, c_hash)".to_owned(),
                format!(
                    "scp {}, roles {}{}",
                    t.show("scp"),
                    t.show("roles"),
                    if markers.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", markers.join(", "))
                    }
                ),
            )
        }
        Check::Audience => (
            format!("aud one of [{}]", list(config.audiences())),
            format!("aud {}", t.show("aud")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{good_claims, validator, TestSigner, NOW, TID};

    fn sign(claims: &Value) -> String {
        TestSigner::new().sign_payload(claims.to_string().as_bytes())
    }

    fn outcomes(e: &Explanation) -> Vec<&'static str> {
        e.steps()
            .iter()
            .map(|s| match s.outcome() {
                Outcome::Passed => "passed",
                Outcome::Failed { .. } => "failed",
                Outcome::NotChecked => "-",
            })
            .collect()
    }

    #[tokio::test]
    async fn accepted_token_passes_every_check_with_its_values() {
        let (v, _) = validator();
        let e = v.explain(&sign(&good_claims())).await;
        assert!(e.is_accepted(), "{e}");
        assert!(e.first_failure().is_none());
        assert_eq!(outcomes(&e), ["passed"; 11]);
        let issuer = &e.steps()[6];
        assert_eq!(issuer.check(), Check::Issuer);
        assert_eq!(issuer.expected(), format!("https://login.test/{TID}/v2.0"));
        assert_eq!(issuer.found(), issuer.expected());
        assert_eq!(e.steps()[3].found(), "kid k1");
        assert_eq!(
            e.steps()[3].expected(),
            format!("the kid (or x5t) of one of the 1 keys at https://login.test/{TID}/discovery/v2.0/keys")
        );
        assert_eq!(e.to_json()["accepted"], true);
        assert!(e
            .to_string()
            .ends_with("ACCEPTED: the validator accepts this token\n"));
    }

    #[tokio::test]
    async fn expired_token_fails_at_lifetime_with_the_401_code() {
        let (v, _) = validator();
        let mut c = good_claims();
        c["exp"] = json!(NOW - 3600);
        let e = v.explain(&sign(&c)).await;
        let f = e.first_failure().unwrap();
        assert_eq!(f.check(), Check::Lifetime);
        assert!(matches!(
            f.outcome(),
            Outcome::Failed {
                code: "token_expired",
                ..
            }
        ));
        assert_eq!(
            outcomes(&e),
            ["passed", "passed", "passed", "passed", "passed", "failed", "-", "-", "-", "-", "-"]
        );
        let j = e.to_json();
        assert_eq!(
            (j["code"].as_str(), j["status"].as_u64()),
            (Some("token_expired"), Some(401))
        );
        assert_eq!(j["steps"][5]["outcome"], "failed");
        assert!(e
            .to_string()
            .contains("REFUSED: 401 Unauthorized (code token_expired)"));
    }

    #[test]
    fn every_error_code_is_placed_on_a_check() {
        let e = AuthError::IdTokenAsAccessToken {
            markers: vec!["nonce"],
            client_id: String::new(),
        };
        assert_eq!(Check::of(&e), Check::TokenType);
        assert_eq!(
            Check::of(&AuthError::MissingClaim { claim: "aud" }),
            Check::Audience
        );
        assert_eq!(
            Check::of(&AuthError::MissingClaim { claim: "tid" }),
            Check::Issuer
        );
        assert_eq!(Check::of(&AuthError::InvalidSignature), Check::Signature);
    }
}
