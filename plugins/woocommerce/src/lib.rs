//! The `woocommerce` platform plugin: moves the shop's order along as its invoice does,
//! through the WooCommerce REST API (v3): `PUT /wp-json/wc/v3/orders/{order_id}` with the new
//! status, then `POST …/orders/{order_id}/notes` with what happened and the txids.
//!
//! Endpoint keys: `url` (the shop's base URL), `consumer_key`, `consumer_secret` (HTTP Basic
//! auth, as WooCommerce expects over HTTPS), and optionally `status_map`, an object from
//! invoice event type to order status (defaults below; `""` leaves the status alone).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use paywatch_plugin_api::events::{EventKind, Exception, Invoice};
use paywatch_plugin_api::messages::*;
use paywatch_plugin_api::text::percent_encode;
use paywatch_plugin_api::{export_platform_plugin, Host, PlatformPlugin, PluginError};
use serde_json::{json, Value};

/// Invoice event → WooCommerce order status.
pub const DEFAULT_STATUS_MAP: [(&str, &str); 4] = [
    (EventKind::InvoiceSettled.as_str(), "processing"),
    (EventKind::InvoiceProcessing.as_str(), "on-hold"),
    (EventKind::InvoiceInvalid.as_str(), "failed"),
    (EventKind::InvoiceExpired.as_str(), "cancelled"),
];

#[derive(Debug)]
pub struct WooCommerce;

fn key<'a>(endpoint: &'a Value, name: &str) -> Result<&'a str, PluginError> {
    endpoint
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| PluginError::bad_config(format!("endpoint has no {name}")))
}

/// The order status an event moves the order to, if any.
fn target_status(endpoint: &Value, kind: &str) -> Result<Option<String>, PluginError> {
    if let Some(map) = endpoint.get("status_map") {
        let map = map.as_object().ok_or_else(|| PluginError::bad_config("status_map must be a table"))?;
        if let Some(v) = map.get(kind) {
            let s =
                v.as_str().ok_or_else(|| PluginError::bad_config(format!("status_map.{kind:?} is not a string")))?;
            return Ok((!s.is_empty()).then(|| s.to_string()));
        }
    }
    Ok(DEFAULT_STATUS_MAP.iter().find(|(k, _)| *k == kind).map(|(_, s)| s.to_string()))
}

/// `order 1042: invoice … settled, 0.0015 BTC paid (txids a, b)`.
fn note(kind: &str, invoice: &Invoice) -> String {
    let txids: Vec<&str> = invoice.payments.iter().map(|p| p.txid.as_str()).collect();
    let mut n = format!(
        "paywatch: invoice {} {}: {} {} paid of {} due",
        invoice.id,
        kind.trim_start_matches("invoice."),
        invoice.amount_paid,
        invoice.asset,
        invoice.amount_due,
    );
    if invoice.exception != Exception::None {
        let e = serde_json::to_value(invoice.exception).unwrap_or_default();
        n.push_str(&format!(" ({})", e.as_str().unwrap_or_default()));
    }
    if !txids.is_empty() {
        n.push_str(&format!("; txids {}", txids.join(", ")));
    }
    n
}

impl PlatformPlugin for WooCommerce {
    const NAME: &'static str = "woocommerce";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(_config: Value, _host: &Host<'_>) -> Result<Self, PluginError> {
        Ok(WooCommerce)
    }

    fn info(&self) -> PlatformInfo {
        PlatformInfo {
            description: "updates WooCommerce orders (REST API v3) as their invoices change".into(),
            secret_params: Some(["consumer_key", "consumer_secret"].map(String::from).to_vec()),
        }
    }

    /// `url`, `consumer_key` and `consumer_secret` present; `status_map`, if any, a table of
    /// strings.
    fn validate_endpoint(&self, endpoint: &Value) -> Result<(), PluginError> {
        for name in ["url", "consumer_key", "consumer_secret"] {
            key(endpoint, name)?;
        }
        for (kind, _) in DEFAULT_STATUS_MAP {
            target_status(endpoint, kind)?;
        }
        if let Some(map) = endpoint.get("status_map").and_then(Value::as_object) {
            if let Some((k, _)) = map.iter().find(|(_, v)| !v.is_string()) {
                return Err(PluginError::bad_config(format!("status_map.{k:?} is not a string")));
            }
        }
        Ok(())
    }

    fn render(&self, req: &RenderRequest, host: &Host<'_>) -> Result<RenderReply, PluginError> {
        // A missing key or a bad status map does not get better with retries.
        self.validate_endpoint(&req.endpoint).map_err(|e| PluginError::undeliverable(e.message))?;
        let base = key(&req.endpoint, "url")?.trim_end_matches('/');
        let auth = format!("{}:{}", key(&req.endpoint, "consumer_key")?, key(&req.endpoint, "consumer_secret")?);
        let event = req.typed_event()?;
        let kind = event.event_type.as_str();
        let invoice = event.invoice().map_err(|e| PluginError::invalid_input(format!("{kind} data: {e}")))?;
        let Some(invoice) = invoice else {
            return Ok(RenderReply { requests: Vec::new() }); // not about an order
        };
        let order = invoice.order_id.as_str();
        let Some(status) = target_status(&req.endpoint, kind)? else {
            return Ok(RenderReply { requests: Vec::new() });
        };
        let order_url = format!("{base}/wp-json/wc/v3/orders/{}", percent_encode(order));
        let headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("authorization".to_string(), format!("Basic {}", B64.encode(auth))),
        ];
        let update = json!({
            "status": status,
            "meta_data": [{"key": "_paywatch_invoice", "value": invoice.id}, {"key": "_paywatch_event", "value": event.id}],
        });
        host.debug(&format!("order {order} -> {status} ({kind})"));
        Ok(RenderReply {
            requests: vec![
                HttpRequest {
                    method: "PUT".into(),
                    url: order_url.clone(),
                    headers: headers.clone(),
                    body: update.to_string(),
                },
                HttpRequest {
                    method: "POST".into(),
                    url: format!("{order_url}/notes"),
                    headers,
                    body: json!({"note": note(kind, &invoice), "customer_note": false}).to_string(),
                },
            ],
        })
    }

    fn classify(&self, resp: &ClassifyRequest) -> Result<Verdict, PluginError> {
        let retry_after = resp.retry_after_secs();
        Ok(match resp.status {
            200..=299 => Verdict::Ack,
            410 => Verdict::Disable { reason: "the shop answered 410 gone".into() },
            400 | 404 => Verdict::Fail {
                reason: format!("http {}: WooCommerce refused the order update: {}", resp.status, excerpt(&resp.body)),
            },
            s => Verdict::Retry { after_secs: retry_after, reason: format!("http {s}: {}", excerpt(&resp.body)) },
        })
    }
}

fn excerpt(body: &str) -> String {
    body.chars().take(200).collect()
}

export_platform_plugin!(WooCommerce);

#[cfg(test)]
mod tests {
    use super::*;

    fn render(event: Value, endpoint: Value) -> Result<Vec<HttpRequest>, PluginError> {
        let vt = paywatch_plugin_api::testing::noop_host_vtable();
        let req = RenderRequest { event, endpoint, attempt: 1, now: 0 };
        WooCommerce.render(&req, &Host::new(&vt)).map(|r| r.requests)
    }

    /// The kit's sample `invoice.settled`, with this order id, id `inv1` and two payments.
    fn settled(order: &str) -> Value {
        let samples = paywatch_plugin_api::testing::conformance::sample_events();
        let mut e = samples.into_iter().find(|e| e["type"] == "invoice.settled").unwrap();
        let d = &mut e["data"];
        (d["id"], d["order_id"]) = ("inv1".into(), order.into());
        let p = d["payments"][0].clone();
        d["payments"] = json!([p.clone(), p]);
        (d["payments"][0]["txid"], d["payments"][1]["txid"]) = ("aa".into(), "bb".into());
        e
    }

    fn endpoint() -> Value {
        json!({"url": "https://shop.example/", "consumer_key": "ck_1", "consumer_secret": "cs_2"})
    }

    #[test]
    fn settled_moves_the_order_to_processing_with_a_note() {
        let r = render(settled("1042"), endpoint()).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].method.as_str(), r[0].url.as_str()),
            ("PUT", "https://shop.example/wp-json/wc/v3/orders/1042")
        );
        let body: Value = serde_json::from_str(&r[0].body).unwrap();
        assert_eq!(body["status"], "processing");
        let auth = r[0].headers.iter().find(|(k, _)| k == "authorization").unwrap();
        assert_eq!(auth.1, format!("Basic {}", B64.encode("ck_1:cs_2")));
        assert_eq!(
            (r[1].method.as_str(), r[1].url.as_str()),
            ("POST", "https://shop.example/wp-json/wc/v3/orders/1042/notes")
        );
        let note: Value = serde_json::from_str(&r[1].body).unwrap();
        assert_eq!(note["note"], "paywatch: invoice inv1 settled: 0.0015 BTC paid of 0.0015 due; txids aa, bb");
    }

    #[test]
    fn the_mapping_is_configurable_and_other_events_send_nothing() {
        let mut e = endpoint();
        e["status_map"] = json!({"invoice.settled": "completed", "invoice.expired": ""});
        let r = render(settled("A/1"), e.clone()).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&r[0].body).unwrap()["status"], "completed");
        assert!(r[0].url.ends_with("/orders/A%2F1"));
        let mut expired = settled("1");
        expired["type"] = "invoice.expired".into();
        assert!(render(expired, e).unwrap().is_empty());
        let mut payment = settled("1");
        payment["type"] = "payment.confirmed".into();
        assert!(render(payment, endpoint()).unwrap().is_empty());
        let e = render(settled("1"), json!({"url": "https://shop.example"})).unwrap_err();
        assert!(e.message.contains("consumer_key"), "{e}");
        assert_eq!(e.code, PluginError::UNDELIVERABLE, "a missing key is never retried");
    }

    #[test]
    fn endpoints_are_validated_at_creation() {
        WooCommerce.validate_endpoint(&endpoint()).unwrap();
        let mut bad_map = endpoint();
        bad_map["status_map"] = json!({"invoice.settled": 5});
        for (bad, what) in [
            (json!({"url": "https://shop.example"}), "consumer_key"),
            (json!({"consumer_key": "ck", "consumer_secret": "cs"}), "url"),
            (bad_map, "status_map"),
        ] {
            let e = WooCommerce.validate_endpoint(&bad).unwrap_err();
            assert!(e.code == "bad_config" && e.message.contains(what), "{bad}: {e}");
        }
    }

    #[test]
    fn passes_the_conformance_kit() {
        use paywatch_plugin_api::testing::conformance::{check_platform, PlatformOptions};
        use paywatch_plugin_api::testing::harness::PluginLib;
        let lib = PluginLib::from_exported(&crate::PAYWATCH_PLUGIN).unwrap();
        let opts = PlatformOptions { endpoint: endpoint(), ..PlatformOptions::default() };
        check_platform(&lib, &opts).assert_passed();
    }

    #[test]
    fn responses_are_classified() {
        let c = |status: u16| {
            WooCommerce.classify(&ClassifyRequest { status, headers: vec![], body: "{\"code\":\"x\"}".into() }).unwrap()
        };
        assert_eq!(c(200), Verdict::Ack);
        assert!(matches!(c(404), Verdict::Fail { reason } if reason.contains("refused")));
        assert!(matches!(c(410), Verdict::Disable { .. }));
        assert!(matches!(c(503), Verdict::Retry { .. }));
        assert!(matches!(c(401), Verdict::Retry { .. }), "credentials can be fixed: keep trying");
    }
}
