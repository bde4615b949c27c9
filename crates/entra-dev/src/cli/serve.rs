//! `entra-dev serve`: run the issuer over HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Args;
use entra_dev::defaults;

/// Options of `entra-dev serve`.
#[derive(Debug, Args)]
#[command(after_long_help = "\
The issuer listens on loopback only: anyone who can reach it can mint tokens it signs. --allow-remote
lifts that (e.g. inside a container network) and is never for production.")]
pub(crate) struct ServeArgs {
    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = defaults::DEFAULT_BIND)]
    bind: SocketAddr,

    /// Allow a non-loopback bind address (DEVELOPMENT ONLY: exposes a token minting service)
    #[arg(long)]
    allow_remote: bool,

    /// Public base URL of the issuer, if it differs from http://{bind}/ (reverse proxy, container)
    #[arg(long, value_name = "URL")]
    instance: Option<String>,

    /// Register a certificate (PEM file, e.g. from `entra-dev cert create`) on a client for client
    /// assertions; an unknown client id becomes a new confidential client. Repeatable
    #[arg(long, value_name = "CLIENT_ID=PATH", value_parser = parse_client_certificate)]
    client_certificate: Vec<(String, entra_dev::ClientCertificate)>,
}

/// Parses `CLIENT_ID=PATH` and reads the certificate.
fn parse_client_certificate(s: &str) -> Result<(String, entra_dev::ClientCertificate), String> {
    let (id, path) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not CLIENT_ID=PATH"))?;
    let pem = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let cert = entra_dev::ClientCertificate::from_pem(&pem, None).map_err(|e| {
        let cause = std::error::Error::source(&e)
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        format!("{path} is not a PEM certificate or RSA public key{cause}")
    })?;
    Ok((id.to_owned(), cert))
}

/// Adds each certificate to its client, creating a confidential client for an unknown id.
fn register_certificates(
    config: &mut entra_dev::DevIssuerConfig,
    certificates: Vec<(String, entra_dev::ClientCertificate)>,
) {
    for (id, cert) in certificates {
        match config
            .clients
            .iter_mut()
            .find(|c| c.client_id.eq_ignore_ascii_case(&id))
        {
            Some(client) => client.certificates.push(cert),
            None => config.clients.push(entra_dev::DevClient {
                certificates: vec![cert],
                ..entra_dev::DevClient::confidential(
                    &id,
                    "Client registered with --client-certificate",
                )
            }),
        }
    }
}

/// Refuses non-loopback binds unless explicitly allowed.
pub(crate) fn check_bind(bind: SocketAddr, allow_remote: bool) -> anyhow::Result<()> {
    if !bind.ip().is_loopback() && !allow_remote {
        bail!(
            "refusing to listen on {bind}: entra-dev is a development issuer and anyone who can reach it \
             can mint tokens. Use a loopback address (127.0.0.1, [::1]) or pass --allow-remote if you \
             really mean it"
        );
    }
    Ok(())
}

pub(crate) fn run(data_dir: PathBuf, args: ServeArgs) -> anyhow::Result<()> {
    check_bind(args.bind, args.allow_remote)?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("entra_dev=info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime failed")?;
    runtime.block_on(serve(data_dir, args))
}

async fn serve(data_dir: PathBuf, args: ServeArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let addr = listener.local_addr()?;
    let instance = match &args.instance {
        Some(i) => i.clone(),
        None if addr.ip().is_unspecified() => format!("http://127.0.0.1:{}/", addr.port()),
        None => format!("http://{addr}/"),
    };
    let certificates = args.client_certificate;
    let issuer = tokio::task::spawn_blocking(move || {
        super::open_issuer_with(data_dir, &instance, None, |config| {
            register_certificates(config, certificates)
        })
    })
    .await
    .context("key loading task failed")??;
    print_banner(&issuer, addr);
    let app = axum::Router::new().merge(issuer.router());
    let watcher = issuer.watch_key_file(std::time::Duration::from_secs(2));
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    watcher.abort();
    served.context("the server failed")?;
    eprintln!("entra-dev: stopped");
    Ok(())
}

fn print_banner(issuer: &entra_dev::DevIssuer, addr: SocketAddr) {
    let base = issuer.instance();
    let tid = &issuer.config().tenant_id;
    let line = "=".repeat(78);
    println!("{line}");
    println!("  entra-dev: Entra-shaped issuer, DEVELOPMENT ONLY, NEVER FOR PRODUCTION");
    println!(
        "  listening on {addr}; signing key {}",
        issuer.current_kid()
    );
    println!("{line}");
    println!("  Instance        {base}");
    println!("  Tenant          {tid}");
    println!("  v2 metadata     {base}{tid}/v2.0/.well-known/openid-configuration");
    println!("  v1 metadata     {base}{tid}/.well-known/openid-configuration");
    println!("  Keys            {base}{tid}/discovery/v2.0/keys");
    println!("  Token endpoint  {base}{tid}/oauth2/v2.0/token");
    println!("  Login page      {base}{tid}/oauth2/v2.0/authorize");
    println!("  Multi-tenant    {base}common/v2.0/.well-known/openid-configuration");
    println!(
        "  B2C             {base}{}.onmicrosoft.com/{{policy}}/v2.0/.well-known/openid-configuration",
        issuer.config().b2c_tenant_name
    );
    println!(
        "  API             {} (App ID URI {})",
        issuer.config().api_client_id,
        issuer.config().api_app_id_uri
    );
    println!(
        "  Daemon client   {} / secret {}",
        defaults::DEV_DAEMON_CLIENT_ID,
        defaults::DEV_DAEMON_CLIENT_SECRET
    );
    println!(
        "  Public client   {} (PKCE, loopback redirects)",
        defaults::DEV_PUBLIC_CLIENT_ID
    );
    println!(
        "  Weather API     {} / secret {} (middle tier of on-behalf-of)",
        defaults::DEV_API_CLIENT_ID,
        defaults::DEV_API_CLIENT_SECRET
    );
    println!(
        "  Downstream API  {} (scopes {}, {})",
        defaults::DEV_DOWNSTREAM_API_APP_ID_URI,
        defaults::SCOPE_DOWNSTREAM_READ,
        defaults::SCOPE_DOWNSTREAM_WRITE
    );
    println!("  Test users      alice, bob (no password)");
    println!(
        "  Managed ident.  IMDS {base}metadata/identity/oauth2/token (AZURE_POD_IDENTITY_AUTHORITY_HOST={base})"
    );
    println!(
        "                  App Service {base}msi/token (IDENTITY_ENDPOINT, IDENTITY_HEADER={})",
        issuer.config().identity_header
    );
    println!(
        "                  system-assigned {}, user-assigned {}; faults: {base}control/managed-identity",
        defaults::DEV_SYSTEM_MI_CLIENT_ID,
        defaults::DEV_USER_MI_CLIENT_ID
    );
    println!("  Switches        {base}control/switches (entra-dev switches --url {base})");
    println!("  Offline token   entra-dev token --instance {base}");
    println!("{line}");
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::check_bind;

    #[test]
    fn non_loopback_bind_is_refused_unless_allowed() {
        let any = "0.0.0.0:8400".parse().expect("valid address");
        let refused = check_bind(any, false).expect_err("0.0.0.0 without --allow-remote");
        assert!(
            refused.to_string().starts_with(
                "refusing to listen on 0.0.0.0:8400: entra-dev is a development issuer"
            ),
            "{refused}"
        );
        assert!(refused.to_string().contains("--allow-remote"), "{refused}");
        for (bind, allow_remote) in [
            ("0.0.0.0:8400", true),
            ("127.0.0.1:8400", false),
            ("[::1]:8400", false),
        ] {
            let bind = bind.parse().expect("valid address");
            if let Err(e) = check_bind(bind, allow_remote) {
                panic!("{bind} (allow_remote {allow_remote}) refused: {e}");
            }
        }
    }
}
