use super::*;
use paywatch_rates_common::testing::{ok, pair, response as resp, Harness, NOW};
use serde_json::json;

const FIXTURE: &str = include_str!("../testdata/exchange_rates_btc.json");

fn coinbase() -> Harness {
    Harness::new(&PAYWATCH_PLUGIN, json!({"base_url": "http://127.0.0.1:18080"}))
}

#[test]
fn the_documented_rates_pass_the_conformance_kit() {
    let asked = vec![pair("BTC_AED"), pair("BTC_ARS")];
    let expected = [("BTC_AED", "36.73", NOW), ("BTC_ARS", "90.37", NOW)];
    coinbase().conformance(asked, vec![ok(FIXTURE)], &expected).assert_passed();
}

#[test]
fn the_documented_rates_read_digit_for_digit() {
    let asked = [pair("BTC_AFN"), pair("BTC_AUD"), pair("BTC_BAM"), pair("BTC_USD")];
    let rates = coinbase().rates(&asked, vec![ok(FIXTURE)]);
    // USD is not in the (trimmed) documented example: left out, the host names it missing.
    let want = [("BTC_AFN", "589.50"), ("BTC_AUD", "12.93"), ("BTC_BAM", "17.38")];
    assert_eq!(rates, want.map(|(p, r)| (p.to_string(), r.to_string(), NOW)));
}

#[test]
fn one_request_per_base_and_each_answer_checked_against_its_base() {
    let c = coinbase();
    let asked = [pair("BTC_USD"), pair("ETH_USD"), pair("BTC_EUR")];
    assert_eq!(
        c.urls(&asked),
        [
            "http://127.0.0.1:18080/v2/exchange-rates?currency=BTC",
            "http://127.0.0.1:18080/v2/exchange-rates?currency=ETH"
        ]
    );
    let eth = r#"{"data":{"currency":"ETH","rates":{"USD":"3012.345"}}}"#;
    let btc = r#"{"data":{"currency":"BTC","rates":{"USD":"64000.5","EUR":"1.2e4"}}}"#;
    let rates = c.rates(&asked, vec![ok(btc), ok(eth)]);
    let want = [("BTC_EUR", "12000"), ("BTC_USD", "64000.5"), ("ETH_USD", "3012.345")];
    assert_eq!(rates, want.map(|(p, r)| (p.to_string(), r.to_string(), NOW)));
    // Swapped answers are not read as each other's.
    let e = c.error(&asked, vec![ok(eth), ok(btc)]);
    assert_eq!(e.message, "coinbase: the answer for BTC is for data.currency \"ETH\"");
}

#[test]
fn changed_bodies_are_errors_naming_what_changed() {
    let c = coinbase();
    let asked = [pair("BTC_AED")];
    let invalid = r#"{"errors":[{"id":"invalid_request","message":"Invalid currency (XYZ)"}]}"#;
    let cases = [
        (FIXTURE.replace("\"rates\"", "\"rate\""), "bad_response", "coinbase: no data.rates in the answer for BTC"),
        (FIXTURE.replace("\"data\"", "\"result\""), "bad_response", "no \"data\" object"),
        (FIXTURE.replace("\"36.73\"", "36.73"), "bad_response", "coinbase: data.rates.AED is not a string: 36.73"),
        (FIXTURE.replace("\"36.73\"", "\"N/A\""), "bad_response", r#"data.rates.AED "N/A" is not a positive decimal"#),
        (invalid.to_string(), "api_error", "coinbase: Coinbase says invalid_request: Invalid currency (XYZ)"),
    ];
    for (body, code, says) in cases {
        let e = c.error(&asked, vec![ok(&body)]);
        assert_eq!(e.code, code, "{e}");
        assert!(e.message.contains(says), "{e}");
    }
    let e = c.error(&asked, vec![resp(400, &[], invalid)]);
    assert_eq!(e.message, format!("coinbase: HTTP 400: {invalid}"));
    c.assert_http_failures(
        &[pair("BTC_AED"), pair("ETH_USD")],
        &[ok(FIXTURE), ok(&FIXTURE.replace("BTC", "ETH"))],
        "coinbase",
    );
}

#[test]
fn bad_config_and_unquotable_pairs_are_refused() {
    let c = coinbase();
    assert_eq!(c.create_error(json!({"base_url": 1})).message, "coinbase: base_url must be a string, not 1");
    assert_eq!(c.create_error(json!({"currency": "BTC"})).code, "bad_config");
    let e = c.requests(&[pair("BTC_BTC")]).unwrap_err();
    assert!(e.to_string().contains("cannot quote BTC_BTC: a currency is not priced in itself"), "{e}");
}
