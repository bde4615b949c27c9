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
