//! Settings: the command line and environment (clap) over the settings file over the defaults, resolved
//! once into [`Settings`]. With no identity settings at all, everything targets the development issuer
//! that `cargo run -p weather-api` mounts at `{api-url}/dev-issuer/`, with its fixed development clients.
//!
//! The settings file is JSON (`--config PATH`, `WEATHER_CLI_CONFIG`, else
//! `$XDG_CONFIG_HOME/weather-cli/config.json` or `~/.config/weather-cli/config.json` when it exists):
//!
//! ```json
//! {
//!   "api_url": "https://weather.example.com",
//!   "tenant_id": "00000000-0000-0000-0000-000000000000",
//!   "api_client_id": "11111111-1111-1111-1111-111111111111",
//!   "client_id": "22222222-2222-2222-2222-222222222222",
//!   "public_client_id": "33333333-3333-3333-3333-333333333333"
//! }
//! ```
//!
//! Other keys: `authority`, `instance`, `client_secret`, `client_certificate` (a PEM or PKCS#12 file
//! with its key, used instead of the secret), `client_certificate_password`,
//! `client_managed_identity` (`system` or a user-assigned identity's client id: the host's managed
//! identity as the client's federated credential, used instead of both), `scope`, `user_scope`.
//! Unknown keys are errors.
//!
//! (Over 500 lines only because of its unit tests, a third of the file: one per settings rule.)

use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

use crate::args::GlobalArgs;
use entra_core::SecretString;

/// The service's default address (`cargo run -p weather-api`).
pub(crate) const DEFAULT_API_URL: &str = "http://127.0.0.1:8000";
/// Where development mode mounts its issuer, relative to the service.
pub(crate) const DEV_ISSUER_PATH: &str = "dev-issuer/";
/// The public cloud's instance, used when only a tenant is given.
pub(crate) const ENTRA_INSTANCE: &str = "https://login.microsoftonline.com/";

/// The development issuer's fixed identities (public values, see `entra_dev::defaults`).
pub(crate) mod dev {
    /// Development tenant.
    pub(crate) const TENANT_ID: &str = "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a";
    /// The weather API's app registration.
    pub(crate) const API_CLIENT_ID: &str = "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c";
    /// The daemon client (app roles Weather.Read.All, Weather.Write.All).
    pub(crate) const DAEMON_CLIENT_ID: &str = "c0ffee00-1111-4222-8333-444455556666";
    /// The daemon's secret: development only, printed in the issuer's source.
    pub(crate) const DAEMON_CLIENT_SECRET: &str = "dev-daemon-secret";
    /// The public client with loopback redirect URIs (authorization code + PKCE).
    pub(crate) const PUBLIC_CLIENT_ID: &str = "5a5a5a5a-6b6b-4c7c-8d8d-9e9e9e9e9e9e";
}

/// A bad setting: the message names it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The settings file could not be read.
    #[error("settings file {path}: cannot read it")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The settings file is not valid.
    #[error("settings file {path}: invalid")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// An instance other than a local development issuer needs a tenant.
    #[error("tenant: --instance {instance} needs --tenant (or tenant_id in the settings file)")]
    MissingTenant {
        /// The instance.
        instance: Url,
    },
    /// A URL cannot serve as a base (e.g. `mailto:`).
    #[error("{key}: {url} is not an http(s) URL")]
    NotHttp {
        /// The setting.
        key: &'static str,
        /// The value.
        url: Url,
    },
    /// A tenant id that cannot be a URL path segment.
    #[error("tenant: {0:?} is not a tenant id or domain")]
    BadTenant(String),
    /// A value needed by this command is missing (no development default applies).
    #[error("{key}: not set; {how}")]
    Missing {
        /// The setting.
        key: &'static str,
        /// How to set it.
        how: &'static str,
    },
    /// The authority or client settings are not what entra-token accepts.
    #[error("identity settings: {0}")]
    Authority(entra_token::ConfigError),
    /// The host's managed identity cannot be used (an endpoint variable that is not a URL, a
    /// user-assigned identity where the platform has only the system-assigned one).
    #[error("client_managed_identity")]
    ManagedIdentity(#[source] entra_token::ManagedIdentityError),
    /// The client certificate cannot be loaded (wrong password, no key, expired, ...).
    #[error("client_certificate {path}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong, and how to fix it.
        #[source]
        source: entra_token::CertificateError,
    },
    /// `weather login` needs the token cache to keep the sign-in.
    #[error("login: the sign-in is kept in the token cache, which is off (--no-cache) or has no directory (set XDG_DATA_HOME or HOME)")]
    LoginWithoutCache,
}

/// The settings file's contents.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// The service.
    pub(crate) api_url: Option<Url>,
    /// Full authority URL.
    pub(crate) authority: Option<Url>,
    /// Instance URL.
    pub(crate) instance: Option<Url>,
    /// Tenant id.
    pub(crate) tenant_id: Option<String>,
    /// Confidential client id.
    pub(crate) client_id: Option<String>,
    /// Confidential client secret.
    pub(crate) client_secret: Option<SecretString>,
    /// Confidential client certificate file (PEM or PKCS#12), instead of the secret.
    pub(crate) client_certificate: Option<PathBuf>,
    /// Its password.
    pub(crate) client_certificate_password: Option<SecretString>,
    /// The host's managed identity as the client's credential: `system` or a client id.
    pub(crate) client_managed_identity: Option<String>,
    /// Client-credentials scope.
    pub(crate) scope: Option<String>,
    /// The API's client id.
    pub(crate) api_client_id: Option<String>,
    /// Public client id (login).
    pub(crate) public_client_id: Option<String>,
    /// Scopes a user signs in for.
    pub(crate) user_scope: Option<String>,
}

/// The file to read: the explicit one (must exist), else the default one when it exists.
pub(crate) fn config_path(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(PathBuf, bool)> {
    if let Some(p) = explicit {
        return Some((p.to_path_buf(), true));
    }
    user_dir(env, "XDG_CONFIG_HOME", ".config").map(|d| (d.join("config.json"), false))
}

/// `$XDG_{..}_HOME/weather-cli` or `$HOME/{fallback}/weather-cli`.
pub(crate) fn user_dir(
    env: &dyn Fn(&str) -> Option<String>,
    xdg: &str,
    fallback: &str,
) -> Option<PathBuf> {
    let non_empty = |k: &str| env(k).filter(|v| !v.is_empty());
    non_empty(xdg)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| non_empty("HOME").map(|h| Path::new(&h).join(fallback)))
        .map(|d| d.join("weather-cli"))
}

/// Reads the settings file, if any.
///
/// # Errors
/// [`ConfigError::Read`] when an explicit file is missing or unreadable, [`ConfigError::Parse`] when a file
/// is not valid.
pub(crate) async fn load_file(path: Option<(PathBuf, bool)>) -> Result<FileConfig, ConfigError> {
    let Some((path, explicit)) = path else {
        return Ok(FileConfig::default());
    };
    let text = match tokio::fs::read_to_string(&path).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(FileConfig::default())
        }
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    serde_json::from_str(&text).map_err(|source| ConfigError::Parse { path, source })
}

/// The authority tokens come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authority {
    /// `{instance}{tenant}/`, always ending in `/`.
    pub(crate) url: Url,
    /// A local issuer (loopback host): the development defaults apply.
    pub(crate) is_development: bool,
    /// The issuer is the one the service mounts under `{api-url}/dev-issuer/`.
    pub(crate) is_hosted_by_service: bool,
}

impl Authority {
    /// The v2 token endpoint.
    pub(crate) fn token_endpoint(&self) -> Url {
        self.join("oauth2/v2.0/token")
    }

    fn join(&self, path: &str) -> Url {
        self.url
            .join(path)
            .expect("BUG: a relative path joins onto an http base URL")
    }
}

/// Everything a command needs, resolved once.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The service's base URL (ends in `/`).
    pub(crate) api_url: Url,
    /// Where tokens come from.
    pub(crate) authority: Authority,
    /// Confidential client for client credentials.
    pub(crate) client_id: Option<String>,
    /// Its secret.
    pub(crate) client_secret: Option<SecretString>,
    /// Or its certificate file (PEM or PKCS#12), which wins over the secret.
    pub(crate) client_certificate: Option<PathBuf>,
    /// The certificate's password.
    pub(crate) client_certificate_password: Option<SecretString>,
    /// The host's managed identity as the client's credential: `system` or a client id.
    pub(crate) client_managed_identity: Option<String>,
    /// Client-credentials scope.
    pub(crate) scope: Option<String>,
    /// Public client for login.
    pub(crate) public_client_id: Option<String>,
    /// Scopes a user signs in for.
    pub(crate) user_scope: Option<String>,
    /// A token given outright.
    pub(crate) token: Option<SecretString>,
    /// Use the token cache.
    pub(crate) use_cache: bool,
    /// Print JSON.
    pub(crate) json: bool,
    /// Time limit of each HTTP call.
    pub(crate) timeout: std::time::Duration,
}

fn with_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

fn http_url(key: &'static str, url: Url) -> Result<Url, ConfigError> {
    if matches!(url.scheme(), "http" | "https") && url.host().is_some() {
        Ok(with_slash(url))
    } else {
        Err(ConfigError::NotHttp { key, url })
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Resolves flags and environment (`args`) over the settings file over the defaults.
///
/// # Errors
/// [`ConfigError`] naming the setting.
pub(crate) fn resolve(args: &GlobalArgs, file: FileConfig) -> Result<Settings, ConfigError> {
    let api_url = match args.api_url.clone().or(file.api_url) {
        Some(u) => http_url("api_url", u)?,
        None => Url::parse(DEFAULT_API_URL).expect("BUG: the default API URL parses"),
    };
    let dev_instance = api_url
        .join(DEV_ISSUER_PATH)
        .expect("BUG: a relative path joins onto an http base URL");
    let tenant = args.tenant.clone().or(file.tenant_id);
    let authority_url = match args.authority.clone().or(file.authority) {
        Some(a) => http_url("authority", a)?,
        None => {
            let instance = match args.instance.clone().or(file.instance) {
                Some(i) => http_url("instance", i)?,
                None if tenant.is_some() => {
                    Url::parse(ENTRA_INSTANCE).expect("BUG: the Entra instance parses")
                }
                None => dev_instance.clone(),
            };
            let tenant = match tenant {
                Some(t) => t,
                None if is_loopback(&instance) => dev::TENANT_ID.to_owned(),
                None => return Err(ConfigError::MissingTenant { instance }),
            };
            if tenant.is_empty()
                || !tenant
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
            {
                return Err(ConfigError::BadTenant(tenant));
            }
            instance
                .join(&format!("{tenant}/"))
                .expect("BUG: a tenant segment joins onto an http base URL")
        }
    };
    let is_development = is_loopback(&authority_url);
    let authority = Authority {
        is_hosted_by_service: authority_url.as_str().starts_with(dev_instance.as_str()),
        is_development,
        url: authority_url,
    };
    let dev_default = |v: &str| is_development.then(|| v.to_owned());
    let api_client_id = args
        .api_client_id
        .clone()
        .or(file.api_client_id)
        .or_else(|| dev_default(dev::API_CLIENT_ID));
    let client_id = args
        .client_id
        .clone()
        .or(file.client_id)
        .or_else(|| dev_default(dev::DAEMON_CLIENT_ID));
    let client_secret = args
        .client_secret
        .clone()
        .map(SecretString::from)
        .or(file.client_secret)
        .or_else(|| {
            (is_development && client_id.as_deref() == Some(dev::DAEMON_CLIENT_ID))
                .then(|| SecretString::from(dev::DAEMON_CLIENT_SECRET))
        });
    let client_certificate = args.client_certificate.clone().or(file.client_certificate);
    let client_certificate_password = args
        .client_certificate_password
        .clone()
        .map(SecretString::from)
        .or(file.client_certificate_password);
    let client_managed_identity = args
        .client_managed_identity
        .clone()
        .or(file.client_managed_identity)
        .filter(|v| !v.trim().is_empty());
    let scope = args.scope.clone().or(file.scope).or_else(|| {
        api_client_id
            .as_ref()
            .map(|api| format!("api://{api}/.default"))
    });
    let public_client_id = args
        .public_client_id
        .clone()
        .or(file.public_client_id)
        .or_else(|| dev_default(dev::PUBLIC_CLIENT_ID));
    let user_scope = args.user_scope.clone().or(file.user_scope).or_else(|| {
        api_client_id
            .as_ref()
            .map(|api| format!("api://{api}/weather.read api://{api}/weather.write"))
    });
    Ok(Settings {
        api_url,
        authority,
        client_id,
        client_secret,
        client_certificate,
        client_certificate_password,
        client_managed_identity,
        scope,
        public_client_id,
        user_scope,
        token: args
            .token
            .clone()
            .filter(|t| !t.is_empty())
            .map(SecretString::from),
        use_cache: !args.no_cache,
        json: args.json,
        timeout: std::time::Duration::from_secs(args.timeout.max(1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use entra_core::ExposeSecret as _;

    fn args() -> GlobalArgs {
        GlobalArgs {
            timeout: 30,
            ..GlobalArgs::default()
        }
    }

    #[test]
    fn no_settings_target_the_services_development_issuer_and_daemon() {
        let s = resolve(&args(), FileConfig::default()).unwrap();
        assert_eq!(s.api_url.as_str(), "http://127.0.0.1:8000/");
        assert_eq!(
            s.authority.url.as_str(),
            format!("http://127.0.0.1:8000/dev-issuer/{}/", dev::TENANT_ID)
        );
        assert!(s.authority.is_development && s.authority.is_hosted_by_service);
        assert_eq!(
            s.authority.token_endpoint().as_str(),
            format!(
                "http://127.0.0.1:8000/dev-issuer/{}/oauth2/v2.0/token",
                dev::TENANT_ID
            )
        );
        assert_eq!(s.client_id.as_deref(), Some(dev::DAEMON_CLIENT_ID));
        assert_eq!(
            s.client_secret.unwrap().expose_secret(),
            dev::DAEMON_CLIENT_SECRET
        );
        assert_eq!(
            s.scope.as_deref(),
            Some("api://a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c/.default")
        );
        assert_eq!(s.public_client_id.as_deref(), Some(dev::PUBLIC_CLIENT_ID));
        assert!(s.use_cache && !s.json && s.token.is_none());
    }

    #[test]
    fn api_url_moves_the_development_issuer_along() {
        let mut a = args();
        a.api_url = Some(Url::parse("http://127.0.0.1:9123").unwrap());
        let s = resolve(&a, FileConfig::default()).unwrap();
        assert!(s
            .authority
            .url
            .as_str()
            .starts_with("http://127.0.0.1:9123/dev-issuer/"));
    }

    #[test]
    fn a_tenant_alone_means_entra_id_without_development_defaults() {
        let mut a = args();
        a.tenant = Some("contoso.onmicrosoft.com".into());
        let s = resolve(&a, FileConfig::default()).unwrap();
        assert_eq!(
            s.authority.url.as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/"
        );
        assert!(!s.authority.is_development && !s.authority.is_hosted_by_service);
        assert!(s.client_id.is_none() && s.client_secret.is_none() && s.scope.is_none());
        assert!(s.public_client_id.is_none());
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let file: FileConfig = serde_json::from_value(serde_json::json!({
            "api_url": "https://weather.example.com",
            "tenant_id": "t-file",
            "api_client_id": "api-file",
            "client_id": "client-file",
            "client_secret": "secret-file",
        }))
        .unwrap();
        let mut a = args();
        a.client_id = Some("client-flag".into());
        let s = resolve(&a, file).unwrap();
        assert_eq!(s.api_url.as_str(), "https://weather.example.com/");
        assert_eq!(
            s.authority.url.as_str(),
            "https://login.microsoftonline.com/t-file/"
        );
        assert_eq!(s.client_id.as_deref(), Some("client-flag"));
        assert_eq!(s.client_secret.unwrap().expose_secret(), "secret-file");
        assert_eq!(s.scope.as_deref(), Some("api://api-file/.default"));
        assert_eq!(
            s.user_scope.as_deref(),
            Some("api://api-file/weather.read api://api-file/weather.write")
        );
    }

    #[test]
    fn authority_overrides_instance_and_gets_a_trailing_slash() {
        let mut a = args();
        a.authority = Some(Url::parse("https://login.microsoftonline.us/abc").unwrap());
        a.instance = Some(Url::parse("https://ignored.example/").unwrap());
        let s = resolve(&a, FileConfig::default()).unwrap();
        assert_eq!(
            s.authority.token_endpoint().as_str(),
            "https://login.microsoftonline.us/abc/oauth2/v2.0/token"
        );
    }

    #[test]
    fn remote_instance_without_tenant_is_refused_naming_the_setting() {
        let mut a = args();
        a.instance = Some(Url::parse("https://login.microsoftonline.com/").unwrap());
        let e = resolve(&a, FileConfig::default()).unwrap_err();
        assert!(e.to_string().starts_with("tenant: --instance"), "{e}");
        let mut a = args();
        a.instance = Some(Url::parse("http://127.0.0.1:8400/").unwrap());
        let s = resolve(&a, FileConfig::default()).unwrap();
        assert!(s.authority.is_development && !s.authority.is_hosted_by_service);
        assert_eq!(s.client_id.as_deref(), Some(dev::DAEMON_CLIENT_ID));
    }

    #[test]
    fn a_tenant_with_a_slash_and_a_non_http_url_are_refused() {
        let mut a = args();
        a.tenant = Some("a/b".into());
        assert!(matches!(
            resolve(&a, FileConfig::default()),
            Err(ConfigError::BadTenant(_))
        ));
        let mut a = args();
        a.api_url = Some(Url::parse("file:///tmp").unwrap());
        assert!(matches!(
            resolve(&a, FileConfig::default()),
            Err(ConfigError::NotHttp { key: "api_url", .. })
        ));
    }

    #[test]
    fn another_client_id_in_development_gets_no_default_secret() {
        let mut a = args();
        a.client_id = Some("someone-else".into());
        let s = resolve(&a, FileConfig::default()).unwrap();
        assert!(s.client_secret.is_none());
    }

    #[test]
    fn unknown_keys_in_the_settings_file_are_errors() {
        let r: Result<FileConfig, _> = serde_json::from_value(serde_json::json!({"tenant": "x"}));
        assert!(r
            .unwrap_err()
            .to_string()
            .contains("unknown field `tenant`"));
    }

    #[test]
    fn config_and_cache_dirs_follow_xdg_then_home() {
        let env = |k: &str| match k {
            "XDG_CONFIG_HOME" => Some("/x/config".to_owned()),
            "HOME" => Some("/home/u".to_owned()),
            _ => None,
        };
        assert_eq!(
            config_path(None, &env),
            Some((PathBuf::from("/x/config/weather-cli/config.json"), false))
        );
        assert_eq!(
            user_dir(&env, "XDG_CACHE_HOME", ".cache"),
            Some(PathBuf::from("/home/u/.cache/weather-cli"))
        );
        assert_eq!(
            config_path(Some(Path::new("c.json")), &env),
            Some((PathBuf::from("c.json"), true))
        );
        assert_eq!(user_dir(&|_| None, "XDG_CACHE_HOME", ".cache"), None);
    }
}
