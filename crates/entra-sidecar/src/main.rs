//! `entra-sidecar`: settings (appsettings.json, environment, command line) -> logging -> bind ->
//! serve until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use entra_sidecar::{init_logging, shutdown_signal, Settings, Sidecar};

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::load(
        std::path::Path::new("."),
        std::env::vars(),
        std::env::args().skip(1),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("entra-sidecar: invalid settings: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&settings);
    let sidecar = match Sidecar::build(settings).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("entra-sidecar: cannot start: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    for addr in sidecar.local_addrs() {
        tracing::info!(%addr, "listening");
    }
    match sidecar.run_until(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("entra-sidecar: {e:#}");
            ExitCode::FAILURE
        }
    }
}
