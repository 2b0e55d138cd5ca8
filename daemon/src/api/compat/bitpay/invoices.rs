//! `POST /bitpay/invoices` and `GET /bitpay/invoices/{id}`.

use super::{authenticate, now_ms, BpError};
use crate::api::{blocking, AppState};
use crate::db::GatewayRecord;
use crate::invoices::NewInvoice;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::Json;
use paywatch_plugin_bitpay::invoice::{invoice_json, GatewayData, KIND};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use std::str::FromStr;
use uuid::Uuid;

/// BitPay's invoice request (its field names; what paywatch does not use is ignored, as
/// BitPay ignores what it does not know).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateReq {
    price: Option<Value>,
    currency: Option<String>,
    order_id: Option<Value>,
    item_desc: Option<String>,
    item_code: Option<String>,
    #[serde(rename = "notificationURL")]
    notification_url: Option<String>,
    #[serde(rename = "redirectURL")]
    redirect_url: Option<String>,
    notification_email: Option<String>,
    pos_data: Option<Value>,
    buyer: Option<Value>,
    transaction_speed: Option<String>,
    full_notifications: Option<bool>,
    extended_notifications: Option<bool>,
    token: Option<String>,
    guid: Option<String>,
}

/// BitPay's `price` (a JSON number, or a numeric string) as a plain positive decimal.
fn price(v: Option<&Value>) -> Result<String, BpError> {
    let bad = || {
        BpError::bad_request(format!("price {} is not a positive number", v.map(Value::to_string).unwrap_or_default()))
    };
    let text = match v {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.trim().to_string(),
        _ => return Err(BpError::bad_request("price is required")),
    };
    if text.len() > 64 {
        return Err(bad());
    }
    let d = if text.contains(['e', 'E']) { Decimal::from_scientific(&text) } else { Decimal::from_str(&text) };
    let d = d.map_err(|_| bad())?;
    if d <= Decimal::ZERO {
        return Err(bad());
    }
    Ok(d.normalize().to_string())
}

/// `transactionSpeed` → paywatch's `speed` (the same words: high 0, medium 1, low 6 blocks).
fn speed(s: Option<&str>) -> Result<Option<String>, BpError> {
    match s {
        None => Ok(None),
        Some(s @ ("high" | "medium" | "low")) => Ok(Some(s.to_string())),
        Some(other) => Err(BpError::bad_request(format!("transactionSpeed {other:?} is not high, medium or low"))),
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

pub(super) async fn create(
    State(st): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ext: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, BpError> {
    let body = std::str::from_utf8(&body).map_err(|_| BpError::bad_request("the body is not UTF-8"))?;
    let req: CreateReq =
        serde_json::from_str(body).map_err(|e| BpError::bad_request(format!("the body is not an invoice: {e}")))?;
    let caller = authenticate(&st, &ext, &headers, &uri, req.token.as_deref(), body).await?;
    let amount = price(req.price.as_ref())?;
    let currency = req.currency.clone().unwrap_or_default();
    if currency.is_empty() {
        return Err(BpError::bad_request("currency is required"));
    }
    let speed = speed(req.transaction_speed.as_deref())?;
    if let Some(url) = req.notification_url.as_deref().filter(|u| !u.is_empty()) {
        st.dispatcher()
            .check_destination(&caller.store, url)
            .await
            .map_err(|e| BpError::bad_request(format!("notificationURL: {e}")))?;
    }
    let order_id = text(req.order_id.as_ref());
    let data = GatewayData {
        token_id: caller.record.id.clone(),
        facade: caller.record.facade.clone(),
        order_id: order_id.clone(),
        item_desc: req.item_desc.clone(),
        item_code: req.item_code,
        pos_data: text(req.pos_data.as_ref()),
        notification_url: req.notification_url.filter(|u| !u.is_empty()),
        notification_email: req.notification_email,
        transaction_speed: speed.clone(),
        full_notifications: req.full_notifications.unwrap_or(false),
        extended_notifications: req.extended_notifications.unwrap_or(false),
        buyer: req.buyer.filter(Value::is_object),
        guid: req.guid.clone(),
    };
    let new = NewInvoice {
        currency,
        amount,
        // BitPay's orderId is optional and need not be unique: paywatch's is made unique
        // (`compat::create`); without one, the invoice's guid or a fresh id.
        order_id: order_id.or(req.guid).unwrap_or_else(|| Uuid::now_v7().to_string()),
        description: req.item_desc,
        speed,
        redirect_url: req.redirect_url.filter(|u| !u.is_empty()),
        ..NewInvoice::default()
    };
    let gateway = GatewayRecord { kind: KIND.into(), data: serde_json::to_value(&data).unwrap_or_default() };
    let inv = crate::api::compat::create(&st, &caller.store, new, gateway).await?;
    let svc = st.invoices().clone();
    let view = blocking(move || svc.view(&inv)).await?.map_err(crate::api::error::ApiError::from)?;
    let json = invoice_json(&view, &data, Some(&caller.token), now_ms());
    Ok(Json(json!({"facade": format!("{}/invoice", caller.record.facade), "data": json})))
}

pub(super) async fn get(
    State(st): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ext: Extensions,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, BpError> {
    let token = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned());
    let caller = authenticate(&st, &ext, &headers, &uri, token.as_deref(), "").await?;
    let not_found = || BpError::new(StatusCode::NOT_FOUND, format!("invoice {id:?} not found"));
    let uuid = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let (svc, store) = (st.invoices().clone(), caller.store.clone());
    let view = blocking(move || match svc.get(&store, uuid)? {
        Some(inv) => svc.view(&inv).map(Some),
        None => Ok(None),
    })
    .await?
    .map_err(crate::api::error::ApiError::from)?
    .ok_or_else(not_found)?;
    let data = serde_json::to_value(&view).ok().and_then(|v| GatewayData::of_invoice_json(&v)).unwrap_or_default();
    // The token only goes back to the holder of the token the invoice was made with.
    let token = (data.token_id == caller.record.id).then_some(caller.token.as_str());
    let json = invoice_json(&view, &data, token, now_ms());
    Ok(Json(json!({"facade": format!("{}/invoice", caller.record.facade), "data": json})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_plain_positive_decimals() {
        assert_eq!(price(Some(&json!(10.0))).unwrap(), "10");
        assert_eq!(price(Some(&json!(12.5))).unwrap(), "12.5");
        assert_eq!(price(Some(&json!("1500.00"))).unwrap(), "1500");
        assert_eq!(price(Some(&json!(1e-7))).unwrap(), "0.0000001");
        for bad in [json!(0), json!(-1), json!("ten"), json!(true), json!("1".repeat(70))] {
            assert!(price(Some(&bad)).is_err(), "{bad}");
        }
        assert!(price(None).is_err());
    }

    #[test]
    fn transaction_speeds_are_bitpays_three() {
        assert_eq!(speed(Some("low")).unwrap().as_deref(), Some("low"));
        assert_eq!(speed(None).unwrap(), None);
        assert!(speed(Some("low_medium")).is_err(), "paywatch's own fourth speed is not BitPay's");
    }
}
