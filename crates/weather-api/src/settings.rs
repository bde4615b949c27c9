//! Configuration, loaded in ONE function ([`Settings::load`]) in this order:
//!
//! 1. built-in defaults;
//! 2. `settings.json` in the working directory when present, or the file named by `--settings PATH`
//!    (which must then exist);
//! 3. environment variables `WEATHER_API__KEY__SUBKEY` (a double underscore nests:
//!    `WEATHER_API__AZURE_AD__TENANT_ID` sets `azure_ad.tenant_id`).
//!
//! The file may also carry an ASP.NET `AzureAd` section (see [`aspnet`]), so that `--settings` can point at
//! an `appsettings.json`.
//!
//! Every value is parsed into its domain type here; an invalid or unknown key stops start-up with a
//! message that names it (`azure_ad.tenant_id: ...`). `settings_template.json` documents every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use url::Url;

use crate::proxy::{IpNet, TrustedProxies};

pub mod aspnet;

/// The environment variable prefix (followed by `__`).
pub const ENV_PREFIX: &str = "WEATHER_API";
/// The settings file looked for in the working directory.
pub const DEFAULT_SETTINGS_FILE: &str = "settings.json";

/// Why the settings could not be loaded. The message always names the key or the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A key has an invalid value, or is unknown.
    #[error("{key}: {reason}")]
    Invalid {
        /// The dotted key path, e.g. `azure_ad.tenant_id`.
        key: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// The settings file could not be read.
    #[error("settings file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The settings file is not a JSON object.
    #[error("settings file {}: not a valid JSON object: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

impl SettingsError {
    /// An invalid-value error for `key`.
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Where reports are stored.
#[derive(Clone)]
pub enum DatabaseUrl {
    /// `sqlite://path` (relative paths resolved against the working directory).
    Sqlite(String),
    /// `postgres://...` or `postgresql://...` (may contain a password, hence secret).
    Postgres(SecretString),
}

impl DatabaseUrl {
    /// Parses a database URL; `cwd` resolves relative SQLite paths.
    ///
    /// # Errors
    /// A message naming `database_url` when the scheme is neither `sqlite:` nor `postgres(ql)://`.
    pub fn parse(raw: &str, cwd: &Path) -> Result<Self, SettingsError> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(SecretString::from(raw.to_owned())));
        }
        let rest = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                SettingsError::invalid(
                    "database_url",
                    "expected sqlite://PATH or postgres://USER@HOST/DB",
                )
            })?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        if path.is_empty() {
            return Err(SettingsError::invalid(
                "database_url",
                "the sqlite URL names no file",
            ));
        }
        let path = if path == ":memory:" || Path::new(path).is_absolute() {
            path.to_owned()
        } else {
            cwd.join(path).display().to_string()
        };
        Ok(Self::Sqlite(match query {
            Some(q) => format!("sqlite://{path}?{q}"),
            None => format!("sqlite://{path}"),
        }))
    }

    /// The connection string.
    pub fn expose(&self) -> &str {
        match self {
            Self::Sqlite(url) => url,
            Self::Postgres(url) => url.expose_secret(),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(url) => f.debug_tuple("Sqlite").field(url).finish(),
            Self::Postgres(_) => f.write_str("Postgres([REDACTED])"),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

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

/// All settings, parsed.
#[derive(Debug, Clone)]
pub struct Settings {
    /// OpenWeatherMap API key; `None` makes weather calls answer 502 asking to set `api_key`.
    pub api_key: Option<SecretString>,
    /// OpenWeatherMap base URL.
    pub openweather_base_url: Url,
    /// Timeout of one OpenWeatherMap call.
    pub openweather_timeout: Duration,
    /// How long a weather answer is cached.
    pub cache_ttl: Duration,
    /// How many weather answers are cached at most.
    pub cache_capacity: usize,
    /// Listen address.
    pub bind: SocketAddr,
    /// Report storage.
    pub database_url: DatabaseUrl,
    /// Identity settings.
    pub azure_ad: AzureAdSettings,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Time limit of one request.
    pub request_timeout: Duration,
    /// Most requests handled at once; beyond, 503 `overloaded` with `Retry-After` at once.
    pub max_in_flight: usize,
    /// Time a client has to send a complete request head (slow clients are disconnected).
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers), in bytes; beyond, 431.
    pub max_header_bytes: usize,
    /// Log format.
    pub log_format: LogFormat,
    /// Reverse proxies whose `X-Forwarded-*` headers are honoured.
    pub trusted_proxies: TrustedProxies,
    /// Who may read `/metrics` (client addresses after the proxy rules); empty = anyone.
    pub metrics_allow: Vec<IpNet>,
    /// Settings that were ignored (ASP.NET keys this service does not use), to log once logging is up.
    pub warnings: Vec<String>,
}

impl Settings {
    /// True when no identity is configured: the service then mounts the development issuer.
    pub fn is_development_mode(&self) -> bool {
        self.azure_ad.identity.is_none()
    }

    /// Loads settings from the process: `--settings PATH` from the command line, the working directory
    /// and the environment. Like any command-line tool, prints help or version and exits for `--help`
    /// and `--version`, and exits with a usage message on an invalid command line.
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn from_process() -> Result<Self, SettingsError> {
        let cli = <Cli as clap::Parser>::parse();
        let cwd = std::env::current_dir().map_err(|source| SettingsError::Read {
            path: PathBuf::from("."),
            source,
        })?;
        Self::load(cli.settings.as_deref(), &cwd, std::env::vars())
    }

    /// THE settings loader: defaults, then the settings file (`file`, or `cwd/settings.json` if present),
    /// then `WEATHER_API__...` variables from `env`.
    ///
    /// # Errors
    /// [`SettingsError`] naming the file or the key.
    pub fn load(
        file: Option<&Path>,
        cwd: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let mut merged = defaults();
        let mut warnings = Vec::new();
        let path = match file {
            Some(p) if p.is_absolute() => Some(p.to_path_buf()),
            Some(p) => Some(cwd.join(p)),
            None => Some(cwd.join(DEFAULT_SETTINGS_FILE)).filter(|p| p.is_file()),
        };
        if let Some(path) = path {
            let text = std::fs::read_to_string(&path).map_err(|source| SettingsError::Read {
                path: path.clone(),
                source,
            })?;
            let mut value: Map<String, Value> =
                serde_json::from_str(&text).map_err(|source| SettingsError::Parse {
                    path: path.clone(),
                    source,
                })?;
            warnings = aspnet::translate(&mut value)?;
            merge(&mut merged, value);
        }
        let prefix = format!("{ENV_PREFIX}__");
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(&prefix) else {
                continue;
            };
            let keys: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            set_path(&mut merged, &keys, Value::String(value));
        }
        let mut settings = parse(merged, cwd)?;
        settings.warnings = warnings;
        Ok(settings)
    }
}

/// The command line: only `--settings PATH`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "weather-api",
    version,
    about = "The weather service, secured with entra-auth"
)]
struct Cli {
    /// A settings file to use instead of ./settings.json (must exist).
    #[arg(long, value_name = "PATH")]
    settings: Option<PathBuf>,
}

fn defaults() -> Map<String, Value> {
    let v = serde_json::json!({
        "openweather_base_url": "https://api.openweathermap.org",
        "openweather_timeout_ms": 10000,
        "cache_ttl_secs": 3600,
        "cache_capacity": 1000,
        "bind": "127.0.0.1:8000",
        "database_url": "sqlite://weather.db",
        "max_body_bytes": 65536,
        "request_timeout_ms": 30000,
        "max_in_flight": 256,
        "header_read_timeout_ms": 10000,
        "max_header_bytes": 65536,
        "log_format": "text",
        "trusted_proxies": [],
        "metrics_allow": [],
        "azure_ad": {
            "instance": "https://login.microsoftonline.com/",
            "audiences": [],
            "allowed_tenants": [],
            "read_role": "Weather.Read.All",
            "write_role": "Weather.Write.All",
            "token_cache_capacity": 10000,
            "token_cache_max_age_secs": 600
        }
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn merge(base: &mut Map<String, Value>, overlay: Map<String, Value>) {
    for (k, v) in overlay {
        match (base.get_mut(&k), v) {
            (Some(Value::Object(b)), Value::Object(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn set_path(map: &mut Map<String, Value>, keys: &[String], value: Value) {
    match keys {
        [] => {}
        [last] => {
            map.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = map
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(inner) = entry {
                set_path(inner, rest, value);
            }
        }
    }
}

/// Takes typed values out of a JSON object, remembering the key path for messages.
struct Section {
    prefix: String,
    map: Map<String, Value>,
}

impl Section {
    fn new(prefix: &str, map: Map<String, Value>) -> Self {
        Self {
            prefix: prefix.to_owned(),
            map,
        }
    }

    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    fn string(&mut self, name: &str) -> Result<Option<String>, SettingsError> {
        match self.map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(other) => Err(SettingsError::invalid(
                self.key(name),
                format!("expected a string, found {other}"),
            )),
        }
    }

    fn required_string(&mut self, name: &str) -> Result<String, SettingsError> {
        self.string(name)?
            .ok_or_else(|| SettingsError::invalid(self.key(name), "must not be empty"))
    }

    fn u64(&mut self, name: &str) -> Result<u64, SettingsError> {
        match self.whole_number(name) {
            Some(n) if n > 0 => Ok(n),
            _ => Err(SettingsError::invalid(
                self.key(name),
                "expected a positive whole number",
            )),
        }
    }

    /// A whole number that may be zero.
    fn count(&mut self, name: &str) -> Result<u64, SettingsError> {
        self.whole_number(name)
            .ok_or_else(|| SettingsError::invalid(self.key(name), "expected a whole number"))
    }

    fn whole_number(&mut self, name: &str) -> Option<u64> {
        match self.map.remove(name) {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn list(&mut self, name: &str) -> Result<Vec<String>, SettingsError> {
        let key = self.key(name);
        let items = match self.map.remove(name) {
            None | Some(Value::Null) => Vec::new(),
            // From the environment: comma-separated.
            Some(Value::String(s)) => s.split(',').map(str::to_owned).collect(),
            Some(Value::Array(a)) => a
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(SettingsError::invalid(
                        key.clone(),
                        format!("expected a list of strings, found {other}"),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(SettingsError::invalid(
                    key,
                    format!("expected a list of strings, found {other}"),
                ))
            }
        };
        Ok(items
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect())
    }

    fn section(&mut self, name: &str) -> Result<Option<Section>, SettingsError> {
        let key = self.key(name);
        match self.map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Section::new(&key, m))),
            Some(other) => Err(SettingsError::invalid(
                key,
                format!("expected an object, found {other}"),
            )),
        }
    }

    /// Refuses keys nobody took (typos would otherwise be silently ignored); keys starting with `_` are
    /// comments.
    fn finish(self) -> Result<(), SettingsError> {
        match self.map.keys().find(|k| !k.starts_with('_')) {
            Some(unknown) => Err(SettingsError::invalid(
                self.key(unknown),
                "unknown key (see settings_template.json)",
            )),
            None => Ok(()),
        }
    }
}

fn parse_url(key: &str, raw: &str) -> Result<Url, SettingsError> {
    let url = Url::parse(raw).map_err(|e| SettingsError::invalid(key, format!("{e}: {raw}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(SettingsError::invalid(
            key,
            format!("expected an http(s) URL, found {raw}"),
        ));
    }
    Ok(url)
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

fn parse(merged: Map<String, Value>, cwd: &Path) -> Result<Settings, SettingsError> {
    let mut root = Section::new("", merged);
    let api_key = root.string("api_key")?.map(SecretString::from);
    let openweather_base_url = parse_url(
        "openweather_base_url",
        &root.required_string("openweather_base_url")?,
    )?;
    let openweather_timeout = Duration::from_millis(root.u64("openweather_timeout_ms")?);
    let cache_ttl = Duration::from_secs(root.u64("cache_ttl_secs")?);
    let cache_capacity = usize::try_from(root.u64("cache_capacity")?)
        .map_err(|_| SettingsError::invalid("cache_capacity", "too large"))?;
    let bind_raw = root.required_string("bind")?;
    let bind = bind_raw.parse().map_err(|_| {
        SettingsError::invalid(
            "bind",
            format!("expected IP:PORT such as 127.0.0.1:8000, found {bind_raw}"),
        )
    })?;
    let database_url = DatabaseUrl::parse(&root.required_string("database_url")?, cwd)?;
    let max_body_bytes = usize::try_from(root.u64("max_body_bytes")?)
        .map_err(|_| SettingsError::invalid("max_body_bytes", "too large"))?;
    let request_timeout = Duration::from_millis(root.u64("request_timeout_ms")?);
    let max_in_flight = usize::try_from(root.u64("max_in_flight")?)
        .map_err(|_| SettingsError::invalid("max_in_flight", "too large"))?;
    let header_read_timeout = Duration::from_millis(root.u64("header_read_timeout_ms")?);
    let max_header_bytes = match usize::try_from(root.u64("max_header_bytes")?) {
        Ok(n) if n >= 8192 => n,
        _ => {
            return Err(SettingsError::invalid(
                "max_header_bytes",
                "expected a whole number of bytes, at least 8192",
            ))
        }
    };
    let log_format = match root.required_string("log_format")?.as_str() {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            return Err(SettingsError::invalid(
                "log_format",
                format!("expected \"text\" or \"json\", found {other:?}"),
            ))
        }
    };
    let trusted_proxies = TrustedProxies::parse(&root.list("trusted_proxies")?)
        .map_err(|e| SettingsError::invalid("trusted_proxies", e.to_string()))?;
    let metrics_allow = root
        .list("metrics_allow")?
        .iter()
        .map(|e| e.parse::<IpNet>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SettingsError::invalid("metrics_allow", e.to_string()))?;
    let mut ad = root
        .section("azure_ad")?
        .unwrap_or_else(|| Section::new("azure_ad", Map::new()));
    let azure_ad = parse_azure_ad(&mut ad)?;
    ad.finish()?;
    root.finish()?;
    Ok(Settings {
        api_key,
        openweather_base_url,
        openweather_timeout,
        cache_ttl,
        cache_capacity,
        bind,
        database_url,
        azure_ad,
        max_body_bytes,
        request_timeout,
        max_in_flight,
        header_read_timeout,
        max_header_bytes,
        log_format,
        trusted_proxies,
        metrics_allow,
        warnings: Vec::new(),
    })
}

fn parse_azure_ad(ad: &mut Section) -> Result<AzureAdSettings, SettingsError> {
    let mut instance = parse_url(
        "azure_ad.instance",
        &ad.string("instance")?
            .unwrap_or_else(|| "https://login.microsoftonline.com/".to_owned()),
    )?;
    if !instance.path().ends_with('/') {
        let path = format!("{}/", instance.path());
        instance.set_path(&path);
    }
    let tenant_id = ad.string("tenant_id")?;
    let client_id = ad.string("client_id")?;
    let identity = match (tenant_id, client_id) {
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
    let audiences = ad.list("audiences")?;
    let allowed_tenants = ad.list("allowed_tenants")?;
    let b2c = match ad.section("b2c")? {
        None => None,
        Some(mut b) => {
            let tenant_name = b.string("tenant_name")?;
            let policy = b.string("policy")?;
            let parsed = match (tenant_name, policy) {
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
            };
            b.finish()?;
            parsed
        }
    };
    let docs_client_id = ad.string("docs_client_id")?;
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
    let read_role = ad.required_string("read_role")?;
    check_name("azure_ad.read_role", &read_role)?;
    let write_role = ad.required_string("write_role")?;
    check_name("azure_ad.write_role", &write_role)?;
    let token_cache_capacity = usize::try_from(ad.count("token_cache_capacity")?)
        .map_err(|_| SettingsError::invalid("azure_ad.token_cache_capacity", "too large"))?;
    let token_cache_max_age = match ad.u64("token_cache_max_age_secs")? {
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

impl AzureAdSettings {
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

    /// Builds the token validator (no network I/O yet: keys are fetched by its background refresh).
    ///
    /// # Errors
    /// As [`AzureAdSettings::to_auth_config`].
    pub fn to_validator(
        &self,
        identity: &Identity,
        instance: Option<&Url>,
    ) -> Result<entra_auth::TokenValidator, SettingsError> {
        entra_auth::TokenValidator::new(self.to_auth_config(identity, instance)?)
            .map_err(config_error)
    }
}

/// Names the settings key behind an entra-auth configuration error.
fn config_error(e: entra_auth::ConfigError) -> SettingsError {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_are_development_mode_on_port_8000() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load(None, dir.path(), env(&[])).unwrap();
        assert!(s.is_development_mode());
        assert_eq!(s.bind.to_string(), "127.0.0.1:8000");
        assert!(s.api_key.is_none());
        assert_eq!(s.azure_ad.read_role, "Weather.Read.All");
        assert_eq!(s.azure_ad.write_role, "Weather.Write.All");
        assert_eq!(s.cache_ttl, Duration::from_secs(3600));
        let expected = format!("sqlite://{}", dir.path().join("weather.db").display());
        assert_eq!(s.database_url.expose(), expected);
    }

    #[test]
    fn environment_overrides_the_file_and_nests_with_double_underscore() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("settings.json"),
            r#"{"api_key": "from-file", "azure_ad": {"tenant_id": "contoso.onmicrosoft.com", "client_id": "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c"}}"#,
        )
        .unwrap();
        let s = Settings::load(
            None,
            dir.path(),
            env(&[
                (
                    "WEATHER_API__AZURE_AD__TENANT_ID",
                    "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a",
                ),
                ("WEATHER_API__AZURE_AD__AUDIENCES", "a, b"),
                ("OTHER__API_KEY", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(s.api_key.unwrap().expose_secret(), "from-file");
        let id = s.azure_ad.identity.unwrap();
        assert_eq!(id.tenant_id, "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a");
        assert_eq!(s.azure_ad.audiences, vec!["a", "b"]);
    }

    #[test]
    fn explicit_settings_file_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let err = Settings::load(Some(Path::new("nope.json")), dir.path(), env(&[])).unwrap_err();
        assert!(err.to_string().contains("nope.json"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        for (var, value, key) in [
            ("WEATHER_API__BIND", "localhost", "bind:"),
            ("WEATHER_API__DATABASE_URL", "mysql://x", "database_url:"),
            (
                "WEATHER_API__AZURE_AD__INSTANCE",
                "not a url",
                "azure_ad.instance:",
            ),
            (
                "WEATHER_API__AZURE_AD__TENANT_ID",
                "t",
                "azure_ad.client_id:",
            ),
            (
                "WEATHER_API__AZURE_AD__READ_ROLE",
                "a b",
                "azure_ad.read_role:",
            ),
            (
                "WEATHER_API__REQUEST_TIMEOUT_MS",
                "soon",
                "request_timeout_ms:",
            ),
            ("WEATHER_API__TYPO", "x", "typo:"),
            (
                "WEATHER_API__AZURE_AD__TOKEN_CACHE_CAPACITY",
                "-1",
                "azure_ad.token_cache_capacity:",
            ),
            (
                "WEATHER_API__AZURE_AD__TOKEN_CACHE_MAX_AGE_SECS",
                "86401",
                "azure_ad.token_cache_max_age_secs:",
            ),
            (
                "WEATHER_API__AZURE_AD__B2C__POLICY",
                "p",
                "azure_ad.b2c.tenant_name:",
            ),
            (
                "WEATHER_API__AZURE_AD__DOCS_CLIENT_ID",
                "swagger",
                "azure_ad.docs_client_id:",
            ),
        ] {
            let err = Settings::load(None, dir.path(), env(&[(var, value)])).unwrap_err();
            assert!(err.to_string().starts_with(key), "{var}: {err}");
        }
    }

    #[test]
    fn token_cache_settings_reach_the_validator_config() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load(None, dir.path(), env(&[])).unwrap();
        assert_eq!(s.azure_ad.token_cache_capacity, 10_000);
        assert_eq!(s.azure_ad.token_cache_max_age, Duration::from_secs(600));
        let s = Settings::load(
            None,
            dir.path(),
            env(&[
                ("WEATHER_API__AZURE_AD__TOKEN_CACHE_CAPACITY", "0"),
                ("WEATHER_API__AZURE_AD__TOKEN_CACHE_MAX_AGE_SECS", "60"),
            ]),
        )
        .unwrap();
        let identity = Identity {
            tenant_id: "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a".into(),
            client_id: "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c".into(),
        };
        let config = s.azure_ad.to_auth_config(&identity, None).unwrap();
        assert_eq!(config.token_cache().capacity, 0);
        assert_eq!(config.token_cache().max_age, Duration::from_secs(60));
    }

    #[test]
    fn instance_gets_a_trailing_slash() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load(
            None,
            dir.path(),
            env(&[("WEATHER_API__AZURE_AD__INSTANCE", "http://127.0.0.1:9/dev")]),
        )
        .unwrap();
        assert_eq!(s.azure_ad.instance.as_str(), "http://127.0.0.1:9/dev/");
    }

    #[test]
    fn postgres_url_is_redacted_in_debug() {
        let url = DatabaseUrl::parse("postgres://u:secret@h/db", Path::new("/")).unwrap();
        assert!(!format!("{url:?}").contains("secret"));
    }
}
