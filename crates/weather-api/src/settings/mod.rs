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
//! The merged JSON is read into serde-derived structs (`raw`, through [`serde_path_to_error`] so that
//! every error names its key), then every value is parsed into its domain type here and in
//! [`azure_ad`]; an invalid or unknown key stops start-up with a message that names it
//! (`azure_ad.tenant_id: ...`). `settings_template.json` documents every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use entra_core::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use url::Url;

use crate::middleware::client_info::{IpNet, TrustedProxies};

pub mod aspnet;
pub mod azure_ad;
pub mod mode;
pub mod rate_limit;
mod raw;

pub(crate) use azure_ad::config_error;
pub use azure_ad::{
    AuthoritySettings, AzureAdSettings, B2cSettings, Identity, RefusedSetting, PRIMARY_AUTHORITY,
};
pub use mode::Mode;
pub use rate_limit::RateLimitSettings;

use raw::RawSettings;

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

/// All settings, parsed.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Development or production (`mode`; without it, development only when nothing says production,
    /// see [`mode`]).
    pub mode: Mode,
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
    /// Lets development mode (no `azure_ad` identity) listen on a non-loopback address, where anyone who
    /// reaches the port can mint tokens with the development issuer's published secrets. Default `false`:
    /// start-up refuses such a bind.
    pub dangerous_dev_mode_on_network: bool,
    /// Per-caller rate limits (`rate_limit`).
    pub rate_limit: RateLimitSettings,
    /// Settings that were ignored (ASP.NET keys this service does not use), to log once logging is up.
    pub warnings: Vec<String>,
}

impl Settings {
    /// True in development mode: the service then mounts the development issuer.
    pub fn is_development_mode(&self) -> bool {
        self.mode == Mode::Development
    }

    /// Loads settings from the process: `file` (the command line's `--settings PATH`), the working
    /// directory and the environment.
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn from_process(file: Option<&Path>) -> Result<Self, SettingsError> {
        let cwd = std::env::current_dir().map_err(|source| SettingsError::Read {
            path: PathBuf::from("."),
            source,
        })?;
        Self::load(file, &cwd, std::env::vars())
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
        let mut merged = Map::new();
        let mut warnings = Vec::new();
        let mut identity_keys = Vec::new();
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
            let translated = aspnet::translate(&mut value)?;
            warnings = translated.warnings;
            identity_keys = translated.identity_keys;
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
        strip_comments(&mut merged);
        let mut said = identity_keys;
        said.extend(mode::production_keys(&merged));
        let raw: RawSettings =
            serde_path_to_error::deserialize(Value::Object(merged)).map_err(|e| {
                let key = e.path().to_string();
                let inner = e.into_inner().to_string();
                let reason = if inner.starts_with("unknown field") {
                    "unknown key (see settings_template.json)".to_owned()
                } else {
                    inner
                };
                SettingsError::Invalid { key, reason }
            })?;
        let requested_mode = raw.mode.clone();
        let mut settings = parse(raw, cwd)?;
        settings.mode = mode::decide(
            requested_mode.as_deref(),
            settings.azure_ad.identity.is_some(),
            &said,
        )?;
        settings.warnings = warnings;
        Ok(settings)
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

/// Removes the comment keys (starting with `_`) of every section, at any depth.
fn strip_comments(map: &mut Map<String, Value>) {
    map.retain(|key, _| !key.starts_with('_'));
    for value in map.values_mut() {
        if let Value::Object(inner) = value {
            strip_comments(inner);
        }
    }
}

/// An http(s) URL with a host; errors name `key`.
pub(crate) fn parse_url(key: &str, raw: &str) -> Result<Url, SettingsError> {
    let url = Url::parse(raw).map_err(|e| SettingsError::invalid(key, format!("{e}: {raw}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(SettingsError::invalid(
            key,
            format!("expected an http(s) URL, found {raw}"),
        ));
    }
    Ok(url)
}

/// The raw settings in domain types; errors name the key.
fn parse(root: RawSettings, cwd: &Path) -> Result<Settings, SettingsError> {
    let api_key = root.api_key.map(SecretString::from);
    let openweather_base_url = parse_url("openweather_base_url", &root.openweather_base_url)?;
    let openweather_timeout = Duration::from_millis(root.openweather_timeout_ms);
    let cache_ttl = Duration::from_secs(root.cache_ttl_secs);
    let cache_capacity = usize::try_from(root.cache_capacity)
        .map_err(|_| SettingsError::invalid("cache_capacity", "too large"))?;
    let bind_raw = root.bind;
    let bind = bind_raw.parse().map_err(|_| {
        SettingsError::invalid(
            "bind",
            format!("expected IP:PORT such as 127.0.0.1:8000, found {bind_raw}"),
        )
    })?;
    let database_url = DatabaseUrl::parse(&root.database_url, cwd)?;
    let max_body_bytes = usize::try_from(root.max_body_bytes)
        .map_err(|_| SettingsError::invalid("max_body_bytes", "too large"))?;
    let request_timeout = Duration::from_millis(root.request_timeout_ms);
    let max_in_flight = usize::try_from(root.max_in_flight)
        .map_err(|_| SettingsError::invalid("max_in_flight", "too large"))?;
    let header_read_timeout = Duration::from_millis(root.header_read_timeout_ms);
    let max_header_bytes = match usize::try_from(root.max_header_bytes) {
        Ok(n) if n >= 8192 => n,
        _ => {
            return Err(SettingsError::invalid(
                "max_header_bytes",
                "expected a whole number of bytes, at least 8192",
            ))
        }
    };
    let log_format = match root.log_format.as_str() {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            return Err(SettingsError::invalid(
                "log_format",
                format!("expected \"text\" or \"json\", found {other:?}"),
            ))
        }
    };
    let trusted_proxies = TrustedProxies::parse(&root.trusted_proxies)
        .map_err(|e| SettingsError::invalid("trusted_proxies", e.to_string()))?;
    let metrics_allow = root
        .metrics_allow
        .iter()
        .map(|e| e.parse::<IpNet>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SettingsError::invalid("metrics_allow", e.to_string()))?;
    let azure_ad = AzureAdSettings::parse(root.azure_ad)?;
    let rate_limit = RateLimitSettings::parse(root.rate_limit)?;
    Ok(Settings {
        // Decided by `Settings::load` once it knows what the file and environment said.
        mode: Mode::Production,
        rate_limit,
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
        dangerous_dev_mode_on_network: root.dangerous_dev_mode_on_network,
        warnings: Vec::new(),
    })
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
            (
                "WEATHER_API__DANGEROUS_DEV_MODE_ON_NETWORK",
                "yes",
                "dangerous_dev_mode_on_network: expected true or false, found \"yes\"",
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
                ("WEATHER_API__MODE", "development"),
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
            env(&[
                ("WEATHER_API__AZURE_AD__INSTANCE", "http://127.0.0.1:9/dev"),
                (
                    "WEATHER_API__AZURE_AD__TENANT_ID",
                    "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a",
                ),
                (
                    "WEATHER_API__AZURE_AD__CLIENT_ID",
                    "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(s.azure_ad.instance.as_str(), "http://127.0.0.1:9/dev/");
    }

    #[test]
    fn file_values_of_the_wrong_type_name_their_key_and_comments_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                r#"{"azure_ad": {"audiences": 5}}"#,
                "azure_ad.audiences: expected a list of strings, found 5",
            ),
            (
                r#"{"cache_ttl_secs": 0}"#,
                "cache_ttl_secs: expected a positive whole number",
            ),
            (r#"{"bind": " "}"#, "bind: must not be empty"),
            (
                r#"{"api_key": ["k"]}"#,
                "api_key: expected a string, found [\"k\"]",
            ),
            (
                r#"{"azure_ad": {"b2c": {"tenant_name": "c", "polcy": "p"}}}"#,
                "azure_ad.b2c.polcy: unknown key (see settings_template.json)",
            ),
        ];
        for (json, message) in cases {
            std::fs::write(dir.path().join("settings.json"), json).unwrap();
            let err = Settings::load(None, dir.path(), env(&[])).unwrap_err();
            assert_eq!(err.to_string(), message, "{json}");
        }
        std::fs::write(
            dir.path().join("settings.json"),
            r#"{"_comment": "x", "mode": "development", "cache_ttl_secs": "60", "azure_ad": {"_note": "y", "token_cache_capacity": "0"}}"#,
        )
        .unwrap();
        let s = Settings::load(None, dir.path(), env(&[])).unwrap();
        assert_eq!(s.cache_ttl, Duration::from_secs(60));
        assert_eq!(s.azure_ad.token_cache_capacity, 0);
    }

    #[test]
    fn dangerous_dev_mode_on_network_is_off_unless_set() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load(None, dir.path(), env(&[])).unwrap();
        assert!(!s.dangerous_dev_mode_on_network);
        let s = Settings::load(
            None,
            dir.path(),
            env(&[("WEATHER_API__DANGEROUS_DEV_MODE_ON_NETWORK", " TRUE ")]),
        )
        .unwrap();
        assert!(s.dangerous_dev_mode_on_network);
    }

    #[test]
    fn postgres_url_is_redacted_in_debug() {
        let url = DatabaseUrl::parse("postgres://u:secret@h/db", Path::new("/")).unwrap();
        assert!(!format!("{url:?}").contains("secret"));
    }
}
