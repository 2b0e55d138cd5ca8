//! The hostile-input suite: one daemon, more than thirty hostile requests and faults from one
//! client address (127.0.0.3), each with the safe outcome it must get, while a well-behaved
//! shop (127.0.0.2) reads its invoice every 5 ms. Afterwards: the daemon is alive, the
//! shop's data is intact, no secret came back, and every one of the shop's requests was
//! answered. The shop's latency during the run is printed (measured, never asserted).
//!
//! The per-client limits are raised here (they are tested in `front_door.rs`): a limit answering
//! 429 would hide what the daemon does with each request.

use paywatch_tests::btc::{shop3, SHOP3_KEY};
use paywatch_tests::daemon::{test_config, Daemon, Launch, ADMIN_KEY};
use paywatch_tests::{client_from, plugin_lib};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const WOO_SECRET: &str = "cs_9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const HOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A mainnet address: not one the regtest store can take.
const MAINNET: &str = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2";
/// A regtest address of no one in particular.
const REGTEST: &str = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn";

/// A second store taking BTC invoices, to a one-address list.
const SHOP4: &str = r#"
[[stores]]
id = "shop4"
api_key = "shop4_Xk29dLq8Rv0PzWm3NcT6yHb1Js"
[stores.receive.BTC]
addresses = ["bcrt1q6rhpng9evdsfnn833a4f4vej0asu6dk5srld6x"]
"#;
const SHOP4_KEY: &str = "shop4_Xk29dLq8Rv0PzWm3NcT6yHb1Js";

/// What one hostile request must get: its status (any of them), and, if given, its error code.
struct Case {
    name: &'static str,
    method: Method,
    path: String,
    key: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    status: &'static [u16],
    code: Option<&'static str>,
}

fn case(name: &'static str, method: Method, path: impl Into<String>, status: &'static [u16]) -> Case {
    Case { name, method, path: path.into(), key: Some(SHOP3_KEY), headers: Vec::new(), body: None, status, code: None }
}

impl Case {
    fn json(mut self, v: Value) -> Self {
        self.body = Some(v.to_string().into_bytes());
        self.headers.push(("content-type", "application/json".into()));
        self
    }
    fn raw(mut self, body: impl Into<Vec<u8>>, content_type: &str) -> Self {
        self.body = Some(body.into());
        self.headers.push(("content-type", content_type.into()));
        self
    }
    fn key(mut self, key: Option<&'static str>) -> Self {
        self.key = key;
        self
    }
    fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
    fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    async fn run(&self, d: &Daemon, client: &reqwest::Client) -> (u16, String) {
        let mut req = client.request(self.method.clone(), d.url(&self.path));
        if let Some(k) = self.key {
            req = req.bearer_auth(k);
        }
        for (h, v) in &self.headers {
            req = req.header(*h, v);
        }
        if let Some(b) = &self.body {
            req = req.body(b.clone());
        }
        match req.send().await {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            // The daemon may close a connection on what it refuses (an oversized header).
            Err(e) => (0, format!("connection closed: {e}")),
        }
    }
}

fn nested(depth: usize) -> Vec<u8> {
    let mut s = "[".repeat(depth);
    s.push_str(&"]".repeat(depth));
    s.into_bytes()
}

fn invoice(order_id: &str, amount: &str) -> Value {
    json!({"asset": "BTC", "amount": amount, "order_id": order_id})
}

/// The cases, given the shop's invoice, another store's invoice, and the shop's endpoints.
fn cases(inv: &str, other_inv: &str, hook: &str) -> Vec<Case> {
    use Method as M;
    let refunds = format!("/v1/invoices/{inv}/refunds");
    let megabyte = "1".repeat(1 << 20);
    vec![
        // Finding 1: addresses and claims.
        case("1 MiB claim address", M::POST, "/v1/refunds/claim/rf_unknown", &[413])
            .key(None)
            .json(json!({"address": megabyte})),
        case("overlong watch address", M::POST, "/v1/watches", &[422])
            .json(json!({"chain": "btc", "address": "1".repeat(20_000)}))
            .code("invalid_address"),
        case("overlong refund address", M::POST, refunds.clone(), &[422])
            .json(json!({"amount": "0.001", "address": "3".repeat(129)}))
            .code("invalid_address"),
        case("mainnet address on regtest", M::POST, "/v1/watches", &[422])
            .json(json!({"chain": "btc", "address": MAINNET}))
            .code("invalid_address"),
        case("unknown claim token", M::POST, "/v1/refunds/claim/rf_0000000000000000000000", &[404])
            .key(None)
            .json(json!({"address": REGTEST})),
        case("claim token with spaces", M::POST, "/v1/refunds/claim/%20rf_0000%20", &[404])
            .key(None)
            .json(json!({"address": REGTEST})),
        case("batch repeating an address", M::POST, "/v1/watches/batch", &[409, 422])
            .json(json!({"watches": [{"chain": "btc", "address": REGTEST}, {"chain": "btc", "address": REGTEST}]})),
        // Finding 2: the front door.
        case("body over max_body_bytes", M::POST, "/v1/invoices", &[413]).raw(vec![b' '; 200_000], "application/json"),
        case("JSON nested 30,000 deep", M::POST, "/v1/invoices", &[400, 422]).raw(nested(30_000), "application/json"),
        case("metadata nested 2,000 deep", M::POST, "/v1/invoices", &[400, 422]).raw(
            format!(
                r#"{{"asset":"BTC","amount":"0.001","order_id":"deep","metadata":{}}}"#,
                String::from_utf8(nested(2_000)).unwrap()
            ),
            "application/json",
        ),
        case("malformed JSON", M::POST, "/v1/invoices", &[400])
            .raw(r#"{"asset": "BTC", "amount": "#, "application/json"),
        case("not JSON", M::POST, "/v1/invoices", &[415])
            .raw("asset=BTC&amount=1", "application/x-www-form-urlencoded"),
        case("invalid UTF-8", M::POST, "/v1/invoices", &[400, 422])
            .raw(b"{\"asset\":\"\xff\xfe\"}".to_vec(), "application/json"),
        case("made-up method", Method::from_bytes(b"BREW").unwrap(), "/v1/invoices", &[405]),
        case("no key", M::GET, "/v1/invoices", &[401]).key(None),
        case("wrong key", M::GET, "/v1/invoices", &[401]).key(Some("shop3_guessguessguessguessguess")),
        case("store key on the admin route", M::GET, "/metrics", &[401, 403]),
        case("another store's invoice", M::GET, format!("/v1/invoices/{other_inv}"), &[404]),
        case("invoice id not a uuid", M::GET, "/v1/invoices/..%2F..%2Fetc%2Fpasswd", &[400, 404]),
        case("path traversal", M::GET, "/v1/../../../../etc/passwd", &[404]),
        case("limit far too large", M::GET, "/v1/invoices?limit=100000000000000000000", &[400, 422]),
        case("long-poll far too long", M::GET, "/v1/events?wait=1000000", &[400, 422]),
        case("an 8 KiB idempotency key", M::POST, "/v1/invoices", &[400, 422])
            .json(invoice("idem", "0.001"))
            .header("idempotency-key", "k".repeat(8192)),
        case("a 1 MiB header", M::GET, "/v1/invoices", &[0, 400, 431]).header("x-filler", "a".repeat(1 << 20)),
        // Amounts (issue 14) and the smaller holes (finding 8).
        case("amount overflowing u128", M::POST, "/v1/invoices", &[422])
            .json(invoice("big", "340282366920938463463374607.43176822")),
        case("negative amount", M::POST, "/v1/invoices", &[422]).json(invoice("neg", "-1")),
        case("more decimals than the asset", M::POST, "/v1/invoices", &[422]).json(invoice("dec", "0.000000001")),
        case("amount as a float", M::POST, "/v1/invoices", &[422, 400])
            .json(json!({"asset": "BTC", "amount": 1e300, "order_id": "f"})),
        case("unknown asset", M::POST, "/v1/invoices", &[422]).json(
            invoice("asset", "1")
                .as_object()
                .cloned()
                .map(|mut o| {
                    o.insert("asset".into(), json!("DOGE"));
                    Value::Object(o)
                })
                .unwrap(),
        ),
        case("order id with CR/LF", M::POST, "/v1/invoices", &[422])
            .json(invoice("1042\r\nX-Injected: 1", "0.001"))
            .code("invalid_field"),
        case("refund more than was paid", M::POST, refunds.clone(), &[409, 422])
            .json(json!({"amount": "1000", "address": REGTEST})),
        // Findings 4 and 5: the SSRF guard and secrets (the shop's endpoints, by their ids).
        case("endpoint to 127.0.0.1", M::POST, "/v1/endpoints", &[422])
            .json(json!({"plugin": "webhook", "url": "http://127.0.0.1:9/", "secret": HOOK_SECRET})),
        case("endpoint to IPv4-mapped loopback", M::POST, "/v1/endpoints", &[422])
            .json(json!({"plugin": "webhook", "url": "http://[::ffff:127.0.0.1]/", "secret": HOOK_SECRET})),
        case("endpoint to NAT64 loopback", M::POST, "/v1/endpoints", &[422])
            .json(json!({"plugin": "webhook", "url": "http://[64:ff9b::7f00:1]/", "secret": HOOK_SECRET})),
        case("endpoint to 6to4 private", M::POST, "/v1/endpoints", &[422])
            .json(json!({"plugin": "webhook", "url": "http://[2002:c0a8:0101::1]/", "secret": HOOK_SECRET})),
        case("endpoint to cloud metadata", M::POST, "/v1/endpoints", &[422])
            .json(json!({"plugin": "webhook", "url": "http://169.254.169.254/latest/", "secret": HOOK_SECRET})),
        case("endpoint to 198.18.0.1", M::POST, "/v1/endpoints", &[422])
            .json(json!({"plugin": "webhook", "url": "http://198.18.0.1/", "secret": HOOK_SECRET})),
        case("endpoint with a file URL", M::POST, "/v1/endpoints", &[422])
            .json(json!({"plugin": "webhook", "url": "file:///etc/passwd", "secret": HOOK_SECRET})),
        case("webhook without a secret", M::POST, "/v1/endpoints", &[422])
            .json(json!({"plugin": "webhook", "url": "http://203.0.113.7/hook"})),
        case("PATCH params.url past the guard", M::PATCH, format!("/v1/endpoints/{hook}"), &[422])
            .json(json!({"params": {"url": "http://10.0.0.1/"}})),
        case("plugin name with a slash", M::POST, "/v1/endpoints", &[422])
            .json(json!({"plugin": "sub/evil", "url": "https://shop.example/"})),
    ]
}

/// Runs every case once; returns what got another outcome than its own.
async fn run_cases(d: &Daemon, client: &reqwest::Client, cases: &[Case], print: bool) -> Vec<String> {
    let mut wrong = Vec::new();
    for c in cases {
        let t = Instant::now();
        let (status, body) = c.run(d, client).await;
        let took = t.elapsed();
        let code =
            serde_json::from_str::<Value>(&body).ok().and_then(|v| v["error"]["code"].as_str().map(String::from));
        let ok = c.status.contains(&status) && c.code.is_none_or(|want| code.as_deref() == Some(want));
        if print {
            eprintln!(
                "{:<36} {status} {:>7.1} ms {}",
                c.name,
                took.as_secs_f64() * 1e3,
                if ok { "ok" } else { "WRONG" }
            );
        }
        if !ok {
            wrong.push(format!("{}: got {status} {body:.300}, expected {:?} {:?}", c.name, c.status, c.code));
        }
        for secret in [WOO_SECRET, HOOK_SECRET] {
            assert!(!body.contains(secret), "{}: a secret came back: {body:.300}", c.name);
        }
    }
    wrong
}

/// Latency percentiles of the shop's reads, in milliseconds.
fn percentiles(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    format!("n={} p50={:.1} ms p90={:.1} ms p99={:.1} ms max={:.1} ms", ms.len(), at(0.5), at(0.9), at(0.99), at(1.0))
}

#[tokio::test]
async fn thirty_and_more_hostile_requests_each_get_their_safe_outcome_while_a_shop_is_served() {
    let btc = "\n[[assets]]\nid = \"BTC\"\nchain = \"btc\"\nplugin = \"bitcoin\"\n";
    let extra = format!("{btc}{}{SHOP4}\n[dispatch]\nallow_private = []\n", shop3(900, 3600));
    let env = [("PAYWATCH_SERVER__PUBLIC_BURST", "100000"), ("PAYWATCH_SERVER__AUTH_FAILURE_BURST", "100000")];
    let launch = Launch { env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Launch::default() };
    let plugins = [plugin_lib("bitcoin"), plugin_lib("webhook"), plugin_lib("woocommerce")];
    let d = Daemon::start_launched(|dir, port| test_config(dir, port, &extra), &plugins, launch).await.unwrap();

    // The shop's own things, which nothing below may change or reveal.
    let (s, inv) = d.call(Method::POST, "/v1/invoices", SHOP3_KEY, Some(invoice("shop-1", "0.001"))).await;
    assert_eq!(s, 201, "{inv}");
    let inv_id = inv["id"].as_str().unwrap().to_string();
    let woo = json!({"plugin": "woocommerce", "url": "http://203.0.113.7/shop", "params": {"consumer_key": "ck_0123456789abcdef0123456789abcdef", "consumer_secret": WOO_SECRET}});
    let (s, w) = d.call(Method::POST, "/v1/endpoints", SHOP3_KEY, Some(woo)).await;
    assert_eq!(s, 201, "{w}");
    let hook = json!({"plugin": "webhook", "url": "http://203.0.113.7/hook", "secret": HOOK_SECRET});
    let (s, h) = d.call(Method::POST, "/v1/endpoints", SHOP3_KEY, Some(hook)).await;
    assert_eq!(s, 201, "{h}");
    let hook_id = h["id"].as_str().unwrap().to_string();
    // Another tenant's invoice, which shop3's key must not reach.
    let (s, other) = d.call(Method::POST, "/v1/invoices", SHOP4_KEY, Some(invoice("shop4-1", "0.002"))).await;
    assert_eq!(s, 201, "{other}");
    let other = other["id"].as_str().unwrap().to_string();

    // The shop reads its invoice every 5 ms from its own address while the suite runs (often
    // enough for a sample even when the suite takes a fraction of a second).
    let running = Arc::new(AtomicBool::new(true));
    let shop = {
        let (url, running) = (d.url(&format!("/v1/invoices/{inv_id}")), running.clone());
        tokio::spawn(async move {
            let c = client_from("127.0.0.2");
            let (mut ms, mut failures) = (Vec::new(), Vec::new());
            while running.load(Ordering::Relaxed) {
                let t = Instant::now();
                match c.get(&url).bearer_auth(SHOP3_KEY).send().await {
                    Ok(r) if r.status() == StatusCode::OK => ms.push(t.elapsed().as_secs_f64() * 1e3),
                    Ok(r) => failures.push(format!("{}", r.status())),
                    Err(e) => failures.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (ms, failures)
        })
    };
    // Faults beside the requests: 300 idle connections and one dribbling its headers.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(("127.0.0.1", d.port)).await.unwrap());
    }
    let mut slow = TcpStream::connect(("127.0.0.1", d.port)).await.unwrap();
    slow.write_all(b"POST /v1/invoices HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();

    let hostile = client_from("127.0.0.3");
    let all = cases(&inv_id, &other, &hook_id);
    assert!(all.len() >= 30, "{} cases", all.len());
    // The checked pass, one case at a time, printed; then the same cases from four clients at
    // once, three rounds each, all checked, while the shop keeps reading.
    let mut wrong = run_cases(&d, &hostile, &all, true).await;
    let _ = slow.write_all(b"a").await;
    let rounds = (0..4).map(|_| async {
        let mut w = Vec::new();
        for _ in 0..3 {
            w.extend(run_cases(&d, &hostile, &all, false).await);
        }
        w
    });
    wrong.extend(futures::future::join_all(rounds).await.into_iter().flatten());
    let _ = slow.write_all(b"a").await;
    running.store(false, Ordering::Relaxed);
    let (ms, failures) = shop.await.unwrap();
    drop(idle);
    eprintln!("the shop's GET /v1/invoices/{{id}} during the suite: {}", percentiles(ms.clone()));
    let log = d.log();
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
    assert!(
        wrong.is_empty(),
        "{} of {} cases got an unsafe outcome:\n{}\nthe daemon's log ends:\n{}",
        wrong.len(),
        all.len(),
        wrong.join("\n"),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    assert!(failures.is_empty(), "the shop's reads failed during the suite: {failures:?}");
    assert!(ms.len() >= 10, "the shop was barely served: {} reads", ms.len());

    // Afterwards: alive, the shop's invoice and endpoints as they were, no secret anywhere.
    let (s, after) = d.call(Method::GET, &format!("/v1/invoices/{inv_id}"), SHOP3_KEY, None).await;
    assert_eq!((s, &after["status"], &after["amount"]), (200, &inv["status"], &inv["amount"]), "{after}");
    let (s, list) = d.call(Method::GET, "/v1/endpoints", SHOP3_KEY, None).await;
    assert_eq!((s, list["items"].as_array().map(Vec::len)), (200, Some(2)), "{list}");
    let (s, watches) = d.call(Method::GET, "/v1/watches", SHOP3_KEY, None).await;
    assert_eq!(s, 200, "{watches}");
    assert!(!watches.to_string().contains(REGTEST), "a refused batch left a watch: {watches}");
    let metrics = d.req(Method::GET, "/metrics", ADMIN_KEY).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("BREW"), "a made-up method became a label");
    for secret in [WOO_SECRET, HOOK_SECRET] {
        assert!(
            !log.contains(secret) && !list.to_string().contains(secret),
            "a secret leaked into the log or the list"
        );
    }
}
