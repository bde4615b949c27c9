//! The OpenAPI 3.1 document (`GET /openapi.json`) and the Swagger UI configuration (`/docs`).
//!
//! The document is generated from the code so that it cannot drift: every operation comes from the
//! `#[utoipa::path]` annotation on its handler, every body schema from the `ToSchema` derive (or impl) on
//! the very type the handler returns ([`Liveness`], [`Readiness`], [`CurrentWeather`], the domain's
//! `Report`), and the problem+json answers are the reusable responses defined in [`crate::error`] next to
//! [`Problem`]. This module only finishes the document with what depends on the settings, once at
//! start-up ([`ApiDocs::new`]):
//!
//! - the OAuth2 security scheme [`OAUTH_SCHEME`] (authorization code flow, PKCE required by the identity
//!   provider for browser clients) with the authorization and token URLs of the configured Entra tenant
//!   (or of the development issuer in development mode) and the scopes `api://{client id}/weather.read`
//!   and `api://{client id}/weather.write`;
//! - the bearer scheme [`APP_TOKEN_SCHEME`] for app-only (daemon) tokens, whose requirement lists the
//!   configured app role (OpenAPI 3.1 allows role names for non-OAuth schemes);
//! - each protected operation's security, derived from the permission its handler takes
//!   (`Authorized<P>`, read from the signature by [`entra_auth::permission_of`]) and that permission's
//!   registered requirement ([`crate::auth`]): its scopes (qualified with the client id) under
//!   [`OAUTH_SCHEME`], its app roles under [`APP_TOKEN_SCHEME`]. No annotation states a scope.

use entra_auth::{permission_of, AuthConfig, AuthState, Authority, PermissionId};
use http::HeaderValue;
use serde_json::{json, Value};
use url::Url;
use utoipa::openapi::security::{
    AuthorizationCode, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityRequirement,
    SecurityScheme,
};
use utoipa::OpenApi;

use crate::auth::{READ_SCOPE, WRITE_SCOPE};
use crate::domain::{Liveness, Readiness, ReadinessChecks};
use crate::error::{
    BadGateway, BadRequest, Forbidden, GatewayTimeout, NotFound, PayloadTooLarge, Problem,
    ServiceUnavailable, TooManyRequests, Unauthorized, UnprocessableEntity, UnsupportedMediaType,
};
use crate::upstream::CurrentWeather;

/// The name of the OAuth2 (authorization code + PKCE) security scheme: delegated user tokens with scopes.
pub const OAUTH_SCHEME: &str = "entra_id";
/// The name of the bearer security scheme for app-only (daemon) tokens, which carry app roles.
pub const APP_TOKEN_SCHEME: &str = "entra_id_app_token";

/// Each protected operation (its `operationId`, the handler's name) and the permission its handler
/// takes, read from the handler's signature. Start-up refuses to run unless each is registered.
pub fn protected_operations() -> [(&'static str, PermissionId); 4] {
    use crate::routes::{reports, weather};
    [
        ("current_weather", permission_of(&weather::current_weather)),
        ("list_reports", permission_of(&reports::list_reports)),
        ("get_report", permission_of(&reports::get_report)),
        ("create_report", permission_of(&reports::create_report)),
    ]
}

/// The code-generated part of the document (no settings yet).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Weather Service",
        description = "The Talk Python weather service in Rust, secured with the Microsoft identity \
            platform (entra-auth). Delegated (user) tokens need the scope `weather.read` or \
            `weather.write` of this API; app-only (daemon) tokens the matching app role. Errors are \
            `application/problem+json` with a stable `code`.\n\nInteractive documentation: `/docs` \
            (Authorize signs in with PKCE)."
    ),
    paths(
        crate::routes::weather::current_weather,
        crate::routes::reports::list_reports,
        crate::routes::reports::create_report,
        crate::routes::reports::get_report,
        crate::routes::health::healthz,
        crate::routes::health::readyz,
        crate::routes::home::index,
        crate::routes::metrics::scrape,
    ),
    components(
        schemas(Problem, CurrentWeather, Readiness, ReadinessChecks, Liveness),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            PayloadTooLarge,
            UnsupportedMediaType,
            UnprocessableEntity,
            BadGateway,
            ServiceUnavailable,
            TooManyRequests,
            GatewayTimeout
        )
    ),
    tags(
        (name = "weather", description = "Current weather from OpenWeatherMap (cached one hour)."),
        (name = "reports", description = "Weather reports submitted by users."),
        (name = "service", description = "Home page, liveness and readiness (no token needed)."),
    )
)]
struct GeneratedDoc;

/// What the document and Swagger UI need from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocsSettings {
    /// `{instance}{tenant}/oauth2/v2.0/authorize` (B2C: `{instance}{name}.onmicrosoft.com/{policy}/...`).
    pub authorization_url: Url,
    /// `{instance}{tenant}/oauth2/v2.0/token`.
    pub token_url: Url,
    /// The API's application (client) id: scopes are `api://{api_client_id}/weather.read|write`.
    pub api_client_id: String,
    /// The client id Swagger UI signs in as (a public client / SPA registration); `None` leaves the field
    /// for the user to fill in.
    pub docs_client_id: Option<String>,
}

impl DocsSettings {
    /// The endpoints of the authority the validator trusts (the configured tenant, or the development
    /// issuer in development mode).
    pub fn new(config: &AuthConfig, docs_client_id: Option<String>) -> Self {
        let instance = config.instance().as_str();
        let base = match config.authority() {
            Authority::Tenant(tenant) => format!("{instance}{tenant}"),
            Authority::MultiTenant(multi) => format!("{instance}{}", multi.as_str()),
            Authority::B2C {
                tenant_name,
                policy,
            } => format!("{instance}{tenant_name}.onmicrosoft.com/{policy}"),
            _ => format!("{instance}common"),
        };
        let endpoint = |name: &str| {
            Url::parse(&format!("{base}/oauth2/v2.0/{name}"))
                .expect("BUG: the instance is a valid base URL and the tenant a path segment")
        };
        Self {
            authorization_url: endpoint("authorize"),
            token_url: endpoint("token"),
            api_client_id: config.client_id().to_owned(),
            docs_client_id,
        }
    }

    /// `api://{client id}/{scope}`.
    pub fn qualified_scope(&self, scope: &str) -> String {
        format!("api://{}/{scope}", self.api_client_id)
    }
}

/// The document and Swagger UI configuration, built once at start-up (they depend on the settings).
#[derive(Debug, Clone)]
pub struct ApiDocs {
    openapi_json: axum::body::Bytes,
    swagger_config_json: axum::body::Bytes,
    content_security_policy: HeaderValue,
}

impl ApiDocs {
    /// Builds the OpenAPI document and the Swagger UI configuration for `settings`, each
    /// operation's security from `auth`'s registered permissions.
    pub fn new(settings: &DocsSettings, auth: &AuthState) -> Self {
        let document = openapi(settings, auth);
        let openapi_json = serde_json::to_vec(&document)
            .expect("BUG: an OpenAPI document always serialises to JSON");
        let swagger_config_json = serde_json::to_vec(&swagger_config(settings))
            .expect("BUG: a JSON value always serialises");
        Self {
            openapi_json: openapi_json.into(),
            swagger_config_json: swagger_config_json.into(),
            content_security_policy: content_security_policy(&settings.token_url),
        }
    }

    /// `GET /openapi.json`.
    pub fn openapi_json(&self) -> axum::body::Bytes {
        self.openapi_json.clone()
    }

    /// `GET /docs/swagger-ui-config.json`: the document URL and Swagger UI's `initOAuth` options.
    pub fn swagger_config_json(&self) -> axum::body::Bytes {
        self.swagger_config_json.clone()
    }

    /// The `Content-Security-Policy` of the `/docs` pages: scripts only from this origin (no inline
    /// script), fetches to this origin and the identity provider's token endpoint.
    pub fn content_security_policy(&self) -> HeaderValue {
        self.content_security_policy.clone()
    }
}

/// The complete OpenAPI document for `settings`, each protected operation's security derived from
/// the requirement `auth` holds for its handler's permission.
pub fn openapi(settings: &DocsSettings, auth: &AuthState) -> utoipa::openapi::OpenApi {
    let mut document = GeneratedDoc::openapi();
    let read = settings.qualified_scope(READ_SCOPE);
    let write = settings.qualified_scope(WRITE_SCOPE);
    let scopes = Scopes::from_iter([
        (read, "Read current weather and weather reports".to_owned()),
        (write, "Submit weather reports".to_owned()),
    ]);
    let oauth = OAuth2::with_description(
        [Flow::AuthorizationCode(AuthorizationCode::new(
            settings.authorization_url.as_str(),
            settings.token_url.as_str(),
            scopes,
        ))],
        "Sign in with the Microsoft identity platform (authorization code flow with PKCE). Each \
         operation lists the scope it needs.",
    );
    let app_token = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .description(Some(format!(
            "An app-only (daemon) access token for this API (client-credentials grant, scope \
             `api://{}/.default`), carrying the app role each operation lists.",
            settings.api_client_id
        )))
        .build();
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(OAUTH_SCHEME, SecurityScheme::OAuth2(oauth));
    components.add_security_scheme(APP_TOKEN_SCHEME, SecurityScheme::Http(app_token));

    let protected = protected_operations();
    for item in document.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        {
            let permission = protected
                .iter()
                .find(|(id, _)| operation.operation_id.as_deref() == Some(*id))
                .and_then(|(_, p)| auth.requirement_of(*p));
            if let Some(requirement) = permission {
                operation.security = Some(security(settings, requirement));
            }
        }
    }
    document
}

/// A requirement as OpenAPI security: its scopes (qualified) with the OAuth2 scheme, or its app
/// roles with the app-token scheme.
fn security(
    settings: &DocsSettings,
    requirement: &entra_auth::Requirement,
) -> Vec<SecurityRequirement> {
    let scopes: Vec<String> = requirement
        .scopes_named()
        .iter()
        .map(|s| settings.qualified_scope(s.as_str()))
        .collect();
    let roles: Vec<String> = requirement
        .roles_named()
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    let mut out = Vec::new();
    if !scopes.is_empty() {
        out.push(SecurityRequirement::new(OAUTH_SCHEME, scopes));
    }
    if !roles.is_empty() {
        out.push(SecurityRequirement::new(APP_TOKEN_SCHEME, roles));
    }
    out
}

/// Swagger UI's settings-dependent options: the document and `initOAuth`.
fn swagger_config(settings: &DocsSettings) -> Value {
    let mut oauth = json!({
        "appName": "Weather Service API docs",
        "usePkceWithAuthorizationCodeGrant": true,
        "scopes": [settings.qualified_scope(READ_SCOPE), settings.qualified_scope(WRITE_SCOPE)],
    });
    if let Some(client_id) = &settings.docs_client_id {
        oauth["clientId"] = Value::String(client_id.clone());
    }
    json!({ "openapi_url": "/openapi.json", "oauth": oauth })
}

/// The `/docs` policy: same-origin scripts only; `connect-src` adds the token endpoint's origin.
fn content_security_policy(token_url: &Url) -> HeaderValue {
    let token_origin = token_url.origin().ascii_serialization();
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self'; connect-src 'self' {token_origin}; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).expect("BUG: an origin is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev_settings() -> DocsSettings {
        let config = AuthConfig::builder(
            entra_dev::defaults::DEV_TENANT_ID,
            entra_dev::defaults::DEV_API_CLIENT_ID,
        )
        .instance("http://127.0.0.1:8000/dev-issuer/")
        .build()
        .unwrap();
        DocsSettings::new(
            &config,
            Some(entra_dev::defaults::DEV_PUBLIC_CLIENT_ID.to_owned()),
        )
    }

    fn dev_auth() -> AuthState {
        let roles = crate::auth::AppRoles {
            read: "Weather.Read.All".into(),
            write: "Reports.Write".into(),
        };
        let config = AuthConfig::builder(
            entra_dev::defaults::DEV_TENANT_ID,
            entra_dev::defaults::DEV_API_CLIENT_ID,
        )
        .build()
        .unwrap();
        crate::auth::auth_state(
            entra_auth::TokenValidator::new(config).unwrap(),
            &roles,
            &protected_operations().map(|(_, p)| p),
        )
        .unwrap()
    }

    #[test]
    fn tenant_endpoints_are_v2_under_the_instance() {
        let s = dev_settings();
        assert_eq!(
            s.authorization_url.as_str(),
            "http://127.0.0.1:8000/dev-issuer/7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a/oauth2/v2.0/authorize"
        );
        assert_eq!(
            s.token_url.as_str(),
            "http://127.0.0.1:8000/dev-issuer/7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a/oauth2/v2.0/token"
        );
    }

    #[test]
    fn b2c_endpoints_name_the_policy() {
        let config = AuthConfig::builder(
            "contoso.onmicrosoft.com",
            "11111111-1111-1111-1111-111111111111",
        )
        .instance("https://contoso.b2clogin.com/")
        .b2c("contoso", "B2C_1_signin")
        .build()
        .unwrap();
        let s = DocsSettings::new(&config, None);
        assert_eq!(
            s.authorization_url.as_str(),
            "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signin/oauth2/v2.0/authorize"
        );
    }

    #[test]
    fn every_secured_operation_names_known_scopes_and_roles() {
        let s = dev_settings();
        let doc = serde_json::to_value(openapi(&s, &dev_auth())).unwrap();
        let allowed = [
            s.qualified_scope("weather.read"),
            s.qualified_scope("weather.write"),
            "Weather.Read.All".to_owned(),
            "Reports.Write".to_owned(),
        ];
        let mut secured = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let Some(security) = op.get("security") else {
                    continue;
                };
                secured += 1;
                for requirement in security.as_array().unwrap() {
                    for (scheme, names) in requirement.as_object().unwrap() {
                        assert!(
                            scheme == OAUTH_SCHEME || scheme == APP_TOKEN_SCHEME,
                            "{method} {path}: {scheme}"
                        );
                        for name in names.as_array().unwrap() {
                            let name = name.as_str().unwrap();
                            assert!(allowed.iter().any(|a| a == name), "{method} {path}: {name}");
                        }
                    }
                }
            }
        }
        assert_eq!(secured, 4, "weather, list, get and create are secured");
    }

    #[test]
    fn swagger_config_preselects_both_scopes_and_pkce() {
        let config = swagger_config(&dev_settings());
        assert_eq!(
            config["oauth"]["clientId"],
            entra_dev::defaults::DEV_PUBLIC_CLIENT_ID
        );
        assert_eq!(config["oauth"]["usePkceWithAuthorizationCodeGrant"], true);
        assert_eq!(
            config["oauth"]["scopes"],
            json!([
                "api://a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c/weather.read",
                "api://a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c/weather.write"
            ])
        );
    }

    #[test]
    fn csp_allows_only_self_scripts_and_the_token_origin() {
        let config = AuthConfig::builder(
            "contoso.onmicrosoft.com",
            "11111111-1111-1111-1111-111111111111",
        )
        .build()
        .unwrap();
        let s = DocsSettings::new(&config, None);
        let csp = content_security_policy(&s.token_url);
        let csp = csp.to_str().unwrap();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe-eval"), "{csp}");
        assert!(
            csp.contains("connect-src 'self' https://login.microsoftonline.com;"),
            "{csp}"
        );
    }
}
