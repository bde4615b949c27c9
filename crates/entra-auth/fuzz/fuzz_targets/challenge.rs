//! The `WWW-Authenticate` formatter: every error that carries attacker-influenced text (schemes,
//! kids, issuers, audiences, scopes, claims requests) is built from the fuzz input; each challenge
//! must be a visible-ASCII header value that parses back (RFC 9110 auth-params with quoted-string
//! escaping) into exactly the parameters put in.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/integration/harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    for e in harness::errors_with(&s) {
        harness::check_challenge_roundtrip(&e);
        let body: serde_json::Value =
            serde_json::from_slice(&e.problem_json()).expect("problem json");
        assert_eq!(body["code"], e.code());
    }
});
