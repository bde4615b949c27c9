//! Development mode (decided by the settings, see [`crate::settings::mode`]): the service mounts the
//! built-in development issuer ([`entra_dev::DevIssuer`], without its control endpoints) under
//! [`DEV_ISSUER_PATH`] on its own address, validates its tokens through the same discovery path as
//! production, prints a [`dev_banner`] with copy-paste commands, and picks up keys rotated by the
//! `entra-dev` CLI. Everything about that mode lives here; [`startup`](crate::startup) only asks
//! [`check_bind`], [`DevMode::start`] and [`check_local`] in development mode.
//!
//! Development mode is for the machine it runs on: anyone who reaches it can mint tokens with the
//! development daemon's secret printed in the README.
//! - A non-loopback `bind` (`0.0.0.0:8000` in a container, a LAN address) stops start-up
//!   ([`NetworkBindRefused`]) unless `dangerous_dev_mode_on_network` is set, as `entra-dev serve`
//!   refuses without `--allow-remote`.
//! - Every request passes [`check_local`]: one that came through a proxy (`Forwarded`,
//!   `X-Forwarded-*`, `X-Real-IP`) or names a host other than a loopback one (`localhost`, `127.0.0.1`,
//!   `[::1]`: this also defeats DNS rebinding) is refused with 403. With `dangerous_dev_mode_on_network`
//!   any `Host` is accepted; proxied requests never are.

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
    "bind: development mode (the built-in development issuer instead of azure_ad) listens on loopback \
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
    /// `dangerous_dev_mode_on_network`: development mode accepts any `Host` (never proxied requests).
    pub dangerous_on_network: bool,
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
    /// accepted). Browser pages of the service's own origins (`/docs` on `localhost`, `127.0.0.1` or
    /// `[::1]` and the port) may call it; `dangerous_on_network` lets it answer any `Host`.
    ///
    /// # Errors
    /// [`entra_dev::DevIssuerError`] when its key file cannot be read or written.
    pub fn start(
        addr: SocketAddr,
        data_dir: Option<PathBuf>,
        dangerous_on_network: bool,
    ) -> Result<Self, entra_dev::DevIssuerError> {
        let instance = dev_instance(addr);
        let port = addr.port();
        let config = entra_dev::DevIssuerConfig {
            data_dir: data_dir.or_else(entra_dev::default_data_dir),
            allowed_origins: ["127.0.0.1", "localhost", "[::1]"]
                .iter()
                .map(|host| format!("http://{host}:{port}"))
                .collect(),
            dangerous_accept_any_host: dangerous_on_network,
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

/// Why [`local_requests_only`] refused a request in development mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteRequest {
    /// The request came through a proxy: it carries this forwarding header.
    #[error("development mode refuses proxied requests (header {0})")]
    Forwarded(http::HeaderName),
    /// The `Host` is missing or not a loopback name or address.
    #[error(
        "development mode refuses requests for a host other than localhost or a loopback address"
    )]
    Host,
}

/// The forwarding headers a reverse proxy adds (besides every `X-Forwarded-*`).
const FORWARDING_HEADERS: [&str; 2] = ["forwarded", "x-real-ip"];

/// Development mode's request rule (checked on every request by the router's
/// [`local_requests_only`](crate::startup::local_requests_only)): no forwarding header, and a loopback
/// `Host` unless `any_host` (`dangerous_dev_mode_on_network`).
///
/// # Errors
/// [`RemoteRequest`] saying which rule the request broke.
pub fn check_local<B>(request: &http::Request<B>, any_host: bool) -> Result<(), RemoteRequest> {
    if let Some(name) = request.headers().keys().find(|name| {
        name.as_str().starts_with("x-forwarded-") || FORWARDING_HEADERS.contains(&name.as_str())
    }) {
        return Err(RemoteRequest::Forwarded(name.clone()));
    }
    if any_host {
        return Ok(());
    }
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(http::uri::Authority::as_str));
    match host {
        Some(host) if entra_dev::is_loopback_host(host) => Ok(()),
        _ => Err(RemoteRequest::Host),
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
{exposed} Tokens are issued by the built-in development issuer at
 {instance}
 and validated through the normal OpenID discovery path. Requests made on this
 machine only (no proxy, Host localhost or 127.0.0.1). Configure azure_ad in
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
    fn proxied_requests_are_refused_even_with_any_host() {
        let request = |name: &str| {
            http::Request::builder()
                .header("host", "127.0.0.1:8000")
                .header(name, "203.0.113.9")
                .body(())
                .unwrap()
        };
        for name in [
            "x-forwarded-for",
            "X-Forwarded-Host",
            "forwarded",
            "x-real-ip",
        ] {
            assert_eq!(
                check_local(&request(name), true),
                Err(RemoteRequest::Forwarded(
                    http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).unwrap()
                )),
                "{name}"
            );
        }
        assert_eq!(check_local(&request("x-request-id"), false), Ok(()));
    }

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
