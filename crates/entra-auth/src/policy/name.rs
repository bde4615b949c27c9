//! Scope and app-role names: exact, case-sensitive, parsed once.

use std::fmt;
use std::str::FromStr;

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
