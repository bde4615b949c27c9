//! `entra-dev revoke --user NAME`: revoke a test user's refresh tokens on a running issuer (their next use
//! answers `invalid_grant`, AADSTS50173), through `{instance}control/revoke`.

use anyhow::{bail, Context as _};
use clap::Args;

/// Options of `entra-dev revoke`.
#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    /// The test user (user name or sign-in name, e.g. alice)
    #[arg(long, value_name = "NAME")]
    user: String,

    /// The issuer's instance URL (as printed by `entra-dev serve`)
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8400/")]
    url: String,
}

pub(crate) fn run(args: RevokeArgs) -> anyhow::Result<()> {
    let url = super::switches::control_url(&args.url, "control/revoke")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime failed")?;
    runtime.block_on(async {
        let response = super::switches::http_client()?
            .post(url.clone())
            .json(&serde_json::json!({ "user": args.user }))
            .send()
            .await
            .with_context(|| format!("cannot reach the issuer at {url}: is `entra-dev serve` running?"))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            bail!(
                "the issuer refused ({status}): {}",
                body["error_description"].as_str().unwrap_or("no reason given")
            );
        }
        println!(
            "Revoked {} refresh token(s) of {}: their next use answers invalid_grant (AADSTS50173).",
            body["revoked"], body["user"].as_str().unwrap_or(&args.user)
        );
        Ok(())
    })
}
