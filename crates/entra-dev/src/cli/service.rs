//! `inspect --settings`: a service's identity settings, read with the meaning weather-api gives
//! them (`crates/weather-api/src/settings/azure_ad.rs` and `aspnet.rs`), turned into the
//! entra-auth configuration the service validates with, and an offline transport for
//! `--metadata FILE --keys FILE`.
//!
//! Read from the file: `azure_ad.{instance, tenant_id, client_id, audiences, allowed_tenants,
//! b2c.tenant_name, b2c.policy}` and the ASP.NET `AzureAd.{Instance, TenantId, ClientId, Audience,
//! Domain, SignUpSignInPolicyId}` (a value disagreeing with the same file's `azure_ad` value is an
//! error naming both keys; `Domain` stands in for a missing `TenantId` with a B2C policy).
//! Environment overrides (`WEATHER_API__AZURE_AD__...`) are not applied: inspect explains the file.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use axum::body::Bytes;
use axum::http::StatusCode;
use entra_auth::fetch::{BoxFuture, HttpError};
use entra_auth::{AuthConfig, HttpFetch};
use serde_json::{Map, Value};
use url::Url;

/// The identity part of a service's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceIdentity {
    pub(crate) instance: String,
    pub(crate) tenant_id: String,
    pub(crate) client_id: String,
    /// Extra accepted audiences (the client id and `api://{client_id}` are always accepted).
    pub(crate) audiences: Vec<String>,
    pub(crate) allowed_tenants: Vec<String>,
    /// `(tenant_name, policy)`.
    pub(crate) b2c: Option<(String, String)>,
}

/// A string setting: absent, null and blank are "not set"; anything but a string is an error.
fn text(section: &Map<String, Value>, prefix: &str, key: &str) -> anyhow::Result<Option<String>> {
    match section.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(other) => bail!("{prefix}.{key}: expected a string, found {other}"),
    }
}

fn list(section: &Map<String, Value>, key: &str) -> anyhow::Result<Vec<String>> {
    match section.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.trim().to_owned()),
                other => bail!("azure_ad.{key}: expected a list of strings, found {other}"),
            })
            .collect(),
        Some(other) => bail!("azure_ad.{key}: expected a list of strings, found {other}"),
    }
}

fn object<'a>(v: Option<&'a Value>, key: &str) -> anyhow::Result<Option<&'a Map<String, Value>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => bail!("{key}: expected an object"),
    }
}

/// Equal as settings (weather-api's `aspnet::same`): case-insensitively, instances without the
/// trailing slash.
fn same(key: &str, a: &str, b: &str) -> bool {
    if key == "instance" {
        return a
            .trim_end_matches('/')
            .eq_ignore_ascii_case(b.trim_end_matches('/'));
    }
    a.eq_ignore_ascii_case(b)
}

/// Ours unless only theirs is set; both set and different is an error naming both keys.
fn merge(
    ours: Option<String>,
    our_key: &str,
    theirs: Option<String>,
    their_key: &str,
) -> anyhow::Result<Option<String>> {
    match (ours, theirs) {
        (Some(o), Some(t)) if !same(our_key.rsplit('.').next().unwrap_or(""), &o, &t) => bail!(
            "{their_key}: conflicts with {our_key}: {t:?} here, {o:?} there; keep one of the two"
        ),
        (Some(o), _) => Ok(Some(o)),
        (None, t) => Ok(t),
    }
}

impl ServiceIdentity {
    /// Reads the settings file at `path`.
    pub(crate) fn read(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the settings file {}", path.display()))?;
        let value: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        Self::parse(&value).with_context(|| format!("in {}", path.display()))
    }

    /// The identity settings of a settings document.
    pub(crate) fn parse(file: &Value) -> anyhow::Result<Self> {
        let Value::Object(file) = file else {
            bail!("the settings file must hold a JSON object");
        };
        let empty = Map::new();
        let ours = object(file.get("azure_ad"), "azure_ad")?.unwrap_or(&empty);
        let theirs = object(file.get("AzureAd"), "AzureAd")?.unwrap_or(&empty);
        let t = |k: &str| text(theirs, "AzureAd", k);
        let o = |k: &str| text(ours, "azure_ad", k);

        let policy_theirs = t("SignUpSignInPolicyId")?;
        let domain = t("Domain")?;
        let mut tenant_theirs = t("TenantId")?;
        let mut tenant_key = "AzureAd.TenantId";
        if tenant_theirs.is_none() && policy_theirs.is_some() {
            tenant_theirs = domain.clone();
            tenant_key = "AzureAd.Domain";
        }
        let instance = merge(
            o("instance")?,
            "azure_ad.instance",
            t("Instance")?,
            "AzureAd.Instance",
        )?;
        let tenant_id = merge(
            o("tenant_id")?,
            "azure_ad.tenant_id",
            tenant_theirs,
            tenant_key,
        )?;
        let client_id = merge(
            o("client_id")?,
            "azure_ad.client_id",
            t("ClientId")?,
            "AzureAd.ClientId",
        )?;

        let mut audiences = list(ours, "audiences")?;
        if let Some(a) = t("Audience")? {
            if !audiences.contains(&a) {
                audiences.push(a);
            }
        }
        let allowed_tenants = list(ours, "allowed_tenants")?;

        let b2c_ours = object(ours.get("b2c"), "azure_ad.b2c")?.unwrap_or(&empty);
        let b = |k: &str| text(b2c_ours, "azure_ad.b2c", k);
        let (mut name, mut policy) = (b("tenant_name")?, b("policy")?);
        match (policy_theirs, domain) {
            (Some(p), Some(d)) => {
                let d = d.trim_end_matches(".onmicrosoft.com").to_ascii_lowercase();
                name = merge(name, "azure_ad.b2c.tenant_name", Some(d), "AzureAd.Domain")?;
                policy = merge(policy, "azure_ad.b2c.policy", Some(p), "AzureAd.SignUpSignInPolicyId")?;
            }
            (Some(_), None) => bail!(
                "AzureAd.Domain: must be set with AzureAd.SignUpSignInPolicyId (the B2C tenant, e.g. contoso.onmicrosoft.com)"
            ),
            (None, _) => {}
        }
        let b2c = match (name, policy) {
            (None, None) => None,
            (Some(n), Some(p)) => Some((n, p)),
            (None, Some(_)) => {
                bail!("azure_ad.b2c.tenant_name: must be set when azure_ad.b2c.policy is set")
            }
            (Some(_), None) => {
                bail!("azure_ad.b2c.policy: must be set when azure_ad.b2c.tenant_name is set")
            }
        };
        let (tenant_id, client_id) = match (tenant_id, client_id) {
            (Some(t), Some(c)) => (t, c),
            (None, None) => bail!(
                "no azure_ad.tenant_id and azure_ad.client_id (nor AzureAd.TenantId and AzureAd.ClientId): \
                 this service runs in development mode, with no identity settings to explain the token against"
            ),
            (Some(_), None) => bail!("azure_ad.client_id: must be set when azure_ad.tenant_id is set (the API's application id)"),
            (None, Some(_)) => bail!("azure_ad.tenant_id: must be set when azure_ad.client_id is set (the directory id)"),
        };
        let mut instance =
            instance.unwrap_or_else(|| "https://login.microsoftonline.com/".to_owned());
        if !instance.ends_with('/') {
            instance.push('/');
        }
        Ok(Self {
            instance,
            tenant_id,
            client_id,
            audiences,
            allowed_tenants,
            b2c,
        })
    }

    /// The entra-auth configuration the service builds from these settings (weather-api's
    /// `AzureAdSettings::to_auth_config`), on `clock`.
    pub(crate) fn to_auth_config(
        &self,
        clock: Arc<dyn entra_auth::Clock>,
    ) -> anyhow::Result<AuthConfig> {
        let mut builder = AuthConfig::builder(&self.tenant_id, &self.client_id)
            .instance(&self.instance)
            .clock(clock);
        if !self.audiences.is_empty() {
            let mut audiences = vec![self.client_id.clone(), format!("api://{}", self.client_id)];
            audiences.extend(self.audiences.iter().cloned());
            builder = builder.audiences(audiences);
        }
        if !self.allowed_tenants.is_empty() {
            builder = builder.allowed_tenants(self.allowed_tenants.iter().cloned());
        }
        if let Some((name, policy)) = &self.b2c {
            builder = builder.b2c(name, policy);
        }
        builder
            .build()
            .context("entra-auth refuses these identity settings (the service would not start)")
    }
}

/// `--metadata FILE --keys FILE`: the metadata document at every metadata URL of the
/// configuration, the key set at every other URL (the metadata's `jwks_uri`).
#[derive(Debug)]
pub(crate) struct OfflineFetch {
    metadata_urls: Vec<Url>,
    metadata: Bytes,
    keys: Bytes,
}

impl OfflineFetch {
    pub(crate) fn new(config: &AuthConfig, metadata: &Path, keys: &Path) -> anyhow::Result<Self> {
        let read = |p: &Path| {
            std::fs::read(p)
                .map(Bytes::from)
                .with_context(|| format!("cannot read {}", p.display()))
        };
        Ok(Self {
            metadata_urls: config.metadata_urls().cloned().collect(),
            metadata: read(metadata)?,
            keys: read(keys)?,
        })
    }
}

impl HttpFetch for OfflineFetch {
    fn send(
        &self,
        request: axum::http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<axum::http::Response<Bytes>, HttpError>> {
        let uri = request.uri().to_string();
        let is_metadata = self.metadata_urls.iter().any(|u| u.as_str() == uri);
        let body = if is_metadata {
            self.metadata.clone()
        } else {
            self.keys.clone()
        };
        Box::pin(async move {
            let mut res = axum::http::Response::new(body);
            *res.status_mut() = StatusCode::OK;
            Ok(res)
        })
    }
}

/// `--now`: RFC 3339 UTC (`2026-01-31T12:00:00Z`) or Unix seconds.
pub(crate) fn parse_time(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(secs);
    }
    let bad = || {
        anyhow::anyhow!(
            "--now {s:?}: expected RFC 3339 UTC such as 2026-01-31T12:00:00Z, or Unix seconds"
        )
    };
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
        || !matches!(b[19], b'Z' | b'z')
    {
        return Err(bad());
    }
    let num =
        |r: std::ops::Range<usize>| s.get(r).and_then(|p| p.parse::<i64>().ok()).ok_or_else(bad);
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return Err(bad());
    }
    // Howard Hinnant's days-from-civil
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const TID: &str = "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a";
    const CID: &str = "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c";

    #[test]
    fn azure_ad_section_reads_every_identity_key() {
        let s = ServiceIdentity::parse(&json!({"azure_ad": {
            "instance": "https://login.microsoftonline.us", "tenant_id": "common", "client_id": CID,
            "audiences": ["api://weather"], "allowed_tenants": [TID], "read_role": "R"}}))
        .unwrap();
        assert_eq!(s.instance, "https://login.microsoftonline.us/");
        assert_eq!(
            (s.tenant_id.as_str(), s.client_id.as_str()),
            ("common", CID)
        );
        assert_eq!(s.audiences, ["api://weather"]);
        assert_eq!(s.allowed_tenants, [TID]);
        let config = s.to_auth_config(Arc::new(entra_auth::SystemClock)).unwrap();
        assert_eq!(
            config.audiences(),
            [
                CID.to_owned(),
                format!("api://{CID}"),
                "api://weather".into()
            ]
        );
    }

    #[test]
    fn aspnet_layout_maps_as_weather_api_maps_it() {
        let s = ServiceIdentity::parse(&json!({"AzureAd": {
            "Instance": "https://contoso.b2clogin.com", "ClientId": CID,
            "Domain": "Contoso.onmicrosoft.com", "SignUpSignInPolicyId": "B2C_1_susi",
            "Audience": "api://weather", "CallbackPath": "/signin-oidc"}}))
        .unwrap();
        assert_eq!(s.tenant_id, "Contoso.onmicrosoft.com");
        assert_eq!(s.b2c, Some(("contoso".into(), "B2C_1_susi".into())));
        assert_eq!(s.audiences, ["api://weather"]);
        assert_eq!(s.instance, "https://contoso.b2clogin.com/");
    }

    #[test]
    fn errors_name_the_key() {
        let err = |v: Value| ServiceIdentity::parse(&v).unwrap_err().to_string();
        assert!(err(json!({})).contains("development mode"));
        assert!(err(json!({"azure_ad": {"tenant_id": TID}}))
            .starts_with("azure_ad.client_id: must be set"));
        assert!(err(json!({"azure_ad": {"tenant_id": TID, "client_id": CID},
            "AzureAd": {"TenantId": "00000000-0000-0000-0000-000000000001"}}))
        .starts_with("AzureAd.TenantId: conflicts with azure_ad.tenant_id"));
        assert!(err(json!({"AzureAd": {"ClientId": 42}}))
            .starts_with("AzureAd.ClientId: expected a string"));
        assert!(
            err(json!({"AzureAd": {"SignUpSignInPolicyId": "B2C_1_susi"}}))
                .starts_with("AzureAd.Domain: ")
        );
    }

    #[test]
    fn now_parses_rfc3339_and_unix_seconds() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(parse_time("2023-11-14T22:13:20Z").unwrap(), 1_700_000_000);
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(parse_time("2024-02-29T00:00:00Z").unwrap(), 1_709_164_800);
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2023-13-14T22:13:20Z").is_err());
    }
}
