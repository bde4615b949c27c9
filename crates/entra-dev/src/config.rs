//! The vocabulary of a development tenant: its configuration, test users and registered clients.
//!
//! A leaf module: it depends on nothing else in the crate but [`crate::defaults`] and [`crate::request`].

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::credential::{ClientCertificate, FederatedCredential, TrustedCertificateSubject};
use crate::defaults;
use crate::error::DevIssuerError;
use crate::request::TokenVersion;
use crate::switch::Switches;

/// A test user that can sign in on the login page and be the subject of delegated tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestUser {
    /// Short user name used to pick the user (`alice`).
    pub username: String,
    /// Display name (`name` claim).
    pub display_name: String,
    /// Sign-in name (`preferred_username`, `upn`, `unique_name` claims).
    pub email: String,
    /// Object id (`oid` claim), a GUID.
    pub oid: String,
}

impl TestUser {
    /// A test user from its parts.
    pub fn new(username: &str, display_name: &str, email: &str, oid: &str) -> Self {
        Self {
            username: username.to_owned(),
            display_name: display_name.to_owned(),
            email: email.to_owned(),
            oid: oid.to_owned(),
        }
    }
}

/// A client application registered with the development tenant.
#[derive(Clone, PartialEq, Eq)]
pub struct DevClient {
    /// The client (application) id.
    pub client_id: String,
    /// Human-readable name, shown on the login page.
    pub display_name: String,
    /// `Some(secret)`: a confidential client that authenticates with this secret (`azpacr`/`appidacr`
    /// "1"). A client with no secret, certificate or federated credential is a public client ("0").
    pub secret: Option<String>,
    /// Certificates (or public keys) whose private keys sign the client's RFC 7523 client assertions
    /// (`azpacr`/`appidacr` "2").
    pub certificates: Vec<ClientCertificate>,
    /// External issuers and subjects whose tokens the client may send as its client assertion
    /// (workload identity federation; `azpacr`/`appidacr` "2").
    pub federated_credentials: Vec<FederatedCredential>,
    /// Subject name + issuer authentication: certificates with one of these subjects issued by its
    /// CA authenticate the client when the assertion carries them in `x5c`, without being
    /// registered one by one (`azpacr`/`appidacr` "2").
    pub trusted_certificate_subjects: Vec<TrustedCertificateSubject>,
    /// The service principal object id: `oid`/`sub` of the client's app-only tokens.
    pub service_principal_id: String,
    /// App roles of the API assigned to this client (granted by `client_credentials` with `.default`).
    pub app_roles: Vec<String>,
    /// Exact redirect URIs allowed for the authorization code flow.
    pub redirect_uris: Vec<String>,
    /// Also allow any `http://127.0.0.1:*/…`, `http://localhost:*/…` or `http://[::1]:*/…` redirect URI
    /// (native and development clients).
    pub allow_loopback_redirects: bool,
}

impl std::fmt::Debug for DevClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevClient")
            .field("client_id", &self.client_id)
            .field("display_name", &self.display_name)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("certificates", &self.certificates)
            .field("federated_credentials", &self.federated_credentials)
            .field(
                "trusted_certificate_subjects",
                &self.trusted_certificate_subjects,
            )
            .field("service_principal_id", &self.service_principal_id)
            .field("app_roles", &self.app_roles)
            .field("redirect_uris", &self.redirect_uris)
            .field("allow_loopback_redirects", &self.allow_loopback_redirects)
            .finish()
    }
}

impl DevClient {
    /// A public client (no credential) with loopback redirect URIs allowed.
    pub fn public(client_id: &str, display_name: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            display_name: display_name.to_owned(),
            secret: None,
            certificates: Vec::new(),
            federated_credentials: Vec::new(),
            trusted_certificate_subjects: Vec::new(),
            service_principal_id: derived_id("service-principal", client_id),
            app_roles: Vec::new(),
            redirect_uris: Vec::new(),
            allow_loopback_redirects: true,
        }
    }

    /// A confidential client with no credential yet (add a secret, certificate or federated credential)
    /// and no redirect URI.
    pub fn confidential(client_id: &str, display_name: &str) -> Self {
        Self {
            allow_loopback_redirects: false,
            ..Self::public(client_id, display_name)
        }
    }

    /// Whether the client authenticates (with a secret, a certificate or a federated credential).
    pub fn is_confidential(&self) -> bool {
        self.secret.is_some()
            || !self.certificates.is_empty()
            || !self.federated_credentials.is_empty()
    }

    /// Whether `uri` is an allowed redirect URI for this client.
    pub fn allows_redirect(&self, uri: &str) -> bool {
        if self.redirect_uris.iter().any(|r| r == uri) {
            return true;
        }
        if !self.allow_loopback_redirects {
            return false;
        }
        match Url::parse(uri) {
            Ok(u) => {
                u.scheme() == "http"
                    && matches!(
                        u.host_str(),
                        Some("127.0.0.1") | Some("localhost") | Some("[::1]")
                    )
                    && u.fragment().is_none()
            }
            Err(_) => false,
        }
    }
}

/// Another API (resource) registered in the development tenant, besides the main API of
/// [`DevIssuerConfig`]: a downstream API that a middle-tier API calls on behalf of its user (the
/// on-behalf-of grant). Its tokens have `aud` = `client_id` (v2) or `app_id_uri` (v1) and `scp` = the
/// granted scopes; ask for them with `scope={app_id_uri}/{scope}` (or `{client_id}/{scope}`, or
/// `{app_id_uri}/.default` for every scope).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevApi {
    /// Display name, used in error messages.
    pub display_name: String,
    /// The API's client (application) id.
    pub client_id: String,
    /// Its App ID URI (usually `api://{client_id}`).
    pub app_id_uri: String,
    /// Delegated scopes it exposes (short names).
    pub scopes: Vec<String>,
}

impl DevApi {
    /// An API with the App ID URI `api://{client_id}`.
    pub fn new(client_id: &str, display_name: &str, scopes: &[&str]) -> Self {
        Self {
            display_name: display_name.to_owned(),
            client_id: client_id.to_owned(),
            app_id_uri: format!("api://{client_id}"),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// A managed identity of the development tenant, whose tokens the emulated instance metadata service
/// (`GET {instance}metadata/identity/oauth2/token`) and App Service identity endpoint (`GET
/// {instance}msi/token`) issue: `appid`/`azp` = `client_id`, `oid` = `sub` = `object_id`, and for a
/// user-assigned identity `xms_mirid` = `resource_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevManagedIdentity {
    /// The identity's client (application) id.
    pub client_id: String,
    /// Its object (principal) id: the subject a federated credential names.
    pub object_id: String,
    /// `None`: the system-assigned identity (the one a request without `client_id`, `object_id` or
    /// `msi_res_id` gets). `Some(id)`: a user-assigned identity with this Azure resource id.
    pub resource_id: Option<String>,
}

impl DevManagedIdentity {
    /// The system-assigned identity with these ids.
    pub fn system_assigned(client_id: &str, object_id: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            object_id: object_id.to_owned(),
            resource_id: None,
        }
    }

    /// A user-assigned identity with these ids.
    pub fn user_assigned(client_id: &str, object_id: &str, resource_id: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            object_id: object_id.to_owned(),
            resource_id: Some(resource_id.to_owned()),
        }
    }

    /// Whether this is the system-assigned identity.
    pub fn is_system_assigned(&self) -> bool {
        self.resource_id.is_none()
    }
}

/// An API of the tenant as the token endpoint sees it: the main API or one of [`DevIssuerConfig::apis`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Resource<'a> {
    pub(crate) display_name: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) app_id_uri: &'a str,
    pub(crate) scopes: &'a [String],
}

impl Resource<'_> {
    /// Whether `name` (client id or App ID URI) names this API.
    pub(crate) fn is(&self, name: &str) -> bool {
        let name = name.trim_end_matches('/');
        name.eq_ignore_ascii_case(self.client_id) || name.eq_ignore_ascii_case(self.app_id_uri)
    }
}

/// Configuration of the development tenant and app registration. [`Default`] is the fixed development
/// identities of [`defaults`], an in-memory key, 1 h tokens.
#[derive(Clone, Debug)]
pub struct DevIssuerConfig {
    /// The tenant id (GUID): `tid`, and the tenant segment of the issuers.
    pub tenant_id: String,
    /// The protected API's client id (`aud` of v2 tokens).
    pub api_client_id: String,
    /// The protected API's App ID URI (`aud` of v1 tokens, prefix of scopes).
    pub api_app_id_uri: String,
    /// Delegated scopes the API exposes (short names, e.g. `weather.read`).
    pub scopes: Vec<String>,
    /// App roles the API defines (e.g. `Weather.Read.All`).
    pub app_roles: Vec<String>,
    /// Users who can sign in on the login page.
    pub users: Vec<TestUser>,
    /// Registered client applications.
    pub clients: Vec<DevClient>,
    /// `None`: the signing key lives in memory only (tests). `Some(dir)`: it is loaded from, or created in,
    /// `dir/signing-keys.json` (mode 0600), so tokens stay valid across restarts.
    pub data_dir: Option<PathBuf>,
    /// Lifetime of access tokens (default 1 h).
    pub token_lifetime: Duration,
    /// How long a rotated-out key stays published (default 24 h).
    pub key_grace_period: Duration,
    /// `Some(age)`: when the issuer is created, a current key older than `age` is rotated (the old one stays
    /// published for the grace period). `None` (default): keys never expire on their own; rotate with
    /// [`DevIssuer::rotate_key`](crate::DevIssuer::rotate_key) or `entra-dev keys rotate`.
    pub key_lifetime: Option<Duration>,
    /// How long an authorization code can be redeemed (default 10 min, like Entra).
    pub code_lifetime: Duration,
    /// The access token version the token endpoint issues: in Entra this is the API's app registration
    /// setting `requestedAccessTokenVersion`, not the endpoint's version (default v2).
    pub access_token_version: TokenVersion,
    /// The B2C tenant name: B2C paths are `{instance}{name}.onmicrosoft.com/{policy}/…` (default `devb2c`).
    pub b2c_tenant_name: String,
    /// Downstream APIs registered besides the main one (default: [`defaults::DEV_DOWNSTREAM_API_CLIENT_ID`]
    /// with the scopes [`defaults::SCOPE_DOWNSTREAM_READ`] and [`defaults::SCOPE_DOWNSTREAM_WRITE`]).
    /// Every API, the main one included, can be the target of the on-behalf-of grant; the middle tier is a
    /// confidential client in [`DevIssuerConfig::clients`] whose client id is the audience of the
    /// incoming token (by default the main API, registered as a client with
    /// [`defaults::DEV_API_CLIENT_SECRET`]).
    pub apis: Vec<DevApi>,
    /// Token responses carry `refresh_in` (half the lifetime, in seconds) for tokens whose lifetime is at
    /// least this (default 2 h: like Entra, only long-lived tokens get it). `Some(Duration::ZERO)`: always;
    /// `None`: never.
    pub refresh_in_min_lifetime: Option<Duration>,
    /// How long a refresh token can be exchanged (default 90 days, Entra's inactivity lifetime). Each
    /// exchange returns a new refresh token and retires the old one.
    pub refresh_token_lifetime: Duration,
    /// How long a device code can be approved and redeemed (default 15 min, like Entra).
    pub device_code_lifetime: Duration,
    /// The polling interval the device authorization endpoint announces (default 5 s); polling faster
    /// answers `slow_down` and adds 5 s.
    pub device_poll_interval: Duration,
    /// Browser origins (`http://127.0.0.1:8000`) allowed to call the token, device and discovery
    /// endpoints from a page (CORS): the origins of the API's Swagger UI (`/docs`). Default: the weather
    /// API's default origins, [`defaults::WEATHER_API_ORIGINS`]. Other pages get no CORS headers, so they
    /// cannot read tokens; the control endpoints never answer CORS.
    pub allowed_origins: Vec<String>,
    /// Host names or addresses accepted in the `Host` header besides loopback ones (`localhost`,
    /// `127.0.0.0/8`, `[::1]`) and the instance URL's host (e.g. a container name with
    /// `entra-dev serve --allow-remote`). A request for any other host gets 403 (DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// DANGEROUS: accept any `Host` (an issuer deliberately exposed on a network, such as weather-api's
    /// `dangerous_dev_mode_on_network`). Default `false`.
    pub dangerous_accept_any_host: bool,
    /// The managed identities the emulated identity endpoints issue tokens for (default: the
    /// system-assigned [`defaults::DEV_SYSTEM_MI_CLIENT_ID`] and the user-assigned
    /// [`defaults::DEV_USER_MI_CLIENT_ID`]).
    pub managed_identities: Vec<DevManagedIdentity>,
    /// The secret the emulated App Service identity endpoint expects in `X-IDENTITY-HEADER` (the
    /// platform's `IDENTITY_HEADER`; default [`defaults::DEV_IDENTITY_HEADER`]).
    pub identity_header: String,
}

impl Default for DevIssuerConfig {
    fn default() -> Self {
        let loopback_public = DevClient {
            client_id: defaults::DEV_PUBLIC_CLIENT_ID.to_owned(),
            display_name: "Development public client (Swagger UI, CLI)".to_owned(),
            service_principal_id: defaults::DEV_PUBLIC_SERVICE_PRINCIPAL_ID.to_owned(),
            ..DevClient::public(defaults::DEV_PUBLIC_CLIENT_ID, "")
        };
        // Both confidential clients also trust the development managed identities as federated
        // credentials (a managed identity's token for api://AzureADTokenExchange as client_assertion).
        let trusts_managed_identities = vec![
            FederatedCredential::managed_identity(defaults::DEV_SYSTEM_MI_OBJECT_ID),
            FederatedCredential::managed_identity(defaults::DEV_USER_MI_OBJECT_ID),
        ];
        let weather_api = DevClient {
            secret: Some(defaults::DEV_API_CLIENT_SECRET.to_owned()),
            federated_credentials: trusts_managed_identities.clone(),
            service_principal_id: defaults::DEV_API_SERVICE_PRINCIPAL_ID.to_owned(),
            ..DevClient::confidential(
                defaults::DEV_API_CLIENT_ID,
                "Development weather API (middle tier of on-behalf-of)",
            )
        };
        let daemon = DevClient {
            client_id: defaults::DEV_DAEMON_CLIENT_ID.to_owned(),
            display_name: "Development daemon".to_owned(),
            secret: Some(defaults::DEV_DAEMON_CLIENT_SECRET.to_owned()),
            certificates: Vec::new(),
            federated_credentials: trusts_managed_identities,
            trusted_certificate_subjects: Vec::new(),
            service_principal_id: defaults::DEV_DAEMON_SERVICE_PRINCIPAL_ID.to_owned(),
            app_roles: vec![
                defaults::ROLE_READ_ALL.to_owned(),
                defaults::ROLE_WRITE_ALL.to_owned(),
            ],
            redirect_uris: Vec::new(),
            allow_loopback_redirects: false,
        };
        Self {
            tenant_id: defaults::DEV_TENANT_ID.to_owned(),
            api_client_id: defaults::DEV_API_CLIENT_ID.to_owned(),
            api_app_id_uri: defaults::DEV_API_APP_ID_URI.to_owned(),
            scopes: vec![
                defaults::SCOPE_READ.to_owned(),
                defaults::SCOPE_WRITE.to_owned(),
            ],
            app_roles: vec![
                defaults::ROLE_READ_ALL.to_owned(),
                defaults::ROLE_WRITE_ALL.to_owned(),
            ],
            users: vec![
                TestUser::new(
                    defaults::ALICE_USERNAME,
                    defaults::ALICE_NAME,
                    defaults::ALICE_EMAIL,
                    defaults::ALICE_OID,
                ),
                TestUser::new(
                    defaults::BOB_USERNAME,
                    defaults::BOB_NAME,
                    defaults::BOB_EMAIL,
                    defaults::BOB_OID,
                ),
            ],
            clients: vec![loopback_public, daemon, weather_api],
            data_dir: None,
            token_lifetime: Duration::from_secs(3600),
            key_grace_period: Duration::from_secs(24 * 3600),
            key_lifetime: None,
            code_lifetime: Duration::from_secs(600),
            access_token_version: TokenVersion::V2,
            b2c_tenant_name: defaults::DEV_B2C_TENANT_NAME.to_owned(),
            apis: vec![DevApi::new(
                defaults::DEV_DOWNSTREAM_API_CLIENT_ID,
                "Development downstream API",
                &[
                    defaults::SCOPE_DOWNSTREAM_READ,
                    defaults::SCOPE_DOWNSTREAM_WRITE,
                ],
            )],
            refresh_in_min_lifetime: Some(Duration::from_secs(2 * 3600)),
            refresh_token_lifetime: Duration::from_secs(90 * 24 * 3600),
            device_code_lifetime: Duration::from_secs(900),
            device_poll_interval: Duration::from_secs(5),
            allowed_origins: defaults::WEATHER_API_ORIGINS
                .iter()
                .map(|o| (*o).to_owned())
                .collect(),
            allowed_hosts: Vec::new(),
            dangerous_accept_any_host: false,
            managed_identities: vec![
                DevManagedIdentity::system_assigned(
                    defaults::DEV_SYSTEM_MI_CLIENT_ID,
                    defaults::DEV_SYSTEM_MI_OBJECT_ID,
                ),
                DevManagedIdentity::user_assigned(
                    defaults::DEV_USER_MI_CLIENT_ID,
                    defaults::DEV_USER_MI_OBJECT_ID,
                    defaults::DEV_USER_MI_RESOURCE_ID,
                ),
            ],
            identity_header: defaults::DEV_IDENTITY_HEADER.to_owned(),
        }
    }
}

impl DevIssuerConfig {
    /// The registered client with this id, if any.
    pub fn client(&self, client_id: &str) -> Option<&DevClient> {
        self.clients
            .iter()
            .find(|c| c.client_id.eq_ignore_ascii_case(client_id))
    }

    /// The API (main or downstream) with this client id or App ID URI (case-insensitive, a trailing `/`
    /// ignored), if any.
    pub(crate) fn resource(&self, name: &str) -> Option<Resource<'_>> {
        let name = name.trim_end_matches('/');
        self.resources().find(|r| {
            name.eq_ignore_ascii_case(r.client_id) || name.eq_ignore_ascii_case(r.app_id_uri)
        })
    }

    /// Every API of the tenant, the main one first.
    pub(crate) fn resources(&self) -> impl Iterator<Item = Resource<'_>> {
        std::iter::once(Resource {
            display_name: "the development API",
            client_id: &self.api_client_id,
            app_id_uri: &self.api_app_id_uri,
            scopes: &self.scopes,
        })
        .chain(self.apis.iter().map(|a| Resource {
            display_name: &a.display_name,
            client_id: &a.client_id,
            app_id_uri: &a.app_id_uri,
            scopes: &a.scopes,
        }))
    }

    /// Refuses switches that name an API the tenant does not have.
    pub(crate) fn check_switches(&self, switches: &Switches) -> Result<(), DevIssuerError> {
        let named = switches
            .consent_required
            .iter()
            .chain(switches.mfa_required.iter().map(|d| &d.api));
        for api in named {
            if self.resource(api).is_none() {
                return Err(DevIssuerError::UnknownApi {
                    api: api.clone(),
                    known: self
                        .resources()
                        .map(|r| r.app_id_uri.to_owned())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        Ok(())
    }

    /// The managed identity a request names: by `client_id`, `object_id` or resource id, or the
    /// system-assigned one when `id` is `None`.
    pub(crate) fn managed_identity(
        &self,
        id: Option<ManagedIdentityRef<'_>>,
    ) -> Option<&DevManagedIdentity> {
        self.managed_identities.iter().find(|mi| match id {
            None => mi.is_system_assigned(),
            Some(ManagedIdentityRef::ClientId(c)) => mi.client_id.eq_ignore_ascii_case(c),
            Some(ManagedIdentityRef::ObjectId(o)) => mi.object_id.eq_ignore_ascii_case(o),
            Some(ManagedIdentityRef::ResourceId(r)) => mi
                .resource_id
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(r)),
        })
    }

    /// The test user with this user name (or sign-in name), if any.
    pub fn user(&self, username: &str) -> Option<&TestUser> {
        self.users.iter().find(|u| {
            u.username.eq_ignore_ascii_case(username) || u.email.eq_ignore_ascii_case(username)
        })
    }
}

/// How a request names a user-assigned managed identity.
#[derive(Clone, Copy, Debug)]
#[allow(clippy::enum_variant_names)] // the names of the three request parameters
pub(crate) enum ManagedIdentityRef<'a> {
    ClientId(&'a str),
    ObjectId(&'a str),
    ResourceId(&'a str),
}

/// A stable GUID derived from a name (service principals of clients built with [`DevClient::public`]).
pub(crate) fn derived_id(kind: &str, value: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("entra-dev:{kind}:{}", value.to_ascii_lowercase()));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The development data directory that `entra-dev` (the CLI) and applications in development mode share, so
/// that tokens from `entra-dev token` are accepted by a running service:
/// `$ENTRA_DEV_HOME`, else `$XDG_DATA_HOME/entra-dev`, else `$HOME/.local/share/entra-dev`; `None` if none
/// of these variables is set (empty values count as unset).
///
/// This helper reads the environment (the rest of the library does not): call it in a binary and pass the
/// result as [`DevIssuerConfig::data_dir`].
pub fn default_data_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(home) = var("ENTRA_DEV_HOME") {
        return Some(PathBuf::from(home));
    }
    if let Some(xdg) = var("XDG_DATA_HOME") {
        return Some(PathBuf::from(xdg).join("entra-dev"));
    }
    var("HOME").map(|home| PathBuf::from(home).join(".local/share/entra-dev"))
}
