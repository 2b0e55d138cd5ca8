//! # paywatch plugin API (ABI v1)
//!
//! The contract between the paywatch daemon and the plugins it loads at run time. Two kinds:
//!
//! * **currency plugins** ([`CurrencyPlugin`]) own one currency family's formats: address ⇄
//!   canonical key, derivation from extended public keys, block and transaction scanning,
//!   amounts and payment URIs;
//! * **platform plugins** ([`PlatformPlugin`]) turn an event into the HTTP request(s) a shop
//!   platform expects and read its response as ack / retry / fail / disable.
//!
//! A plugin author writes ordinary Rust against these traits and one export macro; no
//! `unsafe`. The [`abi`] module is the C ABI underneath, for hosts and for the curious.
//!
//! ## From `cargo new` to a loaded plugin
//!
//! ```toml
//! # Cargo.toml
//! [package]
//! name = "paywatch-plugin-mycoin"
//! edition = "2021"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! paywatch-plugin-api = "0.1"
//! serde_json = "1"
//!
//! # panic = "abort" is refused by the daemon: it needs panics caught inside the plugin.
//! [profile.release]
//! panic = "unwind"
//! ```
//!
//! ```no_run
//! use paywatch_plugin_api::messages::*;
//! use paywatch_plugin_api::{export_currency_plugin, CurrencyPlugin, Host, PluginError};
//!
//! struct MyCoin;
//!
//! impl CurrencyPlugin for MyCoin {
//!     const NAME: &'static str = "mycoin";
//!     const VERSION: &'static str = env!("CARGO_PKG_VERSION");
//!
//!     fn create(_config: serde_json::Value, host: &Host<'_>) -> Result<Self, PluginError> {
//!         host.info("mycoin ready"); // lands in the daemon's log, attributed to the plugin
//!         Ok(MyCoin)
//!     }
//!     fn info(&self) -> CurrencyInfo {
//!         CurrencyInfo { chain_kind: "mycoin".into(), symbol: "MYC".into(), decimals: 8, default_confirmations: 6 }
//!     }
//!     fn parse_address(&self, address: &str) -> Result<ParsedAddress, PluginError> {
//!         Err(PluginError::new("invalid_address", format!("{address:?} is not a mycoin address")))
//!     }
//!     fn key_to_address(&self, _key: &[u8]) -> Result<String, PluginError> {
//!         Err(PluginError::unsupported("key_to_address"))
//!     }
//!     fn scan_block(&self, raw: &[u8], host: &Host<'_>) -> Result<ScanReply, PluginError> {
//!         let mut reply = ScanReply::default();
//!         // For each output: if host.is_watched(&script) { reply.matches.push(...) }
//!         let _ = (raw, host);
//!         Ok(reply)
//!     }
//!     fn scan_tx(&self, raw: &[u8], host: &Host<'_>) -> Result<ScanReply, PluginError> {
//!         self.scan_block(raw, host)
//!     }
//!     fn payment_uri(&self, req: &PaymentUriRequest) -> Result<String, PluginError> {
//!         Ok(format!("mycoin:{}?amount={}", req.address, self.format_amount(&req.amount_base)?))
//!     }
//! }
//!
//! export_currency_plugin!(MyCoin);
//! # fn main() {}
//! ```
//!
//! `cargo build --release`, copy `target/release/libpaywatch_plugin_mycoin.so` into the
//! daemon's `plugins.dir`, refer to it by `NAME` in `[[assets]] plugin = "mycoin"`, and check
//! with `paywatch plugins list`. `plugins/template-currency` and `plugins/template-platform` in
//! the paywatch repository are complete, tested starting points; `docs/plugins.md` says more.
//!
//! ## Threading contract
//!
//! The daemon may call one instance from several threads at once, so instances are
//! `Send + Sync` (keep mutable state behind a `Mutex` or atomics). Calls run on threads off the
//! daemon's async runtime and may block, but scans are the hot path: keep them allocation-light
//! and return only matches. The [`Host`] handed to a call is valid for that call only.
//!
//! ## Error contract
//!
//! Return `Err(`[`PluginError`]`)` for bad input or config: the daemon reports it with the
//! plugin's name and the instance stays in use. A panic is caught at the boundary (the export
//! glue wraps every entry point in `catch_unwind`); the daemon logs its message, marks the
//! instance broken in `/health`, drops it and creates a fresh one for the next call. Plugins
//! built with `panic = "abort"` are refused at load: a panic there would kill the daemon.
//!
//! ## Versioning
//!
//! The entry symbol carries the major version ([`abi::ENTRY_SYMBOL`]). Within a major version
//! the vtables are append-only and carry their `struct_size`, message types only gain optional
//! fields, and new methods answer `unknown_method` on older plugins.

pub mod abi;
pub mod amount;
pub mod evm;
mod export;
mod host;
pub mod messages;
mod plugin;
pub mod testing;
pub mod text;

pub use host::Host;
pub use messages::PluginError;
pub use plugin::{CurrencyPlugin, PlatformPlugin};

/// Used by the export macros; not part of the stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::{currency_vtable, platform_vtable};
}
