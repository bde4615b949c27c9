//! API A and API B of the on-behalf-of chain: the `obo_chain` example, the `obo_load` load driver
//! and entra-token's end-to-end tests all run these two services (the load driver and the tests
//! include this file with `#[path]`), so what is measured and tested is what the example shows.
//!
//! * **API B** (`aud` = the development downstream API): `GET /read` needs the delegated scope
//!   `downstream.read`, `GET /write` needs `downstream.write`, `GET /sensitive` needs
//!   `downstream.read` and a step-up sign-in (`acrs` holding [`AUTH_CONTEXT`]; without it B answers
//!   401 `insufficient_claims` itself, as a resource enforcing Conditional Access does). Each
//!   answers who called: the user's `oid`, `tid`, name, and the calling app (`azp`, `azpacr`).
//! * **API A** (`aud` = the development API, the middle tier): `GET /call/{read,write,sensitive}`
//!   needs `weather.read`, then calls B on behalf of its caller with entra-token's
//!   [`DownstreamApi`] (scope `downstream.read` or `downstream.write`) and answers B's identity
//!   document inside its own. Its handler takes entra-token's [`OnBehalfOf`] extractor (the
//!   caller's verified token as the assertion) and returns `Result<_, DownstreamError>`: what
//!   can go wrong answers through the library's own HTTP mapping.

use std::time::Duration;

use axum::extract::{FromRef, Path, State};
use axum::routing::get;
use axum::{Json, Router};
use entra_auth::{
    AuthConfig, AuthError, AuthLayer, AuthState, Authenticated, Requirement, TokenValidator,
};
use entra_dev::defaults;
use entra_token::{
    Authority, ClientCredential, ConfidentialClient, ConfidentialConfig, ConfidentialConfigBuilder,
    DownstreamApi, DownstreamError, OnBehalfOf, Scopes,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// Errors of start-up.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The authentication context B's `/sensitive` route demands (the value entra-dev's MFA switch uses
/// by default too).
pub(crate) const AUTH_CONTEXT: &str = "c1";

/// A service on 127.0.0.1 with an OS-chosen port; dropping it stops the server.
pub(crate) struct Running {
    /// `http://127.0.0.1:{port}/`.
    pub(crate) url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `app` on 127.0.0.1:0.
pub(crate) async fn serve(app: Router) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    Ok(Running {
        url: format!("http://{addr}/"),
        task,
    })
}

/// entra-auth's validator for the API `client_id` of the development tenant at `instance`, its
/// keys loaded.
pub(crate) async fn validator(instance: &str, client_id: &str) -> Result<TokenValidator, BoxError> {
    let config = AuthConfig::builder(defaults::DEV_TENANT_ID, client_id)
        .instance(instance)
        .build()?;
    let validator = TokenValidator::new(config)?;
    validator.warm_up().await?;
    Ok(validator)
}

/// The downstream scope `name` of API B (`api://{B}/{name}`).
pub(crate) fn downstream_scope(name: &str) -> Scopes {
    Scopes::parse(&format!(
        "{}/{name}",
        defaults::DEV_DOWNSTREAM_API_APP_ID_URI
    ))
}

/// API A's confidential-client configuration: the development API's client id in the development
/// tenant at `instance`, proving itself with `credential`.
pub(crate) fn api_a_config(
    instance: &str,
    credential: ClientCredential,
) -> Result<ConfidentialConfigBuilder, BoxError> {
    let authority = Authority::tenant(defaults::DEV_TENANT_ID)?.with_instance(instance)?;
    Ok(ConfidentialConfig::builder(
        authority,
        defaults::DEV_API_CLIENT_ID,
        credential,
    ))
}

/// The claims request B answers when the step-up is missing (Entra's shape).
pub(crate) fn step_up_claims() -> String {
    json!({ "access_token": { "acrs": { "essential": true, "value": AUTH_CONTEXT } } }).to_string()
}

// ---- API B ----

/// API B's router.
pub(crate) fn api_b(validator: TokenValidator) -> Router {
    let read = Router::new()
        .route("/read", get(whoami))
        .route("/sensitive", get(sensitive))
        .layer(
            AuthLayer::new(validator.clone())
                .require(Requirement::scopes([defaults::SCOPE_DOWNSTREAM_READ])),
        );
    let write = Router::new().route("/write", get(whoami)).layer(
        AuthLayer::new(validator).require(Requirement::scopes([defaults::SCOPE_DOWNSTREAM_WRITE])),
    );
    read.merge(write)
}

fn identity(claims: &entra_auth::VerifiedClaims) -> Value {
    json!({
        "api": "B",
        "oid": claims.oid(),
        "tid": claims.tid(),
        "name": claims.name(),
        "aud": claims.audiences(),
        "scp": claims.scopes().collect::<Vec<_>>(),
        "azp": claims.client_id(),
        "azpacr": claims.get("azpacr"),
    })
}

async fn whoami(Authenticated(claims): Authenticated) -> Json<Value> {
    Json(identity(&claims))
}

async fn sensitive(Authenticated(claims): Authenticated) -> Result<Json<Value>, AuthError> {
    let stepped_up = claims
        .get("acrs")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(AUTH_CONTEXT)));
    if !stepped_up {
        return Err(AuthError::claims_challenge(&step_up_claims()));
    }
    Ok(Json(identity(&claims)))
}

// ---- API A ----

#[derive(Clone)]
struct ApiA {
    read: DownstreamApi,
    write: DownstreamApi,
    http: reqwest::Client,
    api_b: String,
}

/// The claims come from the `AuthLayer` in front of the routes.
impl FromRef<ApiA> for AuthState {
    fn from_ref(_: &ApiA) -> Self {
        AuthState::layer_only()
    }
}

/// What `GET /call/{operation}` does at B.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Operation {
    Read,
    Write,
    Sensitive,
}

impl Operation {
    fn path(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Sensitive => "sensitive",
        }
    }
}

/// API A's router: it calls API B at `api_b_url` with tokens from `client`.
pub(crate) fn api_a(
    validator: TokenValidator,
    client: ConfidentialClient,
    api_b_url: &str,
) -> Result<Router, BoxError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(2))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()?;
    let state = ApiA {
        read: DownstreamApi::new(
            client.clone(),
            downstream_scope(defaults::SCOPE_DOWNSTREAM_READ),
        ),
        write: DownstreamApi::new(client, downstream_scope(defaults::SCOPE_DOWNSTREAM_WRITE)),
        http,
        api_b: api_b_url.to_owned(),
    };
    Ok(Router::new()
        .route("/call/{operation}", get(call))
        .with_state(state)
        .layer(AuthLayer::new(validator).require(Requirement::scopes([defaults::SCOPE_READ]))))
}

/// Calls B on behalf of the caller. Every failure answers through entra-token's mapping of
/// [`DownstreamError`] (see `TokenError::to_response`): a claims challenge (the token endpoint's
/// MFA or Conditional Access demand, or B's own 401) is 401 `insufficient_claims` with the
/// authority's `authorization_uri`; consent missing 403 `consent_required`; the identity provider
/// down 503, slow 504; B unreachable or refusing 502; the API's own configuration 500.
async fn call(
    State(a): State<ApiA>,
    Path(operation): Path<Operation>,
    user: OnBehalfOf,
) -> Result<Json<Value>, DownstreamError> {
    let api = match operation {
        Operation::Read | Operation::Sensitive => &a.read,
        Operation::Write => &a.write,
    };
    let request = a.http.get(format!("{}{}", a.api_b, operation.path()));
    let res = api.send_on_behalf_of(user.assertion(), request).await?;
    let downstream: Value = DownstreamApi::json(res).await?;
    let caller = user.claims();
    Ok(Json(json!({
        "api": "A",
        "caller": { "oid": caller.oid(), "tid": caller.tid() },
        "downstream": downstream,
    })))
}

/// API B and API A against the issuer at `instance`, A calling B with tokens from `client`.
pub(crate) struct Chain {
    /// API A.
    pub(crate) a: Running,
    /// API B.
    pub(crate) b: Running,
}

impl Chain {
    /// Starts B, then A (each loads its signing keys first).
    pub(crate) async fn start(
        instance: &str,
        client: ConfidentialClient,
    ) -> Result<Self, BoxError> {
        let b = serve(api_b(
            validator(instance, defaults::DEV_DOWNSTREAM_API_CLIENT_ID).await?,
        ))
        .await?;
        let a = Self::start_a(instance, client, &b.url).await?;
        Ok(Self { a, b })
    }

    /// Another instance of API A calling the same B (two instances sharing a cache).
    pub(crate) async fn start_a(
        instance: &str,
        client: ConfidentialClient,
        api_b_url: &str,
    ) -> Result<Running, BoxError> {
        let validator = validator(instance, defaults::DEV_API_CLIENT_ID).await?;
        Ok(serve(api_a(validator, client, api_b_url)?).await?)
    }
}
