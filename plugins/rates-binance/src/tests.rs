use super::*;
use paywatch_rates_common::testing::{ok, pair, response as resp, Harness, NOW};
use serde_json::json;

const FIXTURE: &str = include_str!("../testdata/ticker_price_symbols.json");

fn binance() -> Harness {
    Harness::new(&PAYWATCH_PLUGIN, json!({"base_url": "http://127.0.0.1:18080"}))
}

#[test]
fn the_documented_tickers_pass_the_conformance_kit() {
    let asked = vec![pair("LTC_BTC"), pair("ETH_BTC")];
    let expected = [("LTC_BTC", "4.00000200", NOW), ("ETH_BTC", "0.07946600", NOW)];
    binance().conformance(asked, vec![ok(FIXTURE)], &expected).assert_passed();
}

#[test]
fn one_request_with_the_symbols_as_an_encoded_json_array() {
    let urls = binance().urls(&[pair("LTC_BTC"), pair("ETH_BTC")]);
    assert_eq!(urls, ["http://127.0.0.1:18080/api/v3/ticker/price?symbols=%5B%22ETHBTC%22%2C%22LTCBTC%22%5D"]);
    let real = Harness::new(&PAYWATCH_PLUGIN, json!({}));
    assert_eq!(
        real.urls(&[pair("BTC_USDT")]),
        ["https://api.binance.com/api/v3/ticker/price?symbols=%5B%22BTCUSDT%22%5D"]
    );
}

#[test]
fn symbols_map_back_to_the_pairs_asked_never_by_a_guessed_split() {
    let b = binance();
    // Only ETH_BTC asked: LTC_BTC in the answer is not ours.
    let e = b.error(&[pair("ETH_BTC")], vec![ok(FIXTURE)]);
    assert_eq!(e.message, "binance: ticker 0 is for LTCBTC, which was not asked");
    // A pair missing from the answer is left out.
    let only_eth = r#"[{"symbol": "ETHBTC", "price": "0.07946600"}]"#;
    let rates = b.rates(&[pair("ETH_BTC"), pair("LTC_BTC")], vec![ok(only_eth)]);
    assert_eq!(rates, [("ETH_BTC".to_string(), "0.07946600".to_string(), NOW)]);
    // Two pairs written alike cannot be told apart.
    let e = b.requests(&[Pair::new("AB", "CD"), Pair::new("ABC", "D")]).unwrap_err();
    assert!(e.to_string().contains("cannot quote ABC_D: its symbol ABCD is also AB_CD's"), "{e}");
}

#[test]
fn changed_bodies_are_errors_naming_what_changed() {
    let b = binance();
    let asked = [pair("LTC_BTC"), pair("ETH_BTC")];
    let cases = [
        (FIXTURE.replacen("\"price\"", "\"lastPrice\"", 1), "bad_response", "binance: ticker 0 has no price"),
        (
            FIXTURE.replace("\"4.00000200\"", "4.000002"),
            "bad_response",
            "binance: ticker 0: price is not a string: 4.000002",
        ),
        (
            FIXTURE.replace("\"4.00000200\"", "\"0.00000000\""),
            "bad_response",
            "LTCBTC price \"0.00000000\" is not a positive decimal",
        ),
        (FIXTURE.replace("ETHBTC", "LTCBTC"), "bad_response", "binance: LTCBTC is answered twice"),
        (r#"{"symbol": "LTCBTC", "price": "4.00000200"}"#.into(), "bad_response", "not an array of tickers"),
        (
            r#"{"code": -1121, "msg": "Invalid symbol."}"#.into(),
            "api_error",
            "binance: Binance says -1121: Invalid symbol.",
        ),
    ];
    for (body, code, says) in cases {
        let e = b.error(&asked, vec![ok(&body)]);
        assert_eq!(e.code, code, "{e}");
        assert!(e.message.contains(says), "{e}");
    }
    let limited = resp(429, &[("retry-after", "17")], r#"{"code":-1003,"msg":"Too much request weight used."}"#);
    let e = b.error(&asked, vec![limited]);
    assert_eq!(e.code, "rate_limited");
    assert!(e.message.starts_with("binance: HTTP 429, retry after 17: {\"code\":-1003"), "{e}");
    b.assert_http_failures(&asked, &[ok(FIXTURE)], "binance");
}

#[test]
fn bad_config_is_refused() {
    let e = binance().create_error(json!({"base_url": "https://api.binance.com", "api_key": "x"}));
    assert_eq!(e.message, r#"binance: unknown config key "api_key" (known: "base_url")"#);
}
