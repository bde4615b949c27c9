//! Logs carry a request id and never the bearer token.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use crate::helpers::{spawn_app, Persona};

/// Collects everything the test binary's subscriber writes.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything logged so far, as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

static LOGS: OnceLock<Captured> = OnceLock::new();

/// Installs (once) the global subscriber that records every test app's logs at DEBUG; called by
/// `spawn_app`. Global rather than per test: scoped subscribers miss events of callsites that other
/// tests' threads registered first.
pub(crate) fn capture() -> &'static Captured {
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "warn,weather_api=debug,entra_auth=debug,tower_http=debug",
            ))
            .with_ansi(false)
            .with_writer(captured.clone())
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        captured
    })
}

#[tokio::test]
async fn logs_have_request_ids_and_never_the_token() {
    let app = spawn_app().await;
    let good = app.token(Persona::Reader).unwrap();
    let bad = app.expired_token();
    let wrong_scope = app.token(Persona::Writer).unwrap();
    for token in [&good, &bad, &wrong_scope] {
        app.get("/api/reports", Some(token)).await;
    }
    let response = app.get("/api/reports", Some(&good)).await;
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(response.status().as_u16(), 200);

    let logs = String::from_utf8_lossy(&capture().0.lock().unwrap()).into_owned();
    assert!(
        logs.contains(&format!("request_id={request_id}")),
        "request id not logged:\n{logs}"
    );
    for token in [&good, &bad, &wrong_scope] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!logs.contains(signature), "a token leaked into the logs");
    }
}

#[tokio::test]
async fn binary_logging_to_a_pipe_writes_no_ansi_colour_codes() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let issuer = entra_dev::DevIssuer::spawn(entra_dev::DevIssuerConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::binary::settings(
        &issuer,
        "http://127.0.0.1:9",
        &dir.path().join("weather.db"),
        serde_json::json!({}),
    );
    config["log_format"] = "text".into();
    let file = dir.path().join("settings.json");
    std::fs::write(&file, serde_json::to_vec(&config).unwrap()).unwrap();
    // stdout is a pipe and nothing asks for no colour: the decision must come from the pipe itself.
    let mut child = Command::new(env!("CARGO_BIN_EXE_weather-api"))
        .arg("--settings")
        .arg(&file)
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = tokio::task::spawn_blocking(move || {
        let mut seen = String::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("listening") {
                break;
            }
        }
        seen
    });
    let logs = tokio::time::timeout(std::time::Duration::from_secs(60), reader).await;
    let _ = child.kill();
    let _ = child.wait();
    let logs = logs
        .expect("the binary logs its listening line within 60 s")
        .unwrap();
    assert!(logs.contains("listening"), "no listening line:\n{logs}");
    assert!(
        logs.contains(" INFO "),
        "plain level names expected:\n{logs}"
    );
    assert!(
        !logs.contains('\u{1b}'),
        "ANSI escape codes in piped logs:\n{logs:?}"
    );
}

#[tokio::test]
async fn forbidden_request_is_logged_and_counted_once() {
    let logs = capture();
    let app = spawn_app().await;
    // a scope no other test uses, to find this request's events among every test's
    let token = app.mint(&crate::helpers::user_with_scopes(&["marker.logged-once"]));
    let response = app.get("/api/reports", Some(&token)).await;
    assert_eq!(response.status().as_u16(), 403);
    assert!(crate::helpers::challenge(&response).starts_with("Bearer error=\"insufficient_scope\""));
    let body = crate::helpers::problem(response).await;
    assert_eq!(body["code"], "insufficient_scope");

    let rejections = logs
        .text()
        .lines()
        .filter(|l| l.contains("bearer token rejected") && l.contains("marker.logged-once"))
        .count();
    assert_eq!(rejections, 1, "{}", logs.text());
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("entra_auth_tokens_rejected_total{code=\"insufficient_scope\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("entra_auth_tokens_accepted_total 0"),
        "{metrics}"
    );
}
