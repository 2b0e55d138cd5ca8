//! `GET /v1/rates?pairs=BTC_USD,ETH_CNY`: for each pair, the rate this store's invoices would
//! use now (spread applied, and before it), its source and time; or why there is none, with
//! every source tried.

use super::auth::StoreId;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Query};
use super::AppState;
use crate::rates::{is_code, Rate, RateError};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

/// Most pairs one request may ask for.
pub(crate) const MAX_PAIRS: usize = 20;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct RatesQuery {
    /// Comma-separated pairs `BASE_QUOTE` of codes (2-16 of A-Z, 0-9), e.g. `BTC_USD,ETH_CNY`;
    /// 1 to 20.
    pairs: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RateList {
    /// One per pair asked, in the order asked.
    items: Vec<RateItem>,
}

/// A pair's rate, or its error.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RateItem {
    /// `BASE_QUOTE`: how many QUOTE one BASE is worth.
    pair: String,
    /// The rate invoices use: `rate_before_spread` × (1 − `spread_percent` / 100), a decimal
    /// string. Absent when `error` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<String>,
    /// The rate the sources give (crossed and inverted as the store's rules say).
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_before_spread: Option<String>,
    /// The store's `spread_percent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    spread_percent: Option<String>,
    /// The source: `kraken`, `fixed`, or for a cross `kraken(BTC_USD) × ecb(USD_CNY)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    /// When the rate is from (the oldest component's time), RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>)]
    at: Option<OffsetDateTime>,
    /// Why there is no rate for this pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<RateItemError>,
}

/// A pair without a rate: `rate_unavailable`, as invoice creation would answer it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RateItemError {
    /// `rate_unavailable`.
    code: &'static str,
    /// Names the pair, each source tried and why.
    message: String,
    /// Each source tried, in order, and why it gave no usable rate.
    tried: Vec<TriedSource>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TriedSource {
    /// The source's name (`rules` when the store's rules gave none to try); a leg of a cross
    /// with its pair: `ecb(USD_CNY)`.
    source: String,
    /// Why: an HTTP status, a timeout, the plugin's parse error, stale with its age, not
    /// quoted, no rules.
    reason: String,
}

/// The rates this store's invoices would use now, per pair. A pair without a usable rate is an
/// item with `error` (the request still succeeds); a malformed pair, or more than 20, is `422`.
#[utoipa::path(get, path = "/v1/rates", tag = "rates", security(("api_key" = [])),
    params(RatesQuery), responses((status = 200, body = RateList), (status = 422, body = ErrorBody)))]
pub(crate) async fn list(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Query(q): Query<RatesQuery>,
) -> Result<Json<RateList>, ApiError> {
    let pairs = parse_pairs(&q.pairs)?;
    let rates = st.rates();
    let found = futures::future::join_all(pairs.iter().map(|(b, q)| rates.rate(&store, b, q))).await;
    let items = pairs.iter().zip(found).map(|((b, q), r)| item(format!("{b}_{q}"), r)).collect();
    Ok(Json(RateList { items }))
}

fn parse_pairs(text: &str) -> Result<Vec<(String, String)>, ApiError> {
    let pairs: Vec<&str> = text.split(',').map(str::trim).collect();
    if pairs.len() > MAX_PAIRS {
        return Err(ApiError::invalid(
            "invalid_field",
            format!("{} pairs: at most {MAX_PAIRS} per request", pairs.len()),
        ));
    }
    pairs
        .into_iter()
        .map(|p| match p.split_once('_') {
            Some((b, q)) if is_code(b) && is_code(q) => Ok((b.to_string(), q.to_string())),
            _ => Err(ApiError::invalid(
                "invalid_field",
                format!("pairs: {:?} is not a pair BASE_QUOTE of codes (2-16 of A-Z, 0-9), e.g. BTC_USD", cut(p)),
            )),
        })
        .collect()
}

/// Echoed input, at most 40 characters.
fn cut(s: &str) -> String {
    s.chars().take(40).collect()
}

fn item(pair: String, r: Result<Rate, RateError>) -> RateItem {
    let mut item = RateItem {
        pair,
        rate: None,
        rate_before_spread: None,
        spread_percent: None,
        source: None,
        at: None,
        error: None,
    };
    match r {
        Ok(rate) => {
            item.rate = Some(rate.value.to_string());
            item.rate_before_spread = Some(rate.before_spread.to_string());
            item.spread_percent = Some(rate.spread_percent.to_string());
            item.source = Some(rate.source);
            item.at = Some(rate.at);
        }
        Err(e) => {
            let message = e.to_string();
            let tried = match e {
                RateError::Unavailable { tried, .. } => {
                    tried.into_iter().map(|t| TriedSource { source: t.source, reason: t.why }).collect()
                }
                _ => Vec::new(),
            };
            item.error = Some(RateItemError { code: "rate_unavailable", message, tried });
        }
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_codes_at_most_twenty() {
        assert_eq!(parse_pairs("BTC_USD, ETH_CNY").unwrap().len(), 2);
        let twenty = vec!["BTC_USD"; 20].join(",");
        assert_eq!(parse_pairs(&twenty).unwrap().len(), 20);
        for bad in ["", "BTC", "btc_usd", "BTC_USD_EUR", "BTC_*", "BTC_USD,", &format!("{twenty},BTC_EUR")] {
            assert_eq!(parse_pairs(bad).unwrap_err().status(), axum::http::StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
    }
}
