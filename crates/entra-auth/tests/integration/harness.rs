//! The hostile-input harness shared by the property tests (`tests/integration/hostile.rs`) and the cargo-fuzz
//! targets (`fuzz/fuzz_targets/*.rs`, which include this file by path): a validator on a manual
//! clock whose metadata and keys are canned (no network), a signer with the test key so that an
//! arbitrary payload passes the signature and reaches the claim checks, and an RFC 9110
//! `WWW-Authenticate` parser to round-trip the challenges.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use entra_auth::fetch::{BoxFuture, FetchError, FetchResponse};
use entra_auth::{AuthConfig, AuthError, HttpFetch, ManualClock, TokenValidator};
use http::StatusCode;
use url::Url;

pub const TID: &str = "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a";
pub const CID: &str = "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c";
pub const INSTANCE: &str = "https://login.test/";
pub const KID: &str = "k1";
/// The validator's "now" (Unix seconds).
pub const NOW: i64 = 1_800_000_000;
const KEY_PEM: &str = include_str!("../../src/testdata/test_key.pem");
const KEY_N: &str = include_str!("../../src/testdata/test_key.n");

/// Canned metadata and key documents for `TID` (v1 and v2); counts fetches.
#[derive(Debug, Default)]
pub struct Canned {
    pub fetches: AtomicU64,
}

impl Canned {
    fn answer(url: &str) -> Option<String> {
        document(INSTANCE, url)
    }
}

/// The metadata or key document published at `url` by an identity provider at `instance` (v1 and
/// v2 metadata for `TID`, each naming its key set, which holds the test key as `KID`).
pub fn document(instance: &str, url: &str) -> Option<String> {
    let v2_meta = format!("{instance}{TID}/v2.0/.well-known/openid-configuration");
    let v1_meta = format!("{instance}{TID}/.well-known/openid-configuration");
    let v2_keys = format!("{instance}{TID}/discovery/v2.0/keys");
    let v1_keys = format!("{instance}{TID}/discovery/keys");
    let keys = |issuer: Option<String>| {
        let mut key = serde_json::json!({"kty": "RSA", "use": "sig", "kid": KID, "x5t": KID,
            "n": KEY_N.trim(), "e": "AQAB"});
        if let Some(i) = issuer {
            key["issuer"] = serde_json::json!(i);
        }
        serde_json::json!({ "keys": [key] }).to_string()
    };
    if url == v2_meta {
        Some(
            serde_json::json!({"issuer": format!("{instance}{TID}/v2.0"), "jwks_uri": v2_keys})
                .to_string(),
        )
    } else if url == v1_meta {
        Some(
            serde_json::json!({"issuer": format!("https://sts.test/{TID}/"), "jwks_uri": v1_keys})
                .to_string(),
        )
    } else if url == v2_keys {
        Some(keys(Some(format!("{instance}{{tenantid}}/v2.0"))))
    } else if url == v1_keys {
        Some(keys(None))
    } else {
        None
    }
}

impl HttpFetch for Canned {
    fn get<'a>(&'a self, url: &'a Url) -> BoxFuture<'a, Result<FetchResponse, FetchError>> {
        Box::pin(async move {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            match Self::answer(url.as_str()) {
                Some(body) => Ok(FetchResponse {
                    status: StatusCode::OK,
                    body: body.into(),
                }),
                None => Ok(FetchResponse {
                    status: StatusCode::NOT_FOUND,
                    body: "not found".into(),
                }),
            }
        })
    }
}

/// A validator for `TID`/`CID` on a manual clock at `NOW`, over canned documents.
pub fn validator() -> (TokenValidator, Arc<Canned>) {
    let canned = Arc::new(Canned::default());
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW as u64));
    let config = AuthConfig::builder(TID, CID)
        .instance(INSTANCE)
        .clock(Arc::new(clock))
        .build()
        .unwrap();
    (TokenValidator::with_fetcher(config, canned.clone()), canned)
}

/// A current-thread runtime (property tests and fuzz targets are synchronous).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// The test key as a ring key pair (PKCS#1 DER from the PEM).
pub fn key_pair() -> ring::signature::RsaKeyPair {
    let b64: String = KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(b64).unwrap();
    ring::signature::RsaKeyPair::from_der(&der).unwrap()
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.payload.signature` with these exact header and payload bytes, RS256-signed with the
/// test key (the key the canned key document publishes as `KID`).
pub fn sign_raw(key: &ring::signature::RsaKeyPair, header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", b64(&sig))
}

/// A signed token whose payload is exactly `payload` under the standard header.
pub fn sign_payload(key: &ring::signature::RsaKeyPair, payload: &[u8]) -> String {
    sign_raw(key, br#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#, payload)
}

/// A valid v2 delegated claims set with `weather.read`.
pub fn good_claims() -> serde_json::Value {
    good_claims_at(INSTANCE)
}

/// [`good_claims`] issued by the identity provider at `instance`.
pub fn good_claims_at(instance: &str) -> serde_json::Value {
    serde_json::json!({
        "iss": format!("{instance}{TID}/v2.0"), "aud": CID, "ver": "2.0", "tid": TID,
        "oid": "a11ce000-0000-4000-8000-00000000a11c", "sub": "s", "azp": "client",
        "scp": "weather.read", "iat": NOW, "nbf": NOW, "exp": NOW + 3600
    })
}

/// What every rejection must look like: a client error (or 503 when keys are missing), a stable
/// code, a problem body that parses, a challenge that is a valid header and parses back.
pub fn check_rejection(e: &AuthError, token: &str) {
    let status = e.status().as_u16();
    assert!(matches!(status, 400 | 401 | 403), "{status} {e}");
    assert!(!e.code().is_empty());
    let body: serde_json::Value = serde_json::from_slice(&e.problem_json()).unwrap();
    assert_eq!(body["status"], status);
    assert_eq!(body["code"], e.code());
    if let Some(h) = e.www_authenticate() {
        let text = h.to_str().unwrap();
        let (scheme, params) = parse_challenge(text).unwrap_or_else(|| panic!("{text}"));
        assert_eq!(scheme, "Bearer");
        if let Some(error) = e.rfc6750_error() {
            assert!(
                params.iter().any(|(k, v)| k == "error" && v == error),
                "{text}"
            );
        }
        // the token is never echoed (only checked when it is long enough to be recognisable)
        if token.len() >= 24 {
            assert!(!text.contains(token), "{text}");
        }
    }
    if token.len() >= 24 {
        assert!(!body.to_string().contains(token));
    }
}

/// Parses a challenge `Scheme [auth-param *( "," auth-param )]` (RFC 9110 §11.2) with quoted-string
/// values; `None` when it does not parse.
pub fn parse_challenge(s: &str) -> Option<(String, Vec<(String, String)>)> {
    let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let (scheme, rest) = match s.split_once(' ') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    if scheme.is_empty() || !scheme.chars().all(is_tchar) {
        return None;
    }
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if !is_tchar(c) {
                break;
            }
            name.push(c);
            chars.next();
        }
        if name.is_empty() || chars.next() != Some('=') || chars.next() != Some('"') {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => value.push(chars.next()?),
                c if c == '\t' || (' '..='~').contains(&c) => value.push(c),
                _ => return None,
            }
        }
        params.push((name, value));
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some(',') => {}
            Some(_) => return None,
        }
    }
    Some((scheme.to_owned(), params))
}

/// What a quoted challenge parameter reads back as: at most 512 characters, each visible ASCII
/// character or space kept, anything else replaced by `?` (RFC 6750 allows no more).
pub fn quoted_readback(s: &str) -> String {
    s.chars()
        .take(512)
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect()
}

/// Round trip: the challenge of `e` is a valid header value that parses back into the scheme and
/// exactly the parameters put in (`error`, `error_description` = the message, `scope`, `claims`
/// = base64 of the claims request).
pub fn check_challenge_roundtrip(e: &AuthError) {
    let Some(h) = e.www_authenticate() else {
        assert!(!matches!(e.status().as_u16(), 400 | 401 | 403), "{e}");
        return;
    };
    // a HeaderValue that is also visible ASCII: it survives every HTTP/1.1 serialiser
    let text = h
        .to_str()
        .unwrap_or_else(|_| panic!("not visible ASCII: {h:?}"));
    let (scheme, params) = parse_challenge(text).unwrap_or_else(|| panic!("unparsable: {text}"));
    assert_eq!(scheme, "Bearer");
    let get = |name: &str| {
        let found: Vec<&String> = params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v)
            .collect();
        assert!(found.len() <= 1, "duplicate {name}: {text}");
        found.first().map(|v| v.as_str().to_owned())
    };
    assert_eq!(get("error").as_deref(), e.rfc6750_error(), "{text}");
    match e.rfc6750_error() {
        Some(_) => assert_eq!(
            get("error_description"),
            Some(quoted_readback(&e.to_string()))
        ),
        None => assert_eq!(text, "Bearer"),
    }
    if let AuthError::InsufficientClaims { claims } = e {
        let encoded = get("claims").unwrap();
        let decoded = STANDARD
            .decode(encoded)
            .expect("claims parameter is whole base64");
        assert!(
            decoded == claims.as_bytes(),
            "claims parameter does not decode to the request"
        );
    }
    if let AuthError::InsufficientScope {
        required_scopes,
        required_roles,
        ..
    } = e
    {
        let list = if required_scopes.is_empty() {
            required_roles
        } else {
            required_scopes
        };
        let expected = (!list.is_empty()).then(|| quoted_readback(&list.join(" ")));
        assert_eq!(get("scope"), expected, "{text}");
    }
}

/// Errors carrying `s` in every attacker-influenced string field, for the challenge formatter.
pub fn errors_with(s: &str) -> Vec<AuthError> {
    use entra_auth::error::PermissionFailure;
    let words: Vec<String> = s.split(' ').map(str::to_owned).collect();
    vec![
        AuthError::UnsupportedScheme {
            scheme: s.to_owned(),
        },
        AuthError::UnsupportedAlgorithm {
            found: s.to_owned(),
            accepted: vec!["RS256"],
        },
        AuthError::UnsupportedCriticalHeader {
            names: words.clone(),
        },
        AuthError::UnknownSigningKey {
            kid: s.to_owned(),
            jwks_uri: s.to_owned(),
        },
        AuthError::VersionNotAccepted {
            found: s.to_owned(),
            accepted: vec!["1.0", "2.0"],
        },
        AuthError::IssuerMismatch {
            expected: s.to_owned(),
            found: s.to_owned(),
            hint: None,
        },
        AuthError::TenantMismatch {
            tid: s.to_owned(),
            issuer: s.to_owned(),
        },
        AuthError::TenantNotAllowed {
            tid: s.to_owned(),
            allowed: words.clone(),
        },
        AuthError::KeyIssuerMismatch {
            key_issuer: s.to_owned(),
            found: s.to_owned(),
        },
        AuthError::AudienceMismatch {
            expected: words.clone(),
            found: vec![s.to_owned()],
        },
        AuthError::InsufficientScope {
            failure: PermissionFailure::MissingScope,
            required_scopes: words.clone(),
            required_roles: vec![s.to_owned()],
            found_scopes: words.clone(),
            found_roles: Vec::new(),
        },
        AuthError::InsufficientScope {
            failure: PermissionFailure::MissingRole,
            required_scopes: Vec::new(),
            required_roles: words,
            found_scopes: Vec::new(),
            found_roles: vec![s.to_owned()],
        },
        AuthError::claims_challenge(s),
        AuthError::KeysUnavailable {
            detail: s.to_owned(),
        },
    ]
}
