//! The Python extension module `entra_auth._native`: a thin binding of [`entra_auth`].
//!
//! Validation, key fetching and refresh, the verified-token cache, requirements and the answers
//! (status, RFC 6750 challenge, problem+json body) are entra-auth's; this crate converts Python
//! arguments, releases the GIL around every call into Rust, runs key fetches on a Rust runtime
//! thread, and turns [`entra_auth::AuthError`] into Python exceptions. The Python package
//! (`python/entra_auth/`) adds FastAPI dependencies, an ASGI middleware and the course's
//! `fastapi_microsoft_identity` API on top.
//!
//! Module uses form a tree: `boundary` (panics, argument conversion) and `error` at the leaves,
//! `runtime`, `claims` and `requirement` above them, `validator` and `confidential` on top, this
//! file registering them.

#![cfg_attr(test, allow(clippy::unwrap_used))]

use pyo3::prelude::*;

mod boundary;
mod claims;
mod confidential;
mod error;
mod requirement;
mod runtime;
mod validator;

/// The extension module.
#[pymodule]
#[pyo3(name = "_native")]
fn native_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<claims::Claims>()?;
    m.add_class::<requirement::Requirement>()?;
    m.add_class::<validator::Validator>()?;
    m.add_class::<validator::Authority>()?;
    m.add("AuthError", py.get_type::<error::AuthError>())?;
    m.add("BadRequest", py.get_type::<error::BadRequest>())?;
    m.add("Unauthorized", py.get_type::<error::Unauthorized>())?;
    m.add("Forbidden", py.get_type::<error::Forbidden>())?;
    m.add(
        "ServiceUnavailable",
        py.get_type::<error::ServiceUnavailable>(),
    )?;
    m.add("ServerError", py.get_type::<error::ServerError>())?;
    m.add("ConfigError", py.get_type::<error::ConfigError>())?;
    m.add("TokenError", py.get_type::<error::TokenError>())?;
    m.add_class::<confidential::ConfidentialClient>()?;
    m.add_class::<confidential::AccessToken>()?;
    m.add_function(wrap_pyfunction!(boundary::panic_probe, m)?)?;
    Ok(())
}
