//! Who issues the tokens: [`Authority`] (one tenant, multi-tenant, Azure AD B2C), [`TenantId`],
//! [`TokenVersion`], the instance URL and the metadata URLs derived from them. No I/O here.

use std::fmt;
use std::str::FromStr;

use url::Url;

use crate::error::ConfigError;

/// The public Microsoft Entra ID instance.
pub const DEFAULT_INSTANCE: &str = "https://login.microsoftonline.com/";

/// Whether `s` is a GUID in the 8-4-4-4-12 hexadecimal form.
pub(crate) fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A directory (tenant) id: a GUID, stored in lower case.
///
/// ```
/// use entra_auth::TenantId;
/// let tid: TenantId = "7D6C5B4A-3F2E-4D1C-9B8A-0F1E2D3C4B5A".parse().unwrap();
/// assert_eq!(tid.as_str(), "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a");
/// assert!("contoso".parse::<TenantId>().is_err());
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
    /// `(tenant_name, policy)` when given.
    pub(crate) fn parse(tenant: &str, b2c: Option<(&str, &str)>) -> Result<Self, ConfigError> {
        let Some((name, policy)) = b2c else {
            return parse_tenant(tenant);
        };
        let name = name
            .trim()
            .trim_end_matches(".onmicrosoft.com")
            .to_ascii_lowercase();
        if !is_label(&name) {
            return Err(ConfigError::InvalidB2c {
                field: "tenant_name",
                found: name,
            });
        }
        if !is_label(policy) {
            return Err(ConfigError::InvalidB2c {
                field: "policy",
                found: policy.to_owned(),
            });
        }
        Ok(Self::B2C {
            tenant_name: name,
            policy: policy.to_owned(),
        })
    }

    /// The instance URL: `instance` when given, else the authority's default.
    pub(crate) fn instance(&self, instance: Option<&str>) -> Result<Url, ConfigError> {
        match (instance, self) {
            (Some(i), _) => parse_instance(i),
            (None, Self::B2C { tenant_name, .. }) => {
                parse_instance(&format!("https://{tenant_name}.b2clogin.com/"))
            }
            (None, _) => parse_instance(DEFAULT_INSTANCE),
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

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

fn parse_tenant(tenant: &str) -> Result<Authority, ConfigError> {
    let t = tenant.trim();
    let lower = t.to_ascii_lowercase();
    match lower.as_str() {
        "common" => return Ok(Authority::MultiTenant(MultiTenant::Common)),
        "organizations" => return Ok(Authority::MultiTenant(MultiTenant::Organizations)),
        _ => {}
    }
    if is_guid(&lower) {
        return Ok(Authority::Tenant(lower));
    }
    let is_domain = lower.contains('.')
        && lower.len() <= 253
        && lower.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        });
    if is_domain {
        Ok(Authority::Tenant(lower))
    } else {
        Err(ConfigError::InvalidTenantId {
            found: tenant.to_owned(),
        })
    }
}

fn parse_instance(s: &str) -> Result<Url, ConfigError> {
    let invalid = |reason| ConfigError::InvalidInstance {
        found: s.to_owned(),
        reason,
    };
    let mut with_slash = s.trim().to_owned();
    if !with_slash.ends_with('/') {
        with_slash.push('/');
    }
    let url = Url::parse(&with_slash).map_err(|_| invalid("not an absolute URL"))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(invalid("expected an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("expected a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("expected no query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("expected no user information"));
    }
    Ok(url)
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
