//! What an API key may do: scopes, and the one table saying which scope each store route needs.

use axum::http::Method;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One permission of a store's API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum Scope {
    #[serde(rename = "invoices:read")]
    InvoicesRead,
    #[serde(rename = "invoices:create")]
    InvoicesCreate,
    #[serde(rename = "invoices:cancel")]
    InvoicesCancel,
    #[serde(rename = "refunds:write")]
    RefundsWrite,
    #[serde(rename = "refunds:approve")]
    RefundsApprove,
    #[serde(rename = "endpoints:manage")]
    EndpointsManage,
    #[serde(rename = "events:read")]
    EventsRead,
    #[serde(rename = "watches:read")]
    WatchesRead,
    #[serde(rename = "watches:write")]
    WatchesWrite,
    #[serde(rename = "rates:read")]
    RatesRead,
    #[serde(rename = "gateways:manage")]
    GatewaysManage,
}

impl Scope {
    pub(crate) const ALL: [Scope; 11] = [
        Scope::InvoicesRead,
        Scope::InvoicesCreate,
        Scope::InvoicesCancel,
        Scope::RefundsWrite,
        Scope::RefundsApprove,
        Scope::EndpointsManage,
        Scope::EventsRead,
        Scope::WatchesRead,
        Scope::WatchesWrite,
        Scope::RatesRead,
        Scope::GatewaysManage,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scope::InvoicesRead => "invoices:read",
            Scope::InvoicesCreate => "invoices:create",
            Scope::InvoicesCancel => "invoices:cancel",
            Scope::RefundsWrite => "refunds:write",
            Scope::RefundsApprove => "refunds:approve",
            Scope::EndpointsManage => "endpoints:manage",
            Scope::EventsRead => "events:read",
            Scope::WatchesRead => "watches:read",
            Scope::WatchesWrite => "watches:write",
            Scope::RatesRead => "rates:read",
            Scope::GatewaysManage => "gateways:manage",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Scope> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Only reads: what the admin key may do on a store's routes.
    pub(crate) fn is_read(self) -> bool {
        matches!(self, Scope::InvoicesRead | Scope::EventsRead | Scope::WatchesRead | Scope::RatesRead)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Scopes(u32);

impl Scopes {
    /// Every scope: a config-file store's key.
    pub(crate) fn all() -> Self {
        Self(Scope::ALL.iter().fold(0, |acc, s| acc | s.bit()))
    }

    /// The read scopes only.
    pub(crate) fn reads() -> Self {
        Self(Scope::ALL.iter().filter(|s| s.is_read()).fold(0, |acc, s| acc | s.bit()))
    }

    pub(crate) fn of(list: &[Scope]) -> Self {
        Self(list.iter().fold(0, |acc, s| acc | s.bit()))
    }

    pub(crate) fn has(self, s: Scope) -> bool {
        self.0 & s.bit() != 0
    }

    #[cfg(test)]
    pub(crate) fn list(self) -> Vec<Scope> {
        Scope::ALL.into_iter().filter(|s| self.has(*s)).collect()
    }
}

/// Parses a key's scope names: each known, at least one; `*` stands for every scope.
pub(crate) fn parse_list(names: &[String]) -> Result<Vec<Scope>, String> {
    if names.is_empty() {
        return Err(format!("scopes must name at least one of {}", all_names()));
    }
    let mut out = Vec::new();
    let mut every = false;
    // Every name is checked, `*` among them too: a typo beside it is still a typo.
    for n in names {
        let n = n.trim();
        if n == "*" {
            every = true;
            continue;
        }
        let s = Scope::parse(n).ok_or_else(|| format!("scope {n:?} is not one of {} (or *)", all_names()))?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    if every {
        return Ok(Scope::ALL.to_vec());
    }
    out.sort();
    Ok(out)
}

fn all_names() -> String {
    Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

/// The scope a store route needs (`path` as the router matched it, `/v1/…`), or `None` for a
/// route no store key reaches (a scoped key is refused there; only a key with every scope
/// passes).
pub(crate) fn required(method: &Method, path: &str) -> Option<Scope> {
    let get = method == Method::GET || method == Method::HEAD;
    let rest = path.strip_prefix("/v1")?;
    Some(match (get, rest) {
        (true, "/watches" | "/watches/{id}" | "/watches/{id}/payments" | "/payments/{chain}/{txid}") => {
            Scope::WatchesRead
        }
        (false, "/watches" | "/watches/batch" | "/watches/{id}") => Scope::WatchesWrite,
        (
            true,
            "/invoices"
            | "/invoices/{id}"
            | "/invoices/{id}/payments"
            | "/invoices/{id}/refunds"
            | "/invoices/{id}/refundable"
            | "/refunds/{id}",
        ) => Scope::InvoicesRead,
        (false, "/invoices") => Scope::InvoicesCreate,
        (false, "/invoices/{id}/cancel") => Scope::InvoicesCancel,
        (false, "/invoices/{id}/refunds") => Scope::RefundsWrite,
        (false, "/refunds/{id}/approve" | "/refunds/{id}/reject") => Scope::RefundsApprove,
        (_, "/endpoints" | "/endpoints/{id}" | "/endpoints/{id}/deliveries" | "/endpoints/{id}/test") => {
            Scope::EndpointsManage
        }
        (false, "/events/{seq}/redeliver") => Scope::EndpointsManage,
        (true, "/events") => Scope::EventsRead,
        (true, "/rates") => Scope::RatesRead,
        (false, "/bitpay/pairing-codes" | "/bitpay/pairing-codes/{code}/approve") => Scope::GatewaysManage,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_star_is_every_scope() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(parse_list(&["*".into()]).unwrap(), Scope::ALL.to_vec());
        let two = parse_list(&["invoices:read".into(), "invoices:create".into(), "invoices:read".into()]).unwrap();
        assert_eq!(two, vec![Scope::InvoicesRead, Scope::InvoicesCreate]);
        assert!(parse_list(&[]).unwrap_err().contains("at least one"));
        assert!(parse_list(&["invoices:delete".into()]).unwrap_err().contains("\"invoices:delete\""));
        assert!(parse_list(&["*".into(), "bogus".into()]).unwrap_err().contains("\"bogus\""));
        assert_eq!(parse_list(&["events:read".into(), "*".into()]).unwrap(), Scope::ALL.to_vec());
    }

    #[test]
    fn sets_hold_what_they_were_made_of() {
        let s = Scopes::of(&[Scope::InvoicesCreate, Scope::InvoicesRead]);
        assert!(s.has(Scope::InvoicesCreate) && s.has(Scope::InvoicesRead) && !s.has(Scope::RefundsWrite));
        assert_eq!(Scopes::all().list(), Scope::ALL.to_vec());
        assert!(Scopes::reads().list().iter().all(|s| s.is_read()));
        assert!(!Scopes::reads().has(Scope::InvoicesCreate));
    }

    #[test]
    fn a_checkout_key_creates_and_reads_invoices_and_nothing_else() {
        let checkout = Scopes::of(&[Scope::InvoicesCreate, Scope::InvoicesRead]);
        let allowed = |m: Method, p: &str| required(&m, p).is_some_and(|s| checkout.has(s));
        assert!(allowed(Method::POST, "/v1/invoices"));
        assert!(allowed(Method::GET, "/v1/invoices/{id}"));
        assert!(!allowed(Method::POST, "/v1/invoices/{id}/refunds"));
        assert!(!allowed(Method::POST, "/v1/invoices/{id}/cancel"));
        assert!(!allowed(Method::DELETE, "/v1/endpoints/{id}"));
        assert!(!allowed(Method::GET, "/v1/events"));
        assert_eq!(required(&Method::GET, "/v1/something-new"), None);
        assert_eq!(required(&Method::GET, "/metrics"), None);
    }
}
