//! The command line (clap). Options that also come from the environment name their variable; options that
//! can also come from the settings file are `Option`s here so that [`crate::config::resolve`] can tell
//! "not given" from "given".
//!
//! The doc comments of the fields are clap's help texts, printed as plain text: URLs and brackets in them
//! are not meant as links.
#![allow(rustdoc::bare_urls, rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

use crate::exit::EXIT_CODES_HELP;

/// `weather`: report and read the weather with the secured weather service.
#[derive(Debug, Parser)]
#[command(
    name = "weather",
    version,
    about = "Report and read the weather with the secured weather service (the course's reportapp)",
    long_about = "Report and read the weather with the secured weather service (the course's reportapp).\n\n\
        Without a command it runs the original prompt loop: \"[R]eport weather or [s]ee reports?\".\n\n\
        Tokens: --token (or WEATHER_TOKEN); else the active account signed in with `weather login` \
        (refreshed silently: a sign-in lasts until it is revoked or unused for 90 days); else the \
        client-credentials grant (--client-id, --client-secret or WEATHER_CLIENT_SECRET). Accounts and \
        tokens are kept in $XDG_DATA_HOME/weather-cli/tokens.json (mode 0600). With no identity \
        settings everything targets the development issuer of `cargo run -p weather-api` \
        ({api-url}/dev-issuer/) and its development daemon client.",
    after_help = EXIT_CODES_HELP
)]
pub(crate) struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    /// What to do (default: interactive).
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

/// Options shared by every command.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct GlobalArgs {
    /// The weather service [default: http://127.0.0.1:8000]
    #[arg(long, global = true, env = "WEATHER_API_URL", value_name = "URL")]
    pub(crate) api_url: Option<Url>,
    /// Settings file [default: $XDG_CONFIG_HOME/weather-cli/config.json]
    #[arg(long, global = true, env = "WEATHER_CLI_CONFIG", value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    /// Use this access token (no sign-in, no cache)
    #[arg(
        long,
        global = true,
        env = "WEATHER_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) token: Option<String>,
    /// Full authority URL, e.g. https://login.microsoftonline.com/{tenant} (overrides --instance/--tenant)
    #[arg(long, global = true, env = "WEATHER_AUTHORITY", value_name = "URL")]
    pub(crate) authority: Option<Url>,
    /// Identity provider instance, e.g. https://login.microsoftonline.com/ [default: {api-url}/dev-issuer/]
    #[arg(long, global = true, env = "WEATHER_INSTANCE", value_name = "URL")]
    pub(crate) instance: Option<Url>,
    /// Directory (tenant) id [default with the development issuer: its tenant]
    #[arg(long, global = true, env = "WEATHER_TENANT_ID", value_name = "ID")]
    pub(crate) tenant: Option<String>,
    /// Confidential client for the client-credentials grant [default with the development issuer: its daemon]
    #[arg(long, global = true, env = "WEATHER_CLIENT_ID", value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// The client's secret (prefer the environment variable: command lines are visible to other users)
    #[arg(
        long,
        global = true,
        env = "WEATHER_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub(crate) client_secret: Option<String>,
    /// The client's certificate with its private key instead of a secret: PEM (PKCS#8, PKCS#1 or
    /// encrypted) or PKCS#12 / PFX
    #[arg(
        long,
        global = true,
        env = "WEATHER_CLIENT_CERTIFICATE",
        value_name = "PATH"
    )]
    pub(crate) client_certificate: Option<std::path::PathBuf>,
    /// The password of an encrypted key or PFX (prefer the environment variable)
    #[arg(
        long,
        global = true,
        env = "WEATHER_CLIENT_CERTIFICATE_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub(crate) client_certificate_password: Option<String>,
    /// The client's credential is this host's Azure managed identity (a federated credential of its
    /// registration, no secret): `system`, or a user-assigned identity's client id. The endpoint
    /// is picked from IDENTITY_ENDPOINT / IDENTITY_HEADER / MSI_ENDPOINT / IMDS_ENDPOINT (else the
    /// VM's instance metadata service)
    #[arg(
        long,
        global = true,
        env = "WEATHER_CLIENT_MANAGED_IDENTITY",
        value_name = "system|CLIENT_ID"
    )]
    pub(crate) client_managed_identity: Option<String>,
    /// Scope of the client-credentials grant [default: api://{api-client-id}/.default]
    #[arg(long, global = true, env = "WEATHER_SCOPE", value_name = "SCOPE")]
    pub(crate) scope: Option<String>,
    /// The weather API's app registration (client id) [default with the development issuer: its API]
    #[arg(long, global = true, env = "WEATHER_API_CLIENT_ID", value_name = "ID")]
    pub(crate) api_client_id: Option<String>,
    /// Public client for `weather login` (authorization code + PKCE) [default with the development issuer: its public client]
    #[arg(
        long,
        global = true,
        env = "WEATHER_PUBLIC_CLIENT_ID",
        value_name = "ID"
    )]
    pub(crate) public_client_id: Option<String>,
    /// Scopes a user signs in for with `weather login` [default: api://{api-client-id}/weather.read api://{api-client-id}/weather.write]
    #[arg(long, global = true, env = "WEATHER_USER_SCOPE", value_name = "SCOPES")]
    pub(crate) user_scope: Option<String>,
    /// Neither read nor write the token cache (no user sign-in then)
    #[arg(long, global = true)]
    pub(crate) no_cache: bool,
    /// Print the service's JSON instead of text
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Time limit of each HTTP call, in seconds
    #[arg(long, global = true, default_value_t = 30, value_name = "SECONDS")]
    pub(crate) timeout: u64,
}

/// The commands.
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum Command {
    /// List reports, newest first: the newest page, or every report with --all
    Reports(ReportsArgs),
    /// Submit a weather report
    Report(ReportArgs),
    /// Current weather for a city
    Now(NowArgs),
    /// The original prompt loop: "[R]eport weather or [s]ee reports?" (an empty line exits)
    Interactive,
    /// Sign in as a user: through the browser (authorization code + PKCE), or with a code entered on
    /// another device (--device-code); the account becomes the active one
    Login(LoginArgs),
    /// Sign the active account out (forget its tokens); --all forgets every account and cached token
    Logout(LogoutArgs),
    /// List the signed-in accounts (* marks the active one), or switch: `weather accounts use bob@contoso.com`
    Accounts(AccountsArgs),
}

/// `weather logout`.
#[derive(Debug, Clone, Args)]
pub(crate) struct LogoutArgs {
    /// Forget every account and cached token (remove the cache file)
    #[arg(long)]
    pub(crate) all: bool,
}

/// `weather accounts`.
#[derive(Debug, Clone, Args)]
pub(crate) struct AccountsArgs {
    /// What to do (default: list)
    #[command(subcommand)]
    pub(crate) action: Option<AccountsAction>,
}

/// `weather accounts ...`.
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum AccountsAction {
    /// Make an account the active one: its number in the list, its username or its id
    Use {
        /// Number, username or id
        account: String,
    },
}

/// `weather reports`.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct ReportsArgs {
    /// Reports per page, from 1 to 500 (the service's default, 50, when not given)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=500))]
    pub(crate) limit: Option<u16>,
    /// Every report: follow the service's `Link: rel="next"` pages to the end (500 per page unless
    /// --limit says otherwise)
    #[arg(long)]
    pub(crate) all: bool,
}

/// `weather report`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ReportArgs {
    /// What is happening, e.g. "Misty sunrise"
    pub(crate) description: String,
    /// City
    #[arg(long)]
    pub(crate) city: String,
    /// Two-letter state (US only)
    #[arg(long)]
    pub(crate) state: Option<String>,
    /// Two-letter country code
    #[arg(long, default_value = "US")]
    pub(crate) country: String,
}

/// `weather now`.
#[derive(Debug, Clone, Args)]
pub(crate) struct NowArgs {
    /// City, e.g. portland
    pub(crate) city: String,
    /// Two-letter state (US only)
    #[arg(long)]
    pub(crate) state: Option<String>,
    /// Two-letter country code
    #[arg(long, default_value = "US")]
    pub(crate) country: String,
    /// Units of the answer
    #[arg(long, value_enum, default_value_t = Units::Metric)]
    pub(crate) units: Units,
}

/// `weather login`.
#[derive(Debug, Clone, Args)]
pub(crate) struct LoginArgs {
    /// Sign in on another device: print a URL and a code to enter there (for SSH, containers, CI)
    #[arg(long, conflicts_with = "no_browser")]
    pub(crate) device_code: bool,
    /// Only print the sign-in URL, do not start a browser
    #[arg(long)]
    pub(crate) no_browser: bool,
    /// How long to wait for the browser to come back, in seconds
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub(crate) wait: u64,
}

/// The weather query's units (a closed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Units {
    /// Celsius, metres per second.
    Metric,
    /// Fahrenheit, miles per hour.
    Imperial,
    /// Kelvin.
    Standard,
}

impl Units {
    /// The query value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Metric => "metric",
            Self::Imperial => "imperial",
            Self::Standard => "standard",
        }
    }

    /// The temperature unit symbol.
    pub(crate) fn temperature_symbol(self) -> &'static str {
        match self {
            Self::Metric => "°C",
            Self::Imperial => "°F",
            Self::Standard => "K",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("weather").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_means_interactive() {
        assert!(parse(&[]).command.is_none());
        assert!(matches!(
            parse(&["interactive"]).command,
            Some(Command::Interactive)
        ));
    }

    #[test]
    fn report_takes_description_city_state_and_defaults_country_to_us() {
        let args = ["report", "Misty sunrise", "--city=Portland", "--state=OR"];
        let cli = parse(&args);
        let Some(Command::Report(r)) = cli.command else {
            panic!("not a report command");
        };
        assert_eq!(r.description, "Misty sunrise");
        assert_eq!(r.city, "Portland");
        assert_eq!(r.state.as_deref(), Some("OR"));
        assert_eq!(r.country, "US");
    }

    #[test]
    fn now_parses_units_and_global_options_after_the_subcommand() {
        let cli = parse(&[
            "now",
            "portland",
            "--units",
            "imperial",
            "--api-url",
            "http://127.0.0.1:9000",
            "--json",
        ]);
        let Some(Command::Now(n)) = cli.command else {
            panic!("not a now command");
        };
        assert_eq!(n.city, "portland");
        assert_eq!(n.units, Units::Imperial);
        assert_eq!(n.country, "US");
        assert_eq!(
            cli.global.api_url.unwrap().as_str(),
            "http://127.0.0.1:9000/"
        );
        assert!(cli.global.json);
    }

    #[test]
    fn unknown_units_and_bad_urls_are_usage_errors() {
        let err = Cli::try_parse_from(["weather", "now", "x", "--units", "kelvin"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err =
            Cli::try_parse_from(["weather", "--api-url", "not a url", "reports"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn login_defaults_wait_five_minutes_and_opens_a_browser() {
        let Some(Command::Login(l)) = parse(&["login"]).command else {
            panic!("not login");
        };
        assert_eq!(l.wait, 300);
        assert!(!l.no_browser);
        assert!(!l.device_code);
    }

    #[test]
    fn login_device_code_accounts_use_and_logout_all_parse() {
        let Some(Command::Login(l)) = parse(&["login", "--device-code"]).command else {
            panic!("not login");
        };
        assert!(l.device_code);
        assert!(
            Cli::try_parse_from(["weather", "login", "--device-code", "--no-browser"]).is_err()
        );
        let Some(Command::Accounts(a)) = parse(&["accounts", "use", "2"]).command else {
            panic!("not accounts");
        };
        assert!(matches!(a.action, Some(AccountsAction::Use { account }) if account == "2"));
        assert!(matches!(
            parse(&["accounts"]).command,
            Some(Command::Accounts(AccountsArgs { action: None }))
        ));
        assert!(matches!(
            parse(&["logout", "--all"]).command,
            Some(Command::Logout(LogoutArgs { all: true }))
        ));
    }
}
