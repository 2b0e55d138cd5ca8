//! # paywatch plugin API (ABI v1)
//!
//! The contract between the paywatch daemon and the plugins it loads at run time. Two kinds:
//!
//! * **currency plugins** ([`CurrencyPlugin`]) own one currency family's formats: address ⇄
//!   canonical key, derivation from extended public keys, block and transaction scanning,
//!   amounts and payment URIs;
//! * **platform plugins** ([`PlatformPlugin`]) turn an event (typed in [`events`]: every
//!   event kind and the Invoice, Payment and Refund it carries) into the HTTP request(s) a shop
//!   platform expects and read its response as ack / retry / fail / disable.
//!
//! A plugin author writes ordinary Rust against these traits and one export macro; no
//! `unsafe`. The [`abi`] module is the C ABI underneath, for hosts and for the curious.
//!
//! ## From `cargo new` to a loaded plugin
//!
//! The SDK is not on crates.io yet: depend on it by path (a paywatch checkout) or by git. The
//! `conformance` feature adds the test harness and checks (`testing::harness`,
//! `testing::conformance`, `testing::fixtures`) for your tests.
//!
//! ```toml
//! # Cargo.toml
//! [package]
//! name = "paywatch-plugin-mycoin"
//! version = "0.1.0"
//! edition = "2021"
//!
//! [lib]
//! crate-type = ["cdylib", "rlib"]
//!
//! [dependencies]
//! paywatch-plugin-api = { path = "/path/to/paywatch/plugin-api" }
//! # or: paywatch-plugin-api = { git = "https://your.git.host/paywatch.git", rev = "…" }
//! serde_json = "1"
//!
//! [dev-dependencies]
//! paywatch-plugin-api = { path = "/path/to/paywatch/plugin-api", features = ["conformance"] }
//!
//! # panic = "abort" is refused by the daemon: it needs panics caught inside the plugin.
//! # "unwind" is Rust's default; cargo reads [profile] only from the workspace root, so if this
//! # crate is a member of a workspace, this section belongs in the workspace's Cargo.toml.
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
//! `cargo build --release`, check the library as the daemon will load it with
//! `paywatch plugins check target/release/libpaywatch_plugin_mycoin.so` (no daemon config), copy
//! it into the daemon's `plugins.dir` under that name (the daemon finds plugin `NAME` as
//! `libpaywatch_plugin_NAME.so`, `paywatch_plugin_NAME.so` or `NAME.so`), refer to it by `NAME`
//! in `[[assets]] plugin = "mycoin"` (the daemon loads only the plugins its config names), and
//! see it with `paywatch plugins list`. `plugins/template-currency` and
//! `plugins/template-platform` in the paywatch repository are complete, tested starting points
//! that build when copied out of it; `docs/plugins.md` has the walk-through.
//!
//! ## Chain kinds
//!
//! [`messages::CurrencyInfo::chain_kind`] names the kind of chain a currency plugin scans; the
//! daemon refuses an asset whose chain is of another kind. What `scan` receives and what a
//! [`messages::Match`] must carry, per kind (the full table is in `docs/plugins.md`, and
//! [`testing::conformance`] checks it):
//!
//! * **`bitcoin`**: `scan_block` gets the block's consensus serialization, `scan_tx` one
//!   transaction's. The watch key is the output's scriptPubKey. `Match.txid` is the txid in
//!   display order (double SHA-256, byte-reversed, lowercase hex, as `bitcoind` prints it);
//!   `index` the vout; `amount_base` satoshis. `Match.spends` lists the outpoints the
//!   transaction spends, and `Match.outpoint_keys` the same outpoints as the input's 36
//!   outpoint bytes (txid in wire order ‖ vout u32 LE): the keys the host watches as they are
//!   and `is_watched_spend` is asked; a coinbase's null outpoint is not a spend. A watched
//!   spend carries its key (`WatchedSpend.outpoint_key`); a plugin that gives no keys has no
//!   payment of it ever `replaced`.
//! * **`evm`**: `scan_block` gets the normalized block of [`evm`]; `scan_tx` is never called.
//!   The watch key is the 20-byte address; `Match.txid` is `0x` + 64 lowercase hex digits;
//!   `index` the log index (token transfers) or the `ethereum` plugin's top-level/internal
//!   convention; only successful transactions pay.
//! * every kind: `Match.asset` is the **asset id** the instance was created with (config key
//!   `asset`), never the symbol; `Match.amount_base` is digits, 0 to 2^256 − 1 (an
//!   [`amount::Amount`]; the daemon refuses a reply with anything else); truncated or garbage
//!   input is an `Err`, never a partial `Ok` or a panic.
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

#![warn(missing_docs)]

pub mod abi;
pub mod amount;
pub mod events;
pub mod evm;
mod export;
mod host;
pub mod messages;
mod plugin;
pub mod testing;
pub mod text;
pub mod vtable;

pub use export::ExportedPlugin;
pub use host::Host;
pub use messages::PluginError;
pub use plugin::{CurrencyPlugin, PlatformPlugin, RatePlugin};

/// Used by the export macros; not part of the stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::{currency_vtable, platform_vtable, rate_vtable};
}
