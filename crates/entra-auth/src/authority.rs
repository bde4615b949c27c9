//! Who issues the tokens: [`Authority`] (one tenant, multi-tenant, Azure AD B2C), [`TenantId`],
//! [`TokenVersion`], the instance URL and the metadata URLs derived from them. No I/O here.

use std::fmt;
use std::str::FromStr;

use entra_core::authority::{self as core, AuthorityError, PlainHttp, Tenant};
use url::Url;

use crate::error::ConfigError;

/// The public Microsoft Entra ID instance.
pub const DEFAULT_INSTANCE: &str = core::PUBLIC_CLOUD;

pub(crate) use entra_core::authority::is_guid;

/// A directory (tenant) id: a GUID, stored in lower case.
///
/// ```
/// use entra_auth::TenantId;
/// let tid: TenantId = "7D6C5B4A-3F2E-4D1C-9B8A-0F1E2D3C4B5A".parse().unwrap();
/// assert_eq!(tid.as_str(), "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a");
/// assert!(matches!(
///     "contoso".parse::<TenantId>(),
///     Err(entra_auth::ConfigError::InvalidTenantId { .. })
/// ));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// Parses a tenant id GUID.
    ///
    /// # Errors
    /// [`ConfigError::InvalidTenantId`] when `s` is not a GUID.
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        let t = s.trim();
        if is_guid(t) {
            Ok(Self(t.to_ascii_lowercase()))
        } else {
            Err(ConfigError::InvalidTenantId {
                found: s.to_owned(),
            })
        }
    }

    /// The GUID as a lower-case string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TenantId {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An access token version (`ver` claim). Each version is checked against its own metadata issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenVersion {
    /// `ver` "1.0" (issuer `https://sts.windows.net/{tid}/`; also every Azure AD B2C token).
    V1,
    /// `ver` "2.0" (issuer `{instance}{tid}/v2.0`).
    V2,
}

impl TokenVersion {
    /// The `ver` claim value: "1.0" or "2.0".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "1.0",
            Self::V2 => "2.0",
        }
    }

    /// The `ver` values of `versions`, for error messages.
    pub(crate) fn names(versions: &[Self]) -> Vec<&'static str> {
        versions.iter().map(|v| v.as_str()).collect()
    }

    pub(crate) fn from_claim(s: &str) -> Option<Self> {
        match s {
            "1.0" => Some(Self::V1),
            "2.0" => Some(Self::V2),
            _ => None,
        }
    }
}

impl fmt::Display for TokenVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The multi-tenant authorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultiTenant {
    /// `common`: work, school and personal accounts.
    Common,
    /// `organizations`: work and school accounts.
    Organizations,
}

impl MultiTenant {
    /// The path segment: `common` or `organizations`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Common => "common",
            Self::Organizations => "organizations",
        }
    }
}

/// Who issues the tokens this API accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Authority {
    /// One tenant, named by its GUID or one of its domains.
    Tenant(String),
    /// Any allowed tenant, through the `common` or `organizations` metadata.
    MultiTenant(MultiTenant),
    /// An Azure AD B2C tenant and user flow (policy).
    B2C {
        /// The B2C tenant name, e.g. `contoso` for `contoso.onmicrosoft.com`.
        tenant_name: String,
        /// The user flow, e.g. `B2C_1_signupsignin`.
        policy: String,
    },
}

impl Authority {
    /// The authority of `tenant` (a GUID, a domain, `common` or `organizations`), or of the B2C
    /// `(tenant_name, policy)` when given (entra-core's rules).
    pub(crate) fn parse(tenant: &str, b2c: Option<(&str, &str)>) -> Result<Self, ConfigError> {
        let Some((name, policy)) = b2c else {
            return match Tenant::parse(tenant).map_err(config_error)? {
                Tenant::Id(t) | Tenant::Domain(t) => Ok(Self::Tenant(t)),
                Tenant::Common => Ok(Self::MultiTenant(MultiTenant::Common)),
                Tenant::Organizations => Ok(Self::MultiTenant(MultiTenant::Organizations)),
                // A resource API cannot validate `consumers` tokens through this authority.
                Tenant::Consumers => Err(ConfigError::InvalidTenantId {
                    found: tenant.to_owned(),
                }),
            };
        };
        Ok(Self::B2C {
            tenant_name: core::parse_b2c_tenant_name(name).map_err(config_error)?,
            policy: core::parse_b2c_policy(policy).map_err(config_error)?,
        })
    }

    /// The instance URL: `instance` when given, else the authority's default; plain `http` only
    /// on a loopback host unless `plain_http` says otherwise.
    pub(crate) fn instance(
        &self,
        instance: Option<&str>,
        plain_http: PlainHttp,
    ) -> Result<Url, ConfigError> {
        let parse = |s: &str| core::parse_instance(s, plain_http).map_err(config_error);
        match (instance, self) {
            (Some(i), _) => parse(i),
            (None, Self::B2C { tenant_name, .. }) => {
                parse(&format!("https://{tenant_name}.b2clogin.com/"))
            }
            (None, _) => parse(DEFAULT_INSTANCE),
        }
    }

    /// The metadata documents to fetch under `instance` for the accepted `versions`, in order
    /// (`app_id` appends `?appid=`).
    pub(crate) fn metadata_sources(
        &self,
        instance: &Url,
        versions: &[TokenVersion],
        app_id: Option<&str>,
    ) -> Result<Vec<MetadataSource>, ConfigError> {
        let make =
            |path: String, versions: Vec<TokenVersion>| -> Result<MetadataSource, ConfigError> {
                let mut s = format!("{instance}{path}");
                if let Some(app_id) = app_id {
                    s.push_str("?appid=");
                    s.push_str(app_id);
                }
                let url = Url::parse(&s).map_err(|_| ConfigError::InvalidInstance {
                    found: instance.to_string(),
                    reason: "cannot form the metadata URL",
                })?;
                Ok(MetadataSource { url, versions })
            };
        match self {
            Self::B2C {
                tenant_name,
                policy,
            } => Ok(vec![make(
                format!(
                    "{tenant_name}.onmicrosoft.com/{policy}/v2.0/.well-known/openid-configuration"
                ),
                versions.to_vec(),
            )?]),
            Self::Tenant(t) => per_version(t, versions, make),
            Self::MultiTenant(m) => per_version(m.as_str(), versions, make),
        }
    }
}

/// One OpenID metadata document and the token versions validated against its issuer.
#[derive(Debug, Clone)]
pub(crate) struct MetadataSource {
    pub(crate) url: Url,
    pub(crate) versions: Vec<TokenVersion>,
}

/// entra-core's refusal as this crate's [`ConfigError`].
fn config_error(e: AuthorityError) -> ConfigError {
    match e {
        AuthorityError::InvalidInstance { found, reason } => {
            ConfigError::InvalidInstance { found, reason }
        }
        AuthorityError::InsecureInstance { found } => ConfigError::InvalidInstance {
            found,
            reason: core::INSECURE_HTTP_REASON,
        },
        AuthorityError::InvalidB2cTenantName { found } => ConfigError::InvalidB2c {
            field: "tenant_name",
            found,
        },
        AuthorityError::InvalidB2cPolicy { found } => ConfigError::InvalidB2c {
            field: "policy",
            found,
        },
        AuthorityError::InvalidTenant { found } => ConfigError::InvalidTenantId { found },
        other => ConfigError::InvalidTenantId {
            found: other.found().to_owned(),
        },
    }
}

fn per_version(
    tenant: &str,
    versions: &[TokenVersion],
    make: impl Fn(String, Vec<TokenVersion>) -> Result<MetadataSource, ConfigError>,
) -> Result<Vec<MetadataSource>, ConfigError> {
    versions
        .iter()
        .map(|v| match v {
            TokenVersion::V2 => make(
                format!("{tenant}/v2.0/.well-known/openid-configuration"),
                vec![TokenVersion::V2],
            ),
            TokenVersion::V1 => make(
                format!("{tenant}/.well-known/openid-configuration"),
                vec![TokenVersion::V1],
            ),
        })
        .collect()
}
