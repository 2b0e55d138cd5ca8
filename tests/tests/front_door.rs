//! The front door against the real binary: idle and slow connections, made-up methods, bursts
//! of bad keys and of public requests, and the SSRF guard's edges (a proxy from the
//! environment, what an endpoint test tells). Hostile clients talk from their own loopback address
//! (127.0.0.3) so the per-client limits can be told apart from a well-behaved client
//! (127.0.0.2) and from the test harness's own polling (127.0.0.1).

use paywatch_tests::client_from;
use paywatch_tests::daemon::{Daemon, Launch, ADMIN_KEY, SHOP1_KEY};
use paywatch_tests::receiver::Receiver;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Digest;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HOSTILE: &str = "127.0.0.3";
const BYSTANDER: &str = "127.0.0.2";

/// A daemon with these `[server]` settings (through the environment: the test config already
/// has a `[server]` table).
async fn daemon_with(server: &[(&str, &str)]) -> Daemon {
    let env = server.iter().map(|(k, v)| (format!("PAYWATCH_SERVER__{}", k.to_uppercase()), v.to_string())).collect();
    let launch = Launch { env, ..Launch::default() };
    Daemon::start_launched(|dir, port| paywatch_tests::daemon::test_config(dir, port, ""), &[], launch).await.unwrap()
}

#[tokio::test]
async fn five_hundred_idle_connections_do_not_stop_a_real_request() {
    let d = Daemon::start("").await.unwrap();
    let mut idle = Vec::new();
    for _ in 0..500 {
        idle.push(TcpStream::connect(("127.0.0.1", d.port)).await.unwrap());
    }
    // Half of them have started a request and stopped mid-header.
    for s in idle.iter_mut().step_by(2) {
        s.write_all(b"GET /v1/watches HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    }
    let r = tokio::time::timeout(Duration::from_secs(20), d.req(Method::GET, "/v1/watches", SHOP1_KEY).send())
        .await
        .expect("a real request is answered while 500 connections idle")
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    drop(idle);
}

/// Reads until the server closes the connection or `limit` passes; true when it closed.
async fn closed_within(s: &mut TcpStream, limit: Duration, mut dribble: impl FnMut() -> Option<u8>) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        if let Some(b) = dribble() {
            if s.write_all(&[b]).await.is_err() {
                return true;
            }
        }
        match tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(n)) => assert!(!buf[..n].starts_with(b"HTTP/1.1 200"), "a dribbled request was served"),
            Err(_) => {}
        }
    }
    false
}

#[tokio::test]
async fn a_connection_sending_headers_slowly_is_closed() {
    let d = daemon_with(&[("header_read_timeout_secs", "2")]).await;
    let mut s = TcpStream::connect(("127.0.0.1", d.port)).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    // One byte of an endless header every half second: never a complete request.
    let mut header = b"X-Slow: ".iter().copied().chain(std::iter::repeat(b'a'));
    let closed = closed_within(&mut s, Duration::from_secs(20), || header.next()).await;
    assert!(closed, "a connection dribbling its headers for 20 s was kept open (header_read_timeout_secs = 2)");
    // The daemon still serves others. A new connection: the test client's pooled one idled
    // as long as the dribbler and is closed by the same timeout at the same moment (a race
    // any HTTP client meets at a server's keep-alive timeout, not what this test is about).
    let fresh = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    assert_eq!(fresh.get(d.url("/health")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn ten_thousand_random_methods_leave_metrics_small() {
    let d = Daemon::start("").await.unwrap();
    let metrics = || async { d.req(Method::GET, "/metrics", ADMIN_KEY).send().await.unwrap().text().await.unwrap() };
    let before = metrics().await.len();
    for i in 0u32..10_000 {
        let name = format!("M{}", &hex::encode(sha2::Sha256::digest(i.to_le_bytes()))[..12]).to_uppercase();
        let method = Method::from_bytes(name.as_bytes()).unwrap();
        let path = ["/v1/watches", "/nowhere", "/health"][i as usize % 3];
        let status = d.http.request(method, d.url(path)).send().await.unwrap().status();
        assert!(status.is_client_error(), "{name} {path}: {status}");
    }
    let text = metrics().await;
    assert!(text.contains(r#"method="other""#), "{text}");
    assert!(!text.contains(r#"method="M"#), "a made-up method became a label: {text}");
    // A few new series (other × three routes × their statuses), not 10,000.
    assert!(text.len() < before + 8 * 1024, "/metrics grew from {before} to {} bytes:\n{text}", text.len());
}

#[tokio::test]
async fn a_burst_of_bad_keys_gets_429_for_that_ip_while_good_keys_and_other_ips_still_work() {
    let d = daemon_with(&[("auth_failure_burst", "5"), ("auth_failures_per_minute", "1")]).await;
    let hostile = client_from(HOSTILE);
    let get = |c: &reqwest::Client, key: &str| c.get(d.url("/v1/watches")).bearer_auth(key).send();
    for i in 0..5 {
        assert_eq!(get(&hostile, &format!("wrong-key-{i}")).await.unwrap().status(), StatusCode::UNAUTHORIZED, "{i}");
    }
    for i in 5..20 {
        let r = get(&hostile, &format!("wrong-key-{i}")).await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{i}");
        let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "retry-after {wait}");
        let b: serde_json::Value = r.json().await.unwrap();
        assert_eq!(b["error"]["code"], "rate_limited", "{b}");
    }
    // No key at all counts as a failure too; the admin route is limited the same way.
    assert_eq!(hostile.get(d.url("/v1/watches")).send().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(get(&hostile, "nope").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    let metrics = hostile.get(d.url("/metrics")).bearer_auth("nope").send().await.unwrap();
    assert_eq!(metrics.status(), StatusCode::TOO_MANY_REQUESTS);
    // The right key from that address still works: the limit counts failures, not the address.
    assert_eq!(get(&hostile, SHOP1_KEY).await.unwrap().status(), StatusCode::OK);
    // Another address is its own client: a wrong key there is a plain 401.
    let bystander = client_from(BYSTANDER);
    assert_eq!(get(&bystander, "wrong-key").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get(&bystander, SHOP1_KEY).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn a_burst_on_the_public_routes_gets_429_for_that_ip_only() {
    let d = daemon_with(&[("public_per_second", "1"), ("public_burst", "5")]).await;
    let hostile = client_from(HOSTILE);
    let claim = |c: &reqwest::Client| {
        c.post(d.url("/v1/refunds/claim/no-such-token")).json(&serde_json::json!({"address": "x"})).send()
    };
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(claim(&hostile).await.unwrap().status());
    }
    let limited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert!(limited >= 20, "30 claims in a burst of 5 at 1/s: {statuses:?}");
    assert!(statuses[..5].iter().all(|s| *s != StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    // /health shares the budget; another address has its own.
    assert_eq!(hostile.get(d.url("/health")).send().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    let bystander = client_from(BYSTANDER);
    assert_eq!(bystander.get(d.url("/health")).send().await.unwrap().status(), StatusCode::OK);
    assert_ne!(claim(&bystander).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    // Authenticated routes are not public: the store's own traffic is not limited by it.
    for _ in 0..20 {
        let r = hostile.get(d.url("/v1/watches")).bearer_auth(SHOP1_KEY).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}

/// `HTTP_PROXY` and friends, all pointing at `proxy`.
fn proxy_env(proxy: &Receiver) -> Vec<(String, String)> {
    let vars = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];
    vars.iter().map(|k| (k.to_string(), proxy.url(""))).collect()
}

/// A daemon with the webhook plugin, `env` set, and callbacks to 127.0.0.1 allowlisted.
async fn webhook_daemon(env: Vec<(String, String)>) -> Daemon {
    let extra = "\n[dispatch]\nallow_private = [\"127.0.0.1/32\"]\n";
    let plugins = [paywatch_tests::plugin_lib("webhook")];
    let launch = Launch { env, ..Launch::default() };
    Daemon::start_launched(|dir, port| paywatch_tests::daemon::test_config(dir, port, extra), &plugins, launch)
        .await
        .unwrap()
}

async fn new_endpoint(d: &Daemon, url: &str) -> String {
    let body = json!({"plugin": "webhook", "url": url, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"});
    let (status, v) = d.call(Method::POST, "/v1/endpoints", SHOP1_KEY, Some(body)).await;
    assert_eq!(status, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

/// What `POST /v1/endpoints/{id}/test` may say: a verdict, the status, a generic reason, the
/// time taken. Nothing the far side wrote, no resolved address, no error chain.
fn assert_only_generic(t: &Value) {
    let keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["http_status", "latency_ms", "reason", "verdict"], "{t}");
}

#[tokio::test]
async fn a_proxy_in_the_environment_does_not_carry_callbacks_to_127_0_0_2() {
    // What the proxy variables point at: a listener on 127.0.0.2, which the guard refuses.
    let proxy = Receiver::on_addr("127.0.0.2", 0, |_, _| (200, Duration::ZERO)).await;
    let d = webhook_daemon(proxy_env(&proxy)).await;
    // A public address (TEST-NET-3: nothing answers there), so the guard lets the URL by.
    let id = new_endpoint(&d, "http://203.0.113.7/hook").await;
    let (status, t) = d.call(Method::POST, &format!("/v1/endpoints/{id}/test"), SHOP1_KEY, None).await;
    assert_eq!(status, 200, "{t}");
    assert_ne!(t["verdict"], "ack", "{t}");
    assert_only_generic(&t);
    assert!(proxy.received().is_empty(), "the callback went through the proxy: {:?}", proxy.received());
}

#[tokio::test]
async fn an_endpoint_test_answers_status_and_a_generic_reason_not_the_body_or_an_error_chain() {
    let rx = Receiver::scripted(|_, _| (500, Duration::ZERO)).await;
    let d = webhook_daemon(Vec::new()).await;
    let id = new_endpoint(&d, &rx.url("/hook")).await;
    let (status, t) = d.call(Method::POST, &format!("/v1/endpoints/{id}/test"), SHOP1_KEY, None).await;
    assert_eq!((status, t["http_status"].as_u64()), (200, Some(500)), "{t}");
    assert_only_generic(&t);
    // Nothing listens: the error chain (connection refused to 127.0.0.1:…) stays in the log.
    drop(rx);
    let (status, t) = d.call(Method::POST, &format!("/v1/endpoints/{id}/test"), SHOP1_KEY, None).await;
    assert_eq!((status, t["http_status"].as_u64()), (200, None), "{t}");
    assert_only_generic(&t);
    assert!(!t.to_string().contains("127.0.0.1"), "{t}");
}

#[tokio::test]
async fn a_patch_with_params_url_cannot_replace_the_checked_url() {
    let rx = Receiver::ok().await;
    let d = webhook_daemon(Vec::new()).await;
    let id = new_endpoint(&d, &rx.url("/hook")).await;
    let path = format!("/v1/endpoints/{id}");
    for body in [
        json!({"params": {"url": "http://169.254.169.254/"}}),
        json!({"url": rx.url("/other"), "params": {"url": "http://10.0.0.1/"}}),
    ] {
        let (status, v) = d.call(Method::PATCH, &path, SHOP1_KEY, Some(body)).await;
        assert_eq!(status, 422, "{v}");
    }
    let (_, e) = d.call(Method::GET, &path, SHOP1_KEY, None).await;
    assert_eq!(e["url"], rx.url("/hook"), "{e}");
}

#[tokio::test]
async fn a_proxy_in_the_environment_does_not_carry_evm_node_requests() {
    let proxy = Receiver::on_addr("127.0.0.2", 0, |_, _| (200, Duration::ZERO)).await;
    let launch = Launch { env: proxy_env(&proxy), ..Launch::default() };
    // The chain has an http_url: its JSON-RPC goes over HTTP, straight to the node.
    let rig = paywatch_tests::evm::EthRig::start_with(paywatch_tests::evm::EthOptions { launch, ..Default::default() })
        .await
        .unwrap();
    rig.wait_synced().await.unwrap();
    assert!(proxy.received().is_empty(), "node requests went through the proxy: {:?}", proxy.received());
}

#[tokio::test]
async fn a_request_whose_body_never_comes_gets_408_and_frees_its_slot() {
    let d = daemon_with(&[("request_timeout_secs", "65"), ("max_concurrent_requests", "1")]).await;
    // Headers complete, body promised and never sent: it holds the only slot.
    let mut stuck = TcpStream::connect(("127.0.0.1", d.port)).await.unwrap();
    let head = format!(
        "POST /v1/watches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SHOP1_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    stuck.write_all(head.as_bytes()).await.unwrap();
    let stuck_answer = async {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match stuck.read(&mut buf).await.unwrap() {
                0 => break,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
        (String::from_utf8_lossy(&got).to_string(), Instant::now())
    };
    // A real request after it waits for the slot, and gets it once the stuck one is cut off.
    let real = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let status = d.req(Method::GET, "/v1/watches", SHOP1_KEY).send().await.unwrap().status();
        (status, Instant::now())
    };
    let both = tokio::time::timeout(Duration::from_secs(180), async { tokio::join!(stuck_answer, real) });
    let ((answer, cut_at), (status, served_at)) = both.await.expect("the stuck request was never cut off");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(status, StatusCode::OK);
    assert!(served_at >= cut_at, "the second request was served while the only slot was held");
}

/// One store cannot fill the daemon with endpoints (each is a worker and a delivery stream): at
/// its `max_endpoints` the next one is a 409 naming the quota, the other store still creates
/// its own, and deleting one makes room again.
#[tokio::test]
async fn a_store_at_its_endpoint_quota_gets_409_and_the_other_store_is_not_affected() {
    let rx = Receiver::ok().await;
    let env = vec![("PAYWATCH_STORES__SHOP1__MAX_ENDPOINTS".to_string(), "2".to_string())];
    let d = webhook_daemon(env).await;
    let first = new_endpoint(&d, &rx.url("/a")).await;
    new_endpoint(&d, &rx.url("/b")).await;
    let body = json!({"plugin": "webhook", "url": rx.url("/c"), "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"});
    let (status, v) = d.call(Method::POST, "/v1/endpoints", SHOP1_KEY, Some(body.clone())).await;
    assert_eq!((status, v["error"]["code"].as_str()), (409, Some("quota_exceeded")), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("max_endpoints"), "{v}");
    let (status, v) =
        d.call(Method::POST, "/v1/endpoints", paywatch_tests::daemon::SHOP2_KEY, Some(body.clone())).await;
    assert_eq!(status, 201, "the other store has its own quota: {v}");
    let (status, _) = d.call(Method::DELETE, &format!("/v1/endpoints/{first}"), SHOP1_KEY, None).await;
    assert!(status == 200 || status == 204, "{status}");
    let (status, v) = d.call(Method::POST, "/v1/endpoints", SHOP1_KEY, Some(body)).await;
    assert_eq!(status, 201, "room again after a delete: {v}");
    // shop2 (quota 20, one used) sends 40 creations at once: exactly 19 get in.
    let d = &d;
    let racing = (0..40).map(|i| {
        let body = json!({"plugin": "webhook", "url": rx.url(&format!("/r{i}")), "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"});
        async move { d.call(Method::POST, "/v1/endpoints", paywatch_tests::daemon::SHOP2_KEY, Some(body)).await.0 }
    });
    let statuses = futures::future::join_all(racing).await;
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(created, 19, "concurrent creations passed the quota: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    let (_, list) = d.call(Method::GET, "/v1/endpoints", paywatch_tests::daemon::SHOP2_KEY, None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 20, "{list}");
}

/// A TCP connection to the daemon from `ip` (any 127/8 address is this host).
async fn connect_from(ip: &str, port: u16) -> std::io::Result<TcpStream> {
    let s = tokio::net::TcpSocket::new_v4()?;
    s.bind(std::net::SocketAddr::new(ip.parse().unwrap(), 0))?;
    s.connect(std::net::SocketAddr::new("127.0.0.1".parse().unwrap(), port)).await
}

/// Whether the daemon closed `s` (read gives EOF or an error) within `limit`.
async fn closed_by_daemon(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 256];
    matches!(tokio::time::timeout(limit, s.read(&mut buf)).await, Ok(Ok(0) | Err(_)))
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let d = daemon_with(&[("header_read_timeout_secs", "2")]).await;
    let mut silent = TcpStream::connect(("127.0.0.1", d.port)).await.unwrap();
    assert!(closed_by_daemon(&mut silent, Duration::from_secs(20)).await, "a silent connection was kept open");
}

#[tokio::test]
async fn one_client_cannot_hold_every_connection_and_others_are_served() {
    let d = daemon_with(&[("max_connections_per_client", "20")]).await;
    let mut held = Vec::new();
    for _ in 0..30 {
        held.push(connect_from(HOSTILE, d.port).await.unwrap());
    }
    // The ten past the client's limit are closed at once; the first twenty are still open.
    let mut closed = 0;
    for s in held.iter_mut() {
        if closed_by_daemon(s, Duration::from_millis(300)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 10, "connections past max_connections_per_client = 20 from one address");
    let bystander = client_from(BYSTANDER);
    assert_eq!(
        bystander.get(d.url("/v1/watches")).bearer_auth(SHOP1_KEY).send().await.unwrap().status(),
        StatusCode::OK
    );
    // The client's places come back when its connections close.
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = client_from(HOSTILE);
    assert_eq!(again.get(d.url("/v1/watches")).bearer_auth(SHOP1_KEY).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn slow_bodies_get_408_at_the_body_timeout_and_their_client_cannot_take_every_slot() {
    let d = daemon_with(&[
        ("body_read_timeout_secs", "3"),
        ("max_concurrent_requests", "8"),
        ("max_requests_per_client", "4"),
        ("max_long_polls", "2"),
    ])
    .await;
    // Twelve requests from one address: headers, then one byte of a 500-byte body.
    let head = format!(
        "POST /v1/refunds/claim/{} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{{",
        "ab".repeat(32)
    );
    let mut slow = Vec::new();
    for _ in 0..12 {
        let mut s = connect_from(HOSTILE, d.port).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Another client is served while they are all still waiting for their bodies.
    let bystander = client_from(BYSTANDER);
    let status = bystander.get(d.url("/v1/watches")).bearer_auth(SHOP1_KEY).send().await.unwrap().status();
    let served_at = Instant::now();
    assert_eq!(status, StatusCode::OK);
    // Each slow request is cut off with 408 body_timeout (those queued behind their own client's
    // share get theirs in turn), none is left hanging.
    let mut answers = Vec::new();
    for s in slow.iter_mut() {
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        let read = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
                if got.windows(12).any(|w| w == b"body_timeout") {
                    break;
                }
            }
        });
        read.await.expect("a slow body was never cut off");
        answers.push((String::from_utf8_lossy(&got).to_string(), Instant::now()));
    }
    for (a, at) in &answers {
        assert!(a.starts_with("HTTP/1.1 408") && a.contains("body_timeout"), "{a}");
        assert!(*at > served_at, "the bystander was served only after the slow bodies were cut off");
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_is_its_own_and_nobody_else_can_spoof_one() {
    let d = daemon_with(&[
        ("auth_failure_burst", "3"),
        ("auth_failures_per_minute", "1"),
        ("trusted_proxies", "127.0.0.4"),
    ])
    .await;
    let status = |c: &reqwest::Client, forwarded: &str, key: &str| {
        let r = c.get(d.url("/v1/watches")).bearer_auth(key).header("x-forwarded-for", forwarded).send();
        async move { r.await.unwrap().status() }
    };
    let proxy = client_from("127.0.0.4");
    // One forwarded client spends its budget of failures...
    for i in 0..3 {
        assert_eq!(status(&proxy, "203.0.113.1", &format!("bad-{i}")).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(status(&proxy, "203.0.113.1", "bad-3").await, StatusCode::TOO_MANY_REQUESTS);
    // ...another one behind the same proxy has its own (a client-written address left of the
    // proxy's own entry changes nothing).
    assert_eq!(status(&proxy, "203.0.113.1, 203.0.113.2", "bad").await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&proxy, "203.0.113.2", SHOP1_KEY).await, StatusCode::OK);
    // A peer that is not a trusted proxy cannot pick its key with the header: its failures are
    // counted against its own address whatever it forwards.
    let hostile = client_from(HOSTILE);
    for i in 0..3 {
        assert_eq!(status(&hostile, &format!("198.51.100.{i}"), "bad").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(status(&hostile, "198.51.100.99", "bad").await, StatusCode::TOO_MANY_REQUESTS);
}
