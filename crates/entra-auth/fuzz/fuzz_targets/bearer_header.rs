//! The `Authorization` header parser: arbitrary bytes split into up to three header values (a
//! newline separates them). Whatever the input: no panic, and either a token made only of RFC 6750
//! `token68` characters taken from the header, or a typed 400/401 error whose challenge parses.
#![no_main]

use entra_auth::bearer::bearer_token;
use http::{header::AUTHORIZATION, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/integration/harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for part in data.splitn(3, |b| *b == b'\n') {
        if let Ok(v) = HeaderValue::from_bytes(part) {
            headers.append(AUTHORIZATION, v);
        }
    }
    let max = 64;
    match bearer_token(&headers, max) {
        Ok(token) => {
            assert!(!token.is_empty() && token.len() <= max);
            assert!(token
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-._~+/=".contains(&c)));
            assert_eq!(headers.get_all(AUTHORIZATION).iter().count(), 1);
        }
        Err(e) => {
            assert!(matches!(e.status().as_u16(), 400 | 401), "{e}");
            harness::check_challenge_roundtrip(&e);
        }
    }
});
