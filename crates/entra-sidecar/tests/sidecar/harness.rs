//! The test world: the development issuer (entra-dev) in-process, a downstream API on
//! 127.0.0.1:0 that records what it receives, and the sidecar configured through the same
//! ASP.NET-style configuration a deployment uses.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use entra_dev::{defaults, DevIssuer, DevIssuerConfig, RunningDevIssuer, Subject, TokenRequest};
use entra_sidecar::config::Configuration;
use entra_sidecar::settings::Environment;
use entra_sidecar::{Settings, Sidecar};
use serde_json::{json, Value};

pub(crate) const DOWNSTREAM_READ: &str =
    "api://b0b1b2b3-c4c5-4d6d-8e7e-f8f9fafbfcfd/downstream.read";
/// The development issuer grants app tokens for its main API only.
pub(crate) const APP_DEFAULT: &str = "api://a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c/.default";

/// One request the downstream stub received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// A downstream API on 127.0.0.1:0: `/echo` answers JSON, `/empty` 204, `/redirect` 302 to
/// `/landed`, `/fail` 500 text; every request recorded.
#[derive(Clone)]
pub(crate) struct Downstream {
    pub(crate) url: String,
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
}

impl Downstream {
    pub(crate) async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().fallback(record).with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{addr}/"),
            seen,
        }
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub(crate) fn hits(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path == path).count()
    }
}

async fn record(
    State(seen): State<Arc<Mutex<Vec<Seen>>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path: path.clone(),
        query: uri.query().map(str::to_owned),
        headers: headers.clone(),
        body: body.clone(),
    });
    match path.as_str() {
        "/api/empty" => StatusCode::NO_CONTENT.into_response(),
        "/api/redirect" => (StatusCode::FOUND, [("location", "/api/landed")]).into_response(),
        "/api/fail" => (StatusCode::INTERNAL_SERVER_ERROR, [("content-type", "text/plain"), ("x-internal", "1")], "downstream broke").into_response(),
        _ => (
            [("content-type", "application/json; charset=utf-8"), ("x-not-content", "dropped")],
            json!({"method": method.as_str(), "path": path, "body": String::from_utf8_lossy(&body)}).to_string(),
        )
            .into_response(),
    }
}

/// The issuer, a downstream API, and a running sidecar.
pub(crate) struct World {
    pub(crate) dev: RunningDevIssuer,
    pub(crate) downstream: Downstream,
    pub(crate) url: String,
    pub(crate) http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The configuration of a sidecar for the development issuer at `dev_url` (the development
/// API's registration and secret) with two downstream APIs on `downstream_url`: `downstream`
/// (on behalf of the caller) and `appapi` (app token).
pub(crate) fn base_config(dev_url: &str, downstream_url: &str) -> Value {
    json!({
        "AzureAd": {
            "Instance": dev_url,
            "TenantId": defaults::DEV_TENANT_ID,
            "ClientId": defaults::DEV_API_CLIENT_ID,
            "ClientCredentials": [
                { "SourceType": "ClientSecret", "ClientSecret": defaults::DEV_API_CLIENT_SECRET }
            ]
        },
        "DownstreamApis": {
            "downstream": {
                "BaseUrl": format!("{downstream_url}api/"),
                "RelativePath": "echo",
                "Scopes": [DOWNSTREAM_READ]
            },
            "appapi": {
                "BaseUrl": format!("{downstream_url}api/"),
                "RelativePath": "echo",
                "RequestAppToken": true,
                "Scopes": [APP_DEFAULT]
            }
        },
        "urls": "http://127.0.0.1:0"
    })
}

impl World {
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A world whose sidecar configuration `edit` changes (a JSON document merged as
    /// appsettings.json) plus `env` variables.
    pub(crate) async fn start_with(edit: impl FnOnce(&mut Value)) -> Self {
        Self::start_full(DevIssuerConfig::default(), edit, &[], "Production").await
    }

    pub(crate) async fn start_full(
        issuer: DevIssuerConfig,
        edit: impl FnOnce(&mut Value),
        env: &[(&str, &str)],
        environment: &str,
    ) -> Self {
        let dev = DevIssuer::spawn(issuer).await.unwrap();
        let downstream = Downstream::start().await;
        let mut doc = base_config(dev.url().as_str(), &downstream.url);
        edit(&mut doc);
        let (url, stop) = spawn_sidecar(&doc, env, environment).await;
        Self {
            dev,
            downstream,
            url,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            stop: Some(stop),
        }
    }

    /// A delegated token for the sidecar's API (scope weather.read) of `user`.
    pub(crate) fn token(&self, user: &str) -> String {
        self.mint(TokenRequest {
            subject: Subject::User(user.to_owned()),
            scopes: vec![defaults::SCOPE_READ.to_owned()],
            ..TokenRequest::default()
        })
    }

    pub(crate) fn mint(&self, req: TokenRequest) -> String {
        self.dev.issuer.mint(&req).unwrap()
    }

    pub(crate) fn token_requests(&self) -> u64 {
        self.dev.issuer.stats().token_requests
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.http.get(format!("{}{}", self.url, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Reply::from(req.send().await.unwrap()).await
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, &str)>,
    ) -> Reply {
        let mut req = self.http.post(format!("{}{}", self.url, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some((content_type, body)) = body {
            req = req
                .header("content-type", content_type)
                .body(body.to_owned());
        }
        Reply::from(req.send().await.unwrap()).await
    }
}

/// Starts a sidecar in-process from an appsettings document and environment variables.
pub(crate) async fn spawn_sidecar(
    doc: &Value,
    env: &[(&str, &str)],
    environment: &str,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let mut config = Configuration::new();
    config
        .add_json("appsettings.json", &doc.to_string())
        .unwrap();
    config.add_environment(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let settings = Settings::from_configuration(&config, environment_named(environment)).unwrap();
    let sidecar = Sidecar::build(settings).await.unwrap();
    let addr = sidecar.local_addrs()[0];
    // Keys fetched before the first request, as a deployment's readiness probe would wait.
    sidecar.state().validator().warm_up().await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sidecar.run_until(async move {
        let _ = rx.await;
    }));
    (format!("http://{addr}"), tx)
}

pub(crate) fn environment_named(name: &str) -> Environment {
    Environment::new(name)
}

/// An answer of the sidecar.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) text: String,
}

impl Reply {
    pub(crate) async fn from(res: reqwest::Response) -> Self {
        Self {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            text: res.text().await.unwrap(),
        }
    }

    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// A problem details answer of `status` whose detail contains `detail`.
    pub(crate) fn assert_problem(&self, status: u16, detail: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.header("content-type"),
            "application/problem+json",
            "{}",
            self.text
        );
        let body = self.json();
        assert_eq!(body["status"], status, "{body}");
        assert!(
            body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("https://tools.ietf.org/html/rfc9110#section-")),
            "{body}"
        );
        assert!(body["title"].is_string(), "{body}");
        assert!(body["instance"].is_string(), "{body}");
        let got = body["detail"].as_str().unwrap_or_default();
        assert!(got.contains(detail), "detail {got:?} lacks {detail:?}");
    }

    /// The no-store headers every 2xx carries.
    pub(crate) fn assert_no_store(&self) {
        assert_eq!(
            self.header("cache-control"),
            "no-cache, no-store, must-revalidate"
        );
        assert_eq!(self.header("expires"), "0");
        assert_eq!(self.header("pragma"), "no-cache");
    }
}

/// The payload of a JWT (not verified: for asserting what the sidecar handed out).
pub(crate) fn payload(jwt: &str) -> Value {
    use base64::Engine as _;
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
