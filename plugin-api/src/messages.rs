//! The JSON messages of the control-plane `call`s and of `scan` replies, per plugin kind.
//! Versioned with the ABI: fields are only added (with `#[serde(default)]`), never renamed.

use serde::{Deserialize, Serialize};

/// An error a plugin returns (JSON in the reply buffer with [`crate::abi::Status::ERROR`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginError {
    /// Stable machine-readable code, e.g. `invalid_address`, `unsupported`, `bad_config`.
    pub code: String,
    /// Lowercase human-readable message naming the offending value.
    pub message: String,
}

impl PluginError {
    /// An error with any code.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into() }
    }

    /// `bad_config`: the instance's config (or an endpoint's params) is wrong.
    pub fn bad_config(message: impl Into<String>) -> Self {
        Self::new("bad_config", message)
    }

    /// `invalid_input`: a request's payload or raw bytes are wrong.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new("invalid_input", message)
    }

    /// `unsupported`: the plugin does not implement this method.
    pub fn unsupported(what: impl std::fmt::Display) -> Self {
        Self::new("unsupported", format!("{what} is not supported by this plugin"))
    }

    /// From a platform plugin's `render`: this event can never be delivered to this endpoint
    /// as it is (a param the platform will never accept). The delivery is recorded as failed
    /// and not retried; other errors from `render` are retried. An event the platform has no
    /// request for is not an error: reply with an empty `requests` list to skip it.
    pub fn undeliverable(message: impl Into<String>) -> Self {
        Self::new(Self::UNDELIVERABLE, message)
    }

    /// The code of [`PluginError::undeliverable`].
    pub const UNDELIVERABLE: &'static str = "undeliverable";
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for PluginError {}

/// Method names of currency plugins' `call`.
pub mod currency_method {
    /// `{}` → [`super::CurrencyInfo`].
    pub const INFO: &str = "info";
    /// [`super::ParseAddressRequest`] → [`super::ParsedAddress`].
    pub const PARSE_ADDRESS: &str = "parse_address";
    /// [`super::KeyToAddressRequest`] → [`super::AddressReply`].
    pub const KEY_TO_ADDRESS: &str = "key_to_address";
    /// [`super::DeriveRequest`] → [`super::DeriveReply`].
    pub const DERIVE_ADDRESSES: &str = "derive_addresses";
    /// [`super::PaymentUriRequest`] → [`super::PaymentUriReply`].
    pub const PAYMENT_URI: &str = "payment_uri";
    /// [`super::FormatAmountRequest`] → [`super::FormatAmountReply`].
    pub const FORMAT_AMOUNT: &str = "format_amount";
}

/// Method names of platform plugins' `call`.
pub mod platform_method {
    /// `{}` → [`super::PlatformInfo`].
    pub const INFO: &str = "info";
    /// [`super::RenderRequest`] → [`super::RenderReply`].
    pub const RENDER: &str = "render";
    /// [`super::ClassifyRequest`] → [`super::Verdict`].
    pub const CLASSIFY: &str = "classify";
    /// Since ABI 1.1: checks an endpoint's params when it is created or changed (payload: the
    /// endpoint object, reply: `{}`). Older plugins answer `unknown_method`: every endpoint is
    /// then accepted.
    pub const VALIDATE_ENDPOINT: &str = "validate_endpoint";
}

/// Method names of rate-source plugins' `call` (since ABI 1.2).
pub mod rate_method {
    /// `{}` → [`super::RateSourceInfo`].
    pub const INFO: &str = "info";
    /// [`super::RateRequest`] → [`super::RateRequests`].
    pub const REQUEST: &str = "request";
    /// [`super::RateParseRequest`] → [`super::RateReply`].
    pub const PARSE: &str = "parse";
}

/// Bytes as lowercase hex in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Hex(pub Vec<u8>);

impl Hex {
    /// Hex digits (either case) → bytes; the error names the offending digit or length.
    pub fn decode(s: &str) -> Result<Self, String> {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(format!("{:?} is not a hex digit", c as char)),
        };
        if !s.len().is_multiple_of(2) {
            return Err(format!("hex string of odd length {}", s.len()));
        }
        s.as_bytes().chunks(2).map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?)).collect::<Result<_, _>>().map(Hex)
    }
}

/// Lowercase hex, as in JSON.
impl std::fmt::Display for Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        self.0.iter().try_for_each(|b| {
            use std::fmt::Write;
            f.write_char(DIGITS[(b >> 4) as usize] as char)?;
            f.write_char(DIGITS[(b & 15) as usize] as char)
        })
    }
}

impl Serialize for Hex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Hex::decode(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

// ---- currency ----

/// `info` of a currency plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyInfo {
    /// The kind of chain it scans: `bitcoin` or `evm`, the kinds the daemon follows (see the
    /// crate docs' "Chain kinds"). The daemon refuses an asset whose chain is of another kind;
    /// a plugin may name a kind of its own (the template's `demo`): it loads and can be
    /// checked, but no chain can use it yet.
    pub chain_kind: String,
    /// Asset symbol (as configured, e.g. `BTC`, `USDT`).
    pub symbol: String,
    /// Decimals of the asset's unit over its base unit (8 for BTC, 18 for ETH).
    pub decimals: u8,
    /// Confirmations the plugin suggests when the config sets none.
    pub default_confirmations: u32,
}

/// `parse_address`: an address as a shop or customer typed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParseAddressRequest {
    /// The address, untrimmed, any case.
    pub address: String,
}

/// An address normalized by the plugin, with its canonical key (what scanning matches).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedAddress {
    /// The normalized spelling the daemon stores and shows (lowercase bech32, EIP-55…).
    pub address: String,
    /// The watch key: the scriptPubKey (`bitcoin`), the 20-byte address (`evm`).
    pub key: Hex,
}

/// `key_to_address`: the address of a canonical key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyToAddressRequest {
    /// The watch key (see [`ParsedAddress::key`]).
    pub key: Hex,
}

/// The reply of `key_to_address`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressReply {
    /// The address, normalized.
    pub address: String,
}

/// Addresses from an extended public key or descriptor (public data only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeriveRequest {
    /// xpub/ypub/zpub/tpub… or an output descriptor.
    pub source: String,
    /// 0 receive, 1 change (ignored by descriptors that fix their path).
    #[serde(default)]
    pub branch: u32,
    /// First index.
    pub start: u32,
    /// How many consecutive indexes.
    pub count: u32,
}

/// One derived address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedAddress {
    /// Its index on the branch.
    pub index: u32,
    /// The address, normalized.
    pub address: String,
    /// Its watch key.
    pub key: Hex,
}

/// The reply of `derive_addresses`: `count` addresses from `start`, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeriveReply {
    /// The addresses.
    pub addresses: Vec<DerivedAddress>,
}

/// `payment_uri`: a URI a wallet opens to pay an amount to an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentUriRequest {
    /// The receiving address (normalized).
    pub address: String,
    /// Amount in base units, as a decimal string.
    pub amount_base: String,
    /// A label for the wallet to show (BIP21 `label`), e.g. the order.
    #[serde(default)]
    pub label: Option<String>,
    /// A message for the wallet to show (BIP21 `message`).
    #[serde(default)]
    pub message: Option<String>,
}

/// The reply of `payment_uri`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentUriReply {
    /// BIP21, EIP-681…
    pub uri: String,
}

/// `format_amount`: base units to the asset's unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatAmountRequest {
    /// Base units, decimal string.
    pub amount_base: String,
}

/// The reply of `format_amount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatAmountReply {
    /// In the asset's unit, e.g. `"1.5"`.
    pub amount: String,
}

/// An outpoint (Bitcoin-family: txid and output index; EVM: tx hash and log index).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OutPoint {
    /// The transaction id as [`Match::txid`] spells it (Bitcoin: display order).
    pub txid: String,
    /// The output index.
    pub index: u32,
}

/// One payment to a watched key found by `scan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    /// The watched key paid (as `is_watched` was asked it).
    pub key: Hex,
    /// The **asset id** the instance was created for (config key `asset`), not the symbol: the
    /// daemon looks the asset's decimals up by it.
    pub asset: String,
    /// Base units, as a decimal string (fits any u256).
    pub amount_base: String,
    /// The transaction id: Bitcoin display order (byte-reversed double SHA-256, lowercase
    /// hex, as `bitcoind` prints it); EVM `0x` + 64 lowercase hex digits.
    pub txid: String,
    /// Output index (Bitcoin) or log index (EVM; see `docs/plugins.md` for native transfers).
    pub index: u32,
    /// Everything the matched transaction spends (Bitcoin; none for a coinbase; empty on EVM).
    /// Informational: the host watches [`Match::outpoint_keys`].
    #[serde(default)]
    pub spends: Vec<OutPoint>,
    /// The same outpoints as [`Match::spends`], in the same order, each as the opaque bytes
    /// [`crate::Host::is_watched_spend`] is asked (Bitcoin: the input's 36 bytes, txid in wire
    /// order ‖ vout u32 LE). The host stores them with a pending payment and watches them as
    /// they are, without decoding them, to see the payment replaced by a conflicting
    /// transaction. Optional, added within ABI 1.1: a plugin that leaves it empty (as those
    /// built before it do) still has its payments recorded, but never as `replaced`: the host
    /// watches none of their inputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outpoint_keys: Vec<Hex>,
}

/// What `scan` returns: only matches, and spends of outpoints the host watches.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ScanReply {
    /// Payments to watched keys, in block order.
    pub matches: Vec<Match>,
    /// Transactions spending an outpoint for which `is_watched_spend` said yes.
    #[serde(default)]
    pub watched_spends: Vec<WatchedSpend>,
    /// `scan_block` of a `bitcoin`-kind chain: the merkle root of the txids of the transactions
    /// walked, shown as the header shows it (byte-reversed hex). The host checks it against the
    /// block's header before it records anything from the block, so a block whose transactions
    /// were substituted is refused. Compute it while walking (hash each transaction's txid bytes
    /// once) and refuse a mutated list (two equal hashes side by side at any level). Optional,
    /// added within ABI 1.1: when no plugin of the chain reports it, the host decodes the block
    /// and computes it itself (several times slower). `None` for `scan_tx` and other chain kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merkle_root: Option<String>,
}

/// A transaction spending a watched outpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchedSpend {
    /// The spending transaction.
    pub txid: String,
    /// The watched outpoint it spends.
    pub spends: OutPoint,
    /// That outpoint exactly as `is_watched_spend` was asked it (one of a pending payment's
    /// [`Match::outpoint_keys`]): what the host matches the spend by. Optional, added with
    /// [`Match::outpoint_keys`].
    #[serde(default)]
    pub outpoint_key: Hex,
}

// ---- platform ----

/// `info` of a platform plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformInfo {
    /// One line on what it delivers to, for `/health` and `plugins check`.
    pub description: String,
    /// The endpoint params that are secrets (API keys, passwords): stored for the plugin,
    /// never shown by the daemon. Optional: a plugin that does not say has every param named
    /// like `*secret*`, `*key*`, `*password*` or `*token*` hidden. `secret`, `secrets` and
    /// `ed25519_secret_key` are always hidden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_params: Option<Vec<String>>,
}

/// Render an event for one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderRequest {
    /// The event: `{seq, id, type, store, created_at, data}`; read it typed with
    /// [`RenderRequest::typed_event`]; `data` per `docs/webhooks.md`.
    pub event: serde_json::Value,
    /// The endpoint's params, one flat object: `url`, the secret keys (`secret`, `secrets`,
    /// `ed25519_secret_key`) and the plugin's own keys (from the API's `params` or the config
    /// file's endpoint table) merged at the top level, not under `params`.
    pub endpoint: serde_json::Value,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Unix seconds of this attempt (signatures carry it).
    pub now: i64,
}

/// One HTTP request the daemon sends (through its SSRF guard, without following redirects).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// An HTTP method token (`POST`, `PUT`…).
    pub method: String,
    /// An absolute `http` or `https` URL.
    pub url: String,
    /// Header names and values (no CR, LF or NUL: a header or method the daemon cannot send
    /// fails the delivery without retries, as `undeliverable` does).
    pub headers: Vec<(String, String)>,
    /// The body, sent as is.
    pub body: String,
}

/// The reply of `render`: the requests, sent in order; the first that is not acknowledged
/// stops the rest and decides the attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderReply {
    /// Empty: nothing to send for this event (acknowledged as skipped).
    pub requests: Vec<HttpRequest>,
}

/// Read a response of the shop platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassifyRequest {
    /// The HTTP status.
    pub status: u16,
    /// The response headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body, truncated by the host and decoded lossily as UTF-8.
    pub body: String,
}

impl RenderRequest {
    /// The event, typed ([`crate::events::Event`]), read in place (no copy of its JSON). An
    /// event that does not read is `invalid_input`, naming what did not.
    pub fn typed_event(&self) -> Result<crate::events::Event, PluginError> {
        crate::events::Event::deserialize(&self.event)
            .map_err(|e| PluginError::invalid_input(format!("event does not read as an event: {e}")))
    }
}

impl ClassifyRequest {
    /// The response's `Retry-After` in seconds, when it gives one as a number.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
            .and_then(|(_, v)| v.trim().parse::<u64>().ok())
    }

    /// The verdict on a callback to a URL one invoice named (`url_field`, e.g. `ipn_url`): 2xx
    /// delivered; a 3xx fails this delivery only (redirects are not followed, so no retry gets
    /// further; never the endpoint, which every other invoice's callbacks share); anything
    /// else retried, after `Retry-After` when given.
    pub fn per_invoice_verdict(&self, url_field: &str) -> Verdict {
        match self.status {
            200..=299 => Verdict::Ack,
            s @ 300..=399 => Verdict::Fail {
                reason: format!("http {s}: redirects are not followed; give the invoice the final {url_field}"),
            },
            s => Verdict::Retry { after_secs: self.retry_after_secs(), reason: format!("http {s}") },
        }
    }
}

/// What a response means, from `classify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Delivered.
    Ack,
    /// Try again, after `after_secs` if given (e.g. `Retry-After`), else per the schedule.
    Retry {
        /// Seconds to wait before the next attempt (capped by the daemon).
        after_secs: Option<u64>,
        /// Recorded with the attempt.
        reason: String,
    },
    /// Never deliverable as is (the attempt is recorded; no retry).
    Fail {
        /// Recorded with the attempt.
        reason: String,
    },
    /// The endpoint is gone (e.g. 410): disable it.
    Disable {
        /// Shown as the endpoint's `disabled_reason`.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_info_of_a_plugin_that_declares_no_secret_params_still_reads() {
        let old: PlatformInfo = serde_json::from_str(r#"{"description": "posts"}"#).unwrap();
        assert_eq!(old.secret_params, None);
        let new: PlatformInfo = serde_json::from_str(r#"{"description": "d", "secret_params": ["api_key"]}"#).unwrap();
        assert_eq!(new.secret_params, Some(vec!["api_key".to_string()]));
        assert_eq!(serde_json::to_string(&old).unwrap(), r#"{"description":"posts"}"#);
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let h = Hex(vec![0x00, 0xab, 0xff]);
        let s = serde_json::to_string(&h).unwrap();
        assert_eq!(s, "\"00abff\"");
        assert_eq!(serde_json::from_str::<Hex>(&s).unwrap(), h);
        assert_eq!(serde_json::from_str::<Hex>("\"00ABFF\"").unwrap(), h);
        assert!(serde_json::from_str::<Hex>("\"abc\"").is_err());
        assert!(serde_json::from_str::<Hex>("\"zz\"").is_err());
    }

    #[test]
    fn verdicts_are_tagged() {
        let v = Verdict::Retry { after_secs: Some(30), reason: "503".into() };
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            serde_json::json!({"verdict": "retry", "after_secs": 30, "reason": "503"})
        );
    }
}

/// What a rate-source plugin is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateSourceInfo {
    /// Its name (the vtable's).
    pub name: String,
    /// One line for `plugins list` and `GET /v1/rates`: the API and what it quotes.
    pub description: String,
}

/// A currency pair: how many `quote` one `base` is worth. Codes are uppercase tickers or ISO
/// 4217 codes (`BTC`, `ETH`, `USDT`, `USD`, `CNY`); written `BTC_USD`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Pair {
    /// What is priced, e.g. `BTC`.
    pub base: String,
    /// What it is priced in, e.g. `USD`.
    pub quote: String,
}

impl Pair {
    /// A pair from its two codes.
    pub fn new(base: impl Into<String>, quote: impl Into<String>) -> Self {
        Self { base: base.into(), quote: quote.into() }
    }
}

impl std::fmt::Display for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.base, self.quote)
    }
}

/// Fetch these pairs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateRequest {
    /// At least one.
    pub pairs: Vec<Pair>,
}

/// The reply of `request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateRequests {
    /// Sent in order; at least one.
    pub requests: Vec<HttpRequest>,
}

/// One response the host received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// The HTTP status.
    pub status: u16,
    /// The response headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body, decoded lossily as UTF-8 (the host refuses bodies over its size limit).
    pub body: String,
}

/// Read the responses to the requests of `request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateParseRequest {
    /// The pairs asked for.
    pub pairs: Vec<Pair>,
    /// One per request, in the same order.
    pub responses: Vec<HttpResponse>,
    /// Unix seconds when the responses arrived (the time of a rate whose API states none).
    pub now: i64,
}

/// One rate a source quoted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotedRate {
    /// The pair.
    #[serde(flatten)]
    pub pair: Pair,
    /// `quote` per one `base`, a plain positive decimal string (`"64123.5"`, no exponent);
    /// never a float's text that lost digits: copy the API's own digits.
    pub rate: String,
    /// Unix seconds the API says the rate is from, or `now` when it says nothing.
    pub at: i64,
}

/// The reply of `parse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateReply {
    /// The rates found.
    pub rates: Vec<QuotedRate>,
}
