//! Reverse proxies: who the client is when nginx (or another proxy) stands in front of the service.
//!
//! `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host` are honoured **only** when the TCP peer
//! (axum's [`ConnectInfo`]) is in the `trusted_proxies` setting; from anyone else they are ignored, since
//! any client can send them. [`EdgeLayer`](super::layers::EdgeLayer) resolves a [`ClientInfo`] once per request and puts it in the
//! request's extensions, where the trace span (the logged `client_ip`) and handlers (absolute URLs, such
//! as an OpenAPI server URL) read it.
//!
//! `X-Forwarded-For` is read from the right: each hop appends the address it received from, so the
//! right-most address that is not itself a trusted proxy is the client. `-Proto` and `-Host` take the last
//! value (the one set by the nearest proxy).

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;
use http::HeaderMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// An IP network: an address and a prefix length (`10.0.0.0/8`, `::1/128`; a bare address is a /32 or
/// /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why an entry of `trusted_proxies` is not an IP address or network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected an IP address or CIDR network such as 10.0.0.0/8, found {0:?}")]
pub struct IpNetError(String);

impl FromStr for IpNet {
    type Err = IpNetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || IpNetError(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| err())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.trim().parse::<u8>().map_err(|_| err())?,
        };
        if prefix > max {
            return Err(err());
        }
        Ok(Self {
            addr: addr.to_canonical(),
            prefix,
        })
    }
}

impl IpNet {
    /// True when `ip` is inside this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The proxies whose `X-Forwarded-*` headers are believed (empty: none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Trusts these networks.
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    /// Parses a list such as `["127.0.0.1", "10.0.0.0/8"]`.
    ///
    /// # Errors
    /// [`IpNetError`] naming the first entry that is not an address or network.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, IpNetError> {
        entries
            .iter()
            .map(|e| e.as_ref().parse())
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// True when `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// True when no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The trusted networks.
    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }
}

/// Who made a request, after applying the trusted-proxy rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The TCP peer (`None` when the server was not given connection info, e.g. `oneshot` tests).
    pub peer: Option<SocketAddr>,
    /// The client's address: the peer, or the forwarded client when the peer is a trusted proxy.
    pub ip: Option<IpAddr>,
    /// `http` or `https`, as the client used it.
    pub scheme: &'static str,
    /// The host (and port) the client addressed, when known and well-formed.
    pub host: Option<String>,
    /// True when the forwarded headers were honoured.
    pub via_trusted_proxy: bool,
}

impl ClientInfo {
    /// Resolves the client from the peer address and the request headers.
    pub fn resolve(
        proxies: &TrustedProxies,
        peer: Option<SocketAddr>,
        headers: &HeaderMap,
    ) -> Self {
        let direct_host = header_values(headers, http::header::HOST)
            .last()
            .and_then(valid_host);
        let mut info = Self {
            peer,
            ip: peer.map(|p| p.ip().to_canonical()),
            scheme: "http",
            host: direct_host,
            via_trusted_proxy: false,
        };
        let Some(peer_ip) = info.ip else {
            return info;
        };
        if !proxies.contains(peer_ip) {
            return info;
        }
        info.via_trusted_proxy = true;
        let mut client = peer_ip;
        for hop in header_values(headers, "x-forwarded-for").rev() {
            let Some(ip) = parse_hop(hop) else {
                break;
            };
            client = ip;
            if !proxies.contains(ip) {
                break;
            }
        }
        info.ip = Some(client);
        if let Some(proto) = header_values(headers, "x-forwarded-proto").last() {
            if proto.eq_ignore_ascii_case("http") {
                info.scheme = "http";
            } else if proto.eq_ignore_ascii_case("https") {
                info.scheme = "https";
            }
        }
        if let Some(host) = header_values(headers, "x-forwarded-host")
            .last()
            .and_then(valid_host)
        {
            info.host = Some(host);
        }
        info
    }

    /// `scheme://host` as the client sees the service, when the host is known.
    pub fn base_url(&self) -> Option<String> {
        self.host.as_ref().map(|h| format!("{}://{h}", self.scheme))
    }

    /// The client address as a log field (`-` when unknown).
    pub fn ip_for_log(&self) -> String {
        self.ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string())
    }
}

/// All comma-separated values of every instance of a header, in order, trimmed, empty ones dropped
/// (borrowed: nothing is allocated).
fn header_values(
    headers: &HeaderMap,
    name: impl http::header::AsHeaderName,
) -> impl DoubleEndedIterator<Item = &str> {
    headers
        .get_all(name)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// One `X-Forwarded-For` hop: an address, possibly with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

/// A host header value safe to put into a URL: letters, digits, `.-:[]` only, at most 255 bytes.
fn valid_host(host: &str) -> Option<String> {
    let ok = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    ok.then(|| host.to_ascii_lowercase())
}

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = std::convert::Infallible;

    /// The resolved client; without [`EdgeLayer`](super::layers::EdgeLayer), the direct peer with no
    /// proxy trusted.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(info) = parts.extensions.get::<ClientInfo>() {
            return Ok(info.clone());
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(Self::resolve(
            &TrustedProxies::default(),
            peer,
            &parts.headers,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn peer(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    #[test]
    fn networks_parse_and_match() {
        let net: IpNet = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.255.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let any: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains("192.0.2.1".parse().unwrap()));
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        let single: IpNet = "127.0.0.1".parse().unwrap();
        assert_eq!(single.to_string(), "127.0.0.1/32");
        for bad in ["", "10.0.0.0/33", "::/129", "localhost", "10.0.0.0/x"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn untrusted_peer_forwarded_headers_are_ignored() {
        let h = headers(&[
            ("host", "127.0.0.1:8000"),
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "weather.example.com"),
        ]);
        let info = ClientInfo::resolve(&proxies(&["10.0.0.0/8"]), peer("192.0.2.9:5000"), &h);
        assert_eq!(info.ip, Some("192.0.2.9".parse().unwrap()));
        assert_eq!(info.base_url().as_deref(), Some("http://127.0.0.1:8000"));
        assert!(!info.via_trusted_proxy);
    }

    #[test]
    fn trusted_peer_forwarded_headers_are_honoured() {
        let h = headers(&[
            ("host", "127.0.0.1:8001"),
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "Weather.Example.com"),
        ]);
        let info = ClientInfo::resolve(&proxies(&["127.0.0.1"]), peer("127.0.0.1:40000"), &h);
        assert_eq!(info.ip, Some("203.0.113.7".parse().unwrap()));
        assert_eq!(
            info.base_url().as_deref(),
            Some("https://weather.example.com")
        );
        assert!(info.via_trusted_proxy);
    }

    #[test]
    fn forwarded_for_is_read_from_the_right_skipping_trusted_hops() {
        // A client spoofs 1.1.1.1; the edge proxy (10.0.0.5) appends the real client, then the inner proxy.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1, 198.51.100.4"),
            ("x-forwarded-for", "10.0.0.5"),
        ]);
        let info = ClientInfo::resolve(&proxies(&["10.0.0.0/8"]), peer("10.0.0.6:1"), &h);
        assert_eq!(info.ip, Some("198.51.100.4".parse().unwrap()));
    }

    #[test]
    fn garbage_hops_and_values_fall_back_safely() {
        let h = headers(&[
            ("x-forwarded-for", "not-an-ip, [2001:db8::1]:443"),
            ("x-forwarded-proto", "gopher"),
            ("x-forwarded-host", "evil.example\"/><script>"),
            ("host", "api.local:8000"),
        ]);
        let info = ClientInfo::resolve(&proxies(&["::1"]), peer("[::1]:9"), &h);
        assert_eq!(info.ip, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(info.scheme, "http");
        assert_eq!(info.host.as_deref(), Some("api.local:8000"));
        // Only trusted hops left: the left-most address is the client.
        let all_trusted = headers(&[("x-forwarded-for", "127.0.0.2, 127.0.0.3")]);
        let info = ClientInfo::resolve(
            &proxies(&["127.0.0.0/8"]),
            peer("127.0.0.1:9"),
            &all_trusted,
        );
        assert_eq!(info.ip, Some("127.0.0.2".parse().unwrap()));
    }

    #[test]
    fn unknown_peer_has_no_ip() {
        let info = ClientInfo::resolve(&proxies(&["0.0.0.0/0"]), None, &HeaderMap::new());
        assert_eq!(info.ip, None);
        assert_eq!(info.ip_for_log(), "-");
        assert_eq!(info.base_url(), None);
    }
}
