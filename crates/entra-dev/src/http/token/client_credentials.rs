//! The client credentials grant: app-only tokens with the client's app roles.

use std::time::SystemTime;

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::Request;
use crate::http::endpoint::tenant_for_tokens;
use crate::http::oauth::{internal, is_api_resource, parse_scope, OAuthError, ScopeItem};
use crate::mint;
use crate::request::{Subject, TokenRequest};

/// `grant_type=client_credentials` (v2 `scope={resource}/.default`, v1 `resource`).
pub(super) fn grant(request: Request<'_>) -> Result<Value, OAuthError> {
    let (inner, ep, v1, params) = (request.inner, request.ep, request.v1, request.params);
    let authenticated = request.authenticate()?;
    let client = authenticated.client;
    if !client.is_confidential() {
        return Err(OAuthError::invalid_client(
            7_000_218,
            "The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'. Public clients cannot use the client_credentials grant.",
        ));
    }
    if v1 {
        let resource = params.require("resource")?;
        if !is_api_resource(inner, resource) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_resource",
                500_011,
                format!(
                    "The resource principal named {resource} was not found in the tenant. This \
                     development tenant's API is {}.",
                    inner.config.api_app_id_uri
                ),
            ));
        }
    } else {
        let scope = params.require("scope")?;
        let items: Vec<&str> = scope.split_whitespace().collect();
        let ok = items.len() == 1 && parse_scope(inner, items[0])? == ScopeItem::Default;
        if !ok {
            return Err(OAuthError::invalid_scope(
                1_002_012,
                format!(
                    "The provided value for scope {scope} is not valid. Client credential flows must \
                     have a scope value with /.default suffixed to the resource identifier \
                     (application ID URI), e.g. {}/.default.",
                    inner.config.api_app_id_uri
                ),
            ));
        }
    }
    let roles: Vec<String> = client
        .app_roles
        .iter()
        .filter(|r| inner.config.app_roles.contains(r))
        .cloned()
        .collect();
    let req = TokenRequest {
        subject: Subject::App {
            client_id: client.client_id.clone(),
        },
        version: inner.config.access_token_version,
        roles,
        tenant_id: Some(tenant_for_tokens(inner, ep)),
        b2c_policy: ep.policy.clone(),
        ..TokenRequest::default()
    };
    let token = mint::mint(inner, &req, Some(authenticated.calling())).map_err(internal)?;
    let lifetime = inner.config.token_lifetime.as_secs();
    let mut out = super::bearer_answer(inner, token);
    if v1 {
        let now = crate::keys::unix_secs(SystemTime::now());
        out.insert("expires_on".into(), json!((now + lifetime).to_string()));
        out.insert(
            "resource".into(),
            json!(params.get("resource")?.unwrap_or_default()),
        );
    }
    Ok(Value::Object(out))
}
