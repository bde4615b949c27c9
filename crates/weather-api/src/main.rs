//! `weather-api`: settings -> telemetry -> build -> serve until SIGTERM or Ctrl-C; `weather-api
//! check-token` judges a token with the same settings instead.

use std::process::ExitCode;

use clap::Parser as _;
use weather_api::cli::{Cli, Command};
use weather_api::{check_token, shutdown_signal, telemetry, Application, Settings};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::CheckToken(args)) = &cli.command {
        return check_token::run(cli.settings.as_deref(), args).await;
    }
    let settings = match Settings::from_process(cli.settings.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("weather-api: invalid settings: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    for warning in &settings.warnings {
        tracing::warn!("settings: {warning}");
    }
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("weather-api: cannot start: {}", error_chain(&e));
            return ExitCode::FAILURE;
        }
    };
    if let Some(banner) = app.banner() {
        println!("{banner}");
    }
    match app.run_until_stopped(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weather-api: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        // Drivers often repeat their cause in their own message: say it once.
        let cause = s.to_string();
        if !text.ends_with(&cause) {
            text.push_str(&format!(": {cause}"));
        }
        source = s.source();
    }
    text
}
