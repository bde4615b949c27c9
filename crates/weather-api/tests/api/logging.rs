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
