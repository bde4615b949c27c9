//! The boundary between Python and Rust: no panic crosses it, and Python arguments are checked
//! before anything runs.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::error::internal_error;

/// Runs `f`, turning a panic into `Err(message)` so that it never unwinds into the interpreter.
pub(crate) fn no_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned())
    })
}

/// Proves the boundary: runs a closure that panics through [`no_panic`] and raises what every
/// entry point raises for a panic (`ServerError`, status 500). The tests call it; nothing else
/// does.
#[pyfunction]
#[pyo3(name = "_panic_probe")]
pub(crate) fn panic_probe(py: Python<'_>) -> PyResult<()> {
    let outcome = py.allow_threads(|| {
        no_panic(|| {
            if py_probe_always() {
                panic!("the boundary probe panics on purpose");
            }
        })
    });
    match outcome {
        Ok(()) => Ok(()),
        Err(message) => Err(internal_error(py, &message)),
    }
}

/// Always true; keeps the probe's panic reachable in the compiler's eyes.
fn py_probe_always() -> bool {
    std::hint::black_box(true)
}

/// The token argument: a `str`. `None`, `bytes` and other types are refused with a `TypeError`
/// saying what to pass instead; a `str` that is not valid Unicode (lone surrogates) with a
/// `ValueError`. Its length is entra-auth's to judge (a token larger than the configured maximum
/// is a 401 `malformed_token`).
pub(crate) fn token_arg(value: &Bound<'_, PyAny>) -> PyResult<String> {
    text_arg(
        value,
        "token",
        "the access token (the part after \"Bearer \")",
    )
}

/// An `Authorization` header value: a `str` or `None` (no header).
pub(crate) fn header_arg(value: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if value.is_none() {
        return Ok(None);
    }
    text_arg(
        value,
        "authorization",
        "the Authorization header's value, e.g. \"Bearer eyJ...\", or None when the request has none",
    )
    .map(Some)
}

fn text_arg(value: &Bound<'_, PyAny>, name: &str, what: &str) -> PyResult<String> {
    if let Ok(s) = value.downcast::<PyString>() {
        return s.to_cow().map(|c| c.into_owned()).map_err(|_| {
            PyValueError::new_err(format!(
                "{name} is not valid Unicode text (it contains lone surrogates): expected {what}"
            ))
        });
    }
    let found = value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "an unknown type".to_owned());
    let hint = if value.is_none() {
        format!("{name} is None: expected {what}")
    } else if value.downcast::<PyBytes>().is_ok() {
        format!("{name} must be str, not bytes: decode it first ({name}.decode(\"ascii\")); expected {what}")
    } else {
        format!("{name} must be str, not {found}: expected {what}")
    };
    Err(PyTypeError::new_err(hint))
}

#[cfg(test)]
mod tests {
    use super::no_panic;

    #[test]
    fn no_panic_returns_the_value_or_the_panic_message() {
        assert_eq!(no_panic(|| 7), Ok(7));
        assert_eq!(
            no_panic(|| -> u8 { panic!("boom {}", 1) }),
            Err("boom 1".to_owned())
        );
        assert_eq!(
            no_panic(|| -> u8 { std::panic::panic_any(3_u32) }),
            Err("a panic without a message".to_owned())
        );
    }
}
