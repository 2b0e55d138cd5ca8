//! The commands: each answers its `result`, or the message of CoinPayments' error envelope.

use super::form::{cut, eight_decimals, sats, Form};
use super::Refusal;
use crate::api::AppState;
use crate::db::GatewayRecord;
use crate::invoices::NewInvoice;
use paywatch_plugin_api::events::{Invoice, InvoiceStatus};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// Most transactions one `get_tx_info_multi` reads (CoinPayments' own limit).
const MAX_MULTI: usize = 25;

/// CoinPayments' status of an invoice: `-1` expired or cancelled, `0` waiting for (the rest
/// of) the funds, `1` paid in full and confirming, `100` complete (ship). Never `2` (queued for
/// a nightly payout: paywatch pays nothing out, the coins are in the merchant's wallet). The
/// same table as the `coinpayments` plugin's IPNs.
pub(super) fn status(s: InvoiceStatus) -> (i32, &'static str) {
    match s {
        InvoiceStatus::New => (0, "Waiting for buyer funds..."),
        InvoiceStatus::Processing => (1, "Funds received, waiting for confirmations..."),
        InvoiceStatus::Settled => (100, "Complete"),
        InvoiceStatus::Expired => (-1, "Cancelled / Timed Out"),
        InvoiceStatus::Invalid => (-1, "Cancelled"),
    }
}

/// `create_transaction`: a paywatch invoice priced `amount` of `currency1`, paid in the asset
/// `currency2` (its only payment method).
pub(super) async fn create_transaction(st: &AppState, store: &str, form: &Form) -> Result<Value, Refusal> {
    let amount = form.get("amount").ok_or("Required field amount missing")?;
    let currency1 = form.get("currency1").ok_or("Required field currency1 missing")?;
    let currency2 = form.get("currency2").ok_or("Required field currency2 missing")?;
    let ipn_url = form.get("ipn_url");
    if let Some(url) = ipn_url {
        st.dispatcher()
            .check_destination(store, url)
            .await
            .map_err(|e| format!("Invalid ipn_url {:?}: {e}", cut(url)))?;
    }
    for (name, url) in [("success_url", form.get("success_url")), ("cancel_url", form.get("cancel_url"))] {
        if let Some(u) = url.filter(|u| !(u.starts_with("https://") || u.starts_with("http://"))) {
            return Err(format!("Invalid {name} {:?}: not an http(s) URL", cut(u)).into());
        }
    }
    let mut data = Map::new();
    for name in [
        "ipn_url",
        "buyer_name",
        "buyer_email",
        "item_name",
        "item_number",
        "invoice",
        "custom",
        "success_url",
        "cancel_url",
    ] {
        if let Some(v) = form.get(name) {
            data.insert(name.into(), v.into());
        }
    }
    let new = NewInvoice {
        currency: currency1.to_string(),
        amount: amount.to_string(),
        payment_methods: Some(vec![currency2.to_string()]),
        // The shop's `invoice` (suffixed by `api::compat::create` when the store has that order
        // already), or a fresh id: `create` would suffix an empty one to the gateway's name, and
        // only 64 times.
        order_id: form.get("invoice").map_or_else(|| format!("coinpayments-{}", Uuid::now_v7()), str::to_string),
        description: form.get("item_name").map(str::to_string),
        refund_email: form.get("buyer_email").map(str::to_string),
        redirect_url: form.get("success_url").map(str::to_string),
        ..NewInvoice::default()
    };
    let gateway = GatewayRecord { kind: "coinpayments".into(), data: Value::Object(data) };
    let inv = super::super::create(st, store, new, gateway).await.map_err(|e| e.message().to_string())?;
    let view = view(st, inv).await?;
    let method = view.payment_methods.first().ok_or("internal error: the invoice has no payment method")?;
    let timeout = (parse_ts(&view.expires_at) - OffsetDateTime::now_utc()).whole_seconds().max(0);
    Ok(json!({
        "amount": method.amount_due,
        "txn_id": view.id,
        "address": method.address,
        "confirms_needed": view.required_confirmations.to_string(),
        "timeout": timeout,
        "checkout_url": view.checkout_url,
        "status_url": view.checkout_url,
        "qrcode_url": format!("{}/qr/0.svg", view.checkout_url),
    }))
}

/// The invoice's API view (with its payments).
async fn view(st: &AppState, inv: crate::db::InvoiceRecord) -> Result<Invoice, Refusal> {
    let svc = st.invoices().clone();
    crate::api::blocking(move || svc.view(&inv))
        .await
        .map_err(|_| "internal error reading the transaction".to_string())?
        .map_err(|e| Refusal::Says(format!("internal error reading the transaction: {e}")))
}

fn parse_ts(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// One of the store's CoinPayments transactions, by `txn_id` (its paywatch invoice id).
async fn transaction(st: &AppState, store: &str, txid: &str) -> Result<Invoice, String> {
    let not_found = || format!("Transaction {:?} not found", cut(txid));
    let id = Uuid::parse_str(txid.trim()).map_err(|_| not_found())?;
    let (svc, s) = (st.invoices().clone(), store.to_string());
    let inv = crate::api::blocking(move || svc.get(&s, id))
        .await
        .map_err(|_| "internal error reading the transaction".to_string())?
        .map_err(|e| format!("internal error reading the transaction: {e}"))?
        .filter(|i| i.gateway.as_ref().is_some_and(|g| g.kind == "coinpayments"))
        .ok_or_else(not_found)?;
    view(st, inv).await.map_err(|r| match r {
        Refusal::Says(m) => m,
        Refusal::Limited(_) => not_found(),
    })
}

/// `get_tx_info`'s result for a transaction.
fn tx_info(v: &Invoice) -> Value {
    let (code, text) = status(v.status);
    let method = v.payment_methods.first();
    // The original amount asked in the coin (the first method's, kept at creation).
    let amount = &v.amount_due;
    let confirms = v.least_confirmations();
    json!({
        "time_created": parse_ts(&v.created_at).unix_timestamp(),
        "time_expires": parse_ts(&v.expires_at).unix_timestamp(),
        "status": code,
        "status_text": text,
        "type": "coins",
        "coin": v.asset,
        "amount": sats(amount).unwrap_or(0),
        "amountf": eight_decimals(amount),
        "received": sats(&v.amount_paid).unwrap_or(0),
        "receivedf": eight_decimals(&v.amount_paid),
        "recv_confirms": confirms,
        "payment_address": method.map_or(v.address.as_str(), |m| m.address.as_str()),
        "checkout": {"currency": v.currency, "amount": v.amount},
    })
}

/// `get_tx_info`: `txid`.
pub(super) async fn get_tx_info(st: &AppState, store: &str, form: &Form) -> Result<Value, Refusal> {
    let txid = form.get("txid").ok_or("Required field txid missing")?;
    Ok(tx_info(&transaction(st, store, txid).await?))
}

/// `get_tx_info_multi`: `txid` = up to 25 ids separated by `|`; each answers its info with
/// `"error": "ok"`, or its own error.
pub(super) async fn get_tx_info_multi(st: &AppState, store: &str, form: &Form) -> Result<Value, Refusal> {
    let ids: Vec<&str> = form.get("txid").ok_or("Required field txid missing")?.split('|').collect();
    if ids.len() > MAX_MULTI {
        return Err(format!("Too many transaction IDs: {} (at most {MAX_MULTI})", ids.len()).into());
    }
    let mut out = Map::new();
    for id in ids {
        let one = match transaction(st, store, id).await {
            Ok(v) => {
                let mut info = tx_info(&v);
                info["error"] = "ok".into();
                info
            }
            Err(e) => json!({"error": e}),
        };
        out.insert(id.to_string(), one);
    }
    Ok(Value::Object(out))
}

/// How many BTC one `code` is worth by the store's rates now (the rates its invoices would
/// use), and when that is from: directly (`CODE_BTC`), else through the store's first fiat
/// currency that prices both (`CODE_F / BTC_F`).
async fn rate_btc(st: &AppState, store: &str, code: &str, fiat: &[String]) -> Option<(Decimal, i64)> {
    let rates = st.rates();
    if code == "BTC" {
        return Some((Decimal::ONE, OffsetDateTime::now_utc().unix_timestamp()));
    }
    if let Ok(r) = rates.rate(store, code, "BTC").await {
        return Some((r.value, r.at.unix_timestamp()));
    }
    for f in fiat {
        let of_code = if code == f { Ok(None) } else { rates.rate(store, code, f).await.map(Some) };
        let (Ok(of_code), Ok(btc)) = (of_code, rates.rate(store, "BTC", f).await) else { continue };
        let value = of_code.as_ref().map_or(Decimal::ONE, |r| r.value).checked_div(btc.value)?;
        let at = of_code.map_or(btc.at, |r| r.at.min(btc.at));
        return Some((value, at.unix_timestamp()));
    }
    None
}

/// `rates`: each asset the store receives, BTC and the fiat currencies its rules price, with
/// `rate_btc` (BTC per unit). A code without a rate now is left out.
pub(super) async fn rates(st: &AppState, store: &str) -> Result<Value, Refusal> {
    let known = st.coinpayments().codes(store).ok_or("internal error: no rates for this store")?;
    let mut out = Map::new();
    let mut codes: Vec<(&str, bool)> = known.assets.iter().map(|a| (a.as_str(), false)).collect();
    if !known.assets.iter().any(|a| a == "BTC") {
        codes.push(("BTC", false));
    }
    codes.extend(known.fiat.iter().map(|f| (f.as_str(), true)));
    for (code, is_fiat) in codes {
        let rate_code = if is_fiat { code } else { st.rates().code_of_asset(code).unwrap_or(code) };
        let Some((rate, at)) = rate_btc(st, store, rate_code, &known.fiat).await else {
            tracing::debug!(store, code, "coinpayments rates: no rate to BTC now");
            continue;
        };
        let rate_btc = rate.round_dp(18).normalize().to_string();
        out.insert(
            code.to_string(),
            json!({
                "is_fiat": u8::from(is_fiat),
                "rate_btc": rate_btc,
                "last_update": at.to_string(),
                "tx_fee": "0",
                "status": "online",
                "name": code,
                "confirms": "0",
                "can_convert": 0,
                "capabilities": if is_fiat { json!([]) } else { json!(["payments"]) },
                "explorer": "",
                "accepted": u8::from(known.assets.iter().any(|a| a == code)),
            }),
        );
    }
    Ok(Value::Object(out))
}

/// `get_basic_info`: the store as CoinPayments' account.
pub(super) fn basic_info(store: &str, merchant_id: &str) -> Value {
    json!({
        "username": store,
        "merchant_id": merchant_id,
        "email": "",
        "public_name": store,
        "time_joined": 0,
        "kyc_status": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_coinpayments_codes() {
        assert_eq!(status(InvoiceStatus::New).0, 0);
        assert_eq!(status(InvoiceStatus::Processing).0, 1);
        assert!(status(InvoiceStatus::Settled).0 >= 100);
        assert!(status(InvoiceStatus::Expired).0 < 0 && status(InvoiceStatus::Invalid).0 < 0);
    }
}
