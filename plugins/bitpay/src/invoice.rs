//! A paywatch invoice as BitPay's API shows it: what `GET /bitpay/invoices/{id}` answers and
//! what an IPN carries, built from the same [`Invoice`] view the events hold, so a shop that
//! re-reads the invoice after an IPN sees the status the IPN announced.
//!
//! Status mapping (docs/compat.md):
//!
//! | paywatch | BitPay `status` | `exceptionStatus` |
//! |---|---|---|
//! | `new`, nothing paid | `new` | `false` |
//! | `new`, part paid | `new` | `paidPartial` |
//! | `processing` | `paid` | `false` (`paidOver` when overpaid) |
//! | `settled` | `complete` | `false` (`paidOver` when overpaid) |
//! | `expired` | `expired` | `false`, `paidPartial` when part paid, `paidLate` |
//! | `invalid` | `invalid` | as it was |

use paywatch_plugin_api::events::{Exception, Invoice, InvoiceStatus};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The `gateway.kind` of invoices made through the BitPay routes.
pub const KIND: &str = "bitpay";

/// BitPay's fields of an invoice, kept in its `gateway.data` (and so in every `invoice.*`
/// event): what the shop sent that paywatch has no field for, and the id of the token it was
/// created with. Never a token or any other secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GatewayData {
    /// The id of the token (not the token): the plugin derives the token from it to sign IPNs.
    pub token_id: String,
    /// `pos` or `merchant`.
    pub facade: String,
    /// The shop's `orderId` as sent (paywatch's `order_id` may carry a suffix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_desc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_code: Option<String>,
    /// Returned as given (BitPay's `posData` is a string; an object is kept as its JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_speed: Option<String>,
    #[serde(default)]
    pub full_notifications: bool,
    #[serde(default)]
    pub extended_notifications: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
}

impl GatewayData {
    /// The BitPay data of an invoice event's `data` (the invoice JSON), when it has some.
    pub fn of_invoice_json(invoice: &Value) -> Option<Self> {
        let gw = invoice.get("gateway")?;
        if gw.get("kind")?.as_str()? != KIND {
            return None;
        }
        serde_json::from_value(gw.get("data")?.clone()).ok()
    }
}

/// Confirmations BitPay's `complete` means: final, whatever the invoice's speed.
pub const COMPLETE_CONFIRMATIONS: u32 = 6;

/// Whether a settled invoice is BitPay's `complete`: it required [`COMPLETE_CONFIRMATIONS`]
/// (BitPay's `low` speed). One settled on fewer (`high`, `medium`) is `confirmed` for good:
/// paywatch follows a payment's confirmations up to what its invoice requires, so it never
/// learns of the sixth, and a shop that ships on `complete`, as BitPay says it may, never
/// ships against a transaction that can still be double-spent.
pub fn is_complete(inv: &Invoice) -> bool {
    inv.status == InvoiceStatus::Settled && inv.required_confirmations >= COMPLETE_CONFIRMATIONS
}

/// BitPay's `status` and `exceptionStatus` for an invoice.
pub fn status(inv: &Invoice) -> (&'static str, Value) {
    let paid_any = inv.amount_paid_base != "0" && !inv.amount_paid_base.is_empty();
    let status = match inv.status {
        InvoiceStatus::New => "new",
        InvoiceStatus::Processing => "paid",
        InvoiceStatus::Settled if is_complete(inv) => "complete",
        InvoiceStatus::Settled => "confirmed",
        InvoiceStatus::Expired => "expired",
        InvoiceStatus::Invalid => "invalid",
    };
    let exception = match inv.exception {
        Exception::None => match inv.status {
            InvoiceStatus::New | InvoiceStatus::Expired if paid_any => json!("paidPartial"),
            _ => json!(false),
        },
        Exception::PaidPartial => json!("paidPartial"),
        Exception::PaidOver => json!("paidOver"),
        Exception::PaidLate => json!("paidLate"),
    };
    (status, exception)
}

/// RFC 3339 → unix milliseconds (BitPay's times); 0 when it does not read.
fn millis(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .unwrap_or(0)
}

/// RFC 3339 → the same instant with milliseconds (`2026-12-02T06:10:00.123Z`), as BitPay writes
/// times in strings (paywatch's have nanoseconds, which some clients' date parsers refuse).
fn iso_ms(rfc3339: &str) -> String {
    let ms = millis(rfc3339);
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// A decimal string as a JSON number (BitPay's `price`, rates); `null` when it is not one.
fn number(decimal: &str) -> Value {
    decimal.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number).unwrap_or(Value::Null)
}

fn base_units(s: &str) -> u128 {
    s.parse().unwrap_or(0)
}

/// The invoice as BitPay's API shows it. `token` is the token it was created with: in API
/// answers to that token's holder, never in IPNs. `now_ms` is BitPay's `currentTime`.
pub fn invoice_json(inv: &Invoice, data: &GatewayData, token: Option<&str>, now_ms: i64) -> Value {
    let (status, exception) = status(inv);
    let mut subtotals = Map::new();
    let mut rates = Map::new();
    let mut codes = Map::new();
    let mut addresses = Map::new();
    for m in &inv.payment_methods {
        // A method's price now: what was paid to it plus what is still due in it.
        let total = base_units(&m.amount_paid_base) + base_units(&m.amount_due_base);
        subtotals.insert(m.asset.clone(), json!(total));
        rates.insert(m.asset.clone(), json!({ inv.currency.clone(): number(&m.rate) }));
        let scheme = if m.payment_uri.starts_with("ethereum:") { "EIP681" } else { "BIP21" };
        codes.insert(m.asset.clone(), json!({ scheme: m.payment_uri }));
        addresses.insert(m.asset.clone(), json!(m.address));
    }
    // The currency the customer paid in: the method with payments (the first one otherwise).
    let paid_method =
        inv.payment_methods.iter().find(|m| base_units(&m.amount_paid_base) > 0).or(inv.payment_methods.first());
    let transactions: Vec<Value> = inv
        .payments
        .iter()
        .map(|p| {
            let seen = iso_ms(&p.first_seen);
            json!({"txid": p.txid, "outputIndex": p.index, "amount": base_units(&p.amount_base),
                   "confirmations": p.confirmations, "receivedTime": seen, "time": seen})
        })
        .collect();
    let mut out = json!({
        "id": inv.id,
        "url": inv.checkout_url,
        "status": status,
        "exceptionStatus": exception,
        "price": number(&inv.amount),
        "currency": inv.currency,
        "orderId": data.order_id,
        "itemDesc": data.item_desc.clone().or_else(|| inv.description.clone()),
        "itemCode": data.item_code,
        "posData": data.pos_data,
        "notificationURL": data.notification_url,
        "redirectURL": inv.redirect_url,
        "transactionSpeed": data.transaction_speed,
        "fullNotifications": data.full_notifications,
        "extendedNotifications": data.extended_notifications,
        "invoiceTime": millis(&inv.created_at),
        "expirationTime": millis(&inv.expires_at),
        "currentTime": now_ms,
        "targetConfirmations": inv.required_confirmations,
        "lowFeeDetected": false,
        "refundAddressRequestPending": false,
        "paymentSubtotals": subtotals.clone(),
        "paymentTotals": subtotals,
        "paymentCodes": codes,
        "addresses": addresses,
        "exchangeRates": rates,
        "amountPaid": paid_method.map(|m| base_units(&m.amount_paid_base)).unwrap_or(0),
        "transactionCurrency": paid_method.map(|m| m.asset.clone()),
        "transactions": transactions,
        "buyer": data.buyer.clone().unwrap_or_else(|| json!({})),
    });
    let obj = out.as_object_mut().expect("an object");
    if let Some(btc) = inv.payment_methods.iter().find(|m| m.asset == "BTC") {
        // BitPay's deprecated BTC fields, still read by old shops.
        let paid: f64 = btc.amount_paid.parse().unwrap_or(0.0);
        let due: f64 = btc.amount_due.parse().unwrap_or(0.0);
        obj.insert("btcPrice".into(), json!(format!("{:.8}", paid + due)));
        obj.insert("btcDue".into(), json!(btc.amount_due));
        obj.insert("btcPaid".into(), json!(btc.amount_paid));
        obj.insert("rate".into(), number(&btc.rate));
    }
    if let Some(guid) = &data.guid {
        obj.insert("guid".into(), json!(guid));
    }
    if let Some(t) = token {
        obj.insert("token".into(), json!(t));
    }
    // Absent rather than null, as BitPay leaves out what was not set.
    obj.retain(|_, v| !v.is_null());
    out
}
