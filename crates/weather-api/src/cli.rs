//! The command line: `weather-api [--settings PATH]` serves; `weather-api check-token TOKEN` says
//! whether the service, with these settings, would accept a token ([`check_token`](crate::check_token)).

use std::path::PathBuf;

use crate::check_token::CheckTokenArgs;

/// `weather-api [--settings PATH] [COMMAND]`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "weather-api",
    version,
    about = "The weather service, secured with entra-auth"
)]
pub struct Cli {
    /// A settings file to use instead of ./settings.json (must exist).
    #[arg(long, value_name = "PATH", global = true)]
    pub settings: Option<PathBuf>,

    /// Without a command, the service runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands besides serving.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Would this service accept this access token? Each check of its validator (signature, issuer,
    /// audience, lifetime...) with what was expected and found, and the API permissions it grants.
    /// Exit status 0: accepted; 1: refused; 2: the settings cannot be used
    CheckToken(CheckTokenArgs),
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory as _;
        super::Cli::command().debug_assert();
    }
}
