//! `[checkout]`: where the customer's payment page is served and linked from, and what one
//! visitor may hold open (`docs/checkout.md`).

use super::reader::{Issues, Table};
use super::types::CheckoutConfig;
use std::net::SocketAddr;
use url::Url;

pub(super) fn checkout(t: &mut Table<'_>, issues: &mut Issues) -> CheckoutConfig {
    let listen = t.opt_str("listen", issues).and_then(|s| match s.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(e) => {
            issues.push(t.key_path("listen"), format!("{s:?} is not an address:port: {e}"));
            None
        }
    });
    let public_url = t.opt_str("public_url", issues).and_then(|s| public_url(t, &s, issues));
    let max_streams = t.u64_in("max_streams", 10_000, 1..=1_000_000, issues) as usize;
    let max_streams_per_client = t.u64_in("max_streams_per_client", 32, 1..=100_000, issues) as u32;
    let per_second = t.u64_in("per_second", 10, 1..=100_000, issues);
    let burst = t.u64_in("burst", 60, 1..=1_000_000, issues) as u32;
    CheckoutConfig { listen, public_url, max_streams, max_streams_per_client, per_second, burst }
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
