//! The safe traits a plugin implements. The export macros turn one into a C ABI library.
//!
//! Threading contract: the host may call one instance from several threads at once (a scan
//! on a worker thread while the API parses an address), so instances are `Send + Sync`; keep
//! mutable state behind a `Mutex` or atomics. Calls may block (they run off the daemon's async
//! workers) but should be quick: scans are the hot path.
//!
//! Error contract: return `Err(PluginError)` for anything wrong with the input or config; the
//! host reports it with the plugin's name. A panic is caught at the boundary, reported with its
//! message, and the host then drops the instance and creates a fresh one.

use crate::host::Host;
use crate::messages::*;

/// A currency plugin: one currency family's formats and scanning.
pub trait CurrencyPlugin: Sized + Send + Sync + 'static {
    /// Short name, as `plugin = "…"` refers to it in the daemon's config.
    const NAME: &'static str;
    /// The plugin's own version (semver).
    const VERSION: &'static str;

    /// A new instance from its config: `asset` (the asset id), `symbol`, `chain`, `network`
    /// (bitcoin chains) or `chain_id` (evm chains), and the asset table's other keys, flat.
    /// Refuse what you cannot serve (a network, a missing key) with
    /// [`PluginError::bad_config`]: the daemon then does not start.
    fn create(config: serde_json::Value, host: &Host<'_>) -> Result<Self, PluginError>;

    /// What it is: chain kind, symbol, decimals, default confirmations.
    fn info(&self) -> CurrencyInfo;

    /// Address → normalized form + canonical key, or a clear error (wrong network, bad checksum…).
    fn parse_address(&self, address: &str) -> Result<ParsedAddress, PluginError>;

    /// Canonical key → address.
    fn key_to_address(&self, key: &[u8]) -> Result<String, PluginError>;

    /// Addresses from an extended public key or descriptor.
    fn derive_addresses(&self, req: &DeriveRequest) -> Result<Vec<DerivedAddress>, PluginError> {
        let _ = req;
        Err(PluginError::unsupported("derive_addresses"))
    }

    /// Scans a raw block; only matches come back.
    fn scan_block(&self, raw: &[u8], host: &Host<'_>) -> Result<ScanReply, PluginError>;

    /// Scans one raw transaction (mempool); only matches come back. The default finds nothing:
    /// right for chains followed by block only (EVM); a plugin for a chain with a mempool feed
    /// (Bitcoin-family) implements it, or pending payments are only seen once mined.
    fn scan_tx(&self, raw: &[u8], host: &Host<'_>) -> Result<ScanReply, PluginError> {
        let _ = (raw, host);
        Ok(ScanReply::default())
    }

    /// A payment URI (BIP21, EIP-681) for an amount in base units.
    fn payment_uri(&self, req: &PaymentUriRequest) -> Result<String, PluginError>;

    /// Base units → the asset's unit as a decimal string.
    fn format_amount(&self, amount_base: &str) -> Result<String, PluginError> {
        crate::amount::format_base_units(amount_base, self.info().decimals)
    }
}

/// A platform plugin: turns an event into the request(s) a shop platform expects and reads its
/// response.
pub trait PlatformPlugin: Sized + Send + Sync + 'static {
    /// Short name, as endpoints' `plugin = "…"` refers to it.
    const NAME: &'static str;
    /// The plugin's own version (semver).
    const VERSION: &'static str;

    /// A new instance from the plugin-wide config: the daemon config's
    /// `[plugins.config.NAME]` table (`{}` without one). Endpoint params come with each call.
    fn create(config: serde_json::Value, host: &Host<'_>) -> Result<Self, PluginError>;

    /// What it delivers to.
    fn info(&self) -> PlatformInfo;

    /// Checks an endpoint's params (`url`, `secret` and the plugin's own keys, flat: see
    /// [`RenderRequest::endpoint`]) when a store creates or changes the endpoint, and for each
    /// endpoint of the config file at start. An error is answered to the store as `422` with
    /// its message (say which param and why). The default accepts everything.
    fn validate_endpoint(&self, endpoint: &serde_json::Value) -> Result<(), PluginError> {
        let _ = endpoint;
        Ok(())
    }

    /// The HTTP request(s) that deliver one event to one endpoint; read the event as the typed
    /// [`crate::events::Event`]. An empty list skips the event (recorded as delivered). Return
    /// [`PluginError::undeliverable`] when this can never succeed (no retry); any other error is
    /// retried on the schedule, like a failed request.
    fn render(&self, req: &RenderRequest, host: &Host<'_>) -> Result<RenderReply, PluginError>;

    /// What the platform's response to one of the requests means.
    fn classify(&self, resp: &ClassifyRequest) -> Result<Verdict, PluginError>;
}

/// A rate-source plugin: one exchange-rate API, pure. It says which HTTP requests fetch the
/// wanted pairs and reads the responses; the daemon does the I/O (its SSRF guard, timeouts,
/// size limits and logging apply), caches what it parsed and decides which source to trust
/// for which pair (the stores' rate rules, `docs/rates.md`).
pub trait RatePlugin: Sized + Send + Sync + 'static {
    /// Short name, as a rate source's `plugin = "…"` refers to it.
    const NAME: &'static str;
    /// The plugin's own version (semver).
    const VERSION: &'static str;

    /// A new instance from the source's config: the daemon config's `[rates.sources.NAME]`
    /// table without the host's own keys (`plugin`, `ttl_secs`, `max_age_secs`), e.g. a
    /// `base_url` to reach a mirror or a test server. Refuse a bad key with
    /// [`PluginError::bad_config`].
    fn create(config: serde_json::Value, host: &Host<'_>) -> Result<Self, PluginError>;

    /// What it is.
    fn info(&self) -> RateSourceInfo;

    /// The requests that fetch these pairs (one or more; the host sends them in order, each
    /// through its SSRF guard, and hands every response to [`RatePlugin::parse`]). Refuse a
    /// pair the API cannot quote with `unsupported_pair` naming it.
    fn request(&self, req: &RateRequest) -> Result<Vec<HttpRequest>, PluginError>;

    /// The rates the responses give, for the wanted pairs (a pair the responses do not quote is
    /// left out, the host then names it as missing). A response that is not this API's format,
    /// an error body or a status other than success is an error naming what was wrong: the
    /// host then tries the next source.
    fn parse(&self, req: &RateParseRequest) -> Result<Vec<QuotedRate>, PluginError>;
}
