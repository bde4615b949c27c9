//! OpenID Connect metadata: parsing from bytes and the issuer rules. No I/O here.

use std::borrow::Cow;

use serde::Deserialize;
use url::Url;

use crate::authority::is_guid;

/// The literal placeholder of multi-tenant issuers and key `issuer` properties.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Why a metadata document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// Not a JSON object with the expected fields.
    #[error("the metadata document is not valid JSON with string issuer and jwks_uri (line {line}, column {column})")]
    Json {
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
    },
    /// `issuer` is empty or not an http(s) URL (templates allowed).
    #[error("the metadata issuer is not an http(s) URL")]
    InvalidIssuer,
    /// `jwks_uri` is not an http(s) URL.
    #[error("the metadata jwks_uri is not an http(s) URL")]
    InvalidJwksUri,
}

#[derive(Deserialize)]
struct RawMetadata {
    issuer: String,
    jwks_uri: String,
}

/// The parts of an OpenID metadata document this library uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenIdMetadata {
    issuer: String,
    jwks_uri: Url,
}

impl OpenIdMetadata {
    /// Parses a metadata document.
    ///
    /// ```
    /// use entra_auth::discovery::OpenIdMetadata;
    /// let m = OpenIdMetadata::parse(br#"{"issuer":"https://login.microsoftonline.com/{tenantid}/v2.0",
    ///     "jwks_uri":"https://login.microsoftonline.com/common/discovery/v2.0/keys"}"#).unwrap();
    /// assert!(m.is_template());
    /// ```
    ///
    /// # Errors
    /// [`DiscoveryError`] when the document lacks a usable `issuer` or `jwks_uri`.
    pub fn parse(bytes: &[u8]) -> Result<Self, DiscoveryError> {
        let raw: RawMetadata = serde_json::from_slice(bytes).map_err(|e| DiscoveryError::Json {
            line: e.line(),
            column: e.column(),
        })?;
        let issuer_probe = raw.issuer.replace(TENANT_PLACEHOLDER, "tenant");
        match Url::parse(&issuer_probe) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
            _ => return Err(DiscoveryError::InvalidIssuer),
        }
        let jwks_uri = Url::parse(&raw.jwks_uri).map_err(|_| DiscoveryError::InvalidJwksUri)?;
        if jwks_uri.scheme() != "https" && jwks_uri.scheme() != "http" {
            return Err(DiscoveryError::InvalidJwksUri);
        }
        Ok(Self {
            issuer: raw.issuer,
            jwks_uri,
        })
    }

    /// The issuer, possibly a template containing `{tenantid}`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Where the signing keys are.
    pub fn jwks_uri(&self) -> &Url {
        &self.jwks_uri
    }

    /// Whether the issuer is a multi-tenant template.
    pub fn is_template(&self) -> bool {
        self.issuer.contains(TENANT_PLACEHOLDER)
    }
}

/// The identity provider refused a metadata document with 400 or 404 before any key of that
/// authority was ever loaded: a configuration mistake, not an outage. Entra answers a directory
/// (tenant) id that does not exist `400` with `AADSTS90002: Tenant '...' not found`, and so does a
/// tenant path inside the instance URL (the tenant then appears twice in the metadata URL).
///
/// [`TokenValidator::configuration_error`](crate::TokenValidator::configuration_error) returns it
/// while it lasts; the background refresh keeps retrying (with its backoff) in case the tenant is
/// being created.
///
/// ```
/// use entra_auth::discovery::MetadataRefused;
/// let refused = MetadataRefused::from_response(
///     "https://login.microsoftonline.com/11111111-2222-4333-8444-555555555555/v2.0/.well-known/openid-configuration".parse().unwrap(),
///     http::StatusCode::BAD_REQUEST,
///     br#"{"error":"invalid_tenant","error_description":"AADSTS90002: Tenant '11111111-2222-4333-8444-555555555555' not found.\r\nTrace ID: x","error_codes":[90002]}"#,
///     None,
/// );
/// assert!(refused.is_unknown_tenant());
/// assert_eq!(refused.error_description(), Some("AADSTS90002: Tenant '11111111-2222-4333-8444-555555555555' not found."));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRefused {
    url: Url,
    status: http::StatusCode,
    error: Option<String>,
    error_description: Option<String>,
    code: Option<u64>,
    authority: Option<String>,
}

#[derive(Deserialize)]
struct RawRefusal {
    error: Option<String>,
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u64>,
}

impl MetadataRefused {
    /// Reads the identity provider's answer to `url` (an OAuth error body when it is one: `error`,
    /// the first line of `error_description`, `error_codes`); `authority` is the authority's
    /// [`name`](crate::AuthConfig::name). Text from the body is clipped and its control characters
    /// replaced.
    pub fn from_response(
        url: Url,
        status: http::StatusCode,
        body: &[u8],
        authority: Option<&str>,
    ) -> Self {
        let raw = serde_json::from_slice::<RawRefusal>(body).ok();
        let error_description = raw
            .as_ref()
            .and_then(|r| r.error_description.as_deref())
            .and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty()))
            .map(|l| l.split(" Trace ID:").next().unwrap_or(l).trim_end())
            .map(crate::error::clip);
        let code = raw
            .as_ref()
            .and_then(|r| r.error_codes.first().copied())
            .or_else(|| {
                let d = error_description.as_deref()?;
                let digits = d.strip_prefix("AADSTS")?;
                let end = digits
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(digits.len());
                digits[..end].parse().ok()
            });
        Self {
            url,
            status,
            error: raw.and_then(|r| r.error).map(|e| crate::error::clip(&e)),
            error_description,
            code,
            authority: authority.map(str::to_owned),
        }
    }

    /// The metadata URL that was refused.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The answer's status (400 or 404).
    pub fn status(&self) -> http::StatusCode {
        self.status
    }

    /// The OAuth `error` of the answer (`invalid_tenant`), when it had one.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The first line of the answer's `error_description` (`AADSTS90002: Tenant '...' not
    /// found.`), when it had one.
    pub fn error_description(&self) -> Option<&str> {
        self.error_description.as_deref()
    }

    /// The AADSTS code (`90002`), from `error_codes` or the description.
    pub fn code(&self) -> Option<u64> {
        self.code
    }

    /// Whether the identity provider says the tenant does not exist (AADSTS90002).
    pub fn is_unknown_tenant(&self) -> bool {
        self.code == Some(90_002)
    }

    /// The name of the authority whose metadata was refused, when it has one.
    pub fn authority(&self) -> Option<&str> {
        self.authority.as_deref()
    }
}

impl std::fmt::Display for MetadataRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the identity provider answered {} to {}",
            self.status, self.url
        )?;
        if let Some(d) = &self.error_description {
            write!(f, " ({d})")?;
        }
        f.write_str(
            "; a configuration error, not an outage: check the tenant (directory id or domain) \
             and the instance (the cloud's base URL, without a tenant path)",
        )
    }
}

/// Why a token's issuer could not be derived from a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TemplateError {
    MissingTid,
    TidNotGuid,
}

/// The issuer expected for a token with `tid`: the template with `{tenantid}` replaced, or the
/// issuer itself when it is no template.
pub(crate) fn expected_issuer<'a>(
    issuer: &'a str,
    tid: Option<&str>,
) -> Result<Cow<'a, str>, TemplateError> {
    if !issuer.contains(TENANT_PLACEHOLDER) {
        return Ok(Cow::Borrowed(issuer));
    }
    let tid = tid.ok_or(TemplateError::MissingTid)?;
    if !is_guid(tid) {
        return Err(TemplateError::TidNotGuid);
    }
    Ok(Cow::Owned(issuer.replace(TENANT_PLACEHOLDER, tid)))
}

/// The tenant segment of an issuer: the first path segment (or host label) that is a GUID.
pub(crate) fn tenant_segment(issuer: &str) -> Option<&str> {
    let rest = issuer.split_once("://").map_or(issuer, |(_, r)| r);
    let mut parts = rest.split('/');
    let _host = parts.next();
    parts.find(|seg| is_guid(seg))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TID: &str = "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a";

    #[test]
    fn parses_single_tenant_metadata() {
        let m = OpenIdMetadata::parse(
            format!(
                r#"{{"issuer":"https://login.microsoftonline.com/{TID}/v2.0","jwks_uri":"https://login.microsoftonline.com/{TID}/discovery/v2.0/keys","other":[1,2]}}"#
            )
            .as_bytes(),
        )
        .unwrap();
        assert!(!m.is_template());
        assert_eq!(m.jwks_uri().path(), format!("/{TID}/discovery/v2.0/keys"));
    }

    #[test]
    fn rejects_missing_or_bad_fields() {
        assert!(matches!(
            OpenIdMetadata::parse(b"{}"),
            Err(DiscoveryError::Json { .. })
        ));
        assert!(matches!(
            OpenIdMetadata::parse(br#"{"issuer":"x","jwks_uri":"https://a/"}"#),
            Err(DiscoveryError::InvalidIssuer)
        ));
        assert!(matches!(
            OpenIdMetadata::parse(br#"{"issuer":"https://a/","jwks_uri":"file:///etc/passwd"}"#),
            Err(DiscoveryError::InvalidJwksUri)
        ));
        assert!(
            matches!(
                OpenIdMetadata::parse(b"<html>"),
                Err(DiscoveryError::Json { line: 1, column: 1 })
            ),
            "an HTML page is refused as JSON at its first byte"
        );
    }

    #[test]
    fn template_substitutes_guid_tid_only() {
        let t = "https://login.microsoftonline.com/{tenantid}/v2.0";
        assert_eq!(
            expected_issuer(t, Some(TID)).unwrap(),
            format!("https://login.microsoftonline.com/{TID}/v2.0")
        );
        assert_eq!(expected_issuer(t, None), Err(TemplateError::MissingTid));
        assert_eq!(
            expected_issuer(t, Some("../evil")),
            Err(TemplateError::TidNotGuid)
        );
        assert_eq!(expected_issuer("https://x/", None).unwrap(), "https://x/");
    }

    #[test]
    fn tenant_segment_finds_the_guid_in_every_issuer_shape() {
        for iss in [
            format!("https://login.microsoftonline.com/{TID}/v2.0"),
            format!("https://sts.windows.net/{TID}/"),
            format!("https://contoso.b2clogin.com/{TID}/v2.0/"),
            format!("https://contoso.b2clogin.com/tfp/{TID}/b2c_1_susi/v2.0/"),
            format!("https://{TID}.ciamlogin.com/{TID}/v2.0"),
            format!("http://127.0.0.1:8080/dev-issuer/{TID}/v2.0"),
        ] {
            assert_eq!(tenant_segment(&iss), Some(TID), "{iss}");
        }
        assert_eq!(tenant_segment("https://x.example/common/v2.0"), None);
    }
}
