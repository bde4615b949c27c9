//! `weather-api check-token TOKEN [--settings FILE] [--json]`: would this service accept this token?
//!
//! It loads the settings exactly as the service does ([`Settings::load`]: defaults, the settings file,
//! `WEATHER_API__*` variables), builds the same validator ([`to_validator`], every authority of
//! `azure_ad.authorities` included), fetches the authorities' metadata and keys, and prints entra-auth's
//! [`TokenValidator::explain`](entra_auth::TokenValidator::explain): each check in order, what was
//! expected and what was found, and the first that fails with the code of the 401 body. For an accepted
//! token it also says which of the API's permissions the token grants. The token itself is never
//! printed.
//!
//! Exit status: 0 when the service would accept the token, 1 when it would refuse it, 2 when the
//! settings cannot be used (invalid, or development mode, where the service trusts only the development
//! issuer it mounts itself).

use std::io::Read as _;
use std::path::Path;
use std::process::ExitCode;

use entra_auth::explain::Explanation;
use entra_auth::{PermissionId, VerifiedClaims};
use serde_json::{json, Value};

use crate::auth::{self, AppRoles, ReportsRead, ReportsWrite, WeatherRead};
use crate::settings::{Identity, Settings, SettingsError, DEFAULT_SETTINGS_FILE};
use crate::startup::to_validator;

/// Options of `weather-api check-token`.
#[derive(Debug, clap::Args)]
pub struct CheckTokenArgs {
    /// The access token (a compact JWS; a leading "Bearer " is ignored); `-` reads it from stdin, which
    /// keeps it out of the process list and the shell history
    #[arg(value_name = "TOKEN")]
    pub token: String,

    /// Print one JSON object: `accepted`, the checks (`explanation`) and the permissions granted
    #[arg(long)]
    pub json: bool,
}

/// Runs `check-token` with the settings file `settings` (else `./settings.json` when present), the
/// working directory and the process environment, printing to stdout and stderr.
pub async fn run(settings: Option<&Path>, args: &CheckTokenArgs) -> ExitCode {
    match check(settings, args).await {
        Ok(Verdict::Accepted) => ExitCode::SUCCESS,
        Ok(Verdict::Refused(reason)) => {
            eprintln!("weather-api: the service would refuse this token: {reason}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("weather-api: check-token: {e}");
            ExitCode::from(2)
        }
    }
}

enum Verdict {
    Accepted,
    Refused(String),
}

/// Why `check-token` could not judge the token.
#[derive(Debug, thiserror::Error)]
enum CheckError {
    #[error("invalid settings: {0}")]
    Settings(#[from] SettingsError),
    #[error("cannot read the working directory or stdin: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "no identity is configured (azure_ad.tenant_id and azure_ad.client_id are unset): this is \
         development mode, where the service accepts only the tokens of the development issuer it mounts \
         at /dev-issuer/; set both keys (or name the settings file with --settings) to check a token \
         against an app registration, or read a development token with `entra-dev inspect TOKEN`"
    )]
    DevelopmentMode,
}

async fn check(settings: Option<&Path>, args: &CheckTokenArgs) -> Result<Verdict, CheckError> {
    let cwd = std::env::current_dir()?;
    let loaded = Settings::load(settings, &cwd, std::env::vars())?;
    let identity = loaded
        .azure_ad
        .identity
        .clone()
        .ok_or(CheckError::DevelopmentMode)?;
    let validator = to_validator(&loaded.azure_ad, &identity, None)?;
    let token = read_token(&args.token)?;
    let explanation = validator.explain(&token).await;
    let source = match settings {
        Some(f) => format!("settings {}", f.display()),
        None if cwd.join(DEFAULT_SETTINGS_FILE).is_file() => {
            format!("settings {DEFAULT_SETTINGS_FILE}")
        }
        None => "built-in defaults".to_owned(),
    };
    let roles = AppRoles {
        read: loaded.azure_ad.read_role.clone(),
        write: loaded.azure_ad.write_role.clone(),
    };
    let permissions = match explanation.claims() {
        Some(claims) => permissions(&roles, claims)?,
        None => Vec::new(),
    };
    if args.json {
        let out = json!({
            "accepted": explanation.is_accepted(),
            "explanation": explanation.to_json(),
            "permissions": permissions.iter().map(Granted::to_json).collect::<Vec<_>>(),
        });
        println!("{out:#}");
    } else {
        print!(
            "{}",
            report(&source, &loaded, &identity, &explanation, &permissions)
        );
    }
    Ok(match explanation.error() {
        None => Verdict::Accepted,
        Some(e) => Verdict::Refused(format!(
            "{} {} at the {} check",
            e.status().as_u16(),
            e.code(),
            explanation
                .first_failure()
                .map_or("format", |s| s.check().name())
        )),
    })
}

/// The token from the argument, or stdin for `-`, without a `Bearer ` prefix or surrounding blanks.
fn read_token(arg: &str) -> std::io::Result<String> {
    let raw = if arg == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s
    } else {
        arg.to_owned()
    };
    let token = raw.trim();
    Ok(token
        .strip_prefix("Bearer ")
        .unwrap_or(token)
        .trim()
        .to_owned())
}

/// One of the API's permissions and whether the token grants it.
struct Granted {
    permission: &'static str,
    routes: &'static str,
    /// `None`: granted; else the 403 code and reason.
    refusal: Option<(&'static str, String)>,
}

impl Granted {
    fn to_json(&self) -> Value {
        match &self.refusal {
            None => json!({"permission": self.permission, "routes": self.routes, "granted": true}),
            Some((code, detail)) => json!({
                "permission": self.permission, "routes": self.routes, "granted": false,
                "code": code, "detail": detail,
            }),
        }
    }
}

/// Checks the verified claims against each permission's requirement (the ones start-up registers).
fn permissions(roles: &AppRoles, claims: &VerifiedClaims) -> Result<Vec<Granted>, SettingsError> {
    let routes = |id: PermissionId| {
        if id == PermissionId::of::<WeatherRead>() {
            ("WeatherRead", "GET /api/weather/{city}")
        } else if id == PermissionId::of::<ReportsRead>() {
            ("ReportsRead", "GET /api/reports, GET /api/reports/{id}")
        } else if id == PermissionId::of::<ReportsWrite>() {
            ("ReportsWrite", "POST /api/reports")
        } else {
            ("(unnamed)", "")
        }
    };
    Ok(auth::requirements(roles)?
        .into_iter()
        .map(|(id, requirement)| {
            let (permission, routes) = routes(id);
            Granted {
                permission,
                routes,
                refusal: requirement
                    .check(claims)
                    .err()
                    .map(|e| (e.code(), e.to_string())),
            }
        })
        .collect())
}

/// The plain-words report: where the settings came from, each check, the verdict, the permissions.
fn report(
    source: &str,
    settings: &Settings,
    identity: &Identity,
    explanation: &Explanation,
    permissions: &[Granted],
) -> String {
    let mut out = format!(
        "Checks of weather-api's token validator ({source} and WEATHER_API__* variables; \
         tenant {}, client id {}, instance {}{})\n\n",
        identity.tenant_id,
        identity.client_id,
        settings.azure_ad.instance,
        match settings.azure_ad.authorities.len() {
            0 => String::new(),
            n => format!(", and {n} more authorities from azure_ad.authorities"),
        }
    );
    out.push_str(&explanation.to_string());
    if !permissions.is_empty() {
        out.push_str("\nPermissions of the API this token grants\n");
        for p in permissions {
            match &p.refusal {
                None => out.push_str(&format!("  [ok  ] {} ({})\n", p.permission, p.routes)),
                Some((code, detail)) => out.push_str(&format!(
                    "  [ -- ] {} ({}): 403 {code}: {detail}\n",
                    p.permission, p.routes
                )),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::read_token;

    #[test]
    fn read_token_strips_the_bearer_prefix_and_blanks() {
        assert_eq!(
            read_token(" Bearer a.b.c \n").ok().as_deref(),
            Some("a.b.c")
        );
        assert_eq!(read_token("a.b.c").ok().as_deref(), Some("a.b.c"));
    }
}
