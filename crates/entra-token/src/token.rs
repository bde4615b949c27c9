//! The vocabulary: [`Scopes`] (normalised) and [`AccessToken`] (redacted in `Debug`).

use std::sync::Arc;
use std::time::SystemTime;

use http::HeaderValue;

use crate::error::{clip, TokenError};

/// A normalised set of scopes: split on whitespace, deduplicated, sorted (so `"b a"` and
/// `"a b"` are one cache key). Scopes are case-sensitive.
///
/// ```
/// use entra_token::Scopes;
/// let s = Scopes::new(["api://b/x", "api://a/y", "api://b/x"]);
/// assert_eq!(s.to_string(), "api://a/y api://b/x");
/// assert_eq!(Scopes::parse("api://b/x  api://a/y"), s);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scopes {
    items: Arc<[String]>,
    joined: Arc<str>,
}

impl Scopes {
    /// Scopes from items (each may itself hold several, space-separated).
    pub fn new<I, S>(items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut v: Vec<String> = items
            .into_iter()
            .flat_map(|s| {
                s.as_ref()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        v.sort();
        v.dedup();
        let joined = v.join(" ");
        Self {
            items: v.into(),
            joined: joined.into(),
        }
    }

    /// Scopes from a space-separated string.
    pub fn parse(s: &str) -> Self {
        Self::new([s])
    }

    /// `{resource}/.default`, the scope of the client-credentials grant, e.g. for
    /// `https://graph.microsoft.com` or `api://{client id}`.
    pub fn app_default(resource: &str) -> Self {
        Self::new([format!("{}/.default", resource.trim_end_matches('/'))])
    }

    /// The scopes, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.items.iter().map(String::as_str)
    }

    /// The `scope` form value: space-separated, sorted.
    pub fn as_str(&self) -> &str {
        &self.joined
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Client credentials take exactly one `{resource}/.default` scope.
    pub(crate) fn check_app(&self) -> Result<(), TokenError> {
        if self.items.len() == 1 && self.items[0].ends_with("/.default") {
            return Ok(());
        }
        Err(TokenError::InvalidScopes {
            found: clip(&self.joined),
            expected: "client credentials need exactly one {resource}/.default scope, e.g. \
                       https://graph.microsoft.com/.default or api://{client id}/.default",
        })
    }

    /// On-behalf-of takes delegated scopes (or one `/.default`), never none.
    pub(crate) fn check_obo(&self) -> Result<(), TokenError> {
        let defaults = self.iter().filter(|s| s.ends_with("/.default")).count();
        if self.items.is_empty() || (defaults > 0 && self.items.len() > 1) {
            return Err(TokenError::InvalidScopes {
                found: clip(&self.joined),
                expected: "on-behalf-of needs the downstream API's delegated scopes (e.g. \
                           api://{downstream}/access_as_user) or its single /.default scope",
            });
        }
        Ok(())
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.joined)
    }
}

/// An access token for a downstream API. Cheap to clone; `Debug` shows only the expiry.
#[derive(Clone)]
pub struct AccessToken {
    secret: Arc<str>,
    expires_at: SystemTime,
    refresh_at: SystemTime,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

impl AccessToken {
    pub(crate) fn new(secret: Arc<str>, expires_at: SystemTime, refresh_at: SystemTime) -> Self {
        Self {
            secret,
            expires_at,
            refresh_at,
        }
    }

    /// The token itself: send it only to the API it is for, never log it.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// When it expires (`expires_in` after it was issued).
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// When the cache fetches a new one (`refresh_in`, else half the lifetime).
    pub fn refresh_at(&self) -> SystemTime {
        self.refresh_at
    }

    /// `Bearer {token}` as a header value marked sensitive (kept out of HTTP/2 tables and logs).
    pub fn authorization_header(&self) -> Option<HeaderValue> {
        let mut v = HeaderValue::from_str(&format!("Bearer {}", self.secret)).ok()?;
        v.set_sensitive(true);
        Some(v)
    }

    /// The approximate memory an entry costs (token text plus bookkeeping), for the cache bound.
    pub(crate) fn weight(&self) -> usize {
        self.secret.len() + 128
    }
}
