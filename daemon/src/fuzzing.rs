//! For the fuzz targets only (hidden from the docs; `tests/fuzz/`, `scripts/fuzz.sh`): entry
//! points into the daemon's own handling of hostile bytes, so that the fuzzers exercise the
//! production code rather than a copy of it. Each entry panics only on a bug: an input the
//! daemon refuses is a normal outcome.
//!
//! * [`zmq_messages`]: ZMQ multipart messages through the feed's decoding (frames, topics,
//!   sequence numbers, the byte budget) and a `rawblock` header through the follower's checks.
//! * [`bitcoin_block`]: a raw block's header and transactions through the block verification
//!   (compact targets, retarget rules, merkle root and mutation check).
//! * [`config_toml`]: a config file through parsing and validation.
//! * [`Api`]: requests with hostile JSON bodies, paths and queries through the real router
//!   (authentication, extractors, handlers, the invoice and endpoint owners, RocksDB), with
//!   the real plugins; any 5xx answer is a bug. The gateway-compatible APIs too, each
//!   authenticated its way (CoinGate's token, CoinPayments' HMAC of the fuzzed body, a paired
//!   BitPay token), so the fuzzer reaches their parsing.

use crate::chain::bitcoin::fuzz as chain_fuzz;
use crate::config::{Config, ConfigError};
use crate::health::Health;
use crate::{api, startup, RunError};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt;

/// Splits `data` into ZMQ messages (`\xff\xff` between messages, `\xff\xfe` between frames)
/// and hands them to the chain's feed as if they had arrived on one endpoint.
pub fn zmq_messages(data: &[u8]) {
    let messages: Vec<Vec<Vec<u8>>> = split(data, b"\xff\xff")
        .into_iter()
        .map(|m| split(m, b"\xff\xfe").into_iter().map(<[u8]>::to_vec).collect())
        .collect();
    chain_fuzz::feed_messages(messages);
}

/// A raw block (and, in its first 4 bytes, the parent's `bits`) through the verification.
pub fn bitcoin_block(data: &[u8]) {
    let Some((parent, raw)) = data.split_first_chunk::<4>() else { return };
    chain_fuzz::verify_block(u32::from_le_bytes(*parent), raw);
}

/// A config file's text: parsed and validated. Errors are fine, panics are not; a config
/// that passes must say what it holds without panicking either.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match crate::config::parse_str(text) {
        Ok(config) => {
            let _ = format!("{config:?}");
        }
        Err(e @ (ConfigError::Invalid(_) | ConfigError::Parse { .. } | ConfigError::Read { .. })) => {
            let _ = e.to_string();
        }
    }
}

fn split<'a>(data: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(sep.len()).position(|w| w == sep) {
        parts.push(&rest[..i]);
        rest = &rest[i + sep.len()..];
    }
    parts.push(rest);
    parts
}

/// The store key of the harness's store (`shop`), which takes BTC and ETH invoices.
const KEY: &str = "fuzz_PcV3sQ8rZtN2wXk5yLb7mJd9hFg4";
/// The store's CoinGate token and CoinPayments keys (its gateway tables).
const COINGATE: &str = "fuzz_cg_Wq8eR4tY6uI2oP0aS1dF3gH5";
const CP_PUBLIC: &str = "fuzzpublickey0123456789abcdef";
const CP_PRIVATE: &str = "fuzz_cp_Zx9cV7bN5mQ3wE1rT8yU6iO4";
const ADMIN: &str = "admin_Qw8eR4tY6uI2oP0aS1dF3gH5jK7";

/// The daemon's API over a store in a temp dir, with the real plugins of `plugins` (a
/// directory of built plugin libraries: `scripts/build-plugins.sh`). Chains are configured
/// (so assets and addresses exist) but not followed.
pub struct Api {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    invoice: String,
    endpoint: String,
    /// A BitPay `pos` token of the store, paired at start.
    bitpay_token: String,
    _stop: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("invoice", &self.invoice).field("endpoint", &self.endpoint).finish()
    }
}

/// How a request authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// The store's bearer key (JSON body).
    Key,
    /// `Authorization: Token` (a JSON body when it starts with `{`, else a form).
    Coingate,
    /// The form body's own HMAC-SHA512 with the store's private key (`key=` in the body picks
    /// the store).
    Coinpayments,
    /// A JSON body, given the paired `pos` token when it is an object without one.
    Bitpay,
}

/// The requests [`Api::request`] makes, chosen by the input's first byte (new routes go at
/// the end: a seed's first byte keeps its route).
const ROUTES: &[(Method, &str, Auth)] = &[
    (Method::POST, "/v1/invoices", Auth::Key),
    (Method::POST, "/v1/invoices/{invoice}/refunds", Auth::Key),
    (Method::POST, "/v1/refunds/claim/{token}", Auth::Key),
    (Method::POST, "/v1/endpoints", Auth::Key),
    (Method::PATCH, "/v1/endpoints/{endpoint}", Auth::Key),
    (Method::POST, "/v1/watches", Auth::Key),
    (Method::POST, "/v1/watches/batch", Auth::Key),
    (Method::POST, "/v1/invoices/{invoice}/cancel", Auth::Key),
    (Method::POST, "/coingate/v2/orders", Auth::Coingate),
    (Method::POST, "/coinpayments/api.php", Auth::Coinpayments),
    (Method::POST, "/bitpay/invoices", Auth::Bitpay),
];

impl Api {
    /// Opens the store in `data` (a fresh directory) and builds the router; creates one invoice
    /// and one endpoint for the routes that name them.
    pub fn new(plugins: &Path, data: &Path) -> Result<Self, RunError> {
        let config = crate::config::parse_str(&harness_config(plugins, data))
            .map_err(|e| RunError::Refused { at: "fuzz harness config".into(), message: e.to_string() })?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RunError::Refused { at: "fuzz harness".into(), message: e.to_string() })?;
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let app = rt.block_on(async { router(&config, stop_rx) })?;
        let mut api =
            Self { rt, app, invoice: String::new(), endpoint: String::new(), bitpay_token: String::new(), _stop: stop };
        let (_, inv) = api
            .send(Method::POST, "/v1/invoices", br#"{"asset":"BTC","amount":"0.001","order_id":"o1"}"#)
            .expect("a uri");
        api.invoice = inv["id"].as_str().unwrap_or_else(|| panic!("the harness's invoice: {inv}")).to_string();
        let body = br#"{"plugin":"webhook","url":"http://203.0.113.7/hook","secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}"#;
        let (_, ep) = api.send(Method::POST, "/v1/endpoints", body).expect("a uri");
        api.endpoint = ep["id"].as_str().unwrap_or_else(|| panic!("the harness's endpoint: {ep}")).to_string();
        let (_, code) = api.send(Method::POST, "/v1/bitpay/pairing-codes", br#"{"facade":"pos"}"#).expect("a uri");
        let code = code["pairing_code"].as_str().unwrap_or_else(|| panic!("the harness's pairing code: {code}"));
        let claim = serde_json::json!({ "pairingCode": code }).to_string();
        let (_, token) = api.send(Method::POST, "/bitpay/tokens", claim.as_bytes()).expect("a uri");
        let token = token["data"][0]["token"].as_str().unwrap_or_else(|| panic!("the harness's bitpay token: {token}"));
        api.bitpay_token = token.to_string();
        Ok(api)
    }

    /// One request: the first byte picks the route, the rest is the JSON body; or, with the
    /// high bit of the first byte set, the rest is a path and query under `/v1/` for a GET.
    /// Panics on a 5xx answer (or a panic in the daemon). The answer's status, and whether
    /// the request was accepted in the gateway's terms (CoinPayments answers every command
    /// `200`, its `error` says `ok` or why not), when a request was made.
    pub fn request(&self, data: &[u8]) -> Option<(StatusCode, bool)> {
        let (&first, rest) = data.split_first()?;
        let (method, path, body, auth) = if first & 0x80 != 0 {
            let tail = std::str::from_utf8(rest).ok()?;
            (Method::GET, format!("/v1/{tail}"), Vec::new(), Auth::Key)
        } else {
            let (method, template, auth) = &ROUTES[first as usize % ROUTES.len()];
            let path = template
                .replace("{invoice}", &self.invoice)
                .replace("{endpoint}", &self.endpoint)
                .replace("{token}", "cl_fuzz0000000000000000000000000000");
            (method.clone(), path, rest.to_vec(), *auth)
        };
        // A path that is not a URI never reaches the daemon (hyper refuses it).
        let (status, reply) = self.send_as(auth, method.clone(), &path, body.clone())?;
        // No rate for a pair (a currency the fixed source does not quote) is an answer, not a
        // fault: `503` saying so (`rate_unavailable`, a gateway's own words for it), and
        // nothing stored.
        let no_rate = status == StatusCode::SERVICE_UNAVAILABLE
            && (reply["error"]["code"] == "rate_unavailable" || reply.to_string().to_lowercase().contains("rate"));
        assert!(
            !status.is_server_error() || no_rate,
            "{method} {path} {:?}: {status} {reply}",
            String::from_utf8_lossy(&body)
        );
        let accepted = status.is_success() && (auth != Auth::Coinpayments || reply["error"] == "ok");
        Some((status, accepted))
    }

    fn send(&self, method: Method, path: &str, body: &[u8]) -> Option<(StatusCode, serde_json::Value)> {
        self.send_as(Auth::Key, method, path, body.to_vec())
    }

    /// Sends `body` to `path` authenticated as `auth` says.
    fn send_as(
        &self,
        auth: Auth,
        method: Method,
        path: &str,
        mut body: Vec<u8>,
    ) -> Option<(StatusCode, serde_json::Value)> {
        use hmac::Mac;
        let req = Request::builder().method(method).uri(path);
        let req = match auth {
            Auth::Key => {
                req.header("authorization", format!("Bearer {KEY}")).header("content-type", "application/json")
            }
            Auth::Coingate => {
                let json = body.first() == Some(&b'{');
                let kind = if json { "application/json" } else { "application/x-www-form-urlencoded" };
                req.header("authorization", format!("Token {COINGATE}")).header("content-type", kind)
            }
            Auth::Coinpayments => {
                let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(CP_PRIVATE.as_bytes()).expect("any key");
                mac.update(&body);
                let hmac = hex::encode(mac.finalize().into_bytes());
                req.header("hmac", hmac).header("content-type", "application/x-www-form-urlencoded")
            }
            Auth::Bitpay => {
                if let Ok(serde_json::Value::Object(mut o)) = serde_json::from_slice(&body) {
                    o.entry("token").or_insert_with(|| self.bitpay_token.clone().into());
                    body = serde_json::Value::Object(o).to_string().into_bytes();
                }
                req.header("content-type", "application/json").header("x-accept-version", "2.0.0")
            }
        };
        let req = req.body(Body::from(body)).ok()?;
        Some(self.rt.block_on(async {
            let res = self.app.clone().oneshot(req).await.expect("the router is infallible");
            let status = res.status();
            let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.expect("a body");
            (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
        }))
    }
}

/// The API as `run` builds it, without followers, timers or a running dispatcher.
fn router(config: &Config, stop: tokio::sync::watch::Receiver<bool>) -> Result<axum::Router, RunError> {
    let health = Arc::new(Health::new());
    let (currencies, platforms, rate_apis) = startup::plugins(config, &health)?;
    let rates = crate::rates::Rates::new(config, startup::rate_apis(rate_apis));
    let crate::Opened { db, set, watches, invoices, stores, .. } = crate::open(config, &currencies)?;
    startup::attach_watches(config, &currencies, &set);
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let dispatcher = crate::dispatch::Dispatcher::new(config, db.clone(), platforms, metrics.clone())?;
    let names = config.stores.iter().map(|s| (s.id.clone(), s.name.clone())).collect();
    let checkout = crate::checkout::Hub::new(db.clone(), invoices.clone(), names);
    crate::attach_settings(&stores, &invoices, &watches, &rates, &dispatcher, &checkout);
    let parts = api::Parts { watches, invoices, dispatcher, health, metrics, rates, checkout, stores };
    Ok(api::router(api::AppState::new(config, db, parts, stop), config))
}

fn harness_config(plugins: &Path, data: &Path) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_key = "{ADMIN}"
public_per_second = 100000
public_burst = 100000
auth_failures_per_minute = 60000
auth_failure_burst = 100000

[storage]
path = "{data}"

[plugins]
dir = "{plugins}"
enable = ["webhook", "woocommerce"]

[dispatch]
allow_private = []

[[chains]]
name = "btc"
kind = "bitcoin"
network = "regtest"
rpc_url = "http://127.0.0.1:1"
rpc_user = "u"
rpc_password = "p"
zmq = "tcp://127.0.0.1:2"

[[chains]]
name = "eth"
kind = "evm"
chain_id = 31337
ws_url = "ws://127.0.0.1:3"

[[assets]]
id = "BTC"
chain = "btc"
plugin = "bitcoin"

[[assets]]
id = "ETH"
chain = "eth"
plugin = "ethereum"

[rates.sources.fix]
fixed = {{ BTC_USD = "64123.45", ETH_USD = "3210.987654321", EUR_USD = "1.08" }}

[[stores]]
id = "shop"
api_key = "{KEY}"
refund_claim_secs = 3600
[stores.rates]
spread_percent = "0.5"
rules = [{{ pair = "*_*", sources = ["fix"] }}]
[stores.receive.BTC]
descriptor = "pkh(tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp/0/*)"
[stores.receive.ETH]
xpub = "xpub6Ce9NcJvTk36xtLSrJLZqE7wtgA5deCeYs7rSQtreh4cj6ByPtrg9sD7V2FNFLPnf8heNP3FGkeV9qwfzvZNSd54JoNXVsXFYSYwHsnJxqP"
[stores.bitpay]
[stores.coingate]
api_token = "{COINGATE}"
[stores.coinpayments]
public_key = "{CP_PUBLIC}"
private_key = "{CP_PRIVATE}"
merchant_id = "fuzzmerchant"
ipn_secret = "fuzz_ipn_Hs8Kd3Lq9WmZ2xVt5RbN7c"
"#,
        data = data.display(),
        plugins = plugins.display(),
    )
}
