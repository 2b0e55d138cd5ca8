//! The REST API against the real binary: real HTTP on loopback, real RocksDB in a temp dir.

use paywatch_tests::daemon::{Daemon, ADMIN_KEY, SHOP1_KEY, SHOP2_KEY};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const BTC_ADDR: &str = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn";
const ETH_ADDR: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

async fn body(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| json!({"raw": text})))
}

async fn create(d: &Daemon, key: &str, req: Value) -> (StatusCode, Value) {
    body(d.req(Method::POST, "/v1/watches", key).json(&req).send().await.unwrap()).await
}

/// n distinct valid EVM addresses.
fn eth_addr(n: u32) -> String {
    format!("0x{:040x}", 0x1000 + n)
}

#[tokio::test]
async fn keys_are_required_and_stores_only_see_their_own_data() {
    let d = Daemon::start("").await.unwrap();
    // No key, a wrong key, a malformed header: 401 with a JSON error.
    let r = d.http.get(d.url("/v1/watches")).send().await.unwrap();
    let (s, b) = body(r).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    for auth in ["Bearer nope-nope-nope-nope", "Basic c2hvcDE6eA==", SHOP1_KEY] {
        let r = d.http.get(d.url("/v1/watches")).header("authorization", auth).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth}");
    }
    // The admin key is not a store key: it reads a store's data only when a header names the
    // store, and changes nothing of it.
    let (s, b) = body(d.req(Method::GET, "/v1/watches", ADMIN_KEY).send().await.unwrap()).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("Paywatch-Store"), "{b}");
    let read = d.req(Method::GET, "/v1/watches", ADMIN_KEY).header("Paywatch-Store", "shop1").send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let write = d.req(Method::POST, "/v1/watches", ADMIN_KEY).header("Paywatch-Store", "shop1");
    let write = write.json(&json!({"chain": "btc", "address": BTC_ADDR})).send().await.unwrap();
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
    let nobody = d.req(Method::GET, "/v1/watches", ADMIN_KEY).header("Paywatch-Store", "nobody").send().await.unwrap();
    assert_eq!(nobody.status(), StatusCode::NOT_FOUND);

    let (s, w) = create(&d, SHOP1_KEY, json!({"chain": "btc", "address": BTC_ADDR, "label": "order 1042"})).await;
    assert_eq!(s, StatusCode::CREATED, "{w}");
    assert_eq!(w["chain"], "btc");
    assert_eq!(w["address"], BTC_ADDR);
    assert_eq!(w["label"], "order 1042");
    assert_eq!(w["confirmations"], 1, "the chain's default");
    assert!(w["key"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(w["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    let id = w["id"].as_str().unwrap();

    // shop2 (configured by key hash) cannot see, list or delete shop1's watch.
    let path = format!("/v1/watches/{id}");
    let (s, b) = body(d.req(Method::GET, &path, SHOP2_KEY).send().await.unwrap()).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    assert_eq!(d.req(Method::DELETE, &path, SHOP2_KEY).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let (_, page) = body(d.req(Method::GET, "/v1/watches", SHOP2_KEY).send().await.unwrap()).await;
    assert_eq!(page["items"], json!([]));
    // shop1 still has it; shop2 may watch the same address on its own.
    let (s, got) = body(d.req(Method::GET, &path, SHOP1_KEY).send().await.unwrap()).await;
    assert_eq!((s, &got), (StatusCode::OK, &w));
    let (s, _) = create(&d, SHOP2_KEY, json!({"chain": "btc", "address": BTC_ADDR})).await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn bad_requests_get_clear_json_errors() {
    let d = Daemon::start("").await.unwrap();
    let cases = [
        (json!({"chain": "ltc", "address": BTC_ADDR}), StatusCode::UNPROCESSABLE_ENTITY, "unknown_chain", "\"ltc\""),
        (
            json!({"chain": "btc", "address": "not-an-address"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_address",
            "not-an-address",
        ),
        (json!({"chain": "eth", "address": "0x1234"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_address", "0x1234"),
        (
            json!({"chain": "btc", "address": BTC_ADDR, "label": "x".repeat(257)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "257",
        ),
        (
            json!({"chain": "btc", "address": BTC_ADDR, "confirmations": 10001}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "10001",
        ),
        (
            json!({"chain": "btc", "address": BTC_ADDR, "confirmations": -1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "confirmations",
        ),
        (
            json!({"chain": "btc", "address": BTC_ADDR, "colour": "red"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "colour",
        ),
        (json!({"chain": "btc"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", "address"),
        (json!([1, 2]), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", ""),
    ];
    for (req, status, code, mentions) in cases {
        let (s, b) = create(&d, SHOP1_KEY, req.clone()).await;
        assert_eq!(s, status, "{req} -> {b}");
        assert_eq!(b["error"]["code"], code, "{req} -> {b}");
        assert!(b["error"]["message"].as_str().unwrap().contains(mentions), "{req} -> {b}");
    }
    // Malformed JSON, wrong content type, oversized body (limit 64 KiB in the test config).
    let r = d
        .req(Method::POST, "/v1/watches", SHOP1_KEY)
        .header("content-type", "application/json")
        .body("{\"chain\": ")
        .send()
        .await
        .unwrap();
    let (s, b) = body(r).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_json")));
    let r = d.req(Method::POST, "/v1/watches", SHOP1_KEY).body("chain=btc").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = json!({"chain": "btc", "address": BTC_ADDR, "label": "x".repeat(200_000)});
    // The server closes a connection whose body it refused: do not pool it for the next request
    // (reusing it raced into "broken pipe" once).
    let sent = d.req(Method::POST, "/v1/watches", SHOP1_KEY).header("connection", "close").json(&huge).send();
    let (s, b) = body(sent.await.unwrap()).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large")), "{b}");
    let r = d
        .req(Method::POST, "/v1/watches", SHOP1_KEY)
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, 0x00])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Bad ids and queries; unknown routes.
    let (s, b) = body(d.req(Method::GET, "/v1/watches/not-a-uuid", SHOP1_KEY).send().await.unwrap()).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));
    let (s, _) = body(d.req(Method::GET, "/v1/watches?limit=0", SHOP1_KEY).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = body(d.req(Method::GET, "/v1/watches?limit=abc", SHOP1_KEY).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, b) = body(d.req(Method::GET, "/v1/nothing", SHOP1_KEY).send().await.unwrap()).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    // Duplicates: 409 naming the existing watch, also inside one batch; EVM case-insensitive.
    let (s, w) = create(&d, SHOP1_KEY, json!({"chain": "eth", "address": ETH_ADDR})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = create(&d, SHOP1_KEY, json!({"chain": "eth", "address": ETH_ADDR.to_lowercase()})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("duplicate_watch")));
    assert!(b["error"]["message"].as_str().unwrap().contains(w["id"].as_str().unwrap()));
    let batch =
        json!({"watches": [{"chain": "eth", "address": eth_addr(1)}, {"chain": "eth", "address": eth_addr(1)}]});
    let (s, b) = body(d.req(Method::POST, "/v1/watches/batch", SHOP1_KEY).json(&batch).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("index 1"), "{b}");
    // Nothing of the refused batch was stored.
    let (_, page) = body(d.req(Method::GET, "/v1/watches", SHOP1_KEY).send().await.unwrap()).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    // The server is still fine.
    assert!(d.http.get(d.url("/health")).send().await.unwrap().status().is_success());
}

#[tokio::test]
async fn paging_delete_and_batch_create() {
    let d = Daemon::start("").await.unwrap();
    let watches: Vec<Value> =
        (0..25).map(|n| json!({"chain": "eth", "address": eth_addr(n), "confirmations": n})).collect();
    let (s, b) = body(
        d.req(Method::POST, "/v1/watches/batch", SHOP1_KEY).json(&json!({"watches": watches})).send().await.unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let created: Vec<String> =
        b["watches"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(created.len(), 25);
    // Pages of 10: 10, 10, 5; creation order; `next` absent on the last page.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &after {
            Some(a) => format!("/v1/watches?limit=10&after={a}"),
            None => "/v1/watches?limit=10".to_string(),
        };
        let (s, page) = body(d.req(Method::GET, &q, SHOP1_KEY).send().await.unwrap()).await;
        assert_eq!(s, StatusCode::OK);
        pages += 1;
        seen.extend(page["items"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, created);
    assert_eq!(pages, 3);
    // Delete one: 204, then 404 on get and on a second delete; the list skips it.
    let path = format!("/v1/watches/{}", created[3]);
    assert_eq!(d.req(Method::DELETE, &path, SHOP1_KEY).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(d.req(Method::GET, &path, SHOP1_KEY).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(d.req(Method::DELETE, &path, SHOP1_KEY).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let (_, page) = body(d.req(Method::GET, "/v1/watches?limit=100", SHOP1_KEY).send().await.unwrap()).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 24);
    // The address can be watched again after deletion.
    let (s, _) = create(&d, SHOP1_KEY, json!({"chain": "eth", "address": eth_addr(3)})).await;
    assert_eq!(s, StatusCode::CREATED);
    // Batch bounds.
    let (s, _) =
        body(d.req(Method::POST, "/v1/watches/batch", SHOP1_KEY).json(&json!({"watches": []})).send().await.unwrap())
            .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn watches_survive_a_restart_and_shutdown_is_graceful() {
    let mut d = Daemon::start("").await.unwrap();
    let (_, w) = create(&d, SHOP1_KEY, json!({"chain": "btc", "address": BTC_ADDR})).await;
    let path = format!("/v1/watches/{}", w["id"].as_str().unwrap());
    // A long-poll in flight does not hold shutdown up: SIGTERM ends it and the daemon exits 0.
    let poll = tokio::spawn(d.req(Method::GET, "/v1/events?wait=30", SHOP1_KEY).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let status = d.stop().await.unwrap();
    assert!(status.success(), "exit {status}; log:\n{}", d.log());
    assert!(t.elapsed() < Duration::from_secs(10), "shutdown took {:?}", t.elapsed());
    let (s, page) = body(poll.await.unwrap().unwrap()).await;
    assert_eq!((s, &page["events"]), (StatusCode::OK, &json!([])));
    assert!(d.log().contains("shutting down"), "{}", d.log());
    d.restart().await.unwrap();
    let (s, got) = body(d.req(Method::GET, &path, SHOP1_KEY).send().await.unwrap()).await;
    assert_eq!((s, got), (StatusCode::OK, w));
}

#[tokio::test]
async fn every_acknowledged_watch_survives_kill_9() {
    let mut d = Daemon::start("").await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..400u32 {
        let req = d.req(Method::POST, "/v1/watches", SHOP1_KEY).json(&json!({"chain": "eth", "address": eth_addr(n)}));
        tasks.push(tokio::spawn(async move {
            req.send().await.ok().filter(|r| r.status() == StatusCode::CREATED)?.json::<Value>().await.ok()
        }));
        if n == 200 {
            // Kill while the second half is in flight.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    d.kill();
    let mut acked = Vec::new();
    for t in tasks {
        if let Some(w) = t.await.unwrap() {
            acked.push(w);
        }
    }
    assert!(!acked.is_empty());
    d.restart().await.unwrap();
    let (_, page) = body(d.req(Method::GET, "/v1/watches?limit=1000", SHOP1_KEY).send().await.unwrap()).await;
    let stored = page["items"].as_array().unwrap();
    for w in &acked {
        assert!(stored.contains(w), "acknowledged watch {} lost after kill -9", w["id"]);
    }
    // Every stored watch is whole: readable by id too.
    for w in stored {
        let (s, got) = body(
            d.req(Method::GET, &format!("/v1/watches/{}", w["id"].as_str().unwrap()), SHOP1_KEY).send().await.unwrap(),
        )
        .await;
        assert_eq!((s, &got), (StatusCode::OK, w));
    }
}

#[tokio::test]
async fn events_health_metrics_and_openapi() {
    let d = Daemon::start("").await.unwrap();
    let (s, page) = body(d.req(Method::GET, "/v1/events?after=0&limit=10", SHOP1_KEY).send().await.unwrap()).await;
    assert_eq!((s, page), (StatusCode::OK, json!({"events": [], "next": 0})));
    let t = Instant::now();
    let (s, _) = body(d.req(Method::GET, "/v1/events?wait=1", SHOP1_KEY).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(900), "long-poll returned after {:?}", t.elapsed());
    let (s, _) = body(d.req(Method::GET, "/v1/events?wait=61", SHOP1_KEY).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(d.http.get(d.url("/v1/events")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // /health: no key, per component.
    let (s, h) = body(d.http.get(d.url("/health")).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["status"], "ok");
    assert_eq!(h["store"]["status"], "ok");
    assert_eq!(h["chains"]["btc"]["status"], "idle");
    assert!(h["chains"]["eth"].is_object());
    assert!(h["plugins"].is_object());

    // /metrics: admin key only; Prometheus text with the requests made above.
    assert_eq!(d.req(Method::GET, "/metrics", SHOP1_KEY).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(
        d.req(Method::GET, "/metrics", "pwk_not_a_key").send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let r = d.req(Method::GET, "/metrics", ADMIN_KEY).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(text.contains(r#"paywatch_http_requests_total{method="GET",route="/v1/events",status="200"}"#), "{text}");
    assert!(text.contains("paywatch_http_request_duration_seconds_bucket"), "{text}");
    // RocksDB's memory under its budget (the test config's default, 256 MiB), held and capped.
    assert!(text.contains("paywatch_rocksdb_memory_budget_bytes 268435456"), "{text}");
    let held = text.lines().find_map(|l| l.strip_prefix("paywatch_rocksdb_memory_bytes ")).expect("the memory gauge");
    assert!(held.trim().parse::<u64>().unwrap() <= 268_435_456, "{held}");

    // The OpenAPI document lists every route; any valid key reads it.
    assert_eq!(d.http.get(d.url("/v1/openapi.json")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let (s, doc) = body(d.req(Method::GET, "/v1/openapi.json", SHOP2_KEY).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    for p in ["/v1/watches", "/v1/watches/batch", "/v1/watches/{id}", "/v1/events", "/health", "/metrics"] {
        assert!(doc["paths"][p].is_object(), "{p} missing from openapi");
    }
    // No key or secret of the config or the requests ever reaches the log.
    let log = d.log();
    assert!(log.contains("api listening"), "{log}");
    for secret in [SHOP1_KEY, SHOP2_KEY, ADMIN_KEY, "rpc_password", "\"p\""] {
        assert!(!log.contains(secret), "{secret} in log:\n{log}");
    }
}
