//! Logs carry a request id and never the bearer token.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::helpers::{spawn_app, Persona};

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

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

#[tokio::test]
async fn logs_have_request_ids_and_never_the_token() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    // #[tokio::test] runs on one thread: the server's tasks log through this subscriber too.
    let _guard = tracing::subscriber::set_default(subscriber);

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

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains(&format!("request_id={request_id}")),
        "request id not logged:\n{logs}"
    );
    for token in [&good, &bad, &wrong_scope] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!logs.contains(signature), "a token leaked into the logs");
    }
}
