//! The shared vocabulary of [entra-auth](https://docs.rs/entra-auth) (validating Microsoft
//! identity platform tokens) and [entra-token](https://docs.rs/entra-token) (acquiring them):
//! one copy of each thing both sides need, so the two can never disagree.
//!
//! * [`authority`]: instance URLs, tenants and Azure AD B2C names, with one rule set (plain
//!   `http` only for loopback hosts unless a `dangerous_` opt-in);
//! * [`clock`]: the injected time source ([`Clock`], [`SystemClock`], [`ManualClock`]);
//! * [`challenge`]: THE `WWW-Authenticate` parser and THE Bearer challenge formatter;
//! * [`bearer`]: THE RFC 6750 `Authorization: Bearer` scanner;
//! * [`http`]: THE HTTP client trait ([`HttpClient`], over `http::Request<Bytes>` /
//!   `http::Response<Bytes>`), its [`HttpOptions`], and its one reqwest implementation
//!   (`ReqwestClient`, feature `reqwest`, on by default);
//! * [`SecretString`] and [`ExposeSecret`] (secrecy's): THE secret type of every crate of the
//!   workspace (client secrets, tokens, connection strings): `Debug` never shows the value and it
//!   is zeroed on drop; `expose_secret()` marks the one place that sends it;
//! * `crypto` (feature `aws-lc-rs`, the default, or `ring`): the one cryptography backend choice,
//!   with the digests, RSA signing and AES-256-GCM that entra-token needs.
//!
//! Most users never name this crate: entra-auth and entra-token re-export what their APIs use.

#![cfg_attr(test, allow(clippy::unwrap_used))]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod authority;
pub mod bearer;
pub mod challenge;
pub mod clock;
#[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "aws-lc-rs", feature = "ring"))))]
pub mod crypto;
pub mod http;

pub use authority::{AuthorityError, PlainHttp, Tenant};
pub use clock::{Clock, ManualClock, SystemClock};
pub use http::{HttpClient, HttpError, HttpOptions};
#[doc(no_inline)]
pub use secrecy::{ExposeSecret, SecretString};

#[cfg(test)]
mod tests {
    use super::{ExposeSecret as _, SecretString};

    #[test]
    fn secret_string_debug_never_shows_the_value() {
        let s = SecretString::from("eyJhbGciOi.secret.value");
        let debug = format!("{s:?}");
        assert!(!debug.contains("secret.value"), "{debug}");
        assert!(debug.contains("REDACTED"), "{debug}");
        assert_eq!(s.expose_secret(), "eyJhbGciOi.secret.value");
    }
}
