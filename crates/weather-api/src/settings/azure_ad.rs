//! The `azure_ad` section: the app registration the service validates tokens for (absent: development
//! mode), in domain types, and its translation into entra-auth's [`AuthConfig`](entra_auth::AuthConfig)
//! with every entra-auth refusal named by its settings key.

use std::time::Duration;

use url::Url;

use super::raw::{RawAuthority, RawAzureAd, RawB2c};
use super::{parse_url, SettingsError};

/// The app registration the service validates tokens for. Absent = development mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Directory (tenant) id, a verified domain, `common` or `organizations`.
    pub tenant_id: String,
    /// The API's application (client) id.
    pub client_id: String,
}

/// Azure AD B2C user-flow settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct B2cSettings {
    /// The B2C tenant name (`contoso` for `contoso.onmicrosoft.com`).
    pub tenant_name: String,
    /// The user flow (policy), e.g. `B2C_1_signupsignin`.
    pub policy: String,
}

/// The name of the authority set by the top-level `azure_ad` keys when `azure_ad.authorities`
/// adds others (entra-auth's [`VerifiedClaims::authority`](entra_auth::VerifiedClaims::authority)).
pub const PRIMARY_AUTHORITY: &str = "primary";

/// One entry of `azure_ad.authorities`: another authority (a B2C user flow, a partner tenant) whose
/// tokens are accepted besides the primary one's, with its own keys and refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthoritySettings {
    /// The entry's key: letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// The authority host (default: the primary authority's `azure_ad.instance`).
    pub instance: Url,
    /// Tenant and client id (both required).
    pub identity: Identity,
    /// Extra accepted audiences.
    pub audiences: Vec<String>,
    /// B2C user flow, when the tenant is a B2C tenant.
    pub b2c: Option<B2cSettings>,
    /// Tenants accepted when `tenant_id` is `common` or `organizations`.
    pub allowed_tenants: Vec<String>,
}

/// The `azure_ad` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureAdSettings {
    /// The authority host, always ending with `/` (default `https://login.microsoftonline.com/`).
    pub instance: Url,
    /// Tenant and client id; `None` when neither is configured (development mode).
    pub identity: Option<Identity>,
    /// Extra accepted audiences (the client id and `api://{client_id}` are always accepted).
    pub audiences: Vec<String>,
    /// B2C user flow, when the tenant is a B2C tenant.
    pub b2c: Option<B2cSettings>,
    /// Tenants accepted when `tenant_id` is `common` or `organizations`.
    pub allowed_tenants: Vec<String>,
    /// More authorities whose tokens are accepted (`azure_ad.authorities`, in name order); the
    /// top-level keys are then the authority named [`PRIMARY_AUTHORITY`].
    pub authorities: Vec<AuthoritySettings>,
    /// App role that grants reading (default `Weather.Read.All`).
    pub read_role: String,
    /// App role that grants writing (default `Weather.Write.All`).
    pub write_role: String,
    /// Verified tokens remembered by entra-auth's token cache (default 10,000; 0 turns it off).
    pub token_cache_capacity: usize,
    /// Longest time a verified token is remembered (default 10 minutes; never beyond its `exp`).
    pub token_cache_max_age: Duration,
    /// The application (client) id Swagger UI (`/docs`) signs in as: a registration with a
    /// single-page-application redirect URI `https://{host}/docs/oauth2-redirect.html`. `None` leaves the
    /// client id for the user to type in the Authorize dialog. Ignored in development mode (the
    /// development issuer's public client is used).
    pub docs_client_id: Option<String>,
}

impl AzureAdSettings {
    /// The `azure_ad` section in domain types, validated through entra-auth when an identity is set
    /// (so that a wrong value stops start-up naming its key).
    ///
    /// # Errors
    /// [`SettingsError::Invalid`] naming the `azure_ad.*` key.
    pub(crate) fn parse(ad: RawAzureAd) -> Result<Self, SettingsError> {
        let mut instance = parse_url(
            "azure_ad.instance",
            ad.instance
                .as_deref()
                .unwrap_or("https://login.microsoftonline.com/"),
        )?;
        if !instance.path().ends_with('/') {
            let path = format!("{}/", instance.path());
            instance.set_path(&path);
        }
        check_instance_path("azure_ad.instance", &instance)?;
        let identity = match (ad.tenant_id, ad.client_id) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(SettingsError::invalid(
                    "azure_ad.client_id",
                    "must be set when azure_ad.tenant_id is set (the API's application id)",
                ))
            }
            (None, Some(_)) => {
                return Err(SettingsError::invalid(
                    "azure_ad.tenant_id",
                    "must be set when azure_ad.client_id is set (the directory id)",
                ))
            }
            (Some(tenant_id), Some(client_id)) => Some(Identity {
                tenant_id,
                client_id,
            }),
        };
        let audiences = ad.audiences;
        let allowed_tenants = ad.allowed_tenants;
        let b2c = parse_b2c("azure_ad", ad.b2c)?;
        if identity.is_none() && !ad.authorities.is_empty() {
            return Err(SettingsError::invalid(
                "azure_ad.tenant_id",
                "must be set when azure_ad.authorities is set: the top-level tenant_id and client_id \
                 are the primary authority, the entries of authorities the others",
            ));
        }
        let authorities = ad
            .authorities
            .into_iter()
            .map(|(name, raw)| parse_authority(&instance, name, raw))
            .collect::<Result<Vec<_>, _>>()?;
        let docs_client_id = ad.docs_client_id;
        if let Some(id) = &docs_client_id {
            if uuid::Uuid::parse_str(id).is_err() {
                return Err(SettingsError::invalid(
                    "azure_ad.docs_client_id",
                    format!(
                    "invalid client id {id:?}: expected the application (client) id GUID of the \
                     registration Swagger UI signs in as"
                ),
                ));
            }
        }
        let read_role = ad.read_role;
        check_name("azure_ad.read_role", &read_role)?;
        let write_role = ad.write_role;
        check_name("azure_ad.write_role", &write_role)?;
        let token_cache_capacity = usize::try_from(ad.token_cache_capacity)
            .map_err(|_| SettingsError::invalid("azure_ad.token_cache_capacity", "too large"))?;
        let token_cache_max_age = match ad.token_cache_max_age_secs {
            secs @ 1..=86_400 => Duration::from_secs(secs),
            _ => {
                return Err(SettingsError::invalid(
                    "azure_ad.token_cache_max_age_secs",
                    "expected 1 to 86400 seconds",
                ))
            }
        };
        let settings = AzureAdSettings {
            instance,
            identity,
            audiences,
            b2c,
            allowed_tenants,
            authorities,
            read_role,
            write_role,
            token_cache_capacity,
            token_cache_max_age,
            docs_client_id,
        };
        // Validate through entra-auth now, so that a wrong value stops start-up naming its key.
        if let Some(identity) = &settings.identity {
            settings.to_auth_configs(identity, None)?;
        }
        Ok(settings)
    }

    /// Builds the entra-auth configuration for `identity`; `instance` overrides the configured instance
    /// (development mode). Errors name the settings key.
    ///
    /// # Errors
    /// [`SettingsError::Invalid`] naming the `azure_ad.*` key that entra-auth refused.
    pub fn to_auth_config(
        &self,
        identity: &Identity,
        instance: Option<&Url>,
    ) -> Result<entra_auth::AuthConfig, SettingsError> {
        self.builder(&self.primary(identity, instance))
            .build()
            .map_err(config_error)
    }

    /// The top-level keys as an authority; `instance` overrides the configured instance.
    fn primary(&self, identity: &Identity, instance: Option<&Url>) -> AuthoritySettings {
        AuthoritySettings {
            name: PRIMARY_AUTHORITY.to_owned(),
            instance: instance.unwrap_or(&self.instance).clone(),
            identity: identity.clone(),
            audiences: self.audiences.clone(),
            b2c: self.b2c.clone(),
            allowed_tenants: self.allowed_tenants.clone(),
        }
    }

    /// The entra-auth configuration of every authority: the primary one (`identity`; named
    /// [`PRIMARY_AUTHORITY`] when there are others) first, then `azure_ad.authorities`. `instance`
    /// overrides the primary's instance (development mode).
    ///
    /// # Errors
    /// [`SettingsError::Invalid`] naming the `azure_ad.*` key that entra-auth refused.
    pub fn to_auth_configs(
        &self,
        identity: &Identity,
        instance: Option<&Url>,
    ) -> Result<Vec<entra_auth::AuthConfig>, SettingsError> {
        if self.authorities.is_empty() {
            return Ok(vec![self.to_auth_config(identity, instance)?]);
        }
        let primary = self.primary(identity, instance);
        std::iter::once(("azure_ad".to_owned(), &primary))
            .chain(
                self.authorities
                    .iter()
                    .map(|a| (format!("azure_ad.authorities.{}", a.name), a)),
            )
            .map(|(prefix, a)| {
                self.builder(a)
                    .name(&a.name)
                    .build()
                    .map_err(|e| config_error_at(&prefix, e))
            })
            .collect()
    }

    fn builder(&self, a: &AuthoritySettings) -> entra_auth::AuthConfigBuilder {
        let id = &a.identity;
        let mut builder = entra_auth::AuthConfig::builder(&id.tenant_id, &id.client_id)
            .instance(a.instance.as_str())
            .token_cache(entra_auth::TokenCacheOptions {
                capacity: self.token_cache_capacity,
                max_age: self.token_cache_max_age,
            });
        if !a.audiences.is_empty() {
            let mut audiences = vec![id.client_id.clone(), format!("api://{}", id.client_id)];
            audiences.extend(a.audiences.iter().cloned());
            builder = builder.audiences(audiences);
        }
        if !a.allowed_tenants.is_empty() {
            builder = builder.allowed_tenants(a.allowed_tenants.iter().cloned());
        }
        if let Some(b2c) = &a.b2c {
            builder = builder.b2c(&b2c.tenant_name, &b2c.policy);
        }
        builder
    }
}

/// The setting to fix when the identity provider refused an authority's metadata
/// ([`AzureAdSettings::refused_setting`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedSetting {
    /// The settings key (`azure_ad.tenant_id`, `azure_ad.instance`, `azure_ad.b2c`, or those of an
    /// `azure_ad.authorities` entry).
    pub key: String,
    /// What is wrong with it and how to fix it, without its value.
    pub fix: &'static str,
}

impl RefusedSetting {
    /// The text readiness shows anyone: the key and the fix, no value, no URL.
    pub fn public(&self) -> String {
        format!(
            "{}: the identity provider refused this authority, so no signing keys can load ({}); \
             the service log has the identity provider's answer",
            self.key, self.fix
        )
    }
}

impl AzureAdSettings {
    /// The settings key behind the identity provider's refusal of an authority's metadata (a 400
    /// or 404 before any key loaded): the instance when it carries a path (a tenant pasted into
    /// it), the B2C keys of a B2C authority, else the tenant id.
    pub fn refused_setting(
        &self,
        refused: &entra_auth::discovery::MetadataRefused,
    ) -> RefusedSetting {
        let entry = refused
            .authority()
            .and_then(|name| self.authorities.iter().find(|a| a.name == name));
        let (prefix, instance, b2c) = match entry {
            Some(a) => (
                format!("azure_ad.authorities.{}", a.name),
                &a.instance,
                a.b2c.is_some(),
            ),
            None => ("azure_ad".to_owned(), &self.instance, self.b2c.is_some()),
        };
        let (field, fix) = if instance.path() != "/" {
            (
                "instance",
                "the instance has a path; it is the cloud's base URL such as \
                 https://login.microsoftonline.com/, and the tenant belongs in tenant_id",
            )
        } else if b2c {
            (
                "b2c",
                "the identity provider does not know this B2C tenant name or user flow (policy); \
                 copy both from the B2C tenant's User flows page",
            )
        } else if refused.is_unknown_tenant() {
            (
                "tenant_id",
                "the identity provider does not know this tenant (AADSTS90002); use the Directory \
                 (tenant) ID from the app registration's Overview page, or a verified domain",
            )
        } else {
            (
                "tenant_id",
                "the identity provider has no metadata for this tenant at this instance; check \
                 tenant_id (the Directory (tenant) ID) and instance (the cloud's base URL)",
            )
        };
        RefusedSetting {
            key: format!("{prefix}.{field}"),
            fix,
        }
    }
}

/// Refuses an instance URL whose path carries a tenant or an endpoint (`/{tenant}/`, `/common/`,
/// `/v2.0/`, `/oauth2/`...): the instance is the cloud's base URL, and the metadata URL is built
/// from it and the tenant, which would then appear twice.
fn check_instance_path(key: &str, instance: &Url) -> Result<(), SettingsError> {
    let pasted = instance.path_segments().into_iter().flatten().find(|seg| {
        let seg = seg.to_ascii_lowercase();
        uuid::Uuid::parse_str(&seg).is_ok()
            || matches!(
                seg.as_str(),
                "common" | "organizations" | "consumers" | "v2.0" | "oauth2" | ".well-known"
            )
            || seg.ends_with(".onmicrosoft.com")
    });
    match pasted {
        None => Ok(()),
        Some(seg) => Err(SettingsError::invalid(
            key,
            format!(
                "the instance's path contains {seg:?}, a tenant or endpoint: the instance is the \
                 cloud's base URL (https://login.microsoftonline.com/ for the public cloud); put \
                 the tenant in tenant_id"
            ),
        )),
    }
}

/// Names the settings key behind an entra-auth configuration error.
pub(crate) fn config_error(e: entra_auth::ConfigError) -> SettingsError {
    config_error_at("azure_ad", e)
}

/// [`config_error`] for the authority whose keys are under `prefix` (`azure_ad` or
/// `azure_ad.authorities.{name}`).
fn config_error_at(prefix: &str, e: entra_auth::ConfigError) -> SettingsError {
    use entra_auth::ConfigError as E;
    let key = match &e {
        E::InvalidTenantId { .. } => format!("{prefix}.tenant_id"),
        E::InvalidClientId { .. } => format!("{prefix}.client_id"),
        E::InvalidInstance { .. } => format!("{prefix}.instance"),
        E::InvalidB2c { field, .. } => format!("{prefix}.b2c.{field}"),
        E::InvalidAudience { .. } | E::NoAudiences => format!("{prefix}.audiences"),
        E::MissingTenantAllowList { .. } => format!("{prefix}.allowed_tenants"),
        E::InvalidAuthorityName { .. } => prefix.to_owned(),
        E::OutOfRange {
            field: "token_cache_max_age",
            ..
        } => "azure_ad.token_cache_max_age_secs".to_owned(),
        _ => "azure_ad".to_owned(),
    };
    if let E::MissingTenantAllowList { authority } = &e {
        // entra-auth's message names its Rust opt-in; the service has settings only.
        return SettingsError::invalid(
            key,
            format!(
                "{prefix}.tenant_id is {authority:?}, which accepts tokens issued in any tenant: list \
                 the directory (tenant) ids allowed to call this API in {prefix}.allowed_tenants \
                 (JSON [\"<tenant id>\", ...], or WEATHER_API__{env}__ALLOWED_TENANTS=<id>,<id>), or set \
                 {prefix}.tenant_id to your own tenant's id; no setting accepts every tenant",
                env = prefix.to_ascii_uppercase().replace('.', "__"),
            ),
        );
    }
    SettingsError::invalid(key, e.to_string())
}

/// `{prefix}.b2c`: both keys or neither.
fn parse_b2c(prefix: &str, b2c: Option<RawB2c>) -> Result<Option<B2cSettings>, SettingsError> {
    let Some(b) = b2c else {
        return Ok(None);
    };
    match (b.tenant_name, b.policy) {
        (None, None) => Ok(None),
        (Some(tenant_name), Some(policy)) => Ok(Some(B2cSettings {
            tenant_name,
            policy,
        })),
        (None, Some(_)) => Err(SettingsError::invalid(
            format!("{prefix}.b2c.tenant_name"),
            format!("must be set when {prefix}.b2c.policy is set"),
        )),
        (Some(_), None) => Err(SettingsError::invalid(
            format!("{prefix}.b2c.policy"),
            format!("must be set when {prefix}.b2c.tenant_name is set"),
        )),
    }
}

/// One entry of `azure_ad.authorities`.
fn parse_authority(
    primary_instance: &Url,
    name: String,
    raw: RawAuthority,
) -> Result<AuthoritySettings, SettingsError> {
    let prefix = format!("azure_ad.authorities.{name}");
    if name.is_empty()
        || name == PRIMARY_AUTHORITY
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(SettingsError::invalid(
            prefix,
            format!(
                "invalid authority name {name:?}: expected letters, digits, '-', '_' or '.', \
                 and not {PRIMARY_AUTHORITY:?} (the top-level azure_ad keys)"
            ),
        ));
    }
    let instance = match raw.instance.as_deref() {
        None => primary_instance.clone(),
        Some(url) => {
            let mut u = parse_url(&format!("{prefix}.instance"), url)?;
            if !u.path().ends_with('/') {
                let path = format!("{}/", u.path());
                u.set_path(&path);
            }
            check_instance_path(&format!("{prefix}.instance"), &u)?;
            u
        }
    };
    let required = |key: &str, v: Option<String>| {
        v.ok_or_else(|| SettingsError::invalid(format!("{prefix}.{key}"), "must be set"))
    };
    let identity = Identity {
        tenant_id: required("tenant_id", raw.tenant_id)?,
        client_id: required("client_id", raw.client_id)?,
    };
    Ok(AuthoritySettings {
        b2c: parse_b2c(&prefix, raw.b2c)?,
        name,
        instance,
        identity,
        audiences: raw.audiences,
        allowed_tenants: raw.allowed_tenants,
    })
}

/// Key names of Microsoft identity roles and scopes: printable ASCII without spaces.
fn check_name(key: &str, value: &str) -> Result<(), SettingsError> {
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(SettingsError::invalid(
            key,
            format!("must not contain spaces: {value:?}"),
        ));
    }
    Ok(())
}
