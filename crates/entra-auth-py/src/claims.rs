//! `Claims`: the verified claims of an accepted token (entra-auth's `VerifiedClaims`), read-only.

use std::time::UNIX_EPOCH;

use entra_auth::VerifiedClaims;
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::Value;

/// The claims of a validated access token. Only a validator creates one.
///
/// Identify callers by `oid` + `tid`; `name` and `preferred_username` are display data.
#[pyclass(frozen, module = "entra_auth", name = "Claims")]
pub(crate) struct Claims {
    pub(crate) inner: VerifiedClaims,
}

#[pymethods]
impl Claims {
    /// `oid`: the user's or service principal's object id.
    #[getter]
    fn oid(&self) -> Option<&str> {
        self.inner.oid()
    }
    /// `tid`: the tenant id.
    #[getter]
    fn tid(&self) -> Option<&str> {
        self.inner.tid()
    }
    /// `sub`: the subject (pairwise per application).
    #[getter]
    fn sub(&self) -> Option<&str> {
        self.inner.sub()
    }
    /// `iss`: the issuer.
    #[getter]
    fn issuer(&self) -> Option<&str> {
        self.inner.issuer()
    }
    /// The calling application's client id (`azp`, or `appid` in v1 tokens).
    #[getter]
    fn client_id(&self) -> Option<&str> {
        self.inner.client_id()
    }
    /// `name` (display only).
    #[getter]
    fn name(&self) -> Option<&str> {
        self.inner.name()
    }
    /// `preferred_username` (display only).
    #[getter]
    fn preferred_username(&self) -> Option<&str> {
        self.inner.preferred_username()
    }
    /// The delegated scopes (`scp`, split on spaces).
    #[getter]
    fn scopes(&self) -> Vec<&str> {
        self.inner.scopes().collect()
    }
    /// The app roles (`roles`).
    #[getter]
    fn roles(&self) -> Vec<String> {
        self.inner.roles().to_vec()
    }
    /// The audiences (`aud`).
    #[getter]
    fn audiences(&self) -> Vec<String> {
        self.inner.audiences().to_vec()
    }
    /// The group ids (`groups`).
    #[getter]
    fn groups(&self) -> Vec<&str> {
        self.inner.groups().collect()
    }
    /// The token version: `"1.0"` or `"2.0"`.
    #[getter]
    fn version(&self) -> &'static str {
        self.inner.version().as_str()
    }
    /// The name of the authority that accepted the token, when it has one.
    #[getter]
    fn authority(&self) -> Option<&str> {
        self.inner.authority()
    }
    /// Whether the token is app-only (client credentials: no user).
    #[getter]
    fn is_app_only(&self) -> bool {
        self.inner.is_app_only()
    }
    /// Whether the user is a guest of the token's tenant.
    #[getter]
    fn is_guest(&self) -> bool {
        self.inner.is_guest()
    }
    /// `exp` as Unix seconds.
    #[getter]
    fn expires_at(&self) -> f64 {
        self.inner
            .expires_at()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }
    /// Whether `scp` holds `scope` (exact, case-sensitive).
    fn has_scope(&self, scope: &str) -> bool {
        self.inner.has_scope(scope)
    }
    /// Whether `roles` holds `role` (exact, case-sensitive).
    fn has_role(&self, role: &str) -> bool {
        self.inner.has_role(role)
    }
    /// Any claim by name, or `default`.
    #[pyo3(signature = (name, default = None))]
    fn get(&self, py: Python<'_>, name: &str, default: Option<PyObject>) -> PyResult<PyObject> {
        match self.inner.get(name) {
            Some(v) => to_py(py, v),
            None => Ok(default.unwrap_or_else(|| py.None())),
        }
    }
    fn __getitem__(&self, py: Python<'_>, name: &str) -> PyResult<PyObject> {
        match self.inner.get(name) {
            Some(v) => to_py(py, v),
            None => Err(PyKeyError::new_err(name.to_owned())),
        }
    }
    fn __contains__(&self, name: &str) -> bool {
        self.inner.get(name).is_some()
    }
    /// Every claim, as a new `dict`.
    fn to_dict(&self, py: Python<'_>) -> PyResult<PyObject> {
        let dict = PyDict::new(py);
        for (k, v) in self.inner.raw() {
            dict.set_item(k, to_py(py, v)?)?;
        }
        Ok(dict.into_any().unbind())
    }
    fn __repr__(&self) -> String {
        format!(
            "Claims(oid={:?}, tid={:?}, client_id={:?}, scopes={:?}, roles={:?})",
            self.inner.oid().unwrap_or(""),
            self.inner.tid().unwrap_or(""),
            self.inner.client_id().unwrap_or(""),
            self.inner.scopes().collect::<Vec<_>>(),
            self.inner.roles(),
        )
    }
}

/// A JSON value as the Python value `json.loads` would give.
pub(crate) fn to_py(py: Python<'_>, v: &Value) -> PyResult<PyObject> {
    Ok(match v {
        Value::Null => py.None(),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any().unbind(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any().unbind(),
            _ => n
                .as_f64()
                .unwrap_or(f64::NAN)
                .into_pyobject(py)?
                .into_any()
                .unbind(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any().unbind(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any().unbind()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, to_py(py, item)?)?;
            }
            dict.into_any().unbind()
        }
    })
}
