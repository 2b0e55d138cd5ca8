//! `GET /v1/rates` against the real binary, on `fixed` rate sources: the spread, inverses, a
//! cross `via` a code, the fallback order, a store without rules, every source failing (each
//! named), bad requests; a rule naming an unknown source refused at start. (Rate-source
//! plugins against a local HTTP server: with the plugins, `docs/rates.md`.)

use paywatch_tests::daemon::{paywatch_bin, test_config, Daemon, SHOP1_KEY, SHOP2_KEY};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::process::Command;

/// Two fixed sources and shop2's rules (the base config's last store is shop2; shop1 has none).
const RATES: &str = r#"
[rates.sources.stable]
fixed = { USDT_USD = "1", BTC_USD = "60000" }
[rates.sources.fix]
fixed = { BTC_USD = "50000", USD_CNY = "7.1", USD_JPY = "156.25" }

[stores.rates]
spread_percent = "1"
rules = [
  { pair = "BTC_USD", sources = ["fix", "stable"] },
  { pair = "USDT_*", sources = ["fix", "stable"] },
  { pair = "*_CNY", via = "USD" },
  { pair = "*_*", sources = ["fix"] },
]
"#;

async fn rates(d: &Daemon, key: &str, pairs: &str) -> (StatusCode, Value) {
    let r = d.req(Method::GET, &format!("/v1/rates?pairs={pairs}"), key).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn rates_show_what_invoices_would_use_with_the_spread_crosses_and_inverses() {
    let d = Daemon::start(RATES).await.unwrap();
    let (s, b) = rates(&d, SHOP2_KEY, "BTC_USD,USD_BTC,BTC_CNY,JPY_USD,BTC_BTC").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let items = b["items"].as_array().unwrap();
    let view = |i: usize| {
        let it = &items[i];
        (it["pair"].as_str().unwrap(), it["rate"].as_str(), it["rate_before_spread"].as_str(), it["source"].as_str())
    };
    assert_eq!(view(0), ("BTC_USD", Some("49500"), Some("50000"), Some("fix")));
    // USD_BTC: the *_* rule, fix's BTC_USD inverted (1 / 50000), then the spread.
    assert_eq!(view(1), ("USD_BTC", Some("0.0000198"), Some("0.00002"), Some("fix")));
    assert_eq!(view(2), ("BTC_CNY", Some("351450"), Some("355000"), Some("fix(BTC_USD) × fix(USD_CNY)")));
    assert_eq!(view(3), ("JPY_USD", Some("0.006336"), Some("0.0064"), Some("fix")));
    // A code in itself is 1, with no spread (nothing is exchanged), as invoices take it.
    assert_eq!(view(4), ("BTC_BTC", Some("1"), Some("1"), Some("identity")));
    assert_eq!(items[4]["spread_percent"], "0");
    assert_eq!(items[0]["spread_percent"], "1");
    assert!(items[0]["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{}", items[0]);
}

#[tokio::test]
async fn the_next_source_is_used_in_order_and_every_failure_is_named() {
    let d = Daemon::start(RATES).await.unwrap();
    // USDT_USD: fix does not quote it, stable does.
    let (_, b) = rates(&d, SHOP2_KEY, "USDT_USD,USDT_EUR,ETH_CNY").await;
    let items = b["items"].as_array().unwrap();
    assert_eq!((items[0]["rate_before_spread"].as_str(), items[0]["source"].as_str()), (Some("1"), Some("stable")));
    // USDT_EUR: neither quotes it; both named, in order.
    let e = &items[1]["error"];
    assert_eq!(e["code"], "rate_unavailable");
    let tried: Vec<&str> = e["tried"].as_array().unwrap().iter().map(|t| t["source"].as_str().unwrap()).collect();
    assert_eq!(tried, ["fix", "stable"]);
    assert!(e["tried"][0]["reason"].as_str().unwrap().contains("does not quote USDT_EUR nor EUR_USDT"), "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(message.starts_with("no usable rate for USDT_EUR: fix: does not quote"), "{message}");
    assert!(items[1].get("rate").is_none(), "{}", items[1]);
    // ETH_CNY via USD: the ETH_USD leg fails, named with its pair.
    assert_eq!(items[2]["error"]["tried"][0]["source"], "fix(ETH_USD)", "{}", items[2]);
}

#[tokio::test]
async fn a_store_without_rules_and_bad_requests() {
    let d = Daemon::start(RATES).await.unwrap();
    let (s, b) = rates(&d, SHOP1_KEY, "BTC_USD").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        b["items"][0]["error"]["message"],
        "no usable rate for BTC_USD: rules: store \"shop1\" has no rate rules ([stores.rates])"
    );
    let many = vec!["BTC_USD"; 21].join(",");
    for bad in ["btc_usd", "BTC", "BTC_*", many.as_str(), "BTC_USD,"] {
        let (s, b) = rates(&d, SHOP2_KEY, bad).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")),
            "{bad}: {b}"
        );
    }
    let r = d.req(Method::GET, "/v1/rates", SHOP2_KEY).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "pairs is required");
    let r = d.http.get(d.url("/v1/rates?pairs=BTC_USD")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn a_rule_naming_an_unknown_source_stops_the_start_with_its_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let extra = RATES.replace(
        "sources = [\"fix\", \"stable\"] },\n  { pair = \"USDT_*\"",
        "sources = [\"fix\", \"kraken\"] },\n  { pair = \"USDT_*\"",
    );
    let path = dir.path().join("paywatch.toml");
    std::fs::write(&path, test_config(dir.path(), paywatch_tests::free_port(), &extra)).unwrap();
    for args in [&["config", "check", "--no-plugins"][..], &["run"]] {
        let out = Command::new(paywatch_bin().unwrap()).args(args).arg("--config").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("stores[1].rates.rules[0].sources[1]: unknown rate source \"kraken\""),
            "{args:?}: {stderr}"
        );
    }
}
