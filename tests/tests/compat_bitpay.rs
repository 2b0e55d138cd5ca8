//! The BitPay-compatible API end to end with BitPay's own published clients, unmodified, from
//! PyPI (pinned with hashes in `tests/compat/bitpay/requirements.txt`): BitPay's Python SDK
//! (`bitpay`) as a `pos` client and as a `merchant` client paired by asking for a token the
//! operator approves, and btcpay-python (`btcpay`) paired with a code the operator made. Each
//! creates an invoice and reads it back; the invoices are paid from the regtest node's wallet,
//! a real local receiver gets BitPay's IPNs (extended and plain) with an `x-signature` that
//! verifies with the token, and each client's read shows `confirmed` (paid at the invoice's
//! speed; BitPay's `complete` is six confirmations). Bad input (a request
//! signed by another key, an unknown token, an unknown currency, a bad price) gets BitPay's
//! error shape, and nothing is created.
//!
//! The SDK only knows bitpay.com: `bitpay_sdk.py` builds the SDK's own `BitPayClient` with
//! paywatch's base URL and hands it to the SDK's `Client` constructor, as a user pointing it
//! at another server does. btcpay-python takes the server as its `host` argument.

use base64::Engine;
use hmac::{Hmac, Mac};
use paywatch_tests::btc::{BtcRig, SHOP3_KEY};
use paywatch_tests::receiver::{Received, Receiver};
use reqwest::Method;
use serde_json::{json, Value};

const SHOP3: &str = SHOP3_KEY;

/// shop3 (BTC from a tpub) with the BitPay API on, priced in USD at a fixed rate.
fn config() -> String {
    let dispatch =
        "\n[dispatch]\nallow_private = [\"127.0.0.1/32\"]\nretry_schedule = [\"1s\", \"1s\", \"1s\", \"1s\", \"1s\"]\n";
    let rates = "\n[rates.sources.fix]\nfixed = { BTC_USD = \"50000\" }\n";
    let store = paywatch_tests::btc::shop3(86_400, 604_800);
    format!("{dispatch}{rates}{store}\n[stores.bitpay]\npairing_code_secs = 3600\n[stores.rates]\nrules = [{{ pair = \"BTC_USD\", sources = [\"fix\"] }}]\n")
}

/// Runs a client script of `tests/compat/bitpay` with the pinned clients' venv; its JSON.
async fn client(script: &str, args: Vec<String>) -> Value {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    paywatch_tests::compat::run("bitpay", script, &args, &[]).await.unwrap()
}

fn sdk(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn base(rig: &BtcRig) -> String {
    rig.daemon.url("/bitpay/")
}

async fn api(rig: &BtcRig, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    rig.call(method, path, SHOP3, body).await
}

async fn pairing_code(rig: &BtcRig, facade: &str) -> String {
    let (status, v) = api(rig, Method::POST, "/v1/bitpay/pairing-codes", Some(json!({"facade": facade}))).await;
    assert_eq!(status, 201, "{v}");
    let code = v["pairing_code"].as_str().unwrap().to_string();
    assert!(code.len() == 7 && code.chars().all(|c| c.is_ascii_alphanumeric()), "{code}");
    code
}

/// A POS token as a shop gets one to paste into its plugin: the operator's code, claimed.
async fn pos_token(rig: &BtcRig) -> String {
    let code = pairing_code(rig, "pos").await;
    let resp = reqwest::Client::new()
        .post(rig.daemon.url("/bitpay/tokens"))
        .json(&json!({"pairingCode": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["data"][0]["facade"], "pos", "{v}");
    v["data"][0]["token"].as_str().unwrap().to_string()
}

fn hmac_b64(key: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The address and BTC amount of an invoice's BIP21 payment code.
fn bip21(inv: &Value) -> (String, f64) {
    let uri = inv["paymentCodes"]["BTC"]["BIP21"].as_str().unwrap_or_else(|| panic!("no BIP21 code: {inv}"));
    let rest = uri.strip_prefix("bitcoin:").unwrap();
    let (address, query) = rest.split_once('?').unwrap();
    let amount = query.split('&').find_map(|kv| kv.strip_prefix("amount=")).unwrap().parse().unwrap();
    (address.to_string(), amount)
}

async fn invoice_count(rig: &BtcRig) -> usize {
    let (status, v) = api(rig, Method::GET, "/v1/invoices", None).await;
    assert_eq!(status, 200, "{v}");
    v["items"].as_array().map_or(0, Vec::len)
}

fn ipns_of<'a>(got: &'a [Received], invoice: &str) -> Vec<(&'a Received, Value)> {
    got.iter()
        .map(|r| (r, serde_json::from_str::<Value>(&r.body).unwrap()))
        .filter(|(_, b)| b["data"]["id"] == invoice || b["id"] == invoice)
        .collect()
}

fn codes(ipns: &[(&Received, Value)]) -> Vec<u64> {
    ipns.iter().filter_map(|(_, b)| b["event"]["code"].as_u64()).collect()
}

#[tokio::test]
async fn bitpays_sdk_and_btcpay_python_create_read_and_get_signed_ipns_for_paid_invoices() {
    let rig = BtcRig::start_with(1, &config()).await.unwrap();
    let rx = Receiver::ok().await;
    let tmp = tempfile::tempdir().unwrap();
    let base = base(&rig);

    // 1. BitPay's SDK, pos facade: a token from the operator's code, unsigned requests.
    let pos = pos_token(&rig).await;
    let fields = json!({"price": 10, "currency": "USD", "orderId": "wc-1001", "itemDesc": "a mug",
        "notificationURL": rx.url("/ipn/pos"), "redirectURL": "https://shop.example/thanks",
        "posData": "{\"cart\":7}", "transactionSpeed": "medium", "extendedNotifications": true,
        "buyer": {"email": "buyer@example.com", "name": "A Buyer"}});
    let inv_pos = client("bitpay_sdk.py", sdk(&["create", &base, "pos", &pos, "-", &fields.to_string()])).await;
    assert_eq!(inv_pos["status"], "new", "{inv_pos}");
    assert_eq!(inv_pos["orderId"], "wc-1001");
    assert_eq!(inv_pos["price"], 10.0);
    assert_eq!(inv_pos["currency"], "USD");
    assert_eq!(inv_pos["posData"], "{\"cart\":7}");
    assert_eq!(inv_pos["buyer"]["email"], "buyer@example.com");
    assert_eq!(inv_pos["token"], pos.as_str());
    assert!(inv_pos["url"].as_str().unwrap().contains("/i/"), "the checkout page: {inv_pos}");
    assert!(inv_pos["expirationTime"].as_i64().unwrap() > inv_pos["invoiceTime"].as_i64().unwrap());
    let id_pos = inv_pos["id"].as_str().unwrap().to_string();
    let read = client("bitpay_sdk.py", sdk(&["get", &base, "pos", &pos, "-", &id_pos])).await;
    assert_eq!((read["id"].as_str(), read["status"].as_str()), (Some(id_pos.as_str()), Some("new")));
    assert_eq!(read["transactionSpeed"], "medium");
    let (status, pw) = api(&rig, Method::GET, &format!("/v1/invoices/{id_pos}"), None).await;
    assert_eq!(status, 200);
    assert_eq!((pw["amount"].as_str(), pw["currency"].as_str()), (Some("10.00"), Some("USD")), "{pw}");
    assert_eq!(pw["required_confirmations"], 1, "medium is one block");
    assert_eq!(pw["gateway"]["kind"], "bitpay");
    assert!(!pw.to_string().contains(&pos), "no token in the invoice's gateway data: {pw}");
    // The store's bitpay endpoint: made from the config, its token key never shown.
    let (status, eps) = api(&rig, Method::GET, "/v1/endpoints", None).await;
    assert_eq!(status, 200, "{eps}");
    let text = eps.to_string();
    assert!(text.contains("\"bitpay\""), "{eps}");
    let hex_run = text.as_bytes().windows(64).any(|w| w.iter().all(u8::is_ascii_hexdigit));
    assert!(!hex_run, "no 64-hex-digit key in the endpoints: {eps}");

    // 2. BitPay's SDK, merchant facade: the client asks for a token (as the SDK's own setup
    // script does), the operator approves its code, then every request is signed.
    let pem = tmp.path().join("merchant.pem");
    let pem_s = pem.display().to_string();
    let sin = client("bitpay_sdk.py", sdk(&["keygen", &pem_s])).await["sin"].as_str().unwrap().to_string();
    let asked = client("bitpay_sdk.py", sdk(&["request-token", &base, &pem_s, "merchant"])).await;
    let merchant = asked["token"].as_str().unwrap().to_string();
    let code = asked["pairingCode"].as_str().unwrap().to_string();
    let fields_m = json!({"price": 12.5, "currency": "USD", "orderId": "m-1", "fullNotifications": true,
        "notificationURL": rx.url("/ipn/merchant")});
    let early =
        client("bitpay_sdk.py", sdk(&["create", &base, "merchant", &merchant, &pem_s, &fields_m.to_string()])).await;
    assert!(early["error"].as_str().is_some_and(|e| e.contains("not approved yet")), "not approved yet: {early}");
    let (status, ok) = api(&rig, Method::POST, &format!("/v1/bitpay/pairing-codes/{code}/approve"), None).await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!((ok["facade"].as_str(), ok["client_id"].as_str()), (Some("merchant"), Some(sin.as_str())));
    let (status, again) = api(&rig, Method::POST, &format!("/v1/bitpay/pairing-codes/{code}/approve"), None).await;
    assert_eq!(status, 404, "a code is used once: {again}");
    let inv_m =
        client("bitpay_sdk.py", sdk(&["create", &base, "merchant", &merchant, &pem_s, &fields_m.to_string()])).await;
    assert_eq!((inv_m["status"].as_str(), inv_m["price"].as_f64()), (Some("new"), Some(12.5)), "{inv_m}");
    let id_m = inv_m["id"].as_str().unwrap().to_string();
    let read_m = client("bitpay_sdk.py", sdk(&["get", &base, "merchant", &merchant, &pem_s, &id_m])).await;
    assert_eq!(read_m["id"], id_m.as_str());

    // 3. btcpay-python: pairs with the operator's code, creates and reads signed.
    let bpem = tmp.path().join("btcpay.pem");
    let bpem_s = bpem.display().to_string();
    let bsin = client("btcpay_client.py", sdk(&["keygen", &bpem_s])).await["sin"].as_str().unwrap().to_string();
    let host = rig.daemon.url("/bitpay");
    let code_b = pairing_code(&rig, "merchant").await;
    let paired = client("btcpay_client.py", sdk(&["pair", &host, &bpem_s, &code_b])).await;
    let btok = paired["merchant"].as_str().unwrap_or_else(|| panic!("{paired}")).to_string();
    let reused = client("btcpay_client.py", sdk(&["pair", &host, &bpem_s, &code_b])).await;
    assert_eq!(reused["status"], 400, "a code pairs once: {reused}");
    let fields_b = json!({"price": 7, "currency": "USD", "orderId": "bt-1", "notificationURL": rx.url("/ipn/btcpay")});
    let inv_b = client("btcpay_client.py", sdk(&["create", &host, &bpem_s, &btok, &fields_b.to_string()])).await;
    assert_eq!(inv_b["status"], "new", "{inv_b}");
    let id_b = inv_b["id"].as_str().unwrap().to_string();
    let read_b = client("btcpay_client.py", sdk(&["get", &host, &bpem_s, &btok, &id_b])).await;
    assert_eq!((read_b["orderId"].as_str(), read_b["status"].as_str()), (Some("bt-1"), Some("new")));
    assert_ne!(bsin, sin);

    // 4. The pos invoice paid half first: an extended 1002 (receivedPayment), and a read says
    // `new`, `paidPartial`. Then the rest, and the two others in full, in one block.
    let (address, btc) = bip21(&inv_pos);
    let half = btc / 2.0;
    rig.send(&address, half).unwrap();
    rx.wait("the partial payment's IPN", |g| codes(&ipns_of(g, &id_pos)).contains(&1002)).await;
    let partial = client("bitpay_sdk.py", sdk(&["get", &base, "pos", &pos, "-", &id_pos])).await;
    assert_eq!(
        (partial["status"].as_str(), partial["exceptionStatus"].as_str()),
        (Some("new"), Some("paidPartial")),
        "{partial}"
    );
    rig.send(&address, btc - half).unwrap();
    for inv in [&inv_m, &inv_b] {
        let (address, btc) = bip21(inv);
        rig.send(&address, btc).unwrap();
    }
    rig.mine(1).unwrap();

    // 5. The IPNs: extended for the pos invoice (every code), plain with fullNotifications for
    // the merchant one, plain (confirmed only) for btcpay's; each verifies with its token.
    let got = rx
        .wait("the three invoices' final IPNs", |g| {
            codes(&ipns_of(g, &id_pos)).contains(&1005)
                && ipns_of(g, &id_m).iter().any(|(_, b)| b["status"] == "confirmed")
                && ipns_of(g, &id_b).iter().any(|(_, b)| b["status"] == "confirmed")
        })
        .await;
    let pos_ipns = ipns_of(&got, &id_pos);
    let c = codes(&pos_ipns);
    for code in [1001, 1002, 1003, 1005] {
        assert!(c.contains(&code), "extended IPN {code} for the pos invoice: {c:?}");
    }
    // Settled on one confirmation (medium): BitPay's `confirmed`, not yet its `complete`
    // (six confirmations), so no 1006.
    assert!(!c.contains(&1006), "no invoice_completed on one confirmation: {c:?}");
    assert!(c.windows(2).all(|w| w[0] <= w[1] || w == [1005, 1003]), "in order: {c:?}");
    for (token, ipns) in [(&pos, &pos_ipns), (&merchant, &ipns_of(&got, &id_m)), (&btok, &ipns_of(&got, &id_b))] {
        for (r, _) in ipns.iter() {
            assert_eq!(r.headers["x-signature"], hmac_b64(token, &r.body), "x-signature keyed with the token");
            assert_eq!(r.headers["content-type"], "application/json");
            assert!(!r.body.contains(token.as_str()), "no token in an IPN");
        }
    }
    let (_, confirmed) = pos_ipns.iter().find(|(_, b)| b["event"]["code"] == 1005).unwrap();
    assert_eq!(confirmed["event"]["name"], "invoice_confirmed");
    assert_eq!(confirmed["data"]["status"], "confirmed");
    assert_eq!(confirmed["data"]["orderId"], "wc-1001");
    assert_eq!(confirmed["data"]["posData"], "{\"cart\":7}");
    let m_ipns = ipns_of(&got, &id_m);
    let m_statuses: Vec<&str> = m_ipns.iter().map(|(_, b)| b["status"].as_str().unwrap()).collect();
    assert!(m_statuses.contains(&"confirmed") && !m_statuses.contains(&"complete"), "{m_statuses:?}");
    let b_ipns = ipns_of(&got, &id_b);
    assert!(b_ipns.iter().all(|(_, b)| b.get("event").is_none()), "plain IPNs only");

    // 6. Each client's read shows the status the IPN announced already: `confirmed`, what
    // BitPay calls an invoice paid at its speed (`complete` is six confirmations: `low`).
    let read = client("bitpay_sdk.py", sdk(&["get", &base, "pos", &pos, "-", &id_pos])).await;
    assert_eq!(
        (read["status"].as_str(), read["exceptionStatus"].as_bool()),
        (Some("confirmed"), Some(false)),
        "{read}"
    );
    assert!(read["amountPaid"].as_f64().unwrap() > 0.0);
    let read_m = client("bitpay_sdk.py", sdk(&["get", &base, "merchant", &merchant, &pem_s, &id_m])).await;
    assert_eq!(read_m["status"], "confirmed");
    let read_b = client("btcpay_client.py", sdk(&["get", &host, &bpem_s, &btok, &id_b])).await;
    assert_eq!(read_b["status"], "confirmed");
    let rates = client("bitpay_sdk.py", sdk(&["rates", &base])).await;
    assert_eq!(rates, json!([{"code": "USD", "name": "US Dollar", "rate": 50000.0}]), "the store's rates");
}

#[tokio::test]
async fn bad_requests_get_bitpays_error_shape_and_create_nothing() {
    let mut rig = BtcRig::start_with(1, &config()).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let base = base(&rig);
    let host = rig.daemon.url("/bitpay");
    let (pem, other) = (tmp.path().join("a.pem"), tmp.path().join("b.pem"));
    let (pem_s, other_s) = (pem.display().to_string(), other.display().to_string());
    client("btcpay_client.py", sdk(&["keygen", &pem_s])).await;
    client("btcpay_client.py", sdk(&["keygen", &other_s])).await;
    let code = pairing_code(&rig, "merchant").await;
    let token = client("btcpay_client.py", sdk(&["pair", &host, &pem_s, &code])).await["merchant"]
        .as_str()
        .unwrap()
        .to_string();
    let pos = pos_token(&rig).await;
    let good = json!({"price": 5, "currency": "USD", "orderId": "bad-1"});

    // Signed by another key than the token's: refused.
    let forged = client("btcpay_client.py", sdk(&["create", &host, &other_s, &token, &good.to_string()])).await;
    assert_eq!(forged["status"], 401, "{forged}");
    let err: Value = serde_json::from_str(forged["error"].as_str().unwrap()).unwrap();
    assert!(err["error"].as_str().unwrap().contains("not the one this token was paired with"), "{err}");
    // The same through BitPay's SDK, which raises its API exception with the message.
    let sdk_forged =
        client("bitpay_sdk.py", sdk(&["create", &base, "merchant", &token, &other_s, &good.to_string()])).await;
    assert!(sdk_forged["error"].as_str().is_some_and(|e| e.contains("paired with")), "{sdk_forged}");
    // A merchant token without a signature.
    let unsigned = client("bitpay_sdk.py", sdk(&["create", &base, "pos", &token, "-", &good.to_string()])).await;
    assert!(unsigned["error"].as_str().is_some_and(|e| e.contains("signed")), "{unsigned}");
    // An unknown token.
    let unknown = client(
        "bitpay_sdk.py",
        sdk(&["create", &base, "pos", "8Tr2eWGnTpyQkqUnNvDqUx3DzvuAb3UxTXsW2E5UFhHX", "-", &good.to_string()]),
    )
    .await;
    assert!(unknown["error"].as_str().is_some_and(|e| e.contains("invalid token")), "{unknown}");
    // An unknown currency (BitPay's SDK refuses it itself; btcpay-python sends it).
    let zzz = json!({"price": 5, "currency": "ZZZ", "orderId": "bad-2"});
    let e = client("btcpay_client.py", sdk(&["create", &host, &pem_s, &token, &zzz.to_string()])).await;
    assert_eq!(e["status"], 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("ZZZ"), "{e}");
    // A currency the store has no rate for, and bad prices.
    for (field, says) in [
        (json!({"price": 5, "currency": "EUR", "orderId": "bad-6"}), "EUR"),
        (json!({"price": -5, "currency": "USD", "orderId": "bad-3"}), "price"),
        (json!({"price": 0, "currency": "USD", "orderId": "bad-4"}), "price"),
        (json!({"price": 5, "currency": "USD", "orderId": "bad-5", "transactionSpeed": "warp"}), "transactionSpeed"),
    ] {
        let e = client("bitpay_sdk.py", sdk(&["create", &base, "pos", &pos, "-", &field.to_string()])).await;
        assert!(e["error"].as_str().is_some_and(|m| m.contains(says)), "{field}: {e}");
    }
    // Raw: the status and the body's shape.
    let resp = reqwest::Client::new()
        .post(rig.daemon.url("/bitpay/invoices"))
        .json(&json!({"price": "ten", "currency": "USD", "token": pos}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("price"), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    // A route BitPay has that paywatch does not cover: BitPay's shape too.
    let resp = reqwest::Client::new().get(rig.daemon.url("/bitpay/invoices?token=x")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert!(resp.json::<Value>().await.unwrap()["error"].is_string());
    let resp = reqwest::Client::new().post(rig.daemon.url("/bitpay/refunds")).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.json::<Value>().await.unwrap()["error"].is_string());
    let wrong_code = client("btcpay_client.py", sdk(&["pair", &host, &pem_s, "abcdefg"])).await;
    assert_eq!(wrong_code["status"], 400, "{wrong_code}");
    assert_eq!(invoice_count(&rig).await, 0, "nothing was created");
    // And the good request with the right key works.
    let ok = client("btcpay_client.py", sdk(&["create", &host, &pem_s, &token, &good.to_string()])).await;
    assert_eq!(ok["status"], "new", "{ok}");
    assert_eq!(invoice_count(&rig).await, 1);

    // The operator's CLI: refused while the daemon holds the store; with it stopped, it
    // approves a client's request and makes a code, both working once the daemon is back.
    let pair = ["bitpay", "pair", "--store", "shop3", "--facade", "pos"];
    let (code, out, err) = rig.daemon.command(&pair).unwrap();
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("stop the daemon"), "{err}");
    let asked = client("bitpay_sdk.py", sdk(&["request-token", &base, &pem_s, "pos"])).await;
    let (asked_token, asked_code) = (asked["token"].as_str().unwrap(), asked["pairingCode"].as_str().unwrap());
    rig.daemon.stop().await.unwrap();
    let (code, out, err) = rig.daemon.command(&["bitpay", "approve", "--store", "shop3", asked_code]).unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, err) = rig.daemon.command(&pair).unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    let cli_code = out.lines().next().unwrap().trim().to_string();
    let (code, _, err) = rig.daemon.command(&["bitpay", "pair", "--store", "shop1", "--facade", "pos"]).unwrap();
    assert_eq!(code, Some(1));
    assert!(err.contains("[stores.bitpay]"), "shop1 has no BitPay API: {err}");
    rig.daemon.restart().await.unwrap();
    let order = json!({"price": 3, "currency": "USD", "orderId": "cli-1"});
    let made = client("bitpay_sdk.py", sdk(&["create", &base, "pos", asked_token, "-", &order.to_string()])).await;
    assert_eq!(made["status"], "new", "the approved request's token works: {made}");
    let resp = reqwest::Client::new()
        .post(rig.daemon.url("/bitpay/tokens"))
        .json(&json!({"pairingCode": cli_code}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the CLI's code pairs");
}

/// A fourth store with the BitPay API (no payment methods): another tenant.
const SHOP4: &str = "shop4_Q8vN2kLp5RtX7wZ3mB9cD1fG6h";

fn config_two_tenants() -> String {
    format!("{}\n[[stores]]\nid = \"shop4\"\napi_key = \"{SHOP4}\"\n[stores.bitpay]\n", config())
}

/// A raw request to the BitPay routes: status and JSON (Null when the body is not JSON).
async fn raw(rig: &BtcRig, method: Method, path: &str, body: Option<String>, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, rig.daemon.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let r = req.send().await.expect("the daemon answers");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `message` signed by the key in `pem` with btcpay-python's key utilities: (x-identity, x-signature).
async fn sign(pem: &str, message: &str) -> (String, String) {
    let v = paywatch_tests::compat::run("bitpay", "sign.py", &[pem, message], &[]).await.unwrap();
    (v["identity"].as_str().unwrap().to_string(), v["signature"].as_str().unwrap().to_string())
}

/// Review of issue 18: what an attacker tries against the BitPay routes. Signatures bind the
/// body and the query exactly; a token reads only its own store's invoices; hostile prices,
/// currencies, sizes and URLs are refused in BitPay's shape and create nothing; and wrong
/// pairing codes are failed authentications (counted: past the budget, 429).
#[tokio::test]
async fn attacks_on_signatures_tenants_input_and_pairing_codes() {
    let rig = BtcRig::start_with(1, &config_two_tenants()).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let host = rig.daemon.url("/bitpay");
    let authority = host.trim_start_matches("http://").trim_end_matches("/bitpay").to_string();
    let pem = tmp.path().join("m.pem").display().to_string();
    client("btcpay_client.py", sdk(&["keygen", &pem])).await;
    let code = pairing_code(&rig, "merchant").await;
    let merchant =
        client("btcpay_client.py", sdk(&["pair", &host, &pem, &code])).await["merchant"].as_str().unwrap().to_string();
    let pos = pos_token(&rig).await;

    // A signed create, by hand: accepted as signed.
    let body = json!({"price": 5, "currency": "USD", "orderId": "sig-1", "token": merchant}).to_string();
    let url = format!("http://{authority}/bitpay/invoices");
    let (identity, signature) = sign(&pem, &format!("{url}{body}")).await;
    let signed = [("x-identity", identity.as_str()), ("x-signature", signature.as_str())];
    let (status, made) = raw(&rig, Method::POST, "/bitpay/invoices", Some(body.clone()), &signed).await;
    assert_eq!(status, 200, "{made}");
    let id = made["data"]["id"].as_str().unwrap().to_string();
    // The same signature over a body that differs by a space, or one that says the price twice.
    let (status, e) = raw(&rig, Method::POST, "/bitpay/invoices", Some(format!("{body} ")), &signed).await;
    assert_eq!(status, 401, "a body other than the signed one: {e}");
    let twice = body.replacen("\"price\":5", "\"price\":5,\"price\":0.01", 1);
    let (i2, s2) = sign(&pem, &format!("{url}{twice}")).await;
    let (status, e) =
        raw(&rig, Method::POST, "/bitpay/invoices", Some(twice), &[("x-identity", &i2), ("x-signature", &s2)]).await;
    assert_eq!(status, 400, "a duplicate key is refused, not read one way and signed another: {e}");
    // A GET signed without its query, or with the query in another order.
    let get = format!("/bitpay/invoices/{id}?token={merchant}&x=1");
    let (i3, s3) = sign(&pem, &format!("http://{authority}/bitpay/invoices/{id}")).await;
    let (status, e) = raw(&rig, Method::GET, &get, None, &[("x-identity", &i3), ("x-signature", &s3)]).await;
    assert_eq!(status, 401, "signed without the query: {e}");
    let (i4, s4) = sign(&pem, &format!("http://{authority}/bitpay/invoices/{id}?x=1&token={merchant}")).await;
    let (status, e) = raw(&rig, Method::GET, &get, None, &[("x-identity", &i4), ("x-signature", &s4)]).await;
    assert_eq!(status, 401, "signed with the query reordered: {e}");
    let (i5, s5) = sign(&pem, &format!("http://{authority}{get}")).await;
    let (status, read) = raw(&rig, Method::GET, &get, None, &[("x-identity", &i5), ("x-signature", &s5)]).await;
    assert_eq!((status, read["data"]["id"].as_str()), (200, Some(id.as_str())), "{read}");
    // The pos token reads it (BitPay's pos facade may) but never gets the merchant token back.
    let (status, by_pos) = raw(&rig, Method::GET, &format!("/bitpay/invoices/{id}?token={pos}"), None, &[]).await;
    assert_eq!(status, 200, "{by_pos}");
    assert!(by_pos["data"].get("token").is_none() && !by_pos.to_string().contains(&merchant), "{by_pos}");

    // Another tenant's token does not see this store's invoice.
    let (status, v) = rig.call(Method::POST, "/v1/bitpay/pairing-codes", SHOP4, Some(json!({"facade": "pos"}))).await;
    assert_eq!(status, 201, "{v}");
    let other =
        raw(&rig, Method::POST, "/bitpay/tokens", Some(json!({"pairingCode": v["pairing_code"]}).to_string()), &[])
            .await
            .1["data"][0]["token"]
            .as_str()
            .unwrap()
            .to_string();
    let (status, e) = raw(&rig, Method::GET, &format!("/bitpay/invoices/{id}?token={other}"), None, &[]).await;
    assert_eq!(status, 404, "shop4's token on shop3's invoice: {e}");

    // Hostile input: each refused with BitPay's error, the daemon fine, nothing made.
    let before = invoice_count(&rig).await;
    let deep = format!("{}{}", "{\"a\":".repeat(200), "1".to_string() + &"}".repeat(200));
    let hostile: Vec<(String, &str)> = vec![
        (json!({"price": "1e400", "currency": "USD"}).to_string(), "price 1e400"),
        (json!({"price": "1e-400", "currency": "USD"}).to_string(), "price 1e-400"),
        (json!({"price": "NaN", "currency": "USD"}).to_string(), "price NaN"),
        (json!({"price": "inf", "currency": "USD"}).to_string(), "price inf"),
        (json!({"price": "-0", "currency": "USD"}).to_string(), "price -0"),
        (json!({"price": "1".repeat(100), "currency": "USD"}).to_string(), "a 100-digit price"),
        (json!({"price": "79228162514264337593543950335", "currency": "USD"}).to_string(), "Decimal::MAX USD"),
        (r#"{"price": 1e400, "currency": "USD"}"#.to_string(), "a JSON number out of range"),
        (json!({"price": 5, "currency": "ZZZ"}).to_string(), "an unknown currency"),
        (json!({"price": 5, "currency": "U\u{0}SD"}).to_string(), "a NUL in the currency"),
        (json!({"price": 5}).to_string(), "no currency"),
        (json!({"price": 5, "currency": "USD", "posData": "x".repeat(9000)}).to_string(), "9 kB of posData"),
        (format!(r#"{{"price": 5, "currency": "USD", "buyer": {deep}}}"#), "a buyer nested 200 deep"),
        (json!({"price": 5, "currency": "USD", "orderId": "o".repeat(101)}).to_string(), "a 101-byte orderId"),
        (
            json!({"price": 5, "currency": "USD", "redirectURL": "javascript:alert(1)"}).to_string(),
            "a javascript: redirect",
        ),
        (
            json!({"price": 5, "currency": "USD", "notificationURL": "http://10.0.0.1/ipn"}).to_string(),
            "a private IPN URL",
        ),
        (
            json!({"price": 5, "currency": "USD", "notificationURL": "http://169.254.169.254/latest"}).to_string(),
            "metadata",
        ),
        (
            json!({"price": 5, "currency": "USD", "notificationURL": "http://[::ffff:10.0.0.1]/"}).to_string(),
            "mapped v6",
        ),
        (json!({"price": 5, "currency": "USD", "notificationURL": "file:///etc/passwd"}).to_string(), "a file URL"),
        (json!({"price": 5, "currency": "USD", "transactionSpeed": "HIGH"}).to_string(), "a speed in capitals"),
    ];
    for (fields, what) in &hostile {
        // The token goes in first, as text (a body serde_json would refuse stays as it is).
        let body = fields.replacen('{', &format!("{{\"token\":\"{pos}\","), 1);
        let (status, e) = raw(&rig, Method::POST, "/bitpay/invoices", Some(body), &[]).await;
        assert!((400..500).contains(&status), "{what}: {status} {e}");
        assert!(e["error"].is_string(), "{what}: BitPay's error shape: {e}");
    }
    let big = json!({"price": 5, "currency": "USD", "token": pos, "posData": "x".repeat(10 << 20)}).to_string();
    // The daemon answers 413 and closes while the client still writes: either is a refusal.
    let sent = reqwest::Client::new().post(rig.daemon.url("/bitpay/invoices")).body(big).send().await;
    assert!(sent.as_ref().map_or(true, |r| r.status() == 413), "10 MB of posData: {sent:?}");
    assert_eq!(invoice_count(&rig).await, before, "nothing was created");
    assert!(rig.daemon.health().await.is_ok(), "the daemon still answers");

    // Pairing codes are guessed like keys: wrong ones count against the client's budget
    // (`auth_failure_burst`, 10 by default), then 429 with Retry-After.
    let mut statuses = vec![];
    for i in 0..15 {
        let (status, _) = raw(
            &rig,
            Method::POST,
            "/bitpay/tokens",
            Some(json!({"pairingCode": format!("Zz{i:05}")}).to_string()),
            &[],
        )
        .await;
        statuses.push(status);
    }
    assert!(statuses.contains(&429), "wrong pairing codes are not counted: {statuses:?}");
}

/// Review of issue 18: `/bitpay/tokens` (which writes a pairing request for anyone) and
/// `/bitpay/rates` (which makes the store's rate sources fetch any pair its rules let through)
/// take no key, so they are held to the per-client budget of every other public route
/// (`server.public_per_second`, `public_burst`): a client asking far past it gets 429.
#[tokio::test]
async fn the_public_bitpay_routes_are_limited_per_client() {
    let rig = BtcRig::start_with(1, &config()).await.unwrap();
    for (method, path, body) in
        [(Method::GET, "/bitpay/rates/BTC/USD", None), (Method::POST, "/bitpay/tokens", Some("{".to_string()))]
    {
        let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
        for _ in 0..400 {
            let (status, _) = raw(&rig, method.clone(), path, body.clone(), &[]).await;
            *statuses.entry(status).or_default() += 1;
        }
        assert!(statuses.contains_key(&429), "{method} {path}: {statuses:?}");
    }
}

/// Review of issue 18: a `buyer` nested as deep as a request may be (serde_json reads 128
/// levels) is kept inside the invoice's `gateway.data`, three levels further down: the invoice
/// must still read back, list, and carry its events, and its reads stay JSON a client reads.
#[tokio::test]
async fn a_deeply_nested_buyer_does_not_make_an_invoice_unreadable() {
    let rig = BtcRig::start_with(1, &config()).await.unwrap();
    let pos = pos_token(&rig).await;
    let depth = 126;
    let buyer = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    let body = format!(r#"{{"token":"{pos}","price":5,"currency":"USD","orderId":"deep","buyer":{buyer}}}"#);
    let text = |r: reqwest::Response| async move { (r.status().as_u16(), r.text().await.unwrap()) };
    let http = reqwest::Client::new();
    let sent = http.post(rig.daemon.url("/bitpay/invoices")).header("content-type", "application/json").body(body);
    let (status, made) = text(sent.send().await.unwrap()).await;
    if status == 400 {
        return; // refused: fine
    }
    assert_eq!(status, 200, "{made}");
    let id = made.split("\"id\":\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let mut seen = vec![];
    for path in [format!("/v1/invoices/{id}"), "/v1/invoices".into(), "/v1/events".into()] {
        seen.push((path.clone(), text(rig.daemon.req(Method::GET, &path, SHOP3).send().await.unwrap()).await));
    }
    let bp = format!("/bitpay/invoices/{id}?token={pos}");
    seen.push((bp.clone(), text(http.get(rig.daemon.url(&bp)).send().await.unwrap()).await));
    let log = rig.daemon.log();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR") || l.contains("WARN")).collect();
    let statuses: Vec<(&String, u16)> = seen.iter().map(|(p, (s, _))| (p, *s)).collect();
    for (path, (status, body)) in &seen {
        assert_eq!(*status, 200, "{path}: {body}\n{statuses:?}\n{}", errors.join("\n"));
        assert!(
            serde_json::from_str::<Value>(body).is_ok(),
            "{path}: not JSON serde_json reads: {}",
            &body[..200.min(body.len())]
        );
    }
}
