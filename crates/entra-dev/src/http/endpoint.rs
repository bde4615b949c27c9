//! Where a request came in: the [`Endpoint`] extractor resolves the `/{tenant}` or `/{tenant}/{policy}` part
//! of the path (development tenant, `common`, `organizations`, or a B2C tenant and user flow), so that each
//! handler serves both shapes.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::StatusCode;

use crate::http::oauth::OAuthError;
use crate::state::IssuerState;

/// The literal multi-tenant placeholder, as in Entra's documents.
pub(crate) const TENANT_TEMPLATE: &str = "{tenantid}";

/// Where a request came in: which tenant path, and which B2C policy if any.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    /// The tenant path segment as it appears in URLs we generate.
    pub(crate) segment: String,
    /// The `tid` to put in issuers: a GUID or the `{tenantid}` template (multi-tenant aliases).
    pub(crate) issuer_tenant: String,
    /// B2C user flow.
    pub(crate) policy: Option<String>,
}

impl Endpoint {
    pub(crate) fn base(&self, inner: &IssuerState) -> String {
        match &self.policy {
            Some(p) => format!("{}{}/{}", inner.instance, self.segment, p),
            None => format!("{}{}", inner.instance, self.segment),
        }
    }
}

/// Resolves a workforce tenant segment: the tenant GUID, `common` or `organizations`.
pub(crate) fn resolve_tenant(inner: &IssuerState, segment: &str) -> Result<Endpoint, OAuthError> {
    let tid = &inner.config.tenant_id;
    if segment.eq_ignore_ascii_case(tid) {
        return Ok(Endpoint {
            segment: tid.clone(),
            issuer_tenant: tid.clone(),
            policy: None,
        });
    }
    if segment.eq_ignore_ascii_case("common") || segment.eq_ignore_ascii_case("organizations") {
        return Ok(Endpoint {
            segment: segment.to_ascii_lowercase(),
            issuer_tenant: TENANT_TEMPLATE.to_owned(),
            policy: None,
        });
    }
    Err(unknown_tenant(segment))
}

/// Resolves a B2C path: `{name}.onmicrosoft.com` (or the tenant GUID) and a policy.
pub(crate) fn resolve_b2c(
    inner: &IssuerState,
    segment: &str,
    policy: &str,
) -> Result<Endpoint, OAuthError> {
    let domain = format!("{}.onmicrosoft.com", inner.config.b2c_tenant_name);
    let known = segment.eq_ignore_ascii_case(&domain)
        || segment.eq_ignore_ascii_case(&inner.config.tenant_id);
    let valid_policy = !policy.is_empty()
        && policy
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !known {
        return Err(unknown_tenant(segment));
    }
    if !valid_policy {
        return Err(OAuthError::new(
            StatusCode::NOT_FOUND,
            "invalid_request",
            90_002,
            format!("the policy '{policy}' does not exist"),
        ));
    }
    Ok(Endpoint {
        segment: domain,
        issuer_tenant: inner.config.tenant_id.clone(),
        policy: Some(policy.to_owned()),
    })
}

fn unknown_tenant(segment: &str) -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_tenant",
        90_002,
        format!(
            "Tenant '{segment}' not found. entra-dev serves the development tenant, 'common' and \
             'organizations' (and B2C paths under {{name}}.onmicrosoft.com/{{policy}})."
        ),
    )
}

/// The `tid` for tokens issued at an endpoint: multi-tenant aliases issue for the home (development) tenant.
pub(crate) fn tenant_for_tokens(inner: &IssuerState, ep: &Endpoint) -> String {
    if ep.issuer_tenant == TENANT_TEMPLATE {
        inner.config.tenant_id.clone()
    } else {
        ep.issuer_tenant.clone()
    }
}

impl FromRequestParts<Arc<IssuerState>> for Endpoint {
    type Rejection = OAuthError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<IssuerState>,
    ) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                OAuthError::invalid_request(
                    90_002,
                    format!(
                        "The tenant or policy segment of the path cannot be read ({rejection}); use \
                         {{instance}}{{tenant}}/... with a tenant id, 'common' or 'organizations'."
                    ),
                )
            })?;
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let tenant = param("tenant").unwrap_or_default();
        match param("policy") {
            Some(policy) => resolve_b2c(state, tenant, policy),
            None => resolve_tenant(state, tenant),
        }
    }
}
