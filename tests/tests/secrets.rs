//! Secrets against the real binary (issue 15), each careless config or curious request with its
//! safe outcome: an endpoint's keys never come back from any endpoint route; the
//! unauthenticated `/health` names no node URL, path or panic; logs name node URLs without
//! their API keys; the store is the owner's alone.

use paywatch_tests::daemon::{config_with_chains, Daemon, SHOP1_KEY};
use paywatch_tests::plugin_lib;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const WOO_KEY: &str = "ck_4f9a8c2e1b7d6035aa91e0c4d2b8f713";
const WOO_SECRET: &str = "cs_9e1d7b3c5a2f4086bb12d9e7c3a5f160";
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn assert_no_secret(what: &str, v: &Value) {
    let text = v.to_string();
    for s in [WOO_KEY, WOO_SECRET, WEBHOOK_SECRET, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] {
        assert!(!text.contains(s), "{what} shows a secret: {text}");
    }
}

#[tokio::test]
async fn woocommerce_keys_and_webhook_secrets_sent_to_the_api_never_come_back() {
    let loopback = "\n[dispatch]\nallow_private = [\"127.0.0.1/32\"]\n";
    let d = Daemon::start_with_plugins(loopback, &[plugin_lib("webhook"), plugin_lib("woocommerce")]).await.unwrap();
    let url = "http://127.0.0.1:9/shop";
    let woo = json!({"plugin": "woocommerce", "url": url, "params": {"consumer_key": WOO_KEY, "consumer_secret": WOO_SECRET}});
    let (s, created) = d.call(Method::POST, "/v1/endpoints", SHOP1_KEY, Some(woo)).await;
    assert_eq!(s, 201, "{created}");
    assert_no_secret("POST", &created);
    let mut names: Vec<&str> =
        created["secret_params"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["consumer_key", "consumer_secret"], "{created}");
    let hook = json!({"plugin": "webhook", "url": url, "secret": WEBHOOK_SECRET});
    let (s, h) = d.call(Method::POST, "/v1/endpoints", SHOP1_KEY, Some(hook)).await;
    assert_eq!(s, 201, "{h}");
    assert_no_secret("POST webhook", &h);
    assert_eq!(h["has_secret"], true);

    let id = created["id"].as_str().unwrap();
    let patch = json!({"params": {"status_map": {"invoice.settled": "completed"}}});
    let (s, patched) = d.call(Method::PATCH, &format!("/v1/endpoints/{id}"), SHOP1_KEY, Some(patch)).await;
    assert_eq!(s, 200, "{patched}");
    assert_no_secret("PATCH", &patched);
    assert_eq!(patched["params"]["status_map"]["invoice.settled"], "completed", "other params are shown");
    let (s, one) = d.call(Method::GET, &format!("/v1/endpoints/{id}"), SHOP1_KEY, None).await;
    assert_eq!(s, 200);
    assert_no_secret("GET one", &one);
    let (s, list) = d.call(Method::GET, "/v1/endpoints", SHOP1_KEY, None).await;
    assert_eq!((s, list["items"].as_array().unwrap().len()), (200, 2), "{list}");
    assert_no_secret("GET list", &list);
    assert_no_secret("log", &Value::String(d.log()));
}

/// An EVM chain whose node URLs carry a hosted provider's key, in the path and as a password.
const KEYED_CHAIN: &str = r#"
[[chains]]
name = "eth"
kind = "evm"
chain_id = 31337
ws_url = "ws://user:hunter2pw@127.0.0.1:3/v3/9aa3d95b3bc440fa88ea12eaa4456161"

[[assets]]
id = "ETH"
chain = "eth"
plugin = "ethereum"
"#;

#[tokio::test]
async fn node_urls_with_api_keys_are_not_shown_to_anyone_and_logged_without_the_key() {
    let d =
        Daemon::start_configured(|dir, port| config_with_chains(dir, port, KEYED_CHAIN, ""), &[plugin_lib("ethereum")])
            .await
            .unwrap();
    // The follower cannot reach the node: the admin sees why, without the key.
    let eth = d
        .wait_chain_health("eth", "the node unreachable", |c| {
            c["detail"].as_str().is_some_and(|s| s.contains("127.0.0.1:3"))
        })
        .await
        .unwrap();
    let detail = eth["detail"].as_str().unwrap();
    assert!(!detail.contains("9aa3d95b") && !detail.contains("hunter2pw"), "{detail}");
    assert!(d.health().await.unwrap()["version"].is_string());
    // Anyone: statuses only.
    let r = d.http.get(d.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let public: Value = r.json().await.unwrap();
    assert!(public["chains"]["eth"]["status"].is_string(), "{public}");
    let text = public.to_string();
    assert!(!text.contains("detail") && !text.contains("version") && !text.contains("127.0.0.1"), "{public}");
    // A wrong key is no admin.
    let wrong: Value = d.req(Method::GET, "/health", SHOP1_KEY).send().await.unwrap().json().await.unwrap();
    assert!(!wrong.to_string().contains("detail"), "{wrong}");
    // The resubscribe warnings name the node without its key.
    let log = d.log();
    assert!(log.contains("cannot subscribe to newHeads"), "{log}");
    assert!(!log.contains("9aa3d95b") && !log.contains("hunter2pw"), "{log}");
}

#[tokio::test]
async fn a_store_directory_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let d = Daemon::start("").await.unwrap();
    let data = d.dir.path().join("data");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for e in std::fs::read_dir(&data).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p) & 0o077, 0, "{} is open to group or others", p.display());
    }
}
