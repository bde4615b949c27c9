//! The ASP.NET Core / Microsoft.Identity.Web layout, so that one app registration serves both stacks: an
//! `appsettings.json` `AzureAd` section (`Instance`, `TenantId`, `ClientId`, `Audience`, `Domain`,
//! `SignUpSignInPolicyId`), or the B2C template's `AzureAdB2C` section with the same keys, is accepted in
//! the settings file, beside or instead of our `azure_ad` section.
//!
//! The translation runs on the settings FILE, before defaults and environment are merged:
//! - section and key names are matched case-insensitively, as .NET's configuration reads them (`AzureAD`,
//!   `tenantId`); two spellings of one section or key, or both `AzureAd` and `AzureAdB2C`, stop start-up;
//! - each key is mapped onto its `azure_ad` key; a value that disagrees with the same file's `azure_ad`
//!   value stops start-up with an error naming both keys;
//! - `Audience` becomes an extra accepted audience; `SignUpSignInPolicyId` with `Domain` becomes the B2C
//!   user flow (`Domain` also stands in for a missing `TenantId`);
//! - other section keys (`CallbackPath`, `ClientSecret`, `AllowWebApiToBeAuthorizedByACL`, ...) and other
//!   ASP.NET top-level sections (capitalised names such as `Logging`, `AllowedHosts`) are ignored with a
//!   warning. Our own keys are lower-case, so an unknown lower-case key still fails.
//!
//! Every key of the identity section, and every ignored section whose name looks like identity
//! (`Entra...`, `...Tenant...`, `Authentication`), is reported in the translation's `identity_keys`: they
//! say production, so without a complete identity start-up stops naming them (see [`super::mode`]).

use serde_json::{Map, Value};

use super::mode::Said;
use super::SettingsError;

/// The ASP.NET section names (Microsoft.Identity.Web's templates), matched case-insensitively.
pub const SECTIONS: [&str; 2] = ["AzureAd", "AzureAdB2C"];

/// `AzureAd` keys that map one to one onto `azure_ad` keys.
const DIRECT: [(&str, &str); 3] = [
    ("Instance", "instance"),
    ("TenantId", "tenant_id"),
    ("ClientId", "client_id"),
];

/// The other section keys this service reads.
const OTHER_KNOWN: [&str; 3] = ["Audience", "Domain", "SignUpSignInPolicyId"];

/// Parts of ignored section names that say "identity" (compared in lower case, without `_`/`-`).
const IDENTITY_WORDS: [&str; 9] = [
    "azure", "entra", "aad", "identity", "tenant", "oidc", "openid", "jwt", "auth",
];

/// What the translation did besides rewriting the file.
#[derive(Debug, Default)]
pub(super) struct Translated {
    /// Ignored keys and sections, to log once logging is up.
    pub(super) warnings: Vec<String>,
    /// The identity keys as written (`AzureAD.tenantId`, an ignored `Entra` section): they say production.
    pub(super) identity_keys: Vec<Said>,
}

/// Whether an ignored section's name looks like identity settings.
fn looks_like_identity(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    IDENTITY_WORDS.iter().any(|w| folded.contains(w))
}

/// The canonical name of `written` among `names`, case-insensitively.
fn canonical<'a>(names: impl IntoIterator<Item = &'a str>, written: &str) -> Option<&'a str> {
    names.into_iter().find(|n| n.eq_ignore_ascii_case(written))
}

/// Translates the ASP.NET parts of a settings file in place; returns the warnings to log and the
/// identity keys seen.
///
/// # Errors
/// [`SettingsError::Invalid`] naming both keys when the two layouts disagree or a section or key is
/// given twice, or naming the section key whose value is not a string.
pub(super) fn translate(file: &mut Map<String, Value>) -> Result<Translated, SettingsError> {
    let mut out = Translated::default();
    let sections: Vec<String> = file
        .keys()
        .filter(|k| canonical(SECTIONS, k).is_some())
        .cloned()
        .collect();
    if let [first, second, ..] = sections.as_slice() {
        return Err(SettingsError::invalid(
            second.clone(),
            format!("a second identity section beside {first}; keep one of the two"),
        ));
    }
    let foreign: Vec<String> = file
        .keys()
        .filter(|k| {
            canonical(SECTIONS, k).is_none() && k.starts_with(|c: char| c.is_ascii_uppercase())
        })
        .cloned()
        .collect();
    for key in foreign {
        let value = file.remove(&key).unwrap_or(Value::Null);
        if looks_like_identity(&key) {
            out.identity_keys.push(Said::new(key.clone(), &value));
            out.warnings.push(format!(
                "{key}: ignored (not a section this service reads: identity settings go in azure_ad, \
                 or an ASP.NET AzureAd / AzureAdB2C section)"
            ));
        } else {
            out.warnings.push(format!(
                "{key}: ignored (an ASP.NET section this service does not use)"
            ));
        }
    }
    let Some(name) = sections.into_iter().next() else {
        return Ok(out);
    };
    let Some(Value::Object(miw)) = file.remove(&name) else {
        return Err(SettingsError::invalid(name, "expected an object"));
    };
    if miw.is_empty() {
        out.identity_keys
            .push(Said::new(name.clone(), &Value::Null));
    }
    // Canonical key -> (the key as written, its value).
    let mut strings: Map<String, Value> = Map::new();
    let mut written: Vec<(&'static str, String)> = Vec::new();
    let known = DIRECT.iter().map(|(k, _)| *k).chain(OTHER_KNOWN);
    for (key, value) in miw {
        out.identity_keys
            .push(Said::new(format!("{name}.{key}"), &value));
        let Some(canon) = canonical(known.clone(), &key) else {
            out.warnings.push(format!(
                "{name}.{key}: ignored (a Microsoft.Identity.Web option this service does not use)"
            ));
            continue;
        };
        if let Some((_, first)) = written.iter().find(|(c, _)| *c == canon) {
            return Err(SettingsError::invalid(
                format!("{name}.{key}"),
                format!("given twice (also as {name}.{first}); keep one of the two"),
            ));
        }
        written.push((canon, key.clone()));
        match value {
            Value::Null => {}
            Value::String(s) if s.trim().is_empty() => {}
            Value::String(s) => {
                strings.insert(canon.to_owned(), Value::String(s.trim().to_owned()));
            }
            other => {
                return Err(SettingsError::invalid(
                    format!("{name}.{key}"),
                    format!("expected a string, found {other}"),
                ))
            }
        }
    }
    let text = |k: &str| strings.get(k).and_then(Value::as_str).map(str::to_owned);
    let as_written = |canon: &str| {
        let key = written
            .iter()
            .find(|(c, _)| *c == canon)
            .map_or(canon, |(_, w)| w.as_str());
        format!("{name}.{key}")
    };

    let ours = file
        .entry("azure_ad")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(ours) = ours else {
        return Err(SettingsError::invalid(
            "azure_ad",
            format!("expected an object (beside the {name} section)"),
        ));
    };

    let mut direct: Vec<(&str, &str, String)> = DIRECT
        .iter()
        .filter_map(|(theirs, mine)| text(theirs).map(|v| (*theirs, *mine, v)))
        .collect();
    let policy = text("SignUpSignInPolicyId");
    let domain = text("Domain");
    if policy.is_some() && text("TenantId").is_none() {
        if let Some(domain) = &domain {
            direct.push(("Domain", "tenant_id", domain.clone()));
        }
    }
    for (theirs, mine, value) in direct {
        set_or_conflict(ours, &[mine], &as_written(theirs), value)?;
    }

    if let Some(audience) = text("Audience") {
        let list = ours
            .entry("audiences")
            .or_insert_with(|| Value::Array(Vec::new()));
        match list {
            Value::Array(items) => {
                if !items.iter().any(|v| v.as_str() == Some(audience.as_str())) {
                    items.push(Value::String(audience));
                }
            }
            _ => {
                return Err(SettingsError::invalid(
                    "azure_ad.audiences",
                    "expected a list of strings",
                ))
            }
        }
    }

    match (policy, domain) {
        (Some(policy), Some(domain)) => {
            let tenant_name = domain
                .trim_end_matches(".onmicrosoft.com")
                .to_ascii_lowercase();
            set_or_conflict(
                ours,
                &["b2c", "tenant_name"],
                &as_written("Domain"),
                tenant_name,
            )?;
            set_or_conflict(
                ours,
                &["b2c", "policy"],
                &as_written("SignUpSignInPolicyId"),
                policy,
            )?;
        }
        (Some(_), None) => {
            return Err(SettingsError::invalid(
                format!("{name}.Domain"),
                format!(
                    "must be set with {} (the B2C tenant, e.g. contoso.onmicrosoft.com)",
                    as_written("SignUpSignInPolicyId")
                ),
            ))
        }
        // Without a B2C policy, Domain is informational (as for Microsoft.Identity.Web's web APIs).
        (None, _) => {}
    }
    Ok(out)
}

/// Sets `azure_ad.{path}` to `value`, unless the file already holds a different value there.
fn set_or_conflict(
    ours: &mut Map<String, Value>,
    path: &[&str],
    their_key: &str,
    value: String,
) -> Result<(), SettingsError> {
    let our_key = format!("azure_ad.{}", path.join("."));
    let mut map = ours;
    let (last, parents) = path
        .split_last()
        .expect("BUG: a settings path has at least one key");
    for parent in parents {
        let entry = map
            .entry((*parent).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        map = match entry {
            Value::Object(m) => m,
            _ => return Err(SettingsError::invalid(our_key, "expected an object")),
        };
    }
    match map.get(*last) {
        Some(Value::String(existing))
            if !existing.trim().is_empty() && !same(last, existing, &value) =>
        {
            Err(SettingsError::invalid(
                their_key,
                format!(
                    "conflicts with {our_key}: {value:?} here, {:?} there; keep one of the two",
                    existing.trim()
                ),
            ))
        }
        _ => {
            map.insert((*last).to_owned(), Value::String(value));
            Ok(())
        }
    }
}

/// Equal as settings: ids and names case-insensitively, instances without the trailing slash.
fn same(key: &str, a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    if key == "instance" {
        return a
            .trim_end_matches('/')
            .eq_ignore_ascii_case(b.trim_end_matches('/'));
    }
    a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(v: Value) -> Result<(Value, Vec<String>), String> {
        let Value::Object(mut map) = v else {
            panic!("object expected")
        };
        let translated = translate(&mut map).map_err(|e| e.to_string())?;
        Ok((Value::Object(map), translated.warnings))
    }

    #[test]
    fn aad_section_maps_onto_azure_ad() {
        let (out, warnings) = run(json!({
            "Logging": {"LogLevel": {"Default": "Information"}},
            "AllowedHosts": "*",
            "AzureAd": {
                "Instance": "https://login.microsoftonline.com/",
                "TenantId": "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a",
                "ClientId": "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c",
                "Audience": "api://weather",
                "Domain": "contoso.onmicrosoft.com",
                "AllowWebApiToBeAuthorizedByACL": false
            },
            "api_key": "k"
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "api_key": "k",
                "azure_ad": {
                    "instance": "https://login.microsoftonline.com/",
                    "tenant_id": "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a",
                    "client_id": "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c",
                    "audiences": ["api://weather"]
                }
            })
        );
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings
            .iter()
            .any(|w| w.starts_with("AzureAd.AllowWebApiToBeAuthorizedByACL: ignored")));
        assert!(warnings.iter().any(|w| w.starts_with("Logging: ignored")));
    }

    #[test]
    fn b2c_policy_and_domain_become_the_user_flow() {
        let (out, _) = run(json!({
            "AzureAd": {
                "Instance": "https://contoso.b2clogin.com",
                "ClientId": "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c",
                "Domain": "Contoso.onmicrosoft.com",
                "SignUpSignInPolicyId": "B2C_1_susi"
            }
        }))
        .unwrap();
        assert_eq!(
            out["azure_ad"],
            json!({
                "instance": "https://contoso.b2clogin.com",
                "client_id": "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c",
                "tenant_id": "Contoso.onmicrosoft.com",
                "b2c": {"tenant_name": "contoso", "policy": "B2C_1_susi"}
            })
        );
    }

    #[test]
    fn policy_without_domain_names_the_key() {
        let err = run(json!({"AzureAd": {"SignUpSignInPolicyId": "B2C_1_susi"}})).unwrap_err();
        assert!(err.starts_with("AzureAd.Domain: "), "{err}");
    }

    #[test]
    fn disagreeing_layouts_name_both_keys() {
        let err = run(json!({
            "azure_ad": {"tenant_id": "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a"},
            "AzureAd": {"TenantId": "00000000-0000-0000-0000-000000000001"}
        }))
        .unwrap_err();
        assert!(
            err.starts_with("AzureAd.TenantId: conflicts with azure_ad.tenant_id"),
            "{err}"
        );
        let err = run(json!({
            "azure_ad": {"b2c": {"policy": "B2C_1_other"}},
            "AzureAd": {"Domain": "contoso.onmicrosoft.com", "SignUpSignInPolicyId": "B2C_1_susi"}
        }))
        .unwrap_err();
        assert!(
            err.starts_with("AzureAd.SignUpSignInPolicyId: conflicts with azure_ad.b2c.policy"),
            "{err}"
        );
    }

    #[test]
    fn agreeing_layouts_are_accepted() {
        let (out, warnings) = run(json!({
            "azure_ad": {"instance": "https://login.microsoftonline.com", "client_id": "A9E7B3C1-5D2F-4E6A-8B9C-1D2E3F4A5B6C"},
            "AzureAd": {"Instance": "https://login.microsoftonline.com/", "ClientId": "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c"}
        }))
        .unwrap();
        assert!(warnings.is_empty());
        assert_eq!(
            out["azure_ad"]["client_id"],
            "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c"
        );
    }

    #[test]
    fn non_string_value_names_the_key() {
        let err = run(json!({"AzureAd": {"ClientId": 42}})).unwrap_err();
        assert!(
            err.starts_with("AzureAd.ClientId: expected a string"),
            "{err}"
        );
    }
}
