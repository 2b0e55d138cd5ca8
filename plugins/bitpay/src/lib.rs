//! The `bitpay` platform plugin: BitPay's instant payment notifications (IPNs) for invoices
//! made through paywatch's BitPay-compatible routes (`/bitpay/invoices`).
//!
//! The destination is the invoice's own `notificationURL` (in its `gateway.data`); an invoice
//! without one, or made through another API, gets nothing (an empty render: acknowledged).
//! What is sent follows BitPay (and BTCPay Server's `BitpayIPNSender`):
//!
//! * with `extendedNotifications`: `{"event": {"code", "name"}, "data": invoice}` for every
//!   change BitPay has a code for: 1001 `invoice_created`, 1002 `invoice_receivedPayment`, 1003
//!   `invoice_paidInFull`, 1004 `invoice_expired`, 1005 `invoice_confirmed` and 1006
//!   `invoice_completed` (both when paywatch settles), 1008 `invoice_markedInvalid` (nothing
//!   paid) or 1013 `invoice_failedToConfirm` (a counted payment went away; also when the
//!   payment that had paid an invoice in full goes away before it expires), 1009
//!   `invoice_paidAfterExpiration`;
//! * without: the invoice JSON alone, when it is confirmed (paywatch's `invoice.settled`), and
//!   with `fullNotifications` on every other status change too (paid, expired, invalid, and
//!   `complete` after `confirmed`). As BTCPay does, the notification's `status` is the
//!   event's (`paid`, `confirmed`) where one paywatch event stands for several BitPay steps.
//!
//! Each request carries `x-signature`: base64 HMAC-SHA256 of the body keyed with the API token
//! the invoice was created with (recomputed from the endpoint's `token_key`, see [`token`]).
//! 2xx is delivered; anything else is retried on the dispatcher's schedule.
//!
//! Endpoint params: `token_key` (secret: 64 hex digits), set by the daemon.

pub mod invoice;
pub mod token;

use invoice::{invoice_json, GatewayData};
use paywatch_plugin_api::events::{EventKind, Invoice, InvoiceStatus};
use paywatch_plugin_api::messages::*;
use paywatch_plugin_api::{Host, PlatformPlugin, PluginError};
use serde_json::{json, Value};

/// The endpoint param holding the token key.
pub const TOKEN_KEY_PARAM: &str = "token_key";

#[derive(Debug)]
pub struct Bitpay;

/// One BitPay notification of an event: `(code, name, status shown)`.
type Notice = (u32, &'static str, Option<&'static str>);

/// BitPay's notifications for a paywatch invoice event, in order.
fn notices(kind: EventKind, inv: &Invoice) -> Vec<Notice> {
    use paywatch_plugin_api::events::PaymentStatus::{Dropped, Replaced, Reversed};
    use EventKind::*;
    // Something was paid, or a payment went away: a payment that went away no longer counts,
    // so an invoice whose only payment failed has nothing paid, and is still BitPay's 1013.
    let paid_any = !matches!(inv.amount_paid_base.as_str(), "" | "0")
        || inv.payments.iter().any(|p| matches!(p.status, Dropped | Replaced | Reversed));
    match kind {
        InvoiceCreated => vec![(1001, "invoice_created", None)],
        InvoicePaymentDetected => vec![(1002, "invoice_receivedPayment", None)],
        InvoiceProcessing => vec![(1003, "invoice_paidInFull", Some("paid"))],
        // 1006 only with BitPay's six confirmations: settled on fewer (a faster speed) is 1005
        // alone, and stays `confirmed`.
        InvoiceSettled if invoice::is_complete(inv) => {
            vec![(1005, "invoice_confirmed", Some("confirmed")), (1006, "invoice_completed", None)]
        }
        InvoiceSettled => vec![(1005, "invoice_confirmed", Some("confirmed"))],
        InvoiceExpired => vec![(1004, "invoice_expired", None)],
        InvoiceInvalid if paid_any => vec![(1013, "invoice_failedToConfirm", None)],
        InvoiceInvalid => vec![(1008, "invoice_markedInvalid", None)],
        InvoicePaidLate => vec![(1009, "invoice_paidAfterExpiration", None)],
        // Paid in full, then that payment went away before the invoice expired: paywatch's
        // invoice is `new` again (no status event), BitPay's is a payment that failed to confirm.
        InvoicePaymentReversed if unpaid_by_reversal(inv) => vec![(1013, "invoice_failedToConfirm", None)],
        _ => vec![],
    }
}

/// Whether the payment an `invoice.payment_reversed` reports is what had paid the invoice in
/// full: the invoice is `new` again and that payment alone covers what its method is due now.
/// (A partial payment reversed on an invoice never paid in full is not: nothing is sent.)
fn unpaid_by_reversal(inv: &Invoice) -> bool {
    let Some(p) = inv.payment.as_ref().filter(|_| inv.status == InvoiceStatus::New) else { return false };
    let base = |s: &str| s.parse::<u128>().unwrap_or(0);
    inv.payment_methods
        .iter()
        .find(|m| m.asset == p.asset && m.chain == p.chain)
        .map(|m| base(&m.amount_due_base))
        .is_some_and(|due| due > 0 && base(&p.amount_base) >= due)
}

/// Whether a plain (not extended) notification goes out for this BitPay event.
fn plain_sent(code: u32, full: bool) -> bool {
    match code {
        1005 => true,
        1003 | 1004 | 1006 | 1008 | 1013 => full,
        _ => false,
    }
}

fn key(endpoint: &Value) -> Result<[u8; token::KEY_LEN], PluginError> {
    endpoint
        .get(TOKEN_KEY_PARAM)
        .and_then(Value::as_str)
        .and_then(token::parse_key)
        .ok_or_else(|| PluginError::bad_config(format!("endpoint has no {TOKEN_KEY_PARAM} of 64 hex digits")))
}

/// The requests of one event (empty: nothing to send).
pub fn render_event(
    event: &paywatch_plugin_api::events::Event,
    endpoint: &Value,
    now: i64,
) -> Result<Vec<HttpRequest>, PluginError> {
    let Some(kind) = event.kind() else { return Ok(vec![]) };
    let Some(inv) = event.invoice().map_err(|e| PluginError::invalid_input(format!("invoice data: {e}")))? else {
        return Ok(vec![]);
    };
    let Some(data) = GatewayData::of_invoice_json(&event.data) else { return Ok(vec![]) };
    let Some(url) = data.notification_url.clone().filter(|u| !u.is_empty()) else { return Ok(vec![]) };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(PluginError::undeliverable(format!("notificationURL {url:?} is not an http(s) URL")));
    }
    let key = key(endpoint).map_err(|e| PluginError::undeliverable(e.message))?;
    let token = token::derive_token(&key, &data.token_id);
    let mut requests = vec![];
    for (code, name, shown) in notices(kind, &inv) {
        let mut body = invoice_json(&inv, &data, None, now.saturating_mul(1000));
        if let Some(s) = shown {
            body["status"] = json!(s);
        }
        let body = if data.extended_notifications {
            json!({"event": {"code": code, "name": name}, "data": body})
        } else if plain_sent(code, data.full_notifications) {
            body
        } else {
            continue;
        }
        .to_string();
        requests.push(HttpRequest {
            method: "POST".into(),
            url: url.clone(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-signature".into(), token::ipn_signature(&token, &body)),
            ],
            body,
        });
    }
    Ok(requests)
}

impl PlatformPlugin for Bitpay {
    const NAME: &'static str = "bitpay";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(_config: Value, _host: &Host<'_>) -> Result<Self, PluginError> {
        Ok(Bitpay)
    }

    fn info(&self) -> PlatformInfo {
        PlatformInfo {
            description: "BitPay IPNs to each invoice's notificationURL, signed with its token".into(),
            secret_params: Some(vec![TOKEN_KEY_PARAM.into()]),
        }
    }

    fn validate_endpoint(&self, endpoint: &Value) -> Result<(), PluginError> {
        key(endpoint).map(|_| ())
    }

    fn render(&self, req: &RenderRequest, host: &Host<'_>) -> Result<RenderReply, PluginError> {
        let event = req.typed_event()?;
        let requests = render_event(&event, &req.endpoint, req.now)?;
        if !requests.is_empty() {
            host.debug(&format!("{} ipn(s) for {} (attempt {})", requests.len(), event.event_type, req.attempt));
        }
        Ok(RenderReply { requests })
    }

    fn classify(&self, resp: &ClassifyRequest) -> Result<Verdict, PluginError> {
        Ok(classify(resp))
    }
}

/// 2xx delivered; anything else retried (after `Retry-After` when given), as BitPay retries.
pub fn classify(resp: &ClassifyRequest) -> Verdict {
    match resp.status {
        200..=299 => Verdict::Ack,
        s => Verdict::Retry { after_secs: resp.retry_after_secs(), reason: format!("http {s}") },
    }
}

#[cfg(feature = "plugin")]
paywatch_plugin_api::export_platform_plugin!(Bitpay);

#[cfg(test)]
mod tests;
