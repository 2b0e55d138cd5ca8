use super::*;
use paywatch_rates_common::testing::{ok, pair, response as resp, Harness, NOW};
use serde_json::json;

const FIXTURE: &str = include_str!("../testdata/simple_price_bitcoin_usd.json");
const UPDATED: i64 = 1_711_356_300;

fn coingecko() -> Harness {
    Harness::new(&PAYWATCH_PLUGIN, json!({"base_url": "http://127.0.0.1:18080"}))
}

#[test]
fn the_documented_price_passes_the_conformance_kit() {
    let expected = [("BTC_USD", "67187.3358936566", UPDATED)];
    coingecko().conformance(vec![pair("BTC_USD")], vec![ok(FIXTURE)], &expected).assert_passed();
}

#[test]
fn the_documented_price_keeps_every_digit_and_its_time() {
    let rates = coingecko().rates(&[pair("BTC_USD")], vec![ok(FIXTURE)]);
    assert_eq!(rates, [("BTC_USD".to_string(), "67187.3358936566".to_string(), UPDATED)]);
    // More digits than an f64 holds (23 significant), and exponents, come out exact.
    let body = r#"{"bitcoin": {"usd": 67187.33589365661234567, "eur": 1.2e-5, "last_updated_at": 1711356300}}"#;
    let rates = coingecko().rates(&[pair("BTC_USD"), pair("BTC_EUR")], vec![ok(body)]);
    assert_eq!(rates[0].1, "0.000012");
    assert_eq!(rates[1].1, "67187.33589365661234567");
    // No time stated: now; a time in the future: now too (it would keep the rate fresh).
    let rates = coingecko().rates(&[pair("BTC_USD")], vec![ok(r#"{"bitcoin": {"usd": 1}}"#)]);
    assert_eq!(rates[0].2, NOW);
    let rates =
        coingecko().rates(&[pair("BTC_USD")], vec![ok(r#"{"bitcoin": {"usd": 1, "last_updated_at": 4102444800}}"#)]);
    assert_eq!(rates[0].2, NOW);
}

#[test]
fn ids_come_from_the_table_and_the_config_and_the_key_goes_in_a_header() {
    let c = Harness::new(
        &PAYWATCH_PLUGIN,
        json!({"base_url": "http://127.0.0.1:18080", "api_key": "CG-abc123", "ids": {"PEPE": "pepe", "ETH": "weth"}}),
    );
    let asked = [pair("BTC_USD"), pair("PEPE_USD"), pair("ETH_EUR"), pair("BTC_EUR")];
    let reqs = c.requests(&asked).unwrap();
    assert_eq!(
        reqs[0].url,
        "http://127.0.0.1:18080/api/v3/simple/price?ids=bitcoin,pepe,weth&vs_currencies=usd,eur&include_last_updated_at=true&precision=full"
    );
    assert!(reqs[0].headers.contains(&("x-cg-demo-api-key".to_string(), "CG-abc123".to_string())), "{reqs:?}");
    let e = c.requests(&[pair("FOO_USD")]).unwrap_err();
    assert!(
        e.to_string().contains("cannot quote FOO_USD: no CoinGecko id for FOO (add it: ids = { FOO = \"…\" })"),
        "{e}"
    );
    let pro = Harness::new(&PAYWATCH_PLUGIN, json!({"pro": true, "api_key": "CG-x"}));
    let reqs = pro.requests(&[pair("BTC_USD")]).unwrap();
    assert!(reqs[0].url.starts_with("https://pro-api.coingecko.com/api/v3/simple/price?ids=bitcoin&"));
    assert!(reqs[0].headers.contains(&("x-cg-pro-api-key".to_string(), "CG-x".to_string())));
}

#[test]
fn changed_bodies_are_errors_naming_what_changed() {
    let c = coingecko();
    let asked = [pair("BTC_USD")];
    let limited = r#"{"status":{"error_code":429,"error_message":"You've exceeded the Rate Limit."}}"#;
    let cases = [
        (
            FIXTURE.replace("67187.3358936566", "\"67187.3358936566\""),
            "bad_response",
            r#"coingecko: bitcoin.usd is not a number: "67187.3358936566""#,
        ),
        (
            FIXTURE.replace("67187.3358936566", "-1"),
            "bad_response",
            "coingecko: bitcoin.usd -1 is not a positive decimal",
        ),
        (FIXTURE.replace("1711356300", "\"yesterday\""), "bad_response", "bitcoin.last_updated_at is not unix seconds"),
        (FIXTURE.replace("\"bitcoin\"", "\"btc\""), "bad_response", "coingecko: \"btc\" was not asked for"),
        (r#"{"bitcoin": [67187.3]}"#.into(), "bad_response", "coingecko: bitcoin is not an object: [67187.3]"),
        (limited.into(), "api_error", "coingecko: CoinGecko says 429: You've exceeded the Rate Limit."),
        (r#"{"error": "invalid vs_currency"}"#.into(), "api_error", "CoinGecko says invalid vs_currency"),
    ];
    for (body, code, says) in cases {
        let e = c.error(&asked, vec![ok(&body)]);
        assert_eq!(e.code, code, "{e}");
        assert!(e.message.contains(says), "{e}");
    }
    // A renamed quote, or an id CoinGecko does not know (`{}`), is left out.
    assert!(c.rates(&asked, vec![ok(&FIXTURE.replace("\"usd\"", "\"usd_price\""))]).is_empty());
    assert!(c.rates(&asked, vec![ok("{}")]).is_empty());
    let e = c.error(&asked, vec![resp(429, &[("retry-after", "60")], limited)]);
    assert_eq!(e.code, "rate_limited");
    c.assert_http_failures(&asked, &[ok(FIXTURE)], "coingecko");
}

#[test]
fn bad_config_is_refused_by_key() {
    let c = coingecko();
    for (config, says) in [
        (json!({"pro": true}), "pro = true needs api_key"),
        (json!({"api_key": "has space"}), "api_key must be printable ASCII"),
        (json!({"ids": {"btc": "bitcoin"}}), r#"ids: "btc" is not a ticker"#),
        (json!({"ids": {"BTC": "Bit Coin"}}), r#"ids.BTC: "Bit Coin" is not a CoinGecko id"#),
        (json!({"key": "x"}), r#"unknown config key "key""#),
    ] {
        let e = c.create_error(config);
        assert_eq!(e.code, "bad_config");
        assert!(e.message.starts_with("coingecko: ") && e.message.contains(says), "{e}");
    }
}
