//! Development or production: a decision, never an inference from missing values.
//!
//! The key `mode` says it (`"development"` or `"production"`). Without it, the service runs in
//! development mode only when nothing says production: no settings file or environment variable sets an
//! identity key (`azure_ad.*`, an ASP.NET `AzureAd`/`AzureAdB2C` section or an identity-looking section
//! it does not read), `database_url`, `trusted_proxies`, `metrics_allow` or a `rate_limit.redis_*` key.
//! That keeps the newcomer's `cargo run -p weather-api` (no settings at all) in development mode, while a
//! deployment whose identity values are blank or spelled in a way this service does not read stops
//! start-up naming the key and the two ways out, instead of mounting the development issuer.

use serde_json::{Map, Value};

use super::SettingsError;

/// The settings key that chooses the mode.
pub const MODE_KEY: &str = "mode";

/// How the service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Tokens from the configured authorities (`azure_ad`); the development issuer is never mounted.
    Production,
    /// The built-in development issuer under `/dev-issuer/`, loopback requests only.
    Development,
}

/// The top-level keys whose presence says production, with the sub-keys that do (`None`: any).
const PRODUCTION_KEYS: [(&str, Option<&str>); 5] = [
    ("azure_ad", None),
    ("database_url", None),
    ("trusted_proxies", None),
    ("metrics_allow", None),
    ("rate_limit", Some("redis_")),
];

/// The `azure_ad` keys that are not the identity: development mode uses them too.
const DEVELOPMENT_AZURE_AD_KEYS: [&str; 5] = [
    "read_role",
    "write_role",
    "token_cache_capacity",
    "token_cache_max_age_secs",
    "docs_client_id",
];

/// The two ways out, as the messages state them.
const WAYS_OUT: &str = "either complete the identity settings (azure_ad.tenant_id and \
    azure_ad.client_id, see settings_template.json), or say development explicitly: \"mode\": \
    \"development\" in the settings file, or WEATHER_API__MODE=development";

/// A key whose presence says production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Said {
    /// The dotted key path as written (`azure_ad.tenant_id`, `AzureAD.tenantId`, `Entra`).
    pub(super) key: String,
    /// Whether its value is a blank string.
    pub(super) blank: bool,
}

impl Said {
    /// `key` with `value`.
    pub(super) fn new(key: String, value: &Value) -> Self {
        let blank = matches!(value, Value::String(s) if s.trim().is_empty());
        Self { key, blank }
    }

    /// Whether the key is an identity key (not a database, proxy, metrics or Redis one).
    fn is_identity(&self) -> bool {
        !PRODUCTION_KEYS
            .iter()
            .any(|(top, _)| *top != "azure_ad" && self.key.starts_with(top))
    }

    /// Whether the key contradicts `"mode": "development"`: an identity key other than the role names,
    /// token cache and docs client that development mode uses too.
    fn contradicts_development(&self) -> bool {
        let shared = self
            .key
            .strip_prefix("azure_ad.")
            .is_some_and(|k| DEVELOPMENT_AZURE_AD_KEYS.contains(&k));
        self.is_identity() && !shared
    }
}

/// The keys of `merged` (the file and environment, comments removed, before defaults) that say
/// production, as dotted paths.
pub(super) fn production_keys(merged: &Map<String, Value>) -> Vec<Said> {
    let mut found = Vec::new();
    for (top, sub) in PRODUCTION_KEYS {
        let Some(value) = merged.get(top) else {
            continue;
        };
        match (value, sub) {
            (Value::Object(section), Some(prefix)) => found.extend(
                section
                    .iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| Said::new(format!("{top}.{k}"), v)),
            ),
            (_, Some(_)) => {}
            (Value::Object(section), None) => leaves(top, section, &mut found),
            (value, None) => found.push(Said::new(top.to_owned(), value)),
        }
    }
    found
}

/// Every leaf key under `section` (or the section itself when it is empty).
fn leaves(path: &str, section: &Map<String, Value>, out: &mut Vec<Said>) {
    if section.is_empty() {
        out.push(Said::new(path.to_owned(), &Value::Null));
    }
    for (key, value) in section {
        let path = format!("{path}.{key}");
        match value {
            Value::Object(inner) => leaves(&path, inner, out),
            value => out.push(Said::new(path, value)),
        }
    }
}

/// Decides the mode from the `mode` key, whether an identity is configured, and what says production
/// (`said`: the identity-looking ASP.NET keys first, then [`production_keys`]).
///
/// # Errors
/// [`SettingsError::Invalid`] naming `mode` for an unknown value or a contradiction, or naming the key
/// that says production when no identity is configured.
pub(super) fn decide(
    mode: Option<&str>,
    has_identity: bool,
    said: &[Said],
) -> Result<Mode, SettingsError> {
    let explicit = match mode.map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some("development") => Some(Mode::Development),
        Some("production") => Some(Mode::Production),
        Some(other) => {
            return Err(SettingsError::invalid(
                MODE_KEY,
                format!("expected \"development\" or \"production\", found {other:?}"),
            ))
        }
    };
    match explicit {
        Some(Mode::Development) => {
            if let Some(key) = said
                .iter()
                .find(|s| s.contradicts_development())
                .map(|s| &s.key)
            {
                return Err(SettingsError::invalid(
                    MODE_KEY,
                    format!(
                        "\"development\" conflicts with {key}: development mode validates the built-in \
                         development issuer's tokens, never the configured identity; remove one of the two"
                    ),
                ));
            }
            if said.iter().any(|s| s.key.starts_with("trusted_proxies")) {
                return Err(SettingsError::invalid(
                    MODE_KEY,
                    "\"development\" conflicts with trusted_proxies: development mode answers loopback \
                     requests only and refuses proxied ones (X-Forwarded-*); remove one of the two",
                ));
            }
            Ok(Mode::Development)
        }
        _ if has_identity => Ok(Mode::Production),
        Some(Mode::Production) => Err(SettingsError::invalid(
            "azure_ad.tenant_id",
            format!(
                "must be set in production mode (\"mode\": \"production\"), with azure_ad.client_id; \
                 {WAYS_OUT}"
            ),
        )),
        None => match said.first() {
            None => Ok(Mode::Development),
            Some(said) => {
                let why = if said.blank {
                    "is blank"
                } else if said.is_identity() {
                    "is set"
                } else {
                    "is set, which says production"
                };
                Err(SettingsError::invalid(
                    said.key.clone(),
                    format!(
                        "{why}, but no identity is configured (azure_ad.tenant_id and \
                         azure_ad.client_id), and development mode is never inferred from missing \
                         values; {WAYS_OUT}"
                    ),
                ))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keys(v: Value) -> Vec<String> {
        let Value::Object(map) = v else {
            panic!("object expected")
        };
        production_keys(&map).into_iter().map(|s| s.key).collect()
    }

    fn said(key: &str, blank: bool) -> Said {
        Said {
            key: key.to_owned(),
            blank,
        }
    }

    #[test]
    fn production_keys_are_identity_database_proxy_metrics_and_redis_keys() {
        assert_eq!(
            keys(
                json!({"api_key": "k", "bind": "127.0.0.1:0", "log_format": "json",
                        "rate_limit": {"read": {"requests": 5}}})
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            keys(
                json!({"azure_ad": {"tenant_id": "", "b2c": {"policy": "p"}}, "database_url": "x",
                        "trusted_proxies": [], "metrics_allow": "", "rate_limit": {"redis_url": ""}})
            ),
            [
                "azure_ad.b2c.policy",
                "azure_ad.tenant_id",
                "database_url",
                "trusted_proxies",
                "metrics_allow",
                "rate_limit.redis_url"
            ]
        );
        assert_eq!(keys(json!({"azure_ad": {}})), ["azure_ad"]);
    }

    #[test]
    fn nothing_said_is_development_and_a_blank_identity_is_refused() {
        assert_eq!(decide(None, false, &[]).unwrap(), Mode::Development);
        let err = decide(None, false, &[said("azure_ad.tenant_id", true)])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("azure_ad.tenant_id: is blank, but no identity"),
            "{err}"
        );
        assert!(err.contains("WEATHER_API__MODE=development"), "{err}");
        assert!(err.contains("\"mode\": \"development\""), "{err}");
    }

    #[test]
    fn explicit_modes_are_checked_against_the_settings() {
        assert_eq!(
            decide(Some("Development"), false, &[said("database_url", false)]).unwrap(),
            Mode::Development
        );
        let err = decide(
            Some("development"),
            true,
            &[said("azure_ad.client_id", false)],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("mode: \"development\" conflicts with azure_ad.client_id"),
            "{err}"
        );
        assert_eq!(
            decide(
                Some("development"),
                false,
                &[said("azure_ad.read_role", false)]
            )
            .unwrap(),
            Mode::Development
        );
        let err = decide(Some("production"), false, &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("azure_ad.tenant_id: must be set in production mode"),
            "{err}"
        );
        let err = decide(Some("dev"), false, &[]).unwrap_err().to_string();
        assert!(
            err.starts_with("mode: expected \"development\" or \"production\""),
            "{err}"
        );
        assert_eq!(
            decide(None, true, &[said("azure_ad.tenant_id", false)]).unwrap(),
            Mode::Production
        );
        let err = decide(None, false, &[said("database_url", false)])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("database_url: is set, which says production"),
            "{err}"
        );
    }
}
