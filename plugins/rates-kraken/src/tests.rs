use super::*;
use paywatch_rates_common::testing::{ok, pair, Harness, NOW};
use serde_json::json;

const FIXTURE: &str = include_str!("../testdata/ticker_xbtusd.json");

fn kraken() -> Harness {
    Harness::new(&PAYWATCH_PLUGIN, json!({"base_url": "http://127.0.0.1:18080/"}))
}

#[test]
fn the_documented_ticker_passes_the_conformance_kit() {
    let expected = [("BTC_USD", "30300.05", NOW)];
    kraken().conformance(vec![pair("BTC_USD")], vec![ok(FIXTURE)], &expected).assert_passed();
}

#[test]
fn the_documented_ticker_reads_as_the_mid_of_ask_and_bid() {
    let rates = kraken().rates(&[pair("BTC_USD")], vec![ok(FIXTURE)]);
    assert_eq!(rates, [("BTC_USD".to_string(), "30300.05".to_string(), NOW)]);
}

#[test]
fn one_request_by_altnames() {
    let urls = kraken().urls(&[pair("BTC_USD"), pair("ETH_EUR"), pair("DOGE_USD"), pair("BTC_USD")]);
    assert_eq!(urls, ["http://127.0.0.1:18080/0/public/Ticker?pair=XBTUSD,ETHEUR,XDGUSD"]);
    let real = Harness::new(&PAYWATCH_PLUGIN, json!({}));
    assert_eq!(real.urls(&[pair("BTC_USDT")]), ["https://api.kraken.com/0/public/Ticker?pair=XBTUSDT"]);
}

#[test]
fn altname_and_legacy_keys_map_back_to_the_asked_pairs() {
    let body = FIXTURE.replace("XXBTZUSD", "XBTUSDT");
    let eth = r#""XETHZEUR": {"a": ["2000.1", "1", "1"], "b": ["2000.0", "2", "2"]}"#;
    let body = body.replacen("\"result\": {", &format!("\"result\": {{{eth},"), 1);
    let asked = [pair("BTC_USDT"), pair("ETH_EUR"), pair("LTC_USD")];
    let rates = kraken().rates(&asked, vec![ok(&body)]);
    // LTC_USD is not in the result: left out, the host names it missing.
    assert_eq!(
        rates,
        [("BTC_USDT".to_string(), "30300.05".to_string(), NOW), ("ETH_EUR".to_string(), "2000.05".to_string(), NOW)]
    );
}

#[test]
fn changed_bodies_are_errors_naming_what_changed() {
    let k = kraken();
    let asked = [pair("BTC_USD")];
    let cases = [
        (FIXTURE.replace("\"a\":", "\"ask\":"), "bad_response", "kraken: XXBTZUSD has no a[0] (best ask)"),
        (
            FIXTURE.replace("\"30300.00000\"", "30300.0"),
            "bad_response",
            "kraken: XXBTZUSD.b[0] is not a string: 30300.0",
        ),
        (
            FIXTURE.replace("\"30300.10000\"", "\"-1\""),
            "bad_response",
            r#"kraken: XXBTZUSD.a[0] "-1" is not a positive decimal"#,
        ),
        (FIXTURE.replace("\"error\": [],", ""), "bad_response", "no \"error\" array"),
        (FIXTURE.replace("\"result\"", "\"results\""), "bad_response", "no \"result\" and no error"),
        (
            r#"{"error":["EQuery:Unknown asset pair"]}"#.into(),
            "api_error",
            "kraken: Kraken says EQuery:Unknown asset pair",
        ),
        (r#"{"error":["EGeneral:Too many requests"]}"#.into(), "api_error", "EGeneral:Too many requests"),
        ("[]".into(), "bad_response", "kraken: the body is not its JSON"),
    ];
    for (body, code, says) in cases {
        let e = k.error(&asked, vec![ok(&body)]);
        assert_eq!(e.code, code, "{e}");
        assert!(e.message.contains(says), "{e}");
    }
    k.assert_http_failures(&asked, &[ok(FIXTURE)], "kraken");
}

#[test]
fn bad_config_and_unquotable_pairs_are_refused() {
    let k = kraken();
    let e = k.create_error(json!({"base_url": "https://api.kraken.com", "timeout": 5}));
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("bad_config", r#"kraken: unknown config key "timeout" (known: "base_url")"#)
    );
    assert_eq!(k.create_error(json!({"base_url": "api.kraken.com"})).code, "bad_config");
    let e = k.requests(&[pair("BTC_USD"), Pair::new("btc", "usd")]).unwrap_err();
    assert!(
        e.to_string().contains("unsupported_pair: kraken: cannot quote btc_usd: codes are 1 to 16 uppercase"),
        "{e}"
    );
}
