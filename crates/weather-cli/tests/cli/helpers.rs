//! Spawning the service and running the `weather` binary in an isolated home.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use entra_dev::defaults::{DEV_API_CLIENT_ID, DEV_TENANT_ID};
use entra_dev::{DevIssuer, DevIssuerConfig, RunningDevIssuer, Subject, TokenRequest};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use weather_api::startup::{Overrides, StartupError};
use weather_api::upstream::ManualClock;
use weather_api::{Application, Settings};
use wiremock::MockServer;

/// A running weather service with its fakes.
pub(crate) struct TestService {
    /// `http://127.0.0.1:{port}`.
    pub(crate) address: String,
    /// OpenWeatherMap.
    pub(crate) upstream: MockServer,
    /// The issuer whose tokens the service accepts (mounted in the service in development mode).
    pub(crate) issuer: DevIssuer,
    /// Keeps the separately served issuer ("Entra ID") running, when not in development mode.
    _external_issuer: Option<RunningDevIssuer>,
    _dir: Arc<TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), StartupError>>>,
}

impl Drop for TestService {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// `weather report "Misty sunrise" --city Portland --state OR`: a report the service stores.
pub(crate) const REPORT_MISTY_PORTLAND: &[&str] = &[
    "report",
    "Misty sunrise",
    "--city",
    "Portland",
    "--state",
    "OR",
];

/// The service in development mode: no identity settings, the development issuer under `/dev-issuer/`.
pub(crate) async fn spawn_dev_service() -> TestService {
    spawn(None).await
}

/// The service configured for "Entra ID": an in-process `entra-dev` issuer on its own port.
pub(crate) async fn spawn_entra_service() -> TestService {
    spawn_entra_service_with(DevIssuerConfig::default()).await
}

/// As [`spawn_entra_service`], with the issuer's registrations in `config`.
pub(crate) async fn spawn_entra_service_with(config: DevIssuerConfig) -> TestService {
    let issuer = DevIssuer::spawn(config).await.expect("issuer starts");
    spawn(Some(issuer)).await
}

async fn spawn(external: Option<RunningDevIssuer>) -> TestService {
    let upstream = MockServer::start().await;
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let mut env = vec![
        ("WEATHER_API__BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ("WEATHER_API__API_KEY".to_owned(), "test-api-key".to_owned()),
        (
            "WEATHER_API__OPENWEATHER_BASE_URL".to_owned(),
            upstream.uri(),
        ),
        (
            "WEATHER_API__DATABASE_URL".to_owned(),
            format!("sqlite://{}", dir.path().join("weather.db").display()),
        ),
    ];
    if external.is_none() {
        // Development mode is said, never inferred (a database URL says production otherwise).
        env.push(("WEATHER_API__MODE".to_owned(), "development".to_owned()));
    }
    if let Some(issuer) = &external {
        env.extend([
            (
                "WEATHER_API__AZURE_AD__INSTANCE".to_owned(),
                issuer.url().to_string(),
            ),
            (
                "WEATHER_API__AZURE_AD__TENANT_ID".to_owned(),
                DEV_TENANT_ID.to_owned(),
            ),
            (
                "WEATHER_API__AZURE_AD__CLIENT_ID".to_owned(),
                DEV_API_CLIENT_ID.to_owned(),
            ),
        ]);
    }
    let settings = Settings::load(None, dir.path(), env).expect("test settings load");
    let app = Application::build_with(
        settings,
        Overrides {
            clock: Arc::new(ManualClock::new(SystemTime::now())),
            dev_data_dir: Some(dir.path().join("entra-dev")),
        },
    )
    .await
    .expect("app builds");
    let issuer = match (&external, app.dev_issuer()) {
        (Some(e), _) => e.issuer.clone(),
        (None, Some(mounted)) => mounted.clone(),
        (None, None) => panic!("no issuer: neither development mode nor an external issuer"),
    };
    let validator = app.validator().clone();
    let address = format!("http://{}", app.local_addr());
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    // In development mode the keys come from the service itself: warm up once it serves.
    validator
        .warm_up()
        .await
        .expect("validator loads the issuer's keys");
    TestService {
        address,
        upstream,
        issuer,
        _external_issuer: external,
        _dir: dir,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestService {
    /// Stops the service and waits for it.
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server stops");
        }
    }

    /// Token requests the issuer answered so far.
    pub(crate) fn token_requests(&self) -> u64 {
        self.issuer.stats().token_requests
    }

    /// The issuer's base URL (instance).
    pub(crate) fn instance(&self) -> String {
        self.issuer.instance().to_string()
    }

    /// A user token for alice with these scopes.
    pub(crate) fn user_token(&self, scopes: &[&str]) -> String {
        self.issuer
            .mint(&TokenRequest {
                subject: Subject::User("alice".to_owned()),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                ..TokenRequest::default()
            })
            .expect("token mints")
    }

    /// An expired user token with both scopes.
    pub(crate) fn expired_token(&self) -> String {
        self.issuer
            .mint(&TokenRequest {
                subject: Subject::User("alice".to_owned()),
                scopes: vec!["weather.read".into(), "weather.write".into()],
                issued_at: Some(SystemTime::now() - Duration::from_secs(3 * 3600)),
                lifetime: Some(Duration::from_secs(3600)),
                ..TokenRequest::default()
            })
            .expect("token mints")
    }

    /// The reports as the API lists them (read with a freshly minted token).
    pub(crate) async fn api_reports(&self) -> Vec<Value> {
        let res = reqwest::Client::new()
            .get(format!("{}/api/reports", self.address))
            .bearer_auth(self.user_token(&["weather.read"]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// Stores a report through the API.
    pub(crate) async fn api_post_report(&self, description: &str, city: &str) {
        let res = reqwest::Client::new()
            .post(format!("{}/api/reports", self.address))
            .bearer_auth(self.user_token(&["weather.write"]))
            .json(&json!({"description": description, "location": {"city": city, "state": "OR"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
}

/// A finished run of the binary.
#[derive(Debug)]
pub(crate) struct Run {
    /// Exit code.
    pub(crate) code: i32,
    /// Standard output.
    pub(crate) stdout: String,
    /// Standard error.
    pub(crate) stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    pub(crate) fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "weather failed: {self:#?}");
        &self.stdout
    }
}

/// The `weather` binary in an isolated home: its own config and cache directories, no inherited
/// `WEATHER_*` variables.
pub(crate) struct Weather {
    home: TempDir,
    api_url: String,
    env: Vec<(String, String)>,
}

impl Weather {
    /// A client of `service`.
    pub(crate) fn new(service: &TestService) -> Self {
        Self::at(&service.address)
    }

    /// A client of whatever listens (or not) at `api_url`.
    pub(crate) fn at(api_url: &str) -> Self {
        Self {
            home: tempfile::tempdir().expect("temp dir"),
            api_url: api_url.to_owned(),
            env: Vec::new(),
        }
    }

    /// Adds an environment variable to every run.
    pub(crate) fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The isolated home directory.
    pub(crate) fn home(&self) -> &Path {
        self.home.path()
    }

    /// The token cache file (in the data directory: refresh tokens last).
    pub(crate) fn cache_file(&self) -> PathBuf {
        self.home.path().join("data/weather-cli/tokens.json")
    }

    /// The token cache file, parsed (panics when it does not parse: a corrupted cache).
    pub(crate) fn cache_json(&self) -> Value {
        let text = std::fs::read_to_string(self.cache_file()).expect("the cache file exists");
        serde_json::from_str(&text).expect("the cache file parses")
    }

    /// Makes every cached user access token look expired (as an hour later), so the next command
    /// must use the refresh token.
    pub(crate) fn expire_user_access_tokens(&self) {
        let mut json = self.cache_json();
        for account in json["accounts"].as_array_mut().expect("accounts") {
            for token in account["access_tokens"].as_array_mut().expect("tokens") {
                token["expires_at"] = json!(1000);
            }
        }
        std::fs::write(self.cache_file(), json.to_string()).unwrap();
    }

    /// The environment of a run (for a command started elsewhere, e.g. in tmux).
    pub(crate) fn env_vars(&self) -> Vec<(String, String)> {
        let home = self.home.path();
        let mut vars = vec![
            ("HOME".to_owned(), home.display().to_string()),
            (
                "XDG_CONFIG_HOME".to_owned(),
                home.join("config").display().to_string(),
            ),
            (
                "XDG_CACHE_HOME".to_owned(),
                home.join("cache").display().to_string(),
            ),
            (
                "XDG_DATA_HOME".to_owned(),
                home.join("data").display().to_string(),
            ),
        ];
        vars.extend(self.env.iter().cloned());
        vars
    }

    /// The service's URL this client talks to.
    pub(crate) fn api_url(&self) -> &str {
        &self.api_url
    }

    /// The command, with `--api-url` and piped stdio.
    pub(crate) fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_weather"));
        cmd.env_clear()
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("XDG_CACHE_HOME", self.home.path().join("cache"))
            .env("XDG_DATA_HOME", self.home.path().join("data"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .arg("--api-url")
            .arg(&self.api_url)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs to completion.
    pub(crate) async fn run(&self, args: &[&str]) -> Run {
        self.run_with_input(args, None).await
    }

    /// Runs to completion with `input` on stdin.
    pub(crate) async fn run_with_input(&self, args: &[&str], input: Option<&str>) -> Run {
        let mut cmd = self.command(args);
        if input.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().expect("weather starts");
        if let Some(input) = input {
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(input.as_bytes()).await.unwrap();
            drop(stdin);
        }
        let out = child.wait_with_output().await.unwrap();
        Run {
            code: out.status.code().expect("exited normally"),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }
}

/// A loopback URL where nothing listens (a port just released).
pub(crate) async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
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
