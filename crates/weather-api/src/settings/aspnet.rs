//! The ASP.NET Core / Microsoft.Identity.Web layout, so that one app registration serves both stacks: an
//! `appsettings.json` `AzureAd` section (`Instance`, `TenantId`, `ClientId`, `Audience`, `Domain`,
//! `SignUpSignInPolicyId`) is accepted in the settings file, beside or instead of our `azure_ad` section.
//!
//! The translation runs on the settings FILE, before defaults and environment are merged:
//! - each `AzureAd` key is mapped onto its `azure_ad` key; a value that disagrees with the same file's
//!   `azure_ad` value stops start-up with an error naming both keys;
//! - `Audience` becomes an extra accepted audience; `SignUpSignInPolicyId` with `Domain` becomes the B2C
//!   user flow (`Domain` also stands in for a missing `TenantId`);
//! - other `AzureAd` keys (`CallbackPath`, `ClientSecret`, `AllowWebApiToBeAuthorizedByACL`, ...) and other
//!   ASP.NET top-level sections (capitalised names such as `Logging`, `AllowedHosts`) are ignored with a
//!   warning. Our own keys are lower-case, so an unknown lower-case key still fails.

use serde_json::{Map, Value};

use super::SettingsError;

/// The ASP.NET section name.
pub const SECTION: &str = "AzureAd";

/// `AzureAd` keys that map one to one onto `azure_ad` keys.
const DIRECT: [(&str, &str); 3] = [
    ("Instance", "instance"),
    ("TenantId", "tenant_id"),
    ("ClientId", "client_id"),
];

/// Translates the ASP.NET parts of a settings file in place; returns the warnings to log.
///
/// # Errors
/// [`SettingsError::Invalid`] naming both keys when the two layouts disagree, or naming the `AzureAd` key
/// whose value is not a string.
pub(super) fn translate(file: &mut Map<String, Value>) -> Result<Vec<String>, SettingsError> {
    let mut warnings = Vec::new();
    let foreign: Vec<String> = file
        .keys()
        .filter(|k| k.as_str() != SECTION && k.starts_with(|c: char| c.is_ascii_uppercase()))
        .cloned()
        .collect();
    for key in foreign {
        file.remove(&key);
        warnings.push(format!(
            "{key}: ignored (an ASP.NET section this service does not use)"
        ));
    }
    let Some(section) = file.remove(SECTION) else {
        return Ok(warnings);
    };
    let Value::Object(miw) = section else {
        return Err(SettingsError::invalid(SECTION, "expected an object"));
    };
    let mut strings = Map::new();
    for (key, value) in miw {
        let known = DIRECT.iter().any(|(k, _)| *k == key)
            || matches!(key.as_str(), "Audience" | "Domain" | "SignUpSignInPolicyId");
        if !known {
            warnings.push(format!(
                "{SECTION}.{key}: ignored (a Microsoft.Identity.Web option this service does not use)"
            ));
            continue;
        }
        match value {
            Value::Null => {}
            Value::String(s) if s.trim().is_empty() => {}
            Value::String(s) => {
                strings.insert(key, Value::String(s.trim().to_owned()));
            }
            other => {
                return Err(SettingsError::invalid(
                    format!("{SECTION}.{key}"),
                    format!("expected a string, found {other}"),
                ))
            }
        }
    }
    let text = |k: &str| strings.get(k).and_then(Value::as_str).map(str::to_owned);

    let ours = file
        .entry("azure_ad")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(ours) = ours else {
        return Err(SettingsError::invalid(
            "azure_ad",
            "expected an object (beside the AzureAd section)",
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
        set_or_conflict(ours, &[mine], &format!("{SECTION}.{theirs}"), value)?;
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
                &format!("{SECTION}.Domain"),
                tenant_name,
            )?;
            set_or_conflict(
                ours,
                &["b2c", "policy"],
                &format!("{SECTION}.SignUpSignInPolicyId"),
                policy,
            )?;
        }
        (Some(_), None) => {
            return Err(SettingsError::invalid(
                format!("{SECTION}.Domain"),
                "must be set with AzureAd.SignUpSignInPolicyId (the B2C tenant, e.g. contoso.onmicrosoft.com)",
            ))
        }
        // Without a B2C policy, Domain is informational (as for Microsoft.Identity.Web's web APIs).
        (None, _) => {}
    }
    Ok(warnings)
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
        let warnings = translate(&mut map).map_err(|e| e.to_string())?;
        Ok((Value::Object(map), warnings))
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
