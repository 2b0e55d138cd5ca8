//! Who the client is behind a reverse proxy: a request whose peer is one of
//! `server.trusted_proxies` is the client its `X-Forwarded-For` names: the last address there
//! that is not itself a trusted proxy (proxies append the address they saw, so everything to its
//! left was written by the client and proves nothing). From any other peer the header is
//! ignored: a client cannot choose its own rate-limit key.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The client's address as resolved here (see the module docs), set on every request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) IpAddr);

/// `server.trusted_proxies`: the one check of whether an address is a trusted proxy (the
/// client resolution here, the connection caps at accept).
#[derive(Debug, Default)]
pub(crate) struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub(crate) fn new(nets: &[IpNet]) -> Self {
        Self(nets.to_vec())
    }

    /// Whether `ip` (an IPv4-mapped IPv6 as its IPv4: a dual-stack listener sees proxies so)
    /// is a trusted proxy.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = super::limits::unmapped(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// The client behind `peer`.
pub(crate) fn client_behind(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.contains(*ip);
    if !is_trusted(&peer) {
        return peer;
    }
    // Every X-Forwarded-For header, in order, as one list; read from the right.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) if is_trusted(&ip) => client = ip,
            Some(ip) => return ip,
            // Garbage where an address should be: the proxy before it is all we know.
            None => return client,
        }
    }
    client
}

/// An `X-Forwarded-For` element: an IP, an IPv6 in brackets, either with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = hop.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    hop.strip_prefix('[').and_then(|h| h.strip_suffix(']')).and_then(|h| h.parse().ok())
}

/// Middleware, outermost: sets [`ClientAddr`] for the limits further in.
pub(crate) async fn resolve_client(
    State(trusted): State<Arc<TrustedProxies>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(peer) = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) {
        let client = client_behind(peer, req.headers(), &trusted);
        req.extensions_mut().insert(ClientAddr(client));
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_peer_is_believed_and_the_rightmost_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::new(&["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
        // An untrusted peer's header is ignored: it cannot pick its own key.
        assert_eq!(client_behind(ip("198.51.100.9"), &xff(&["203.0.113.1"]), &trusted), ip("198.51.100.9"));
        // Behind one proxy.
        assert_eq!(client_behind(ip("10.0.0.2"), &xff(&["203.0.113.1"]), &trusted), ip("203.0.113.1"));
        // What the client wrote left of the real hop proves nothing.
        let spoofed = xff(&["1.2.3.4, 203.0.113.1"]);
        assert_eq!(client_behind(ip("10.0.0.2"), &spoofed, &trusted), ip("203.0.113.1"));
        // Two proxies, two headers, ports and brackets.
        let chain = xff(&["9.9.9.9", "203.0.113.7:4711, 10.0.0.5"]);
        assert_eq!(client_behind(ip("10.0.0.2"), &chain, &trusted), ip("203.0.113.7"));
        assert_eq!(client_behind(ip("::1"), &xff(&["[2001:db8::1]:80"]), &trusted), ip("2001:db8::1"));
        assert_eq!(client_behind(ip("::ffff:10.0.0.2"), &xff(&["203.0.113.1"]), &trusted), ip("203.0.113.1"));
        // No header, garbage, or only proxies: the nearest proxy is the client.
        assert_eq!(client_behind(ip("10.0.0.2"), &HeaderMap::new(), &trusted), ip("10.0.0.2"));
        assert_eq!(client_behind(ip("10.0.0.2"), &xff(&["unknown, 10.0.0.3"]), &trusted), ip("10.0.0.3"));
        assert_eq!(client_behind(ip("10.0.0.2"), &xff(&["10.0.0.4"]), &trusted), ip("10.0.0.4"));
        // Nothing trusted: the header never counts.
        let none = TrustedProxies::default();
        assert_eq!(client_behind(ip("10.0.0.2"), &xff(&["203.0.113.1"]), &none), ip("10.0.0.2"));
    }
}
