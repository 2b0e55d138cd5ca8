//! `[checkout]`: where the customer's payment page is served and linked from, and what one
//! visitor may hold open (`docs/checkout.md`).

use super::reader::{Issues, Table};
use super::types::CheckoutConfig;
use std::net::SocketAddr;
use url::Url;

/// Connections a listener keeps for everything but status streams (page loads, assets, and
/// the API when the pages share its listener), at the least.
const KEPT_CONNECTIONS: usize = 32;

/// `[checkout]`, given the listener limits of `[server]` (`max_connections`, when valid): the
/// streams' defaults are a share of the connections and may not take them all.
pub(super) fn checkout(t: &mut Table<'_>, max_connections: Option<usize>, issues: &mut Issues) -> CheckoutConfig {
    let listen = t.opt_str("listen", issues).and_then(|s| match s.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(e) => {
            issues.push(t.key_path("listen"), format!("{s:?} is not an address:port: {e}"));
            None
        }
    });
    let public_url = t.opt_str("public_url", issues).and_then(|s| public_url(t, &s, issues));
    // Each stream is a connection held for as long as its page is open: on the API's listener,
    // at most half its connections (the shop's API keeps the rest); on their own, all but a few.
    let share = |n: usize| if listen.is_some() { n.saturating_sub(KEPT_CONNECTIONS) } else { n / 2 };
    let default_streams = max_connections.map_or(2048, share).max(1) as u64;
    let max_streams = t.u64_in("max_streams", default_streams, 1..=1_000_000, issues) as usize;
    if let Some(n) = max_connections.filter(|n| max_streams + KEPT_CONNECTIONS > *n) {
        issues.push(
            t.key_path("max_streams"),
            format!(
                "{max_streams} streams would leave fewer than {KEPT_CONNECTIONS} of server.max_connections = {n} for \
                 anything else: lower it, or raise server.max_connections"
            ),
        );
    }
    let max_streams_per_client = t.u64_in("max_streams_per_client", 16, 1..=100_000, issues) as u32;
    let max_streams_per_invoice = t.u64_in("max_streams_per_invoice", 8, 1..=10_000, issues) as usize;
    let per_second = t.u64_in("per_second", 10, 1..=100_000, issues);
    let burst = t.u64_in("burst", 60, 1..=1_000_000, issues) as u32;
    CheckoutConfig {
        listen,
        public_url,
        max_streams,
        max_streams_per_client,
        max_streams_per_invoice,
        per_second,
        burst,
    }
}

/// The base of every `checkout_url`: http(s), a host, no query, fragment or credentials; kept
/// without a trailing slash.
fn public_url(t: &Table<'_>, s: &str, issues: &mut Issues) -> Option<Url> {
    let problem = match Url::parse(s) {
        Err(e) => Some(format!("{s:?} is not a URL: {e}")),
        Ok(u) if !matches!(u.scheme(), "http" | "https") || u.host().is_none() => {
            Some(format!("{s:?} must be an http or https URL with a host"))
        }
        Ok(u) if u.query().is_some() || u.fragment().is_some() => {
            Some(format!("{s:?} must have no query or fragment: pages are its path + /i/ID"))
        }
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            Some("a public URL must not carry credentials: customers see it".to_string())
        }
        Ok(mut u) => {
            let path = u.path().trim_end_matches('/').to_string();
            u.set_path(&path);
            return Some(u);
        }
    };
    if let Some(p) = problem {
        issues.push(t.key_path("public_url"), p);
    }
    None
}
