//! Plugins as an operator sees them: `paywatch plugins list`, and a loaded currency plugin
//! parsing the addresses of API calls.

use paywatch_tests::daemon::{install_plugins, paywatch_bin, test_config, Daemon, SHOP1_KEY};
use paywatch_tests::{plugin_lib, plugins_dir};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// An asset on chain `btc` handled by the template currency plugin.
const DEMO_ASSET: &str = r#"
[[assets]]
id = "DEMO"
chain = "btc"
plugin = "template-currency"
"#;

#[test]
fn plugins_list_shows_what_loaded_and_what_was_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bad = plugins_dir().join("fixtures/bad_abi.so");
    install_plugins(dir.path(), &[plugin_lib("template_currency"), plugin_lib("template_platform"), bad]).unwrap();
    let config = dir.path().join("paywatch.toml");
    std::fs::write(&config, test_config(dir.path(), 8080, "")).unwrap();
    let out = std::process::Command::new(paywatch_bin().unwrap())
        .args(["plugins", "list", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a refused file makes it exit 1:\n{stdout}");
    let row = |file: &str| {
        stdout.lines().find(|l| l.starts_with(file)).unwrap_or_else(|| panic!("{file} missing:\n{stdout}")).to_string()
    };
    let cur = row("libpaywatch_plugin_template_currency.so");
    for col in ["currency", "template-currency", env!("CARGO_PKG_VERSION"), "1.0", "loaded"] {
        assert!(cur.contains(col), "{col} not in {cur:?}");
    }
    assert!(row("libpaywatch_plugin_template_platform.so").contains("platform"));
    let refused = row("bad_abi.so");
    assert!(refused.contains("refused:") && refused.contains("built for plugin ABI v99"), "{refused}");
}

#[tokio::test]
async fn watches_are_parsed_by_the_chains_currency_plugin() {
    let d = Daemon::start_with_plugins(DEMO_ASSET, &[plugin_lib("template_currency")]).await.unwrap();
    let upper = format!("DEMO1{}", "AB".repeat(20));
    let r = d
        .req(Method::POST, "/v1/watches", SHOP1_KEY)
        .json(&json!({"chain": "btc", "address": upper}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let w: Value = r.json().await.unwrap();
    assert_eq!(w["address"], format!("demo1{}", "ab".repeat(20)), "normalized by the plugin");
    assert_eq!(w["key"], "ab".repeat(20), "the plugin's canonical key");
    // The plugin's own error message reaches the shop.
    let r = d
        .req(Method::POST, "/v1/watches", SHOP1_KEY)
        .json(&json!({"chain": "btc", "address": "demo1xyz"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let b: Value = r.json().await.unwrap();
    assert!(b["error"]["message"].as_str().unwrap().contains("must have 40 hex digits after demo1"), "{b}");
    // /health lists the instance; the log has the plugin's own line.
    let h: Value = d.http.get(d.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(h["plugins"]["template-currency@DEMO"]["status"], "ok", "{h}");
    assert!(d.log().contains("template-currency ready for DEMO"), "{}", d.log());
}

#[tokio::test]
async fn an_asset_whose_plugin_is_missing_stops_the_daemon_with_a_clear_error() {
    let err = Daemon::start_with_plugins(DEMO_ASSET, &[plugin_lib("template_platform")]).await.unwrap_err().to_string();
    assert!(
        err.contains("asset \"DEMO\" uses currency plugin \"template-currency\", which is not loaded from"),
        "{err}"
    );
}

#[tokio::test]
async fn a_plugin_panic_during_an_api_call_leaves_the_daemon_serving() {
    let asset = "\n[[assets]]\nid = \"FIX\"\nchain = \"btc\"\nplugin = \"fixture\"\n";
    let d = Daemon::start_with_plugins(asset, &[plugins_dir().join("fixtures/fixture.so")]).await.unwrap();
    let post = |address: &str| {
        d.req(Method::POST, "/v1/watches", SHOP1_KEY).json(&json!({"chain": "btc", "address": address}))
    };
    // The fixture panics on this address: the caller gets 503, not a dropped connection.
    let r = post("panic").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "plugin_unavailable");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("panicked in parse_address: boom in parse_address"),
        "{b}"
    );
    // /health says so; the daemon logged it.
    let h: Value = d.http.get(d.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(h["plugins"]["fixture@FIX"]["detail"].as_str().unwrap().contains("panicked in parse_address"), "{h}");
    assert!(d.log().contains("plugin panicked; its instance is dropped and will be recreated"), "{}", d.log());
    // The next call works, on a new instance.
    assert_eq!(post("fine-address").send().await.unwrap().status(), StatusCode::CREATED);
    assert!(d.log().contains("fixture created, generation 2"), "{}", d.log());
}
