//! The permissions of the API, declared once: the delegated scopes, the app roles that stand in for
//! them in app-only (daemon) tokens (their names come from settings), and the requirement of each
//! named permission, registered on the [`AuthState`] at start-up.
//!
//! Handlers state their permission in their signature (`Authorized<ReportsRead>`); the OpenAPI
//! document derives each operation's security from the same permission
//! ([`crate::openapi`], which reads it from the handler with [`entra_auth::permission_of`]); start-up
//! refuses to run when a handler's permission has no requirement ([`auth_state`]).
//!
//! A leaf module: routes, state, start-up and the OpenAPI document all read these names from here.

use entra_auth::{AuthState, Permission, PermissionId, Requirement, TokenValidator};

use crate::settings::SettingsError;

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

/// Read current weather: scope `weather.read` or the read app role.
#[derive(Debug)]
pub struct WeatherRead;
impl Permission for WeatherRead {}

/// Read weather reports: scope `weather.read` or the read app role.
#[derive(Debug)]
pub struct ReportsRead;
impl Permission for ReportsRead {}

/// Submit weather reports: scope `weather.write` or the write app role.
#[derive(Debug)]
pub struct ReportsWrite;
impl Permission for ReportsWrite {}

/// The requirement of each permission, with the role names from settings.
///
/// # Errors
/// [`SettingsError::Invalid`] naming `azure_ad.read_role` / `azure_ad.write_role` when a role name
/// cannot be a role (quotes, backslashes, non-ASCII).
pub fn requirements(roles: &AppRoles) -> Result<[(PermissionId, Requirement); 3], SettingsError> {
    let scope_or_role = |scope: &str, key: &str, role: &str| {
        Requirement::scopes([scope])
            .try_or_roles([role])
            .map_err(|e| SettingsError::invalid(key, e.to_string()))
    };
    let read = scope_or_role(READ_SCOPE, "azure_ad.read_role", &roles.read)?;
    let write = scope_or_role(WRITE_SCOPE, "azure_ad.write_role", &roles.write)?;
    Ok([
        (PermissionId::of::<WeatherRead>(), read.clone()),
        (PermissionId::of::<ReportsRead>(), read),
        (PermissionId::of::<ReportsWrite>(), write),
    ])
}

/// The auth state of the service: `validator`, and every permission's requirement registered.
/// `used` are the permissions the handlers take (read from their signatures): one without a
/// requirement stops start-up here, not a request later.
///
/// # Errors
/// As [`requirements`]; [`SettingsError::Invalid`] when a used permission is not registered.
pub fn auth_state(
    validator: TokenValidator,
    roles: &AppRoles,
    used: &[PermissionId],
) -> Result<AuthState, SettingsError> {
    let [(_, weather_read), (_, reports_read), (_, reports_write)] = requirements(roles)?;
    let state = AuthState::new(validator)
        .permit::<WeatherRead>(weather_read)
        .permit::<ReportsRead>(reports_read)
        .permit::<ReportsWrite>(reports_write);
    state
        .ensure_permits(used)
        .map_err(|e| SettingsError::invalid("permissions", e.to_string()))?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles() -> AppRoles {
        AppRoles {
            read: "Weather.Read.All".into(),
            write: "Weather.Write.All".into(),
        }
    }

    fn validator() -> TokenValidator {
        let config = entra_auth::AuthConfig::builder(
            entra_dev::defaults::DEV_TENANT_ID,
            entra_dev::defaults::DEV_API_CLIENT_ID,
        )
        .build()
        .unwrap();
        TokenValidator::new(config).unwrap()
    }

    #[test]
    fn auth_state_with_an_unregistered_permission_fails_at_start_up() {
        #[derive(Debug)]
        struct Forgotten;
        impl Permission for Forgotten {}
        let used = [
            PermissionId::of::<ReportsRead>(),
            PermissionId::of::<Forgotten>(),
        ];
        let err = auth_state(validator(), &roles(), &used).unwrap_err();
        assert_eq!(
            err.to_string(),
            "permissions: permission Forgotten is not registered: call AuthState::permit::<Forgotten>(requirement) at start-up"
        );
    }

    #[test]
    fn auth_state_registers_every_permission_with_the_configured_roles() {
        let used = [
            PermissionId::of::<WeatherRead>(),
            PermissionId::of::<ReportsRead>(),
            PermissionId::of::<ReportsWrite>(),
        ];
        let state = auth_state(validator(), &roles(), &used).unwrap();
        let write = state.requirement::<ReportsWrite>().unwrap();
        assert_eq!(
            write.to_string(),
            "any of the scopes [\"weather.write\"] or any of the app roles [\"Weather.Write.All\"]"
        );
        let bad = AppRoles {
            read: "Bad\"Role".into(),
            write: "W".into(),
        };
        let err = auth_state(validator(), &bad, &used).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("azure_ad.read_role: invalid app role"),
            "{err}"
        );
    }
}
