//! The checkout pages' HTTP side against the real daemon on a regtest node: `checkout_url`
//! and `redirect_url` on invoices, the public status (no secret in it), its live stream
//! moving from awaiting to seen to paid as the chain does, the stream quotas, the pages' own
//! listener, the per-client rate limit and the refund claim page as a form. (What the page
//! looks like and does in a browser: `checkout.rs`.)

use paywatch_tests::btc::{shop3, BtcRig, SHOP3_KEY};
use paywatch_tests::claims;
use paywatch_tests::daemon::Launch;
use paywatch_tests::sse::{Opened, Sse};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

async fn invoice(rig: &BtcRig, body: Value) -> Value {
    let (status, v) = rig.call(Method::POST, "/v1/invoices", SHOP3_KEY, Some(body)).await;
    assert_eq!(status, 201, "{v}\n{}", rig.daemon.log());
    v
}

/// A public GET (no key): status, headers, body.
async fn get(rig: &BtcRig, url: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = rig.daemon.http.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("the daemon answers");
    let (status, h) = (r.status().as_u16(), r.headers().clone());
    (status, h, r.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invoice_links_its_page_whose_public_status_carries_no_secret() {
    let rig = claims::rig().await.unwrap();
    let body = json!({"asset": "BTC", "amount": "0.001", "order_id": "co-1", "redirect_url": "https://shop.example/thanks?o=1",
        "metadata": {"secret": "customer-42"}, "refund_email": "buyer@example.com", "description": "two mugs"});
    let inv = invoice(&rig, body).await;
    let id = inv["id"].as_str().unwrap();
    let checkout_url = inv["checkout_url"].as_str().unwrap();
    assert_eq!(checkout_url, rig.daemon.url(&format!("/i/{id}")), "{inv}");
    assert_eq!(inv["redirect_url"], "https://shop.example/thanks?o=1");
    // The same in the event a shop receives.
    let events = rig.daemon.events(SHOP3_KEY).await.unwrap();
    let created = events.iter().find(|e| e["type"] == "invoice.created" && e["data"]["id"] == id).unwrap();
    assert_eq!(created["data"]["checkout_url"], checkout_url);

    let (status, headers, page) = get(&rig, checkout_url, &[]).await;
    assert_eq!(status, 200, "{page}");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(headers["referrer-policy"], "no-referrer", "the page's URL is a capability");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(page.contains(r#"data-state="awaiting""#), "{page}");
    for secret in ["customer-42", "buyer@example.com", SHOP3_KEY] {
        assert!(!page.contains(secret), "the page shows {secret}");
    }

    let (status, _, text) = get(&rig, &rig.daemon.url(&format!("/i/{id}/status")), &[]).await;
    assert_eq!(status, 200, "{text}");
    let s: Value = serde_json::from_str(&text).unwrap();
    let keys: BTreeSet<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    let public = [
        "id",
        "store_name",
        "order_id",
        "state",
        "status",
        "exception",
        "currency",
        "amount",
        "paid",
        "due",
        "confirmations",
        "required_confirmations",
        "expires_at",
        "redirect_url",
        "methods",
        "sequence",
        "version",
    ];
    assert_eq!(keys, public.into_iter().collect(), "{s}");
    for secret in ["customer-42", "buyer@example.com", SHOP3_KEY] {
        assert!(!text.contains(secret), "the public status shows {secret}: {text}");
    }
    // The description is the customer's: the payment URI carries it to their wallet (BIP21
    // `message`), so the public status has it there, and only there.
    assert_eq!(text.matches("two%20mugs").count(), 1, "{text}");
    assert_eq!(
        (s["state"].as_str(), s["amount"].as_str(), s["currency"].as_str()),
        (Some("awaiting"), Some("0.001"), Some("BTC"))
    );
    let m = &s["methods"][0];
    assert_eq!(m["address"], inv["address"]);
    assert_eq!(m["payment_uri"], inv["payment_uri"]);
    // Its QR code is an SVG of exactly that URI's code (decoded in the browser tests).
    let (status, headers, svg) = get(&rig, &rig.daemon.url(m["qr"].as_str().unwrap()), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/svg+xml");
    assert!(svg.starts_with("<svg") && svg.len() < 20_000, "{} bytes: {}", svg.len(), &svg[..svg.len().min(200)]);

    // Nothing else is found by guessing: unknown, malformed and other forms of an id.
    let unknown = format!("/i/{}", uuid_like(id));
    for path in [unknown.as_str(), "/i/not-an-id", "/i/..%2Fv1%2Finvoices"] {
        let (status, _, _) = get(&rig, &rig.daemon.url(path), &[]).await;
        assert_eq!(status, 404, "{path}");
    }
    let upper = format!("/i/{}", id.to_uppercase());
    assert_eq!(get(&rig, &rig.daemon.url(&upper), &[]).await.0, 404, "one URL per page");
    let (status, _, _) = get(&rig, &rig.daemon.url(&format!("/i/{id}/qr/7.svg")), &[]).await;
    assert_eq!(status, 404, "a method the invoice does not have");

    // A redirect_url the page could not safely navigate to is refused at creation.
    for bad in [
        "javascript:alert(1)",
        "data:text/html,hi",
        "//shop.example/x",
        "https://user:pw@shop.example/",
        "ftp://shop.example/",
    ] {
        let body = json!({"asset": "BTC", "amount": "0.001", "order_id": format!("bad-{bad}"), "redirect_url": bad});
        let (status, v) = rig.call(Method::POST, "/v1/invoices", SHOP3_KEY, Some(body)).await;
        assert_eq!(status, 422, "{bad}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("redirect_url"), "{v}");
    }
}

/// Another id of the same shape.
fn uuid_like(id: &str) -> String {
    let last = if id.ends_with('0') { '1' } else { '0' };
    format!("{}{last}", &id[..id.len() - 1])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_status_stream_follows_the_chain_from_awaiting_to_seen_to_paid() {
    let rig = claims::rig().await.unwrap();
    let inv = invoice(&rig, json!({"asset": "BTC", "amount": "0.002", "order_id": "co-live"})).await;
    let id = inv["id"].as_str().unwrap();
    let mut early = Sse::connect(addr(rig.daemon.port), &format!("/i/{id}/events")).await.unwrap();
    let first = early.until(WAIT, |_| true).await.unwrap();
    assert_eq!(first["state"], "awaiting");

    // Half: underpaid, each method now asking for the remainder.
    rig.send(inv["address"].as_str().unwrap(), 0.0005).unwrap();
    let under = early.until(WAIT, |s| s["state"] == "underpaid").await.unwrap();
    assert_eq!(under["methods"][0]["amount_due"], "0.0015", "{under}");
    assert!(under["methods"][0]["payment_uri"].as_str().unwrap().contains("amount=0.0015"), "{under}");
    assert_ne!(under["methods"][0]["qr"], first["methods"][0]["qr"], "a new QR code for the remainder");

    // A page opened now starts where the invoice is.
    let mut late = Sse::connect(addr(rig.daemon.port), &format!("/i/{id}/events")).await.unwrap();
    assert_eq!(late.until(WAIT, |_| true).await.unwrap()["state"], "underpaid");

    let sent = Instant::now();
    rig.send(inv["address"].as_str().unwrap(), 0.0015).unwrap();
    let seen = early.until(WAIT, |s| s["state"] == "seen").await.unwrap();
    eprintln!("payment broadcast → stream shows seen: {:?}", sent.elapsed());
    assert_eq!((seen["confirmations"].as_u64(), seen["required_confirmations"].as_u64()), (Some(0), Some(1)), "{seen}");
    rig.mine(1).unwrap();
    let paid = early.until(WAIT, |s| s["state"] == "paid").await.unwrap();
    let received = time::OffsetDateTime::now_utc();
    // Nothing is left to pay: the status shows where to pay no more, and the QR code is gone.
    let m = &paid["methods"][0];
    assert_eq!(
        (m["address"].as_str(), m["payment_uri"].as_str(), m["qr"].as_str()),
        (Some(""), Some(""), Some("")),
        "{paid}"
    );
    assert_eq!(m["amount_paid"], "0.002");
    let qr = rig.daemon.http.get(rig.daemon.url(first["methods"][0]["qr"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(qr.status().as_u16(), 404, "an address that may go back to its pool is not published");
    assert_eq!(late.until(WAIT, |s| s["state"] == "paid").await.unwrap(), paid, "every page gets the same status");
    // Versions only grow; the page's status is the API's.
    assert!(paid["version"].as_u64() > seen["version"].as_u64());
    let (_, api) = rig.call(Method::GET, &format!("/v1/invoices/{id}"), SHOP3_KEY, None).await;
    assert_eq!(
        (paid["status"].as_str(), paid["sequence"].as_u64()),
        (api["status"].as_str(), api["sequence"].as_u64())
    );

    // The latency from the settling event's commit to the stream: printed, never asserted.
    let events = rig.daemon.events(SHOP3_KEY).await.unwrap();
    let settled = events.iter().find(|e| e["type"] == "invoice.settled" && e["data"]["id"] == id).unwrap();
    let made = time::OffsetDateTime::parse(
        settled["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    eprintln!("invoice.settled made → its stream received it: {:?}", received - made);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invoice_expiring_after_a_partial_payment_tells_its_customer_what_was_paid() {
    let rig = claims::rig().await.unwrap();
    let body = json!({"asset": "BTC", "amount": "0.002", "order_id": "co-part", "expires_in": 4});
    let inv = invoice(&rig, body).await;
    let id = inv["id"].as_str().unwrap();
    let mut page = Sse::connect(addr(rig.daemon.port), &format!("/i/{id}/events")).await.unwrap();
    rig.send(inv["address"].as_str().unwrap(), 0.0005).unwrap();
    rig.mine(1).unwrap();
    page.until(WAIT, |s| s["state"] == "underpaid").await.unwrap();
    let expired = page.until(WAIT, |s| s["state"] != "underpaid").await.unwrap();
    assert_eq!(
        (expired["state"].as_str(), expired["paid"].as_str()),
        (Some("expired_partial"), Some("0.0005")),
        "{expired}"
    );
    assert_eq!(expired["methods"][0]["address"], "", "nothing more to pay to it");
    let (_, _, html) = get(&rig, &rig.daemon.url(&format!("/i/{id}")), &[]).await;
    assert!(html.contains("expired after 0.0005 BTC of 0.002 BTC was paid: the shop will contact you"), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_streams_past_a_clients_quota_get_429_and_a_closed_one_gives_its_place_back() {
    let mut launch = Launch::env("PAYWATCH_CHECKOUT__MAX_STREAMS_PER_CLIENT", "2");
    launch.env.push(("PAYWATCH_CHECKOUT__BURST".into(), "1000".into()));
    let rig = BtcRig::start_custom(1, "", &shop3(86_400, 3600), launch).await.unwrap();
    let inv = invoice(&rig, json!({"asset": "BTC", "amount": "0.001", "order_id": "co-quota"})).await;
    let path = format!("/i/{}/events", inv["id"].as_str().unwrap());
    let a = Sse::connect(addr(rig.daemon.port), &path).await.unwrap();
    let _b = Sse::connect(addr(rig.daemon.port), &path).await.unwrap();
    match Sse::open(addr(rig.daemon.port), &path, &[]).await.unwrap() {
        Opened::Refused { status, headers, body } => {
            assert_eq!(status, 429, "{body}");
            assert!(headers.to_ascii_lowercase().contains("retry-after:"), "{headers}");
            assert!(body.contains("max_streams_per_client"), "{body}");
        }
        Opened::Stream(_) => panic!("a third stream from one client was opened"),
    }
    drop(a);
    // The closed stream's place is free once the daemon sees the connection gone.
    let c = open_when_free(&rig, &path).await;
    drop(c);
    // An unknown invoice is 404 (once the closed stream's place is back) and keeps no place:
    // after two of them, one real stream still fits beside `_b`, and no more.
    let unknown = "/i/00000000-0000-7000-8000-000000000000/events";
    let deadline = Instant::now() + WAIT;
    let mut found_404 = 0;
    while found_404 < 2 {
        match Sse::open(addr(rig.daemon.port), unknown, &[]).await.unwrap() {
            Opened::Refused { status: 404, .. } => found_404 += 1,
            Opened::Refused { status: 429, .. } if found_404 == 0 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Opened::Refused { status, body, .. } => panic!("{status} {body}"),
            Opened::Stream(_) => panic!("a stream of no invoice"),
        }
    }
    let _c = Sse::connect(addr(rig.daemon.port), &path).await.unwrap();
    assert!(matches!(Sse::open(addr(rig.daemon.port), &path, &[]).await.unwrap(), Opened::Refused { status: 429, .. }));
}

/// A stream of `path`, once the daemon has seen a closed one's connection go (429 until then).
async fn open_when_free(rig: &BtcRig, path: &str) -> Sse {
    let deadline = Instant::now() + WAIT;
    loop {
        match Sse::open(addr(rig.daemon.port), path, &[]).await.unwrap() {
            Opened::Stream(s) => return *s,
            Opened::Refused { status, .. } if status == 429 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Opened::Refused { status, body, .. } => panic!("{status} {body}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_invoice_gets_at_most_its_quota_of_streams_whoever_asks() {
    let mut launch = Launch::env("PAYWATCH_CHECKOUT__MAX_STREAMS_PER_INVOICE", "2");
    launch.env.push(("PAYWATCH_CHECKOUT__BURST".into(), "1000".into()));
    let rig = BtcRig::start_custom(1, "", &shop3(86_400, 3600), launch).await.unwrap();
    let a = invoice(&rig, json!({"asset": "BTC", "amount": "0.001", "order_id": "co-inv-a"})).await;
    let b = invoice(&rig, json!({"asset": "BTC", "amount": "0.001", "order_id": "co-inv-b"})).await;
    let (pa, pb) =
        (format!("/i/{}/events", a["id"].as_str().unwrap()), format!("/i/{}/events", b["id"].as_str().unwrap()));
    let _held = [
        Sse::connect(addr(rig.daemon.port), &pa).await.unwrap(),
        Sse::connect(addr(rig.daemon.port), &pa).await.unwrap(),
    ];
    match Sse::open(addr(rig.daemon.port), &pa, &[]).await.unwrap() {
        Opened::Refused { status, body, .. } => {
            assert_eq!(status, 429, "{body}");
            assert!(body.contains("max_streams_per_invoice"), "{body}");
        }
        Opened::Stream(_) => panic!("a third stream of one invoice"),
    }
    // Another invoice is not held back by it.
    let mut other = Sse::connect(addr(rig.daemon.port), &pb).await.unwrap();
    assert_eq!(other.until(WAIT, |_| true).await.unwrap()["state"], "awaiting");
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_on_their_own_listener_leave_the_api_private_and_are_rate_limited_per_client() {
    let pages_port = paywatch_tests::free_port();
    let extra = format!(
        "{}\n[checkout]\nlisten = \"127.0.0.1:{pages_port}\"\nper_second = 1\nburst = 5\n",
        shop3(86_400, 3600)
    );
    let rig = BtcRig::start_custom(1, "", &extra, Launch::default()).await.unwrap();
    let inv = invoice(&rig, json!({"asset": "BTC", "amount": "0.001", "order_id": "co-own"})).await;
    let id = inv["id"].as_str().unwrap();
    let page = format!("http://127.0.0.1:{pages_port}/i/{id}");
    assert_eq!(inv["checkout_url"], page.as_str());
    let (status, _, _) = get(&rig, &page, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(get(&rig, &rig.daemon.url(&format!("/i/{id}")), &[]).await.0, 404, "the API's listener has no pages");
    let api_on_pages = format!("http://127.0.0.1:{pages_port}/v1/invoices");
    let r = rig.daemon.http.get(&api_on_pages).bearer_auth(SHOP3_KEY).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404, "the pages' listener has no API");
    // The burst of 5 is spent (one page above); past it, 429 with Retry-After.
    let mut codes = Vec::new();
    for _ in 0..8 {
        let (status, headers, _) = get(&rig, &format!("{page}/status"), &[]).await;
        if status == 429 {
            assert!(headers.contains_key("retry-after"));
        }
        codes.push(status);
    }
    assert!(codes.starts_with(&[200, 200, 200, 200]) && codes.ends_with(&[429]), "{codes:?}");
    // A customer's page over the limit is a page, in their language, that reloads itself.
    let (status, headers, html) = get(&rig, &page, &[("accept-language", "zh-CN")]).await;
    assert_eq!(status, 429);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"), "{headers:?}");
    assert!(headers.contains_key("retry-after") && headers.contains_key("content-security-policy"));
    assert!(html.contains(r#"data-state="busy""#) && html.contains(r#"<html lang="zh">"#), "{html}");
    assert!(html.contains(r#"<meta http-equiv="refresh""#), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_claim_page_shows_the_refund_refuses_a_bad_address_with_the_plugins_reason_and_takes_a_good_one() {
    let rig = claims::rig().await.unwrap();
    let c = claims::claimable_refund(&rig, "co-claim").await.unwrap();
    let token = c.path.rsplit('/').next().unwrap();
    let page = rig.daemon.url(&format!("/r/{token}"));
    assert_eq!(c.url, page, "the refund links the customer's claim page");
    let (status, headers, html) = get(&rig, &page, &[]).await;
    assert_eq!(status, 200, "{html}");
    assert!(headers["content-security-policy"].to_str().unwrap().contains("form-action 'self'"));
    assert!(html.contains("0.001") && html.contains("BTC") && html.contains("co-claim"), "{html}");
    assert!(html.contains(r#"id="claim-form""#), "{html}");

    let post =
        |address: &str, lang: &str| rig.daemon.http.post(&page).form(&[("address", address), ("lang", lang)]).send();
    let r = post("bcrt1qnotanaddress", "en").await.unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"id="claim-error""#), "{html}");
    assert!(html.contains("bcrt1qnotanaddress"), "what the customer typed is kept: {html}");
    // The Chinese page explains in Chinese and keeps the plugin's words as detail.
    let r = post("bcrt1qnotanaddress", "zh").await.unwrap();
    let zh = r.text().await.unwrap();
    assert!(zh.contains(r#"lang="zh"#) && zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{zh}");

    let good = rig.new_address().unwrap();
    let r = post(&good, "en").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"id="claim-result""#) && html.contains(&good), "{html}");
    let (_, refund) = rig.call(Method::GET, &format!("/v1/refunds/{}", c.refund), SHOP3_KEY, None).await;
    assert_eq!(
        (refund["status"].as_str(), refund["address"].as_str()),
        (Some("awaiting_payment"), Some(good.as_str()))
    );
    // The link is used: its page shows what became of the refund (no form), and a second
    // claim changes nothing.
    let (status, _, html) = get(&rig, &page, &[]).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&good) && !html.contains(r#"id="claim-form""#), "{html}");
    let other = rig.new_address().unwrap();
    assert_eq!(post(&other, "en").await.unwrap().status().as_u16(), 410);
    let (_, refund) = rig.call(Method::GET, &format!("/v1/refunds/{}", c.refund), SHOP3_KEY, None).await;
    assert_eq!(refund["address"].as_str(), Some(good.as_str()));
}
