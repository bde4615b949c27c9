//! Typed settings, read once from the [`Configuration`] with the keys Microsoft's sidecar uses
//! (`AzureAd`, `DownstreamApis`, `Sidecar`, `ASPNETCORE_*`) and ours (`TokenCache:Redis`,
//! `Sidecar:CallerSecret`). Every mistake stops start-up with a message naming the key.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use entra_core::SecretString;
use url::Url;

use crate::config::{Configuration, SourceError};

/// A setting that cannot be used; the message names the key and the fix.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A configuration source could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A required key is missing or blank.
    #[error("{key} is required: {hint}")]
    Missing {
        /// The key.
        key: String,
        /// What to set.
        hint: &'static str,
    },
    /// A key holds a value that cannot be used.
    #[error("{key} = {value:?} is invalid: {reason}")]
    Invalid {
        /// The key.
        key: String,
        /// The value (never a secret's).
        value: String,
        /// What was expected.
        reason: String,
    },
    /// A credential source this sidecar does not implement.
    #[error("{key}: SourceType {source_type} is not supported by entra-sidecar: {hint}")]
    UnsupportedCredential {
        /// The key of the credential.
        key: String,
        /// The source type.
        source_type: String,
        /// What to use instead.
        hint: &'static str,
    },
}

/// `ASPNETCORE_ENVIRONMENT` (or `DOTNET_ENVIRONMENT`): `Development` lifts the loopback-only
/// rule and serves the OpenAPI document, as in Microsoft's sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment(String);

impl Environment {
    /// The environment named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The environment's name (default `Production`).
    pub fn name(&self) -> &str {
        &self.0
    }

    /// `Development`, compared case-insensitively as ASP.NET does.
    pub fn is_development(&self) -> bool {
        self.0.eq_ignore_ascii_case("Development")
    }
}

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix socket (`http://unix:/path`), created with mode 0660: only the owner and group can
    /// call the sidecar.
    Unix(PathBuf),
}

/// The inbound validation settings (`AzureAd`).
#[derive(Debug, Clone)]
pub struct AzureAd {
    /// `AzureAd:Instance`.
    pub instance: String,
    /// `AzureAd:TenantId` (or the B2C `Domain`).
    pub tenant_id: String,
    /// `AzureAd:ClientId`.
    pub client_id: String,
    /// The accepted audiences: `AzureAd:Audience` (or `Audiences`) and the client id, else the
    /// client id and `api://{ClientId}`.
    pub audiences: Vec<String>,
    /// `AzureAd:Scopes`: enforced by `/Validate` only (any of them), space-separated or a list.
    pub scopes: Vec<String>,
    /// `AzureAd:SignUpSignInPolicyId` (Azure AD B2C).
    pub b2c_policy: Option<String>,
    /// `AzureAd:AllowedTenants`: the tenants a multi-tenant authority accepts.
    pub allowed_tenants: Vec<String>,
    /// `AzureAd:DangerousAcceptAnyTenant`: accept every tenant (Microsoft's default; ours only
    /// when asked by this name).
    pub dangerous_accept_any_tenant: bool,
    /// `AzureAd:ClientCredentials`, tried in order (plus the legacy `AzureAd:ClientSecret`).
    pub credentials: Vec<CredentialSource>,
}

/// One entry of `AzureAd:ClientCredentials`.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    /// `ClientSecret`.
    ClientSecret(SecretString),
    /// `Path`: a certificate file at `CertificateDiskPath`: PEM with its key (PKCS#8, PKCS#1 or
    /// encrypted PKCS#8) or PKCS#12 / PFX; `CertificatePassword` opens an encrypted one.
    Path {
        /// `CertificateDiskPath`.
        path: PathBuf,
        /// `CertificatePassword`.
        password: Option<SecretString>,
    },
    /// `Base64Encoded`: `Base64EncodedValue`, the bytes of such a file (PEM or PKCS#12),
    /// base64-encoded (Key Vault's secret value of a certificate is a base64 PFX).
    Base64Encoded {
        /// The decoded bytes.
        value: SecretString,
        /// `CertificatePassword`.
        password: Option<SecretString>,
    },
    /// `SignedAssertionFilePath`: a federated token file (workload identity).
    SignedAssertionFile(PathBuf),
    /// `SignedAssertionFromManagedIdentity`: the managed identity's token is the client assertion
    /// (the identity is a federated credential of the app registration; no secret).
    ManagedIdentity {
        /// `ManagedIdentityClientId`: a user-assigned identity's client id (none: the
        /// system-assigned identity).
        client_id: Option<String>,
        /// `TokenExchangeUrl`: the audience of the identity's token (default
        /// `api://AzureADTokenExchange`).
        audience: Option<String>,
        /// The platform's managed identity variables (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`,
        /// `IDENTITY_SERVER_THUMBPRINT`, `MSI_ENDPOINT`, `IMDS_ENDPOINT`,
        /// `AZURE_POD_IDENTITY_AUTHORITY_HOST`) as the configuration holds them (the
        /// environment); values redacted in `Debug`.
        variables: Vec<(String, SecretString)>,
    },
}

/// The variables a managed identity's source is picked from.
pub const MANAGED_IDENTITY_VARIABLES: [&str; 6] = [
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "MSI_ENDPOINT",
    "IMDS_ENDPOINT",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
];

/// A configured downstream API (`DownstreamApis:<name>`), also the shape of the per-request
/// overrides.
#[derive(Debug, Clone, Default)]
pub struct DownstreamApi {
    /// The name as configured.
    pub name: String,
    /// `BaseUrl`.
    pub base_url: Option<Url>,
    /// `Scopes`.
    pub scopes: Vec<String>,
    /// `RelativePath`.
    pub relative_path: String,
    /// `HttpMethod` (default GET).
    pub http_method: String,
    /// `RequestAppToken`: client credentials instead of on-behalf-of.
    pub request_app_token: bool,
    /// `AcceptHeader`.
    pub accept_header: Option<String>,
    /// `ContentType`.
    pub content_type: Option<String>,
    /// `ExtraHeaderParameters`.
    pub extra_headers: BTreeMap<String, String>,
    /// `ExtraQueryParameters`.
    pub extra_query: BTreeMap<String, String>,
    /// `AcquireTokenOptions:Tenant`.
    pub tenant: Option<String>,
    /// `AcquireTokenOptions:ForceRefresh` (per request only).
    pub force_refresh: bool,
}

/// `Sidecar:AllowOverrides:*`: whether `optionsOverride.*` query parameters are honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowOverrides {
    /// `GetAuthorizationHeader` (default true).
    pub get_authorization_header: bool,
    /// `GetAuthorizationHeaderUnauthenticated` (default false).
    pub get_authorization_header_unauthenticated: bool,
    /// `CallDownstreamApi` (default true).
    pub call_downstream_api: bool,
    /// `CallDownstreamApiUnauthenticated` (default false).
    pub call_downstream_api_unauthenticated: bool,
}

/// `TokenCache:Redis`: the encrypted shared L2 cache of downstream tokens.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `ConnectionString`: a `redis://` URL or StackExchange.Redis's `host:port,password=...`.
    pub url: SecretString,
    /// `EncryptionKey`: 32 bytes, base64.
    pub key: SecretString,
    /// `KeyPrefix` (default `entra-sidecar:{ClientId}:`).
    pub prefix: String,
}

/// Everything the sidecar runs on.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The ASP.NET environment.
    pub environment: Environment,
    /// Where to listen.
    pub listen: Vec<Listen>,
    /// Inbound validation and the app's own identity.
    pub azure_ad: AzureAd,
    /// Downstream APIs by lower-cased name.
    pub downstream: BTreeMap<String, DownstreamApi>,
    /// Override gates.
    pub allow_overrides: AllowOverrides,
    /// `Sidecar:AllowOutboundRedirects` (default false).
    pub allow_outbound_redirects: bool,
    /// `Sidecar:CallerSecret`: when set, every route but the probes needs the header
    /// `Sidecar:CallerSecretHeader` (default `X-Sidecar-Secret`) with this value.
    pub caller_secret: Option<SecretString>,
    /// The header that carries the caller secret.
    pub caller_secret_header: String,
    /// The shared token cache.
    pub redis: Option<RedisSettings>,
    /// `Logging:LogLevel:Default`.
    pub log_level: String,
    /// `Logging:Console:FormatterName` = `json`.
    pub json_logs: bool,
}

impl Settings {
    /// Reads the process's configuration the way ASP.NET does: `appsettings.json` and
    /// `appsettings.{Environment}.json` from `dir` (both optional), then `env`, then `args`.
    ///
    /// # Errors
    /// [`SettingsError`] naming the key or file.
    pub fn load<E, A>(dir: &std::path::Path, env: E, args: A) -> Result<Self, SettingsError>
    where
        E: IntoIterator<Item = (String, String)>,
        A: IntoIterator<Item = String>,
    {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let args: Vec<String> = args.into_iter().collect();
        // The environment's name is host configuration: environment, then command line.
        let mut host = Configuration::new();
        host.add_environment(env.iter().cloned());
        host.add_command_line(args.iter().cloned())?;
        let environment = Environment(
            host.get_nonblank("environment")
                .or_else(|| host.get_nonblank("ASPNETCORE_ENVIRONMENT"))
                .or_else(|| host.get_nonblank("DOTNET_ENVIRONMENT"))
                .unwrap_or("Production")
                .to_owned(),
        );
        let mut config = Configuration::new();
        for name in [
            "appsettings.json".to_owned(),
            format!("appsettings.{}.json", environment.name()),
        ] {
            let path = dir.join(&name);
            match std::fs::read_to_string(&path) {
                Ok(text) => config.add_json(&name, &text)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(SettingsError::Read {
                        path: path.display().to_string(),
                        source,
                    })
                }
            }
        }
        config.add_environment(env);
        config.add_command_line(args)?;
        Self::from_configuration(&config, environment)
    }

    /// The typed settings of `config`.
    ///
    /// # Errors
    /// [`SettingsError`] naming the key.
    pub fn from_configuration(
        config: &Configuration,
        environment: Environment,
    ) -> Result<Self, SettingsError> {
        let azure_ad = azure_ad(config)?;
        let mut downstream = BTreeMap::new();
        for name in config.children("DownstreamApis") {
            let api = downstream_api(config, &name)?;
            downstream.insert(name.to_ascii_lowercase(), api);
        }
        let allow_overrides = AllowOverrides {
            get_authorization_header: flag(
                config,
                "Sidecar:AllowOverrides:GetAuthorizationHeader",
                true,
            )?,
            get_authorization_header_unauthenticated: flag(
                config,
                "Sidecar:AllowOverrides:GetAuthorizationHeaderUnauthenticated",
                false,
            )?,
            call_downstream_api: flag(config, "Sidecar:AllowOverrides:CallDownstreamApi", true)?,
            call_downstream_api_unauthenticated: flag(
                config,
                "Sidecar:AllowOverrides:CallDownstreamApiUnauthenticated",
                false,
            )?,
        };
        let redis = match config.get_nonblank("TokenCache:Redis:ConnectionString") {
            None => None,
            Some(conn) => {
                let key = config
                    .get_nonblank("TokenCache:Redis:EncryptionKey")
                    .ok_or(SettingsError::Missing {
                        key: "TokenCache:Redis:EncryptionKey".into(),
                        hint: "32 random bytes, base64 (openssl rand -base64 32): cached tokens are encrypted in Redis",
                    })?;
                Some(RedisSettings {
                    url: SecretString::from(redis_url(conn)?),
                    key: SecretString::from(key.to_owned()),
                    prefix: config
                        .get_nonblank("TokenCache:Redis:KeyPrefix")
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("entra-sidecar:{}:", azure_ad.client_id)),
                })
            }
        };
        Ok(Self {
            listen: listen(config)?,
            environment,
            azure_ad,
            downstream,
            allow_overrides,
            allow_outbound_redirects: flag(config, "Sidecar:AllowOutboundRedirects", false)?,
            caller_secret: config
                .get_nonblank("Sidecar:CallerSecret")
                .map(|s| SecretString::from(s.to_owned())),
            caller_secret_header: config
                .get_nonblank("Sidecar:CallerSecretHeader")
                .unwrap_or("X-Sidecar-Secret")
                .to_owned(),
            redis,
            log_level: config
                .get_nonblank("Logging:LogLevel:Default")
                .unwrap_or("Information")
                .to_owned(),
            json_logs: config
                .get_nonblank("Logging:Console:FormatterName")
                .is_some_and(|f| f.eq_ignore_ascii_case("json")),
        })
    }
}

fn flag(config: &Configuration, key: &str, default: bool) -> Result<bool, SettingsError> {
    match config.get_nonblank(key) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(SettingsError::Invalid {
            key: key.into(),
            value: v.into(),
            reason: "expected true or false".into(),
        }),
    }
}

fn azure_ad(config: &Configuration) -> Result<AzureAd, SettingsError> {
    let client_id = config
        .get_nonblank("AzureAd:ClientId")
        .ok_or(SettingsError::Missing {
            key: "AzureAd:ClientId".into(),
            hint: "the application (client) id of the sidecar's app registration",
        })?
        .to_owned();
    let b2c_policy = config
        .get_nonblank("AzureAd:SignUpSignInPolicyId")
        .map(str::to_owned);
    let tenant_id = match (config.get_nonblank("AzureAd:TenantId"), &b2c_policy) {
        (Some(t), _) => t.to_owned(),
        (None, Some(_)) => config
            .get_nonblank("AzureAd:Domain")
            .map(|d| d.trim_end_matches(".onmicrosoft.com").to_owned())
            .ok_or(SettingsError::Missing {
                key: "AzureAd:Domain".into(),
                hint: "the B2C tenant's domain, e.g. contoso.onmicrosoft.com",
            })?,
        (None, None) => {
            return Err(SettingsError::Missing {
                key: "AzureAd:TenantId".into(),
                hint:
                    "the directory (tenant) id, or organizations/common with AzureAd:AllowedTenants",
            })
        }
    };
    let mut audiences = config.list("AzureAd:Audiences");
    if let Some(a) = config.get_nonblank("AzureAd:Audience") {
        audiences.push(a.to_owned());
    }
    if audiences.is_empty() {
        audiences.push(format!("api://{client_id}"));
    }
    if !audiences.contains(&client_id) {
        audiences.push(client_id.clone());
    }
    let mut credentials = Vec::new();
    for index in config.children("AzureAd:ClientCredentials") {
        let key = format!("AzureAd:ClientCredentials:{index}");
        if let Some(source) = credential(config, &key)? {
            credentials.push(source);
        }
    }
    if let Some(secret) = config.get_nonblank("AzureAd:ClientSecret") {
        credentials.push(CredentialSource::ClientSecret(SecretString::from(
            secret.to_owned(),
        )));
    }
    Ok(AzureAd {
        instance: config
            .get_nonblank("AzureAd:Instance")
            .unwrap_or("https://login.microsoftonline.com/")
            .to_owned(),
        tenant_id,
        client_id,
        audiences,
        scopes: config.list("AzureAd:Scopes"),
        b2c_policy,
        allowed_tenants: config.list("AzureAd:AllowedTenants"),
        dangerous_accept_any_tenant: flag(config, "AzureAd:DangerousAcceptAnyTenant", false)?,
        credentials,
    })
}

fn credential(
    config: &Configuration,
    key: &str,
) -> Result<Option<CredentialSource>, SettingsError> {
    let get = |name: &str| config.get_nonblank(&format!("{key}:{name}"));
    let secret = |name: &str| get(name).map(|v| SecretString::from(v.to_owned()));
    let Some(source_type) = get("SourceType") else {
        return Err(SettingsError::Missing {
            key: format!("{key}:SourceType"),
            hint: "ClientSecret, Path, Base64Encoded, SignedAssertionFilePath or SignedAssertionFromManagedIdentity",
        });
    };
    let required = |name: &str, hint: &'static str| {
        get(name).ok_or(SettingsError::Missing {
            key: format!("{key}:{name}"),
            hint,
        })
    };
    let source = match source_type.to_ascii_lowercase().as_str() {
        "clientsecret" => CredentialSource::ClientSecret(SecretString::from(
            required("ClientSecret", "the client secret's value")?.to_owned(),
        )),
        "path" => CredentialSource::Path {
            path: PathBuf::from(required(
                "CertificateDiskPath",
                "the path of the certificate file (PEM with its private key, or PKCS#12 / PFX)",
            )?),
            password: secret("CertificatePassword"),
        },
        "base64encoded" => CredentialSource::Base64Encoded {
            value: SecretString::from(
                required(
                    "Base64EncodedValue",
                    "the certificate and key (PEM or PKCS#12), base64-encoded",
                )?
                    .to_owned(),
            ),
            password: secret("CertificatePassword"),
        },
        "signedassertionfilepath" => {
            let path = get("SignedAssertionFileDiskPath")
                .map(str::to_owned)
                .or_else(|| config.get_nonblank("AZURE_FEDERATED_TOKEN_FILE").map(str::to_owned))
                .ok_or(SettingsError::Missing {
                    key: format!("{key}:SignedAssertionFileDiskPath"),
                    hint: "the federated token file (or set AZURE_FEDERATED_TOKEN_FILE)",
                })?;
            CredentialSource::SignedAssertionFile(PathBuf::from(path))
        }
        "signedassertionfrommanagedidentity" => CredentialSource::ManagedIdentity {
            client_id: get("ManagedIdentityClientId").map(str::to_owned),
            audience: get("TokenExchangeUrl").map(str::to_owned),
            variables: MANAGED_IDENTITY_VARIABLES
                .iter()
                .filter_map(|name| {
                    config
                        .get_nonblank(name)
                        .map(|v| ((*name).to_owned(), SecretString::from(v.to_owned())))
                })
                .collect(),
        },
        "keyvault" => {
            return Err(SettingsError::UnsupportedCredential {
                key: key.into(),
                source_type: source_type.into(),
                hint: "Key Vault is not available in this version; export the certificate and use Path or Base64Encoded",
            })
        }
        "storewiththumbprint" | "storewithdistinguishedname" => {
            return Err(SettingsError::UnsupportedCredential {
                key: key.into(),
                source_type: source_type.into(),
                hint: "Windows certificate stores do not exist in this container; export the certificate with its key to a file and use Path (or Base64Encoded)",
            })
        }
        _ => {
            return Err(SettingsError::Invalid {
                key: format!("{key}:SourceType"),
                value: source_type.into(),
                reason: "expected ClientSecret, Path, Base64Encoded, SignedAssertionFilePath or \
                         SignedAssertionFromManagedIdentity"
                    .into(),
            })
        }
    };
    Ok(Some(source))
}

fn downstream_api(config: &Configuration, name: &str) -> Result<DownstreamApi, SettingsError> {
    let key = |k: &str| format!("DownstreamApis:{name}:{k}");
    let base_url = match config.get_nonblank(&key("BaseUrl")) {
        None => None,
        Some(raw) => Some(Url::parse(raw).map_err(|e| SettingsError::Invalid {
            key: key("BaseUrl"),
            value: raw.into(),
            reason: format!("not an absolute URL ({e})"),
        })?),
    };
    if let Some(url) = &base_url {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SettingsError::Invalid {
                key: key("BaseUrl"),
                value: url.to_string(),
                reason: "expected an http or https URL".into(),
            });
        }
    }
    let pairs = |section: &str| {
        config
            .children(&key(section))
            .into_iter()
            .filter_map(|child| {
                config
                    .get(&format!("{}:{child}", key(section)))
                    .map(|v| (child, v.to_owned()))
            })
            .collect::<BTreeMap<_, _>>()
    };
    Ok(DownstreamApi {
        name: name.to_owned(),
        base_url,
        scopes: config.list(&key("Scopes")),
        relative_path: config.get(&key("RelativePath")).unwrap_or("").to_owned(),
        http_method: config
            .get_nonblank(&key("HttpMethod"))
            .unwrap_or("GET")
            .to_ascii_uppercase(),
        request_app_token: flag(config, &key("RequestAppToken"), false)?,
        accept_header: config.get_nonblank(&key("AcceptHeader")).map(str::to_owned),
        content_type: config.get_nonblank(&key("ContentType")).map(str::to_owned),
        extra_headers: pairs("ExtraHeaderParameters"),
        extra_query: pairs("ExtraQueryParameters"),
        tenant: config
            .get_nonblank(&key("AcquireTokenOptions:Tenant"))
            .map(str::to_owned),
        force_refresh: false,
    })
}

/// StackExchange.Redis's `host:port,password=...,ssl=true,defaultDatabase=N` as a redis URL; a
/// `redis://` or `rediss://` URL as it is.
fn redis_url(conn: &str) -> Result<String, SettingsError> {
    if conn.starts_with("redis://") || conn.starts_with("rediss://") {
        return Ok(conn.to_owned());
    }
    let mut parts = conn.split(',').map(str::trim);
    let endpoint = parts
        .next()
        .filter(|e| !e.is_empty() && !e.contains('='))
        .ok_or_else(|| SettingsError::Invalid {
            key: "TokenCache:Redis:ConnectionString".into(),
            value: "(hidden)".into(),
            reason: "expected redis://host:port or host:port,password=...".into(),
        })?;
    let (mut password, mut tls, mut db) = (None, false, None);
    for part in parts {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "password" => password = Some(v.trim().to_owned()),
            "ssl" => tls = v.trim().eq_ignore_ascii_case("true"),
            "defaultdatabase" => db = Some(v.trim().to_owned()),
            _ => {}
        }
    }
    let scheme = if tls { "rediss" } else { "redis" };
    let auth = password
        .map(|p| {
            format!(
                ":{}@",
                url::form_urlencoded::byte_serialize(p.as_bytes()).collect::<String>()
            )
        })
        .unwrap_or_default();
    let db = db.map(|d| format!("/{d}")).unwrap_or_default();
    Ok(format!("{scheme}://{auth}{endpoint}{db}"))
}

/// `urls` (command line `--urls`, `ASPNETCORE_URLS`), else `ASPNETCORE_HTTP_PORTS` /
/// `HTTP_PORTS` (every interface), else `http://localhost:5000`, as Kestrel reads them.
fn listen(config: &Configuration) -> Result<Vec<Listen>, SettingsError> {
    let (key, urls) = if let Some(u) = config.get_nonblank("urls") {
        ("urls", u.to_owned())
    } else if let Some(u) = config.get_nonblank("ASPNETCORE_URLS") {
        ("ASPNETCORE_URLS", u.to_owned())
    } else if let Some(ports) = config
        .get_nonblank("ASPNETCORE_HTTP_PORTS")
        .or_else(|| config.get_nonblank("HTTP_PORTS"))
    {
        let urls = ports
            .split([';', ','])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| format!("http://*:{p}"))
            .collect::<Vec<_>>()
            .join(";");
        ("ASPNETCORE_HTTP_PORTS", urls)
    } else {
        ("urls", "http://localhost:5000".to_owned())
    };
    let mut out = Vec::new();
    for url in urls.split(';').map(str::trim).filter(|u| !u.is_empty()) {
        out.extend(parse_listen_url(key, url)?);
    }
    Ok(out)
}

fn parse_listen_url(key: &str, url: &str) -> Result<Vec<Listen>, SettingsError> {
    let invalid = |reason: &str| SettingsError::Invalid {
        key: key.into(),
        value: url.into(),
        reason: reason.into(),
    };
    let rest = if let Some(rest) = url.strip_prefix("http://") {
        rest
    } else if url.starts_with("https://") {
        return Err(invalid(
            "entra-sidecar serves plain HTTP to its own pod or host: listen on http:// (loopback or a Unix socket) and terminate TLS elsewhere",
        ));
    } else {
        return Err(invalid("expected http://host:port or http://unix:/path"));
    };
    if let Some(path) = rest.strip_prefix("unix:") {
        return Ok(vec![Listen::Unix(PathBuf::from(path))]);
    }
    let authority = rest.split('/').next().unwrap_or(rest);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (h, p),
        _ => (authority, "80"),
    };
    let port: u16 = port
        .parse()
        .map_err(|_| invalid("the port is not a number"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs = match host {
        "+" | "*" | "" | "0.0.0.0" => vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
        "[::]" | "::" => vec![IpAddr::V6(Ipv6Addr::UNSPECIFIED)],
        h if h.eq_ignore_ascii_case("localhost") => vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        h => vec![h.parse::<IpAddr>().map_err(|_| {
            invalid("the host must be an IP address, localhost, * or + (entra-sidecar does not resolve names)")
        })?],
    };
    Ok(addrs
        .into_iter()
        .map(|ip| Listen::Tcp(SocketAddr::new(ip, port)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: &str, env: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let mut c = Configuration::new();
        c.add_json("appsettings.json", json).expect("valid JSON");
        c.add_environment(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Settings::from_configuration(&c, Environment("Production".into()))
    }

    const BASE: &str = r#"{"AzureAd":{"TenantId":"7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a","ClientId":"a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c"}}"#;

    #[test]
    fn defaults_match_microsofts_sidecar() {
        let s = settings(BASE, &[]).expect("valid settings");
        assert_eq!(
            s.listen,
            [Listen::Tcp("127.0.0.1:5000".parse().expect("addr"))]
        );
        assert_eq!(s.azure_ad.instance, "https://login.microsoftonline.com/");
        assert_eq!(
            s.azure_ad.audiences,
            [
                "api://a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c",
                "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c"
            ]
        );
        assert!(s.allow_overrides.get_authorization_header);
        assert!(s.allow_overrides.call_downstream_api);
        assert!(!s.allow_overrides.get_authorization_header_unauthenticated);
        assert!(!s.allow_overrides.call_downstream_api_unauthenticated);
        assert!(!s.allow_outbound_redirects);
        assert!(s.caller_secret.is_none());
    }

    #[test]
    fn http_ports_and_urls_are_read_as_kestrel_reads_them() {
        let s = settings(BASE, &[("ASPNETCORE_HTTP_PORTS", "8080;8081")]).expect("valid");
        assert_eq!(
            s.listen,
            [
                Listen::Tcp("0.0.0.0:8080".parse().expect("addr")),
                Listen::Tcp("0.0.0.0:8081".parse().expect("addr"))
            ]
        );
        let s = settings(
            BASE,
            &[
                ("ASPNETCORE_HTTP_PORTS", "8080"),
                (
                    "ASPNETCORE_URLS",
                    "http://127.0.0.1:0;http://unix:/run/sidecar.sock;http://[::1]:7",
                ),
            ],
        )
        .expect("valid");
        assert_eq!(
            s.listen,
            [
                Listen::Tcp("127.0.0.1:0".parse().expect("addr")),
                Listen::Unix("/run/sidecar.sock".into()),
                Listen::Tcp("[::1]:7".parse().expect("addr"))
            ]
        );
        let err = settings(BASE, &[("ASPNETCORE_URLS", "https://+:443")]).expect_err("https");
        assert!(
            err.to_string()
                .starts_with("ASPNETCORE_URLS = \"https://+:443\" is invalid"),
            "{err}"
        );
    }

    #[test]
    fn unsupported_credential_sources_are_refused_by_name() {
        for (source, word) in [
            ("StoreWithThumbprint", "Windows certificate stores"),
            ("KeyVault", "Key Vault"),
        ] {
            let json = format!(
                r#"{{"AzureAd":{{"TenantId":"t","ClientId":"c","ClientCredentials":[{{"SourceType":"{source}"}}]}}}}"#
            );
            let err = settings(&json, &[]).expect_err("unsupported source");
            let text = err.to_string();
            assert!(text.contains(source) && text.contains(word), "{text}");
            assert!(text.starts_with("AzureAd:ClientCredentials:0"), "{text}");
        }
    }

    #[test]
    fn managed_identity_credential_reads_its_keys_and_the_platforms_variables() {
        let json = r#"{"AzureAd":{"TenantId":"t","ClientId":"c","ClientCredentials":[{"SourceType":"SignedAssertionFromManagedIdentity","ManagedIdentityClientId":"mi-client","TokenExchangeUrl":"api://AzureADTokenExchangeUSGov"}]}}"#;
        let s = settings(
            json,
            &[
                ("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token"),
                ("IDENTITY_HEADER", "platform-secret"),
                ("UNRELATED", "x"),
            ],
        )
        .unwrap();
        let CredentialSource::ManagedIdentity {
            client_id,
            audience,
            variables,
        } = &s.azure_ad.credentials[0]
        else {
            panic!("{:?}", s.azure_ad.credentials)
        };
        assert_eq!(client_id.as_deref(), Some("mi-client"));
        assert_eq!(audience.as_deref(), Some("api://AzureADTokenExchangeUSGov"));
        let names: Vec<&str> = variables.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["IDENTITY_ENDPOINT", "IDENTITY_HEADER"]);
        assert!(!format!("{s:?}").contains("platform-secret"));
    }

    #[test]
    fn downstream_apis_from_file_and_environment() {
        let s = settings(
            r#"{"AzureAd":{"TenantId":"t","ClientId":"c"},
                "DownstreamApis":{"Graph":{"BaseUrl":"https://graph.microsoft.com/v1.0/","RelativePath":"me","Scopes":["User.Read"]}}}"#,
            &[
                ("DownstreamApis__graph__Scopes__1", "Mail.Read"),
                ("DownstreamApis__graph__ExtraHeaderParameters__X-Tag", "a"),
            ],
        )
        .expect("valid");
        let graph = &s.downstream["graph"];
        assert_eq!(graph.name, "Graph");
        assert_eq!(graph.scopes, ["User.Read", "Mail.Read"]);
        assert_eq!(graph.http_method, "GET");
        assert_eq!(
            graph.extra_headers.get("X-Tag").map(String::as_str),
            Some("a")
        );
    }

    #[test]
    fn stackexchange_redis_connection_strings_become_urls() {
        assert_eq!(
            redis_url("cache:6380,password=p@ss,ssl=True,defaultDatabase=2").expect("valid"),
            "rediss://:p%40ss@cache:6380/2"
        );
        assert_eq!(
            redis_url("redis://127.0.0.1:6379").expect("valid"),
            "redis://127.0.0.1:6379"
        );
    }

    #[test]
    fn redis_without_an_encryption_key_is_refused() {
        let err = settings(
            BASE,
            &[("TokenCache__Redis__ConnectionString", "redis://127.0.0.1")],
        )
        .expect_err("no key");
        assert!(
            err.to_string()
                .starts_with("TokenCache:Redis:EncryptionKey is required"),
            "{err}"
        );
    }
}
