//! The `azure_ad` section: the app registration the service validates tokens for (absent: development
//! mode), in domain types, and its translation into entra-auth's [`AuthConfig`](entra_auth::AuthConfig)
//! with every entra-auth refusal named by its settings key.

use std::time::Duration;

use url::Url;

use super::raw::RawAzureAd;
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
        let b2c = match ad.b2c {
            None => None,
            Some(b) => match (b.tenant_name, b.policy) {
                (None, None) => None,
                (Some(tenant_name), Some(policy)) => Some(B2cSettings {
                    tenant_name,
                    policy,
                }),
                (None, Some(_)) => {
                    return Err(SettingsError::invalid(
                        "azure_ad.b2c.tenant_name",
                        "must be set when azure_ad.b2c.policy is set",
                    ))
                }
                (Some(_), None) => {
                    return Err(SettingsError::invalid(
                        "azure_ad.b2c.policy",
                        "must be set when azure_ad.b2c.tenant_name is set",
                    ))
                }
            },
        };
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
            read_role,
            write_role,
            token_cache_capacity,
            token_cache_max_age,
            docs_client_id,
        };
        // Validate through entra-auth now, so that a wrong value stops start-up naming its key.
        if let Some(identity) = &settings.identity {
            settings.to_auth_config(identity, None)?;
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
        let instance = instance.unwrap_or(&self.instance);
        let mut builder = entra_auth::AuthConfig::builder(&identity.tenant_id, &identity.client_id)
            .instance(instance.as_str())
            .token_cache(entra_auth::TokenCacheOptions {
                capacity: self.token_cache_capacity,
                max_age: self.token_cache_max_age,
            });
        if !self.audiences.is_empty() {
            let mut audiences = vec![
                identity.client_id.clone(),
                format!("api://{}", identity.client_id),
            ];
            audiences.extend(self.audiences.iter().cloned());
            builder = builder.audiences(audiences);
        }
        if !self.allowed_tenants.is_empty() {
            builder = builder.allowed_tenants(self.allowed_tenants.iter().cloned());
        }
        if let Some(b2c) = &self.b2c {
            builder = builder.b2c(&b2c.tenant_name, &b2c.policy);
        }
        builder.build().map_err(config_error)
    }
}

/// Names the settings key behind an entra-auth configuration error.
pub(crate) fn config_error(e: entra_auth::ConfigError) -> SettingsError {
    use entra_auth::ConfigError as E;
    let key = match &e {
        E::InvalidTenantId { .. } => "azure_ad.tenant_id".to_owned(),
        E::InvalidClientId { .. } => "azure_ad.client_id".to_owned(),
        E::InvalidInstance { .. } => "azure_ad.instance".to_owned(),
        E::InvalidB2c { field, .. } => format!("azure_ad.b2c.{field}"),
        E::InvalidAudience { .. } | E::NoAudiences => "azure_ad.audiences".to_owned(),
        E::MissingTenantAllowList { .. } => "azure_ad.allowed_tenants".to_owned(),
        E::OutOfRange {
            field: "token_cache_max_age",
            ..
        } => "azure_ad.token_cache_max_age_secs".to_owned(),
        _ => "azure_ad".to_owned(),
    };
    SettingsError::invalid(key, e.to_string())
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
