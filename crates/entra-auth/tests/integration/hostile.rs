//! Hostile input at the library boundary: property tests over the `Authorization` header parser, the
//! JWS splitter and decoders, the claim readers (arbitrary JSON signed with the published key, so it
//! passes the signature) and the `WWW-Authenticate` formatter; and the deliberate answers to claims
//! with duplicate keys, deep nesting, huge numbers and wrong JSON types.
//!
//! The same entry points are fuzzed by `fuzz/` (cargo-fuzz), which shares `harness.rs`.
#![allow(clippy::unwrap_used)]

use crate::harness;

use crate::harness::{CID, NOW};
use entra_auth::bearer::bearer_token;
use entra_auth::error::MalformedReason;
use entra_auth::{AuthError, TokenValidator};
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use serde_json::{json, Value};

struct Fixture {
    runtime: tokio::runtime::Runtime,
    validator: TokenValidator,
    key: harness::TestSigner,
}

fn fixture() -> Fixture {
    let runtime = harness::runtime();
    let (validator, _) = harness::validator();
    runtime.block_on(validator.warm_up()).unwrap();
    Fixture {
        runtime,
        validator,
        key: harness::key_pair(),
    }
}

impl Fixture {
    fn validate(&self, token: &str) -> Result<entra_auth::VerifiedClaims, AuthError> {
        self.runtime.block_on(self.validator.validate(token))
    }

    /// Signs `payload` (exact bytes) and validates it; a rejection is checked for shape.
    fn signed(&self, payload: &[u8]) -> Result<entra_auth::VerifiedClaims, AuthError> {
        let token = harness::sign_payload(&self.key, payload);
        let result = self.validate(&token);
        if let Err(e) = &result {
            harness::check_rejection(e, &token);
            harness::check_challenge_roundtrip(e);
        }
        result
    }

    fn reject_signed(&self, payload: &str) -> AuthError {
        match self.signed(payload.as_bytes()) {
            Ok(c) => panic!("accepted {payload}: {c:?}"),
            Err(e) => e,
        }
    }
}

fn is_payload_json_error(e: &AuthError) -> bool {
    matches!(
        e,
        AuthError::MalformedToken {
            reason: MalformedReason::Json {
                segment: "payload",
                ..
            }
        }
    )
}

/// The good claims as JSON text with `name` replaced by the raw JSON text `value`.
fn claims_with(name: &str, value: &str) -> String {
    let mut claims = harness::good_claims();
    claims.as_object_mut().unwrap().remove(name);
    let text = claims.to_string();
    format!("{},\"{name}\":{value}}}", &text[..text.len() - 1])
}

/// Arbitrary JSON values, nested up to a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
        Just(json!(CID)),
        Just(json!("weather.read")),
        Just(json!(NOW + 60)),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const CLAIM_NAMES: &[&str] = &[
    "iss", "aud", "exp", "nbf", "ver", "tid", "oid", "sub", "azp", "appid", "scp", "roles",
    "idtyp", "xms_cc", "name",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn authorization_header_parser_never_panics_and_answers_typed(
        values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..3),
        max in 1usize..128,
    ) {
        let mut headers = HeaderMap::new();
        for v in &values {
            if let Ok(v) = HeaderValue::from_bytes(v) {
                headers.append(AUTHORIZATION, v);
            }
        }
        match bearer_token(&headers, max) {
            Ok(token) => {
                prop_assert!(!token.is_empty() && token.len() <= max);
                prop_assert!(token.bytes().all(|c| c.is_ascii_alphanumeric() || b"-._~+/=".contains(&c)));
            }
            Err(e) => {
                prop_assert!(matches!(e.status().as_u16(), 400 | 401), "{}", e);
                harness::check_challenge_roundtrip(&e);
            }
        }
    }

    #[test]
    fn authorization_header_with_bearer_prefix_and_arbitrary_text_is_typed(rest in "\\PC{0,300}") {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {rest}")) {
            headers.insert(AUTHORIZATION, v);
            match bearer_token(&headers, 16 * 1024) {
                Ok(token) => prop_assert_eq!(token, rest.trim_start_matches(' ')),
                Err(e) => {
                    prop_assert_eq!(e.status().as_u16(), 400);
                    prop_assert!(!e.to_string().contains(&rest) || rest.len() < 8);
                }
            }
        }
    }

    #[test]
    fn arbitrary_text_as_token_is_a_typed_client_error(token in "\\PC{0,400}") {
        let f = fixture();
        let e = f.validate(&token).unwrap_err();
        harness::check_rejection(&e, &token);
        harness::check_challenge_roundtrip(&e);
    }

    #[test]
    fn arbitrary_bytes_in_three_segments_are_typed_client_errors(
        a in proptest::collection::vec(any::<u8>(), 0..200),
        b in proptest::collection::vec(any::<u8>(), 0..400),
        c in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let f = fixture();
        let token = format!("{}.{}.{}", harness::b64(&a), harness::b64(&b), harness::b64(&c));
        let e = f.validate(&token).unwrap_err();
        harness::check_rejection(&e, &token);
    }

    #[test]
    fn arbitrary_signed_payload_bytes_are_refused_typed(payload in proptest::collection::vec(any::<u8>(), 0..400)) {
        let f = fixture();
        prop_assert!(f.signed(&payload).is_err());
    }

    #[test]
    fn arbitrary_signed_json_payload_is_refused_typed(payload in any_json()) {
        let f = fixture();
        // no generated value carries this API's issuer, so nothing passes
        prop_assert!(f.signed(payload.to_string().as_bytes()).is_err());
    }

    #[test]
    fn any_claim_replaced_by_arbitrary_json_is_accepted_only_when_still_valid(
        name in proptest::sample::select(CLAIM_NAMES),
        value in any_json(),
    ) {
        let f = fixture();
        let mut claims = harness::good_claims();
        claims[name] = value.clone();
        match f.signed(claims.to_string().as_bytes()) {
            Ok(verified) => {
                // what was accepted is exactly what the claim says
                prop_assert!(verified.audiences().iter().any(|a| a == CID));
                match name {
                    "scp" => prop_assert!(value.is_string() || value.is_null()),
                    "roles" => prop_assert!(value.is_array() || value.is_null()),
                    "exp" => prop_assert!(value.as_f64().is_some_and(|e| e + 300.0 >= NOW as f64)),
                    _ => {}
                }
            }
            Err(e) => prop_assert!(e.status().is_client_error()),
        }
    }

    #[test]
    fn challenge_of_any_error_text_is_a_valid_header_that_parses_back(s in "\\PC{0,700}") {
        for e in harness::errors_with(&s) {
            harness::check_challenge_roundtrip(&e);
        }
    }

    #[test]
    fn challenge_of_arbitrary_bytes_is_a_valid_header_that_parses_back(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        let s = String::from_utf8_lossy(&bytes);
        for e in harness::errors_with(&s) {
            harness::check_challenge_roundtrip(&e);
        }
    }

    #[test]
    fn metadata_and_key_documents_of_arbitrary_bytes_are_typed_errors(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        // both parsers return Result; the property is "no panic" on any input
        let _ = entra_auth::discovery::OpenIdMetadata::parse(&bytes);
        let _ = entra_auth::jwks::JwkSet::parse(&bytes);
    }
}

#[test]
fn signed_good_claims_are_accepted_so_the_harness_reaches_the_claim_checks() {
    let f = fixture();
    let claims = f
        .signed(harness::good_claims().to_string().as_bytes())
        .unwrap();
    assert_eq!(claims.scopes().collect::<Vec<_>>(), ["weather.read"]);
}

#[test]
fn oversized_token_is_refused_before_any_decoding() {
    let f = fixture();
    // 8 MiB of base64: refused on its length (no 8 MiB decode buffers are made)
    let token = format!(
        "{}.{}.{}",
        "a".repeat(20),
        "b".repeat(8 << 20),
        "c".repeat(20)
    );
    let e = f.validate(&token).unwrap_err();
    assert!(
        matches!(
            e,
            AuthError::MalformedToken {
                reason: MalformedReason::TooLarge { max: 16384 }
            }
        ),
        "{e}"
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    let e = bearer_token(&headers, 16384).unwrap_err();
    assert_eq!((e.status().as_u16(), e.code()), (400, "invalid_request"));
}

#[test]
fn many_segments_are_counted_not_collected_without_bound() {
    let f = fixture();
    let token = ".".repeat(16_000);
    let e = f.validate(&token).unwrap_err();
    assert!(
        matches!(
            e,
            AuthError::MalformedToken {
                reason: MalformedReason::SegmentCount { found: 16001 }
            }
        ),
        "{e}"
    );
}

// Duplicate member names. RFC 7519 §4 lets a validator either reject a claims set with duplicate
// names or use the lexically last one. Our choice: a duplicated claim that the library reads
// (iss, aud, exp, nbf, ver, tid, oid, sub, azp, appid, name, preferred_username, scp, roles, idtyp,
// xms_cc) makes the token malformed (401): two readers could otherwise disagree on which value
// counts (a scope smuggled in behind a harmless one). Other claims are only ever read through
// `raw()`/`get()`, one parser, which takes the last value, as RFC 7519 allows. Duplicate JOSE header
// parameters are refused the same way (`alg` twice is never "the last one").

#[test]
fn duplicate_scp_claim_is_refused_as_malformed() {
    let f = fixture();
    let payload = claims_with("scp", r#""weather.read","scp":"weather.write""#);
    let e = f.reject_signed(&payload);
    assert!(is_payload_json_error(&e), "{e}");
    assert_eq!((e.status().as_u16(), e.code()), (401, "malformed_token"));
}

#[test]
fn duplicate_exp_aud_and_roles_claims_are_refused_as_malformed() {
    let f = fixture();
    for (name, value) in [
        ("exp", format!("{},\"exp\":{}", NOW - 10_000, NOW + 3600)),
        ("aud", format!("\"api://other\",\"aud\":\"{CID}\"")),
        ("roles", r#"["A"],"roles":["Weather.Write.All"]"#.to_owned()),
        (
            "tid",
            format!("\"{}\",\"tid\":\"{}\"", harness::TID, harness::TID),
        ),
    ] {
        let e = f.reject_signed(&claims_with(name, &value));
        assert!(is_payload_json_error(&e), "{name}: {e}");
    }
}

#[test]
fn duplicate_unread_claim_takes_the_last_value_in_raw() {
    let f = fixture();
    let payload = claims_with("custom", r#""first","custom":"last""#);
    let claims = f.signed(payload.as_bytes()).unwrap();
    assert_eq!(claims.get("custom"), Some(&json!("last")));
}

#[test]
fn duplicate_alg_header_parameter_is_refused() {
    let f = fixture();
    let token = harness::sign_raw(
        &f.key,
        br#"{"alg":"none","alg":"RS256","kid":"k1"}"#,
        harness::good_claims().to_string().as_bytes(),
    );
    let e = f.validate(&token).unwrap_err();
    assert!(
        matches!(
            e,
            AuthError::MalformedToken {
                reason: MalformedReason::Json {
                    segment: "header",
                    ..
                }
            }
        ),
        "{e}"
    );
}

// Deep nesting: a payload nesting arrays/objects deeper than serde_json's limit (127 levels with
// the top-level object) is malformed (401, `TooDeep`), checked by one pass over the bytes before any
// parsing. Without the check the typed claims (which skip unknown claims iteratively, at any depth)
// accepted such a token and `raw()` then silently came back empty. The stack is never at risk (these
// tests run on the default 2 MiB test thread stack).

fn is_too_deep(e: &AuthError) -> bool {
    matches!(
        e,
        AuthError::MalformedToken {
            reason: MalformedReason::TooDeep { max: 127 }
        }
    )
}

#[test]
fn deeply_nested_unread_claim_is_refused_as_malformed_without_stack_overflow() {
    let f = fixture();
    for depth in [129, 1_000, 5_000] {
        let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let e = f.reject_signed(&claims_with("custom", &nested));
        assert!(is_too_deep(&e), "{depth}: {e}");
    }
}

#[test]
fn deeply_nested_read_claim_is_refused_as_malformed() {
    let f = fixture();
    let nested = format!("{}\"x\"{}", "[".repeat(2_000), "]".repeat(2_000));
    let e = f.reject_signed(&claims_with("aud", &nested));
    assert!(is_too_deep(&e), "{e}");
    let nested = format!(
        "{}{}",
        "{\"a\":".repeat(1_500),
        "1".to_owned() + &"}".repeat(1_500)
    );
    let e = f.reject_signed(&claims_with("custom", &nested));
    assert!(is_too_deep(&e), "{e}");
}

#[test]
fn nesting_up_to_the_limit_is_accepted_and_readable_through_raw() {
    let f = fixture();
    // 126 arrays inside the top-level object: 127 levels, the most serde_json parses
    let nested = format!("{}1{}", "[".repeat(126), "]".repeat(126));
    let claims = f.signed(claims_with("custom", &nested).as_bytes()).unwrap();
    assert!(claims.get("custom").unwrap().is_array());
    assert_eq!(claims.get("scp"), Some(&json!("weather.read")));
    let nested = format!("{}1{}", "[".repeat(127), "]".repeat(127));
    assert!(is_too_deep(
        &f.reject_signed(&claims_with("custom", &nested))
    ));
}

// Huge and negative numbers: `exp`/`nbf` must be a NumericDate in [0, 10^15); anything else is an
// invalid claim (401), never a wrap-around into "valid for ever" or "valid since ever".

#[test]
fn huge_negative_and_overflowing_exp_are_invalid_claims() {
    let f = fixture();
    for value in [
        "1e300",
        "-1",
        "18446744073709551616",
        "9223372036854775807",
        "1e15",
    ] {
        let e = f.reject_signed(&claims_with("exp", value));
        assert!(
            matches!(e, AuthError::InvalidClaim { claim: "exp", .. }),
            "exp {value}: {e}"
        );
    }
}

#[test]
fn exp_beyond_f64_range_is_malformed() {
    let f = fixture();
    let e = f.reject_signed(&claims_with("exp", "1e400"));
    assert!(is_payload_json_error(&e), "{e}");
}

#[test]
fn huge_nbf_is_an_invalid_claim_and_fractional_exp_is_accepted() {
    let f = fixture();
    let e = f.reject_signed(&claims_with("nbf", "1e300"));
    assert!(
        matches!(e, AuthError::InvalidClaim { claim: "nbf", .. }),
        "{e}"
    );
    let e = f.reject_signed(&claims_with("nbf", "-5"));
    assert!(
        matches!(e, AuthError::InvalidClaim { claim: "nbf", .. }),
        "{e}"
    );
    // RFC 7519 NumericDate may carry a fraction
    let ok = f
        .signed(claims_with("exp", &format!("{}.5", NOW + 60)).as_bytes())
        .unwrap();
    assert!(ok.expires_at() > std::time::UNIX_EPOCH);
}

// Wrong JSON types for claims the library reads: the token is malformed (401), never "claim absent"
// (a `roles` string would otherwise silently grant nothing, a `scp` array silently everything a
// lenient reader wants). The message names the payload segment and position.

#[test]
fn wrong_claim_types_are_refused_as_malformed() {
    let f = fixture();
    for (name, value) in [
        ("exp", format!("\"{}\"", NOW + 3600)),
        ("nbf", "\"yesterday\"".to_owned()),
        ("scp", r#"["weather.read"]"#.to_owned()),
        ("roles", r#""Weather.Read.All""#.to_owned()),
        ("aud", "12345".to_owned()),
        ("aud", r#"{"x":1}"#.to_owned()),
        ("iss", "true".to_owned()),
        ("ver", "2.0".to_owned()),
        ("tid", "7".to_owned()),
        ("xms_cc", r#"{"cp1":true}"#.to_owned()),
        ("roles", r#"["A", 5]"#.to_owned()),
    ] {
        let e = f.reject_signed(&claims_with(name, &value));
        assert!(is_payload_json_error(&e), "{name} = {value}: {e}");
        assert_eq!(e.status().as_u16(), 401);
    }
}

#[test]
fn payload_that_is_not_an_object_is_malformed() {
    let f = fixture();
    for payload in ["[]", "\"claims\"", "null", "1", "", "{", "{\"exp\":1}x"] {
        let e = f.reject_signed(payload);
        assert_eq!(e.code(), "malformed_token", "{payload:?}: {e}");
    }
}

#[test]
fn wrong_type_for_an_unread_claim_is_kept_as_is() {
    let f = fixture();
    let claims = f
        .signed(claims_with("wids", r#""not-an-array""#).as_bytes())
        .unwrap();
    assert_eq!(claims.get("wids"), Some(&json!("not-an-array")));
}
