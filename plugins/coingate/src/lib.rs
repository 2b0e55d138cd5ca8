//! The `coingate` platform plugin: CoinGate API v2 payment callbacks, as CoinGate sends them
//! (<https://developer.coingate.com/docs/payment-callback>): a form-encoded POST
//! (`application/x-www-form-urlencoded`) to the order's `callback_url` with the order's fields
//! (`id`, `order_id`, `status`, `price_amount`, `price_currency`, `receive_currency`,
//! `receive_amount`, `pay_amount`, `pay_currency`, `underpaid_amount`, `overpaid_amount`,
//! `is_refundable`, `created_at`) and the order's `token`, which the shop compares with the one
//! it was given when it made the order (CoinGate's plugins then read the order back).
//!
//! The daemon makes one endpoint of this plugin per store with `[stores.coingate]` (url `""`):
//! each order's callback URL and token come from its invoice's `gateway.data`, written by the
//! `/coingate/v2/orders` route. An invoice without a callback URL, or made through another
//! API, gets nothing (an empty render is acknowledged as skipped).
//!
//! Callbacks go out on the status changes CoinGate calls back for: `pending` (a payment short
//! of the price), `confirming`, `paid`, `expired`, `invalid`, `canceled`. `new` is not called
//! back, as with CoinGate. Refund events carry no order (no `gateway`, nor whether the order is
//! refunded in full): `refunded` and `partially_refunded` are in the order's reads only.

pub mod order;

use paywatch_plugin_api::events::{EventKind, Invoice};
use paywatch_plugin_api::messages::*;
use paywatch_plugin_api::text::percent_encode;
use paywatch_plugin_api::{export_platform_plugin, Host, PlatformPlugin, PluginError};
use serde_json::Value;

/// The gateway kind of invoices made through the CoinGate-compatible API.
pub const KIND: &str = "coingate";

#[derive(Debug)]
pub struct CoinGate;

/// `application/x-www-form-urlencoded`, every byte but the unreserved ones escaped.
pub fn form_encode(fields: &[(&str, String)]) -> String {
    fields.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect::<Vec<_>>().join("&")
}

/// The invoice's CoinGate data, if it was made through the CoinGate API (`gateway.kind`).
fn gateway(data: &Value) -> Option<&Value> {
    let g = data.get("gateway")?;
    (g.get("kind").and_then(Value::as_str) == Some(KIND)).then(|| g.get("data")).flatten()
}

/// The CoinGate status an event calls back with, if it is a change CoinGate calls back for.
fn callback_status(kind: Option<EventKind>, inv: &Invoice) -> Option<&'static str> {
    let status = order::status(inv);
    let wanted = match kind? {
        // A payment short of the price: the order is `pending`; a full one is followed by
        // `invoice.processing` (or `invoice.settled`), which calls back.
        EventKind::InvoicePaymentDetected => status == "pending",
        EventKind::InvoiceProcessing | EventKind::InvoiceSettled => true,
        EventKind::InvoiceExpired | EventKind::InvoiceInvalid => true,
        _ => false,
    };
    wanted.then_some(status)
}

/// The callback of an order: `None` when there is nothing to send.
pub fn callback(event_type: &str, data: &Value) -> Result<Option<HttpRequest>, PluginError> {
    let Some(gw) = gateway(data) else { return Ok(None) };
    let Some(url) = gw.get("callback_url").and_then(Value::as_str).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(PluginError::undeliverable(format!("callback_url {url:?} is not an http(s) URL")));
    }
    let kind = EventKind::parse(event_type);
    let fields = match kind.map(EventKind::family) {
        Some(paywatch_plugin_api::events::Family::Invoice) => {
            let inv: Invoice = serde_json::from_value(data.clone())
                .map_err(|e| PluginError::invalid_input(format!("{event_type} data: {e}")))?;
            let Some(status) = callback_status(kind, &inv) else { return Ok(None) };
            order::callback_fields(&inv, gw, status)
        }
        _ => return Ok(None),
    };
    Ok(Some(HttpRequest {
        method: "POST".into(),
        url: url.to_string(),
        headers: vec![
            ("content-type".into(), "application/x-www-form-urlencoded".into()),
            ("user-agent".into(), "CoinGate Callback (paywatch)".into()),
        ],
        body: form_encode(&fields),
    }))
}

impl PlatformPlugin for CoinGate {
    const NAME: &'static str = "coingate";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(_config: Value, _host: &Host<'_>) -> Result<Self, PluginError> {
        Ok(CoinGate)
    }

    fn info(&self) -> PlatformInfo {
        PlatformInfo {
            description: "CoinGate API v2 payment callbacks (form-encoded, with the order's token)".into(),
            secret_params: None,
        }
    }

    /// Nothing to check: every order carries its own callback URL and token.
    fn validate_endpoint(&self, _endpoint: &Value) -> Result<(), PluginError> {
        Ok(())
    }

    fn render(&self, req: &RenderRequest, host: &Host<'_>) -> Result<RenderReply, PluginError> {
        let event = req.typed_event()?;
        let request = callback(&event.event_type, &event.data)?;
        if let Some(r) = &request {
            host.debug(&format!("{} -> coingate callback to {} (attempt {})", event.event_type, r.url, req.attempt));
        }
        Ok(RenderReply { requests: request.into_iter().collect() })
    }

    fn classify(&self, resp: &ClassifyRequest) -> Result<Verdict, PluginError> {
        Ok(classify(resp))
    }
}

/// 2xx delivered (CoinGate stops on 200 and 204); a redirect fails this callback only (CoinGate
/// gives up on them too); anything else is retried (`ClassifyRequest::per_invoice_verdict`).
pub fn classify(resp: &ClassifyRequest) -> Verdict {
    resp.per_invoice_verdict("callback_url")
}

export_platform_plugin!(CoinGate);

#[cfg(test)]
mod tests;
