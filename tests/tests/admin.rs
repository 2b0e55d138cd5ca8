//! Stores and keys at run time, against the real binary and the regtest node: a store made
//! through the admin API takes a paid invoice and sends its webhook with no restart; keys act
//! only with their scopes (403), not past their expiry (401); a large refund waits for a second
//! key; a retired store's keys stop, its endpoints stop, its data stays readable by the admin;
//! `paywatch keys` with the daemon stopped.

use paywatch_tests::btc::BtcRig;
use paywatch_tests::daemon::{ADMIN_KEY, SHOP1_KEY};
use paywatch_tests::receiver::Receiver;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const DESCRIPTOR: &str = "pkh(tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp/2/*)";

async fn admin(rig: &BtcRig, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    rig.call(method, path, ADMIN_KEY, body).await
}

/// A key for `shop9` with `scopes` (and an expiry), returned in clear.
async fn key(rig: &BtcRig, label: &str, scopes: &[&str], expires_at: Option<String>) -> String {
    let body = json!({"label": label, "scopes": scopes, "expires_at": expires_at});
    let (status, v) = admin(rig, Method::POST, "/v1/admin/stores/shop9/keys", Some(body)).await;
    assert_eq!(status, 201, "{v}");
    let mut got: Vec<&str> = v["scopes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    let mut want = scopes.to_vec();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "{v}");
    v["key"].as_str().unwrap().to_string()
}

/// The webhook bodies of `kind` the receiver got.
fn hooks(r: &Receiver, kind: &str) -> Vec<Value> {
    let bodies = r.received().into_iter().map(|x| serde_json::from_str::<Value>(&x.body).unwrap());
    bodies.filter(|b| b["type"] == kind).collect()
}

#[tokio::test]
async fn a_store_made_at_run_time_takes_payments_and_keys_act_only_with_their_scopes() {
    let mut rig = BtcRig::start(1).await.unwrap();
    let hook = Receiver::ok().await;
    // A bad spec: every problem at once, nothing made.
    let bad = json!({"id": "shop9", "receive": {"DOGE": {"xpub": "x"}}, "speed": -1, "api_key": "k"});
    let (status, e) = admin(&rig, Method::POST, "/v1/admin/stores", Some(bad)).await;
    assert_eq!((status, e["error"]["code"].as_str()), (422, Some("invalid_store")), "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(m.contains("receive.DOGE") && m.contains("speed") && m.contains("api_key"), "{m}");
    // A store key cannot reach the admin API (told so, not counted as a failed login).
    let (status, e) = rig.call(Method::GET, "/v1/admin/stores", SHOP1_KEY, None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (403, Some("forbidden")), "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("admin key"), "{e}");

    let spec = json!({"id": "shop9", "name": "Nine", "receive": {"BTC": {"descriptor": DESCRIPTOR}},
        "allow_private": ["127.0.0.1/32"], "refund_approval_above": {"BTC": "0.0003"}});
    let (status, s) = admin(&rig, Method::POST, "/v1/admin/stores", Some(spec.clone())).await;
    assert_eq!(status, 201, "{s}");
    assert_eq!((s["origin"].as_str(), s["status"].as_str()), (Some("api"), Some("active")));
    // Its addresses are its own: another store with the same source is refused.
    let twin = json!({"id": "twin", "receive": {"BTC": {"descriptor": DESCRIPTOR}}});
    let (status, e) = admin(&rig, Method::POST, "/v1/admin/stores", Some(twin)).await;
    assert_eq!(status, 422, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("same addresses as store \"shop9\""), "{e}");
    let (_, list) = admin(&rig, Method::GET, "/v1/admin/stores", None).await;
    let origins: Vec<(&str, &str)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["origin"].as_str().unwrap()))
        .collect();
    assert_eq!(origins, [("shop1", "config"), ("shop2", "config"), ("shop9", "api")]);

    let manager =
        key(&rig, "back office", &["endpoints:manage", "refunds:write", "refunds:approve", "invoices:read"], None)
            .await;
    let checkout = key(&rig, "checkout server", &["invoices:create", "invoices:read"], None).await;
    let approver = key(&rig, "finance", &["refunds:approve"], None).await;
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::seconds(3))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let short = key(&rig, "temporary", &["events:read"], Some(soon)).await;

    let endpoint =
        json!({"plugin": "webhook", "url": hook.url("/hook"), "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"});
    let (status, e) = rig.call(Method::POST, "/v1/endpoints", &checkout, Some(endpoint.clone())).await;
    assert_eq!((status, e["error"]["code"].as_str()), (403, Some("forbidden")), "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("endpoints:manage"), "{e}");
    let (status, e) = rig.call(Method::POST, "/v1/endpoints", &manager, Some(endpoint)).await;
    assert_eq!(status, 201, "{e}");

    // The checkout key: 403 on a refund, 201 on an invoice.
    let refund_path = "/v1/invoices/0190d0c2-7a3b-7c00-8000-000000000000/refunds";
    let (status, e) = rig.call(Method::POST, refund_path, &checkout, Some(json!({"amount": "0.001"}))).await;
    assert_eq!((status, e["error"]["code"].as_str()), (403, Some("forbidden")), "{e}");
    // A change of the store applies at once.
    let (status, s) = admin(&rig, Method::PATCH, "/v1/admin/stores/shop9", Some(json!({"speed": 2}))).await;
    assert_eq!((status, s["spec"]["speed"].as_u64()), (200, Some(2)), "{s}");
    let (status, inv) = rig
        .call(
            Method::POST,
            "/v1/invoices",
            &checkout,
            Some(json!({"asset": "BTC", "amount": "0.001", "order_id": "9-1"})),
        )
        .await;
    assert_eq!((status, inv["required_confirmations"].as_u64()), (201, Some(2)), "{inv}");
    let id = inv["id"].as_str().unwrap().to_string();
    rig.send(inv["address"].as_str().unwrap(), 0.001).unwrap();
    rig.mine(2).unwrap();
    hook.wait("invoice.settled webhook", |_| !hooks(&hook, "invoice.settled").is_empty()).await;
    // Its source changed, the addresses it handed out are still its invoices': another store
    // cannot take them up.
    let other_branch = DESCRIPTOR.replace("/2/*", "/3/*");
    let patch = json!({"receive": {"BTC": {"descriptor": other_branch}}});
    let (status, s) = admin(&rig, Method::PATCH, "/v1/admin/stores/shop9", Some(patch)).await;
    assert_eq!(status, 200, "{s}");
    let twin = json!({"id": "twin", "receive": {"BTC": {"descriptor": DESCRIPTOR}}});
    let (status, e) = admin(&rig, Method::POST, "/v1/admin/stores", Some(twin)).await;
    assert_eq!(status, 422, "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(m.contains("receive.BTC") && m.contains("watched for store \"shop9\""), "{m}");

    // A refund above the threshold waits for a second key; rejected, its value counts no more.
    let to = rig.new_address().unwrap();
    let refundable = |key: String| {
        let path = format!("/v1/invoices/{id}/refundable");
        let rig = &rig;
        async move { rig.call(Method::GET, &path, &key, None).await.1["refundable"].as_str().unwrap().to_string() }
    };
    let ask = json!({"amount": "0.0008", "address": to});
    let (status, r) = rig.call(Method::POST, &format!("/v1/invoices/{id}/refunds"), &manager, Some(ask)).await;
    assert_eq!((status, r["status"].as_str()), (201, Some("awaiting_approval")), "{r}");
    assert!(r["payment_uri"].is_null() && r["approval"]["decided_by"].is_null(), "nothing to pay yet: {r}");
    assert_eq!(r["approval"]["threshold"], "0.0003 BTC");
    assert_eq!(refundable(manager.clone()).await, "0.0002");
    let (status, r) =
        rig.call(Method::POST, &format!("/v1/refunds/{}/reject", r["id"].as_str().unwrap()), &approver, None).await;
    assert_eq!((status, r["status"].as_str()), (200, Some("rejected")), "{r}");
    assert_eq!(refundable(manager.clone()).await, "0.001");
    // Made as small refunds, a large one still waits: what one key refunded alone counts.
    let small = |amount: &str| json!({"amount": amount});
    let (status, r) =
        rig.call(Method::POST, &format!("/v1/invoices/{id}/refunds"), &manager, Some(small("0.0001"))).await;
    assert_eq!((status, r["status"].as_str()), (201, Some("awaiting_address")), "{r}");
    let (status, r) =
        rig.call(Method::POST, &format!("/v1/invoices/{id}/refunds"), &manager, Some(small("0.0005"))).await;
    assert_eq!((status, r["status"].as_str()), (201, Some("awaiting_approval")), "0.0005 after 0.0001: {r}");
    // Without an address, its claim link is the approver's to give: the maker never gets it.
    assert!(r["claim_token"].is_null() && r["claim_url"].is_null(), "{r}");
    let (status, r) =
        rig.call(Method::POST, &format!("/v1/refunds/{}/approve", r["id"].as_str().unwrap()), &approver, None).await;
    assert_eq!((status, r["status"].as_str()), (200, Some("awaiting_address")), "{r}");
    let token = r["claim_token"].as_str().unwrap();
    assert!(r["claim_url"].as_str().unwrap().ends_with(&format!("/r/{token}")), "{r}");
    let customer = rig.new_address().unwrap();
    let claim = json!({"address": customer});
    let (status, c) = rig.call(Method::POST, &format!("/v1/refunds/claim/{token}"), "", Some(claim)).await;
    assert_eq!((status, c["status"].as_str()), (200, Some("awaiting_payment")), "{c}");
    assert_eq!(refundable(manager.clone()).await, "0.0004");
    let ask = json!({"amount": "0.0004", "address": to});
    let (status, r) = rig.call(Method::POST, &format!("/v1/invoices/{id}/refunds"), &manager, Some(ask)).await;
    assert_eq!((status, r["status"].as_str()), (201, Some("awaiting_approval")), "{r}");
    let rid = r["id"].as_str().unwrap().to_string();
    let (status, e) = rig.call(Method::POST, &format!("/v1/refunds/{rid}/approve"), &manager, None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (403, Some("second_key_required")), "{e}");
    let (status, e) = rig.call(Method::POST, &format!("/v1/refunds/{rid}/approve"), &checkout, None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (403, Some("forbidden")), "{e}");
    let (status, r) = rig.call(Method::POST, &format!("/v1/refunds/{rid}/approve"), &approver, None).await;
    assert_eq!((status, r["status"].as_str()), (200, Some("awaiting_payment")), "{r}");
    assert!(r["payment_uri"].as_str().unwrap().starts_with("bitcoin:"), "{r}");
    assert_ne!(r["approval"]["requested_by"], r["approval"]["decided_by"]);
    assert!(r["approval"]["decided_by"].as_str().unwrap().starts_with("key_"), "{r}");
    let (status, e) = rig.call(Method::POST, &format!("/v1/refunds/{rid}/reject"), &approver, None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("not_awaiting_approval")), "{e}");
    hook.wait("refund.approved and refund.rejected webhooks", |_| {
        !hooks(&hook, "refund.approved").is_empty() && !hooks(&hook, "refund.rejected").is_empty()
    })
    .await;
    assert_eq!(refundable(manager.clone()).await, "0");

    // The short-lived key: 200, then 401 once expired.
    assert_eq!(rig.call(Method::GET, "/v1/events", &short, None).await.0, 200);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (status, e) = rig.call(Method::GET, "/v1/events", &short, None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (401, Some("key_expired")), "{e}");

    // Retired: keys stop, endpoints stop, the admin still reads its data.
    let (status, s) = admin(&rig, Method::POST, "/v1/admin/stores/shop9/retire", None).await;
    assert_eq!((status, s["status"].as_str()), (200, Some("retired")), "{s}");
    let (status, e) = rig.call(Method::GET, &format!("/v1/invoices/{id}"), &checkout, None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (403, Some("store_retired")), "{e}");
    let read = |path: String| rig.daemon.req(Method::GET, &path, ADMIN_KEY).header("Paywatch-Store", "shop9").send();
    let got: Value = read(format!("/v1/invoices/{id}")).await.unwrap().json().await.unwrap();
    assert_eq!(got["status"], "settled", "{got}");
    let denied = read("/v1/endpoints".into()).await.unwrap();
    assert_eq!(denied.status(), 403, "the admin key only reads");
    // The approved refund paid after retirement: the event is made, the webhook is not sent.
    let hooks_before = hook.received().len();
    rig.send(&to, 0.0004).unwrap();
    rig.mine(2).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let evs: Value = read("/v1/events".into()).await.unwrap().json().await.unwrap();
        let done = evs["events"].as_array().unwrap().iter().any(|e| e["type"] == "refund.completed");
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "refund not completed: {evs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hook.received().len(), hooks_before, "a retired store's endpoints send nothing");
    let (_, eps) = admin(&rig, Method::GET, "/v1/admin/stores/shop9", None).await;
    assert_eq!(eps["status"], "retired");

    // Keys listed with their last use (written at shutdown); `paywatch keys` with the daemon
    // stopped makes a read-only key for shop1 that works after the restart.
    rig.daemon.stop().await.unwrap();
    let (code, out, err) = rig.daemon.command(&["keys", "list", "--store", "shop9"]).unwrap();
    assert_eq!(code, Some(0), "{err}");
    let listed: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let used = listed.iter().find(|k| k["label"] == "checkout server").unwrap();
    assert!(used["last_used_at"].is_string(), "{used}");
    assert!(!out.contains(&checkout), "keys are never listed");
    let (code, out, err) = rig
        .daemon
        .command(&["keys", "create", "--store", "shop1", "--label", "reports", "--scopes", "invoices:read"])
        .unwrap();
    assert_eq!(code, Some(0), "{err}");
    let reports = out.lines().next().unwrap().strip_prefix("key: ").unwrap().to_string();
    let (code, _, err) = rig
        .daemon
        .command(&["keys", "create", "--store", "shop1", "--label", "x", "--scopes", "invoices:delete"])
        .unwrap();
    assert_eq!(code, Some(1));
    assert!(err.contains("\"invoices:delete\""), "{err}");
    rig.daemon.restart().await.unwrap();
    assert_eq!(rig.call(Method::GET, "/v1/invoices", &reports, None).await.0, 200);
    let (status, _) =
        rig.call(Method::POST, "/v1/invoices", &reports, Some(json!({"asset": "BTC", "amount": "0.001"}))).await;
    assert_eq!(status, 403);
    // The run-time store is back after the restart, retired.
    let (_, s) = admin(&rig, Method::GET, "/v1/admin/stores/shop9", None).await;
    assert_eq!((s["origin"].as_str(), s["status"].as_str()), (Some("api"), Some("retired")), "{s}");
}
