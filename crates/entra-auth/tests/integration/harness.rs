//! The hostile-input harness shared by the property tests (`tests/integration/hostile.rs`) and
//! the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`, which include this file by path): the crate's
//! one canned identity provider and signer (`entra_auth::test_util`, feature `test-util`), and
//! what every rejection must look like, with an RFC 9110 `WWW-Authenticate` parser to
//! round-trip the challenges.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, missing_docs)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use entra_auth::AuthError;

// Every fixture of the canned provider, for the tests and the fuzz targets (not each uses all).
#[allow(unused_imports)]
pub use entra_auth::test_util::{
    document, good_claims, good_claims_at, validator, CannedIdp, TestSigner, CID, INSTANCE, KID,
    NOW, TID,
};

/// A current-thread runtime (property tests and fuzz targets are synchronous).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// The signer of the test key (the key the canned key document publishes as `KID`).
pub fn key_pair() -> TestSigner {
    TestSigner::new()
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.payload.signature` with these exact header and payload bytes, RS256-signed with the
/// test key.
pub fn sign_raw(key: &TestSigner, header: &[u8], payload: &[u8]) -> String {
    key.sign_raw(header, payload)
}

/// A signed token whose payload is exactly `payload` under the standard header.
pub fn sign_payload(key: &TestSigner, payload: &[u8]) -> String {
    key.sign_payload(payload)
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

/// Parses one challenge (`Scheme [auth-param *( "," auth-param )]`, RFC 9110 §11.2) with THE
/// `WWW-Authenticate` parser (entra-core's); `None` unless it is exactly one well-formed challenge.
pub fn parse_challenge(s: &str) -> Option<(String, Vec<(String, String)>)> {
    let mut all = entra_core::challenge::parse(s).ok()?;
    let one = all.pop().filter(|_| all.is_empty())?;
    let params = one
        .params()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Some((one.scheme().to_owned(), params))
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
            Some(quoted_readback(&e.public_detail()))
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
