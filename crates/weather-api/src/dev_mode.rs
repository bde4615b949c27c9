//! Development mode: when no `azure_ad` identity is configured, the service mounts the built-in
//! development issuer ([`entra_dev::DevIssuer`]) under [`DEV_ISSUER_PATH`] on its own address, validates
//! its tokens through the same discovery path as production, prints a [`dev_banner`] with copy-paste
//! commands, and picks up keys rotated by the `entra-dev` CLI. Everything about that mode lives here;
//! [`startup`](crate::startup) only asks [`check_bind`] and [`DevMode::start`] when the settings name no
//! identity.
//!
//! Development mode listens on loopback only: anyone who reaches the port can mint tokens with the
//! development daemon's secret printed in the README. A non-loopback `bind` (`0.0.0.0:8000` in a
//! container, a LAN address) stops start-up ([`NetworkBindRefused`]) unless
//! `dangerous_dev_mode_on_network` is set, as `entra-dev serve` refuses without `--allow-remote`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use tokio::task::JoinHandle;
use url::Url;

use crate::settings::Identity;

/// The path under which development mode mounts the development issuer.
pub const DEV_ISSUER_PATH: &str = "/dev-issuer";

/// Development mode was asked to listen where the network can reach it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "bind: development mode (no azure_ad.tenant_id / azure_ad.client_id configured) listens on loopback \
     only, and {addr} is reachable from the network: anyone who reaches it could mint tokens with the \
     development issuer's published secrets. Either configure azure_ad (tenant_id and client_id, see \
     settings_template.json) to validate Microsoft Entra ID tokens, or bind 127.0.0.1 \
     (\"bind\": \"127.0.0.1:{port}\" or WEATHER_API__BIND=127.0.0.1:{port}). To expose the development \
     issuer anyway, on a network you trust, set dangerous_dev_mode_on_network to true",
    port = addr.port()
)]
pub struct NetworkBindRefused {
    /// The refused listen address.
    pub addr: SocketAddr,
}

/// Development mode's bind rule: loopback only, unless `dangerous_on_network`
/// (`dangerous_dev_mode_on_network`) says otherwise.
///
/// # Errors
/// [`NetworkBindRefused`] for a non-loopback `bind` (including `0.0.0.0` and `[::]`) without it.
pub fn check_bind(bind: SocketAddr, dangerous_on_network: bool) -> Result<(), NetworkBindRefused> {
    if bind.ip().to_canonical().is_loopback() || dangerous_on_network {
        Ok(())
    } else {
        Err(NetworkBindRefused { addr: bind })
    }
}

/// How often the development issuer's key file is checked for a rotation by another process.
const KEY_FILE_POLL: Duration = Duration::from_secs(2);

/// How the service runs: production (no development issuer) or development mode.
#[derive(Debug, Clone, Default)]
pub struct ModeInfo {
    /// The development issuer, mounted by `build_router` under [`DEV_ISSUER_PATH`], in development mode
    /// only.
    pub dev_issuer: Option<entra_dev::DevIssuer>,
}

impl ModeInfo {
    /// The development issuer's instance URL, in development mode.
    pub fn dev_issuer_url(&self) -> Option<&Url> {
        self.dev_issuer.as_ref().map(entra_dev::DevIssuer::instance)
    }

    /// True in development mode.
    pub fn is_development(&self) -> bool {
        self.dev_issuer.is_some()
    }

    /// The client id Swagger UI signs in as: the development issuer's public client in development
    /// mode, else the configured `azure_ad.docs_client_id`.
    pub fn docs_client_id(&self, configured: Option<String>) -> Option<String> {
        match &self.dev_issuer {
            Some(_) => Some(entra_dev::defaults::DEV_PUBLIC_CLIENT_ID.to_owned()),
            None => configured,
        }
    }

    /// Development mode: watches the key file, so that `entra-dev keys rotate` run in another terminal
    /// is picked up. The handle is aborted at shutdown.
    pub fn watch_keys(&self) -> Option<JoinHandle<()>> {
        self.dev_issuer
            .as_ref()
            .map(|issuer| issuer.watch_key_file(KEY_FILE_POLL))
    }
}

/// A started development issuer: what the validator must trust.
#[derive(Debug)]
pub struct DevMode {
    /// The issuer, to mount under [`DEV_ISSUER_PATH`].
    pub issuer: entra_dev::DevIssuer,
    /// Its tenant and the API's client id, standing in for the `azure_ad` identity.
    pub identity: Identity,
    /// Its instance URL on the bound address (the validator's authority host).
    pub instance: Url,
}

impl DevMode {
    /// Starts the development issuer for a service bound on `addr`, keeping its keys in `data_dir`
    /// (`None`: `entra_dev::default_data_dir()`, shared with the `entra-dev` CLI so that its tokens are
    /// accepted).
    ///
    /// # Errors
    /// [`entra_dev::DevIssuerError`] when its key file cannot be read or written.
    pub fn start(
        addr: SocketAddr,
        data_dir: Option<PathBuf>,
    ) -> Result<Self, entra_dev::DevIssuerError> {
        let instance = dev_instance(addr);
        let config = entra_dev::DevIssuerConfig {
            data_dir: data_dir.or_else(entra_dev::default_data_dir),
            ..Default::default()
        };
        let identity = Identity {
            tenant_id: config.tenant_id.clone(),
            client_id: config.api_client_id.clone(),
        };
        let issuer = entra_dev::DevIssuer::new(config, instance.clone())?;
        Ok(Self {
            issuer,
            identity,
            instance,
        })
    }
}

/// The development issuer's instance URL on the bound address (a wildcard bind is reached on loopback).
fn dev_instance(addr: SocketAddr) -> Url {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let base = SocketAddr::new(ip, addr.port());
    Url::parse(&format!("http://{base}{DEV_ISSUER_PATH}/"))
        .expect("BUG: an http URL built from a socket address always parses")
}

/// The banner printed in development mode: the mode, and copy-paste commands to get tokens and call each
/// endpoint on the bound address.
pub fn dev_banner(addr: SocketAddr, issuer: &entra_dev::DevIssuer, has_api_key: bool) -> String {
    let config = issuer.config();
    let instance = issuer.instance();
    let base = format!("http://{}", dev_instance(addr).authority());
    let tenant = &config.tenant_id;
    let api = &config.api_client_id;
    let daemon = entra_dev::defaults::DEV_DAEMON_CLIENT_ID;
    let secret = entra_dev::defaults::DEV_DAEMON_CLIENT_SECRET;
    // The CLI's default instance is the service's default address; name it only when it differs.
    let instance_arg = if instance.as_str() == entra_dev::defaults::WEATHER_API_DEV_INSTANCE {
        String::new()
    } else {
        format!(" --instance {instance}")
    };
    let api_key_note = if has_api_key {
        ""
    } else {
        "    (no api_key configured: the weather call answers 502 asking you to set it;\n     \
         add \"api_key\" to settings.json or set WEATHER_API__API_KEY)\n"
    };
    let exposed = if addr.ip().to_canonical().is_loopback() {
        String::new()
    } else {
        format!(
            " DANGEROUS: listening on {addr}, reachable from the network\n \
             (dangerous_dev_mode_on_network): anyone who reaches it can mint tokens.\n"
        )
    };
    let rule = "=".repeat(78);
    format!(
        "{rule}
 DEVELOPMENT MODE - NOT FOR PRODUCTION
{exposed} No azure_ad.tenant_id / azure_ad.client_id configured: tokens are issued by the
 built-in development issuer at {instance}
 and validated through the normal OpenID discovery path. Configure azure_ad in
 settings.json (see settings_template.json) to use Microsoft Entra ID.
{rule}

 1. Get a user token (alice) with the scope each call needs:
    READ=$(cargo run -q -p entra-dev -- token --scope weather.read{instance_arg})
    WRITE=$(cargo run -q -p entra-dev -- token --scope weather.write{instance_arg})

    or an app-only (daemon) token, roles Weather.Read.All + Weather.Write.All,
    with the client-credentials grant:
    APP=$(curl -s {instance}{tenant}/oauth2/v2.0/token \\
      -d grant_type=client_credentials -d client_id={daemon} \\
      -d client_secret={secret} -d scope=api://{api}/.default \\
      | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')

 2. Call each endpoint:
    curl -H \"Authorization: Bearer $READ\" '{base}/api/weather/portland?state=OR&country=US&units=imperial'
{api_key_note}    curl -H \"Authorization: Bearer $WRITE\" -H 'Content-Type: application/json' \\
      -d '{{\"description\": \"Sunny\", \"location\": {{\"city\": \"Portland\", \"state\": \"OR\"}}}}' \\
      {base}/api/reports
    curl -H \"Authorization: Bearer $READ\" {base}/api/reports
    curl -H \"Authorization: Bearer $APP\" {base}/api/reports
    curl {base}/healthz ; curl {base}/readyz
    Home page: {base}/
    Interactive API docs (Authorize signs in here): {base}/docs
{rule}
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_mode_binds_loopback_only_unless_dangerously_allowed() {
        for ok in [
            "127.0.0.1:8000",
            "127.9.9.9:1",
            "[::1]:8000",
            "[::ffff:127.0.0.1]:80",
        ] {
            assert_eq!(check_bind(ok.parse().unwrap(), false), Ok(()), "{ok}");
        }
        for refused in ["0.0.0.0:8000", "[::]:8000", "192.168.1.10:8000"] {
            let addr: SocketAddr = refused.parse().unwrap();
            let err = check_bind(addr, false).unwrap_err();
            let message = err.to_string();
            assert!(message.starts_with("bind: development mode"), "{message}");
            assert!(message.contains("configure azure_ad"), "{message}");
            assert!(message.contains("bind 127.0.0.1"), "{message}");
            assert!(
                message.contains(&format!("127.0.0.1:{}", addr.port())),
                "{message}"
            );
            assert!(
                message.contains("dangerous_dev_mode_on_network"),
                "{message}"
            );
            assert_eq!(check_bind(addr, true), Ok(()));
        }
    }
}
