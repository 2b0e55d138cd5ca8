//! The `coinpayments` platform plugin: IPNs as CoinPayments sends them for transactions made
//! with its `api.php` (`ipn_type=api`), to each transaction's own `ipn_url`.
//!
//! The daemon makes one endpoint per store with `[stores.coinpayments]`; its params are
//! `merchant_id` and `ipn_secret` (a secret). The destination is not the endpoint's: it is the
//! `ipn_url` the shop gave `create_transaction`, kept in the invoice's `gateway.data` (an invoice
//! of another gateway, or without an `ipn_url`, renders no request: acknowledged as skipped).
//!
//! Each IPN is a form-encoded POST (`application/x-www-form-urlencoded`, encoded as PHP's
//! `http_build_query` does, as CoinPayments' own PHP backend sends it) with an `HMAC` header:
//! hex HMAC-SHA512 of the exact body keyed with the IPN secret. `ipn_id` is derived from the
//! invoice id and the event's sequence number, so a retried IPN keeps its id and shops that
//! deduplicate by it see one notification per change.

mod ipn;

use paywatch_plugin_api::messages::*;
use paywatch_plugin_api::{export_platform_plugin, Host, PlatformPlugin, PluginError};
use serde_json::Value;

pub use ipn::{form_encode, ipn_id, sign, status, Ipn};

#[derive(Debug)]
pub struct CoinPayments;

/// An endpoint's params.
#[derive(Debug)]
struct Params<'a> {
    merchant_id: &'a str,
    ipn_secret: &'a str,
}

fn params(endpoint: &Value) -> Result<Params<'_>, PluginError> {
    let get = |name: &str| {
        endpoint
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| PluginError::bad_config(format!("endpoint has no {name}")))
    };
    Ok(Params { merchant_id: get("merchant_id")?, ipn_secret: get("ipn_secret")? })
}

impl PlatformPlugin for CoinPayments {
    const NAME: &'static str = "coinpayments";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(_config: Value, _host: &Host<'_>) -> Result<Self, PluginError> {
        Ok(CoinPayments)
    }

    fn info(&self) -> PlatformInfo {
        PlatformInfo {
            description:
                "CoinPayments IPNs (form-encoded, HMAC-SHA512 with the IPN secret) to each transaction's ipn_url".into(),
            secret_params: Some(vec!["ipn_secret".into()]),
        }
    }

    /// A merchant id (shops compare the IPN's `merchant` with theirs) and an IPN secret
    /// (CoinPayments sends no IPN without one, and shops refuse unsigned ones).
    fn validate_endpoint(&self, endpoint: &Value) -> Result<(), PluginError> {
        params(endpoint).map(|_| ())
    }

    fn render(&self, req: &RenderRequest, host: &Host<'_>) -> Result<RenderReply, PluginError> {
        let p = params(&req.endpoint).map_err(|e| PluginError::undeliverable(e.message))?;
        let event = req.typed_event()?;
        let kind = event.event_type.clone();
        // Only invoice events notify; `invoice.created` is the shop's own request's answer.
        if !kind.starts_with("invoice.") || kind == "invoice.created" {
            return Ok(RenderReply { requests: vec![] });
        }
        let Some(invoice) = event.invoice().map_err(|e| PluginError::invalid_input(format!("{kind} data: {e}")))?
        else {
            return Ok(RenderReply { requests: vec![] });
        };
        let Some(ipn) = Ipn::of(&invoice, p.merchant_id) else {
            host.debug(&format!("{kind} of invoice {}: no coinpayments ipn_url, nothing to send", invoice.id));
            return Ok(RenderReply { requests: vec![] });
        };
        let body = form_encode(&ipn.fields);
        let hmac = sign(p.ipn_secret.as_bytes(), &body);
        host.debug(&format!("ipn {} status {} for {} (attempt {})", ipn.id, ipn.status, invoice.id, req.attempt));
        Ok(RenderReply {
            requests: vec![HttpRequest {
                method: "POST".into(),
                url: ipn.url,
                headers: vec![
                    ("content-type".into(), "application/x-www-form-urlencoded".into()),
                    ("hmac".into(), hmac),
                ],
                body,
            }],
        })
    }

    fn classify(&self, resp: &ClassifyRequest) -> Result<Verdict, PluginError> {
        Ok(classify(resp))
    }
}

/// Shops answer `IPN OK` (or anything) with a 2xx: delivered. A 3xx is a wrong URL (redirects
/// are not followed), a 410 says this order's URL is gone: neither gets better with retries, and
/// neither disables the store's endpoint (every transaction has its own URL). Anything else is
/// retried, after `Retry-After` when given (CoinPayments itself retries a failed IPN).
pub fn classify(resp: &ClassifyRequest) -> Verdict {
    match resp.status {
        410 => Verdict::Fail { reason: "http 410: the shop says this ipn_url is gone".into() },
        _ => resp.per_invoice_verdict("ipn_url"),
    }
}

export_platform_plugin!(CoinPayments);

#[cfg(test)]
mod tests;
