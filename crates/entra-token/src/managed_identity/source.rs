//! Where a managed identity's token comes from: the [`ManagedIdentitySource`] picked from the
//! variables the application passes (in MSAL's order), its endpoint checked, and the one request
//! each source's documented protocol sends.

use std::time::Duration;

use bytes::Bytes;
use entra_core::{ExposeSecret as _, SecretString};
use http::header::{HeaderName, HeaderValue, ACCEPT, AUTHORIZATION};
use url::Url;

use super::error::ManagedIdentityError;
pub use super::platform::ManagedIdentitySource;
use super::ManagedIdentityId;

/// The address of the instance metadata service (link-local; plain http by design).
pub const IMDS_ADDRESS: &str = "169.254.169.254";
const IMDS_DEFAULT: &str = "http://169.254.169.254/";
const IMDS_PATH: &str = "metadata/identity/oauth2/token";
const IMDS_API_VERSION: &str = "2018-02-01";
const APP_SERVICE_API_VERSION: &str = "2019-08-01";
const ARC_API_VERSION: &str = "2019-11-01";
const SERVICE_FABRIC_API_VERSION: &str = "2019-07-01-preview";

/// The endpoint of the picked source, with its secret.
pub(crate) struct Endpoint {
    pub(crate) source: ManagedIdentitySource,
    /// The token URL without a query.
    pub(crate) url: Url,
    /// `IDENTITY_HEADER` (App Service, Service Fabric).
    secret: Option<SecretString>,
    /// `IDENTITY_SERVER_THUMBPRINT` (Service Fabric).
    pub(crate) server_thumbprint: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("source", &self.source)
            .field("url", &self.url.as_str())
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .field("server_thumbprint", &self.server_thumbprint)
            .finish()
    }
}

impl Endpoint {
    /// The instance metadata service at its address, or at `authority_host` (the
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST` override).
    pub(crate) fn imds(authority_host: Option<&str>) -> Result<Self, ManagedIdentityError> {
        let (variable, base) = match authority_host {
            Some(h) => ("AZURE_POD_IDENTITY_AUTHORITY_HOST", h),
            None => ("the IMDS address", IMDS_DEFAULT),
        };
        let mut base = checked_url(variable, base, ManagedIdentitySource::Imds)?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let url = base
            .join(IMDS_PATH)
            .map_err(|_| invalid(variable, base.as_str(), "expected a base URL"))?;
        Ok(Self {
            source: ManagedIdentitySource::Imds,
            url,
            secret: None,
            server_thumbprint: None,
        })
    }

    /// Picks the source the way MSAL does: Service Fabric (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`,
    /// `IDENTITY_SERVER_THUMBPRINT`), App Service (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`), Cloud
    /// Shell (`MSI_ENDPOINT`), Azure Arc (`IDENTITY_ENDPOINT`, `IMDS_ENDPOINT`), else the instance
    /// metadata service. Empty values count as unset.
    pub(crate) fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ManagedIdentityError> {
        let mut identity_endpoint = None;
        let mut identity_header = None;
        let mut thumbprint = None;
        let mut msi_endpoint = None;
        let mut imds_endpoint = None;
        let mut pod_identity_host = None;
        for (name, value) in vars {
            if value.trim().is_empty() {
                continue;
            }
            match name.as_str() {
                "IDENTITY_ENDPOINT" => identity_endpoint = Some(value),
                "IDENTITY_HEADER" => identity_header = Some(SecretString::from(value)),
                "IDENTITY_SERVER_THUMBPRINT" => thumbprint = Some(value),
                "MSI_ENDPOINT" => msi_endpoint = Some(value),
                "IMDS_ENDPOINT" => imds_endpoint = Some(value),
                "AZURE_POD_IDENTITY_AUTHORITY_HOST" => pod_identity_host = Some(value),
                _ => {}
            }
        }
        let with = |source, variable, url: &str, secret, thumbprint| {
            Ok(Self {
                source,
                url: checked_url(variable, url, source)?,
                secret,
                server_thumbprint: thumbprint,
            })
        };
        match (identity_endpoint, identity_header, thumbprint) {
            (Some(endpoint), Some(header), Some(thumbprint)) => with(
                ManagedIdentitySource::ServiceFabric,
                "IDENTITY_ENDPOINT",
                &endpoint,
                Some(header),
                Some(thumbprint),
            ),
            (Some(endpoint), Some(header), None) => with(
                ManagedIdentitySource::AppService,
                "IDENTITY_ENDPOINT",
                &endpoint,
                Some(header),
                None,
            ),
            (identity_endpoint, _, _) => {
                if let Some(msi) = msi_endpoint {
                    return with(
                        ManagedIdentitySource::CloudShell,
                        "MSI_ENDPOINT",
                        &msi,
                        None,
                        None,
                    );
                }
                match (identity_endpoint, imds_endpoint) {
                    (Some(endpoint), Some(_)) => with(
                        ManagedIdentitySource::AzureArc,
                        "IDENTITY_ENDPOINT",
                        &endpoint,
                        None,
                        None,
                    ),
                    _ => Self::imds(pod_identity_host.as_deref()),
                }
            }
        }
    }

    /// The request for `resource` as `id` (the source's protocol), with `authorization` (Azure Arc's
    /// second request) when given.
    pub(crate) fn request(
        &self,
        resource: &str,
        id: &ManagedIdentityId,
        authorization: Option<&SecretString>,
    ) -> Result<http::Request<Bytes>, ManagedIdentityError> {
        use ManagedIdentitySource as S;
        if let Some(kind) = id.kind().filter(|_| !self.source.supports_user_assigned()) {
            return Err(ManagedIdentityError::UserAssignedUnsupported {
                platform: self.source,
                kind,
            });
        }
        let mut url = self.url.clone();
        let mut body = None;
        {
            let mut q = url.query_pairs_mut();
            let api_version = match self.source {
                S::Imds => Some(IMDS_API_VERSION),
                S::AppService => Some(APP_SERVICE_API_VERSION),
                S::AzureArc => Some(ARC_API_VERSION),
                S::ServiceFabric => Some(SERVICE_FABRIC_API_VERSION),
                // Cloud Shell takes a form.
                S::CloudShell => None,
            };
            match api_version {
                Some(v) => {
                    q.append_pair("api-version", v);
                    q.append_pair("resource", resource);
                }
                None => {
                    body = Some(
                        url::form_urlencoded::Serializer::new(String::new())
                            .append_pair("resource", resource)
                            .finish(),
                    );
                }
            }
            let resource_id_param = match self.source {
                S::Imds => "msi_res_id",
                _ => "mi_res_id",
            };
            match id {
                ManagedIdentityId::SystemAssigned => {}
                ManagedIdentityId::ClientId(v) => {
                    q.append_pair("client_id", v);
                }
                ManagedIdentityId::ObjectId(v) => {
                    q.append_pair("object_id", v);
                }
                ManagedIdentityId::ResourceId(v) => {
                    q.append_pair(resource_id_param, v);
                }
            }
        }
        let mut req = match body {
            Some(form) => entra_core::http::post_form(&url, form),
            None => entra_core::http::get_json(&url),
        };
        let headers = req.headers_mut();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let sensitive = |v: &str| {
            HeaderValue::from_str(v).map(|mut h| {
                h.set_sensitive(true);
                h
            })
        };
        match self.source {
            S::Imds | S::CloudShell | S::AzureArc => {
                headers.insert(
                    HeaderName::from_static("metadata"),
                    HeaderValue::from_static("true"),
                );
            }
            S::AppService | S::ServiceFabric => {
                let name = if self.source == S::AppService {
                    "x-identity-header"
                } else {
                    "secret"
                };
                let secret = self.secret.as_ref().map(|s| s.expose_secret().to_owned());
                let value = secret.as_deref().map(sensitive).transpose().map_err(|_| {
                    invalid(
                        "IDENTITY_HEADER",
                        "[REDACTED]",
                        "expected a header value (visible ASCII)",
                    )
                })?;
                if let Some(v) = value {
                    headers.insert(HeaderName::from_static(name), v);
                }
            }
        }
        if let Some(key) = authorization {
            let value = sensitive(&format!("Basic {}", key.expose_secret())).map_err(|_| {
                ManagedIdentityError::ArcChallenge {
                    path: None,
                    reason: "the key file does not hold a header value (visible ASCII)",
                }
            })?;
            headers.insert(AUTHORIZATION, value);
        }
        Ok(req)
    }
}

fn invalid(variable: &'static str, found: &str, reason: &'static str) -> ManagedIdentityError {
    ManagedIdentityError::InvalidEndpoint {
        variable,
        found: crate::error::clip(found),
        reason,
    }
}

/// An endpoint URL: https, or plain http on a loopback host (the platforms' local identity
/// endpoints), or for the instance metadata service exactly its link-local address.
fn checked_url(
    variable: &'static str,
    value: &str,
    source: ManagedIdentitySource,
) -> Result<Url, ManagedIdentityError> {
    let url = Url::parse(value.trim())
        .map_err(|_| invalid(variable, value, "expected an absolute http(s) URL"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(variable, value, "expected a host"));
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(invalid(
            variable,
            value,
            "expected no user information or fragment",
        ));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if entra_core::authority::is_loopback(&url) => Ok(url),
        "http" if source == ManagedIdentitySource::Imds && url.host_str() == Some(IMDS_ADDRESS) => {
            Ok(url)
        }
        "http" => Err(invalid(
            variable,
            value,
            "plain http is accepted only for a loopback host (the platform's local identity \
             endpoint) or the instance metadata service's 169.254.169.254: use https",
        )),
        _ => Err(invalid(variable, value, "expected an http(s) URL")),
    }
}

/// The exponential backoff after `retry` retries (1 s, 2 s, 4 s, ... by default), capped.
pub(crate) fn backoff(initial: Duration, max: Duration, retry: u32) -> Duration {
    initial.saturating_mul(2u32.saturating_pow(retry)).min(max)
}
