use super::*;
use paywatch_rates_common::testing::{ok, pair, Harness, NOW};
use serde_json::json;

const FIXTURE: &str = include_str!("../testdata/eurofxref-daily-2024-06-28.xml");
/// 2024-06-28 12:15 UTC.
const AT: i64 = 1_719_576_900;

fn ecb() -> Harness {
    Harness::new(&PAYWATCH_PLUGIN, json!({"base_url": "http://127.0.0.1:18080"}))
}

#[test]
fn the_published_file_passes_the_conformance_kit() {
    let asked = vec![pair("EUR_USD"), pair("USD_CNY")];
    let expected = [("EUR_USD", "1.0705", AT), ("USD_CNY", "7.26277440448", AT)];
    ecb().conformance(asked, vec![ok(FIXTURE)], &expected).assert_passed();
}

#[test]
fn euro_rates_are_copied_and_inverses_and_crosses_are_exact_to_12_digits() {
    let asked = [pair("EUR_JPY"), pair("EUR_HUF"), pair("USD_EUR"), pair("USD_CNY"), pair("GBP_JPY"), pair("CNY_USD")];
    let rates = ecb().rates(&asked, vec![ok(FIXTURE)]);
    let want = [
        // 1.0705 / 7.7748 = 0.13768842928435…
        ("CNY_USD", "0.137688429284"),
        ("EUR_HUF", "395.10"),
        ("EUR_JPY", "171.94"),
        // 171.94 / 0.84638 = 203.14752238947…
        ("GBP_JPY", "203.147522389"),
        // 7.7748 / 1.0705 = 7.26277440448388…
        ("USD_CNY", "7.26277440448"),
        // 1 / 1.0705 = 0.93414292386735…
        ("USD_EUR", "0.934142923867"),
    ];
    assert_eq!(rates, want.map(|(p, r)| (p.to_string(), r.to_string(), AT)));
}

#[test]
fn a_currency_the_file_lacks_is_left_out_and_codes_must_be_iso_shaped() {
    let e = ecb();
    let rates = e.rates(&[pair("EUR_RUB"), pair("EUR_USD")], vec![ok(FIXTURE)]);
    assert_eq!(rates, [("EUR_USD".to_string(), "1.0705".to_string(), AT)]);
    assert_eq!(e.urls(&[pair("USD_CNY")]), ["http://127.0.0.1:18080/stats/eurofxref/eurofxref-daily.xml"]);
    let err = e.requests(&[pair("USDT_EUR")]).unwrap_err();
    assert!(err.to_string().contains("cannot quote USDT_EUR: the ECB quotes ISO 4217 currencies"), "{err}");
    let real = Harness::new(&PAYWATCH_PLUGIN, json!({}));
    assert_eq!(real.urls(&[pair("EUR_USD")]), ["https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"]);
}

#[test]
fn changed_files_are_errors_naming_what_changed() {
    let e = ecb();
    let asked = [pair("USD_CNY")];
    let cases = [
        (
            FIXTURE.replace("rate='7.7748'", "value='7.7748'"),
            "ecb: a <Cube> of 2024-06-28 has no currency or rate attribute",
        ),
        (FIXTURE.replace("rate='7.7748'", "rate='7,7748'"), "ecb: CNY rate \"7,7748\" is not a positive decimal"),
        (FIXTURE.replace("time='2024-06-28'", "time='28.06.2024'"), "<Cube time=\"28.06.2024\"> is not a date"),
        (FIXTURE.replace("time='2024-06-28'", "day='2024-06-28'"), "ecb: 0 dated <Cube time=…> elements, expected one"),
        (FIXTURE.replace("currency='JPY'", "currency='USD'"), "ecb: USD is listed twice"),
        (FIXTURE.replace("eurofxref\">", "eurofxref/v2\">"), "ecb: 0 dated <Cube time=…>"),
        (FIXTURE.replace("gesmes:Envelope", "gesmes:Letter"), "ecb: not the ECB's reference rates: <?xml"),
        (r#"{"rates": {"USD": 1.0705}}"#.into(), "ecb: the body is not XML"),
    ];
    for (body, says) in cases {
        let err = e.error(&asked, vec![ok(&body)]);
        assert_eq!(err.code, "bad_response", "{err}");
        assert!(err.message.contains(says), "{err}");
    }
    e.assert_http_failures(&asked, &[ok(FIXTURE)], "ecb");
}

#[test]
fn dates_are_days_since_the_epoch() {
    assert_eq!(unix_date("1970-01-01"), Some(0));
    assert_eq!(unix_date("2024-06-28"), Some(AT - 12 * 3600 - 15 * 60));
    assert_eq!(unix_date("2000-02-29"), Some(951_782_400));
    for bad in ["2023-02-29", "2024-13-01", "2024-00-10", "2024-6-28", "2024-06-28T", "２０２４-06-28"] {
        assert_eq!(unix_date(bad), None, "{bad}");
    }
    // A file dated after `now` is not fresher than `now`.
    let future = FIXTURE.replace("2024-06-28", "2099-01-01");
    assert_eq!(ecb().rates(&[pair("EUR_USD")], vec![ok(&future)])[0].2, NOW);
}
