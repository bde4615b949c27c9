//! The permissions of the API, declared once: the delegated scopes, the app roles that stand in for them
//! in app-only (daemon) tokens, and the auth layer a protected route module puts on its sub-router.
//!
//! A leaf module: routes, state and the OpenAPI document all read these names from here.

use entra_auth::{AuthLayer, Requirement, TokenValidator};

/// The delegated scope that grants reading.
pub const READ_SCOPE: &str = "weather.read";
/// The delegated scope that grants writing.
pub const WRITE_SCOPE: &str = "weather.write";

/// The app roles that stand in for the delegated scopes in app-only (daemon) tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRoles {
    /// Grants what `weather.read` grants.
    pub read: String,
    /// Grants what `weather.write` grants.
    pub write: String,
}

/// The auth layer for a route that needs `scope` (delegated) or `role` (app-only).
pub fn require_scope_or_role(validator: &TokenValidator, scope: &str, role: &str) -> AuthLayer {
    AuthLayer::new(validator.clone()).require(Requirement::scopes([scope]).or_roles([role]))
}
