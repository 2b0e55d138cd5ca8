//! A paywatch invoice as a CoinGate API v2 order: its status and the fields CoinGate's payment
//! callbacks carry. The daemon's `/coingate` routes answer reads with the same table
//! (`daemon/src/api/compat/coingate/order.rs`); the end-to-end test checks that a callback
//! says what the client's read of the order says.
//!
//! | paywatch                                   | CoinGate     |
//! |--------------------------------------------|--------------|
//! | `new`, nothing paid                        | `new`        |
//! | `new`, a payment short of the price        | `pending`    |
//! | `processing`                               | `confirming` |
//! | `settled`                                  | `paid`       |
//! | `expired`                                  | `expired`    |
//! | `invalid` without any payment (cancelled)  | `canceled`   |
//! | `invalid` after a payment went away        | `invalid`    |
//!
//! (`refunded` and `partially_refunded` come from the invoice's refunds, which the daemon
//! knows and an invoice event does not carry.)

use paywatch_plugin_api::amount::Amount;
use paywatch_plugin_api::events::{Invoice, InvoiceStatus, PaymentMethod};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

/// What a shop's own CoinGate receive currency means here: paywatch converts nothing, the
/// merchant keeps the coins paid.
pub const DO_NOT_CONVERT: &str = "DO_NOT_CONVERT";

fn paid(m: &PaymentMethod) -> Amount {
    Amount::from_base_str(&m.amount_paid_base).unwrap_or_default()
}

fn due(m: &PaymentMethod) -> Amount {
    Amount::from_base_str(&m.amount_due_base).unwrap_or_default()
}

/// The CoinGate status of an invoice (before refunds).
pub fn status(inv: &Invoice) -> &'static str {
    match inv.status {
        InvoiceStatus::New if inv.payment_methods.iter().any(|m| !paid(m).is_zero()) => "pending",
        InvoiceStatus::New => "new",
        InvoiceStatus::Processing => "confirming",
        InvoiceStatus::Settled => "paid",
        InvoiceStatus::Expired => "expired",
        InvoiceStatus::Invalid if inv.payments_count == 0 => "canceled",
        InvoiceStatus::Invalid => "invalid",
    }
}

/// The method the customer pays with: the one paid the most, else the one the shop's
/// checkout call chose (`chosen`, an asset id), else the first.
pub fn pay_method<'a>(inv: &'a Invoice, chosen: Option<&str>) -> Option<&'a PaymentMethod> {
    let most = inv.payment_methods.iter().filter(|m| !paid(m).is_zero()).max_by_key(|m| paid(m));
    most.or_else(|| chosen.and_then(|c| inv.payment_methods.iter().find(|m| m.asset.eq_ignore_ascii_case(c))))
        .or_else(|| inv.payment_methods.first())
}

/// The decimals of a method's asset, from its amounts (the view gives them in units and in
/// base units); `None` when both are zero.
fn decimals(m: &PaymentMethod) -> Option<u8> {
    [(&m.amount_due, due(m)), (&m.amount_paid, paid(m))]
        .into_iter()
        .filter(|(_, base)| !base.is_zero())
        .find_map(|(units, base)| (0..=77u8).find(|d| Amount::parse_units(units, *d).ok() == Some(base)))
}

fn dec(s: &str) -> Option<Decimal> {
    Decimal::from_str_exact(s.trim()).ok()
}

/// What the customer is asked to pay with a method: the first method's first amount due (the
/// invoice's top-level `amount_due`), another's the price at its locked rate, rounded up to a
/// base unit.
pub fn pay_amount(inv: &Invoice, m: &PaymentMethod) -> String {
    if inv.payment_methods.first().is_some_and(|f| f.asset == m.asset) {
        return inv.amount_due.clone();
    }
    let (Some(d), Some(price), Some(rate)) = (decimals(m), dec(&inv.amount), dec(&m.rate)) else {
        return m.amount_due.clone();
    };
    match price.checked_div(rate) {
        Some(v) => v.round_dp_with_strategy(d.into(), RoundingStrategy::AwayFromZero).normalize().to_string(),
        None => m.amount_due.clone(),
    }
}

/// What is still short once something was paid (the method's remainder), in its unit.
pub fn underpaid_amount(m: &PaymentMethod) -> String {
    if paid(m).is_zero() {
        "0".into()
    } else {
        m.amount_due.clone()
    }
}

/// What was paid beyond the price, in the method's unit at its locked rate (rounded down).
pub fn overpaid_amount(inv: &Invoice, m: &PaymentMethod) -> String {
    let (Some(paid), Some(price), Some(rate)) = (dec(&inv.paid), dec(&inv.amount), dec(&m.rate)) else {
        return "0".into();
    };
    let d = decimals(m).unwrap_or(8);
    match (paid - price).checked_div(rate) {
        Some(v) if v.is_sign_positive() && !v.is_zero() => {
            v.round_dp_with_strategy(d.into(), RoundingStrategy::ToZero).normalize().to_string()
        }
        _ => "0".into(),
    }
}

/// The order's fields a callback carries, in CoinGate's order; `gateway` is the invoice's
/// `gateway.data` (`id`, `order_id`, `receive_currency`, `token`, `pay_currency` as the
/// daemon records them), `status` its CoinGate status (refunds included where known).
pub fn callback_fields(inv: &Invoice, gateway: &Value, status: &str) -> Vec<(&'static str, String)> {
    let text = |k: &str| gateway.get(k).and_then(Value::as_str);
    let id = match gateway.get("id") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let receive_currency = text("receive_currency").unwrap_or(DO_NOT_CONVERT).to_string();
    let method = pay_method(inv, text("pay_currency"));
    let pay_currency = method.map(|m| m.asset.clone()).unwrap_or_default();
    let receive_amount = match method {
        Some(m) if matches!(status, "paid" | "refunded" | "partially_refunded") => {
            if receive_currency.eq_ignore_ascii_case(&inv.currency) {
                inv.amount.clone()
            } else if receive_currency == DO_NOT_CONVERT || receive_currency.eq_ignore_ascii_case(&m.asset) {
                m.amount_paid.clone()
            } else {
                String::new()
            }
        }
        _ => String::new(),
    };
    vec![
        ("id", id),
        ("order_id", text("order_id").unwrap_or(&inv.order_id).to_string()),
        ("status", status.to_string()),
        ("price_amount", inv.amount.clone()),
        ("price_currency", inv.currency.clone()),
        ("receive_currency", receive_currency),
        ("receive_amount", receive_amount),
        ("pay_amount", method.map(|m| pay_amount(inv, m)).unwrap_or_default()),
        ("pay_currency", pay_currency),
        ("underpaid_amount", method.map_or_else(|| "0".into(), underpaid_amount)),
        ("overpaid_amount", method.map_or_else(|| "0".into(), |m| overpaid_amount(inv, m))),
        ("is_refundable", (status == "paid").to_string()),
        ("created_at", inv.created_at.clone()),
        ("token", text("token").unwrap_or_default().to_string()),
    ]
}
