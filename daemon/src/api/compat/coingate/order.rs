//! A paywatch invoice as CoinGate's order object (`POST /v2/orders`, `GET /v2/orders/{id}`,
//! the list, checkout). The status and the callback fields come from the `coingate` platform
//! plugin's own table, compiled in here from its source (`plugins/coingate/src/order.rs`), so
//! a read and a callback can never disagree; reads add what only the daemon knows: refunds,
//! and the method a checkout call chose.

#[allow(dead_code, unreachable_pub)] // its `pub` is the plugin crate's; reads use part of it
#[path = "../../../../../plugins/coingate/src/order.rs"]
mod table;

use crate::db::{RefundRecord, RefundStatus};
use paywatch_plugin_api::events::Invoice;
use serde_json::{json, Map, Value};

pub(super) use table::DO_NOT_CONVERT;

/// What an order's refunds make of its status: `refunded` once refunds completed and nothing
/// is left to refund, `partially_refunded` once one completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refunds {
    None,
    Partial,
    Full,
}

impl Refunds {
    /// From the invoice's refunds and whether anything is still refundable.
    pub(super) fn of(refunds: &[RefundRecord], nothing_left: bool) -> Self {
        let completed = refunds.iter().filter(|r| r.status == RefundStatus::Completed).count();
        match completed {
            0 => Refunds::None,
            n if n == refunds.len() && nothing_left => Refunds::Full,
            _ => Refunds::Partial,
        }
    }
}

/// The CoinGate status: the plugin's table, then refunds, and `pending` once the shop's
/// checkout call chose a currency for an order nothing was paid to.
pub(super) fn status(inv: &Invoice, refunds: Refunds, chosen: Option<&str>) -> &'static str {
    match (table::status(inv), refunds) {
        (_, Refunds::Full) => "refunded",
        (_, Refunds::Partial) => "partially_refunded",
        ("new", _) if chosen.is_some() => "pending",
        (s, _) => s,
    }
}

/// The order as CoinGate's API returns it (`GET /v2/orders/{id}`: the fields of its `Order`
/// and of its callbacks; the create and checkout answers add theirs).
pub(super) fn order(inv: &Invoice, gateway: &Value, refunds: Refunds) -> Map<String, Value> {
    let chosen = gateway.get("pay_currency").and_then(Value::as_str);
    let status = status(inv, refunds, chosen);
    let mut o = Map::new();
    for (k, v) in table::callback_fields(inv, gateway, status) {
        o.insert(k.to_string(), Value::String(v));
    }
    o.remove("token"); // given once, at creation; a read never shows it
    o.insert("id".into(), gateway.get("id").cloned().unwrap_or(Value::Null));
    o.insert("is_refundable".into(), json!(status == "paid" || status == "partially_refunded"));
    let receive = gateway.get("receive_currency").and_then(Value::as_str).unwrap_or(DO_NOT_CONVERT);
    o.insert("do_not_convert".into(), json!(receive == DO_NOT_CONVERT));
    o.insert("lightning_network".into(), json!(false));
    o.insert("payment_url".into(), json!(inv.checkout_url));
    o.insert("expire_at".into(), json!(inv.expires_at));
    for k in ["title", "description"] {
        o.insert(k.into(), gateway.get(k).cloned().unwrap_or(Value::Null));
    }
    // The app that made it, as CoinGate names API orders.
    o.insert("orderable_type".into(), json!("ApiApp"));
    o.insert("orderable_id".into(), json!(1));
    let method = table::pay_method(inv, chosen);
    let shown = chosen.is_some() || !matches!(status, "new");
    o.insert("payment_address".into(), json!(method.filter(|_| shown).map(|m| m.address.clone())));
    if let Some(m) = method {
        o.insert("platform".into(), platform(&m.chain));
    }
    o
}

/// CoinGate's `platform` object of a chain (its id is paywatch's own numbering: the chain's
/// position is not stable across configs, so a fixed 1 for every chain).
pub(super) fn platform(chain: &str) -> Value {
    json!({"id": 1, "title": chain, "id_name": chain})
}

#[cfg(test)]
mod tests {
    use super::*;
    use paywatch_plugin_api::testing::conformance::sample_events;

    /// The conformance kit's settled USD 96.00 invoice (0.0015 BTC paid), with `status`.
    fn invoice(status: &str, paid: bool) -> Invoice {
        let mut e = sample_events().into_iter().find(|e| e["type"] == "invoice.settled").unwrap();
        e["data"]["status"] = json!(status);
        if !paid {
            e["data"]["payment_methods"][0]["amount_paid_base"] = json!("0");
            e["data"]["payment_methods"][0]["amount_paid"] = json!("0");
            e["data"]["payment_methods"][0]["amount_due_base"] = json!("150000");
            e["data"]["payment_methods"][0]["amount_due"] = json!("0.0015");
        }
        serde_json::from_value(e["data"].clone()).unwrap()
    }

    #[test]
    fn refunds_and_a_checkout_choice_change_what_a_read_says() {
        assert_eq!(status(&invoice("settled", true), Refunds::None, None), "paid");
        assert_eq!(status(&invoice("settled", true), Refunds::Partial, None), "partially_refunded");
        assert_eq!(status(&invoice("settled", true), Refunds::Full, None), "refunded");
        assert_eq!(status(&invoice("new", false), Refunds::None, None), "new");
        assert_eq!(status(&invoice("new", false), Refunds::None, Some("BTC")), "pending");
        assert_eq!(status(&invoice("expired", false), Refunds::None, Some("BTC")), "expired");
    }

    #[test]
    fn an_order_shows_its_address_once_a_currency_is_chosen_and_never_its_token() {
        let gateway = json!({"id": 5, "order_id": "1042", "token": "t", "receive_currency": "EUR"});
        let o = order(&invoice("new", false), &gateway, Refunds::None);
        assert_eq!(
            (o["id"].clone(), o["status"].clone(), o["payment_address"].clone()),
            (json!(5), json!("new"), Value::Null)
        );
        assert!(o.get("token").is_none());
        assert_eq!((o["do_not_convert"].clone(), o["receive_amount"].clone()), (json!(false), json!("")));
        let chosen = json!({"id": 5, "order_id": "1042", "token": "t", "pay_currency": "BTC"});
        let o = order(&invoice("new", false), &chosen, Refunds::None);
        assert_eq!((o["status"].as_str(), o["pay_amount"].as_str()), (Some("pending"), Some("0.0015")));
        assert_eq!(o["payment_address"], "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq");
        assert_eq!(o["do_not_convert"], json!(true));
    }
}
