//! The per-request `optionsOverride.*` query parameters, read as Microsoft's sidecar binds them:
//! keys case-insensitive, `Scopes` repeatable (replaces the configured list), every other
//! single-valued key takes its last occurrence, unknown keys ignored, and `BaseUrl` always
//! ignored (the downstream host is fixed by configuration).

use std::collections::BTreeMap;

use crate::settings::DownstreamApi;

const PREFIX: &str = "optionsoverride.";

/// What the query string asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    scopes: Vec<String>,
    request_app_token: Option<bool>,
    relative_path: Option<String>,
    http_method: Option<String>,
    accept_header: Option<String>,
    content_type: Option<String>,
    tenant: Option<String>,
    force_refresh: Option<bool>,
    extra_headers: BTreeMap<String, String>,
    extra_query: BTreeMap<String, String>,
    /// Whether any override other than `BaseUrl` was given.
    pub any: bool,
    /// Whether `optionsOverride.BaseUrl` was given (and ignored).
    pub base_url_ignored: bool,
    /// Whether an agent identity parameter was given.
    pub agent_identity: bool,
}

impl Overrides {
    /// Reads the overrides of a raw query string.
    pub fn parse(query: Option<&str>) -> Self {
        let mut o = Self::default();
        let Some(query) = query else {
            return o;
        };
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let lower = key.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "agentidentity" | "agentusername" | "agentuserid"
            ) {
                o.agent_identity |= !value.trim().is_empty();
                continue;
            }
            let Some(path) = lower.strip_prefix(PREFIX) else {
                continue;
            };
            // The original spelling of the part after the prefix (header and query names).
            let original = &key[PREFIX.len()..];
            if path == "baseurl" {
                o.base_url_ignored = true;
                continue;
            }
            o.any = true;
            let value = value.into_owned();
            match path {
                "scopes" if !value.trim().is_empty() => o.scopes.push(value),
                "requestapptoken" => {
                    o.request_app_token = parse_bool(&value).or(o.request_app_token)
                }
                "relativepath" => o.relative_path = Some(value),
                "httpmethod" => o.http_method = Some(value),
                "acceptheader" => o.accept_header = Some(value),
                "contenttype" => o.content_type = Some(value),
                "acquiretokenoptions.tenant" if !value.is_empty() => o.tenant = Some(value),
                "acquiretokenoptions.forcerefresh" => {
                    o.force_refresh = parse_bool(&value).or(o.force_refresh);
                }
                p if p.starts_with("extraheaderparameters.") => {
                    let name = &original["extraheaderparameters.".len()..];
                    if !name.is_empty() && !value.is_empty() {
                        o.extra_headers.insert(name.to_owned(), value);
                    }
                }
                p if p.starts_with("extraqueryparameters.") => {
                    let name = &original["extraqueryparameters.".len()..];
                    if !name.is_empty() && !value.is_empty() {
                        o.extra_query.insert(name.to_owned(), value);
                    }
                }
                _ => {}
            }
        }
        o
    }

    /// `api` with these overrides merged in, the way Microsoft's `MergeOptions` does.
    pub fn apply(&self, api: &DownstreamApi) -> DownstreamApi {
        let mut merged = api.clone();
        if !self.scopes.is_empty() {
            merged.scopes = self.scopes.clone();
        }
        if self.request_app_token == Some(true) {
            merged.request_app_token = true;
        }
        let set = |target: &mut String, value: &Option<String>| {
            if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
                target.clone_from(v);
            }
        };
        set(&mut merged.relative_path, &self.relative_path);
        let mut method = merged.http_method.clone();
        set(&mut method, &self.http_method);
        merged.http_method = method.to_ascii_uppercase();
        if let Some(v) = self.accept_header.as_ref().filter(|v| !v.is_empty()) {
            merged.accept_header = Some(v.clone());
        }
        if let Some(v) = self.content_type.as_ref().filter(|v| !v.is_empty()) {
            merged.content_type = Some(v.clone());
        }
        if let Some(t) = &self.tenant {
            merged.tenant = Some(t.clone());
        }
        merged.force_refresh = self.force_refresh.unwrap_or(false);
        for (k, v) in &self.extra_headers {
            merged.extra_headers.insert(k.clone(), v.clone());
        }
        for (k, v) in &self.extra_query {
            merged.extra_query.insert(k.clone(), v.clone());
        }
        merged
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim() {
        v if v.eq_ignore_ascii_case("true") => Some(true),
        v if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_repeat_keys_ignore_case_and_the_last_single_value_wins() {
        let o = Overrides::parse(Some(
            "OptionsOverride.Scopes=User.Read&optionsoverride.SCOPES=Mail.Read&optionsOverride.RelativePath=a&optionsOverride.relativepath=b&optionsOverride.ExtraHeaderParameters.X-Tag=1",
        ));
        assert_eq!(o.scopes, ["User.Read", "Mail.Read"]);
        assert_eq!(o.relative_path.as_deref(), Some("b"));
        assert_eq!(o.extra_headers.get("X-Tag").map(String::as_str), Some("1"));
        assert!(o.any);
    }

    #[test]
    fn base_url_is_always_ignored_and_alone_is_no_override() {
        let o = Overrides::parse(Some("optionsOverride.BaseUrl=http%3A%2F%2Fevil.example%2F"));
        assert!(o.base_url_ignored);
        assert!(!o.any);
        let api = DownstreamApi {
            base_url: Some("https://graph.microsoft.com/v1.0/".parse().expect("url")),
            ..DownstreamApi::default()
        };
        assert_eq!(o.apply(&api).base_url, api.base_url);
    }

    #[test]
    fn request_app_token_and_force_refresh_parse_as_booleans() {
        let o = Overrides::parse(Some(
            "optionsOverride.RequestAppToken=True&optionsOverride.AcquireTokenOptions.ForceRefresh=true&optionsOverride.HttpMethod=post",
        ));
        let merged = o.apply(&DownstreamApi {
            http_method: "GET".into(),
            ..DownstreamApi::default()
        });
        assert!(merged.request_app_token);
        assert!(merged.force_refresh);
        assert_eq!(merged.http_method, "POST");
    }
}
