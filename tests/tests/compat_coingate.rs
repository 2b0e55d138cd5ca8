//! The CoinGate-compatible API end to end, driven by CoinGate's own published Python SDK
//! (`coingate-client` 1.1.0 from PyPI, unmodified, pinned with hashes in
//! `tests/compat/coingate/requirements.txt`; `tests/compat/coingate/client.py` runs it). The SDK
//! only knows CoinGate's hosts: the script sets its documented class constant
//! `CoinGate.BASE_API_URL` to `http://127.0.0.1:PORT/coingate`, as a user of the library
//! would, and nothing else.
//!
//! On the regtest node: an order priced in USD is made, read and listed; a checkout picks BTC;
//! the node's wallet pays it; a real local HTTP receiver gets CoinGate's form-encoded callbacks
//! with the order's token (`confirming`, then `paid`), the client's read says `paid` with the
//! callback's figures; a refund through the API, paid from the node's wallet, makes the order
//! `partially_refunded`. Bad input gets CoinGate's error shape and creates nothing.

use paywatch_tests::btc::BtcRig;
use paywatch_tests::receiver::{Received, Receiver};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const SHOP: &str = "shop_cg_Qm4vT8xWn2LpR6yKs9HdFe3JuZ";
const TOKEN: &str = "cgtoken_7Hk2Lm9Qr4Tv8Wx3Yz6Bn1Cd5Fg0Jp";
/// Another store's CoinGate token.
const OTHER_TOKEN: &str = "cgtoken_other_Xq3Vb8Nm1Kz6Hs4Pw9Ty2Rd";

/// A store taking CoinGate orders: BTC at a fixed 50000 USD, callbacks to loopback allowed.
fn config() -> String {
    format!(
        r#"
[dispatch]
allow_private = ["127.0.0.1/32"]
retry_schedule = ["1s", "1s", "1s", "1s", "1s"]

[rates.sources.peg]
fixed = {{ BTC_USD = "50000" }}

[[stores]]
id = "cg-shop"
api_key = "{SHOP}"
speed = 1
[stores.receive.BTC]
descriptor = "pkh(tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp/0/*)"
[stores.rates]
rules = [{{ pair = "*_USD", sources = ["peg"] }}]
[stores.coingate]
api_token = "{TOKEN}"

[[stores]]
id = "cg-other"
api_key = "shop_cg_other_Lw8Rt3Yu6Ii9Oo2Pa5Sd1Fg"
[stores.receive.BTC]
descriptor = "pkh(tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp/1/*)"
[stores.rates]
rules = [{{ pair = "*_USD", sources = ["peg"] }}]
[stores.coingate]
api_token = "{OTHER_TOKEN}"
"#
    )
}

struct Rig {
    btc: BtcRig,
}

impl Rig {
    async fn start() -> Rig {
        Rig { btc: BtcRig::start_with(1, &config()).await.unwrap() }
    }

    /// The SDK, pointed at this daemon with `token`: `command` with `args`, its JSON answer.
    fn client(&self, token: &str, command: &str, args: Value) -> Value {
        let python = paywatch_tests::compat::python("coingate");
        let script = paywatch_tests::workspace_root().join("tests/compat/coingate/client.py");
        let base = self.btc.daemon.url("/coingate");
        let out = std::process::Command::new(&python)
            .arg(&script)
            .args([base.as_str(), token, command, &args.to_string()])
            .output()
            .unwrap_or_else(|e| panic!("{} (scripts/setup.sh makes the venv): {e}", python.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "client.py {command} failed: {}\n{stdout}\nlog:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.btc.daemon.log()
        );
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("client.py {command}: {e}: {stdout}"))
    }

    async fn invoices(&self) -> Vec<Value> {
        let (status, v) = self.btc.call(Method::GET, "/v1/invoices", SHOP, None).await;
        assert_eq!(status, 200, "{v}");
        v["items"].as_array().unwrap().clone()
    }

    /// `GET /coingate/v2/orders/{id}` as it comes, every field.
    async fn raw_order(&self, id: u64) -> Value {
        let url = self.btc.daemon.url(&format!("/coingate/v2/orders/{id}"));
        let resp = reqwest::Client::new().get(url).header("Authorization", format!("Token {TOKEN}")).send().await;
        let resp = resp.unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    fn mine(&self, n: u64) {
        self.btc.mine(n).unwrap();
    }

    fn send(&self, address: &str, btc: &str) -> String {
        self.btc.send(address, btc.parse().unwrap()).unwrap()
    }

    async fn wait_order(&self, id: u64, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let o = self.client(TOKEN, "get", json!({"id": id}));
            if o["status"] == status {
                return o;
            }
            assert!(Instant::now() < deadline, "order {id} never {status}: {o:#}\nlog:\n{}", self.btc.daemon.log());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

fn form(r: &Received) -> BTreeMap<String, String> {
    paywatch_tests::compat::form(&r.body).into_iter().collect()
}

/// What the SDK raised: its exception's name, status and reason.
fn err(v: &Value) -> (Option<&str>, Option<u64>, Option<&str>) {
    (v["error"].as_str(), v["status_code"].as_u64(), v["reason"].as_str())
}

fn reason<'a>(exception: &'a str, status: u64, reason: &'a str) -> (Option<&'a str>, Option<u64>, Option<&'a str>) {
    (Some(exception), Some(status), Some(reason))
}

#[tokio::test(flavor = "multi_thread")]
async fn coingates_python_sdk_creates_reads_lists_pays_and_refunds_an_order() {
    let rig = Rig::start().await;
    let shop = Receiver::ok().await;
    let callback_url = shop.url("/?wc-api=wc_gateway_coingate");

    let created = rig.client(
        TOKEN,
        "create",
        json!({"price_amount": "25.00", "price_currency": "USD", "receive_currency": "BTC", "order_id": "1042",
               "title": "Shop Order #1042", "description": "1 x Book", "callback_url": callback_url,
               "success_url": "https://shop.example/thanks", "cancel_url": "https://shop.example/cancel",
               "token": "shop-secret-1042", "purchaser_email": "buyer@example.com"}),
    );
    let id = created["id"].as_u64().unwrap_or_else(|| panic!("an integer id: {created}"));
    assert_eq!(created["status"], "new");
    assert_eq!(created["order_id"], "1042");
    assert_eq!(created["token"], "shop-secret-1042");
    assert_eq!((created["price_amount"].as_str(), created["price_currency"].as_str()), (Some("25.00"), Some("USD")));
    let invoices = rig.invoices().await;
    assert_eq!(invoices.len(), 1);
    let invoice = &invoices[0];
    assert_eq!(created["payment_url"], invoice["checkout_url"], "payment_url is the checkout page");

    let read = rig.client(TOKEN, "get", json!({"id": id}));
    assert_eq!((read["status"].as_str(), read["order_id"].as_str()), (Some("new"), Some("1042")));
    assert!(read.get("token").is_none(), "the token is shown once: {read}");
    let listed = rig.client(TOKEN, "list", json!({"per_page": 10}));
    assert_eq!((listed["total_orders"].as_u64(), listed["total_pages"].as_u64()), (Some(1), Some(1)));
    assert_eq!(listed["orders"][0]["id"].as_u64(), Some(id));
    let today = &invoice["created_at"].as_str().unwrap()[..10];
    let since_today = rig.client(TOKEN, "list", json!({"created_from": today}));
    assert_eq!(since_today["total_orders"].as_u64(), Some(1), "{since_today}");
    let before = rig.client(TOKEN, "list", json!({"created_to": "2020-01-01"}));
    assert_eq!((before["total_orders"].as_u64(), before["orders"].as_array().map(Vec::len)), (Some(0), Some(0)));

    // The shop's checkout call picks BTC: the order is pending with the BTC address and amount.
    let checkout = rig.client(TOKEN, "checkout", json!({"id": id, "pay_currency": "BTC"}));
    assert_eq!((checkout["status"].as_str(), checkout["pay_currency"].as_str()), (Some("pending"), Some("BTC")));
    assert_eq!(checkout["pay_amount"], "0.0005", "25 USD at 50000");
    let address = checkout["payment_address"].as_str().unwrap().to_string();
    assert_eq!(address, invoice["payment_methods"][0]["address"]);
    assert_eq!(rig.client(TOKEN, "rate", json!({"from": "BTC", "to": "USD"}))["rate"], "50000");

    // Paid from the node's wallet: `confirming` from the mempool, `paid` at one confirmation.
    rig.send(&address, "0.0005");
    shop.wait("the confirming callback", |r| r.iter().any(|r| form(r)["status"] == "confirming")).await;
    rig.mine(1);
    let got = shop.wait("the paid callback", |r| r.iter().any(|r| form(r)["status"] == "paid")).await;
    let paid_cb = got.iter().find(|r| form(r)["status"] == "paid").unwrap();
    assert_eq!(paid_cb.method, "POST");
    assert_eq!(paid_cb.headers.get("content-type").map(String::as_str), Some("application/x-www-form-urlencoded"));
    let cb = form(paid_cb);
    assert_eq!(cb["token"], "shop-secret-1042", "the shop checks the order's token");
    let statuses: Vec<String> = got.iter().map(|r| form(r)["status"].clone()).collect();
    assert_eq!(statuses, ["confirming", "paid"], "one callback per status change");
    let order = rig.wait_order(id, "paid").await;
    assert_eq!((order["receive_amount"].as_str(), order["is_refundable"].as_bool()), (Some("0.0005"), Some(true)));
    // The SDK's model keeps only some fields: the callback is compared with the API's own read.
    let raw = rig.raw_order(id).await;
    for k in [
        "order_id",
        "status",
        "price_amount",
        "price_currency",
        "receive_currency",
        "receive_amount",
        "pay_amount",
        "pay_currency",
        "underpaid_amount",
        "overpaid_amount",
        "created_at",
    ] {
        assert_eq!(Some(cb[k].as_str()), raw[k].as_str(), "{k}: the callback says what the read says");
    }
    assert_eq!(cb["id"], id.to_string());
    assert_eq!(cb["is_refundable"], "true");

    // A refund of 10 USD of it to the customer's address, paid by the merchant's wallet.
    let customer = rig.btc.new_address().unwrap();
    let refund = rig.client(
        TOKEN,
        "refund",
        json!({"order_id": id, "amount": "10.00", "address": customer,
        "reason": "one book missing", "email": "buyer@example.com"}),
    );
    assert_eq!((refund["status"].as_str(), refund["refund_amount"].as_str()), (Some("pending"), Some("0.0002")));
    assert_eq!(refund["order"]["id"].as_u64(), Some(id));
    let refund_id = refund["id"].as_u64().unwrap();
    rig.send(&customer, "0.0002");
    rig.mine(1);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = rig.client(TOKEN, "get_refund", json!({"order_id": id, "id": refund_id}));
        if r["status"] == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "refund never completed: {r}\n{}", rig.btc.daemon.log());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let refunds = rig.client(TOKEN, "refunds", json!({"order_id": id}));
    assert_eq!(refunds["total_refunds"].as_u64(), Some(1));
    assert_eq!(refunds["refunds"][0]["crypto_address"], customer.as_str());
    assert_eq!(rig.client(TOKEN, "get", json!({"id": id}))["status"], "partially_refunded");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_coingates_errors_and_create_nothing() {
    let rig = Rig::start().await;
    let order = json!({"price_amount": "10", "price_currency": "USD", "receive_currency": "BTC", "order_id": "7"});

    let wrong = rig.client("cgtoken_wrong_wrong_wrong_wrong_wrong", "create", order.clone());
    assert_eq!(err(&wrong), reason("BadAuthTokenException", 401, "BadAuthToken"), "{wrong}");
    let missing = rig.client("", "create", order.clone());
    assert_eq!(err(&missing), reason("BadAuthTokenException", 401, "BadAuthToken"), "{missing}");
    // The store's own paywatch key is not its CoinGate token.
    let v1_key = rig.client(SHOP, "create", order.clone());
    assert_eq!(err(&v1_key), reason("BadAuthTokenException", 401, "BadAuthToken"), "{v1_key}");

    let mut unknown = order.clone();
    unknown["price_currency"] = json!("XYZ");
    let e = rig.client(TOKEN, "create", unknown);
    assert_eq!(err(&e), reason("OrderIsNotValidException", 422, "OrderIsNotValid"), "{e}");
    assert!(e["errors"].to_string().contains("XYZ"), "the error names the currency: {e}");
    // A currency the store has no rate for (its rules price in USD only): paywatch's 503, which
    // CoinGate's SDK raises as its generic ApiException.
    let mut no_rate = order.clone();
    no_rate["price_currency"] = json!("EUR");
    let e = rig.client(TOKEN, "create", no_rate);
    assert_eq!(err(&e), reason("ApiException", 503, "RateUnavailable"), "{e}");
    assert!(e["message"].as_str().unwrap_or_default().contains("EUR"), "{e}");
    let mut bad_price = order.clone();
    bad_price["price_amount"] = json!("-3");
    let e = rig.client(TOKEN, "create", bad_price);
    assert_eq!(err(&e), reason("OrderIsNotValidException", 422, "OrderIsNotValid"), "{e}");
    assert!(e["errors"].to_string().contains("-3"), "{e}");
    let mut cents = order.clone();
    cents["price_amount"] = json!("10.001");
    let e = rig.client(TOKEN, "create", cents);
    assert_eq!(err(&e), reason("OrderIsNotValidException", 422, "OrderIsNotValid"), "{e}");
    assert!(e["errors"].to_string().contains("10.001"), "{e}");
    let mut bad_url = order.clone();
    bad_url["callback_url"] = json!("ftp://shop.example/cb");
    let e = rig.client(TOKEN, "create", bad_url);
    assert_eq!(err(&e), reason("OrderIsNotValidException", 422, "OrderIsNotValid"), "{e}");
    assert!(rig.invoices().await.is_empty(), "nothing was created");

    let e = rig.client(TOKEN, "get", json!({"id": 999}));
    assert_eq!(err(&e), reason("OrderNotFoundException", 404, "OrderNotFound"), "{e}");
    let e = rig.client(TOKEN, "checkout", json!({"id": 999, "pay_currency": "BTC"}));
    assert_eq!(err(&e), reason("OrderNotFoundException", 404, "OrderNotFound"), "{e}");

    let e = rig.client(TOKEN, "list", json!({}));
    assert_eq!(e["total_orders"].as_u64(), Some(0), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_orders_other_stores_and_a_cancelled_order() {
    let rig = Rig::start().await;
    let order = json!({"price_amount": "10", "price_currency": "USD", "receive_currency": "BTC", "order_id": "7"});
    // A JSON body works as the form does; an order of another token is not found.
    let url = rig.btc.daemon.url("/coingate/v2/orders");
    let http = reqwest::Client::new();
    let shop = Receiver::ok().await;
    let mut order = order.clone();
    order["callback_url"] = json!(shop.url("/cb"));
    let resp = http.post(&url).header("Authorization", format!("Token {TOKEN}")).json(&order).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let made: Value = resp.json().await.unwrap();
    assert_eq!((made["status"].as_str(), made["order_id"].as_str()), (Some("new"), Some("7")));
    // Another store's token reads its own orders only.
    let id = made["id"].as_u64().unwrap();
    let e = rig.client(OTHER_TOKEN, "get", json!({"id": id}));
    assert_eq!(err(&e), reason("OrderNotFoundException", 404, "OrderNotFound"), "{e}");
    assert_eq!(rig.client(OTHER_TOKEN, "list", json!({}))["total_orders"].as_u64(), Some(0));
    let e = rig.client(
        OTHER_TOKEN,
        "refund",
        json!({"order_id": id, "amount": "1", "address": "", "reason": "x",
        "email": "a@b.c"}),
    );
    assert_eq!(err(&e), reason("OrderNotFoundException", 404, "OrderNotFound"), "{e}");
    let mine = rig.client(TOKEN, "get", json!({"id": id}));
    assert_eq!(mine["order_id"], "7");
    // Nothing was paid: no refund of it.
    let e = rig.client(
        TOKEN,
        "refund",
        json!({"order_id": id, "amount": "1", "address": "", "reason": "x",
        "email": "a@b.c"}),
    );
    assert_eq!(err(&e), reason("RefundIsNotValidException", 422, "RefundIsNotValid"), "{e}");
    // Cancelled by the shop through paywatch's own API: CoinGate's `canceled`, called back
    // with the token made for it (the shop gave none).
    let invoice = rig.invoices().await[0]["id"].as_str().unwrap().to_string();
    let (status, v) = rig.btc.call(Method::POST, &format!("/v1/invoices/{invoice}/cancel"), SHOP, None).await;
    assert_eq!(status, 200, "{v}");
    let got = shop.wait("the canceled callback", |r| !r.is_empty()).await;
    let cb = form(&got[0]);
    assert_eq!((cb["status"].as_str(), cb["order_id"].as_str()), ("canceled", "7"));
    assert_eq!(Some(cb["token"].as_str()), made["token"].as_str());
    assert_eq!(made["token"].as_str().map(str::len), Some(30));
    assert_eq!(rig.client(TOKEN, "get", json!({"id": id}))["status"], "canceled");
    let ping = rig.client("", "ping", json!({}));
    assert_eq!(ping["ping"], "pong", "public, as CoinGate's: {ping}");
    let resp = http.get(rig.btc.daemon.url("/coingate/v2/auth/test")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200, "CoinGate's PHP library sends Bearer");
    let resp = http.get(rig.btc.daemon.url("/coingate/v2/nothing")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["reason"], "PageNotFound");
}

/// Review (issue 18): what another store's token, or a careless parser, can make the API do.
#[tokio::test(flavor = "multi_thread")]
async fn attacks_on_the_api_are_refused_and_leak_nothing() {
    let rig = Rig::start().await;
    let shop = Receiver::ok().await;
    let http = reqwest::Client::new();
    let url = |p: &str| rig.btc.daemon.url(&format!("/coingate/v2{p}"));
    let mut answers: Vec<String> = Vec::new();
    let post = |path: String, token: &'static str, body: Value| {
        let req = http.post(url(&path)).header("Authorization", format!("Token {token}")).form(&body_pairs(&body));
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            (status, serde_json::from_str::<Value>(&text).unwrap_or(json!({ "text": text })))
        }
    };
    let get = |path: String, token: &'static str| {
        let req = http.get(url(&path)).header("Authorization", format!("Token {token}"));
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            (status, serde_json::from_str::<Value>(&text).unwrap_or(json!({ "text": text })))
        }
    };

    // The victim's order, whose shop-given fields look like more form fields.
    let (status, made) = post(
        "/orders".into(),
        TOKEN,
        json!({"price_amount": "25", "price_currency": "USD", "order_id": "77&status=paid",
               "token": "tok&status=paid&token=x", "callback_url": shop.url("/cb")}),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    let id = made["id"].as_u64().unwrap();

    // Another store's token reaches none of it, by any spelling of the id.
    for path in [
        format!("/orders/{id}"),
        format!("/orders/+{id}"),
        format!("/orders/0{id}"),
        format!("/orders/{id}/refunds"),
        format!("/orders/{id}/refunds/1"),
    ] {
        let (status, v) = get(path.clone(), OTHER_TOKEN).await;
        assert_eq!(status, 404, "{path}: {v}");
        answers.push(v.to_string());
    }
    let (status, v) = post(format!("/orders/{id}/checkout"), OTHER_TOKEN, json!({"pay_currency": "BTC"})).await;
    assert_eq!(status, 404, "{v}");
    let (_, v) = get("/orders".into(), OTHER_TOKEN).await;
    assert_eq!(v["total_orders"], 0, "{v}");

    // Prices a careless parser would take: none makes an invoice, none is a 500.
    let huge = "9".repeat(80);
    for price in
        ["0", "-1", "1e5", "0x10", "10,5", "NaN", "١٠", "１０", huge.as_str(), "0.0000000000000000000000000001"]
    {
        let (status, v) = post("/orders".into(), TOKEN, json!({"price_amount": price, "price_currency": "USD"})).await;
        assert_eq!(status, 422, "{price}: {v}");
        answers.push(v.to_string());
    }
    let json_post = |body: String| {
        // A fresh connection each (no reuse of one the server may be closing).
        let req = reqwest::Client::new()
            .post(url("/orders"))
            .header("Authorization", format!("Token {TOKEN}"))
            .header("content-type", "application/json")
            .body(body);
        async move { req.send().await.map(|r| r.status().as_u16()).unwrap_or_else(|e| panic!("{e:?}")) }
    };
    for body in [
        r#"{"price_amount": 1e400, "price_currency": "USD"}"#.to_string(),
        r#"{"price_amount": 1e-7, "price_currency": "USD"}"#.to_string(),
        r#"{"price_amount": 123456789012345678901234567890, "price_currency": "USD"}"#.to_string(),
        r#"{"price_amount": "10", "price_currency": ["USD"]}"#.to_string(),
        format!(
            r#"{{"price_amount": "10", "price_currency": "USD", "x": {}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
        format!(r#"{{"price_amount": "10", "price_currency": "USD", "x": {}}}"#, "[".repeat(5000)),
    ] {
        let status = json_post(body.clone()).await;
        assert!(matches!(status, 400 | 413 | 422), "{status} for {}", &body[..body.len().min(80)]);
    }
    // Callback URLs the SSRF guard refuses, and a shop token too long to keep.
    let mut accepted = Vec::new();
    for cb in [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/cb",
        "http://[::1]/cb",
        "http://0x7f000002/cb",
        "http://[::ffff:10.0.0.1]/cb",
        "http://0.0.0.0/cb",
        "http://0/cb",
        "http://[::]/cb",
        "http://[fd00::1]/cb",
        "http://[fe80::1]/cb",
        "http://100.64.0.1/cb",
        "http://[64:ff9b::a00:1]/cb",
        "http://[2002:a00:1::]/cb",
        "http://192.168.0.1./cb",
        "http://224.0.0.1/cb",
        "http://255.255.255.255/cb",
        "gopher://127.0.0.1:6379/_x",
    ] {
        let (status, v) =
            post("/orders".into(), TOKEN, json!({"price_amount": "1", "price_currency": "USD", "callback_url": cb}))
                .await;
        if status != 422 {
            accepted.push(cb);
        }
        answers.push(v.to_string());
    }
    assert!(accepted.is_empty(), "callback URLs to private/special addresses accepted: {accepted:?}");
    let long = "t".repeat(256);
    let (status, _) =
        post("/orders".into(), TOKEN, json!({"price_amount": "1", "price_currency": "USD", "token": long})).await;
    assert_eq!(status, 422);
    assert_eq!(rig.invoices().await.len(), 1, "a refused order made nothing");

    // A short payment: `pending` with what is still owed, never `paid`, even confirmed.
    let (_, chosen) = post(format!("/orders/{id}/checkout"), TOKEN, json!({"pay_currency": "BTC"})).await;
    let address = chosen["payment_address"].as_str().unwrap().to_string();
    rig.send(&address, "0.0002");
    let got = shop.wait("the pending callback", |r| !r.is_empty()).await;
    rig.mine(1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, order) = get(format!("/orders/{id}"), TOKEN).await;
    assert_eq!((order["status"].as_str(), order["underpaid_amount"].as_str()), (Some("pending"), Some("0.0003")));
    for r in shop.received() {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(r.body.as_bytes()).into_owned().collect();
        let one = |k: &str| pairs.iter().filter(|(n, _)| n == k).map(|(_, v)| v.clone()).collect::<Vec<_>>();
        assert_eq!(one("status"), ["pending"], "{}", r.body);
        assert_eq!(one("token"), ["tok&status=paid&token=x"], "{}", r.body);
        assert_eq!(one("order_id"), ["77&status=paid"], "{}", r.body);
    }
    assert!(!got.is_empty());

    // Refunds: never more than was paid (10 USD), never to an address of another chain or
    // network, never negative; another store's token cannot make one.
    for (amount, address) in [
        ("10.01", ""),
        ("1000000", ""),
        ("-1", ""),
        ("0", ""),
        ("1", "0x52908400098527886E0F7030069857D2E4169EE7"),
        ("1", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
        ("1", "not an address"),
    ] {
        let body = json!({"amount": amount, "address": address});
        let (status, v) = post(format!("/orders/{id}/refunds"), TOKEN, body.clone()).await;
        assert_eq!(status, 422, "{amount} to {address:?}: {v}");
        answers.push(v.to_string());
        // (A malformed one is 422 for any id: it says nothing of the order.)
        let (status, v) = post(format!("/orders/{id}/refunds"), OTHER_TOKEN, body).await;
        assert!(matches!(status, 404 | 422), "{v}");
    }
    // Nor while the order is still open (`pending`: it takes more payment). Refunding the 10 USD
    // paid so far would leave the invoice counting them: the customer then pays the 15 USD
    // still due, the order is called back `paid` and the shop ships a 25 USD order for 15.
    // CoinGate refunds paid orders only (`is_refundable`).
    let (status, v) = post(format!("/orders/{id}/refunds"), TOKEN, json!({"amount": "10", "address": ""})).await;
    assert_eq!(status, 422, "a refund of an open order: {v}");
    let (_, v) = get(format!("/orders/{id}/refunds"), TOKEN).await;
    assert_eq!(v["total_refunds"], 0, "{v}");

    // No store of this daemon answers CoinPayments: its API is not there (404), as CoinGate's
    // is not when no store has it.
    let r = http
        .post(rig.btc.daemon.url("/coinpayments/api.php"))
        .header("HMAC", "00")
        .body("version=1&cmd=get_basic_info&key=anything&format=json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "{:?}", r.text().await);

    // No answer or log line carries a token.
    let log = rig.btc.daemon.log();
    for secret in [TOKEN, OTHER_TOKEN] {
        for a in &answers {
            assert!(!a.contains(secret), "a token in {a}");
        }
        assert!(!log.contains(secret), "a token in the daemon log");
    }

    // Guessing tokens is limited like guessing API keys: past the burst, 429
    // RateLimitException (last: it blocks this client).
    let mut statuses = Vec::new();
    for i in 0..40 {
        let r = http.get(url("/auth/test")).header("Authorization", format!("Token guess{i}")).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["reason"], "RateLimitException", "{v}");
        }
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

/// A JSON object's fields as form pairs (strings as they are, others as JSON text).
fn body_pairs(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect()
}

/// Review (issue 18): a client that goes away mid-request (a timeout, a closed tab, a proxy's
/// limit) never leaves an invoice that is not a readable CoinGate order: its callbacks would
/// name an order id the shop's read-back cannot find.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_gone_mid_request_leaves_no_order_without_its_number() {
    use tokio::io::AsyncWriteExt;
    let rig = Rig::start().await;
    let body = "price_amount=10&price_currency=USD";
    let request = format!(
        "POST /coingate/v2/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Token {TOKEN}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    for i in 0..60u64 {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", rig.btc.daemon.port)).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_micros(200 * (i % 30))).await;
        drop(s);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let invoices = rig.invoices().await;
    assert!(!invoices.is_empty(), "some requests reached the handler before their client left");
    let mut orphans = Vec::new();
    for inv in &invoices {
        let n = inv["gateway"]["data"]["id"].as_u64().unwrap();
        let url = rig.btc.daemon.url(&format!("/coingate/v2/orders/{n}"));
        let r = reqwest::Client::new().get(url).header("Authorization", format!("Token {TOKEN}")).send().await;
        if r.unwrap().status() != 200 {
            orphans.push(n);
        }
    }
    assert!(orphans.is_empty(), "{} of {} invoices are no readable order: {orphans:?}", orphans.len(), invoices.len());
}

/// Review (issue 18): one store's order and refund numbers say nothing of another's. With one
/// counter for every store, a store that makes an order now and then reads from the gap
/// between its ids how many orders the other stores of the daemon took, and when.
#[tokio::test(flavor = "multi_thread")]
async fn order_numbers_do_not_count_another_stores_orders() {
    let rig = Rig::start().await;
    let http = reqwest::Client::new();
    let make = |token: &'static str| {
        let req = http
            .post(rig.btc.daemon.url("/coingate/v2/orders"))
            .header("Authorization", format!("Token {token}"))
            .form(&[("price_amount", "10"), ("price_currency", "USD")]);
        async move {
            let v: Value = req.send().await.unwrap().json().await.unwrap();
            v["id"].as_u64().unwrap_or_else(|| panic!("{v}"))
        }
    };
    let first = make(OTHER_TOKEN).await;
    let mine: Vec<u64> = futures::future::join_all((0..5).map(|_| make(TOKEN))).await;
    let next = make(OTHER_TOKEN).await;
    assert_eq!(next, first + 1, "the other store's ids skipped the 5 orders of this one ({mine:?})");
    // Each store still reads its own orders by its numbers, and not the other's.
    let read = |token: &'static str, n: u64| {
        let req = http
            .get(rig.btc.daemon.url(&format!("/coingate/v2/orders/{n}")))
            .header("Authorization", format!("Token {token}"));
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    for n in &mine {
        assert_eq!(read(TOKEN, *n).await.0, 200);
    }
    for n in [first, next] {
        let (status, v) = read(OTHER_TOKEN, n).await;
        assert_eq!((status, v["id"].as_u64()), (200, Some(n)), "{v}");
    }
    let (_, listed) = read(TOKEN, 0).await;
    assert_eq!(listed["reason"], "OrderNotFound");
    let (status, v) = http
        .get(rig.btc.daemon.url("/coingate/v2/orders"))
        .header("Authorization", format!("Token {OTHER_TOKEN}"))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(status, 200);
    let v: Value = v.json().await.unwrap();
    assert_eq!(v["total_orders"], 2, "{v}");
}

/// Review (issue 18): refunding what a customer paid so far on an open order, then letting them
/// pay the rest, must not end in a `paid` callback for an order the merchant got part of.
#[tokio::test(flavor = "multi_thread")]
async fn a_refund_of_an_open_order_never_ends_in_a_paid_callback_for_less() {
    let rig = Rig::start().await;
    let shop = Receiver::ok().await;
    let http = reqwest::Client::new();
    let auth = format!("Token {TOKEN}");
    let made: Value = http
        .post(rig.btc.daemon.url("/coingate/v2/orders"))
        .header("Authorization", &auth)
        .form(&[("price_amount", "25"), ("price_currency", "USD"), ("callback_url", &shop.url("/cb"))])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = made["id"].as_u64().unwrap();
    let invoice = &rig.invoices().await[0];
    let address = invoice["payment_methods"][0]["address"].as_str().unwrap().to_string();
    // 10 USD of 25 paid: pending.
    rig.send(&address, "0.0002");
    shop.wait("the pending callback", |r| r.iter().any(|r| form(r)["status"] == "pending")).await;
    rig.mine(1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The merchant refunds those 10 USD (the customer asked to cancel) and pays the refund.
    let customer = rig.btc.new_address().unwrap();
    let r = http
        .post(rig.btc.daemon.url(&format!("/coingate/v2/orders/{id}/refunds")))
        .header("Authorization", &auth)
        .form(&[("amount", "10"), ("address", customer.as_str())])
        .send()
        .await
        .unwrap();
    if r.status() != 200 {
        assert_eq!(r.status(), 422, "refused as CoinGate refuses it");
        return;
    }
    let refund: Value = r.json().await.unwrap();
    rig.send(&customer, refund["refund_amount"].as_str().unwrap());
    rig.mine(1);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v: Value = http
            .get(rig.btc.daemon.url(&format!("/coingate/v2/orders/{id}/refunds")))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["refunds"][0]["status"] == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "the refund never completed: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The customer pays what the order still asks (15 USD), and it confirms.
    let order = rig.raw_order(id).await;
    let rest = order["underpaid_amount"].as_str().unwrap().to_string();
    rig.send(&address, &rest);
    rig.mine(1);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let statuses: Vec<String> = shop.received().iter().map(|r| form(r)["status"].clone()).collect();
    assert!(
        !statuses.iter().any(|s| s == "paid"),
        "called back paid for a 25 USD order the merchant kept 15 USD of ({rest} BTC after a 10 USD refund): {statuses:?}, read: {}",
        rig.raw_order(id).await
    );
}
