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

    /// A new instance from its config (the asset's table and the chain's network, as JSON).
    fn create(config: serde_json::Value, host: &Host<'_>) -> Result<Self, PluginError>;

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
    const NAME: &'static str;
    const VERSION: &'static str;

    /// A new instance (plugin-wide config; endpoint config comes with each render).
    fn create(config: serde_json::Value, host: &Host<'_>) -> Result<Self, PluginError>;

    fn info(&self) -> PlatformInfo;

    fn render(&self, req: &RenderRequest, host: &Host<'_>) -> Result<RenderReply, PluginError>;

    fn classify(&self, resp: &ClassifyRequest) -> Result<Verdict, PluginError>;
}
