//! Authorisation requirements: any of a set of scopes, any of a set of app roles, or either.
//!
//! Matching is exact, whole-word and case-sensitive: `weather.readwrite` never satisfies
//! `weather.read`, and `Weather.Read` is not `weather.read`. Both `scp` and `roles` are read.

use std::fmt;
use std::str::FromStr;

use crate::claims::VerifiedClaims;
use crate::error::{AuthError, PermissionFailure};

/// Why a scope or app-role name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {found:?}: expected a non-empty name of visible ASCII characters without spaces, quotes or backslashes")]
pub struct InvalidPermissionName {
    kind: &'static str,
    found: String,
}

fn check_name(kind: &'static str, s: &str) -> Result<(), InvalidPermissionName> {
    let ok = !s.is_empty()
        && s.bytes()
            .all(|c| c == 0x21 || (0x23..=0x5b).contains(&c) || (0x5d..=0x7e).contains(&c));
    if ok {
        Ok(())
    } else {
        Err(InvalidPermissionName {
            kind,
            found: s.to_owned(),
        })
    }
}

macro_rules! name_type {
    ($(#[$m:meta])* $name:ident, $kind:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses the name (exact, case-sensitive).
            ///
            /// # Errors
            /// [`InvalidPermissionName`] when it is empty or contains spaces, quotes, backslashes or
            /// non-ASCII characters.
            pub fn parse(s: &str) -> Result<Self, InvalidPermissionName> {
                check_name($kind, s)?;
                Ok(Self(s.to_owned()))
            }

            /// The name.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidPermissionName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidPermissionName;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// A delegated permission (scope) name, e.g. `weather.read`, as it appears in `scp`.
    Scope,
    "scope"
);
name_type!(
    /// An application role name, e.g. `Weather.Read.All`, as it appears in `roles`.
    AppRole,
    "app role"
);

/// What a route requires: any one of `scopes`, or any one of `roles`.
///
/// ```
/// use entra_auth::Requirement;
/// // delegated callers with weather.read, or daemons with the Weather.Read.All app role
/// let read = Requirement::scopes(["weather.read"]).or_roles(["Weather.Read.All"]);
/// assert_eq!(read.required_scopes()[0].as_str(), "weather.read");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirement {
    scopes: Vec<Scope>,
    roles: Vec<AppRole>,
}

fn parse_all<T, I, S>(
    items: I,
    parse: fn(&str) -> Result<T, InvalidPermissionName>,
) -> Result<Vec<T>, InvalidPermissionName>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    items.into_iter().map(|s| parse(s.as_ref())).collect()
}

impl Requirement {
    /// Any one of these scopes.
    ///
    /// # Panics
    /// When a name is invalid (empty, whitespace, quotes): requirements are fixed in code. Use
    /// [`try_scopes`](Self::try_scopes) for names from configuration.
    pub fn scopes<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        match Self::try_scopes(scopes) {
            Ok(r) => r,
            Err(e) => panic!("BUG: {e}"),
        }
    }

    /// Any one of these app roles.
    ///
    /// # Panics
    /// When a name is invalid; see [`try_roles`](Self::try_roles).
    pub fn roles<I, S>(roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        match Self::try_roles(roles) {
            Ok(r) => r,
            Err(e) => panic!("BUG: {e}"),
        }
    }

    /// Any one of these scopes.
    ///
    /// # Errors
    /// [`InvalidPermissionName`] for the first invalid name.
    pub fn try_scopes<I, S>(scopes: I) -> Result<Self, InvalidPermissionName>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Self {
            scopes: parse_all(scopes, Scope::parse)?,
            roles: Vec::new(),
        })
    }

    /// Any one of these app roles.
    ///
    /// # Errors
    /// [`InvalidPermissionName`] for the first invalid name.
    pub fn try_roles<I, S>(roles: I) -> Result<Self, InvalidPermissionName>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Self {
            scopes: Vec::new(),
            roles: parse_all(roles, AppRole::parse)?,
        })
    }

    /// Also accept any one of these app roles ("scope or app permission").
    ///
    /// # Panics
    /// When a name is invalid; see [`try_or_roles`](Self::try_or_roles).
    pub fn or_roles<I, S>(self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        match self.try_or_roles(roles) {
            Ok(r) => r,
            Err(e) => panic!("BUG: {e}"),
        }
    }

    /// Also accept any one of these app roles.
    ///
    /// # Errors
    /// [`InvalidPermissionName`] for the first invalid name.
    pub fn try_or_roles<I, S>(mut self, roles: I) -> Result<Self, InvalidPermissionName>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.roles.extend(parse_all(roles, AppRole::parse)?);
        Ok(self)
    }

    /// Also accept any one of these scopes.
    ///
    /// # Panics
    /// When a name is invalid.
    pub fn or_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        match parse_all(scopes, Scope::parse) {
            Ok(s) => self.scopes.extend(s),
            Err(e) => panic!("BUG: {e}"),
        }
        self
    }

    /// The scopes of which any one satisfies the requirement.
    pub fn required_scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// The app roles of which any one satisfies the requirement.
    pub fn required_roles(&self) -> &[AppRole] {
        &self.roles
    }

    /// Checks verified claims against the requirement. A requirement with neither scopes nor
    /// roles only requires a valid token.
    ///
    /// # Errors
    /// [`AuthError::InsufficientScope`] (403): IDW10201 when the token has neither `scp` nor
    /// `roles`, IDW10203 when a required scope is missing, IDW10202 when a required app role is
    /// missing.
    pub fn check(&self, claims: &VerifiedClaims) -> Result<(), AuthError> {
        if self.scopes.is_empty() && self.roles.is_empty() {
            return Ok(());
        }
        let has_scp = claims.has_scope_claim();
        let has_roles = claims.has_roles_claim();
        if self.scopes.iter().any(|s| claims.has_scope(s.as_str()))
            || self.roles.iter().any(|r| claims.has_role(r.as_str()))
        {
            return Ok(());
        }
        let failure = if !has_scp && !has_roles {
            PermissionFailure::NoScopesOrRoles
        } else if self.scopes.is_empty() {
            PermissionFailure::MissingRole
        } else if self.roles.is_empty() || has_scp {
            PermissionFailure::MissingScope
        } else {
            PermissionFailure::MissingRole
        };
        Err(AuthError::InsufficientScope {
            failure,
            required_scopes: self.scopes.iter().map(ToString::to_string).collect(),
            required_roles: self.roles.iter().map(ToString::to_string).collect(),
            found_scopes: claims.scopes().map(str::to_owned).collect(),
            found_roles: claims.roles().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::VerifiedClaims;
    use serde_json::json;

    fn claims(v: serde_json::Value) -> VerifiedClaims {
        VerifiedClaims::for_tests(v)
    }

    fn failure(r: &Requirement, v: serde_json::Value) -> PermissionFailure {
        match r.check(&claims(v)) {
            Err(AuthError::InsufficientScope { failure, .. }) => failure,
            other => panic!("expected insufficient scope, got {other:?}"),
        }
    }

    #[test]
    fn scope_matches_exactly_and_case_sensitively() {
        let r = Requirement::scopes(["weather.read"]);
        assert!(r
            .check(&claims(json!({"scp": "openid weather.read"})))
            .is_ok());
        assert_eq!(
            failure(&r, json!({"scp": "weather.readwrite"})),
            PermissionFailure::MissingScope
        );
        assert_eq!(
            failure(&r, json!({"scp": "Weather.Read"})),
            PermissionFailure::MissingScope
        );
        assert_eq!(
            failure(&r, json!({"scp": "xweather.read"})),
            PermissionFailure::MissingScope
        );
    }

    #[test]
    fn role_matches_exactly() {
        let r = Requirement::roles(["Weather.Read.All"]);
        assert!(r
            .check(&claims(json!({"roles": ["Weather.Read.All"]})))
            .is_ok());
        assert_eq!(
            failure(&r, json!({"roles": ["weather.read.all"]})),
            PermissionFailure::MissingRole
        );
    }

    #[test]
    fn neither_scp_nor_roles_is_idw10201() {
        let r = Requirement::scopes(["weather.read"]).or_roles(["Weather.Read.All"]);
        let f = failure(&r, json!({"sub": "x"}));
        assert_eq!(f, PermissionFailure::NoScopesOrRoles);
        assert_eq!(f.idw(), "IDW10201");
    }

    #[test]
    fn scope_or_role_reads_both_claims() {
        let r = Requirement::scopes(["weather.write"]).or_roles(["Weather.Write.All"]);
        // scp present but lacking; roles holds the permission: allowed (both claims read)
        assert!(r
            .check(&claims(
                json!({"scp": "weather.read", "roles": ["Weather.Write.All"]})
            ))
            .is_ok());
        assert_eq!(
            failure(&r, json!({"roles": ["Weather.Read.All"]})),
            PermissionFailure::MissingRole
        );
        assert_eq!(
            failure(&r, json!({"scp": "weather.read"})),
            PermissionFailure::MissingScope
        );
    }

    #[test]
    fn empty_requirement_only_needs_a_valid_token() {
        assert!(Requirement::default().check(&claims(json!({}))).is_ok());
    }

    #[test]
    fn invalid_names_are_refused() {
        assert!(Scope::parse("").is_err());
        assert!(Scope::parse("a b").is_err());
        assert!(Scope::parse("a\"b").is_err());
        assert!(AppRole::parse("Weather.Read.All").is_ok());
        assert!(Requirement::try_scopes(["ok", "not ok"]).is_err());
    }

    #[test]
    #[should_panic(expected = "BUG")]
    fn scopes_panics_on_invalid_name() {
        let _ = Requirement::scopes(["with space"]);
    }
}
