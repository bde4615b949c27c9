//! Who issues tokens, with one rule set for both sides (validation and acquisition): the
//! instance URL ([`parse_instance`]), the tenant ([`Tenant`]) and Azure AD B2C names
//! ([`parse_b2c_tenant_name`], [`parse_b2c_policy`]). No I/O here.
//!
//! The rules, each the stricter of the variants the libraries once had, and the one Microsoft
//! Entra ID itself enforces:
//! * an instance is an absolute `https` URL without query, fragment or user information; plain
//!   `http` only for a loopback host (`127.0.0.0/8`, `::1`, `localhost`: the development issuer,
//!   a test server) unless the caller opts in with [`PlainHttp::DangerousAnyHost`] (keys and
//!   tokens over clear text);
//! * a tenant is a directory id GUID, a domain with at least one dot (every verified domain of a
//!   tenant has one: `contoso.onmicrosoft.com`, `contoso.com`) made of DNS labels, or one of the
//!   multi-tenant names `common`, `organizations`, `consumers`;
//! * a B2C tenant name is one DNS label (`contoso`, from `contoso.onmicrosoft.com`);
//! * a B2C policy is a user flow (`B2C_1_...`) or custom policy (`B2C_1A_...`) name: the `B2C_1`
//!   prefix (any case), then letters, digits, `_` and `-`, at most 100 characters.

use std::fmt;

use url::{Host, Url};

/// The public cloud's instance.
pub const PUBLIC_CLOUD: &str = "https://login.microsoftonline.com/";
/// Azure US Government.
pub const US_GOVERNMENT: &str = "https://login.microsoftonline.us/";
/// Azure operated by 21Vianet (China).
pub const CHINA: &str = "https://login.partner.microsoftonline.cn/";

/// Why an authority setting was refused. Each message names the setting and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorityError {
    /// The instance is not a usable absolute URL.
    #[error("invalid instance URL {found:?}: {reason}")]
    InvalidInstance {
        /// The value given (clipped).
        found: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A plain `http` instance on a host that is not loopback.
    #[error("invalid instance URL {found:?}: {INSECURE_HTTP_REASON}")]
    InsecureInstance {
        /// The value given (clipped).
        found: String,
    },
    /// The tenant is neither a GUID, a domain, nor a multi-tenant name.
    #[error(
        "invalid tenant {found:?}: expected the directory (tenant) id GUID or a domain such as \
         contoso.onmicrosoft.com"
    )]
    InvalidTenant {
        /// The value given (clipped).
        found: String,
    },
    /// The Azure AD B2C tenant name is not one DNS label.
    #[error(
        "invalid Azure AD B2C tenant_name {found:?}: expected the tenant's name such as contoso \
         (letters, digits and '-')"
    )]
    InvalidB2cTenantName {
        /// The value given (clipped).
        found: String,
    },
    /// The Azure AD B2C policy is not a user flow or custom policy name.
    #[error(
        "invalid Azure AD B2C policy {found:?}: expected a user flow or custom policy name such as \
         B2C_1_signin or B2C_1A_signin"
    )]
    InvalidB2cPolicy {
        /// The value given (clipped).
        found: String,
    },
}

impl AuthorityError {
    /// The refused value (clipped).
    pub fn found(&self) -> &str {
        match self {
            Self::InvalidInstance { found, .. }
            | Self::InsecureInstance { found }
            | Self::InvalidTenant { found }
            | Self::InvalidB2cTenantName { found }
            | Self::InvalidB2cPolicy { found } => found,
        }
    }
}

/// What an [`AuthorityError::InsecureInstance`] says: the rule and the two ways out.
pub const INSECURE_HTTP_REASON: &str = "plain http is accepted only for a loopback host \
     (127.0.0.0/8, ::1, localhost): use https, or opt in with dangerous_allow_insecure_http() \
     for a test server (keys and tokens then travel in clear text)";

/// Whether a plain `http` instance is accepted ([`parse_instance`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PlainHttp {
    /// Only on a loopback host (the default).
    #[default]
    LoopbackOnly,
    /// On any host: keys and tokens travel in clear text. For test networks only.
    DangerousAnyHost,
}

/// At most 120 characters of `s`, control characters replaced by `?`: what an error may echo.
pub fn clip(s: &str) -> String {
    s.chars()
        .take(120)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Whether `s` is a GUID in the 8-4-4-4-12 hexadecimal form.
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether `url`'s host is loopback: `localhost`, an IPv4 address in `127.0.0.0/8`, or `::1`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Parses an instance URL (a missing trailing `/` is added).
///
/// ```
/// use entra_core::authority::{parse_instance, AuthorityError, PlainHttp};
/// let dev = parse_instance("http://127.0.0.1:8080/dev-issuer", PlainHttp::LoopbackOnly)?;
/// assert_eq!(dev.as_str(), "http://127.0.0.1:8080/dev-issuer/");
/// assert!(matches!(
///     parse_instance("http://login.example.com/", PlainHttp::LoopbackOnly),
///     Err(AuthorityError::InsecureInstance { .. })
/// ));
/// # Ok::<(), AuthorityError>(())
/// ```
///
/// # Errors
/// [`AuthorityError::InvalidInstance`] unless `s` is an absolute http(s) URL with a host and
/// without query, fragment or user information; [`AuthorityError::InsecureInstance`] for plain
/// `http` on a host that is not loopback, unless `plain_http` is
/// [`PlainHttp::DangerousAnyHost`].
pub fn parse_instance(s: &str, plain_http: PlainHttp) -> Result<Url, AuthorityError> {
    let invalid = |reason| AuthorityError::InvalidInstance {
        found: clip(s),
        reason,
    };
    let mut with_slash = s.trim().to_owned();
    if !with_slash.ends_with('/') {
        with_slash.push('/');
    }
    let url = Url::parse(&with_slash).map_err(|_| invalid("expected an absolute https URL"))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(invalid("expected an https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("expected a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("expected no query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("expected no user information"));
    }
    if url.scheme() == "http" && plain_http == PlainHttp::LoopbackOnly && !is_loopback(&url) {
        return Err(AuthorityError::InsecureInstance { found: clip(s) });
    }
    Ok(url)
}

/// A tenant, parsed: a directory id, a domain, or a multi-tenant name.
///
/// ```
/// use entra_core::authority::Tenant;
/// let t = Tenant::parse("7D6C5B4A-3F2E-4D1C-9B8A-0F1E2D3C4B5A")?;
/// assert_eq!(t.as_str(), "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a");
/// assert_eq!(Tenant::parse("Organizations")?, Tenant::Organizations);
/// assert!(Tenant::parse("contoso").is_err(), "a domain has a dot");
/// # Ok::<(), entra_core::authority::AuthorityError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Tenant {
    /// A directory (tenant) id GUID, in lower case.
    Id(String),
    /// One of the tenant's domains, in lower case (`contoso.onmicrosoft.com`).
    Domain(String),
    /// `common`: work, school and personal accounts.
    Common,
    /// `organizations`: work and school accounts.
    Organizations,
    /// `consumers`: personal Microsoft accounts.
    Consumers,
}

impl Tenant {
    /// Parses a tenant (surrounding whitespace ignored, any case).
    ///
    /// # Errors
    /// [`AuthorityError::InvalidTenant`].
    pub fn parse(s: &str) -> Result<Self, AuthorityError> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "common" => return Ok(Self::Common),
            "organizations" => return Ok(Self::Organizations),
            "consumers" => return Ok(Self::Consumers),
            _ => {}
        }
        if is_guid(&lower) {
            return Ok(Self::Id(lower));
        }
        let is_domain = lower.contains('.') && lower.len() <= 253 && lower.split('.').all(is_label);
        if is_domain {
            Ok(Self::Domain(lower))
        } else {
            Err(AuthorityError::InvalidTenant { found: clip(s) })
        }
    }

    /// The path segment: the GUID, the domain, `common`, `organizations` or `consumers`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Id(s) | Self::Domain(s) => s,
            Self::Common => "common",
            Self::Organizations => "organizations",
            Self::Consumers => "consumers",
        }
    }

    /// Whether this names many tenants (`common`, `organizations`, `consumers`).
    pub fn is_multi_tenant(&self) -> bool {
        matches!(self, Self::Common | Self::Organizations | Self::Consumers)
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A DNS label: 1 to 63 letters, digits and `-`, not starting or ending with `-`.
fn is_label(l: &str) -> bool {
    (1..=63).contains(&l.len())
        && !l.starts_with('-')
        && !l.ends_with('-')
        && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
}

/// The Azure AD B2C tenant name (`contoso`) of `contoso` or `contoso.onmicrosoft.com`, in lower
/// case.
///
/// # Errors
/// [`AuthorityError::InvalidB2cTenantName`] unless the name is one DNS label.
pub fn parse_b2c_tenant_name(s: &str) -> Result<String, AuthorityError> {
    let lower = s.trim().to_ascii_lowercase();
    let name = lower.strip_suffix(".onmicrosoft.com").unwrap_or(&lower);
    if is_label(name) {
        Ok(name.to_owned())
    } else {
        Err(AuthorityError::InvalidB2cTenantName { found: clip(s) })
    }
}

/// An Azure AD B2C policy name, as given (user flow `B2C_1_...` or custom policy `B2C_1A_...`).
///
/// # Errors
/// [`AuthorityError::InvalidB2cPolicy`] unless the name starts with `B2C_1` (any case) and has
/// at most 100 letters, digits, `_` and `-`.
pub fn parse_b2c_policy(s: &str) -> Result<String, AuthorityError> {
    let valid = s.len() <= 100
        && s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("B2C_1"))
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    if valid {
        Ok(s.to_owned())
    } else {
        Err(AuthorityError::InvalidB2cPolicy { found: clip(s) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(s: &str) -> Result<Url, AuthorityError> {
        parse_instance(s, PlainHttp::LoopbackOnly)
    }

    #[test]
    fn tenant_guid_is_lower_cased() {
        assert_eq!(
            Tenant::parse(" 7D6C5B4A-3F2E-4D1C-9B8A-0F1E2D3C4B5A ").unwrap(),
            Tenant::Id("7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a".into())
        );
    }

    #[test]
    fn tenant_domains_of_every_cloud_are_accepted_in_lower_case() {
        for (given, kept) in [
            ("Contoso.onmicrosoft.com", "contoso.onmicrosoft.com"),
            ("contoso.onmicrosoft.us", "contoso.onmicrosoft.us"),
            (
                "contoso.partner.onmschina.cn",
                "contoso.partner.onmschina.cn",
            ),
            ("my-org.example", "my-org.example"),
        ] {
            assert_eq!(
                Tenant::parse(given).unwrap(),
                Tenant::Domain(kept.into()),
                "{given}"
            );
        }
    }

    #[test]
    fn multi_tenant_names_are_recognised_in_any_case() {
        assert_eq!(Tenant::parse("Common").unwrap(), Tenant::Common);
        assert_eq!(
            Tenant::parse("organizations").unwrap(),
            Tenant::Organizations
        );
        assert_eq!(Tenant::parse("CONSUMERS").unwrap(), Tenant::Consumers);
        assert!(Tenant::parse("common").unwrap().is_multi_tenant());
        assert!(!Tenant::parse("contoso.com").unwrap().is_multi_tenant());
    }

    #[test]
    fn tenants_that_are_no_guid_nor_domain_are_refused_naming_the_value() {
        for bad in [
            "",
            "t1",
            "contoso",
            "not a tenant",
            "a/b",
            ".contoso.com",
            "contoso.com.",
            "-contoso.com",
            "contoso-.com",
            "con_toso.com",
            "contoso..com",
        ] {
            let err = Tenant::parse(bad).unwrap_err();
            assert_eq!(
                err,
                AuthorityError::InvalidTenant { found: bad.into() },
                "{bad:?}"
            );
        }
        let long = format!("{}.com", "a".repeat(300));
        assert!(matches!(
            Tenant::parse(&long),
            Err(AuthorityError::InvalidTenant { found }) if found.len() == 120
        ));
        let err = Tenant::parse("contoso").unwrap_err();
        assert!(err.to_string().contains("contoso.onmicrosoft.com"), "{err}");
    }

    #[test]
    fn https_instances_get_a_trailing_slash() {
        for (given, kept) in [
            (
                "https://login.microsoftonline.us",
                "https://login.microsoftonline.us/",
            ),
            (CHINA, CHINA),
            (
                "https://contoso.b2clogin.com",
                "https://contoso.b2clogin.com/",
            ),
            (" https://login.test/base ", "https://login.test/base/"),
        ] {
            assert_eq!(instance(given).unwrap().as_str(), kept, "{given}");
        }
    }

    #[test]
    fn plain_http_is_accepted_on_every_loopback_host() {
        for given in [
            "http://127.0.0.1:8080/dev-issuer",
            "http://127.1.2.3/",
            "http://localhost:9/",
            "http://LOCALHOST/",
            "http://[::1]:8080/",
        ] {
            assert!(is_loopback(&instance(given).unwrap()), "{given}");
        }
    }

    #[test]
    fn plain_http_remote_instance_is_refused_naming_https_and_the_opt_in() {
        for given in [
            "http://login.example.com/",
            "http://example.com",
            "http://10.0.0.1/",
            "http://[::2]/",
            "http://localhost.example.com/",
            "http://128.0.0.1/",
        ] {
            let err = instance(given).unwrap_err();
            assert!(
                matches!(err, AuthorityError::InsecureInstance { .. }),
                "{given}: {err}"
            );
            let text = err.to_string();
            assert!(text.contains("https"), "{text}");
            assert!(text.contains("dangerous_allow_insecure_http()"), "{text}");
        }
    }

    #[test]
    fn dangerous_any_host_accepts_plain_http_anywhere() {
        let url = parse_instance("http://example.com", PlainHttp::DangerousAnyHost).unwrap();
        assert_eq!(url.as_str(), "http://example.com/");
    }

    #[test]
    fn unusable_instance_urls_are_refused_with_the_reason() {
        for (given, reason) in [
            ("ftp://x/", "expected an https URL"),
            ("not a url", "expected an absolute https URL"),
            ("https://login.test/?a=1", "expected no query or fragment"),
            ("https://login.test/#f", "expected no query or fragment"),
            ("https://user@login.test/", "expected no user information"),
            (
                "https://user:pw@login.test/",
                "expected no user information",
            ),
        ] {
            assert_eq!(
                instance(given).unwrap_err(),
                AuthorityError::InvalidInstance {
                    found: given.into(),
                    reason
                },
                "{given}"
            );
        }
    }

    #[test]
    fn b2c_tenant_name_drops_the_onmicrosoft_suffix() {
        assert_eq!(parse_b2c_tenant_name("Contoso").unwrap(), "contoso");
        assert_eq!(
            parse_b2c_tenant_name("contoso.onmicrosoft.com").unwrap(),
            "contoso"
        );
        for bad in ["con toso", "", "con_toso", "a.b", "-contoso"] {
            assert_eq!(
                parse_b2c_tenant_name(bad).unwrap_err(),
                AuthorityError::InvalidB2cTenantName { found: bad.into() },
                "{bad:?}"
            );
        }
    }

    #[test]
    fn b2c_policies_are_user_flows_or_custom_policies() {
        for ok in [
            "B2C_1_signin",
            "b2c_1_susi",
            "B2C_1A_signin",
            "B2C_1_legacy-2",
        ] {
            assert_eq!(parse_b2c_policy(ok).unwrap(), ok);
        }
        let long = format!("B2C_1_{}", "a".repeat(100));
        for bad in ["signin", "p", "", "B2C_1 x", "B2C_1/../x", long.as_str()] {
            assert!(
                matches!(
                    parse_b2c_policy(bad),
                    Err(AuthorityError::InvalidB2cPolicy { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn clip_keeps_120_characters_and_hides_controls() {
        assert_eq!(clip("a\nb"), "a?b");
        assert_eq!(clip(&"x".repeat(500)).len(), 120);
    }
}
