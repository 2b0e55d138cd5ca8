//! The customer's pages (issue 17): an invoice's checkout page (`/i/{id}`) and a refund's claim
//! page (`/r/{token}`), rendered from what `status.rs` makes public, with their QR codes,
//! languages, stylesheet and script.

// Rendered by the public routes, which come in the same change (`allow` until then).
#[allow(dead_code)]
mod claim_page;
#[allow(dead_code)]
mod i18n;
#[allow(dead_code)]
mod page;
#[allow(dead_code)]
mod qr;
#[allow(dead_code)]
mod status;
