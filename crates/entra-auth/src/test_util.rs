//! Feature `test-util` (tokio's convention): one canned identity provider and one signer for
//! every test of this crate (unit tests, `tests/`, benches and the fuzz targets), and for users
//! who test their own services without a network.
//!
//! [`CannedIdp`] is an [`HttpFetch`] that answers Entra-shaped v1 and v2 metadata and key
//! documents for [`TID`] at an instance (the test key published as [`KID`]), any URL replaced or
//! added with [`CannedIdp::set`], and counts its fetches. [`TestSigner`] signs arbitrary header
//! and payload bytes with that key, so a payload passes the signature check and reaches the
//! claim checks. Never enable this feature in production builds: the key is public.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use http::StatusCode;

use crate::clock::ManualClock;
use crate::config::AuthConfig;
use crate::fetch::{BoxFuture, HttpError, HttpFetch};
use crate::validator::TokenValidator;

/// The tenant of the canned documents.
pub const TID: &str = "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a";
/// The API's client id in the canned configuration.
pub const CID: &str = "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c";
/// The default instance of [`CannedIdp`].
pub const INSTANCE: &str = "https://login.test/";
/// The key id (and `x5t`) of the test key in the canned key sets.
pub const KID: &str = "k1";
/// "Now" of [`validator`]'s manual clock (Unix seconds).
pub const NOW: i64 = 1_800_000_000;

/// The test key (PKCS#1 PEM, public: tests only).
pub const TEST_KEY_PEM: &str = include_str!("testdata/test_key.pem");
/// The test key's modulus, base64url.
pub const TEST_KEY_N: &str = include_str!("testdata/test_key.n");

/// The metadata or key document published at `url` by an identity provider at `instance` (v1 and
/// v2 metadata for [`TID`], each naming its key set, which holds the test key as [`KID`]; the v2
/// keys carry the `{tenantid}` issuer property as Entra's do).
pub fn document(instance: &str, url: &str) -> Option<String> {
    let v2_meta = format!("{instance}{TID}/v2.0/.well-known/openid-configuration");
    let v1_meta = format!("{instance}{TID}/.well-known/openid-configuration");
    let v2_keys = format!("{instance}{TID}/discovery/v2.0/keys");
    let v1_keys = format!("{instance}{TID}/discovery/keys");
    let keys = |issuer: Option<String>| {
        let mut key = serde_json::json!({"kty": "RSA", "use": "sig", "kid": KID, "x5t": KID,
            "n": TEST_KEY_N.trim(), "e": "AQAB"});
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

/// Canned identity-provider documents by URL, with fetch counts (see the module docs).
#[derive(Debug)]
pub struct CannedIdp {
    /// The instance whose default documents are served (`None`: only what was [`set`](Self::set)).
    instance: Option<String>,
    routes: Mutex<HashMap<String, (u16, String)>>,
    hits: Mutex<HashMap<String, u64>>,
    fetches: AtomicU64,
}

impl Default for CannedIdp {
    /// The documents of [`INSTANCE`].
    fn default() -> Self {
        Self::at(INSTANCE)
    }
}

impl CannedIdp {
    /// The default documents of an identity provider at `instance` ([`document`]).
    pub fn at(instance: &str) -> Self {
        Self {
            instance: Some(instance.to_owned()),
            ..Self::empty()
        }
    }

    /// No document at all until [`set`](Self::set): fetching any other URL fails as if nothing
    /// listened there (a transport error).
    pub fn empty() -> Self {
        Self {
            instance: None,
            routes: Mutex::default(),
            hits: Mutex::default(),
            fetches: AtomicU64::new(0),
        }
    }

    /// Answers `url` with `status` and `body` from now on (replacing any default document).
    pub fn set(&self, url: &str, status: u16, body: impl Into<String>) {
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(url.to_owned(), (status, body.into()));
    }

    /// Fetches of the URLs containing `url_contains`.
    pub fn hits(&self, url_contains: &str) -> u64 {
        self.hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(k, _)| k.contains(url_contains))
            .map(|(_, v)| *v)
            .sum()
    }

    /// Every fetch so far.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }

    /// The answer to `url`: a set one, else a default document, else 404 (`None` for
    /// [`empty`](Self::empty): a transport error).
    pub fn answer(&self, url: &str) -> Option<(u16, String)> {
        let set = self
            .routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(url)
            .cloned();
        if set.is_some() {
            return set;
        }
        let instance = self.instance.as_deref()?;
        Some(
            document(instance, url)
                .map(|body| (200, body))
                .unwrap_or_else(|| (404, "not found".to_owned())),
        )
    }
}

impl HttpFetch for CannedIdp {
    fn send(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<bytes::Bytes>, HttpError>> {
        Box::pin(async move {
            let url = request.uri().to_string();
            self.fetches.fetch_add(1, Ordering::SeqCst);
            *self
                .hits
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(url.clone())
                .or_default() += 1;
            let (status, body) = self
                .answer(&url)
                .ok_or_else(|| HttpError::Connect("connection refused".into()))?;
            let mut res = http::Response::new(body.into());
            *res.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Ok(res)
        })
    }
}

/// A validator for [`TID`]/[`CID`] at [`INSTANCE`] on a manual clock at [`NOW`], over
/// [`CannedIdp::default`].
pub fn validator() -> (TokenValidator, Arc<CannedIdp>) {
    let idp = Arc::new(CannedIdp::default());
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW.unsigned_abs()));
    let config = AuthConfig::builder(TID, CID)
        .instance(INSTANCE)
        .clock(Arc::new(clock))
        .build()
        .expect("BUG: the canned configuration is valid");
    (TokenValidator::with_fetcher(config, idp.clone()), idp)
}

/// Signs with the test key (RS256), whatever the header and payload bytes.
pub struct TestSigner {
    key: crate::crypto::signature::RsaKeyPair,
}

impl std::fmt::Debug for TestSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSigner").finish_non_exhaustive()
    }
}

impl Default for TestSigner {
    fn default() -> Self {
        Self::new()
    }
}

impl TestSigner {
    /// The signer of the test key (the key [`CannedIdp`] publishes as [`KID`]).
    pub fn new() -> Self {
        let b64: String = TEST_KEY_PEM
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = STANDARD
            .decode(b64)
            .expect("BUG: the test key PEM is base64");
        let key = crate::crypto::signature::RsaKeyPair::from_der(&der)
            .expect("BUG: the test key is a PKCS#1 RSA key");
        Self { key }
    }

    /// `header.payload.signature` with these exact header and payload bytes.
    pub fn sign_raw(&self, header: &[u8], payload: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        #[cfg(feature = "aws-lc-rs")]
        let len = self.key.public_modulus_len();
        #[cfg(not(feature = "aws-lc-rs"))]
        let len = self.key.public().modulus_len();
        let mut sig = vec![0; len];
        self.key
            .sign(
                &crate::crypto::signature::RSA_PKCS1_SHA256,
                &crate::crypto::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .expect("BUG: RS256 signing with the test key");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(&sig))
    }

    /// A token whose payload is exactly `payload`, under `{"alg":"RS256","typ":"JWT","kid":"k1"}`.
    pub fn sign_payload(&self, payload: &[u8]) -> String {
        self.sign_raw(br#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#, payload)
    }
}

/// A valid v2 delegated claims set with `weather.read`, issued at [`INSTANCE`] at [`NOW`].
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn canned_idp_and_signer_make_a_token_the_validator_accepts() {
        let (validator, idp) = validator();
        validator.warm_up().await.unwrap();
        assert_eq!(idp.fetches(), 4, "v1 and v2 metadata and key sets");
        let token = TestSigner::new()
            .sign_payload(serde_json::to_string(&good_claims()).unwrap().as_bytes());
        let claims = validator.validate(&token).await.unwrap();
        assert_eq!(claims.tid(), Some(TID));
        assert_eq!(claims.scopes().collect::<Vec<_>>(), ["weather.read"]);
        idp.set(&format!("{INSTANCE}other"), 503, "down");
        assert_eq!(
            idp.answer(&format!("{INSTANCE}other")),
            Some((503, "down".to_owned()))
        );
        assert_eq!(idp.answer("https://elsewhere/").map(|a| a.0), Some(404));
        assert_eq!(CannedIdp::empty().answer(&format!("{INSTANCE}other")), None);
        assert_eq!(idp.hits("discovery/v2.0/keys"), 1);
    }
}
