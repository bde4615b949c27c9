//! `entra-dev token`: mint a token offline with the persisted key.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context as _};
use clap::Args;
use entra_dev::{defaults, Subject, TokenRequest, TokenVersion};
use serde_json::{Map, Value};

use super::{parse_duration, VersionArg};

/// Options of `entra-dev token`.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Without --scope, a user token gets every scope the API exposes (weather.read weather.write); without
--role, an app token gets the roles assigned to its client (like requesting .default).
The token is printed alone on stdout, so TOKEN=$(entra-dev token) works; a summary goes to stderr.")]
pub(crate) struct TokenArgs {
    /// Delegated scope for `scp` (repeatable), e.g. weather.read
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,

    /// App role for `roles` (repeatable), e.g. Weather.Read.All
    #[arg(long = "role", value_name = "ROLE")]
    roles: Vec<String>,

    /// App-only token (no user) for this client [default client: the development daemon]
    #[arg(long, value_name = "CLIENT_ID", num_args = 0..=1,
          default_missing_value = defaults::DEV_DAEMON_CLIENT_ID, conflicts_with = "user")]
    app: Option<String>,

    /// The signed-in user: alice, bob, or any name (gets a synthetic identity)
    #[arg(long, value_name = "NAME", default_value = defaults::ALICE_USERNAME)]
    user: String,

    /// Token format: 1 (v1.0) or 2 (v2.0)
    #[arg(long, value_enum, default_value = "2")]
    version: VersionArg,

    /// Override `aud` [default: the API's client id for v2, its App ID URI for v1]
    #[arg(long, value_name = "AUD")]
    audience: Option<String>,

    /// Token lifetime, e.g. 1h, 15m, 90s
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1h")]
    lifetime: Duration,

    /// Make the token valid only after this delay from now (sets `nbf` in the future), e.g. 10m
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    not_before: Option<Duration>,

    /// Mint a token that expired an hour ago (beyond any reasonable clock skew)
    #[arg(long)]
    expired: bool,

    /// Extra claim KEY=VALUE (repeatable); VALUE is parsed as JSON if it can be, else kept as a string,
    /// e.g. --claim 'xms_cc=["cp1"]' --claim acct=0
    #[arg(long = "claim", value_name = "KEY=VALUE", value_parser = parse_claim)]
    claims: Vec<(String, Value)>,

    /// Tenant id for `tid` and the issuer [default: the development tenant]
    #[arg(long, value_name = "GUID")]
    tenant: Option<String>,

    /// Mint a B2C-shaped token for this user flow (iss {instance}{tid}/v2.0/, ver 1.0, tfp)
    #[arg(long, value_name = "POLICY")]
    b2c_policy: Option<String>,

    /// Base URL of the issuer the API trusts (the weather API mounts it at /dev-issuer/)
    #[arg(long, value_name = "URL", env = "ENTRA_DEV_INSTANCE",
          default_value = defaults::WEATHER_API_DEV_INSTANCE)]
    instance: String,

    /// Print a JSON object with the token, its header and its claims instead of the bare token
    #[arg(long, conflicts_with = "count")]
    json: bool,

    /// Mint this many distinct tokens (each with its own uti), one per line (load tests)
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    count: u32,
}

fn parse_claim(s: &str) -> Result<(String, Value), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not KEY=VALUE"))?;
    if k.is_empty() {
        return Err(format!("'{s}' has an empty claim name"));
    }
    let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
    Ok((k.to_owned(), value))
}

pub(crate) fn run(data_dir: PathBuf, args: TokenArgs) -> anyhow::Result<()> {
    let issuer = super::open_issuer(data_dir, &args.instance, None)?;
    let config = issuer.config();
    let subject = match &args.app {
        Some(client_id) => Subject::App {
            client_id: client_id.clone(),
        },
        None => Subject::User(args.user.clone()),
    };
    let (scopes, roles) = match &subject {
        Subject::User(_) if args.scopes.is_empty() => (config.scopes.clone(), args.roles.clone()),
        Subject::App { client_id } if args.roles.is_empty() => {
            let roles = config
                .client(client_id)
                .map(|c| c.app_roles.clone())
                .unwrap_or_default();
            (args.scopes.clone(), roles)
        }
        _ => (args.scopes.clone(), args.roles.clone()),
    };
    if args.expired && args.not_before.is_some() {
        bail!("--expired and --not-before contradict each other: pick one");
    }
    let now = SystemTime::now();
    let issued_at = if args.expired {
        now - args.lifetime - Duration::from_secs(3600)
    } else {
        now
    };
    let not_before = args.not_before.map(|d| now + d);
    let extra_claims: Map<String, Value> = args.claims.iter().cloned().collect();
    let version: TokenVersion = args.version.into();
    let req = TokenRequest {
        subject,
        version,
        scopes,
        roles,
        audience: args.audience.clone(),
        tenant_id: args.tenant.clone(),
        b2c_policy: args.b2c_policy.clone(),
        issued_at: Some(issued_at),
        lifetime: Some(args.lifetime),
        not_before,
        extra_claims,
        ..TokenRequest::default()
    };
    if args.count > 1 {
        return print_many(&issuer, &req, args.count);
    }
    let token = issuer.mint(&req).context("minting the token failed")?;
    let (header, claims) = super::inspect::decode(&token)?;
    eprintln!(
        "entra-dev: {}",
        super::inspect::summary(&claims, SystemTime::now())
    );
    if args.json {
        let out = serde_json::json!({ "token": token, "header": header, "claims": claims });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{token}");
    }
    Ok(())
}

/// Mints `count` tokens for `req` (distinct: each gets a fresh random `uti`), one per line, using
/// every core (signing is the slow part).
fn print_many(issuer: &entra_dev::DevIssuer, req: &TokenRequest, count: u32) -> anyhow::Result<()> {
    use std::io::Write as _;
    let count = count as usize;
    let workers = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .min(count);
    let per = count.div_ceil(workers);
    let chunks: Vec<anyhow::Result<Vec<String>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let n = per.min(count.saturating_sub(w * per));
                s.spawn(move || {
                    (0..n)
                        .map(|_| issuer.mint(req).context("minting a token failed"))
                        .collect::<anyhow::Result<Vec<String>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a minting thread panicked")))
            })
            .collect()
    });
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for chunk in chunks {
        for token in chunk? {
            writeln!(out, "{token}")?;
        }
    }
    out.flush()?;
    eprintln!("entra-dev: {count} distinct tokens");
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse_claim;
    use serde_json::json;

    #[test]
    fn parse_claim_reads_json_values_and_falls_back_to_strings() {
        assert_eq!(parse_claim("acct=0").unwrap(), ("acct".into(), json!(0)));
        assert_eq!(
            parse_claim("xms_cc=[\"cp1\"]").unwrap(),
            ("xms_cc".into(), json!(["cp1"]))
        );
        assert_eq!(
            parse_claim("idp=https://x/").unwrap(),
            ("idp".into(), json!("https://x/"))
        );
        assert_eq!(
            parse_claim("novalue").unwrap_err(),
            "'novalue' is not KEY=VALUE"
        );
        assert_eq!(
            parse_claim("=x").unwrap_err(),
            "'=x' has an empty claim name"
        );
    }
}
