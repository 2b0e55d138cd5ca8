//! The SSRF guard: callbacks go to public addresses only, unless the operator allowlists a
//! network, for every store (`dispatch.allow_private`) or for one store's endpoints
//! (`stores[N].allow_private`): each store has its own guard. Checked on every connection,
//! after DNS resolution, by the HTTP client's resolver (so a name that later resolves to
//! 169.254.169.254 is refused too), and for IP-literal URLs before sending.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Which addresses callbacks may reach.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    allow: Arc<Vec<IpNet>>,
    /// The config key(s) that would allowlist a refused address, as errors name them.
    key: Arc<str>,
}

fn v4_forbidden(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16: cloud metadata lives here
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (64..128).contains(&o[1])) // carrier-grade NAT
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18/15, benchmarking (often internal)
        || o[0] >= 240
}

/// The IPv4 addresses an IPv6 address carries to an IPv4 host, by the transition mechanisms a
/// router or the kernel may act on: IPv4-mapped and IPv4-compatible (`::a.b.c.d`), NAT64's
/// well-known prefix (`64:ff9b::/96`: the last 32 bits), 6to4 (`2002::/16`: bits 16..48) and
/// Teredo (`2001::/32`: the server's address in bits 32..64, the client's inverted in the last
/// 32 bits; both checked). The rest of `64:ff9b::/32` (the local-use NAT64 prefix
/// `64:ff9b:1::/48` takes any RFC 6052 layout) is refused whole by `v6_forbidden`.
fn embedded_v4(ip: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = ip.segments();
    let last = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..5] == [0; 5] && (s[5] == 0 || s[5] == 0xffff) {
        return vec![last]; // mapped or compatible (`::1` and `::` are refused as IPv6)
    }
    if s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0 {
        return vec![last]; // IPv4-translated, ::ffff:0:a.b.c.d (SIIT, RFC 7915)
    }
    match (s[0], s[1]) {
        (0x0064, 0xff9b) if s[2..6] == [0; 4] => vec![last],
        (0x2002, _) => vec![Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8)],
        (0x2001, 0x0000) => vec![
            Ipv4Addr::new((s[2] >> 8) as u8, s[2] as u8, (s[3] >> 8) as u8, s[3] as u8),
            Ipv4Addr::from(!u32::from(last)),
        ],
        _ => Vec::new(),
    }
}

fn v6_forbidden(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local, incl. fd00:ec2::254 metadata
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated, still routed by some)
        || s[..4] == [0x0100, 0, 0, 0] // 100::/64, discard-only
        || (s[..2] == [0x0064, 0xff9b] && s[2..6] != [0; 4]) // NAT64 local use (64:ff9b:1::/48) and unassigned
        || embedded_v4(ip).into_iter().any(v4_forbidden)
}

impl Guard {
    /// The guard of `dispatch.allow_private` alone (a store the config does not name).
    pub(crate) fn new(allow: Vec<IpNet>) -> Self {
        Self { allow: Arc::new(allow), key: "dispatch.allow_private".into() }
    }

    /// A guard allowing `allow`, whose errors name `key` (the rate sources' `rates.allow_private`).
    pub(crate) fn with_key(allow: Vec<IpNet>, key: &str) -> Self {
        Self { allow: Arc::new(allow), key: key.into() }
    }

    /// The guard of the store at `index` of the config: `dispatch.allow_private` and its own
    /// `stores[index].allow_private`.
    pub(crate) fn for_store(global: &[IpNet], own: &[IpNet], index: usize) -> Self {
        let allow = global.iter().chain(own).copied().collect();
        let key = format!("stores[{index}].allow_private (or dispatch.allow_private, for every store)");
        Self { allow: Arc::new(allow), key: key.into() }
    }

    /// Where a refused address would be allowlisted, for error messages.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Whether a callback may connect to `ip`.
    pub(crate) fn permits(&self, ip: IpAddr) -> bool {
        let forbidden = match ip {
            IpAddr::V4(v4) => v4_forbidden(v4),
            IpAddr::V6(v6) => v6_forbidden(v6),
        };
        !forbidden || self.allow.iter().any(|n| n.contains(&ip))
    }

    /// Checks a URL: an IP literal directly; a name by resolving it now (the resolver checks
    /// again at connect time). The error names a refused IP literal, never what a name resolved
    /// to (that would answer DNS questions about the daemon's network to any store).
    pub(crate) async fn check_url(&self, url: &url::Url) -> Result<(), String> {
        let host = url.host().ok_or_else(|| format!("{url} has no host"))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = match host {
            url::Host::Ipv4(ip) => vec![SocketAddr::new(ip.into(), port)],
            url::Host::Ipv6(ip) => vec![SocketAddr::new(ip.into(), port)],
            // A name that does not resolve and one that resolves to a refused address get the
            // same answer: anything else tells a store which internal names exist.
            url::Host::Domain(_) => tokio::net::lookup_host((url.host_str().unwrap_or_default(), port))
                .await
                .map(|a| a.collect())
                .unwrap_or_default(),
        };
        let named = matches!(host, url::Host::Domain(_));
        let refused_name = || {
            format!(
                "{url}: its host does not resolve to a public address; if it is on a private network, allowlist its network in {}",
                self.key
            )
        };
        match addrs.iter().find(|a| !self.permits(a.ip())) {
            Some(_) if named => Err(refused_name()),
            Some(a) => Err(format!(
                "{url} is {}, a loopback/private/link-local address; allowlist its network in {} to use it",
                a.ip(),
                self.key
            )),
            None if addrs.is_empty() => Err(refused_name()),
            None => Ok(()),
        }
    }
}

/// The HTTP client's resolver: resolves, then keeps only permitted addresses.
impl reqwest::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ok: Vec<SocketAddr> = all.iter().copied().filter(|a| guard.permits(a.ip())).collect();
            if ok.is_empty() {
                // Not the addresses themselves: this ends up in delivery records the store reads.
                let e = format!("{host} resolves only to loopback/private/link-local addresses: see {}", guard.key);
                return Err(Box::new(std::io::Error::new(std::io::ErrorKind::PermissionDenied, e)) as _);
            }
            Ok(Box::new(ok.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_metadata_addresses_are_refused_unless_allowlisted() {
        let g = Guard::new(vec!["127.0.0.1/32".parse().unwrap()]);
        for refused in [
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.169.254",
            "127.0.0.2",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:10.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!g.permits(refused.parse().unwrap()), "{refused}");
        }
        for allowed in ["127.0.0.1", "93.184.216.34", "2606:4700::1111", "::ffff:1.1.1.1"] {
            assert!(g.permits(allowed.parse().unwrap()), "{allowed}");
        }
    }

    fn refused(ip: &str) -> bool {
        !Guard::new(Vec::new()).permits(ip.parse().unwrap())
    }

    #[test]
    fn ipv4_compatible_addresses_are_checked_by_their_ipv4() {
        assert!(refused("::127.0.0.2") && refused("::10.0.0.1") && refused("::169.254.169.254"));
        assert!(!refused("::93.184.216.34"));
    }

    #[test]
    fn ipv4_mapped_addresses_are_checked_by_their_ipv4() {
        assert!(refused("::ffff:127.0.0.2") && refused("::ffff:192.168.1.1") && refused("::ffff:198.18.0.1"));
        assert!(!refused("::ffff:93.184.216.34"));
        // IPv4-translated (SIIT): ::ffff:0:a.b.c.d.
        assert!(refused("::ffff:0:7f00:1") && refused("::ffff:0:a00:1") && refused("::ffff:0:a9fe:a9fe"));
        assert!(!refused("::ffff:0:5db8:d822"));
    }

    #[test]
    fn nat64_addresses_are_checked_by_their_ipv4() {
        assert!(refused("64:ff9b::127.0.0.2") && refused("64:ff9b::a9fe:a9fe") && refused("64:ff9b::10.1.2.3"));
        // The local-use prefix maps by the operator's layout: refused whole.
        assert!(refused("64:ff9b:1::7f00:2") && refused("64:ff9b:1:5db8:d8:2200::"));
        assert!(!refused("64:ff9b::93.184.216.34"));
    }

    #[test]
    fn sixtofour_addresses_are_checked_by_their_ipv4() {
        assert!(refused("2002:7f00:2::1") && refused("2002:a9fe:a9fe::") && refused("2002:c0a8:0101::5"));
        assert!(!refused("2002:5db8:d822::1"));
    }

    #[test]
    fn teredo_addresses_are_checked_by_server_and_client_ipv4() {
        // Server 127.0.0.2; client 93.184.216.34 (inverted in the last 32 bits).
        assert!(refused("2001:0:7f00:2:0:0:a247:27dd"));
        // Server public; client 10.0.0.1 (inverted: f5ff:fffe).
        assert!(refused("2001:0:5db8:d822:0:0:f5ff:fffe"));
        assert!(!refused("2001:0:5db8:d822:0:0:a247:27dd"));
    }

    #[test]
    fn benchmarking_discard_and_site_local_ranges_are_refused() {
        for ip in ["198.18.0.1", "198.19.255.254", "100::1", "100::ffff:ffff:ffff:ffff", "fec0::1", "feff::1"] {
            assert!(refused(ip), "{ip}");
        }
        for ip in ["198.17.255.255", "198.20.0.1", "100:0:0:1::1", "2606:4700::1111"] {
            assert!(!refused(ip), "{ip}");
        }
    }

    #[test]
    fn a_stores_guard_adds_its_own_networks_to_the_global_ones_and_names_its_key() {
        let global: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let own: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let (a, b) = (Guard::for_store(&global, &own, 0), Guard::for_store(&global, &[], 1));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(a.permits(ip("127.0.0.1")) && a.permits(ip("10.9.9.9")) && !a.permits(ip("192.168.1.1")));
        assert!(!b.permits(ip("127.0.0.1")) && b.permits(ip("10.9.9.9")));
        assert!(b.key().starts_with("stores[1].allow_private") && b.key().contains("dispatch.allow_private"));
        assert_eq!(Guard::new(global).key(), "dispatch.allow_private");
    }

    #[tokio::test]
    async fn a_refusal_names_the_stores_key() {
        let g = Guard::for_store(&[], &[], 3);
        for url in ["http://127.0.0.1:9/x", "http://localhost:9/"] {
            let e = g.check_url(&url.parse().unwrap()).await.unwrap_err();
            assert!(e.contains("allowlist its network in stores[3].allow_private"), "{e}");
        }
        let open = Guard::for_store(&[], &["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()], 3);
        assert!(open.check_url(&"http://localhost:9/".parse().unwrap()).await.is_ok());
    }

    #[tokio::test]
    async fn the_resolver_keeps_permitted_addresses_and_names_the_key_not_the_addresses() {
        use reqwest::dns::Resolve;
        let name = |s: &str| s.parse::<reqwest::dns::Name>().unwrap();
        let e = Guard::for_store(&[], &[], 2).resolve(name("localhost")).await.err().unwrap().to_string();
        assert!(e.contains("stores[2].allow_private") && !e.contains("127.0.0.1"), "{e}");
        let open = Guard::for_store(&[], &["127.0.0.1/32".parse().unwrap()], 2);
        let ips: Vec<IpAddr> = open.resolve(name("localhost")).await.unwrap().map(|a| a.ip()).collect();
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert!(!ips.is_empty() && ips.iter().all(|i| *i == loopback), "only the allowlisted address is kept: {ips:?}");
    }

    #[tokio::test]
    async fn urls_are_checked_by_their_resolved_addresses() {
        let g = Guard::new(Vec::new());
        let e = g.check_url(&"http://127.0.0.1:9/x".parse().unwrap()).await.unwrap_err();
        assert!(e.contains("127.0.0.1") && e.contains("allow_private"), "{e}");
        let e = g.check_url(&"http://localhost:9/".parse().unwrap()).await.unwrap_err();
        assert!(e.contains("does not resolve to a public address"), "{e}");
        assert!(!e.contains("127.0.0.1") && !e.contains("::1"), "what a name resolved to is not told: {e}");
        // A name that does not resolve at all gets the very same answer (no DNS oracle).
        let missing = g.check_url(&"http://no-such-host.invalid:9/".parse().unwrap()).await.unwrap_err();
        assert_eq!(missing, e.replace("localhost", "no-such-host.invalid"));
        assert!(g.check_url(&"http://[fd00:ec2::254]/".parse().unwrap()).await.is_err());
        let open = Guard::new(vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
        assert!(open.check_url(&"http://localhost:9/".parse().unwrap()).await.is_ok());
    }
}
