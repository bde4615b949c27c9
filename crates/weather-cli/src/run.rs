//! What each command does, from resolved settings to output.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use entra_token::cache::Cleared;
use entra_token::{Account, DeviceCodePrompt, FileCache};

use crate::args::{
    AccountsAction, AccountsArgs, Cli, Command, LoginArgs, LogoutArgs, NowArgs, ReportArgs,
};
use crate::config::{self, ConfigError, Settings};
use crate::error::{CliError, TokenOrigin};
use crate::progress;
use crate::session::Session;
use crate::token::{self, TokenProvider};
use crate::{api, output};

/// Connect timeout of the service's HTTP client.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most redirects one call follows (all within the service's origin).
const MAX_REDIRECTS: usize = 5;

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
    // Refresh tokens are credentials that last: the data directory, not the cache directory.
    let cache_dir = if settings.use_cache {
        config::user_dir(&env, "XDG_DATA_HOME", ".local/share")
    } else {
        None
    };
    let progress = progress::is_enabled();
    let command = cli.command.unwrap_or(Command::Interactive);
    match command {
        Command::Logout(args) => logout(&settings, cache_dir, &args).await,
        Command::Login(args) => login(&settings, &args, cache_dir).await,
        Command::Accounts(args) => accounts(&settings, cache_dir, &args).await,
        command => {
            let tokens = TokenProvider::choose(&settings, cache_dir).await?;
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
    writeln!(out, "{}", crate::terminal::escaped_json(&text))?;
    Ok(())
}

/// The client for the service.
fn api_client(settings: &Settings) -> Result<reqwest::Client, CliError> {
    // Redirects only within the origin they start from: the bearer token goes nowhere else.
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same_origin && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    reqwest::Client::builder()
        .redirect(redirects)
        .connect_timeout(CONNECT_TIMEOUT.min(settings.timeout))
        .timeout(settings.timeout)
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

fn cache_of(cache_dir: Option<PathBuf>) -> Result<FileCache, CliError> {
    cache_dir
        .as_deref()
        .map(token::file_cache)
        .ok_or(CliError::Config(ConfigError::LoginWithoutCache))
}

fn cache_error(e: entra_token::FileCacheError, settings: &Settings) -> CliError {
    token::token_error(
        entra_token::TokenError::Cache(e),
        settings,
        TokenOrigin::User,
    )
}

async fn logout(
    settings: &Settings,
    cache_dir: Option<PathBuf>,
    args: &LogoutArgs,
) -> Result<u8, CliError> {
    let Some(cache) = cache_dir.as_deref().map(token::file_cache) else {
        println!("No token cache in use: nothing to forget.");
        return Ok(0);
    };
    if args.all {
        let cleared = cache.clear().await.map_err(|e| cache_error(e, settings))?;
        println!(
            "Signed out: {} ({}).",
            cleared_text(&cleared),
            cache.path().display()
        );
        return Ok(0);
    }
    let Some(active) = cache
        .active_account()
        .await
        .map_err(|e| cache_error(e, settings))?
    else {
        println!("No account is signed in (`weather logout --all` also forgets app-only tokens).");
        let deleted = cache
            .delete_set_aside_files()
            .await
            .map_err(|e| cache_error(e, settings))?;
        if deleted > 0 {
            println!(
                "Deleted {deleted} damaged cache file{} (set aside earlier).",
                if deleted == 1 { "" } else { "s" }
            );
        }
        return Ok(0);
    };
    cache
        .remove_account(&active.id)
        .await
        .map_err(|e| cache_error(e, settings))?;
    let next = cache
        .active_account()
        .await
        .map_err(|e| cache_error(e, settings))?;
    match next {
        Some(n) => println!(
            "Signed out {}; the active account is now {}.",
            active.display_name(),
            n.display_name()
        ),
        None => println!(
            "Signed out {}; commands now use client credentials when configured.",
            active.display_name()
        ),
    }
    Ok(0)
}

/// `removed 1 account, 2 app-only tokens and 1 damaged cache file`: each kind by its name, so an
/// app-only token is never counted as an account.
fn cleared_text(cleared: &Cleared) -> String {
    let count =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = vec![
        count(cleared.accounts, "account", "accounts"),
        count(cleared.app_tokens, "app-only token", "app-only tokens"),
    ];
    if cleared.set_aside_files > 0 {
        parts.push(count(
            cleared.set_aside_files,
            "damaged cache file",
            "damaged cache files",
        ));
    }
    let last = parts.pop().unwrap_or_default();
    if parts.is_empty() {
        format!("removed {last}")
    } else {
        format!("removed {} and {last}", parts.join(", "))
    }
}

/// `weather accounts` and `weather accounts use ACCOUNT`.
async fn accounts(
    settings: &Settings,
    cache_dir: Option<PathBuf>,
    args: &AccountsArgs,
) -> Result<u8, CliError> {
    let cache = cache_of(cache_dir)?;
    let list = cache
        .accounts()
        .await
        .map_err(|e| cache_error(e, settings))?;
    match &args.action {
        None => {
            let active = cache
                .active_account()
                .await
                .map_err(|e| cache_error(e, settings))?;
            if list.is_empty() {
                println!("No account is signed in: sign in with `weather login` (or `weather login --device-code`).");
                return Ok(0);
            }
            let mut out = std::io::stdout().lock();
            for (i, a) in list.iter().enumerate() {
                let mark = if active.as_ref().is_some_and(|x| x.id == a.id) {
                    '*'
                } else {
                    ' '
                };
                writeln!(
                    out,
                    "{mark} {}  {}  tenant {}",
                    i + 1,
                    a.display_name(),
                    a.tenant_id
                )?;
            }
            Ok(0)
        }
        Some(AccountsAction::Use { account }) => {
            let chosen = pick(&list, account).ok_or_else(|| CliError::UnknownAccount {
                given: account.clone(),
                known: list.iter().map(|a| a.username.clone()).collect(),
            })?;
            let active = cache
                .set_active(&chosen.id)
                .await
                .map_err(|e| cache_error(e, settings))?;
            println!("The active account is now {}.", active.display_name());
            Ok(0)
        }
    }
}

/// An account by its number in the list (from 1), its username (any case) or its id.
fn pick<'a>(list: &'a [Account], given: &str) -> Option<&'a Account> {
    if let Ok(n) = given.parse::<usize>() {
        return n.checked_sub(1).and_then(|i| list.get(i));
    }
    list.iter()
        .find(|a| a.username.eq_ignore_ascii_case(given) || a.id == given)
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

fn show_device_prompt(p: &DeviceCodePrompt) {
    eprintln!(
        "To sign in, open {} on any device and enter the code {} (it expires in {} minutes).\n\
         Waiting for the sign-in...",
        p.verification_uri,
        p.user_code,
        p.expires_in.as_secs().div_ceil(60)
    );
}

async fn login(
    settings: &Settings,
    args: &LoginArgs,
    cache_dir: Option<PathBuf>,
) -> Result<u8, CliError> {
    let cache = cache_of(cache_dir)?;
    let client = token::public_client(settings, cache)?;
    let scopes = token::user_scopes(settings)?;
    let signed_in = if args.device_code {
        client
            .acquire_by_device_code(&scopes, &show_device_prompt)
            .await
    } else {
        let wait = Duration::from_secs(args.wait.max(1));
        let no_browser = args.no_browser;
        let show_url = move |url: &url::Url| {
            eprintln!(
                "To sign in, open this URL in a browser (waiting up to {} s):\n\n  {url}\n",
                wait.as_secs()
            );
            if !no_browser {
                if let Err(e) = open_browser(url) {
                    eprintln!("(could not start a browser: {e}; open the URL above yourself)");
                }
            }
        };
        client
            .acquire_interactive(&scopes, "the weather command", wait, &show_url)
            .await
    }
    .map_err(|e| token::token_error(e, settings, TokenOrigin::User))?;
    let granted = short_scopes(signed_in.granted_scopes.as_deref().unwrap_or(""));
    println!(
        "Signed in as {} with {}. Commands use this account and refresh its sign-in silently (`weather accounts` to list or switch, `weather logout` to sign out).",
        signed_in.account.display_name(),
        if granted.is_empty() { "no API scope".to_owned() } else { granted },
    );
    Ok(0)
}

/// Starts the platform's URL opener (not waited for: the printed URL is the fallback).
fn open_browser(url: &url::Url) -> std::io::Result<tokio::process::Child> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    tokio::process::Command::new(opener)
        .arg(url.as_str())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(username: &str) -> Account {
        serde_json::from_value(serde_json::json!({
            "id": format!("{username}.t"), "tenant_id": "t", "oid": username, "username": username
        }))
        .unwrap()
    }

    #[test]
    fn accounts_are_picked_by_number_username_or_id() {
        let list = [account("alice@x"), account("bob@x")];
        assert_eq!(pick(&list, "2").unwrap().username, "bob@x");
        assert_eq!(pick(&list, "ALICE@X").unwrap().username, "alice@x");
        assert_eq!(pick(&list, "bob@x.t").unwrap().username, "bob@x");
        assert!(pick(&list, "0").is_none());
        assert!(pick(&list, "3").is_none());
        assert!(pick(&list, "carol").is_none());
    }

    #[test]
    fn cleared_names_accounts_and_app_only_tokens_apart() {
        let cleared = |accounts, app_tokens, set_aside_files| {
            let mut c = Cleared::default();
            (c.accounts, c.app_tokens, c.set_aside_files) = (accounts, app_tokens, set_aside_files);
            cleared_text(&c)
        };
        assert_eq!(cleared(0, 1, 0), "removed 0 accounts and 1 app-only token");
        assert_eq!(
            cleared(2, 1, 1),
            "removed 2 accounts, 1 app-only token and 1 damaged cache file"
        );
    }

    #[test]
    fn scopes_are_shortened_for_display_without_oidc_scopes() {
        assert_eq!(
            short_scopes("api://x/weather.read api://x/weather.write openid profile"),
            "weather.read weather.write"
        );
        assert_eq!(short_scopes(""), "");
    }
}
