//! CoinPayments' `api.php`, end to end with its published clients, unmodified (npm, pinned
//! with integrity hashes in `tests/compat/coinpayments/package-lock.json`; PyPI, pinned by
//! sha256 in its `requirements.txt`): the `coinpayments` client (2.2.0) makes a transaction and
//! reads it, the regtest node's wallet pays it, a real local receiver gets paywatch's IPNs, and
//! the `coinpayments-ipn` verifier (1.0.0) accepts them and refuses tampered ones; the client's
//! last read says 100, and so does `pycoinpayments` (1.0.0), which makes another. Then bad
//! requests (another key's HMAC, a captured body with a changed amount, a replayed nonce, an
//! unknown currency) get CoinPayments' error envelope and create nothing.
//!
//! Neither client takes a base URL: each is pointed at paywatch through its one endpoint
//! constant, as `client.js` and `client.py` say. The `coinpayments` client speaks HTTPS only:
//! the daemon serves TLS with a test certificate the clients are told to trust
//! (NODE_EXTRA_CA_CERTS, SSL_CERT_FILE).

use bitcoincore_rpc::RpcApi;
use hmac::{Hmac, Mac};
use paywatch_tests::btc::btc_chains;
use paywatch_tests::daemon::{config_with_chains, install_plugins, Daemon};
use paywatch_tests::nodes::Bitcoind;
use paywatch_tests::receiver::{Received, Receiver};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

const SHOP_KEY: &str = "shop_cp_Vb7Qe2LxN9sKd4RtYh6WmZp3";
const PUBLIC: &str = "5f1c0e64b7a2d9f3c8e1a7b6d5c4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6";
const PRIVATE: &str = "A9f8E7d6C5b4A3f2E1d0C9b8A7f6E5d4C3b2A1f0E9d8C7b6A5f4E3d2C1b0A9f8";
const MERCHANT: &str = "3f9d2c1b0a9e8d7c6b5a4f3e2d1c0b9a";
const IPN_SECRET: &str = "Zt7pQ2vL9xR4mK8sW1yB6nC3fH5jD0aE";
/// A second store answering CoinPayments, with keys of its own.
const OTHER_SHOP_KEY: &str = "shop_cp_other_Hq2Wd8Kz5Nv1Ls7Yb4Rm";
const OTHER_PUBLIC: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
const OTHER_PRIVATE: &str = "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8L9z0X1c2V3b4N5m6Q7w8E9r0T1y2";
const OTHER_IPN_SECRET: &str = "Mn4Bv7Cx1Zl8Kj5Hg2Fd9Sa3Po6Iu0Yt";

/// The store: BTC from a test tpub (P2PKH, which the node's wallet pays), USD prices from a
/// fixed source, and its CoinPayments keys.
fn store() -> String {
    format!(
        r#"
[dispatch]
allow_private = ["127.0.0.1/32"]
retry_schedule = ["1s", "1s", "1s", "1s", "1s"]

[rates.sources.fixed_usd]
fixed = {{ BTC_USD = "50000" }}

[[stores]]
id = "cp"
api_key = "{SHOP_KEY}"
speed = 1
[stores.receive.BTC]
descriptor = "pkh(tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp/0/*)"
[stores.rates]
rules = [{{ pair = "*_USD", sources = ["fixed_usd"] }}]
[stores.coinpayments]
public_key = "{PUBLIC}"
private_key = "{PRIVATE}"
merchant_id = "{MERCHANT}"
ipn_secret = "{IPN_SECRET}"

[[stores]]
id = "cp-other"
api_key = "{OTHER_SHOP_KEY}"
[stores.receive.BTC]
descriptor = "pkh(tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp/1/*)"
[stores.rates]
rules = [{{ pair = "*_USD", sources = ["fixed_usd"] }}]
[stores.coinpayments]
public_key = "{OTHER_PUBLIC}"
private_key = "{OTHER_PRIVATE}"
merchant_id = "other-merchant"
ipn_secret = "{OTHER_IPN_SECRET}"
"#
    )
}

struct Rig {
    node: Bitcoind,
    daemon: Daemon,
    cert: PathBuf,
    miner: String,
}

/// A funded regtest node, and the daemon following it over HTTPS with the bitcoin and
/// coinpayments plugins.
async fn rig() -> Rig {
    let node = tokio::task::spawn_blocking(Bitcoind::start).await.unwrap().unwrap();
    let miner: String = node.rpc().call("getnewaddress", &[]).unwrap();
    node.rpc().call::<Vec<String>>("generatetoaddress", &[101.into(), miner.clone().into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    install_plugins(dir.path(), &[paywatch_tests::plugin_lib("bitcoin"), paywatch_tests::plugin_lib("coinpayments")])
        .unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let port = paywatch_tests::free_port();
    let config = config_with_chains(dir.path(), port, &btc_chains(&node, 1, true), &store()).replacen(
        "[server]\n",
        &format!("[server]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n", cert_path.display(), key_path.display()),
        1,
    );
    let config_path = dir.path().join("paywatch.toml");
    std::fs::write(&config_path, config).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .https_only(true)
        .build()
        .unwrap();
    let daemon = Daemon::start_with(dir, port, config_path, http, true).await.unwrap();
    let best: String = node.rpc().call("getbestblockhash", &[]).unwrap();
    daemon.wait_chain_at("btc", &best).await.unwrap();
    Rig { node, daemon, cert: cert_path, miner }
}

impl Rig {
    /// paywatch's CoinPayments API, as the client is given it.
    fn api_url(&self) -> String {
        format!("https://localhost:{}/coinpayments/api.php", self.daemon.port)
    }

    /// One call of the published client: its result, or the error it raised.
    fn client(&self, call: &str, args: Value) -> Result<Value, String> {
        let script = paywatch_tests::workspace_root().join("tests/compat/coinpayments/client.js");
        let out = Command::new("node")
            .arg(script)
            .args([self.api_url().as_str(), PUBLIC, PRIVATE, call, &args.to_string()])
            .env("NODE_PATH", paywatch_tests::compat::node_modules("coinpayments"))
            .env("NODE_EXTRA_CA_CERTS", &self.cert)
            .output()
            .unwrap_or_else(|e| panic!("node (scripts/setup.sh installs it): {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("client.js {call}: {e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
        match v.get("error") {
            Some(e) => Err(e.as_str().unwrap_or_default().to_string()),
            None => Ok(v["result"].clone()),
        }
    }

    /// One call of the published Python client (`client.py`): CoinPayments' answer, its
    /// `result` merged into the top level beside `error`.
    async fn py(&self, call: &str, params: Value) -> Value {
        let cert = self.cert.display().to_string();
        let args = [self.api_url(), PUBLIC.into(), PRIVATE.into(), call.into(), params.to_string()];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        paywatch_tests::compat::run("coinpayments", "client.py", &args, &[("SSL_CERT_FILE", &cert)]).await.unwrap()
    }

    /// A raw command: `fields` form-encoded, signed with `key` (none: no HMAC header); the
    /// daemon's HTTP status and JSON answer.
    async fn raw(&self, body: &str, hmac: Option<&str>) -> (u16, Value) {
        let mut req = self.daemon.http.post(self.daemon.url("/coinpayments/api.php")).body(body.to_string());
        req = req.header("content-type", "application/x-www-form-urlencoded");
        if let Some(h) = hmac {
            req = req.header("HMAC", h);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or_else(|_| json!({"not_json": text})))
    }

    async fn invoice_count(&self) -> usize {
        let (status, v) = self.daemon.call(Method::GET, "/v1/invoices", SHOP_KEY, None).await;
        assert_eq!(status, 200, "{v}");
        v["items"].as_array().unwrap().len()
    }
}

fn sign(key: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The published verifier's verdict on each (body, HMAC header, secret).
fn verify_ipns(cases: &[(&str, &str, &str)]) -> Vec<Value> {
    use std::io::Write;
    let script = paywatch_tests::workspace_root().join("tests/compat/coinpayments/ipn.js");
    let mut child = Command::new("node")
        .arg(script)
        .env("NODE_PATH", paywatch_tests::compat::node_modules("coinpayments"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input: Vec<Value> = cases.iter().map(|(b, h, s)| json!({"body": b, "hmac": h, "secret": s})).collect();
    child.stdin.take().unwrap().write_all(Value::from(input).to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

fn fields(r: &Received) -> Vec<(String, String)> {
    paywatch_tests::compat::form(&r.body)
}

fn field(r: &Received, name: &str) -> String {
    fields(r).into_iter().find(|(k, _)| k == name).map(|(_, v)| v).unwrap_or_else(|| panic!("no {name}: {}", r.body))
}

#[tokio::test]
async fn the_published_client_makes_and_reads_a_transaction_paid_on_regtest_and_its_ipns_verify() {
    let rig = rig().await;
    let shop = Receiver::ok().await;

    let info = rig.client("getBasicInfo", json!(null)).unwrap();
    assert_eq!((info["merchant_id"].as_str(), info["username"].as_str()), (Some(MERCHANT), Some("cp")));
    let rates = rig.client("rates", json!({})).unwrap();
    assert_eq!(rates["BTC"]["is_fiat"], 0, "{rates}");
    assert_eq!(rates["USD"]["is_fiat"], 1, "{rates}");
    assert_eq!(rates["USD"]["rate_btc"], "0.00002", "1 USD at 50000 USD per BTC: {rates}");
    // The client passes a nonce through to the form: accepted once, its replay refused.
    assert!(rig.client("rates", json!({"nonce": 41})).is_ok());
    let again = rig.client("rates", json!({"nonce": 41})).unwrap_err();
    assert!(again.contains("Nonce already used"), "{again}");

    let tx = rig
        .client(
            "createTransaction",
            json!({"amount": 25, "currency1": "USD", "currency2": "BTC", "buyer_email": "ada@example.com",
                   "buyer_name": "Ada L", "item_name": "Blue mug", "item_number": "SKU-9", "invoice": "1042",
                   "custom": "user-7", "ipn_url": shop.url("/cp/ipn"), "success_url": "https://shop.example/thanks",
                   "cancel_url": "https://shop.example/cart"}),
        )
        .unwrap();
    let txn = tx["txn_id"].as_str().unwrap().to_string();
    assert_eq!(tx["amount"], "0.0005", "25 USD at 50000: {tx}");
    assert_eq!(tx["confirms_needed"], "1");
    assert!(tx["timeout"].as_i64().unwrap() > 0, "{tx}");
    let checkout = tx["checkout_url"].as_str().unwrap();
    assert!(checkout.ends_with(&format!("/i/{txn}")), "{tx}");
    assert_eq!(tx["status_url"], tx["checkout_url"]);
    assert_eq!(tx["qrcode_url"], format!("{checkout}/qr/0.svg"));
    let qr = rig.daemon.http.get(rig.daemon.url(&format!("/i/{txn}/qr/0.svg"))).send().await.unwrap();
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");
    let address = tx["address"].as_str().unwrap().to_string();

    let before = rig.client("getTx", json!({"txid": txn})).unwrap();
    assert_eq!((before["status"].as_i64(), before["coin"].as_str()), (Some(0), Some("BTC")), "{before}");
    assert_eq!((before["amountf"].as_str(), before["amount"].as_u64()), (Some("0.00050000"), Some(50_000)));
    assert_eq!(
        (before["receivedf"].as_str(), before["payment_address"].as_str()),
        (Some("0.00000000"), Some(&*address))
    );

    // The node's wallet pays it; one block settles it.
    let _: String = rig.node.rpc().call("sendtoaddress", &[address.clone().into(), 0.0005.into()]).unwrap();
    shop.wait("the processing IPN", |g| g.iter().any(|r| field(r, "status") == "1")).await;
    let _: Vec<String> = rig.node.rpc().call("generatetoaddress", &[1.into(), rig.miner.clone().into()]).unwrap();
    let got = shop.wait("the complete IPN", |g| g.iter().any(|r| field(r, "status") == "100")).await;

    let mut ids = std::collections::BTreeSet::new();
    for r in &got {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/cp/ipn"));
        assert_eq!(r.headers["content-type"], "application/x-www-form-urlencoded");
        for (k, v) in [("ipn_mode", "hmac"), ("ipn_type", "api"), ("merchant", MERCHANT), ("txn_id", &txn)] {
            assert_eq!(field(r, k), v, "{}", r.body);
        }
        for (k, v) in [("currency1", "USD"), ("currency2", "BTC"), ("amount1", "25.00"), ("amount2", "0.0005")] {
            assert_eq!(field(r, k), v, "{}", r.body);
        }
        for (k, v) in
            [("invoice", "1042"), ("custom", "user-7"), ("item_name", "Blue mug"), ("email", "ada@example.com")]
        {
            assert_eq!(field(r, k), v, "{}", r.body);
        }
        ids.insert(field(r, "ipn_id"));
    }
    assert_eq!(ids.len(), got.len(), "one ipn_id per notification");
    let done = got.iter().find(|r| field(r, "status") == "100").unwrap();
    assert_eq!((field(done, "status_text"), field(done, "received_amount")), ("Complete".into(), "0.0005".into()));
    assert_eq!(field(done, "received_confirms"), "1");

    // The published verifier accepts every IPN, and refuses a tampered body, another secret's
    // HMAC and a made-up one.
    let hmac = &done.headers["hmac"];
    let cheaper = done.body.replace("amount1=25.00", "amount1=2.50");
    assert_ne!(cheaper, done.body);
    let forged = sign("another secret", &done.body);
    let cases: Vec<(&str, &str, &str)> = got
        .iter()
        .map(|r| (r.body.as_str(), r.headers["hmac"].as_str(), IPN_SECRET))
        .chain([
            (cheaper.as_str(), hmac.as_str(), IPN_SECRET),
            (done.body.as_str(), hmac.as_str(), "another secret"),
            (done.body.as_str(), forged.as_str(), IPN_SECRET),
        ])
        .collect();
    let verdicts = verify_ipns(&cases);
    let n = got.len();
    assert!(verdicts[..n].iter().all(|v| v["valid"] == true), "{verdicts:?}");
    assert!(verdicts[n..].iter().all(|v| v["valid"] == false), "{verdicts:?}");

    // The client's read says complete.
    let after = rig.client("getTx", json!({"txid": txn})).unwrap();
    assert_eq!((after["status"].as_i64(), after["status_text"].as_str()), (Some(100), Some("Complete")), "{after}");
    assert_eq!((after["receivedf"].as_str(), after["recv_confirms"].as_i64()), (Some("0.00050000"), Some(1)));
    let multi = rig.client("getTxMulti", json!([txn, "not-a-txn"])).unwrap();
    assert_eq!((multi[&txn]["error"].as_str(), multi[&txn]["status"].as_i64()), (Some("ok"), Some(100)), "{multi}");
    assert!(multi["not-a-txn"]["error"].as_str().unwrap().contains("not found"), "{multi}");

    // The published Python client reads it the same, and makes one priced in the coin.
    let read = rig.py("get_tx_info", json!({"txid": txn})).await;
    assert_eq!((read["error"].as_str(), read["status"].as_i64()), (Some("ok"), Some(100)), "{read}");
    let made = rig
        .py(
            "create_transaction",
            json!({"amount": "0.001", "currency1": "BTC", "currency2": "BTC",
                                         "buyer_email": "bob@example.com", "invoice": "1043"}),
        )
        .await;
    assert_eq!((made["error"].as_str(), made["amount"].as_str()), (Some("ok"), Some("0.001")), "{made}");
    let fresh = rig.py("get_tx_info", json!({"txid": made["txn_id"]})).await;
    // Without `invoice`, each transaction gets an order id of its own.
    for _ in 0..2 {
        let bare = rig.py("create_transaction", json!({"amount": "1", "currency1": "USD", "currency2": "BTC"})).await;
        assert_eq!(bare["error"], "ok", "{bare}");
        let (_, inv) = rig
            .daemon
            .call(Method::GET, &format!("/v1/invoices/{}", bare["txn_id"].as_str().unwrap()), SHOP_KEY, None)
            .await;
        assert!(inv["order_id"].as_str().unwrap().starts_with("coinpayments-0"), "{inv}");
    }
    assert_eq!(
        (fresh["status"].as_i64(), fresh["status_text"].as_str()),
        (Some(0), Some("Waiting for buyer funds..."))
    );
    let wrong = rig.py("get_tx_info", json!({"txid": "01936d5e-0000-7000-8000-000000000000"})).await;
    assert!(wrong["error"].as_str().unwrap().contains("not found"), "{wrong}");
}

#[tokio::test]
async fn bad_requests_get_coinpayments_errors_and_create_nothing() {
    let rig = rig().await;
    let create = |amount: &str, extra: &str| {
        format!("version=1&key={PUBLIC}&cmd=create_transaction&format=json&amount={amount}&currency1=USD&currency2=BTC&buyer_email=a%40b.c{extra}")
    };
    let refused = |v: &Value, says: &str| {
        assert!(v["error"].as_str().unwrap().contains(says), "{v}");
        assert_eq!(v["result"], json!([]), "{v}");
    };
    let body = create("10", "");
    for (hmac, says) in [
        (Some(sign("another private key", &body)), "HMAC signature does not match"),
        (None, "No HMAC signature sent"),
        (Some("zz".to_string()), "HMAC signature does not match"),
    ] {
        let (status, v) = rig.raw(&body, hmac.as_deref()).await;
        assert_eq!(status, 200);
        refused(&v, says);
    }
    // A captured request with its amount changed keeps an HMAC that no longer matches.
    let (_, v) = rig.raw(&create("1", ""), Some(&sign(PRIVATE, &body))).await;
    refused(&v, "HMAC signature does not match");
    // Another key, an unknown coin, a bad amount, a command not covered.
    let other = body.replace(PUBLIC, "unknown");
    refused(&rig.raw(&other, Some(&sign(PRIVATE, &other))).await.1, "Invalid API public key");
    let doge = create("10", "").replace("currency2=BTC", "currency2=DOGE");
    refused(&rig.raw(&doge, Some(&sign(PRIVATE, &doge))).await.1, "DOGE");
    let bad = create("ten", "");
    assert_ne!(rig.raw(&bad, Some(&sign(PRIVATE, &bad))).await.1["error"], "ok");
    let balances = format!("version=1&key={PUBLIC}&cmd=balances&format=json");
    refused(&rig.raw(&balances, Some(&sign(PRIVATE, &balances))).await.1, "Unsupported command");
    assert_eq!(rig.invoice_count().await, 0, "nothing was created");

    // With a nonce, a signed request is accepted once; a replay is refused.
    let once = create("10", "&invoice=77&nonce=1001");
    let (_, v) = rig.raw(&once, Some(&sign(PRIVATE, &once))).await;
    assert_eq!(v["error"], "ok", "{v}");
    refused(&rig.raw(&once, Some(&sign(PRIVATE, &once))).await.1, "Nonce already used");
    assert_eq!(rig.invoice_count().await, 1);
    // Without one, a captured body creates again (docs/compat.md: send nonces).
    let plain = create("10", "&invoice=78");
    for _ in 0..2 {
        assert_eq!(rig.raw(&plain, Some(&sign(PRIVATE, &plain))).await.1["error"], "ok");
    }
    assert_eq!(rig.invoice_count().await, 3);

    // The store's IPN endpoint is the coinpayments plugin's, its IPN secret never shown.
    let (status, eps) = rig.daemon.call(Method::GET, "/v1/endpoints", SHOP_KEY, None).await;
    assert_eq!(status, 200, "{eps}");
    assert!(eps.to_string().contains("coinpayments") && !eps.to_string().contains(IPN_SECRET), "{eps}");
}

/// A signed command of `public`/`private` with `fields` (form-encoded by the caller).
fn signed(public: &str, fields: &str) -> String {
    format!("version=1&key={public}&format=json&{fields}")
}

/// Review (issue 18): what an attacker with one store's keys, or none, can make the API say.
#[tokio::test]
async fn attacks_on_the_api_are_refused_and_leak_nothing() {
    let rig = rig().await;
    let shop = Receiver::ok().await;
    let ok = |v: &Value| assert_eq!(v["error"], "ok", "{v}");
    let not_ok = |v: &Value| assert_ne!(v["error"], "ok", "{v}");
    let mut answers: Vec<String> = Vec::new();

    // The victim store's transaction.
    let ipn = url::form_urlencoded::byte_serialize(shop.url("/ipn").as_bytes()).collect::<String>();
    // A shop-given field that looks like more form fields and a header.
    let custom = "x&status=100&received_amount=999\r\nHMAC: forged";
    let custom_enc = url::form_urlencoded::byte_serialize(custom.as_bytes()).collect::<String>();
    let body = signed(
        PUBLIC,
        &format!(
            "cmd=create_transaction&amount=25&currency1=USD&currency2=BTC&invoice=9001&ipn_url={ipn}&custom={custom_enc}"
        ),
    );
    let (_, made) = rig.raw(&body, Some(&sign(PRIVATE, &body))).await;
    ok(&made);
    let txn = made["result"]["txn_id"].as_str().unwrap().to_string();

    // Another store's keys never read it, singly or in a multi read.
    for cmd in [format!("cmd=get_tx_info&txid={txn}"), format!("cmd=get_tx_info_multi&txid={txn}")] {
        let b = signed(OTHER_PUBLIC, &cmd);
        let (_, v) = rig.raw(&b, Some(&sign(OTHER_PRIVATE, &b))).await;
        answers.push(v.to_string());
        assert!(!v.to_string().contains("\"status\""), "store B read store A's transaction: {v}");
    }
    // Store A's public key signed with store B's private key; B's key with A's signature; a
    // body naming both keys (the last counts, as PHP reads it) signed with the other's.
    let b = signed(PUBLIC, &format!("cmd=get_tx_info&txid={txn}"));
    not_ok(&rig.raw(&b, Some(&sign(OTHER_PRIVATE, &b))).await.1);
    let both = format!("key={PUBLIC}&{}", signed(OTHER_PUBLIC, &format!("cmd=get_tx_info&txid={txn}")));
    let (_, v) = rig.raw(&both, Some(&sign(OTHER_PRIVATE, &both))).await;
    assert!(!v.to_string().contains("\"status\""), "{v}");
    let both = format!("key={OTHER_PUBLIC}&{}", signed(PUBLIC, &format!("cmd=get_tx_info&txid={txn}")));
    assert!(!rig.raw(&both, Some(&sign(OTHER_PRIVATE, &both))).await.1.to_string().contains("\"status\""));

    // The HMAC: only the hex of the right MAC (either case) passes; not base64, not with a
    // prefix, not truncated, not with a second header after a wrong first.
    let good = sign(PRIVATE, &b);
    use base64::Engine;
    let raw = hex::decode(&good).unwrap();
    for bad in [
        base64::engine::general_purpose::STANDARD.encode(&raw),
        format!("0x{good}"),
        format!("sha512={good}"),
        good[..good.len() - 2].to_string(),
        format!("{good}00"),
        format!("{} ", &good[..good.len() - 1]),
    ] {
        let (_, v) = rig.raw(&b, Some(&bad)).await;
        assert_eq!(v["error"], "HMAC signature does not match", "{bad}: {v}");
    }
    ok(&rig.raw(&b, Some(&good.to_uppercase())).await.1);
    let r = rig
        .daemon
        .http
        .post(rig.daemon.url("/coinpayments/api.php"))
        .header("HMAC", sign("wrong", &b))
        .header("HMAC", &good)
        .body(b.clone())
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    not_ok(&v);

    // Amounts and codes a careless parser would take: none makes an invoice, none crashes it.
    let before = rig.invoice_count().await;
    let huge = "9".repeat(80);
    for amount in [
        "-1",
        "0",
        "0.00",
        "1e5",
        "1E5",
        "0x10",
        "10,5",
        "NaN",
        "inf",
        "١٠",
        "１０",
        huge.as_str(),
        "0.000000000000000000000000000001",
        "79228162514264337593543950336",
    ] {
        let enc = url::form_urlencoded::byte_serialize(amount.as_bytes()).collect::<String>();
        let b = signed(PUBLIC, &format!("cmd=create_transaction&amount={enc}&currency1=USD&currency2=BTC"));
        let (status, v) = rig.raw(&b, Some(&sign(PRIVATE, &b))).await;
        assert_eq!(status, 200, "{amount}: {v}");
        not_ok(&v);
        answers.push(v.to_string());
    }
    for (c1, c2) in [("USD", "btc"), ("USD", "BTC\u{0}"), ("US D", "BTC"), ("USD", "ETH"), ("", "BTC")] {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let b = signed(PUBLIC, &format!("cmd=create_transaction&amount=1&currency1={}&currency2={}", enc(c1), enc(c2)));
        let (_, v) = rig.raw(&b, Some(&sign(PRIVATE, &b))).await;
        answers.push(v.to_string());
        if v["error"] == "ok" {
            // Taken as BTC: then it really is a BTC transaction.
            assert_eq!(v["result"]["address"].as_str().map(|a| !a.is_empty()), Some(true), "{c1}/{c2}: {v}");
        }
    }
    // URLs the SSRF guard refuses, and pages that are not http(s).
    for (name, url) in [
        ("ipn_url", "http://169.254.169.254/latest/meta-data/"),
        ("ipn_url", "http://10.0.0.1/ipn"),
        ("ipn_url", "http://[::1]/ipn"),
        ("ipn_url", "http://0x7f000002/ipn"),
        ("ipn_url", "file:///etc/passwd"),
        ("ipn_url", "gopher://127.0.0.1:6379/_FLUSHALL"),
        ("success_url", "javascript:alert(1)"),
        ("cancel_url", "data:text/html,<script>alert(1)</script>"),
    ] {
        let enc = url::form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>();
        let b = signed(PUBLIC, &format!("cmd=create_transaction&amount=1&currency1=USD&currency2=BTC&{name}={enc}"));
        let (_, v) = rig.raw(&b, Some(&sign(PRIVATE, &b))).await;
        not_ok(&v);
        answers.push(v.to_string());
    }
    // Oversized shop fields (they ride in every event): refused, not half made.
    let big = "A".repeat(9000);
    let b = signed(PUBLIC, &format!("cmd=create_transaction&amount=1&currency1=USD&currency2=BTC&custom={big}"));
    not_ok(&rig.raw(&b, Some(&sign(PRIVATE, &b))).await.1);
    let long_invoice = "7".repeat(101);
    let b =
        signed(PUBLIC, &format!("cmd=create_transaction&amount=1&currency1=USD&currency2=BTC&invoice={long_invoice}"));
    not_ok(&rig.raw(&b, Some(&sign(PRIVATE, &b))).await.1);
    // A 10 000-field form and a 26-id multi read: answered, nothing made.
    let many: String = (0..10_000).map(|i| format!("&f{i}=x")).collect();
    let b = signed(PUBLIC, &format!("cmd=get_basic_info{many}"));
    let (status, v) = rig.raw(&b, Some(&sign(PRIVATE, &b))).await;
    assert!(status == 200 || status == 413, "{status} {v}");
    let ids = vec![txn.as_str(); 26].join("|");
    let b = signed(PUBLIC, &format!("cmd=get_tx_info_multi&txid={ids}"));
    not_ok(&rig.raw(&b, Some(&sign(PRIVATE, &b))).await.1);
    assert_eq!(rig.invoice_count().await, before, "a refused request made nothing");

    // A short payment is never "complete": half the coins, confirmed, read and notified as 0.
    let address = made["result"]["address"].as_str().unwrap().to_string();
    let _: String = rig.node.rpc().call("sendtoaddress", &[address.into(), 0.0002.into()]).unwrap();
    let _: Vec<String> = rig.node.rpc().call("generatetoaddress", &[1.into(), rig.miner.clone().into()]).unwrap();
    let read = signed(PUBLIC, &format!("cmd=get_tx_info&txid={txn}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let info = loop {
        let (_, v) = rig.raw(&read, Some(&sign(PRIVATE, &read))).await;
        if v["result"]["recv_confirms"] == 1 {
            break v["result"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "the payment was never seen confirmed: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    assert_eq!((info["status"].as_i64(), info["receivedf"].as_str()), (Some(0), Some("0.00020000")), "{info}");

    // Its IPNs: the fields are the shop's own values, the HMAC covers exactly the body sent,
    // and the shop-given `custom` cannot add fields or headers.
    let got = shop.wait("the payment's IPN", |g| g.iter().any(|r| field(r, "received_amount") == "0.0002")).await;
    for r in &got {
        assert_eq!(r.headers["hmac"], sign(IPN_SECRET, &r.body), "the HMAC is of the body sent");
        assert!(!r.headers.contains_key("hmac ") && r.headers.contains_key("hmac"));
        let f = fields(r);
        assert_eq!(f.iter().filter(|(k, _)| k == "status").count(), 1, "{}", r.body);
        assert_eq!(f.iter().filter(|(k, _)| k == "received_amount").count(), 1, "{}", r.body);
        assert_eq!(field(r, "custom"), custom);
        assert_ne!(field(r, "status"), "100", "a short payment is never complete: {}", r.body);
        answers.push(r.body.clone());
    }

    // No answer, IPN or log line carries a private key or an IPN secret.
    let log = rig.daemon.log();
    for secret in [PRIVATE, IPN_SECRET, OTHER_PRIVATE, OTHER_IPN_SECRET] {
        for a in &answers {
            assert!(!a.contains(secret), "a secret in {a}");
        }
        assert!(!log.contains(secret), "a secret in the daemon log");
    }

    // Guessing HMACs is limited like guessing API keys: past the burst, 429.
    let b = signed(PUBLIC, "cmd=get_basic_info");
    let mut statuses = Vec::new();
    for i in 0..40 {
        statuses.push(rig.raw(&b, Some(&format!("{i:0128x}"))).await.0);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    // As for API keys (api/limits.rs), a valid signature is never refused by it: a shop that
    // shares an address with a guesser keeps working; guessing a 512-bit MAC is hopeless.
    assert_eq!(rig.raw(&b, Some(&sign(PRIVATE, &b))).await.1["error"], "ok");
}

/// Review (issue 18), a finding in the core: paywatch's own refund API refunded what was paid
/// so far on an open invoice, and the invoice kept counting it. The customer
/// then pays the rest, and the CoinPayments transaction reads and notifies `100` "Complete"
/// with `received` the full amount, though the merchant kept less than the price. (Both the
/// CoinGate API and `/v1` refuse refunds of an invoice that still takes payment.)
#[tokio::test]
async fn a_refund_of_an_open_transaction_never_ends_complete_for_less() {
    let rig = rig().await;
    let shop = Receiver::ok().await;
    let ipn = url::form_urlencoded::byte_serialize(shop.url("/ipn").as_bytes()).collect::<String>();
    let body = signed(PUBLIC, &format!("cmd=create_transaction&amount=25&currency1=USD&currency2=BTC&ipn_url={ipn}"));
    let (_, made) = rig.raw(&body, Some(&sign(PRIVATE, &body))).await;
    let txn = made["result"]["txn_id"].as_str().unwrap().to_string();
    let address = made["result"]["address"].as_str().unwrap().to_string();
    // 10 USD of 25, confirmed.
    let _: String = rig.node.rpc().call("sendtoaddress", &[address.clone().into(), 0.0002.into()]).unwrap();
    let _: Vec<String> = rig.node.rpc().call("generatetoaddress", &[1.into(), rig.miner.clone().into()]).unwrap();
    let read = signed(PUBLIC, &format!("cmd=get_tx_info&txid={txn}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while rig.raw(&read, Some(&sign(PRIVATE, &read))).await.1["result"]["recv_confirms"] != 1 {
        assert!(std::time::Instant::now() < deadline, "the payment was never seen confirmed");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // The merchant refunds those 10 USD through paywatch's API and pays the refund.
    let customer: String = rig.node.rpc().call("getnewaddress", &[]).unwrap();
    let (status, refund) = rig
        .daemon
        .call(
            Method::POST,
            &format!("/v1/invoices/{txn}/refunds"),
            SHOP_KEY,
            Some(json!({"variant": "rate_then", "amount": "10", "address": customer})),
        )
        .await;
    // Refused while the invoice still takes payment: the refunded payment would keep counting.
    assert_eq!((status, refund["error"]["code"].as_str()), (409, Some("invoice_open")), "{refund}");
    // The customer pays the 15 USD still due: the transaction completes with all 25 kept.
    let _: String = rig.node.rpc().call("sendtoaddress", &[address.into(), 0.0003.into()]).unwrap();
    let _: Vec<String> = rig.node.rpc().call("generatetoaddress", &[1.into(), rig.miner.clone().into()]).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while rig.raw(&read, Some(&sign(PRIVATE, &read))).await.1["result"]["status"] != 100 {
        assert!(std::time::Instant::now() < deadline, "the paid transaction never completed");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}
