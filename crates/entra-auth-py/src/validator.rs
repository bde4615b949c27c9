//! `Authority` (one authority's settings, entra-auth's `AuthConfig`) and `Validator`
//! (entra-auth's `TokenValidator` on a Rust runtime thread of its own).
//!
//! Every call releases the GIL ([`Worker`]). Keys are fetched by the runtime's thread: the background refresh
//! (started with the validator) and, on an unknown `kid`, entra-auth's single-flight refresh.
//! A synchronous call blocks only its own Python thread; the `_nowait` calls answer at once when
//! no I/O is needed (a cache hit, a token verified with the keys at hand, any rejection) and
//! otherwise hand the work to the runtime and return an asyncio future that the runtime settles
//! through the event loop's `call_soon_threadsafe`.

use std::future::Future;
use std::time::{Duration, UNIX_EPOCH};

use entra_auth::error::InvalidRequestReason;
use entra_auth::{
    AuthConfig, AuthError as RustAuthError, TokenCacheOptions, TokenValidator, TokenVersion,
    VerifiedClaims,
};
use http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use tokio::task::JoinHandle;

use crate::boundary::{header_arg, token_arg};
use crate::claims::{to_py, Claims};
use crate::error::{auth_error, config_error};
use crate::requirement::Requirement;
use crate::runtime::{Boxed, Worker};

type Outcome = Result<VerifiedClaims, RustAuthError>;

/// One authority's settings (entra-auth's `AuthConfig`), checked when built: a bad tenant, client
/// id, instance or audience raises `ConfigError` naming it.
#[pyclass(frozen, module = "entra_auth", name = "Authority")]
pub(crate) struct Authority {
    config: AuthConfig,
}

#[pymethods]
impl Authority {
    /// `tenant_id`: a tenant GUID, a domain (`contoso.onmicrosoft.com`), `common` or
    /// `organizations`; `client_id`: the API's application (client) id.
    #[new]
    #[pyo3(signature = (
        tenant_id, client_id, *, instance = None, audiences = None, b2c_tenant_name = None,
        b2c_policy = None, name = None, allowed_tenants = None, accepted_versions = None,
        clock_skew_seconds = None, token_cache_size = None, token_cache_max_age_seconds = None,
        max_token_bytes = None, dangerous_accept_any_tenant = false,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        tenant_id: &str,
        client_id: &str,
        instance: Option<&str>,
        audiences: Option<Vec<String>>,
        b2c_tenant_name: Option<&str>,
        b2c_policy: Option<&str>,
        name: Option<&str>,
        allowed_tenants: Option<Vec<String>>,
        accepted_versions: Option<Vec<String>>,
        clock_skew_seconds: Option<f64>,
        token_cache_size: Option<usize>,
        token_cache_max_age_seconds: Option<f64>,
        max_token_bytes: Option<usize>,
        dangerous_accept_any_tenant: bool,
    ) -> PyResult<Self> {
        let mut b = AuthConfig::builder(tenant_id, client_id);
        if let Some(i) = instance {
            b = b.instance(i);
        }
        if let Some(a) = audiences {
            b = b.audiences(a);
        }
        match (b2c_tenant_name, b2c_policy) {
            (Some(t), Some(p)) => b = b.b2c(t, p),
            (None, None) => {}
            _ => {
                return Err(config_error(
                    "b2c_tenant_name and b2c_policy go together: give both (e.g. \"contoso\", \"B2C_1_signin\") or neither",
                ))
            }
        }
        if let Some(n) = name {
            b = b.name(n);
        }
        if let Some(t) = allowed_tenants {
            b = b.allowed_tenants(t);
        }
        if let Some(v) = accepted_versions {
            b = b.accepted_versions(v.iter().map(|s| version(s)).collect::<PyResult<Vec<_>>>()?);
        }
        if let Some(s) = clock_skew_seconds {
            b = b.clock_skew(seconds("clock_skew_seconds", s)?);
        }
        if token_cache_size.is_some() || token_cache_max_age_seconds.is_some() {
            let mut cache = TokenCacheOptions::default();
            if let Some(n) = token_cache_size {
                cache.capacity = n;
            }
            if let Some(s) = token_cache_max_age_seconds {
                cache.max_age = seconds("token_cache_max_age_seconds", s)?;
            }
            b = b.token_cache(cache);
        }
        if let Some(m) = max_token_bytes {
            b = b.max_token_bytes(m);
        }
        if dangerous_accept_any_tenant {
            b = b.dangerous_accept_any_tenant();
        }
        b.build()
            .map(|config| Self { config })
            .map_err(config_error)
    }

    /// The instance URL (where metadata and keys come from).
    #[getter]
    fn instance(&self) -> String {
        self.config.instance().to_string()
    }

    /// The API's client id.
    #[getter]
    fn client_id(&self) -> &str {
        self.config.client_id()
    }

    /// The accepted audiences.
    #[getter]
    fn audiences(&self) -> Vec<String> {
        self.config.audiences().to_vec()
    }

    /// The authority's name, if any.
    #[getter]
    fn name(&self) -> Option<&str> {
        self.config.name()
    }

    fn __repr__(&self) -> String {
        format!(
            "Authority(instance={:?}, client_id={:?}, name={:?})",
            self.config.instance().as_str(),
            self.config.client_id(),
            self.config.name()
        )
    }
}

fn version(s: &str) -> PyResult<TokenVersion> {
    match s {
        "1.0" | "1" => Ok(TokenVersion::V1),
        "2.0" | "2" => Ok(TokenVersion::V2),
        _ => Err(config_error(format!(
            "accepted_versions: {s:?} is not a token version; expected \"1.0\" or \"2.0\""
        ))),
    }
}

fn seconds(field: &str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        config_error(format!(
            "{field}: {s} is not a duration; expected seconds, zero or more"
        ))
    })
}

/// Validates access tokens of one or several authorities (entra-auth's `TokenValidator`).
#[pyclass(frozen, subclass, module = "entra_auth", name = "Validator")]
pub(crate) struct Validator {
    validator: TokenValidator,
    refresh: JoinHandle<()>,
    // Last: dropped after the refresh task's handle.
    worker: Worker,
}

impl Drop for Validator {
    fn drop(&mut self) {
        self.refresh.abort();
    }
}

#[pymethods]
impl Validator {
    /// `Validator(tenant_id, client_id, **options)` for one authority (the options of
    /// `Authority`), or `Validator(authorities=[Authority(...), ...])` for several (each named).
    /// Starts the background key refresh at once; nothing waits for it (see `warm_up`).
    #[new]
    #[pyo3(signature = (tenant_id = None, client_id = None, *, authorities = None, **options))]
    fn new(
        py: Python<'_>,
        tenant_id: Option<&Bound<'_, PyAny>>,
        client_id: Option<&Bound<'_, PyAny>>,
        authorities: Option<Vec<PyRef<'_, Authority>>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let configs: Vec<AuthConfig> = match (tenant_id, client_id, authorities) {
            (Some(t), Some(c), None) => {
                let one = py
                    .get_type::<Authority>()
                    .call(PyTuple::new(py, [t, c])?, options)?;
                vec![one.downcast::<Authority>()?.get().config.clone()]
            }
            (None, None, Some(list)) if options.is_none_or(|o| o.is_empty()) => {
                list.iter().map(|a| a.config.clone()).collect()
            }
            _ => {
                return Err(PyTypeError::new_err(
                    "Validator takes tenant_id and client_id (and Authority's keyword options), or authorities=[Authority(...), ...] alone",
                ))
            }
        };
        let worker = Worker::start("entra-auth")?;
        let handle = worker.handle();
        let validator = {
            let _entered = handle.enter();
            if configs.len() == 1 {
                configs
                    .into_iter()
                    .next()
                    .map(TokenValidator::new)
                    .ok_or_else(|| config_error("no authority"))?
            } else {
                TokenValidator::multi(configs)
            }
        }
        .map_err(config_error)?;
        let refresh = {
            let _entered = handle.enter();
            validator.spawn_background_refresh()
        };
        Ok(Self {
            validator,
            refresh,
            worker,
        })
    }

    /// Validates a bearer token (the part after `Bearer `) and returns its `Claims`. Raises an
    /// `AuthError` subclass saying what was wrong (`Unauthorized`, or `ServiceUnavailable` while
    /// keys cannot be loaded); `TypeError` for a token that is not a `str`.
    fn validate(&self, py: Python<'_>, token: &Bound<'_, PyAny>) -> PyResult<Claims> {
        let token = token_arg(token)?;
        let v = &self.validator;
        self.block(py, v.validate(&token))
    }

    /// Authorizes a request from its `Authorization` header value(s) (`str`, a list of `str` when
    /// the request has several, or `None` when it has none): extracts the bearer token as RFC 6750
    /// says, validates it and checks `requirement`. Raises `BadRequest`, `Unauthorized`,
    /// `Forbidden` or `ServiceUnavailable`.
    #[pyo3(signature = (authorization, requirement = None))]
    fn authorize(
        &self,
        py: Python<'_>,
        authorization: &Bound<'_, PyAny>,
        requirement: Option<PyRef<'_, Requirement>>,
    ) -> PyResult<Claims> {
        let headers = headers_arg(authorization)?;
        let req = requirement.as_ref().map(|r| &*r.inner);
        let v = &self.validator;
        self.block(py, async move {
            let headers = headers?;
            v.authorize(&headers, req).await
        })
    }

    /// `validate` for asyncio: the `Claims` at once when no I/O is needed, else an asyncio future
    /// of `event_loop`, settled through `settle(future, ok, value)` on the loop's thread.
    fn _validate_nowait(
        &self,
        py: Python<'_>,
        token: &Bound<'_, PyAny>,
        event_loop: PyObject,
        settle: PyObject,
    ) -> PyResult<PyObject> {
        let token = token_arg(token)?;
        let v = self.validator.clone();
        self.nowait(
            py,
            Box::pin(async move { v.validate(&token).await }),
            event_loop,
            settle,
        )
    }

    /// `authorize` for asyncio (see `_validate_nowait`).
    #[pyo3(signature = (authorization, requirement, event_loop, settle))]
    fn _authorize_nowait(
        &self,
        py: Python<'_>,
        authorization: &Bound<'_, PyAny>,
        requirement: Option<PyRef<'_, Requirement>>,
        event_loop: PyObject,
        settle: PyObject,
    ) -> PyResult<PyObject> {
        let headers = headers_arg(authorization)?;
        let req = requirement.map(|r| r.inner.clone());
        let v = self.validator.clone();
        let fut = async move {
            let headers = headers?;
            v.authorize(&headers, req.as_deref()).await
        };
        self.nowait(py, Box::pin(fut), event_loop, settle)
    }

    /// Fetches metadata and keys now (waiting at most `timeout_seconds`). Raises
    /// `ServiceUnavailable` saying what failed; the background refresh keeps trying either way.
    #[pyo3(signature = (timeout_seconds = 10.0))]
    fn warm_up(&self, py: Python<'_>, timeout_seconds: f64) -> PyResult<()> {
        let limit = Duration::try_from_secs_f64(timeout_seconds).map_err(|_| {
            PyValueError::new_err("timeout_seconds must be a number of seconds, zero or more")
        })?;
        let v = &self.validator;
        let out = self.worker.block(py, async {
            match tokio::time::timeout(limit, v.warm_up()).await {
                Ok(r) => r,
                Err(_) => Err(RustAuthError::KeysUnavailable {
                    detail: format!(
                        "the identity provider's metadata and keys did not load within {timeout_seconds} s"
                    ),
                }),
            }
        })?;
        out.map_err(|e| auth_error(py, &e))
    }

    /// Whether keys have been loaded for every authority (readiness).
    #[getter]
    fn is_ready(&self) -> bool {
        self.validator.is_ready()
    }

    /// Every check made on `token`, expected against found, and the first that failed, as a
    /// dict (entra-auth's explanation). Never use its claims for authorisation.
    fn explain(&self, py: Python<'_>, token: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        let token = token_arg(token)?;
        let v = &self.validator;
        let json = self
            .worker
            .block(py, async { v.explain(&token).await.to_json() })?;
        to_py(py, &json)
    }

    /// The counters: accepted, rejected (by code), key fetches and failures, token cache hits,
    /// misses and entries.
    fn metrics(&self, py: Python<'_>) -> PyResult<PyObject> {
        let m = self.validator.metrics();
        let d = PyDict::new(py);
        d.set_item("accepted", m.accepted)?;
        let rejected = PyDict::new(py);
        for (code, n) in &m.rejected {
            rejected.set_item(*code, *n)?;
        }
        d.set_item("rejected", rejected)?;
        d.set_item("key_fetches", m.key_fetches)?;
        d.set_item("key_fetch_failures", m.key_fetch_failures)?;
        d.set_item(
            "last_key_fetch",
            m.last_key_fetch
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs_f64()),
        )?;
        d.set_item("key_age_seconds", m.key_age.map(|a| a.as_secs_f64()))?;
        d.set_item("token_cache_hits", m.token_cache_hits)?;
        d.set_item("token_cache_misses", m.token_cache_misses)?;
        d.set_item("token_cache_entries", m.token_cache_entries)?;
        Ok(d.into_any().unbind())
    }

    /// The client id of the first authority (for OpenAPI and the course's API).
    #[getter]
    fn client_id(&self) -> &str {
        self.validator.config().client_id()
    }

    /// The instance URL of the first authority.
    #[getter]
    fn instance(&self) -> String {
        self.validator.config().instance().to_string()
    }
}

impl Validator {
    /// Runs `fut` to completion on this thread with the GIL released.
    fn block<F>(&self, py: Python<'_>, fut: F) -> PyResult<Claims>
    where
        F: Future<Output = Outcome> + Send,
    {
        match self.worker.block(py, fut)? {
            Ok(inner) => Ok(Claims { inner }),
            Err(e) => Err(auth_error(py, &e)),
        }
    }

    /// [`Worker::nowait`] for a validation.
    fn nowait(
        &self,
        py: Python<'_>,
        fut: Boxed<Outcome>,
        event_loop: PyObject,
        settle: PyObject,
    ) -> PyResult<PyObject> {
        self.worker
            .nowait(py, fut, claims_or_error, event_loop, settle)
    }
}

/// A validation's outcome as a Python value.
fn claims_or_error(py: Python<'_>, out: Outcome) -> (bool, PyObject) {
    match out {
        Ok(inner) => match Py::new(py, Claims { inner }) {
            Ok(c) => (true, c.into_any()),
            Err(e) => (false, e.into_value(py).into_any()),
        },
        Err(e) => (false, auth_error(py, &e).into_value(py).into_any()),
    }
}

/// The `Authorization` header(s) as a header map (an error for a value no HTTP request can carry).
fn headers_arg(value: &Bound<'_, PyAny>) -> PyResult<Result<HeaderMap, RustAuthError>> {
    let values: Vec<String> = if value.is_none() || value.downcast::<PyString>().is_ok() {
        header_arg(value)?.into_iter().collect()
    } else if let Ok(list) = value.downcast::<PyList>() {
        list.iter()
            .map(|v| {
                header_arg(&v)?.ok_or_else(|| {
                    PyTypeError::new_err(
                        "authorization: a list of header values holds None; expected str values",
                    )
                })
            })
            .collect::<PyResult<_>>()?
    } else if let Ok(tuple) = value.downcast::<PyTuple>() {
        tuple
            .iter()
            .map(|v| {
                header_arg(&v)?.ok_or_else(|| {
                    PyTypeError::new_err(
                        "authorization: a tuple of header values holds None; expected str values",
                    )
                })
            })
            .collect::<PyResult<_>>()?
    } else {
        // Raises header_arg's TypeError, naming the type found.
        header_arg(value)?;
        Vec::new()
    };
    let mut headers = HeaderMap::new();
    for v in values {
        match HeaderValue::from_bytes(v.as_bytes()) {
            Ok(h) => {
                headers.append(AUTHORIZATION, h);
            }
            Err(_) => {
                return Ok(Err(RustAuthError::InvalidRequest {
                    reason: InvalidRequestReason::InvalidCharacters,
                }))
            }
        }
    }
    Ok(Ok(headers))
}
