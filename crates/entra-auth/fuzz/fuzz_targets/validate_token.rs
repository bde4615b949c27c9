//! The token pipeline (JWS splitter, base64url and JSON decoders, claim readers and checks) against
//! canned metadata and keys. The first byte picks the mode:
//!
//! * 0: the rest is the token text, as a client would send it;
//! * 1: the rest is the payload, signed with the published test key (so arbitrary claims reach
//!   every check after the signature);
//! * 2: the rest is `header 0xFF payload`, both signed as given (arbitrary JOSE headers);
//! * 3: the rest is parsed as an OpenID metadata document and as a key set.
//!
//! No panic, and every rejection is a typed client error whose body and challenge are well formed.
#![no_main]

use std::sync::OnceLock;

use entra_auth::discovery::OpenIdMetadata;
use entra_auth::jwks::JwkSet;
use entra_auth::TokenValidator;
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/integration/harness.rs"]
mod harness;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    validator: TokenValidator,
    key: harness::TestSigner,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let runtime = harness::runtime();
        let (validator, _) = harness::validator();
        runtime
            .block_on(validator.warm_up())
            .expect("canned keys load");
        Fixture {
            runtime,
            validator,
            key: harness::key_pair(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let token = match mode % 4 {
        0 => String::from_utf8_lossy(rest).into_owned(),
        1 => harness::sign_payload(&f.key, rest),
        2 => match rest.iter().position(|b| *b == 0xff) {
            Some(i) => harness::sign_raw(&f.key, &rest[..i], &rest[i + 1..]),
            None => harness::sign_raw(&f.key, rest, b"{}"),
        },
        _ => {
            let _ = OpenIdMetadata::parse(rest);
            let _ = JwkSet::parse(rest);
            return;
        }
    };
    match f.runtime.block_on(f.validator.validate(&token)) {
        Ok(claims) => {
            // only a correctly signed, current token for this API passes
            assert!(mode % 4 != 0, "an unsigned token was accepted");
            assert!(claims
                .audiences()
                .iter()
                .any(|a| a == harness::CID || *a == format!("api://{}", harness::CID)));
            let _ = (
                claims.scopes().count(),
                claims.roles().len(),
                claims.raw().len(),
            );
        }
        Err(e) => {
            harness::check_rejection(&e, &token);
            harness::check_challenge_roundtrip(&e);
        }
    }
});
