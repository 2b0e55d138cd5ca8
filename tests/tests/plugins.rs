//! Plugins as an operator sees them: `paywatch plugins list`, a loaded currency plugin parsing
//! the addresses of API calls, assets refused for a missing plugin or one for another kind of
//! chain, and a render that can never succeed recorded as failed without retries.

use paywatch_tests::daemon::{install_plugins, paywatch_bin, test_config, Daemon, SHOP1_KEY};
use paywatch_tests::{plugin_lib, plugins_dir};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// An asset on the test config's regtest chain `btc`, handled by the bitcoin plugin.
const BTC_ASSET: &str = "\n[[assets]]\nid = \"BTC\"\nchain = \"btc\"\nplugin = \"bitcoin\"\n";

/// An asset on chain `btc` (a bitcoin chain) handled by the template currency plugin, which
/// scans "demo" chains.
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
    // The platform is enabled by the test config (installed); the others are named here.
    let text =
        test_config(dir.path(), 8080, "").replacen("enable = [", "enable = [\"template-currency\", \"bad_abi\", ", 1);
    std::fs::write(&config, text).unwrap();
    let out = std::process::Command::new(paywatch_bin().unwrap())
        .args(["plugins", "list", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a refused plugin makes it exit 1:\n{stdout}");
    let row = |file: &str| {
        stdout.lines().find(|l| l.starts_with(file)).unwrap_or_else(|| panic!("{file} missing:\n{stdout}")).to_string()
    };
    let cur = row("libpaywatch_plugin_template_currency.so");
    for col in ["currency", "template-currency", env!("CARGO_PKG_VERSION"), "1.2", "loaded"] {
        assert!(cur.contains(col), "{col} not in {cur:?}");
    }
    assert!(row("libpaywatch_plugin_template_platform.so").contains("platform"));
    let refused = row("bad_abi.so");
    assert!(refused.contains("refused:") && refused.contains("built for plugin ABI v99"), "{refused}");
}

#[tokio::test]
async fn watches_are_parsed_by_the_chains_currency_plugin() {
    let d = Daemon::start_with_plugins(BTC_ASSET, &[plugin_lib("bitcoin")]).await.unwrap();
    // BIP 173's P2WPKH program, as a regtest address, in upper case.
    let upper = "BCRT1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KYGT080";
    let r = d
        .req(Method::POST, "/v1/watches", SHOP1_KEY)
        .json(&json!({"chain": "btc", "address": upper}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let w: Value = r.json().await.unwrap();
    assert_eq!(w["address"], upper.to_lowercase(), "normalized by the plugin");
    assert_eq!(w["key"], "0014751e76e8199196d454941c45d1b3a323f1433bd6", "the plugin's canonical key");
    // The plugin's own error message reaches the shop: the mainnet spelling on a regtest chain.
    let r = d
        .req(Method::POST, "/v1/watches", SHOP1_KEY)
        .json(&json!({"chain": "btc", "address": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let b: Value = r.json().await.unwrap();
    assert!(b["error"]["message"].as_str().unwrap().contains("is for hrp bc, this chain (regtest) uses bcrt"), "{b}");
    // /health lists the instance; the log has the plugin's own line.
    let h: Value = d.health().await.unwrap();
    assert_eq!(h["plugins"]["bitcoin@BTC"]["status"], "ok", "{h}");
    assert!(d.log().contains("bitcoin plugin ready for BTC on regtest"), "{}", d.log());
}

#[tokio::test]
async fn an_asset_whose_plugin_scans_another_kind_of_chain_stops_the_daemon() {
    let err = Daemon::start_with_plugins(DEMO_ASSET, &[plugin_lib("template_currency")]).await.unwrap_err().to_string();
    assert!(
        err.contains(
            "asset \"DEMO\": plugin \"template-currency\" scans \"demo\" chains, but chain \"btc\" is \"bitcoin\""
        ),
        "{err}"
    );
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
    let h: Value = d.health().await.unwrap();
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(h["plugins"]["fixture@FIX"]["detail"].as_str().unwrap().contains("panicked in parse_address"), "{h}");
    assert!(d.log().contains("plugin panicked; its instance is dropped and will be recreated"), "{}", d.log());
    // The next call works, on a new instance.
    assert_eq!(post("fine-address").send().await.unwrap().status(), StatusCode::CREATED);
    assert!(d.log().contains("fixture created, generation 2"), "{}", d.log());
}

#[tokio::test]
async fn a_render_that_can_never_succeed_is_recorded_failed_and_not_retried() {
    // An endpoint stored before its plugin validated params (as an older paywatch did): the
    // webhook plugin cannot sign with this secret, ever.
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    let app = axum::Router::new().fallback(move || {
        h.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        async { axum::http::StatusCode::NO_CONTENT }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    paywatch::bench::write_backlog(&dir.path().join("data"), "shop1", &url, "not-a-whsec-secret", 3).unwrap();
    install_plugins(dir.path(), &[plugin_lib("webhook")]).unwrap();
    let port = paywatch_tests::free_port();
    let config = dir.path().join("paywatch.toml");
    let fast = "\n[dispatch]\nallow_private = [\"127.0.0.1/32\"]\nretry_schedule = [\"1s\", \"1s\"]\n";
    std::fs::write(&config, test_config(dir.path(), port, fast)).unwrap();
    let d = Daemon::start_with(dir, port, config, reqwest::Client::new(), false).await.unwrap();
    let list: Value = d.req(Method::GET, "/v1/endpoints", SHOP1_KEY).send().await.unwrap().json().await.unwrap();
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let items = loop {
        let path = format!("/v1/endpoints/{id}/deliveries");
        let v: Value = d.req(Method::GET, &path, SHOP1_KEY).send().await.unwrap().json().await.unwrap();
        let items = v["items"].as_array().cloned().unwrap_or_default();
        if items.len() == 3 && items.iter().all(|i| i["status"] == "failed") {
            break items;
        }
        assert!(std::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    for item in &items {
        let attempts = item["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "{item}");
        assert_eq!(attempts[0]["verdict"], "fail", "{item}");
        assert!(attempts[0]["error"].as_str().unwrap().contains("undeliverable"), "{item}");
    }
    // Past the whole retry schedule: nothing more was tried, nothing was sent.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let path = format!("/v1/endpoints/{id}/deliveries");
    let v: Value = d.req(Method::GET, &path, SHOP1_KEY).send().await.unwrap().json().await.unwrap();
    assert!(v["items"].as_array().unwrap().iter().all(|i| i["attempts"].as_array().unwrap().len() == 1), "{v}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[tokio::test]
async fn endpoint_params_the_plugin_refuses_are_a_422_with_its_message() {
    let loopback = "\n[dispatch]\nallow_private = [\"127.0.0.1/32\"]\n";
    let d = Daemon::start_with_plugins(loopback, &[plugin_lib("webhook"), plugin_lib("woocommerce")]).await.unwrap();
    let post = |body: Value| d.req(Method::POST, "/v1/endpoints", SHOP1_KEY).json(&body).send();
    let url = "http://127.0.0.1:9/paywatch";
    for (body, says) in [
        (json!({"plugin": "webhook", "url": url}), "no secret"),
        (json!({"plugin": "webhook", "url": url, "secret": "hunter2"}), "whsec_"),
        (json!({"plugin": "woocommerce", "url": url, "params": {"consumer_key": "ck"}}), "consumer_secret"),
        (
            json!({"plugin": "woocommerce", "url": url,
                   "params": {"consumer_key": "ck", "consumer_secret": "cs", "status_map": {"invoice.settled": 1}}}),
            "status_map",
        ),
    ] {
        let r = post(body.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let b: Value = r.json().await.unwrap();
        let msg = b["error"]["message"].as_str().unwrap();
        assert!(msg.contains("refused the endpoint") && msg.contains(says), "{body}: {b}");
    }
    let ok = json!({"plugin": "woocommerce", "url": url, "params": {"consumer_key": "ck", "consumer_secret": "cs"}});
    let r = post(ok).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let e: Value = r.json().await.unwrap();
    // A change is validated as a whole, params merged in.
    let patch = json!({"params": {"status_map": "processing"}});
    let path = format!("/v1/endpoints/{}", e["id"].as_str().unwrap());
    let r = d.req(Method::PATCH, &path, SHOP1_KEY).json(&patch).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Keys the API sets from its own fields cannot come in through params.
    for key in ["url", "secret"] {
        let patch = json!({"params": {key: "ftp://elsewhere"}});
        let r = d.req(Method::PATCH, &path, SHOP1_KEY).json(&patch).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{key}");
        let b: Value = r.json().await.unwrap();
        assert!(b["error"]["message"].as_str().unwrap().contains(&format!("params.{key}")), "{b}");
    }
    let body = json!({"plugin": "woocommerce", "url": url, "params": {"url": "ftp://x", "consumer_key": "ck", "consumer_secret": "cs"}});
    assert_eq!(post(body).await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Enabling and disabling change no params: not validated again.
    let r = d.req(Method::PATCH, &path, SHOP1_KEY).json(&json!({"enabled": false})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let got: Value = d.req(Method::GET, &path, SHOP1_KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!((got["url"].as_str(), got["enabled"].as_bool()), (Some(url), Some(false)), "{got}");
}
