//! Invoices priced in the shop's currency, end to end: the real regtest node and anvil (with a
//! real ERC-20), the real binary with the shipped rate-source plugins (kraken, coinbase, ecb)
//! and the `fixed` source, and a local HTTP server playing the rate APIs in their real formats.
//! A USD invoice with BTC, ETH and a token, paid half in BTC and half in the token; underpaid
//! with the remainder in every method; a failing source and the fallback; every source stale;
//! a CNY invoice priced through a cross rate; refunds after the rate moved; bad input.

use bitcoincore_rpc::RpcApi;
use paywatch_tests::btc::btc_chains;
use paywatch_tests::daemon::{config_with_chains, Daemon, Launch};
use paywatch_tests::evm::{deploy_token, eth_chains, fresh_address, transfer_token, EthOptions, DEV0};
use paywatch_tests::nodes::{Anvil, Bitcoind};
use paywatch_tests::rate_api::{Api, RateApi};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SHOP: &str = "shop_fiat_qC4nR8vXw2LmT6yKp9HsDe3JuB";

/// The rate sources on `api` and a store pricing in USD and CNY: the token at a fixed 1 USD,
/// USD→CNY from the ECB, other CNY prices through USD, USD prices from Kraken then Coinbase.
fn pricing_config(api: &RateApi, eth_address: &str, token_addresses: &[String], ttl: u64) -> String {
    let list = token_addresses.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ");
    format!(
        r#"
[rates]
allow_private = ["127.0.0.1/32"]
timeout_secs = 2

[rates.sources.kraken]
plugin = "kraken"
base_url = "{base}"
ttl_secs = {ttl}
max_age_secs = {max_age}

[rates.sources.coinbase]
plugin = "coinbase"
base_url = "{base}"
ttl_secs = {ttl}
max_age_secs = {max_age}

[rates.sources.ecb]
plugin = "ecb"
base_url = "{base}"
ttl_secs = 60
max_age_secs = 400000

[rates.sources.peg]
fixed = {{ TOK_USD = "1" }}

[[stores]]
id = "shop-fiat"
api_key = "{SHOP}"
speed = 1
[stores.receive.BTC]
descriptor = "pkh(tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp/0/*)"
[stores.receive.ETH]
addresses = ["{eth}"]
[stores.receive.TOK]
addresses = [{list}]
[stores.rates]
rules = [
  {{ pair = "TOK_USD", sources = ["peg"] }},
  {{ pair = "USD_CNY", sources = ["ecb"] }},
  {{ pair = "*_CNY", via = "USD" }},
  {{ pair = "*_USD", sources = ["kraken", "coinbase"] }},
]
"#,
        base = api.base_url(),
        max_age = ttl * 2,
        eth = eth_address,
    )
}

struct Rig {
    btc: Bitcoind,
    eth: Anvil,
    token: String,
    api: RateApi,
    daemon: Daemon,
    miner: String,
}

impl Rig {
    async fn start(ttl: u64) -> Rig {
        Rig::start_with(ttl, &fresh_address(77), &[fresh_address(78), fresh_address(79)]).await
    }

    /// With the store's ETH address and token address list.
    async fn start_with(ttl: u64, eth_address: &str, token_addresses: &[String]) -> Rig {
        let api = RateApi::start().await;
        api.set(Api::Kraken, "BTC_USD", "50000");
        api.set(Api::Coinbase, "BTC_USD", "49000");
        api.set(Api::Coinbase, "ETH_USD", "2500");
        api.set(Api::Ecb, "EUR_USD", "1.0800");
        api.set(Api::Ecb, "EUR_CNY", "7.8000");
        let btc = tokio::task::spawn_blocking(Bitcoind::start).await.unwrap().unwrap();
        let miner: String = btc.rpc().call("getnewaddress", &[]).unwrap();
        btc.rpc().call::<Vec<String>>("generatetoaddress", &[101.into(), miner.clone().into()]).unwrap();
        let eth = Anvil::start().await.unwrap();
        let token = deploy_token(&eth, "Token", "TOK").await.unwrap();
        let chains = format!("{}{}", btc_chains(&btc, 1, true), eth_chains(&eth, &token, 1, &EthOptions::default()));
        let extra = pricing_config(&api, eth_address, token_addresses, ttl);
        let plugins: Vec<_> = ["bitcoin", "ethereum", "erc20", "webhook", "kraken", "coinbase", "ecb"]
            .iter()
            .map(|p| paywatch_tests::plugin_lib(p))
            .collect();
        let config = |dir: &std::path::Path, port| config_with_chains(dir, port, &chains, &extra);
        let daemon = Daemon::start_launched(config, &plugins, Launch::default()).await.unwrap();
        Rig { btc, eth, token, api, daemon, miner }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.daemon.call(method, path, SHOP, body).await
    }

    async fn invoice(&self, body: Value) -> Value {
        let (status, v) = self.call(Method::POST, "/v1/invoices", Some(body)).await;
        assert_eq!(status, 201, "{v}\n{}", self.daemon.log());
        v
    }

    async fn wait_invoice(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, inv) = self.call(Method::GET, &format!("/v1/invoices/{id}"), None).await;
            if done(&inv) {
                return inv;
            }
            assert!(Instant::now() < deadline, "invoice never {what}: {inv:#}\nlog:\n{}", self.daemon.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn mine_btc(&self, n: u64) {
        self.btc.rpc().call::<Vec<String>>("generatetoaddress", &[n.into(), self.miner.clone().into()]).unwrap();
    }
}

/// Whether `base` units (of `decimals`) at `rate` are worth at least `price_minor` (of
/// `price_decimals`), in exact integers.
fn worth_at_least(base: u128, decimals: u32, rate: &str, price_minor: u128, price_decimals: u32) -> bool {
    let (int, frac) = rate.split_once('.').unwrap_or((rate, ""));
    let mantissa: u128 = format!("{int}{frac}").parse().unwrap();
    let scale = frac.len() as u32;
    // base / 10^decimals × mantissa / 10^scale ≥ price_minor / 10^price_decimals
    base * mantissa * 10u128.pow(price_decimals) >= price_minor * 10u128.pow(decimals + scale)
}

fn method<'a>(inv: &'a Value, asset: &str) -> &'a Value {
    inv["payment_methods"].as_array().unwrap().iter().find(|m| m["asset"] == asset).unwrap_or_else(|| {
        panic!("no {asset} method in {inv:#}");
    })
}

#[tokio::test]
async fn a_usd_invoice_paid_half_in_btc_and_half_in_the_token_settles_and_refunds_after_the_rate_moved() {
    let rig = Rig::start(1).await;
    let inv = rig.invoice(json!({"currency": "USD", "amount": "100.00", "order_id": "u-1"})).await;
    assert_eq!((inv["currency"].as_str(), inv["amount"].as_str()), (Some("USD"), Some("100.00")), "{inv:#}");
    let assets: Vec<&str> =
        inv["payment_methods"].as_array().unwrap().iter().map(|m| m["asset"].as_str().unwrap()).collect();
    assert_eq!(assets, ["BTC", "ETH", "TOK"], "every asset the store receives");
    let btc = method(&inv, "BTC");
    assert_eq!((btc["rate"].as_str(), btc["rate_source"].as_str()), (Some("50000"), Some("kraken")), "{btc:#}");
    assert_eq!(btc["amount_due"], "0.002");
    // Kraken does not quote ETH here: Coinbase, the next source of the rule, does.
    let eth = method(&inv, "ETH");
    assert_eq!((eth["rate"].as_str(), eth["rate_source"].as_str()), (Some("2500"), Some("coinbase")), "{eth:#}");
    assert_eq!(eth["amount_due"], "0.04");
    let tok = method(&inv, "TOK");
    assert_eq!((tok["rate"].as_str(), tok["amount_due"].as_str()), (Some("1"), Some("100")), "{tok:#}");
    // Every method has its own address, and its own URI for its own amount.
    assert!(btc["payment_uri"].as_str().unwrap().contains("amount=0.002"), "{btc:#}");
    assert_ne!(eth["address"], tok["address"]);

    // Half in BTC: paid_partial, and every method now shows the remainder.
    let btc_address = btc["address"].as_str().unwrap().to_string();
    rig.btc.rpc().call::<String>("sendtoaddress", &[btc_address.clone().into(), 0.001.into()]).unwrap();
    rig.mine_btc(1);
    let id = inv["id"].as_str().unwrap().to_string();
    let half = rig.wait_invoice(&id, "half paid", |i| i["paid"] == "50.00" && i["exception"] == "paid_partial").await;
    assert_eq!(half["due"], "50.00", "{half:#}");
    assert_eq!(method(&half, "BTC")["amount_due"], "0.001");
    assert!(method(&half, "BTC")["payment_uri"].as_str().unwrap().contains("amount=0.001"), "{half:#}");
    assert_eq!(method(&half, "ETH")["amount_due"], "0.02");
    assert_eq!(method(&half, "TOK")["amount_due"], "50");
    assert!(method(&half, "TOK")["payment_uri"].as_str().unwrap().contains("uint256=50000000000000000000"), "{half:#}");

    // The other half in the token: settled, worth exactly the price.
    let tok_address = method(&half, "TOK")["address"].as_str().unwrap().to_string();
    transfer_token(&rig.eth, &rig.token, &tok_address, 50 * 10u128.pow(18)).await.unwrap();
    rig.eth.rpc("anvil_mine", json!(["0x2"])).await.unwrap();
    rig.mine_btc(1);
    let settled = rig.wait_invoice(&id, "settled", |i| i["status"] == "settled").await;
    assert_eq!(
        (settled["paid"].as_str(), settled["exception"].as_str()),
        (Some("100.00"), Some("none")),
        "{settled:#}"
    );
    assert_eq!(method(&settled, "TOK")["amount_paid"], "50");
    assert_eq!(method(&settled, "BTC")["amount_paid"], "0.001");

    // BTC falls to 40,000 USD; the cached 50,000 ages out (ttl 1 s).
    rig.api.set(Api::Kraken, "BTC_USD", "40000");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let refund = |body: Value| {
        let rig = &rig;
        let id = id.clone();
        async move { rig.call(Method::POST, &format!("/v1/invoices/{id}/refunds"), Some(body)).await }
    };
    // 30 USD at today's rate: 0.00075 BTC.
    let (status, r) = refund(json!({"variant": "fiat", "amount": "30", "asset": "BTC", "address": rig.miner})).await;
    assert_eq!(status, 201, "{r:#}");
    assert_eq!(
        (r["amount"].as_str(), r["rate"].as_str(), r["value"].as_str()),
        (Some("0.00075"), Some("40000"), Some("30.00")),
        "{r:#}"
    );
    // 20 USD at the invoice's locked rate: 0.0004 BTC.
    let (status, r) =
        refund(json!({"variant": "rate_then", "amount": "20", "asset": "BTC", "address": rig.miner})).await;
    assert_eq!(status, 201, "{r:#}");
    assert_eq!((r["amount"].as_str(), r["rate"].as_str()), (Some("0.0004"), Some("50000")), "{r:#}");
    // The rest (50 USD) at today's rate, less 2.5 %: 0.00125 BTC × 0.975 = 0.00121875.
    let (status, r) =
        refund(json!({"variant": "current_rate", "asset": "BTC", "subtract_percent": 2.5, "address": rig.miner})).await;
    assert_eq!(status, 201, "{r:#}");
    assert_eq!(r["amount"], "0.00121875", "{r:#}");
    // Nothing overpaid, nothing left.
    let (status, r) = refund(json!({"variant": "overpaid", "asset": "BTC", "address": rig.miner})).await;
    assert_eq!(status, 422, "{r:#}");
    let (status, r) = refund(json!({"variant": "fiat", "amount": "0.01", "asset": "TOK", "address": DEV0})).await;
    assert_eq!((status, r["error"]["code"].as_str()), (422, Some("refund_too_large")), "{r:#}");
}

#[tokio::test]
async fn sources_fall_back_go_stale_and_price_a_cny_invoice_through_usd() {
    let rig = Rig::start(1).await;
    // Kraken down: Coinbase's BTC rate is used.
    rig.api.fail(Api::Kraken, 500);
    let inv =
        rig.invoice(json!({"currency": "USD", "amount": "49.00", "order_id": "f-1", "payment_methods": ["BTC"]})).await;
    let btc = method(&inv, "BTC");
    assert_eq!((btc["rate_source"].as_str(), btc["amount_due"].as_str()), (Some("coinbase"), Some("0.001")), "{inv:#}");
    assert_eq!(inv["payment_methods"].as_array().unwrap().len(), 1);

    // CNY through USD: BTC_USD (coinbase, 49,000) × USD_CNY (ECB: 7.8 / 1.08).
    let (status, rates) = rig.call(Method::GET, "/v1/rates?pairs=BTC_CNY,USD_CNY", None).await;
    assert_eq!(status, 200, "{rates:#}");
    let cny = rig
        .invoice(json!({"currency": "CNY", "amount": "3538.89", "order_id": "c-1", "payment_methods": ["BTC"]}))
        .await;
    let m = method(&cny, "BTC");
    assert!(m["rate_source"].as_str().unwrap().contains("ecb"), "{cny:#}");
    let rate = m["rate"].as_str().unwrap();
    assert!(rate.starts_with("353888.88"), "{cny:#} {rates:#}");
    // 0.01 BTC is 3538.8888… CNY, just short of the price: the due rounds up to 0.01000001,
    // the least amount worth the price.
    let due: u128 = m["amount_due_base"].as_str().unwrap().parse().unwrap();
    assert_eq!(due, 1_000_001, "{cny:#}");
    assert!(worth_at_least(due, 8, rate, 353_889, 2) && !worth_at_least(due - 1, 8, rate, 353_889, 2), "{cny:#}");

    // Every USD source down and the cache past its max age (2 s): 503 naming each source.
    rig.api.fail(Api::Coinbase, 502);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, v) = rig
        .call(
            Method::POST,
            "/v1/invoices",
            Some(json!({"currency": "USD", "amount": "5", "order_id": "s-1", "payment_methods": ["BTC"]})),
        )
        .await;
    assert_eq!((status, v["error"]["code"].as_str()), (503, Some("rate_unavailable")), "{v:#}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("kraken") && msg.contains("coinbase") && msg.contains("BTC_USD"), "{msg}");
    // Back up: once the failure is no longer remembered (its ttl, 1 s), the same request
    // succeeds (nothing was stored for the refused one).
    rig.api.heal(Api::Coinbase);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let ok =
        rig.invoice(json!({"currency": "USD", "amount": "5", "order_id": "s-1", "payment_methods": ["BTC"]})).await;
    assert_eq!(method(&ok, "BTC")["rate_source"], "coinbase");

    // Bad input.
    for (body, code) in [
        (json!({"currency": "JPY", "amount": "1.5", "order_id": "b-1"}), "invalid_field"),
        (json!({"currency": "XYZ", "amount": "1", "order_id": "b-2"}), "invalid_field"),
        (json!({"currency": "USD", "amount": "1", "order_id": "b-3", "payment_methods": ["DOGE"]}), "unknown_asset"),
        (
            json!({"currency": "USD", "amount": "1", "order_id": "b-4", "payment_methods": ["BTC", "BTC"]}),
            "invalid_field",
        ),
        (json!({"currency": "USD", "amount": "0", "order_id": "b-5"}), "invalid_field"),
        (json!({"currency": "USD", "asset": "BTC", "amount": "1", "order_id": "b-6"}), "invalid_field"),
    ] {
        let (status, v) = rig.call(Method::POST, "/v1/invoices", Some(body.clone())).await;
        assert_eq!((status, v["error"]["code"].as_str()), (422, Some(code)), "{body} → {v:#}");
    }
    // A method the store cannot receive (shop1 has no receive sources).
    let body = json!({"currency": "USD", "amount": "1", "order_id": "b-7", "payment_methods": ["BTC"]});
    let (status, v) =
        rig.daemon.call(Method::POST, "/v1/invoices", paywatch_tests::daemon::SHOP1_KEY, Some(body)).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("no_receive_config")), "{v:#}");
}

#[tokio::test]
async fn a_token_paid_to_the_address_it_shares_with_eth_settles_the_invoice() {
    // One address for the coin and the token: the two methods share it and its watch.
    let shared = fresh_address(80);
    let rig = Rig::start_with(1, &shared, std::slice::from_ref(&shared)).await;
    let inv = rig
        .invoice(json!({"currency": "USD", "amount": "100.00", "order_id": "s-1", "payment_methods": ["ETH", "TOK"]}))
        .await;
    let (eth, tok) = (method(&inv, "ETH"), method(&inv, "TOK"));
    let lower = |m: &Value| m["address"].as_str().unwrap().to_lowercase();
    assert_eq!((lower(eth), lower(tok)), (shared.to_lowercase(), shared.to_lowercase()), "{inv:#}");
    transfer_token(&rig.eth, &rig.token, &shared, 100 * 10u128.pow(18)).await.unwrap();
    rig.eth.rpc("anvil_mine", json!(["0x2"])).await.unwrap();
    let id = inv["id"].as_str().unwrap();
    let settled = rig.wait_invoice(id, "settled by the token", |i| i["status"] == "settled").await;
    assert_eq!((settled["paid"].as_str(), settled["exception"].as_str()), (Some("100.00"), Some("none")));
    assert_eq!(method(&settled, "TOK")["amount_paid"], "100");
    assert_eq!(method(&settled, "ETH")["amount_paid"], "0");
    assert_eq!(settled["payments"].as_array().map(Vec::len), Some(1), "the token's payment is shown: {settled:#}");
}

#[tokio::test]
async fn a_retried_refund_at_todays_rate_returns_the_refund_made_even_when_no_rate_is_fresh() {
    let rig = Rig::start(1).await;
    let inv = rig
        .invoice(json!({"currency": "USD", "amount": "100.00", "order_id": "r-1", "payment_methods": ["BTC"]}))
        .await;
    let address = method(&inv, "BTC")["address"].as_str().unwrap().to_string();
    rig.btc.rpc().call::<String>("sendtoaddress", &[address.into(), 0.002.into()]).unwrap();
    rig.mine_btc(1);
    let id = inv["id"].as_str().unwrap().to_string();
    rig.wait_invoice(&id, "settled", |i| i["status"] == "settled").await;
    let body = json!({"variant": "current_rate", "asset": "BTC", "address": rig.miner});
    let refund = || {
        rig.daemon
            .req(Method::POST, &format!("/v1/invoices/{id}/refunds"), SHOP)
            .header("Idempotency-Key", "refund-r-1")
            .json(&body)
            .send()
    };
    let first = refund().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    // Every source down and the cached rate past its max age (2 s): the retry is answered
    // from what the first request made, as an invoice's retry is.
    rig.api.fail(Api::Kraken, 500);
    rig.api.fail(Api::Coinbase, 500);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let again = refund().await.unwrap();
    let status = again.status();
    let again: Value = again.json().await.unwrap();
    assert_eq!(status, 200, "{again:#}");
    assert_eq!((again["id"].as_str(), again["amount"].as_str()), (first["id"].as_str(), first["amount"].as_str()));
}
