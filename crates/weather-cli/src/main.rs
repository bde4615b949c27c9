//! `weather`: the command-line client of the weather service (the course's `reportapp`), secured with the
//! Microsoft identity platform.
//!
//! `weather reports`, `weather report "Misty sunrise" --city Portland --state OR`,
//! `weather now portland --units imperial`, `weather` (the original prompt loop), `weather login`
//! (authorization code + PKCE in the browser, or `--device-code`), `weather logout`, `weather accounts`.
//! Tokens come from `--token`/`WEATHER_TOKEN`, the active account's sign-in (refreshed silently), or the
//! client-credentials grant; see `weather --help`. Signing in, refresh tokens, the token cache file and
//! client credentials are entra-token's (`PublicClient`, `FileCache`, `ConfidentialClient`).
//!
//! Layout: [`args`] (command line), [`config`] (settings resolution), [`token`] (entra-token's clients for
//! these settings, their errors in the CLI's words), [`api`] (requests and the error mapping), [`session`]
//! (calls with retry on a refused cached token), [`interactive`], [`output`], [`terminal`] (text made safe to
//! print), [`progress`], [`error`]
//! (messages and exit codes), [`run`] (the commands).

mod api;
mod args;
mod config;
mod error;
mod exit;
mod interactive;
mod output;
mod progress;
mod run;
mod session;
mod terminal;
mod token;

use std::process::ExitCode;

use clap::Parser;

use crate::error::CliError;

/// Prints a failure to stderr: the message, its causes (except for network failures, already summed
/// up), and the hint.
pub(crate) fn print_error(error: &CliError) {
    let mut text = error.to_string();
    if !matches!(error, CliError::Unreachable { .. }) {
        let mut source = std::error::Error::source(error);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
    }
    // The message may carry the service's or the identity provider's text.
    eprintln!("weather: {}", terminal::escaped(&text));
    if let Some(hint) = error.hint() {
        eprintln!("weather: hint: {}", terminal::escaped(&hint));
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match run::run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            print_error(&error);
            ExitCode::from(error.exit_code())
        }
    }
}
