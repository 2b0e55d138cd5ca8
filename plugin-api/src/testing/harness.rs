//! A safe harness over a plugin's exported C ABI: load a built library (or take the vtable the
//! export macro defines), check it as the daemon does, create instances and call them. No
//! `unsafe` in the tests that use it.
//!
//! ```no_run
//! use paywatch_plugin_api::testing::{harness::PluginLib, TestHost};
//! // SAFETY: a plugin we built ourselves.
//! let lib = unsafe { PluginLib::load("target/release/libpaywatch_plugin_mycoin.so".as_ref()) }.unwrap();
//! let host = TestHost::new();
//! let plugin = lib.create(&serde_json::json!({"asset": "MYC", "network": "mainnet"}), &host).unwrap();
//! let info: paywatch_plugin_api::messages::CurrencyInfo = plugin.call("info", &serde_json::json!({}), &host).unwrap();
//! ```
//!
//! A rate-source plugin is called the same way, with [`Instance::rate_requests`] and
//! [`Instance::parse_rates`] for its two working methods.

use super::TestHost;
use crate::abi::{self, Bytes, EntryFn, OwnedBuf, PluginKind, Status};
use crate::messages::{
    rate_method, HttpRequest, Pair, PluginError, QuotedRate, RateParseRequest, RateReply, RateRequest, RateRequests,
    ScanReply,
};
use crate::vtable::{self, Checked, VTableError};
use crate::ExportedPlugin;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Why a library could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// `dlopen` failed.
    #[error("{path}: cannot load library: {message}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },
    /// The library has no entry symbol.
    #[error("{path}: not a paywatch plugin for ABI v{major}: no symbol {symbol}", major = abi::ABI_MAJOR, symbol = abi::ENTRY_SYMBOL)]
    NoEntry {
        /// The file.
        path: PathBuf,
    },
    /// The vtable failed a check (the daemon refuses the same).
    #[error("{what}: {source}")]
    Refused {
        /// The file, or `in-process vtable`.
        what: String,
        /// Which check.
        source: VTableError,
    },
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The plugin returned an error (the normal way to refuse input).
    #[error("{0}")]
    Plugin(PluginError),
    /// The plugin panicked (caught at the boundary); the instance is broken.
    #[error("panicked: {0}")]
    Panicked(String),
    /// The reply is not what the method returns.
    #[error("bad reply: {0}")]
    BadReply(String),
}

/// A checked plugin library. A loaded file stays loaded for the life of the process (as in
/// the daemon: unloading a Rust `cdylib` is not sound).
#[derive(Debug)]
pub struct PluginLib {
    checked: Checked,
    path: Option<PathBuf>,
}

impl PluginLib {
    /// Loads a built plugin library and checks its vtable.
    ///
    /// # Safety
    /// Loading a library runs its initializers and the checks call its entry point: `path`
    /// must be a library whose initializers and entry point are sound (a plugin you built or
    /// trust), as for [`libloading::Library::new`].
    pub unsafe fn load(path: &Path) -> Result<Self, HarnessError> {
        // SAFETY: as the caller guarantees.
        let lib = unsafe { libloading::Library::new(path) }
            .map_err(|e| HarnessError::Open { path: path.to_owned(), message: e.to_string() })?;
        // SAFETY: the symbol's type is fixed by the ABI; a library exporting this name claims it.
        let entry = unsafe { lib.get::<EntryFn>(abi::ENTRY_SYMBOL.as_bytes()) }
            .map_err(|_| HarnessError::NoEntry { path: path.to_owned() })?;
        // SAFETY: as above; the entry takes no arguments and returns a pointer checked below.
        let ptr = unsafe { entry() };
        std::mem::forget(lib);
        // SAFETY: the library is never unloaded; `ptr` is its entry point's return value.
        let checked = unsafe { vtable::validate(ptr) }
            .map_err(|source| HarnessError::Refused { what: path.display().to_string(), source })?;
        Ok(Self { checked, path: Some(path.to_owned()) })
    }

    /// A plugin crate itself, for its own tests: pass `&crate::PAYWATCH_PLUGIN`, which
    /// `export_currency_plugin!`, `export_platform_plugin!` and `export_rate_plugin!` define. Calls still go through
    /// the C ABI.
    pub fn from_exported(plugin: &ExportedPlugin) -> Result<Self, HarnessError> {
        // SAFETY: an `ExportedPlugin` holds a 'static vtable made by the SDK's export glue.
        let checked = unsafe { vtable::validate(plugin.vtable()) }
            .map_err(|source| HarnessError::Refused { what: "in-process vtable".into(), source })?;
        Ok(Self { checked, path: None })
    }

    /// The file it was loaded from (none for [`PluginLib::from_exported`]).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Currency, platform or rates.
    pub fn kind(&self) -> PluginKind {
        self.checked.kind
    }

    /// `NAME`.
    pub fn name(&self) -> &'static str {
        self.checked.name
    }

    /// `VERSION`.
    pub fn version(&self) -> &'static str {
        self.checked.version
    }

    /// `(major, minor)` of the ABI it was built against.
    pub fn abi(&self) -> (u32, u32) {
        self.checked.abi
    }

    /// Creates an instance from a JSON config (what the daemon passes: see `docs/plugins.md`).
    pub fn create(&self, config: &serde_json::Value, host: &TestHost) -> Result<Instance<'_>, CallError> {
        let config = serde_json::to_vec(config).expect("a JSON value encodes");
        let mut out: abi::Instance = std::ptr::null_mut();
        let mut reply = OwnedBuf::EMPTY;
        // SAFETY: per the ABI: config and host vtable live for the call; out-pointers valid.
        let status = unsafe { (self.checked.vtable.create)(Bytes::new(&config), host.vtable(), &mut out, &mut reply) };
        let bytes = self.take(reply);
        match finish(status, bytes)? {
            _ if out.is_null() => Err(CallError::BadReply("create returned OK and no instance".into())),
            _ => Ok(Instance { lib: self, ptr: out }),
        }
    }

    /// Copies a plugin-allocated reply and frees it with the plugin's own `free_buf`.
    fn take(&self, reply: OwnedBuf) -> Vec<u8> {
        // SAFETY: `reply` was just filled by a call through this vtable.
        unsafe { vtable::take_reply(self.checked.vtable, reply) }
    }
}

/// A reply's status and bytes → the JSON bytes, or the error.
fn finish(status: Status, bytes: Vec<u8>) -> Result<Vec<u8>, CallError> {
    match status {
        Status::OK => Ok(bytes),
        Status::ERROR => Err(match serde_json::from_slice::<PluginError>(&bytes) {
            Ok(e) => CallError::Plugin(e),
            Err(e) => CallError::BadReply(format!("unreadable error reply: {e}")),
        }),
        Status::PANIC => Err(CallError::Panicked(String::from_utf8_lossy(&bytes).into_owned())),
        Status(other) => Err(CallError::BadReply(format!("unknown status {other}"))),
    }
}

/// A live plugin instance; destroyed on drop.
#[derive(Debug)]
pub struct Instance<'lib> {
    lib: &'lib PluginLib,
    ptr: abi::Instance,
}

impl Instance<'_> {
    /// A control-plane call with raw JSON bytes.
    pub fn call_raw(&self, method: &str, payload: &[u8], host: &TestHost) -> Result<Vec<u8>, CallError> {
        let mut reply = OwnedBuf::EMPTY;
        let vt = self.lib.checked.vtable;
        // SAFETY: a live instance of this library; method, payload and host live for the call.
        let status = unsafe {
            (vt.call)(self.ptr, Bytes::new(method.as_bytes()), Bytes::new(payload), host.vtable(), &mut reply)
        };
        finish(status, self.lib.take(reply))
    }

    /// A typed control-plane call (method names: [`crate::messages::currency_method`],
    /// [`crate::messages::platform_method`], [`crate::messages::rate_method`]).
    pub fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &str,
        req: &Req,
        host: &TestHost,
    ) -> Result<Resp, CallError> {
        let payload =
            serde_json::to_vec(req).map_err(|e| CallError::BadReply(format!("cannot encode request: {e}")))?;
        let bytes = self.call_raw(method, &payload, host)?;
        serde_json::from_slice(&bytes).map_err(|e| CallError::BadReply(format!("{method}: {e}")))
    }

    /// A rate-source plugin's `request`: the HTTP requests that fetch these pairs.
    pub fn rate_requests(&self, pairs: &[Pair], host: &TestHost) -> Result<Vec<HttpRequest>, CallError> {
        let req = RateRequest { pairs: pairs.to_vec() };
        self.call::<_, RateRequests>(rate_method::REQUEST, &req, host).map(|r| r.requests)
    }

    /// A rate-source plugin's `parse`: the rates the responses give.
    pub fn parse_rates(&self, req: &RateParseRequest, host: &TestHost) -> Result<Vec<QuotedRate>, CallError> {
        self.call::<_, RateReply>(rate_method::PARSE, req, host).map(|r| r.rates)
    }

    /// `scan` of a whole block ([`abi::SCAN_BLOCK`]).
    pub fn scan_block(&self, raw: &[u8], host: &TestHost) -> Result<ScanReply, CallError> {
        self.scan(abi::SCAN_BLOCK, raw, host)
    }

    /// `scan` of one transaction ([`abi::SCAN_TX`]).
    pub fn scan_tx(&self, raw: &[u8], host: &TestHost) -> Result<ScanReply, CallError> {
        self.scan(abi::SCAN_TX, raw, host)
    }

    fn scan(&self, what: u32, raw: &[u8], host: &TestHost) -> Result<ScanReply, CallError> {
        let mut reply = OwnedBuf::EMPTY;
        let vt = self.lib.checked.vtable;
        // SAFETY: as in `call_raw`.
        let status = unsafe { (vt.scan)(self.ptr, what, Bytes::new(raw), host.vtable(), &mut reply) };
        let bytes = finish(status, self.lib.take(reply))?;
        serde_json::from_slice(&bytes).map_err(|e| CallError::BadReply(format!("scan: {e}")))
    }
}

impl Drop for Instance<'_> {
    fn drop(&mut self) {
        // SAFETY: created by this library's `create`, destroyed once; no call is in progress
        // (calls borrow `self`).
        unsafe { (self.lib.checked.vtable.destroy)(self.ptr) };
    }
}
