//! The managed identity endpoints of Azure hosts, emulated on loopback: the instance metadata service
//! of a VM (`GET {instance}metadata/identity/oauth2/token?api-version=2018-02-01&resource=...`, header
//! `Metadata: true`, user-assigned by `client_id`, `object_id` or `msi_res_id`) and the identity endpoint
//! of App Service, Functions and Container Apps (`GET {instance}msi/token?api-version=2019-08-01&resource=...`,
//! header `X-IDENTITY-HEADER: {identity_header}`, user-assigned by `client_id`, `object_id` (or
//! `principal_id`) or `mi_res_id`). They issue tokens for
//! [`DevIssuerConfig::managed_identities`](crate::DevIssuerConfig::managed_identities), signed with the
//! issuer's keys, for the tenant's APIs and for `api://AzureADTokenExchange` (the token a confidential
//! client sends as its client assertion when the identity is its federated credential).
//!
//! `PUT {instance}control/managed-identity` with `{"status": 429, "count": 3}` makes the next three
//! answers of either endpoint that status (429, 410, 404, 5xx: what the instance metadata service answers
//! under load or while its agent starts), so clients' retries are tested for real.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use crate::config::{DevManagedIdentity, ManagedIdentityRef};
use crate::credential::TOKEN_EXCHANGE_AUDIENCE;
use crate::http::client_auth::constant_time_eq;
use crate::http::oauth::{json_response, no_store};
use crate::mint;
use crate::request::{Subject, TokenRequest, TokenVersion};
use crate::state::{Counters, IssuerState, ManagedIdentityFault};

/// The api-version of the instance metadata service's token endpoint that clients send.
const IMDS_API_VERSIONS: [&str; 2] = ["2018-02-01", "2019-08-01"];
/// The api-version of the App Service identity endpoint.
const APP_SERVICE_API_VERSION: &str = "2019-08-01";

/// Which emulated endpoint answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Host {
    Imds,
    AppService,
}

/// `GET metadata/identity/oauth2/token`: the instance metadata service.
pub(crate) async fn imds(
    State(state): State<Arc<IssuerState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    Counters::bump(&state.counters.managed_identity);
    let refuse =
        |status: StatusCode, error: &str, description: &str| imds_error(status, error, description);
    if headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required metadata header not specified",
        );
    }
    if headers.contains_key("x-forwarded-for") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Request contains X-Forwarded-For header",
        );
    }
    if let Some(fault) = state.take_managed_identity_fault() {
        return fault_answer(Host::Imds, fault);
    }
    let params = parse_query(query.as_deref());
    match params.get("api-version").map(String::as_str) {
        None => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Required query variable 'api-version' is missing",
            )
        }
        Some(v) if !IMDS_API_VERSIONS.contains(&v) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid API version: the identity endpoint supports 2018-02-01 and 2019-08-01",
            )
        }
        Some(_) => {}
    }
    issue(state, Host::Imds, params, "msi_res_id").await
}

/// `GET msi/token`: the App Service (Functions, Container Apps) identity endpoint.
pub(crate) async fn app_service(
    State(state): State<Arc<IssuerState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    Counters::bump(&state.counters.managed_identity);
    let given = headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok());
    if given
        .is_none_or(|g| !constant_time_eq(g.as_bytes(), state.config.identity_header.as_bytes()))
    {
        return app_service_error(
            StatusCode::BAD_REQUEST,
            "The request is missing the X-IDENTITY-HEADER header, or its value is not this \
             application's IDENTITY_HEADER",
        );
    }
    if let Some(fault) = state.take_managed_identity_fault() {
        return fault_answer(Host::AppService, fault);
    }
    let params = parse_query(query.as_deref());
    if params.get("api-version").map(String::as_str) != Some(APP_SERVICE_API_VERSION) {
        return app_service_error(
            StatusCode::BAD_REQUEST,
            "The api-version is missing or not supported: use api-version=2019-08-01",
        );
    }
    issue(state, Host::AppService, params, "mi_res_id").await
}

/// The identity a request names, its resource checked, and the token answer.
async fn issue(
    state: Arc<IssuerState>,
    host: Host,
    params: HashMap<String, String>,
    resource_id_param: &'static str,
) -> Response {
    let refuse = |status: StatusCode, error: &str, description: String| match host {
        Host::Imds => imds_error(status, error, &description),
        Host::AppService => app_service_error(status, &description),
    };
    let Some(resource) = params.get("resource").filter(|r| !r.is_empty()).cloned() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required query variable 'resource' is missing".to_owned(),
        );
    };
    let object_id = params
        .get("object_id")
        .or_else(|| params.get("principal_id"));
    let named: Vec<ManagedIdentityRef<'_>> = [
        params
            .get("client_id")
            .map(|v| ManagedIdentityRef::ClientId(v)),
        object_id.map(|v| ManagedIdentityRef::ObjectId(v)),
        params
            .get(resource_id_param)
            .map(|v| ManagedIdentityRef::ResourceId(v)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if named.len() > 1 {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!(
                "Only one of client_id, object_id and {resource_id_param} may name the identity"
            ),
        );
    }
    let Some(identity) = state
        .config
        .managed_identity(named.first().copied())
        .cloned()
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Identity not found".to_owned(),
        );
    };
    let audience = if resource.trim_end_matches('/') == TOKEN_EXCHANGE_AUDIENCE {
        TOKEN_EXCHANGE_AUDIENCE.to_owned()
    } else {
        match state.config.resource(&resource) {
            Some(r) => match state.config.access_token_version {
                TokenVersion::V2 => r.client_id.to_owned(),
                TokenVersion::V1 => r.app_id_uri.to_owned(),
            },
            None => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_resource",
                    format!(
                    "AADSTS500011: The resource principal named {resource} was not found in the \
                         tenant. entra-dev issues managed identity tokens for its APIs and for {}.",
                    TOKEN_EXCHANGE_AUDIENCE
                ),
                )
            }
        }
    };
    let inner = Arc::clone(&state);
    let minted =
        tokio::task::spawn_blocking(move || mint_for_identity(&inner, &identity, audience)).await;
    let (token, identity) = match minted {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "minting a managed identity token failed");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unknown_error",
                "entra-dev failed to sign the token".to_owned(),
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "managed identity token task failed");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unknown_error",
                "entra-dev failed to sign the token".to_owned(),
            );
        }
    };
    let now = crate::keys::unix_secs(SystemTime::now());
    let lifetime = state.config.token_lifetime.as_secs();
    let expires_on = now + lifetime;
    let body = match host {
        // The instance metadata service answers every number as a string.
        Host::Imds => json!({
            "access_token": token,
            "client_id": identity.client_id,
            "expires_in": lifetime.to_string(),
            "expires_on": expires_on.to_string(),
            "ext_expires_in": lifetime.to_string(),
            "not_before": now.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }),
        // App Service answers expires_on as a number.
        Host::AppService => json!({
            "access_token": token,
            "expires_on": expires_on,
            "resource": resource,
            "token_type": "Bearer",
            "client_id": identity.client_id,
        }),
    };
    no_store(json_response(StatusCode::OK, &body))
}

/// An app-only token of `identity` for `audience`: `oid` = `sub` = its object id, `azp`/`appid` its
/// client id, `xms_mirid` its resource id (user-assigned).
fn mint_for_identity(
    inner: &IssuerState,
    identity: &DevManagedIdentity,
    audience: String,
) -> Result<(String, DevManagedIdentity), crate::DevIssuerError> {
    let mut extra = serde_json::Map::new();
    extra.insert("oid".into(), json!(identity.object_id));
    extra.insert("sub".into(), json!(identity.object_id));
    if let Some(id) = &identity.resource_id {
        extra.insert("xms_mirid".into(), json!(id));
    }
    let req = TokenRequest {
        subject: Subject::App {
            client_id: identity.client_id.clone(),
        },
        version: inner.config.access_token_version,
        audience: Some(audience),
        extra_claims: extra,
        ..TokenRequest::default()
    };
    let token = mint::mint(inner, &req, None)?;
    Ok((token, identity.clone()))
}

fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The instance metadata service's error body.
fn imds_error(status: StatusCode, error: &str, description: &str) -> Response {
    no_store(json_response(
        status,
        &json!({ "error": error, "error_description": description }),
    ))
}

/// The App Service identity endpoint's error body.
fn app_service_error(status: StatusCode, message: &str) -> Response {
    no_store(json_response(
        status,
        &json!({
            "statusCode": status.as_u16(),
            "message": message,
            "correlationId": uuid::Uuid::new_v4().to_string(),
        }),
    ))
}

/// A switched-on fault: the status with the body the endpoint sends with it.
fn fault_answer(host: Host, fault: ManagedIdentityFault) -> Response {
    let status = fault.status;
    let description = match status.as_u16() {
        429 => "Too many requests: the identity endpoint is throttling this client",
        410 => "The identity endpoint is starting or updating: retry for up to 70 seconds",
        404 => "The identity endpoint is updating: retry",
        _ => "The identity endpoint failed: retry",
    };
    let mut res = match host {
        Host::Imds => imds_error(status, "unknown_error", description),
        Host::AppService => app_service_error(status, description),
    };
    if status == StatusCode::TOO_MANY_REQUESTS {
        res.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
    res
}

/// `GET control/managed-identity`: the fault in force, if any.
pub(crate) async fn get_faults(State(state): State<Arc<IssuerState>>) -> Response {
    no_store(json_response(StatusCode::OK, &faults_body(&state)))
}

/// `PUT control/managed-identity` with `{"status": 429, "count": 3}`: the next `count` answers of the
/// identity endpoints are `status` (`{"count": 0}` clears it); answers the fault in force, or 400.
pub(crate) async fn put_faults(State(state): State<Arc<IssuerState>>, body: String) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Fault {
        #[serde(default = "default_status")]
        status: u16,
        count: u32,
    }
    fn default_status() -> u16 {
        500
    }
    let refuse = |description: String| {
        no_store(json_response(
            StatusCode::BAD_REQUEST,
            &json!({ "error": "invalid_request", "error_description": description }),
        ))
    };
    let fault: Fault = match serde_json::from_str(&body) {
        Ok(f) => f,
        Err(e) => {
            return refuse(format!(
                "the body must be {{\"status\": 429, \"count\": 3}} (status 404, 408, 410, 429 or \
                 5xx): {e}"
            ))
        }
    };
    let status = match StatusCode::from_u16(fault.status) {
        Ok(s) if s.is_server_error() || matches!(s.as_u16(), 404 | 408 | 410 | 429) => s,
        _ => {
            return refuse(format!(
                "status {} is not a fault of the identity endpoints: use 404, 408, 410, 429 or 5xx",
                fault.status
            ))
        }
    };
    state.set_managed_identity_fault(status, fault.count);
    get_faults(State(state)).await
}

fn faults_body(state: &IssuerState) -> Value {
    match state.managed_identity_fault() {
        Some(f) => json!({ "status": f.status.as_u16(), "count": f.remaining }),
        None => json!({ "count": 0 }),
    }
}
