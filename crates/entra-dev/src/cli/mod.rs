//! Command-line interface: `serve`, `token`, `keys`, `inspect`.

mod cert;
mod inspect;
mod revoke;
mod serve;
mod switches;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use entra_dev::defaults;

const AFTER_HELP: &str = "\
EXAMPLES:
  entra-dev serve                              # issuer on http://127.0.0.1:8400/
  entra-dev token                              # alice, v2, scopes weather.read weather.write
  entra-dev token --scope weather.read --user bob
  entra-dev token --app --role Weather.Read.All   # app-only token for the development daemon
  entra-dev token --expired                    # to watch an API reject it
  entra-dev inspect \"$(entra-dev token)\"       # what is in a token, in plain words
  entra-dev keys rotate                        # new signing key; the old one stays published

  curl -H \"Authorization: Bearer $(entra-dev token)\" http://127.0.0.1:8000/api/weather/Portland

FILES:
  Signing keys live in the data dir (file signing-keys.json, mode 0600): --data-dir, else $ENTRA_DEV_HOME,
  else $XDG_DATA_HOME/entra-dev, else $HOME/.local/share/entra-dev. The weather API in development mode uses
  the same directory, so tokens from `entra-dev token` are accepted by it.

THIS IS A DEVELOPMENT TOOL. Its keys are unencrypted, its login page checks no password and its client secret
is public. Never point a production service at it.";

/// A local, Entra-shaped development issuer and token tool (DEVELOPMENT ONLY).
///
/// entra-dev imitates the public side of Microsoft Entra ID: OpenID metadata, key sets, a token endpoint and a
/// login page, for a fixed development tenant. An API validates its tokens exactly as it validates Entra's.
#[derive(Debug, Parser)]
#[command(name = "entra-dev", version, after_long_help = AFTER_HELP)]
pub(crate) struct Cli {
    /// Directory holding the signing keys [default: $ENTRA_DEV_HOME, $XDG_DATA_HOME/entra-dev or
    /// ~/.local/share/entra-dev]
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the issuer over HTTP (loopback only unless --allow-remote)
    Serve(serve::ServeArgs),
    /// Mint a signed access token offline, like `dotnet user-jwts create`
    Token(token::TokenArgs),
    /// Show or rotate the signing keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Decode a token and explain each claim (no verification: a service judges tokens itself)
    Inspect(inspect::InspectArgs),
    /// Create a client certificate and key for client assertions
    #[command(subcommand)]
    Cert(CertCommand),
    /// Show or set the switches of a running issuer (outage, consent required, MFA demanded)
    #[command(subcommand)]
    Switches(switches::SwitchesCommand),
    /// Revoke a test user's refresh tokens on a running issuer (next use: invalid_grant)
    Revoke(revoke::RevokeArgs),
}

#[derive(Debug, Subcommand)]
enum CertCommand {
    /// Write NAME.crt.pem and the key (NAME.key.pem or NAME.pfx, 0600) and print how to register the
    /// certificate
    Create(cert::CertCreateArgs),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List the signing keys: kid, age, and whether each is current and published
    Show(KeysShowArgs),
    /// Generate a new signing key; the old one stays published for the grace period
    Rotate(KeysRotateArgs),
}

#[derive(Debug, Args)]
struct KeysShowArgs {
    /// Also print the published key set (JWKS) as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct KeysRotateArgs {
    /// How long the old key stays published (e.g. 24h, 30m, 0s)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "24h")]
    grace: Duration,
}

/// Token format on the command line: `1` or `2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum VersionArg {
    /// v1.0 tokens (`iss` {instance}{tid}/, `aud` the App ID URI)
    #[value(name = "1")]
    V1,
    /// v2.0 tokens (`iss` {instance}{tid}/v2.0, `aud` the client id)
    #[value(name = "2")]
    V2,
}

impl From<VersionArg> for entra_dev::TokenVersion {
    fn from(v: VersionArg) -> Self {
        match v {
            VersionArg::V1 => Self::V1,
            VersionArg::V2 => Self::V2,
        }
    }
}

/// Parses `90s`, `15m`, `1h`, `2d` or plain seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration: use e.g. 90s, 15m, 1h or 2d"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit '{unit}' in '{s}': use s, m, h or d")),
    };
    Ok(Duration::from_secs(n.saturating_mul(factor)))
}

/// The data dir from `--data-dir` or the default lookup.
fn data_dir(cli: &Option<PathBuf>) -> anyhow::Result<PathBuf> {
    cli.clone().or_else(entra_dev::default_data_dir).context(
        "cannot find a data directory: set --data-dir, ENTRA_DEV_HOME, XDG_DATA_HOME or HOME",
    )
}

pub(crate) fn run() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("entra-dev: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(data_dir(&cli.data_dir)?, args),
        Command::Token(args) => token::run(data_dir(&cli.data_dir)?, args),
        Command::Keys(KeysCommand::Show(args)) => keys_show(data_dir(&cli.data_dir)?, args),
        Command::Keys(KeysCommand::Rotate(args)) => keys_rotate(data_dir(&cli.data_dir)?, args),
        Command::Inspect(args) => inspect::run(args),
        Command::Cert(CertCommand::Create(args)) => cert::run(args),
        Command::Switches(command) => switches::run(command),
        Command::Revoke(args) => revoke::run(args),
    }
}

fn open_issuer(
    data_dir: PathBuf,
    instance: &str,
    grace: Option<Duration>,
) -> anyhow::Result<entra_dev::DevIssuer> {
    open_issuer_with(data_dir, instance, grace, |_| {})
}

/// Like [`open_issuer`], with a last change to the configuration (clients registered on the command line).
fn open_issuer_with(
    data_dir: PathBuf,
    instance: &str,
    grace: Option<Duration>,
    edit: impl FnOnce(&mut entra_dev::DevIssuerConfig),
) -> anyhow::Result<entra_dev::DevIssuer> {
    let existed = data_dir.join(entra_dev::KEY_FILE_NAME).exists();
    let mut config = entra_dev::DevIssuerConfig {
        data_dir: Some(data_dir.clone()),
        ..entra_dev::DevIssuerConfig::default()
    };
    if let Some(g) = grace {
        config.key_grace_period = g;
    }
    edit(&mut config);
    let instance =
        url::Url::parse(instance).with_context(|| format!("invalid --instance '{instance}'"))?;
    let issuer = entra_dev::DevIssuer::new(config, instance)?;
    if !existed {
        eprintln!(
            "entra-dev: created a new development signing key in {}",
            data_dir.join(entra_dev::KEY_FILE_NAME).display()
        );
    }
    Ok(issuer)
}

fn keys_show(data_dir: PathBuf, args: KeysShowArgs) -> anyhow::Result<()> {
    let issuer = open_issuer(data_dir.clone(), defaults::WEATHER_API_DEV_INSTANCE, None)?;
    println!(
        "Key file: {}",
        data_dir.join(entra_dev::KEY_FILE_NAME).display()
    );
    for k in issuer.keys() {
        let state = match (k.is_current, k.is_published) {
            (true, _) => "current (signs new tokens)",
            (false, true) => "retired, still published (grace period)",
            (false, false) => "retired, no longer published",
        };
        println!(
            "  kid {}  created {}",
            k.kid,
            entra_dev::format_unix_time(k.created_at as i64)
        );
        if let Some(r) = k.retired_at {
            println!("      retired {}", entra_dev::format_unix_time(r as i64));
        }
        if let (false, Some(u)) = (k.is_current, k.published_until) {
            println!(
                "      published until {}",
                entra_dev::format_unix_time(u as i64)
            );
        }
        println!("      {state}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&issuer.key_set())?);
    }
    Ok(())
}

fn keys_rotate(data_dir: PathBuf, args: KeysRotateArgs) -> anyhow::Result<()> {
    let issuer = open_issuer(
        data_dir,
        defaults::WEATHER_API_DEV_INSTANCE,
        Some(args.grace),
    )?;
    let old = issuer.current_kid();
    let new = issuer.rotate_key()?;
    println!("New signing key: {new}");
    println!(
        "Old key {old} stays published for {}s.",
        args.grace.as_secs()
    );
    println!(
        "A running `entra-dev serve` and a weather API in development mode pick it up by themselves within \
         seconds (they re-read the key file every 2 s): no restart needed."
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse_duration_accepts_units_and_rejects_garbage() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert_eq!(
            parse_duration("1y").unwrap_err(),
            "unknown unit 'y' in '1y': use s, m, h or d"
        );
        assert_eq!(
            parse_duration("h").unwrap_err(),
            "'h' is not a duration: use e.g. 90s, 15m, 1h or 2d"
        );
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
