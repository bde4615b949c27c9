//! `spawn_app()` and the test personas.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use entra_dev::defaults::{DEV_API_CLIENT_ID, DEV_DAEMON_CLIENT_ID, DEV_TENANT_ID};
use entra_dev::{DevIssuer, DevIssuerConfig, RunningDevIssuer, Subject, TokenRequest};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use weather_api::startup::{Overrides, StartupError};
use weather_api::upstream::ManualClock;
use weather_api::{Application, Settings};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Who calls the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persona {
    /// No token.
    Anonymous,
    /// User token with `scp` = `weather.read`.
    Reader,
    /// User token with `scp` = `weather.write`.
    Writer,
    /// App-only token with roles `Weather.Read.All` and `Weather.Write.All`.
    Daemon,
    /// App-only token without any role.
    DaemonWithoutRole,
}

/// A running app with its fakes.
pub(crate) struct TestApp {
    /// `http://127.0.0.1:{port}`.
    pub(crate) address: String,
    /// A plain HTTP client (no redirects followed).
    pub(crate) client: reqwest::Client,
    /// OpenWeatherMap.
    pub(crate) upstream: MockServer,
    /// The identity provider.
    pub(crate) issuer: RunningDevIssuer,
    /// Holds the database file.
    pub(crate) db_dir: Arc<TempDir>,
    /// The weather cache's clock.
    pub(crate) clock: ManualClock,
    /// The app's token validator (shares its key store with the auth layers).
    pub(crate) validator: entra_auth::TokenValidator,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), StartupError>>>,
}

/// Environment-style settings for a test app; tests add or override entries.
pub(crate) struct TestConfig {
    /// `WEATHER_API__...` pairs handed to `Settings::load`.
    pub(crate) env: Vec<(String, String)>,
    /// Reuse a database directory (restart tests).
    pub(crate) db_dir: Option<Arc<TempDir>>,
    /// Reuse an upstream.
    pub(crate) upstream: Option<MockServer>,
    /// Reuse an issuer.
    pub(crate) issuer: Option<RunningDevIssuer>,
    /// Wait for the validator's first key fetch before returning (default true).
    pub(crate) warm_up: bool,
}

impl TestConfig {
    /// Defaults: nothing reused, no extra settings.
    pub(crate) fn new() -> Self {
        Self {
            env: Vec::new(),
            db_dir: None,
            upstream: None,
            issuer: None,
            warm_up: true,
        }
    }

    /// Sets `WEATHER_API__{key}` (key in upper case, `__` nesting).
    pub(crate) fn set(mut self, key: &str, value: &str) -> Self {
        self.env
            .push((format!("WEATHER_API__{key}"), value.to_owned()));
        self
    }
}

/// A fresh app with default test settings.
pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(TestConfig::new()).await
}

/// A fresh app with extra settings.
pub(crate) async fn spawn_app_with(config: TestConfig) -> TestApp {
    crate::logging::capture();
    let upstream = match config.upstream {
        Some(u) => u,
        None => MockServer::start().await,
    };
    let issuer = match config.issuer {
        Some(i) => i,
        None => DevIssuer::spawn(DevIssuerConfig::default())
            .await
            .expect("dev issuer starts"),
    };
    let db_dir = config
        .db_dir
        .clone()
        .unwrap_or_else(|| Arc::new(tempfile::tempdir().expect("temp dir")));
    let mut env = vec![
        ("WEATHER_API__BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ("WEATHER_API__API_KEY".to_owned(), "test-api-key".to_owned()),
        (
            "WEATHER_API__OPENWEATHER_BASE_URL".to_owned(),
            upstream.uri(),
        ),
        (
            "WEATHER_API__DATABASE_URL".to_owned(),
            format!("sqlite://{}", db_dir.path().join("weather.db").display()),
        ),
        (
            "WEATHER_API__AZURE_AD__INSTANCE".to_owned(),
            issuer.issuer.instance().to_string(),
        ),
        (
            "WEATHER_API__AZURE_AD__TENANT_ID".to_owned(),
            DEV_TENANT_ID.to_owned(),
        ),
        (
            "WEATHER_API__AZURE_AD__CLIENT_ID".to_owned(),
            DEV_API_CLIENT_ID.to_owned(),
        ),
        // Limits are what tests/api/rate_limit.rs measures; elsewhere they stay out of the way.
        (
            "WEATHER_API__RATE_LIMIT__READ__REQUESTS".to_owned(),
            "1000000".to_owned(),
        ),
        (
            "WEATHER_API__RATE_LIMIT__WRITE__REQUESTS".to_owned(),
            "1000000".to_owned(),
        ),
    ];
    env.extend(config.env.iter().cloned());
    let settings = Settings::load(None, db_dir.path(), env).expect("test settings load");
    let clock = ManualClock::new(SystemTime::now());
    let app = Application::build_with(
        settings,
        Overrides {
            clock: Arc::new(clock.clone()),
            ..Overrides::default()
        },
    )
    .await
    .expect("app builds");
    if config.warm_up {
        app.validator()
            .warm_up()
            .await
            .expect("validator loads the issuer's keys");
    }
    let validator = app.validator().clone();
    let address = format!("http://{}", app.local_addr());
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    TestApp {
        address,
        client: client(),
        upstream,
        issuer,
        db_dir,
        clock,
        validator,
        shutdown: Some(tx),
        server: Some(server),
    }
}

/// An HTTP client that does not follow redirects.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client builds")
}

impl TestApp {
    /// Triggers graceful shutdown and waits for the server to stop; returns the reusable parts.
    pub(crate) async fn stop(mut self) -> TestConfig {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stops cleanly");
        }
        TestConfig {
            env: Vec::new(),
            db_dir: Some(self.db_dir.clone()),
            upstream: Some(self.upstream),
            issuer: Some(self.issuer),
            warm_up: true,
        }
    }

    /// A URL on the app.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Mints a token with the issuer.
    pub(crate) fn mint(&self, request: &TokenRequest) -> String {
        self.issuer.issuer.mint(request).expect("token mints")
    }

    /// A token for a persona (`None` for anonymous).
    pub(crate) fn token(&self, persona: Persona) -> Option<String> {
        let request = match persona {
            Persona::Anonymous => return None,
            Persona::Reader => user_with_scopes(&["weather.read"]),
            Persona::Writer => user_with_scopes(&["weather.write"]),
            Persona::Daemon => app_with_roles(&["Weather.Read.All", "Weather.Write.All"]),
            Persona::DaemonWithoutRole => app_with_roles(&[]),
        };
        Some(self.mint(&request))
    }

    /// An expired user token holding both scopes.
    pub(crate) fn expired_token(&self) -> String {
        let mut request = user_with_scopes(&["weather.read", "weather.write"]);
        request.issued_at = Some(SystemTime::now() - Duration::from_secs(3 * 3600));
        request.lifetime = Some(Duration::from_secs(3600));
        self.mint(&request)
    }

    /// GET with an optional bearer token.
    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    /// GET as a persona.
    pub(crate) async fn get_as(&self, persona: Persona, path: &str) -> reqwest::Response {
        let token = self.token(persona);
        self.get(path, token.as_deref()).await
    }

    /// POST a JSON body to /api/reports with an optional token.
    pub(crate) async fn post_report(&self, body: &Value, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.post(self.url("/api/reports")).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    /// POST a JSON body as a persona.
    pub(crate) async fn post_report_as(&self, persona: Persona, body: &Value) -> reqwest::Response {
        let token = self.token(persona);
        self.post_report(body, token.as_deref()).await
    }

    /// Makes OpenWeatherMap answer 200 with a `main` object for any city.
    pub(crate) async fn mock_weather_ok(&self) {
        Mock::given(method("GET"))
            .and(path("/data/2.5/weather"))
            .respond_with(ResponseTemplate::new(200).set_body_json(openweather_body()))
            .mount(&self.upstream)
            .await;
    }

    /// How many requests OpenWeatherMap received.
    pub(crate) async fn upstream_hits(&self) -> usize {
        self.upstream
            .received_requests()
            .await
            .map_or(0, |r| r.len())
    }

    /// The database file.
    pub(crate) fn db_path(&self) -> PathBuf {
        self.db_dir.path().join("weather.db")
    }
}

/// A delegated token request for alice with these scopes.
pub(crate) fn user_with_scopes(scopes: &[&str]) -> TokenRequest {
    TokenRequest {
        subject: Subject::User("alice".to_owned()),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        ..TokenRequest::default()
    }
}

/// An app-only token request for the dev daemon with these roles.
pub(crate) fn app_with_roles(roles: &[&str]) -> TokenRequest {
    TokenRequest {
        subject: Subject::App {
            client_id: DEV_DAEMON_CLIENT_ID.to_owned(),
        },
        roles: roles.iter().map(|s| (*s).to_owned()).collect(),
        ..TokenRequest::default()
    }
}

/// What OpenWeatherMap answers for current weather (trimmed).
pub(crate) fn openweather_body() -> Value {
    json!({
        "coord": {"lon": -122.68, "lat": 45.52},
        "weather": [{"id": 800, "main": "Clear", "description": "clear sky"}],
        "main": {
            "temp": 61.5, "feels_like": 60.1, "temp_min": 58.0, "temp_max": 64.4,
            "pressure": 1021, "humidity": 62
        },
        "name": "Portland",
        "cod": 200
    })
}

/// A valid report submission.
pub(crate) fn report_body(description: &str, city: &str) -> Value {
    json!({"description": description, "location": {"city": city, "state": "OR", "country": "US"}})
}

/// Reads a problem+json body, asserting the content type.
pub(crate) async fn problem(response: reqwest::Response) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/problem+json"),
        "expected problem+json, got {content_type:?}"
    );
    response.json().await.expect("json body")
}

/// The WWW-Authenticate header, or "".
pub(crate) fn challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Every report the service at `address` lists, following `Link: rel="next"` pages of 500.
pub(crate) async fn all_reports(
    client: &reqwest::Client,
    address: &str,
    token: &str,
) -> Vec<Value> {
    let mut url = format!("{address}/api/reports?limit=500");
    let mut all = Vec::new();
    loop {
        let response = client.get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{url}");
        let next = response
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
        let page: Vec<Value> = response.json().await.unwrap();
        all.extend(page);
        match next {
            Some(link) => {
                let target = link
                    .strip_prefix("<?")
                    .and_then(|l| l.strip_suffix(">; rel=\"next\""))
                    .unwrap_or_else(|| panic!("unexpected Link {link:?}"))
                    .to_owned();
                url = format!("{address}/api/reports?{target}");
            }
            None => return all,
        }
    }
}
