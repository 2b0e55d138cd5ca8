//! The validated, typed configuration. Built only by `validate`; every field is checked.

use super::secret::{KeyHash, Secret};
use ipnet::IpNet;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use url::Url;

/// The whole validated configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub plugins: PluginsConfig,
    pub chains: Vec<ChainConfig>,
    pub assets: Vec<AssetConfig>,
    pub dispatch: DispatchConfig,
    pub stores: Vec<StoreConfig>,
    /// `[rates]`: exchange-rate sources (`docs/rates.md`).
    pub rates: RatesConfig,
    /// `[checkout]`: the customer's payment page (`docs/checkout.md`).
    pub checkout: CheckoutConfig,
}

impl Config {
    pub fn chain(&self, name: &str) -> Option<&ChainConfig> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// Every plugin the daemon loads for this config, each with where the config names it
    /// first: assets' currency plugins, config-file endpoints' platform plugins,
    /// `[plugins.config.NAME]` and `plugins.enable`. No other library is opened.
    pub fn plugins_used(&self) -> BTreeMap<String, String> {
        let mut used = BTreeMap::new();
        let assets = self.assets.iter().map(|a| (a.plugin.clone(), format!("assets[{}].plugin", a.id)));
        let endpoints = self.stores.iter().flat_map(|s| {
            s.endpoints
                .iter()
                .enumerate()
                .map(|(i, e)| (e.plugin.clone(), format!("stores[{}].endpoints[{i}].plugin", s.id)))
        });
        // A store's gateway-compatible API sends its callbacks through the gateway's plugin.
        let gateways = self
            .stores
            .iter()
            .flat_map(|s| s.gateways.enabled().map(|g| (g.to_string(), format!("stores[{}].{g}", s.id))));
        let config = self.plugins.config.keys().map(|n| (n.clone(), format!("plugins.config.{n}")));
        let enable = self.plugins.enable.iter().enumerate().map(|(i, n)| (n.clone(), format!("plugins.enable[{i}]")));
        let rates = self.rates.sources.iter().filter_map(|(name, s)| match &s.kind {
            RateSourceKind::Plugin { plugin, .. } => Some((plugin.clone(), format!("rates.sources.{name}.plugin"))),
            RateSourceKind::Fixed(_) => None,
        });
        for (name, at) in assets.chain(endpoints).chain(gateways).chain(config).chain(enable).chain(rates) {
            used.entry(name).or_insert(at);
        }
        used
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Grants `/metrics` and operator routes.
    pub admin_key: Option<KeyHash>,
    pub log_format: LogFormat,
    /// A `RUST_LOG`-style filter; `RUST_LOG` itself wins when set.
    pub log_filter: String,
    pub tls: Option<TlsConfig>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Connection and rate limits of the API (`[server]`).
    pub limits: ServerLimits,
}

/// `[checkout]`: the public payment pages (`/i/{id}`, `/r/{token}`) and their live status.
#[derive(Debug, Clone, Serialize)]
pub struct CheckoutConfig {
    /// Their own listener, so the API can stay private; `None`: served on the API's.
    pub listen: Option<SocketAddr>,
    /// What customers reach the pages at (`checkout_url` = this + `/i/ID`); `None`: the
    /// listener's own address (`http://`, or `https://` with the API's TLS).
    pub public_url: Option<Url>,
    /// Status streams (`GET /i/{id}/events`) open at once, every visitor together…
    pub max_streams: usize,
    /// …and from one client (an IPv4 address, an IPv6 /64)…
    pub max_streams_per_client: u32,
    /// …and of one invoice (its customer's tabs: whoever knows the id gets no more); past any,
    /// `429`.
    pub max_streams_per_invoice: usize,
    /// Per client, on the page routes: sustained requests per second…
    pub per_second: u64,
    /// …and the burst above it.
    pub burst: u32,
}

/// The front door's limits: timeouts, concurrency, and per-IP rates.
#[derive(Debug, Clone, Serialize)]
pub struct ServerLimits {
    /// A connection that has not sent a request's complete headers within this time is closed
    /// (a new connection that sends nothing at all, too).
    pub header_read_timeout_secs: u64,
    /// A request whose body has not fully arrived within this time of the daemon starting to
    /// read it (once the request has its turn) gets `408`.
    pub body_read_timeout_secs: u64,
    /// Connections open at once, every client together; past it, a new one is closed at once
    /// (each is a file descriptor: by default half the process's limit, `ulimit -n`, at most
    /// 4096, so RocksDB and the node connections keep theirs).
    pub max_connections: usize,
    /// Connections open at once from one client (an IPv4 address, an IPv6 /64).
    pub max_connections_per_client: u32,
    /// Requests one client has handled at once; past it, the client's further requests wait
    /// for its own (so one client cannot hold every one of `max_concurrent_requests`).
    pub max_requests_per_client: u32,
    /// Reverse proxies in front of the daemon: a request from one of these is the client
    /// `X-Forwarded-For` names (its last address that is not itself a trusted proxy); from
    /// anyone else the header is ignored.
    pub trusted_proxies: Vec<IpNet>,
    /// A request not answered within this time gets `408`.
    pub request_timeout_secs: u64,
    /// Requests handled at once; more wait (until their timeout).
    pub max_concurrent_requests: usize,
    /// `GET /v1/events?wait=` requests waiting at once, every store together; past it, `429`.
    pub max_long_polls: usize,
    /// Per client IP, on the unauthenticated routes: sustained requests per second…
    pub public_per_second: u64,
    /// …and the burst allowed above it.
    pub public_burst: u32,
    /// Per client IP: failed authentications per minute…
    pub auth_failures_per_minute: u64,
    /// …and the burst allowed above it; past them, `429`.
    pub auth_failure_burst: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct StorageConfig {
    pub path: PathBuf,
    /// Bytes RocksDB's memtables and block cache may take together (`memory_budget`: bytes, or
    /// a size like `"256MiB"`; at least 16 MiB, default 256 MiB).
    pub memory_budget: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PluginsConfig {
    /// Where plugin libraries are; a relative `dir` is resolved against the config file's
    /// directory when the config is loaded.
    pub dir: PathBuf,
    /// `enable`: plugins loaded besides those the rest of the config names (platform plugins
    /// for endpoints created through the API).
    pub enable: Vec<String>,
    /// `[plugins.files]`: a plugin's file in `dir` when it is not named by the rule
    /// (`libpaywatch_plugin_NAME.so`, `paywatch_plugin_NAME.so` or `NAME.so`).
    pub files: BTreeMap<String, String>,
    /// `[plugins.sha256]`: a plugin's pinned SHA-256 (lowercase hex), checked before loading.
    pub sha256: BTreeMap<String, String>,
    /// `[plugins.config.NAME]`: the plugin-wide config handed to platform plugin `NAME`'s
    /// `create` (`{}` when absent).
    pub config: BTreeMap<String, PluginParams>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChainConfig {
    pub name: String,
    /// Default confirmation target of watches on this chain.
    pub confirmations: u32,
    /// Deepest reorg followed; deeper stops the chain loudly.
    pub reorg_window: u32,
    /// Height to start at on first start (default: the node's tip).
    pub start_height: Option<u64>,
    #[serde(flatten)]
    pub node: ChainNode,
}

impl ChainConfig {
    pub fn kind(&self) -> ChainKind {
        match self.node {
            ChainNode::Bitcoin(_) => ChainKind::Bitcoin,
            ChainNode::Evm(_) => ChainKind::Evm,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainKind {
    Bitcoin,
    Evm,
}

impl ChainKind {
    /// As written in the config (`kind = "bitcoin"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChainKind::Bitcoin => "bitcoin",
            ChainKind::Evm => "evm",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ChainNode {
    Bitcoin(BitcoinNode),
    Evm(EvmNode),
}

#[derive(Debug, Clone, Serialize)]
pub struct BitcoinNode {
    pub network: BitcoinNetwork,
    #[serde(serialize_with = "super::redact::serialize_url")]
    pub rpc_url: Url,
    pub rpc_auth: RpcAuth,
    pub zmq: ZmqEndpoints,
    /// Per-call RPC timeout.
    pub rpc_timeout_secs: u64,
    /// Reconcile and mempool diff at least this often, whatever the feed says.
    pub poll_secs: u64,
    /// The genesis block hash the node must have; default: the `network`'s (Bitcoin's). Other
    /// Bitcoin-family coins set their own.
    pub genesis_hash: Option<String>,
    /// The easiest proof of work a block header may claim.
    pub pow_limit: PowLimit,
}

/// How a block header's proof of work is checked: its hash must meet the target its `bits`
/// state, and that target must not be easier than the limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PowLimit {
    /// The `network`'s limit (Bitcoin's).
    Network,
    /// A coin's own limit (a 256-bit target, big-endian hex as Bitcoin Core prints it).
    Target(String),
    /// Not checked: the coin's proof of work is not the header's double SHA-256 (scrypt coins
    /// such as Litecoin and Dogecoin).
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BitcoinNetwork {
    Mainnet,
    Testnet,
    Testnet4,
    Signet,
    Regtest,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RpcAuth {
    UserPass { user: String, password: Secret },
    Cookie(PathBuf),
}

/// ZMQ endpoints per topic; `zmq = "…"` sets all of them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ZmqEndpoints {
    pub rawtx: Option<String>,
    pub hashblock: Option<String>,
    pub rawblock: Option<String>,
    pub sequence: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvmNode {
    pub chain_id: u64,
    /// newHeads subscription (and requests when `http_url` is not set).
    #[serde(serialize_with = "super::redact::serialize_url")]
    pub ws_url: Url,
    /// Requests (block, receipts); plain HTTP.
    #[serde(serialize_with = "super::redact::serialize_opt_url")]
    pub http_url: Option<Url>,
    pub rpc_timeout_secs: u64,
    /// Reconcile at least this often, whatever the feed says.
    pub poll_secs: u64,
    /// Whether (and how) to ask the node for traces, to see Ether sent by contracts.
    pub traces: Traces,
    /// Check each block against its header: header hash, transaction hashes, transactions and
    /// receipts roots.
    pub verify_blocks: bool,
}

/// How an EVM node serves call traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Traces {
    /// No traces: Ether sent by contracts is not seen.
    Off,
    /// `trace_block` (Erigon, Nethermind, Reth, anvil).
    Parity,
    /// `debug_traceBlockByNumber` with the `callTracer` (Geth, Reth, anvil).
    Geth,
}

/// Something that can be paid: a currency plugin on a chain, with the plugin's parameters.
#[derive(Debug, Clone, Serialize)]
pub struct AssetConfig {
    pub id: String,
    pub chain: String,
    pub plugin: String,
    pub contract: Option<String>,
    pub decimals: Option<u8>,
    /// The largest invoice, in the asset's unit (a checked decimal string); `None`: the
    /// default of the chain's kind (`startup::asset_limits`).
    pub max_invoice_amount: Option<String>,
    /// Payments below this, in the asset's unit, are dust: recorded, never an invoice's;
    /// `None`: the default of the chain's kind.
    pub min_payment: Option<String>,
    /// The code exchange rates know the asset by (`BTC`, `USDT`): `rate_code`, or the id
    /// uppercased.
    pub rate_code: String,
    /// Other keys of the asset's table, handed to the plugin as they are.
    pub params: PluginParams,
}

#[derive(Debug, Clone, Serialize)]
pub struct DispatchConfig {
    /// SSRF guard exceptions: private/loopback networks callbacks may go to.
    pub allow_private: Vec<IpNet>,
    /// Waits between delivery attempts, in seconds (`retry_schedule = ["5s", "5m", …]`).
    pub retry_schedule_secs: Vec<u64>,
}

/// A shop.
#[derive(Debug, Clone, Serialize)]
pub struct StoreConfig {
    pub id: String,
    /// What the checkout page calls the store (its id unless set).
    pub name: String,
    /// The store's config-file key (every scope); `None` for a store made through the admin
    /// API, whose keys are made there (`stores/`).
    pub api_key: Option<KeyHash>,
    /// Default confirmations for invoices.
    pub speed: u32,
    pub invoice_expiry_secs: u64,
    /// Default accepted underpayment of invoices, in percent.
    pub payment_tolerance_percent: u32,
    /// After expiry, payments are still recorded for this long; only then may an unpaid
    /// invoice's address be handed out again.
    pub monitoring_secs: u64,
    /// How long a refund's claim token stays valid.
    pub refund_claim_secs: u64,
    pub receive: BTreeMap<String, ReceiveConfig>,
    pub endpoints: Vec<EndpointConfig>,
    /// Endpoints the store may have (config file and API together): each one is a worker and
    /// a stream of deliveries, so one store cannot starve the others.
    pub max_endpoints: u32,
    /// This store's `GET /v1/events?wait=` requests waiting at once; past it, `429`.
    pub max_long_polls: u32,
    /// SSRF guard exceptions for this store's endpoints only (`dispatch.allow_private` is every
    /// store's).
    pub allow_private: Vec<IpNet>,
    /// Watches the store may have, every one counted: its own (`POST /v1/watches`), its
    /// invoices' addresses and its refunds' destinations. Each is a key in the chain's watch
    /// set and a few records in the store, so one store cannot fill the index.
    pub max_watches: u64,
    /// Refunds one invoice may have, whatever their status.
    pub max_refunds_per_invoice: u32,
    /// `refund_approval_above`: per invoice currency, the refund value above which a refund
    /// waits for a second key's approval (`refunds:approve`) before it can be paid or claimed.
    /// Currencies not named need none.
    pub refund_approval_above: BTreeMap<String, rust_decimal::Decimal>,
    /// `[stores.rates]`: the spread and the rules choosing rate sources; `None`: no rules
    /// (the store prices in its assets only).
    pub rates: Option<StoreRates>,
    /// `[stores.bitpay]`, `[stores.coingate]`, `[stores.coinpayments]`: the gateway-compatible
    /// APIs this store answers (`docs/compat.md`).
    /// Printed as the file has them: `[stores.bitpay]`…, not under `gateways`.
    #[serde(flatten)]
    pub gateways: super::compat::StoreGateways,
}

/// Where fresh receiving addresses of one asset come from (public data only). Printed with
/// xpubs and descriptors as fingerprints (`redact.rs`).
#[derive(Clone)]
pub enum ReceiveConfig {
    Descriptor(String),
    Xpub(String),
    Addresses(Vec<String>),
}

/// A callback endpoint declared in the config file.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointConfig {
    pub plugin: String,
    #[serde(serialize_with = "super::redact::serialize_url")]
    pub url: Url,
    pub secret: Option<Secret>,
    pub events: Vec<String>,
    /// Other keys, handed to the platform plugin.
    pub params: PluginParams,
}

impl EndpointConfig {
    /// The endpoint object its platform plugin receives: the plugin's own keys, `url` and
    /// `secret`, flat.
    pub(crate) fn plugin_object(&self) -> Map<String, Value> {
        let mut cfg = self.params.expose().clone();
        cfg.insert("url".into(), self.url.as_str().into());
        if let Some(secret) = &self.secret {
            cfg.insert("secret".into(), secret.expose().into());
        }
        cfg
    }
}

/// A plugin's own parameters from its config table. Printed (`Debug`, `Serialize`) with the
/// values of keys that look secret redacted; [`PluginParams::expose`] gives the plugin the
/// real values.
#[derive(Clone, Default, PartialEq)]
pub struct PluginParams(pub(crate) Map<String, Value>);

impl PluginParams {
    pub fn expose(&self) -> &Map<String, Value> {
        &self.0
    }

    fn redacted(&self) -> Map<String, Value> {
        redact(&self.0)
    }
}

/// A table with the values of secret-looking keys replaced, at every depth.
fn redact(map: &Map<String, Value>) -> Map<String, Value> {
    const WORDS: [&str; 8] = ["secret", "password", "passphrase", "key", "token", "auth", "credential", "cookie"];
    let secretish = |k: &str| WORDS.iter().any(|w| k.to_ascii_lowercase().contains(w));
    let value = |v: &Value| match v {
        Value::Object(m) => Value::Object(redact(m)),
        Value::Array(items) => Value::Array(
            items.iter().map(|i| if let Value::Object(m) = i { Value::Object(redact(m)) } else { i.clone() }).collect(),
        ),
        other => other.clone(),
    };
    map.iter()
        .map(|(k, v)| (k.clone(), if secretish(k) { Value::String(super::secret::REDACTED.into()) } else { value(v) }))
        .collect()
}

impl std::fmt::Debug for PluginParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.redacted().fmt(f)
    }
}

impl Serialize for PluginParams {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.redacted().serialize(s)
    }
}

/// `[rates]`: where exchange rates come from and how they are fetched (`docs/rates.md`).
#[derive(Debug, Clone, Serialize)]
pub struct RatesConfig {
    /// Each HTTP request to a rate API must be answered within this time.
    pub timeout_secs: u64,
    /// Larger response bodies are refused.
    pub max_response_bytes: usize,
    /// SSRF guard exceptions: private/loopback networks rate APIs may be on (default none).
    pub allow_private: Vec<IpNet>,
    /// `[rates.sources.NAME]`, by name.
    pub sources: BTreeMap<String, RateSourceConfig>,
}

/// One rate source.
#[derive(Debug, Clone, Serialize)]
pub struct RateSourceConfig {
    #[serde(flatten)]
    pub kind: RateSourceKind,
    /// A rate fetched less than this long ago is used without asking the API again.
    pub ttl_secs: u64,
    /// A rate older than this (by the time its API gives) is never used.
    pub max_age_secs: u64,
}

/// What a rate source is.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RateSourceKind {
    /// A rate-source plugin, created with the table's other keys.
    Plugin { plugin: String, params: PluginParams },
    /// Rates written in the config: `"BTC_USD"` → a positive decimal.
    Fixed(BTreeMap<String, rust_decimal::Decimal>),
}

/// A store's `[stores.rates]`.
#[derive(Debug, Clone, Serialize)]
pub struct StoreRates {
    /// Percent taken off every rate invoices use (0 to 50): the customer pays the spread.
    pub spread_percent: rust_decimal::Decimal,
    /// Tried in order; the first whose pattern matches a pair decides.
    pub rules: Vec<RateRule>,
}

/// One rate rule: a pair pattern and how to get the rates it matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateRule {
    pub pair: PairPattern,
    #[serde(flatten)]
    pub action: RuleAction,
}

/// How a rule gets a rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// From these sources, the first that has a usable rate.
    Sources(Vec<String>),
    /// As BASE_VIA × VIA_QUOTE, each resolved by the rules again.
    Via(String),
}

/// `BTC_USD`, `BTC_*`, `*_CNY` or `*_*`: `None` is `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairPattern {
    pub base: Option<String>,
    pub quote: Option<String>,
}

impl PairPattern {
    pub fn matches(&self, base: &str, quote: &str) -> bool {
        self.base.as_deref().is_none_or(|b| b == base) && self.quote.as_deref().is_none_or(|q| q == quote)
    }
}

impl std::fmt::Display for PairPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.base.as_deref().unwrap_or("*"), self.quote.as_deref().unwrap_or("*"))
    }
}

impl Serialize for PairPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
