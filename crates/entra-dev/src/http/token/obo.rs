//! The on-behalf-of grant (`urn:ietf:params:oauth:grant-type:jwt-bearer`, `requested_token_use=on_behalf_of`):
//! a middle-tier API exchanges the access token it received for a token to a downstream API, keeping the
//! user. The assertion must be a valid delegated token of this issuer whose audience is the calling API;
//! the downstream answer may be refused by the consent and MFA switches ([`crate::switch`]).

use std::time::SystemTime;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::Request;
use crate::config::Resource;
use crate::http::oauth::{internal, OAuthError};
use crate::jwt::Jwt;
use crate::keys::unix_secs;
use crate::mint::{self, UserIdentity};
use crate::request::{Subject, TokenRequest, TokenVersion};
use crate::state::IssuerState;

/// The `grant_type` of on-behalf-of (RFC 7523 §2.1).
pub(super) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How far the clocks may disagree when checking the assertion's `exp`/`nbf`.
const CLOCK_SKEW: i64 = 300;

/// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`.
pub(super) fn grant(request: Request<'_>) -> Result<Value, OAuthError> {
    let (inner, ep, params) = (request.inner, request.ep, request.params);
    if ep.policy.is_some() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70_003,
            "Azure AD B2C does not support the on-behalf-of flow; call the downstream API with the \
             user's own token or use a workforce tenant.",
        ));
    }
    let caller = request.authenticate()?;
    if !caller.client.is_confidential() {
        return Err(OAuthError::invalid_client(
            7_000_218,
            "The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'. Only a confidential client (the middle-tier API) can use the \
             on-behalf-of flow.",
        ));
    }
    let use_ = params.require("requested_token_use")?;
    if use_ != "on_behalf_of" {
        return Err(OAuthError::invalid_request(
            90_014,
            format!("requested_token_use must be 'on_behalf_of' for this grant, got '{use_}'."),
        ));
    }
    let assertion = params.require("assertion")?;
    let scope = params.require("scope")?;
    let jwt = verified_assertion(inner, assertion)?;
    check_audience(inner, &jwt, &caller.client.client_id)?;
    let (resource, scopes) = requested(inner, scope)?;
    check_switches(
        inner,
        &jwt,
        &resource,
        &caller.client.client_id,
        &caller.client.display_name,
    )?;

    let user = UserIdentity {
        oid: jwt.claim_str("oid").unwrap_or_default().to_owned(),
        name: jwt.claim_str("name").unwrap_or_default().to_owned(),
        username: ["preferred_username", "upn", "unique_name"]
            .iter()
            .find_map(|c| jwt.claim_str(c))
            .unwrap_or_default()
            .to_owned(),
    };
    let version = inner.config.access_token_version;
    let mut extra = Map::new();
    if let Some(acrs) = jwt.claims.get("acrs") {
        extra.insert("acrs".into(), acrs.clone());
    }
    let req = TokenRequest {
        subject: Subject::User(user.username.clone()),
        version,
        scopes: scopes.clone(),
        audience: Some(match version {
            TokenVersion::V2 => resource.client_id.to_owned(),
            TokenVersion::V1 => resource.app_id_uri.to_owned(),
        }),
        tenant_id: Some(
            jwt.claim_str("tid")
                .unwrap_or(&inner.config.tenant_id)
                .to_owned(),
        ),
        extra_claims: extra,
        ..TokenRequest::default()
    };
    let token =
        mint::mint_for(inner, &req, Some(caller.calling()), Some(&user)).map_err(internal)?;
    tracing::debug!(
        client_id = %caller.client.client_id,
        resource = %resource.client_id,
        oid = %user.oid,
        "issued an on-behalf-of token"
    );
    let scope_out: Vec<String> = scopes
        .iter()
        .map(|s| format!("{}/{s}", resource.app_id_uri))
        .collect();
    let mut out = super::bearer_answer(inner, token);
    out.insert("scope".into(), json!(scope_out.join(" ")));
    Ok(Value::Object(out))
}

fn now() -> i64 {
    i64::try_from(unix_secs(SystemTime::now())).unwrap_or(i64::MAX)
}

fn invalid_assertion(detail: impl std::fmt::Display) -> OAuthError {
    OAuthError::invalid_grant(
        50_027,
        format!("JWT token is invalid or malformed: the assertion {detail}"),
    )
}

/// The assertion, checked as a resource would: signed by a published key of this issuer (RS256), issued
/// by this tenant, within its lifetime, and a delegated (user) token.
fn verified_assertion(inner: &IssuerState, assertion: &str) -> Result<Jwt, OAuthError> {
    let jwt = Jwt::parse(assertion)
        .map_err(|e| invalid_assertion(format_args!("cannot be read ({e}).")))?;
    if jwt.alg_name() != "RS256" {
        return Err(invalid_assertion(format_args!(
            "is signed with '{}'; tokens of this issuer are RS256.",
            jwt.alg_name()
        )));
    }
    let kid = jwt.header_str("kid").unwrap_or_default();
    let key = {
        let ring = inner.read_keys();
        ring.published(SystemTime::now(), inner.config.key_grace_period)
            .into_iter()
            .find(|k| k.kid == kid)
            .map(|k| k.public_key())
    };
    let Some(key) = key else {
        return Err(OAuthError::invalid_grant(
            50_013,
            format!(
                "Assertion failed signature validation. [Reason - The key was not found., Key ID: \
                 '{kid}'] Send the access token this issuer gave the caller, unchanged."
            ),
        ));
    };
    if !jwt.verify(crate::jwt::Alg::Rs256, &key) {
        return Err(OAuthError::invalid_grant(
            50_013,
            "Assertion failed signature validation. [Reason - The signature does not verify.] Send the \
             access token this issuer gave the caller, unchanged.",
        ));
    }
    let tid = &inner.config.tenant_id;
    let v2 = format!("{}{tid}/v2.0", inner.instance);
    let v1 = format!("{}{tid}/", inner.instance);
    let iss = jwt.claim_str("iss").unwrap_or_default();
    if iss != v2 && iss != v1 {
        return Err(invalid_assertion(format_args!(
            "was issued by '{iss}'; on-behalf-of accepts access tokens of this tenant ({v2} or {v1})."
        )));
    }
    let now = now();
    let exp = jwt.claim_time("exp").unwrap_or(i64::MIN);
    if exp + CLOCK_SKEW <= now {
        return Err(OAuthError::invalid_grant(
            500_133,
            format!(
                "Assertion is not within its valid time range. Ensure that the access token is not \
                 expired before using it for user assertion, or request a new token. Current time: {}, \
                 expiry time of assertion {}.",
                crate::time::format_unix_time(now),
                crate::time::format_unix_time(exp.max(0))
            ),
        ));
    }
    if let Some(nbf) = jwt.claim_time("nbf") {
        if nbf - CLOCK_SKEW > now {
            return Err(OAuthError::invalid_grant(
                500_133,
                format!(
                    "Assertion is not within its valid time range: it is not valid before {} (now {}).",
                    crate::time::format_unix_time(nbf),
                    crate::time::format_unix_time(now)
                ),
            ));
        }
    }
    let app_only = jwt.claim_str("idtyp") == Some("app") || jwt.claim_str("scp").is_none();
    if app_only {
        return Err(invalid_assertion(
            "is an app-only token (idtyp 'app', no scp). The on-behalf-of flow exchanges a user's \
             delegated token; an API called by a daemon calls downstream APIs with its own \
             client_credentials token.",
        ));
    }
    Ok(jwt)
}

/// The assertion's audience must be the calling API: its client id, `api://{client id}` or the App ID URI
/// of the API registered with that client id.
fn check_audience(inner: &IssuerState, jwt: &Jwt, caller: &str) -> Result<(), OAuthError> {
    let mut accepted = vec![caller.to_owned(), format!("api://{caller}")];
    if let Some(r) = inner.config.resource(caller) {
        accepted.push(r.app_id_uri.to_owned());
    }
    let aud = jwt.audience_text();
    if accepted.iter().any(|a| a.eq_ignore_ascii_case(&aud)) {
        return Ok(());
    }
    Err(OAuthError::invalid_grant(
        500_131,
        format!(
            "Assertion audience does not match the Client app presenting the assertion. The audience in \
             the assertion was '{aud}' and the expected audience is '{caller}' or one of the \
             Application Uris of this application with App ID '{caller}'. The downstream client must \
             request a token for the expected audience (the application that made the OBO request) \
             and this application should use that token as the assertion."
        ),
    ))
}

/// The downstream API and its scopes from `scope`: `{app id uri or client id}/{scope}` items of one API
/// (or `{api}/.default` for all of its scopes; bare names are the main API's); OpenID scopes are ignored.
fn requested<'a>(
    inner: &'a IssuerState,
    scope: &str,
) -> Result<(Resource<'a>, Vec<String>), OAuthError> {
    let mut resource: Option<Resource<'a>> = None;
    let mut scopes: Vec<String> = Vec::new();
    for item in scope.split_whitespace() {
        if matches!(
            item.to_ascii_lowercase().as_str(),
            "openid" | "profile" | "email" | "offline_access"
        ) {
            continue;
        }
        let (r, name) = match item.rsplit_once('/') {
            Some((id, name)) => (
                inner.config.resource(id).ok_or_else(|| {
                    OAuthError::invalid_scope(
                        500_011,
                        format!(
                            "The resource principal named {id} was not found in the tenant. Registered \
                             APIs: {}.",
                            inner
                                .config
                                .resources()
                                .map(|r| r.app_id_uri)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?,
                name,
            ),
            None => match inner.config.resources().next() {
                Some(main) => (main, item),
                None => return Err(OAuthError::missing("scope")),
            },
        };
        if let Some(prev) = resource {
            if prev.client_id != r.client_id {
                return Err(OAuthError::invalid_scope(
                    28_000,
                    format!(
                        "Provided value for the input parameter scope is not valid because it contains \
                         more than one resource: {} and {}. Request one downstream API per call.",
                        prev.app_id_uri, r.app_id_uri
                    ),
                ));
            }
        }
        resource = Some(r);
        if name == ".default" {
            for s in r.scopes {
                if !scopes.contains(s) {
                    scopes.push(s.clone());
                }
            }
            continue;
        }
        match r.scopes.iter().find(|s| s.as_str() == name) {
            Some(s) if !scopes.contains(s) => scopes.push(s.clone()),
            Some(_) => {}
            None => {
                return Err(OAuthError::invalid_scope(
                    70_011,
                    format!(
                    "The provided value for the input parameter 'scope' is not valid. The scope \
                         '{item}' does not exist. {} exposes: {}.",
                    r.display_name,
                    r.scopes.join(", ")
                ),
                ))
            }
        }
    }
    match resource {
        Some(r) if !scopes.is_empty() => Ok((r, scopes)),
        _ => Err(OAuthError::invalid_scope(
            70_011,
            "The provided value for the input parameter 'scope' is not valid: name the downstream API's \
             scopes, e.g. api://{client id}/{scope} or api://{client id}/.default.",
        )),
    }
}

/// The consent and MFA switches for the downstream API.
fn check_switches(
    inner: &IssuerState,
    jwt: &Jwt,
    resource: &Resource<'_>,
    caller_id: &str,
    caller_name: &str,
) -> Result<(), OAuthError> {
    let switches = inner.switches();
    if switches.consent_required.iter().any(|api| resource.is(api)) {
        return Err(OAuthError::invalid_grant(
            65_001,
            format!(
                "The user or administrator has not consented to use the application with ID \
                 '{caller_id}' named '{caller_name}' to call {} ({}). Send an interactive authorization \
                 request for this user and resource, or grant admin consent.",
                resource.display_name, resource.app_id_uri
            ),
        )
        .with_suberror("consent_required"));
    }
    if let Some(demand) = switches.mfa_required.iter().find(|d| resource.is(&d.api)) {
        let satisfied = jwt
            .claims
            .get("acrs")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter()
                    .any(|v| v.as_str() == Some(demand.auth_context.as_str()))
            });
        if !satisfied {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "interaction_required",
                50_076,
                format!(
                    "Due to a configuration change made by your administrator, or because you moved to a \
                     new location, you must use multi-factor authentication to access '{}'. Return the \
                     claims challenge to the client: it signs the user in again with these claims and \
                     sends the new token.",
                    resource.client_id
                ),
            )
            .with_claims(demand.claims_challenge()));
        }
    }
    Ok(())
}
