//! [`Secret`]: a string that never shows up in `Debug` output or logs (tokens, client secrets).

use serde::{Deserialize, Serialize};

/// A secret string (access token, client secret). `Debug` prints `Secret([redacted])`; the value is
/// reached only through [`Secret::expose`], at the one place that sends it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the request that sends it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_value() {
        let s = Secret::new("eyJhbGciOi.secret.value");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(s.expose(), "eyJhbGciOi.secret.value");
    }
}
