//! `entra-dev switches`: read or set the switches of a running issuer (outage, consent required, MFA
//! demanded) through its control endpoint, `{instance}control/switches`.

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use entra_dev::{MfaDemand, Switches};

/// `entra-dev switches ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum SwitchesCommand {
    /// Print the switches of the running issuer
    Show(Target),
    /// Replace every switch (switches not named are turned off)
    Set(SetArgs),
    /// Turn every switch off
    Clear(Target),
}

/// Which running issuer.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// The issuer's instance URL (as printed by `entra-dev serve`; the weather API in development mode
    /// serves it at http://127.0.0.1:8000/dev-issuer/)
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8400/")]
    url: String,
}

/// Options of `entra-dev switches set`.
#[derive(Debug, Args)]
#[command(after_long_help = "\
EXAMPLES:
  entra-dev switches set --consent-required api://b0b1b2b3-c4c5-4d6d-8e7e-f8f9fafbfcfd
  entra-dev switches set --mfa-required b0b1b2b3-c4c5-4d6d-8e7e-f8f9fafbfcfd=c1
  entra-dev switches set --outage
  entra-dev switches clear")]
pub(crate) struct SetArgs {
    #[command(flatten)]
    target: Target,

    /// Metadata and key endpoints answer 503
    #[arg(long)]
    outage: bool,

    /// On-behalf-of requests for this API (client id or App ID URI) fail with consent_required
    /// (AADSTS65001); repeatable
    #[arg(long, value_name = "API")]
    consent_required: Vec<String>,

    /// On-behalf-of requests for this API fail with interaction_required (AADSTS50076) and a claims
    /// challenge for the authentication context (default c1) unless the user's token has it; repeatable
    #[arg(long, value_name = "API[=CONTEXT]")]
    mfa_required: Vec<String>,
}

pub(crate) fn run(command: SwitchesCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime failed")?;
    runtime.block_on(async {
        let (target, body) = match command {
            SwitchesCommand::Show(target) => (target, None),
            SwitchesCommand::Clear(target) => (target, Some(Switches::default())),
            SwitchesCommand::Set(args) => {
                let switches = Switches {
                    outage: args.outage,
                    consent_required: args.consent_required,
                    mfa_required: args
                        .mfa_required
                        .iter()
                        .map(|s| match s.split_once('=') {
                            Some((api, context)) => MfaDemand {
                                api: api.to_owned(),
                                auth_context: context.to_owned(),
                            },
                            None => MfaDemand::new(s),
                        })
                        .collect(),
                };
                (args.target, Some(switches))
            }
        };
        let url = control_url(&target.url, "control/switches")?;
        let client = http_client()?;
        let request = match &body {
            Some(switches) => client.put(url.clone()).json(switches),
            None => client.get(url.clone()),
        };
        let response = request.send().await.with_context(|| {
            format!("cannot reach the issuer at {url}: is `entra-dev serve` running?")
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let reason = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error_description"].as_str().map(str::to_owned))
                .unwrap_or(text);
            bail!("the issuer refused the switches ({status}): {reason}");
        }
        let switches: Switches = serde_json::from_str(&text)
            .with_context(|| format!("{url} did not answer a switches document"))?;
        println!("{}", serde_json::to_string_pretty(&switches)?);
        Ok(())
    })
}

/// The HTTP client of the control commands (10 s timeout, no redirects).
pub(crate) fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// `path` (e.g. `control/switches`) under the instance URL `instance`.
pub(crate) fn control_url(instance: &str, path: &str) -> anyhow::Result<url::Url> {
    let mut base =
        url::Url::parse(instance).with_context(|| format!("invalid --url '{instance}'"))?;
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.join(path)
        .with_context(|| format!("invalid --url '{instance}'"))
}
