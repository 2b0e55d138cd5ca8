//! The customer's half of a payment: what the public checkout page (`/i/{id}`) and the refund
//! claim page (`/r/{token}`) show, in the customer's language, and the fan-out that keeps open
//! pages live from the event outbox. The routes themselves are the API's (`api/checkout.rs`).

mod claim_page;
mod hub;
mod i18n;
mod page;
mod qr;
mod status;

pub(crate) use hub::{Hub, Published, Subscribed, Subscription};
pub(crate) use i18n::Lang;
pub(crate) use status::{ClaimOutcome, PublicRefund, PublicStatus};

use crate::config::Config;
use std::net::SocketAddr;

/// The rendering of pages and QR codes (`page`, `claim_page`, `qr`), and their static assets.
pub(crate) mod render {
    pub(crate) use super::claim_page::render as claim;
    pub(crate) use super::page::{busy, invoice, not_found, CSS, JS};
    pub(crate) use super::qr::svg as qr_svg;
}

/// The base of checkout URLs: `checkout.public_url`, or the pages' listener (`bound` once it
/// is bound: a configured port 0 is known only then), `https` when the API has TLS.
pub(crate) fn public_base(config: &Config, bound: Option<SocketAddr>) -> String {
    if let Some(u) = &config.checkout.public_url {
        return u.as_str().trim_end_matches('/').to_string();
    }
    let addr = bound.or(config.checkout.listen).unwrap_or(config.server.listen);
    let scheme = if config.server.tls.is_some() { "https" } else { "http" };
    format!("{scheme}://{addr}")
}
