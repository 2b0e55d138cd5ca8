//! The SSRF guard: callbacks go to public addresses only, unless the operator allowlists a
//! network (`dispatch.allow_private`). Checked on every connection, after DNS resolution, by
//! the HTTP client's resolver (so a name that later resolves to 169.254.169.254 is refused too),
//! and for IP-literal URLs before sending.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Which addresses callbacks may reach.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    allow: Arc<Vec<IpNet>>,
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
        || o[0] >= 240
}

fn v6_forbidden(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_forbidden(v4);
    }
    let s = ip.segments();
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local, incl. fd00:ec2::254 metadata
        || (s[0] & 0xffc0) == 0xfe80 // link-local
}

impl Guard {
    pub(crate) fn new(allow: Vec<IpNet>) -> Self {
        Self { allow: Arc::new(allow) }
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
    /// again at connect time). The error says which address was refused.
    pub(crate) async fn check_url(&self, url: &url::Url) -> Result<(), String> {
        let host = url.host().ok_or_else(|| format!("{url} has no host"))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = match host {
            url::Host::Ipv4(ip) => vec![SocketAddr::new(ip.into(), port)],
            url::Host::Ipv6(ip) => vec![SocketAddr::new(ip.into(), port)],
            url::Host::Domain(d) => {
                tokio::net::lookup_host((d, port)).await.map_err(|e| format!("cannot resolve {d}: {e}"))?.collect()
            }
        };
        match addrs.iter().find(|a| !self.permits(a.ip())) {
            Some(a) => Err(format!(
                "{url} resolves to {}, a loopback/private/link-local address; allowlist its network in dispatch.allow_private to use it",
                a.ip()
            )),
            None if addrs.is_empty() => Err(format!("{url} resolves to no address")),
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
                let e = format!("{host} resolves only to refused addresses ({all:?}): see dispatch.allow_private");
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

    #[tokio::test]
    async fn urls_are_checked_by_their_resolved_addresses() {
        let g = Guard::new(Vec::new());
        let e = g.check_url(&"http://127.0.0.1:9/x".parse().unwrap()).await.unwrap_err();
        assert!(e.contains("127.0.0.1") && e.contains("allow_private"), "{e}");
        assert!(g.check_url(&"http://localhost:9/".parse().unwrap()).await.is_err());
        assert!(g.check_url(&"http://[fd00:ec2::254]/".parse().unwrap()).await.is_err());
        let open = Guard::new(vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
        assert!(open.check_url(&"http://localhost:9/".parse().unwrap()).await.is_ok());
    }
}
