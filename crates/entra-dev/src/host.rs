//! Which `Host` header values name this machine: the rule the issuer's Host check and a service's
//! development mode share (a leaf module).

use std::net::IpAddr;

/// The host part of a `Host` header value (`name[:port]`, `[v6][:port]`), lower-cased, brackets removed;
/// `None` for a value that is not a host (with user information, a path, a bad port).
pub fn host_name(host: &str) -> Option<String> {
    let authority = host.trim().parse::<axum::http::uri::Authority>().ok()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let name = authority.host();
    let port = &authority.as_str()[name.len()..];
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !port_ok {
        return None;
    }
    let name = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    Some(name.to_ascii_lowercase())
}

/// Whether a `Host` header value names this machine: `localhost` or a loopback address (`127.0.0.0/8`,
/// `::1`, `::ffff:127.0.0.1`), with or without a port. Anything else, a name that merely resolves to
/// 127.0.0.1 included (DNS rebinding), is not.
pub fn is_loopback_host(host: &str) -> bool {
    host_name(host).is_some_and(|name| {
        name == "localhost"
            || name
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.to_canonical().is_loopback())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_localhost_and_loopback_addresses_only() {
        for ok in [
            "localhost",
            "LOCALHOST:8000",
            "127.0.0.1",
            "127.0.0.1:8000",
            "127.3.2.1:1",
            "[::1]:8000",
            "[::1]",
            "[::ffff:127.0.0.1]:80",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for refused in [
            "",
            "evil.example",
            "evil.example:8000",
            "localhost.evil.example",
            "192.168.1.10:8000",
            "0.0.0.0:8000",
            "[::]:8000",
            "127.0.0.1.nip.io",
            "user@127.0.0.1",
            "127.0.0.1:port",
        ] {
            assert!(!is_loopback_host(refused), "{refused}");
        }
        assert_eq!(
            host_name("Issuer.Example:8400").as_deref(),
            Some("issuer.example")
        );
    }
}
