//! Where tokens come from: the instance (public cloud, a sovereign cloud, or a custom instance
//! such as the development issuer), the tenant, and for Azure AD B2C the policy.

use entra_core::authority::{self as core, AuthorityError, PlainHttp, Tenant};
use url::Url;

use crate::error::{clip, ConfigError};

pub use entra_core::authority::{CHINA, PUBLIC_CLOUD, US_GOVERNMENT};

/// A token authority: `{instance}{tenant}/` (and `{policy}/` for B2C).
///
/// ```
/// use entra_token::Authority;
/// let a = Authority::tenant("7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a")?;
/// assert_eq!(
///     a.token_endpoint().as_str(),
///     "https://login.microsoftonline.com/7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a/oauth2/v2.0/token"
/// );
/// let gov = Authority::tenant("contoso.onmicrosoft.us")?.with_instance(entra_token::authority::US_GOVERNMENT)?;
/// assert!(gov.token_endpoint().as_str().starts_with("https://login.microsoftonline.us/contoso.onmicrosoft.us/"));
/// # Ok::<(), entra_token::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    instance: Url,
    tenant: String,
    policy: Option<String>,
    token_endpoint: Url,
}

impl Authority {
    /// A workforce tenant (GUID or domain) on the public cloud.
    ///
    /// # Errors
    /// [`ConfigError::InvalidTenant`]; [`ConfigError::MultiTenantAuthority`] for `common`,
    /// `organizations` and `consumers`.
    pub fn tenant(tenant: &str) -> Result<Self, ConfigError> {
        let tenant = parse_tenant(tenant, false)?;
        Self::build(public_cloud(), tenant, None)
    }

    /// An authority for a public client (a CLI or desktop app signing users in): a tenant as in
    /// [`Authority::tenant`], or `organizations` (any work or school account), `common` (those and
    /// personal accounts) or `consumers` (personal accounts only). A confidential client refuses
    /// the three multi-tenant names ([`ConfigError::MultiTenantAuthority`]).
    ///
    /// ```
    /// use entra_token::Authority;
    /// let a = Authority::public("organizations")?;
    /// assert!(a.is_multi_tenant());
    /// assert_eq!(
    ///     a.device_code_endpoint().as_str(),
    ///     "https://login.microsoftonline.com/organizations/oauth2/v2.0/devicecode"
    /// );
    /// # Ok::<(), entra_token::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::InvalidTenant`].
    pub fn public(tenant: &str) -> Result<Self, ConfigError> {
        let tenant = parse_tenant(tenant, true)?;
        Self::build(public_cloud(), tenant, None)
    }

    /// An Azure AD B2C tenant and policy, e.g. instance `https://contoso.b2clogin.com/`, tenant
    /// `contoso.onmicrosoft.com`, policy `B2C_1_signin`. Client credentials work; on-behalf-of is
    /// refused ([`TokenError::B2cOnBehalfOf`](crate::TokenError::B2cOnBehalfOf)).
    ///
    /// # Errors
    /// [`ConfigError::InvalidInstance`], [`ConfigError::InvalidTenant`],
    /// [`ConfigError::InvalidPolicy`].
    pub fn b2c(instance: &str, tenant: &str, policy: &str) -> Result<Self, ConfigError> {
        let instance = parse_instance(instance, PlainHttp::LoopbackOnly)?;
        let tenant = parse_tenant(tenant, false)?;
        let policy = core::parse_b2c_policy(policy).map_err(config_error)?;
        Self::build(instance, tenant, Some(policy))
    }

    /// The same tenant on another instance: a sovereign cloud ([`US_GOVERNMENT`], [`CHINA`]), an
    /// External ID (`https://{tenant}.ciamlogin.com/`) or a custom one such as the development
    /// issuer (`http://127.0.0.1:{port}/`). A missing trailing `/` is added.
    ///
    /// # Errors
    /// [`ConfigError::InvalidInstance`] unless the URL is absolute `https` (or `http` on a
    /// loopback host: 127.0.0.0/8, `::1`, `localhost`), without query, fragment or user
    /// information.
    pub fn with_instance(self, instance: &str) -> Result<Self, ConfigError> {
        let instance = parse_instance(instance, PlainHttp::LoopbackOnly)?;
        Self::build(instance, self.tenant, self.policy)
    }

    /// **Dangerous**: as [`with_instance`](Self::with_instance), accepting a plain `http`
    /// instance on any host. Client secrets, assertions and tokens then travel in clear text.
    /// Only for test networks without TLS.
    ///
    /// # Errors
    /// [`ConfigError::InvalidInstance`] unless the URL is an absolute http(s) URL without query,
    /// fragment or user information.
    pub fn dangerous_with_insecure_http_instance(
        self,
        instance: &str,
    ) -> Result<Self, ConfigError> {
        let instance = parse_instance(instance, PlainHttp::DangerousAnyHost)?;
        Self::build(instance, self.tenant, self.policy)
    }

    fn build(instance: Url, tenant: String, policy: Option<String>) -> Result<Self, ConfigError> {
        let path = match &policy {
            Some(p) => format!("{tenant}/{p}/oauth2/v2.0/token"),
            None => format!("{tenant}/oauth2/v2.0/token"),
        };
        let token_endpoint = instance
            .join(&path)
            .map_err(|_| ConfigError::InvalidInstance {
                found: clip(instance.as_str()),
            })?;
        Ok(Self {
            instance,
            tenant,
            policy,
            token_endpoint,
        })
    }

    /// The instance, ending with `/`.
    pub fn instance(&self) -> &Url {
        &self.instance
    }

    /// The tenant as configured.
    pub fn tenant_id(&self) -> &str {
        &self.tenant
    }

    /// The B2C policy, for a B2C authority.
    pub fn b2c_policy(&self) -> Option<&str> {
        self.policy.as_deref()
    }

    /// `{instance}{tenant}/oauth2/v2.0/token` (`{instance}{tenant}/{policy}/oauth2/v2.0/token` for B2C).
    pub fn token_endpoint(&self) -> &Url {
        &self.token_endpoint
    }

    /// `{instance}{tenant}/oauth2/v2.0/authorize` (with `{policy}/` for B2C): where a public
    /// client sends the browser.
    pub fn authorize_endpoint(&self) -> Url {
        self.sibling("authorize")
    }

    /// `{instance}{tenant}/oauth2/v2.0/devicecode`: the device authorization endpoint (RFC 8628).
    pub fn device_code_endpoint(&self) -> Url {
        self.sibling("devicecode")
    }

    /// Whether the tenant is `common`, `organizations` or `consumers` (public clients only).
    pub fn is_multi_tenant(&self) -> bool {
        matches!(
            self.tenant.as_str(),
            "common" | "organizations" | "consumers"
        )
    }

    /// The endpoint next to the token endpoint (same path, last segment replaced).
    fn sibling(&self, last: &str) -> Url {
        let mut url = self.token_endpoint.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop().push(last);
        }
        url
    }
}

fn public_cloud() -> Url {
    Url::parse(PUBLIC_CLOUD).expect("BUG: PUBLIC_CLOUD is a valid URL")
}

/// A tenant by entra-core's rules; the multi-tenant names only when `allow_multi_tenant`.
fn parse_tenant(tenant: &str, allow_multi_tenant: bool) -> Result<String, ConfigError> {
    let parsed = Tenant::parse(tenant).map_err(config_error)?;
    if parsed.is_multi_tenant() && !allow_multi_tenant {
        return Err(ConfigError::MultiTenantAuthority {
            found: parsed.as_str().to_owned(),
        });
    }
    Ok(parsed.as_str().to_owned())
}

fn parse_instance(instance: &str, plain_http: PlainHttp) -> Result<Url, ConfigError> {
    core::parse_instance(instance, plain_http).map_err(config_error)
}

/// entra-core's refusal as this crate's [`ConfigError`].
fn config_error(e: AuthorityError) -> ConfigError {
    match e {
        AuthorityError::InvalidInstance { found, .. }
        | AuthorityError::InsecureInstance { found } => ConfigError::InvalidInstance { found },
        AuthorityError::InvalidB2cPolicy { found } => ConfigError::InvalidPolicy { found },
        AuthorityError::InvalidTenant { found } => ConfigError::InvalidTenant { found },
        other => ConfigError::InvalidTenant {
            found: clip(other.found()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_guid_builds_public_cloud_token_endpoint() {
        let a = Authority::tenant("7D6C5B4A-3F2E-4D1C-9B8A-0F1E2D3C4B5A").unwrap();
        assert_eq!(
            a.token_endpoint().as_str(),
            "https://login.microsoftonline.com/7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a/oauth2/v2.0/token"
        );
        assert_eq!(a.b2c_policy(), None);
    }

    #[test]
    fn china_instance_builds_its_token_endpoint() {
        let a = Authority::tenant("contoso.partner.onmschina.cn")
            .unwrap()
            .with_instance(CHINA)
            .unwrap();
        assert_eq!(
            a.token_endpoint().as_str(),
            "https://login.partner.microsoftonline.cn/contoso.partner.onmschina.cn/oauth2/v2.0/token"
        );
    }

    #[test]
    fn custom_loopback_instance_without_slash_is_accepted() {
        let a = Authority::tenant("t1.example")
            .unwrap()
            .with_instance("http://127.0.0.1:8080/dev-issuer")
            .unwrap();
        assert_eq!(
            a.token_endpoint().as_str(),
            "http://127.0.0.1:8080/dev-issuer/t1.example/oauth2/v2.0/token"
        );
    }

    #[test]
    fn plain_http_remote_instance_is_refused() {
        let err = Authority::tenant("t1.example")
            .unwrap()
            .with_instance("http://login.example.com/")
            .unwrap_err();
        assert!(matches!(err, ConfigError::InvalidInstance { .. }), "{err}");
        assert!(err.to_string().contains("https"), "{err}");
    }

    #[test]
    fn dangerous_insecure_http_instance_is_accepted_anywhere() {
        let a = Authority::tenant("t1.example")
            .unwrap()
            .dangerous_with_insecure_http_instance("http://login.example.com")
            .unwrap();
        assert_eq!(
            a.token_endpoint().as_str(),
            "http://login.example.com/t1.example/oauth2/v2.0/token"
        );
    }

    #[test]
    fn tenant_without_a_dot_is_refused() {
        assert!(matches!(
            Authority::tenant("t1"),
            Err(ConfigError::InvalidTenant { found }) if found == "t1"
        ));
    }

    #[test]
    fn common_tenant_is_refused_with_reason() {
        let err = Authority::tenant("Common").unwrap_err();
        assert!(matches!(err, ConfigError::MultiTenantAuthority { .. }));
        assert!(err.to_string().contains("tenant id"), "{err}");
    }

    #[test]
    fn public_authority_accepts_organizations_and_names_its_endpoints() {
        let a = Authority::public("Organizations")
            .unwrap()
            .with_instance("http://127.0.0.1:8080/dev-issuer/")
            .unwrap();
        assert!(a.is_multi_tenant());
        assert_eq!(
            a.authorize_endpoint().as_str(),
            "http://127.0.0.1:8080/dev-issuer/organizations/oauth2/v2.0/authorize"
        );
        assert_eq!(
            a.device_code_endpoint().as_str(),
            "http://127.0.0.1:8080/dev-issuer/organizations/oauth2/v2.0/devicecode"
        );
        assert!(!Authority::public("t1.example").unwrap().is_multi_tenant());
    }

    #[test]
    fn tenant_with_slash_is_refused() {
        assert!(matches!(
            Authority::tenant("a/b"),
            Err(ConfigError::InvalidTenant { .. })
        ));
    }

    #[test]
    fn b2c_authority_puts_policy_in_token_endpoint() {
        let a = Authority::b2c(
            "https://contoso.b2clogin.com",
            "contoso.onmicrosoft.com",
            "B2C_1_signin",
        )
        .unwrap();
        assert_eq!(
            a.token_endpoint().as_str(),
            "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signin/oauth2/v2.0/token"
        );
        assert!(matches!(
            Authority::b2c(
                "https://contoso.b2clogin.com",
                "contoso.onmicrosoft.com",
                "signin"
            ),
            Err(ConfigError::InvalidPolicy { .. })
        ));
    }
}
