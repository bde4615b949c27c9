//! The settings as they are written: serde-derived structs over the merged JSON (defaults, file,
//! environment), before any domain parsing.
//!
//! Values from the environment are strings, so every field reader accepts the JSON type or its string
//! form (`"30000"` for a number, `"a, b"` for a list); blank strings and `null` mean "not set". Each
//! reader's error says what was expected; [`serde_path_to_error`] adds the key path, so the message that
//! stops start-up names the key (`azure_ad.token_cache_capacity: expected a whole number`). Unknown keys
//! are refused (`deny_unknown_fields`; keys starting with `_` are comments, removed before).

use std::collections::BTreeMap;

use serde::de::{Deserializer, Error as _};
use serde::Deserialize;
use serde_json::Value;

/// The top level of the settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSettings {
    #[serde(default, deserialize_with = "string")]
    pub(crate) mode: Option<String>,
    #[serde(default, deserialize_with = "string")]
    pub(crate) api_key: Option<String>,
    #[serde(
        default = "default::openweather_base_url",
        deserialize_with = "required_string"
    )]
    pub(crate) openweather_base_url: String,
    #[serde(
        default = "default::openweather_timeout_ms",
        deserialize_with = "positive"
    )]
    pub(crate) openweather_timeout_ms: u64,
    #[serde(default = "default::cache_ttl_secs", deserialize_with = "positive")]
    pub(crate) cache_ttl_secs: u64,
    #[serde(default = "default::cache_capacity", deserialize_with = "positive")]
    pub(crate) cache_capacity: u64,
    #[serde(default = "default::bind", deserialize_with = "required_string")]
    pub(crate) bind: String,
    #[serde(
        default = "default::database_url",
        deserialize_with = "required_string"
    )]
    pub(crate) database_url: String,
    #[serde(default = "default::max_body_bytes", deserialize_with = "positive")]
    pub(crate) max_body_bytes: u64,
    #[serde(default = "default::request_timeout_ms", deserialize_with = "positive")]
    pub(crate) request_timeout_ms: u64,
    #[serde(default = "default::max_in_flight", deserialize_with = "positive")]
    pub(crate) max_in_flight: u64,
    #[serde(
        default = "default::header_read_timeout_ms",
        deserialize_with = "positive"
    )]
    pub(crate) header_read_timeout_ms: u64,
    #[serde(default = "default::max_header_bytes", deserialize_with = "positive")]
    pub(crate) max_header_bytes: u64,
    #[serde(default = "default::log_format", deserialize_with = "required_string")]
    pub(crate) log_format: String,
    #[serde(default, deserialize_with = "list")]
    pub(crate) trusted_proxies: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    pub(crate) metrics_allow: Vec<String>,
    #[serde(default, deserialize_with = "section")]
    pub(crate) azure_ad: RawAzureAd,
    #[serde(default, deserialize_with = "flag")]
    pub(crate) dangerous_dev_mode_on_network: bool,
    #[serde(default, deserialize_with = "section")]
    pub(crate) rate_limit: RawRateLimit,
}

/// The `azure_ad` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAzureAd {
    #[serde(default, deserialize_with = "string")]
    pub(crate) instance: Option<String>,
    #[serde(default, deserialize_with = "string")]
    pub(crate) tenant_id: Option<String>,
    #[serde(default, deserialize_with = "string")]
    pub(crate) client_id: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub(crate) audiences: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    pub(crate) allowed_tenants: Vec<String>,
    #[serde(default, deserialize_with = "section")]
    pub(crate) b2c: Option<RawB2c>,
    #[serde(default, deserialize_with = "section")]
    pub(crate) authorities: BTreeMap<String, RawAuthority>,
    #[serde(default, deserialize_with = "string")]
    pub(crate) docs_client_id: Option<String>,
    #[serde(default = "default::read_role", deserialize_with = "required_string")]
    pub(crate) read_role: String,
    #[serde(default = "default::write_role", deserialize_with = "required_string")]
    pub(crate) write_role: String,
    #[serde(default = "default::token_cache_capacity", deserialize_with = "count")]
    pub(crate) token_cache_capacity: u64,
    #[serde(
        default = "default::token_cache_max_age_secs",
        deserialize_with = "positive"
    )]
    pub(crate) token_cache_max_age_secs: u64,
}

impl Default for RawAzureAd {
    fn default() -> Self {
        Self {
            instance: None,
            tenant_id: None,
            client_id: None,
            audiences: Vec::new(),
            allowed_tenants: Vec::new(),
            b2c: None,
            authorities: BTreeMap::new(),
            docs_client_id: None,
            read_role: default::read_role(),
            write_role: default::write_role(),
            token_cache_capacity: default::token_cache_capacity(),
            token_cache_max_age_secs: default::token_cache_max_age_secs(),
        }
    }
}

/// One entry of `azure_ad.authorities`: another authority whose tokens are accepted too.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuthority {
    #[serde(default, deserialize_with = "string")]
    pub(crate) instance: Option<String>,
    #[serde(default, deserialize_with = "string")]
    pub(crate) tenant_id: Option<String>,
    #[serde(default, deserialize_with = "string")]
    pub(crate) client_id: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub(crate) audiences: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    pub(crate) allowed_tenants: Vec<String>,
    #[serde(default, deserialize_with = "section")]
    pub(crate) b2c: Option<RawB2c>,
}

/// The `azure_ad.b2c` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawB2c {
    #[serde(default, deserialize_with = "string")]
    pub(crate) tenant_name: Option<String>,
    #[serde(default, deserialize_with = "string")]
    pub(crate) policy: Option<String>,
}

/// The `rate_limit` section (parsed by [`RateLimitSettings`](super::RateLimitSettings)).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimit {
    #[serde(default = "default_read", deserialize_with = "section")]
    pub(crate) read: RawQuota,
    #[serde(default = "default_write", deserialize_with = "section")]
    pub(crate) write: RawQuota,
    #[serde(default = "default_max_callers", deserialize_with = "positive")]
    pub(crate) max_callers: u64,
    #[serde(default, deserialize_with = "string")]
    pub(crate) redis_url: Option<String>,
    #[serde(default = "default_redis_timeout_ms", deserialize_with = "positive")]
    pub(crate) redis_timeout_ms: u64,
    #[serde(
        default = "default_redis_key_prefix",
        deserialize_with = "required_string"
    )]
    pub(crate) redis_key_prefix: String,
}

impl Default for RawRateLimit {
    fn default() -> Self {
        Self {
            read: default_read(),
            write: default_write(),
            max_callers: default_max_callers(),
            redis_url: None,
            redis_timeout_ms: default_redis_timeout_ms(),
            redis_key_prefix: default_redis_key_prefix(),
        }
    }
}

/// `rate_limit.read` / `rate_limit.write`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuota {
    #[serde(deserialize_with = "positive")]
    pub(crate) requests: u64,
    #[serde(default = "default_window_secs", deserialize_with = "positive")]
    pub(crate) window_secs: u64,
}

impl Default for RawQuota {
    fn default() -> Self {
        default_read()
    }
}

fn default_read() -> RawQuota {
    RawQuota {
        requests: 600,
        window_secs: default_window_secs(),
    }
}
fn default_write() -> RawQuota {
    RawQuota {
        requests: 60,
        window_secs: default_window_secs(),
    }
}
fn default_window_secs() -> u64 {
    60
}
fn default_max_callers() -> u64 {
    100_000
}
fn default_redis_timeout_ms() -> u64 {
    50
}
fn default_redis_key_prefix() -> String {
    "weather-api:rl:".to_owned()
}

/// The built-in defaults (`settings_template.json` shows the same values).
mod default {
    pub(super) fn openweather_base_url() -> String {
        "https://api.openweathermap.org".to_owned()
    }
    pub(super) fn openweather_timeout_ms() -> u64 {
        10_000
    }
    pub(super) fn cache_ttl_secs() -> u64 {
        3600
    }
    pub(super) fn cache_capacity() -> u64 {
        1000
    }
    pub(super) fn bind() -> String {
        "127.0.0.1:8000".to_owned()
    }
    pub(super) fn database_url() -> String {
        "sqlite://weather.db".to_owned()
    }
    pub(super) fn max_body_bytes() -> u64 {
        65_536
    }
    pub(super) fn request_timeout_ms() -> u64 {
        30_000
    }
    pub(super) fn max_in_flight() -> u64 {
        256
    }
    pub(super) fn header_read_timeout_ms() -> u64 {
        10_000
    }
    pub(super) fn max_header_bytes() -> u64 {
        65_536
    }
    pub(super) fn log_format() -> String {
        "text".to_owned()
    }
    pub(super) fn read_role() -> String {
        "Weather.Read.All".to_owned()
    }
    pub(super) fn write_role() -> String {
        "Weather.Write.All".to_owned()
    }
    pub(super) fn token_cache_capacity() -> u64 {
        10_000
    }
    pub(super) fn token_cache_max_age_secs() -> u64 {
        600
    }
}

/// A string, trimmed; blank or `null` is "not set".
fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.trim().to_owned())),
        other => Err(D::Error::custom(format!(
            "expected a string, found {other}"
        ))),
    }
}

/// A string that must be set when the key is present.
fn required_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    string(d)?.ok_or_else(|| D::Error::custom("must not be empty"))
}

/// `true` or `false`, from JSON or from its string form (any case); `null` or blank is `false`.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "" | "false" => Ok(false),
            "true" => Ok(true),
            _ => Err(D::Error::custom(format!(
                "expected true or false, found {s:?}"
            ))),
        },
        other => Err(D::Error::custom(format!(
            "expected true or false, found {other}"
        ))),
    }
}

/// A whole number, from JSON or from its string form.
fn whole_number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A whole number above zero.
fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match whole_number(&Value::deserialize(d)?) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(D::Error::custom("expected a positive whole number")),
    }
}

/// A whole number that may be zero.
fn count<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    whole_number(&Value::deserialize(d)?).ok_or_else(|| D::Error::custom("expected a whole number"))
}

/// A list of strings, or (from the environment) one comma-separated string; entries trimmed, blank
/// ones dropped.
fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items = match Value::deserialize(d)? {
        Value::Null => Vec::new(),
        Value::String(s) => s.split(',').map(str::to_owned).collect(),
        Value::Array(a) => a
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(D::Error::custom(format!(
                    "expected a list of strings, found {other}"
                ))),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(D::Error::custom(format!(
                "expected a list of strings, found {other}"
            )))
        }
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

/// A section: an object, or `null` for "not set" (its defaults).
fn section<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
