//! What each command does, from resolved settings to output.

use std::io::Write;
use std::time::Duration;

use crate::args::{Cli, Command, LoginArgs, NowArgs, ReportArgs};
use crate::cache::{now_unix, TokenCache, TokenKind};
use crate::config::{self, ConfigError, Settings};
use crate::error::CliError;
use crate::login::{self, Listener, Pkce};
use crate::progress::{self, with_progress};
use crate::session::Session;
use crate::token::{self, TokenProvider};
use crate::{api, output};

/// Connect timeout of both HTTP clients.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Runs the command line; returns the exit code of a failure already reported (interactive mode).
///
/// # Errors
/// The command's [`CliError`].
pub(crate) async fn run(cli: Cli) -> Result<u8, CliError> {
    let file = config::load_file(config::config_path(cli.global.config.as_deref(), &env)).await?;
    let settings = config::resolve(&cli.global, file)?;
    let cache = if settings.use_cache {
        config::user_dir(&env, "XDG_CACHE_HOME", ".cache").map(|d| TokenCache::in_dir(&d))
    } else {
        None
    };
    let progress = progress::is_enabled();
    let command = cli.command.unwrap_or(Command::Interactive);
    match command {
        Command::Logout => logout(cache).await,
        Command::Login(args) => login(&settings, &args, cache, progress).await,
        command => {
            let tokens = TokenProvider::choose(&settings, idp_client(&settings)?, cache).await?;
            let mut session = Session::new(
                api_client(&settings)?,
                tokens,
                settings.api_url.clone(),
                progress,
            );
            let mut out = std::io::stdout().lock();
            match command {
                Command::Reports(args) => {
                    let reports = session.reports(args.limit, args.all).await?;
                    if settings.json {
                        print_json(&mut out, &reports)?;
                    } else {
                        write!(out, "{}", output::reports(&reports))?;
                    }
                }
                Command::Report(args) => {
                    report(&mut session, &args, settings.json, &mut out).await?
                }
                Command::Now(args) => now(&mut session, &args, settings.json, &mut out).await?,
                _ => {
                    drop(out);
                    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
                    let mut stdout = std::io::stdout();
                    return crate::interactive::run(&mut session, stdin, &mut stdout).await;
                }
            }
            Ok(0)
        }
    }
}

fn print_json<T: serde::Serialize>(out: &mut dyn Write, value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).expect("BUG: API values serialise");
    writeln!(out, "{text}")?;
    Ok(())
}

/// The client for the service.
fn api_client(settings: &Settings) -> Result<reqwest::Client, CliError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(settings.timeout))
        .timeout(settings.timeout)
        .user_agent(concat!("weather-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CliError::Io(std::io::Error::other(e)))
}

/// The client for the identity provider: no redirects.
fn idp_client(settings: &Settings) -> Result<reqwest::Client, CliError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(settings.timeout))
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("weather-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CliError::Io(std::io::Error::other(e)))
}

async fn report(
    session: &mut Session,
    args: &ReportArgs,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let new = api::NewReport {
        description: args.description.clone(),
        location: api::Location {
            city: args.city.clone(),
            state: args.state.clone(),
            country: Some(args.country.clone()),
        },
    };
    let stored = session.add_report(&new).await?;
    if json {
        print_json(out, &stored)
    } else {
        write!(out, "{}", output::created(&stored))?;
        Ok(())
    }
}

async fn now(
    session: &mut Session,
    args: &NowArgs,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let main = session
        .current_weather(
            &args.city,
            args.state.as_deref(),
            &args.country,
            args.units.as_str(),
        )
        .await?;
    if json {
        return print_json(out, &main);
    }
    let mut place = vec![args.city.as_str()];
    place.extend(args.state.as_deref());
    place.push(&args.country);
    write!(
        out,
        "{}",
        output::weather(&place.join(", "), args.units, &main)
    )?;
    Ok(())
}

async fn logout(cache: Option<TokenCache>) -> Result<u8, CliError> {
    let Some(cache) = cache else {
        println!("No token cache in use: nothing to forget.");
        return Ok(0);
    };
    let count = cache.clear().await?;
    println!(
        "Signed out: removed {count} cached token{} ({}).",
        if count == 1 { "" } else { "s" },
        cache.path().display()
    );
    Ok(0)
}

/// The last segment of each scope (`api://x/weather.read` -> `weather.read`).
fn short_scopes(scope: &str) -> String {
    scope
        .split_whitespace()
        .map(|s| s.rsplit('/').next().unwrap_or(s))
        .filter(|s| !matches!(*s, "openid" | "profile" | "email" | "offline_access"))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn login(
    settings: &Settings,
    args: &LoginArgs,
    cache: Option<TokenCache>,
    progress: bool,
) -> Result<u8, CliError> {
    let cache = cache.ok_or(ConfigError::LoginWithoutCache)?;
    let client_id = settings
        .public_client_id
        .clone()
        .ok_or(ConfigError::Missing {
        key: "public_client_id",
        how: "set --public-client-id (public_client_id in the settings file): an app registration \
                  allowing public client flows, with the redirect URI http://127.0.0.1/",
    })?;
    let key = token::user_key(settings, None).ok_or(ConfigError::Missing {
        key: "api_client_id",
        how: "set --api-client-id (api_client_id in the settings file) or --user-scope",
    })?;
    let listener = Listener::bind().await?;
    let redirect_uri = listener.redirect_uri().to_owned();
    let state = login::random_token();
    let pkce = Pkce::generate();
    let url = login::authorize_url(
        &settings.authority.authorize_endpoint(),
        &client_id,
        &redirect_uri,
        &key.scope,
        &state,
        &pkce,
    );
    eprintln!(
        "To sign in, open this URL in a browser (waiting up to {} s):\n\n  {url}\n",
        args.wait
    );
    if !args.no_browser {
        if let Err(e) = login::open_browser(&url) {
            eprintln!("(could not start a browser: {e}; open the URL above yourself)");
        }
    }
    let code = listener
        .wait_for_code(&state, Duration::from_secs(args.wait.max(1)))
        .await?;
    let scope = format!("{} openid profile", key.scope);
    let now = now_unix();
    let response = with_progress(
        progress,
        "completing the sign-in",
        token::request_token(
            &idp_client(settings)?,
            &settings.authority,
            &client_id,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &client_id),
                ("code", &code),
                ("redirect_uri", &redirect_uri),
                ("code_verifier", &pkce.verifier),
                ("scope", &scope),
            ],
        ),
    )
    .await?;
    let account = response
        .id_token
        .as_ref()
        .and_then(|t| login::account_of(t.expose()));
    let cached = response.to_cached(key, TokenKind::User, now, account.clone());
    cache.put(cached).await?;
    let granted = short_scopes(response.scope.as_deref().unwrap_or(""));
    println!(
        "Signed in as {} with {}; the sign-in lasts {} minutes. Commands now use it (`weather logout` to stop).",
        account.as_deref().unwrap_or("the user"),
        if granted.is_empty() { "no API scope".to_owned() } else { granted },
        response.expires_in / 60
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_shortened_for_display_without_oidc_scopes() {
        assert_eq!(
            short_scopes("api://x/weather.read api://x/weather.write openid profile"),
            "weather.read weather.write"
        );
        assert_eq!(short_scopes(""), "");
    }
}
