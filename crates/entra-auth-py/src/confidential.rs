//! `ConfidentialClient`: entra-token's confidential client (client credentials and on-behalf-of,
//! in-memory L1 and optional Redis L2 cache) for an API calling downstream APIs.
//!
//! A downstream claims challenge (MFA, Conditional Access) raises `Unauthorized` with entra-auth's
//! 401 `insufficient_claims` answer, to pass to the caller as is; every other failure raises
//! `TokenError` saying what went wrong.

use std::time::UNIX_EPOCH;

use entra_token::{
    AccessToken as RustToken, Authority, Certificate, ClientCredential, ConfidentialConfig, Scopes,
    TokenError as RustTokenError, UserAssertion,
};
use pyo3::prelude::*;

use crate::boundary::token_arg;
use crate::claims::Claims;
use crate::error::{config_error, token_answer, token_error};
use crate::runtime::{Boxed, Worker};

type Outcome = Result<RustToken, RustTokenError>;

/// An access token for a downstream API. Its `repr` never shows the token.
#[pyclass(frozen, module = "entra_auth", name = "AccessToken")]
pub(crate) struct AccessToken {
    inner: RustToken,
}

#[pymethods]
impl AccessToken {
    /// The token itself (send it as `Authorization: Bearer <token>`; never log it).
    #[getter]
    fn token(&self) -> &str {
        self.inner.secret()
    }
    /// `Bearer <token>`, the `Authorization` header's value.
    #[getter]
    fn authorization(&self) -> String {
        format!("Bearer {}", self.inner.secret())
    }
    /// When it expires (Unix seconds).
    #[getter]
    fn expires_at(&self) -> f64 {
        self.inner
            .expires_at()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }
    fn __repr__(&self) -> String {
        format!(
            "AccessToken(expires_at={:.0}, token=<redacted>)",
            self.expires_at()
        )
    }
}

/// entra-token's confidential client on a runtime thread of its own.
#[pyclass(frozen, subclass, module = "entra_auth", name = "ConfidentialClient")]
pub(crate) struct ConfidentialClient {
    client: entra_token::ConfidentialClient,
    worker: Worker,
}

#[pymethods]
impl ConfidentialClient {
    /// `tenant_id` and this API's `client_id` with its `client_secret`, or instead its
    /// `client_certificate` (the path of a PEM file with its key, or a PKCS#12 / PFX file) and
    /// `client_certificate_password`; `instance`: another cloud or a local issuer. `redis_url` +
    /// `redis_key` (32 bytes, base64) add the shared, encrypted L2 cache (`redis_prefix` isolates
    /// applications).
    #[new]
    #[pyo3(signature = (
        tenant_id, client_id, *, client_secret = None, client_certificate = None,
        client_certificate_password = None, instance = None, redis_url = None, redis_key = None,
        redis_prefix = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        tenant_id: &str,
        client_id: &str,
        client_secret: Option<&str>,
        client_certificate: Option<std::path::PathBuf>,
        client_certificate_password: Option<String>,
        instance: Option<&str>,
        redis_url: Option<&str>,
        redis_key: Option<&str>,
        redis_prefix: Option<&str>,
    ) -> PyResult<Self> {
        let mut authority = Authority::tenant(tenant_id).map_err(config_error)?;
        if let Some(i) = instance {
            authority = authority.with_instance(i).map_err(config_error)?;
        }
        let credential = match (client_secret, client_certificate) {
            (Some(secret), None) => ClientCredential::secret(secret),
            (None, Some(path)) => {
                let password = client_certificate_password.map(entra_token::SecretString::from);
                let certificate = Certificate::from_file(&path, password.as_ref())
                    .map_err(|e| config_error(format!("client_certificate: {e}")))?;
                ClientCredential::certificate(certificate)
            }
            _ => {
                return Err(config_error(
                    "pass exactly one of client_secret and client_certificate",
                ))
            }
        };
        let mut builder = ConfidentialConfig::builder(authority, client_id, credential);
        let worker = Worker::start("entra-token")?;
        if let Some(cache) = shared_cache(&worker, redis_url, redis_key, redis_prefix)? {
            builder = builder.shared_cache(cache);
        }
        let config = builder.build().map_err(config_error)?;
        let client = {
            let _entered = worker.handle().enter();
            entra_token::ConfidentialClient::new(config).map_err(config_error)?
        };
        Ok(Self { client, worker })
    }

    /// A token for the application itself (client credentials): `scopes` is one
    /// `{resource}/.default`.
    fn acquire_for_app(&self, py: Python<'_>, scopes: Vec<String>) -> PyResult<AccessToken> {
        let scopes = Scopes::new(scopes);
        let c = &self.client;
        let out = self.worker.block(py, c.acquire_for_app(&scopes))?;
        token_or_raise(py, out)
    }

    /// A token for `scopes` of a downstream API on behalf of the caller: `claims` are the caller's
    /// verified claims and `token` the bearer token they came from (or its `Authorization`
    /// header's value).
    fn acquire_on_behalf_of(
        &self,
        py: Python<'_>,
        claims: &Claims,
        token: &Bound<'_, PyAny>,
        scopes: Vec<String>,
    ) -> PyResult<AccessToken> {
        let user = assertion(py, claims, token)?;
        let scopes = Scopes::new(scopes);
        let c = &self.client;
        let out = self
            .worker
            .block(py, c.acquire_on_behalf_of(&user, &scopes))?;
        token_or_raise(py, out)
    }

    /// `acquire_for_app` for asyncio (see `Validator._validate_nowait`).
    fn _acquire_for_app_nowait(
        &self,
        py: Python<'_>,
        scopes: Vec<String>,
        event_loop: PyObject,
        settle: PyObject,
    ) -> PyResult<PyObject> {
        let scopes = Scopes::new(scopes);
        let c = self.client.clone();
        let fut: Boxed<Outcome> = Box::pin(async move { c.acquire_for_app(&scopes).await });
        self.worker.nowait(py, fut, convert, event_loop, settle)
    }

    /// `acquire_on_behalf_of` for asyncio.
    fn _acquire_on_behalf_of_nowait(
        &self,
        py: Python<'_>,
        claims: &Claims,
        token: &Bound<'_, PyAny>,
        scopes: Vec<String>,
        event_loop: PyObject,
        settle: PyObject,
    ) -> PyResult<PyObject> {
        let user = assertion(py, claims, token)?;
        let scopes = Scopes::new(scopes);
        let c = self.client.clone();
        let fut: Boxed<Outcome> =
            Box::pin(async move { c.acquire_on_behalf_of(&user, &scopes).await });
        self.worker.nowait(py, fut, convert, event_loop, settle)
    }

    /// Counters: token requests sent, memory (L1) and shared (L2) cache hits, cached tokens.
    fn stats(&self) -> std::collections::BTreeMap<&'static str, u64> {
        let s = self.client.stats();
        [
            ("token_requests", s.token_requests),
            ("memory_hits", s.memory_hits),
            ("shared_hits", s.shared_hits),
            ("cached_tokens", s.cached_tokens as u64),
        ]
        .into_iter()
        .collect()
    }
}

/// The Redis L2 cache, when `redis_url` and `redis_key` are given.
#[cfg(feature = "redis")]
fn shared_cache(
    worker: &Worker,
    redis_url: Option<&str>,
    redis_key: Option<&str>,
    redis_prefix: Option<&str>,
) -> PyResult<Option<std::sync::Arc<dyn entra_token::cache::SharedCache>>> {
    let (url, key) = match (redis_url, redis_key) {
        (Some(url), Some(key)) => (url, key),
        (None, None) => return Ok(None),
        _ => {
            return Err(config_error(
                "redis_url and redis_key go together: give both or neither",
            ))
        }
    };
    let key = entra_token::cache::EncryptionKey::from_base64(key).map_err(config_error)?;
    let mut config = entra_token::cache::RedisCacheConfig::new(url, key);
    if let Some(p) = redis_prefix {
        config = config.prefix(p);
    }
    let _entered = worker.handle().enter();
    let cache = entra_token::cache::RedisCache::new(config).map_err(config_error)?;
    Ok(Some(std::sync::Arc::new(cache)))
}

/// Without the `redis` feature, asking for the L2 cache is a configuration error.
#[cfg(not(feature = "redis"))]
fn shared_cache(
    _worker: &Worker,
    redis_url: Option<&str>,
    redis_key: Option<&str>,
    _redis_prefix: Option<&str>,
) -> PyResult<Option<std::sync::Arc<dyn entra_token::cache::SharedCache>>> {
    if redis_url.is_some() || redis_key.is_some() {
        return Err(config_error(
            "redis_url: this build of entra_auth has no Redis support (cargo feature \"redis\")",
        ));
    }
    Ok(None)
}

/// The caller's token as an on-behalf-of assertion (`Bearer ` stripped when present).
fn assertion(py: Python<'_>, claims: &Claims, token: &Bound<'_, PyAny>) -> PyResult<UserAssertion> {
    let text = token_arg(token)?;
    let bare = match text.trim().split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => text.trim(),
    };
    UserAssertion::from_verified(&claims.inner, bare)
        .map_err(|e| token_error(py, &RustTokenError::from(e)))
}

fn token_or_raise(py: Python<'_>, out: Outcome) -> PyResult<AccessToken> {
    match out {
        Ok(inner) => Ok(AccessToken { inner }),
        Err(e @ RustTokenError::ClaimsChallenge(_)) => Err(token_answer(py, &e)),
        Err(e) => Err(token_error(py, &e)),
    }
}

fn convert(py: Python<'_>, out: Outcome) -> (bool, PyObject) {
    match token_or_raise(py, out).and_then(|t| Py::new(py, t)) {
        Ok(t) => (true, t.into_any()),
        Err(e) => (false, e.into_value(py).into_any()),
    }
}
