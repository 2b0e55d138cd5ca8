//! A supervised plugin instance: created from its config, called through the vtable, and
//! recreated after a panic (which is surfaced in the logs and `/health`).

use super::host::CallContext;
use super::loader::Library;
use crate::health::{Health, Kind, Status};
use crate::index::ChainSet;
use paywatch_plugin_api::abi::{self, Bytes, Instance, OwnedBuf};
use paywatch_plugin_api::amount::Amount;
use paywatch_plugin_api::messages::ScanReply;
use paywatch_plugin_api::PluginError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("plugin {plugin}: {method} failed: {error}")]
    Plugin { plugin: String, method: String, error: PluginError },
    #[error("plugin {plugin} panicked in {method}: {message}")]
    Panicked { plugin: String, method: String, message: String },
    #[error("plugin {plugin}: cannot create an instance: {error}")]
    Create { plugin: String, error: String },
    #[error("plugin {plugin}: bad {method} reply: {reason}")]
    BadReply { plugin: String, method: String, reason: String },
}

impl CallError {
    /// The plugin's own error code, when it returned an error (not a panic or a bad reply).
    pub(crate) fn plugin_code(&self) -> Option<&str> {
        match self {
            CallError::Plugin { error, .. } => Some(&error.code),
            _ => None,
        }
    }
}

/// The raw instance pointer; instances are `Send + Sync` by the plugin contract.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ptr(Instance);
// SAFETY: the plugin contract requires instances to be `Send + Sync`.
unsafe impl Send for Ptr {}
// SAFETY: as above.
unsafe impl Sync for Ptr {}

#[derive(Debug)]
pub(crate) struct PluginInstance {
    lib: Arc<Library>,
    /// `name@what`, in logs and `/health`.
    label: String,
    config: Vec<u8>,
    slot: RwLock<Option<Ptr>>,
    /// The chain's watch set `is_watched` consults (currency instances; attached once the
    /// store is open, so plugins are created and checked before storage is touched).
    watches: OnceLock<Arc<ChainSet>>,
    health: Arc<Health>,
    panics: AtomicU64,
    /// The asset a currency instance serves: every match is recorded for it.
    asset: Option<String>,
    /// Whether the plugin was already caught naming another asset in a match (logged once).
    wrong_asset: AtomicBool,
}

impl PluginInstance {
    /// Creates the first instance now, so a bad config fails at startup.
    pub(crate) fn new(
        lib: Arc<Library>,
        label: String,
        config: &serde_json::Value,
        watches: Option<Arc<ChainSet>>,
        health: Arc<Health>,
    ) -> Result<Self, CallError> {
        let config = serde_json::to_vec(config).expect("a JSON value encodes");
        let me = Self {
            lib,
            label,
            config,
            slot: RwLock::new(None),
            watches: watches.map(OnceLock::from).unwrap_or_default(),
            health,
            panics: AtomicU64::new(0),
            asset: None,
            wrong_asset: AtomicBool::new(false),
        };
        let ptr = me.create()?;
        *me.slot.write().unwrap_or_else(|p| p.into_inner()) = Some(ptr);
        me.health.set(
            Kind::Plugin,
            &me.label,
            Status::Ok,
            format!("{} {} from {}", me.lib.name, me.lib.version, me.lib.path.display()),
        );
        Ok(me)
    }

    /// Attaches the chain's watch set (once; a second call keeps the first).
    pub(crate) fn attach_watches(&self, set: Arc<ChainSet>) {
        let _ = self.watches.set(set);
    }

    /// A currency instance for one asset: its matches are that asset's, whatever the plugin
    /// writes in `Match.asset` (a plugin that puts the symbol there is logged, once).
    pub(crate) fn for_asset(mut self, asset: &str) -> Self {
        self.asset = Some(asset.to_string());
        self
    }

    /// `name@what`: the plugin and what this instance is for.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// Runs `f` with a host vtable for one call; a scan holds the watch set's read lock for the
    /// whole call.
    fn with_context<R>(&self, scan: bool, f: impl FnOnce(&abi::HostVTable) -> R) -> R {
        let watches = self.watches.get().map(|w| w.as_ref());
        let view = if scan { watches.map(|w| w.view()) } else { None };
        let ctx = CallContext { plugin: &self.label, watches, view };
        let vt = ctx.vtable();
        f(&vt)
    }

    fn create(&self) -> Result<Ptr, CallError> {
        let mut out: Instance = std::ptr::null_mut();
        let mut reply = OwnedBuf::EMPTY;
        // SAFETY: arguments follow the ABI: config bytes and host vtable live for the call;
        // `out` and `reply` are valid out-pointers.
        let status = self.with_context(false, |vt| unsafe {
            (self.lib.vtable.create)(Bytes::new(&self.config), vt, &mut out, &mut reply)
        });
        let bytes = self.take(reply);
        match status {
            abi::Status::OK if !out.is_null() => Ok(Ptr(out)),
            abi::Status::OK => {
                Err(CallError::Create { plugin: self.label.clone(), error: "create returned no instance".into() })
            }
            abi::Status::ERROR => {
                let error = serde_json::from_slice::<PluginError>(&bytes)
                    .map(|e| e.to_string())
                    .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into());
                Err(CallError::Create { plugin: self.label.clone(), error })
            }
            _ => Err(CallError::Create {
                plugin: self.label.clone(),
                error: format!("panicked: {}", String::from_utf8_lossy(&bytes)),
            }),
        }
    }

    /// Copies a plugin-allocated reply and frees it with the plugin's own `free_buf`.
    fn take(&self, reply: OwnedBuf) -> Vec<u8> {
        // SAFETY: `reply` was just filled by a call through this library's vtable.
        unsafe { paywatch_plugin_api::vtable::take_reply(self.lib.vtable, reply) }
    }

    /// Runs `f` on the live instance (creating one if the last panicked), holding the read
    /// lock for the whole call: a broken instance is destroyed only under the write lock, so
    /// never while another thread is inside it.
    fn with_instance<R>(&self, f: impl FnOnce(Ptr) -> R) -> Result<(R, Ptr), CallError> {
        let mut f = Some(f);
        loop {
            {
                let slot = self.slot.read().unwrap_or_else(|p| p.into_inner());
                if let Some(p) = *slot {
                    let f = f.take().expect("called once: we return right after");
                    return Ok((f(p), p));
                }
            }
            let mut slot = self.slot.write().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(self.create()?);
                tracing::info!(plugin = %self.label, "plugin instance recreated");
            }
        }
    }

    /// Drops a broken instance (once, even if several calls saw it panic).
    fn discard(&self, broken: Ptr, method: &str, message: &str) {
        let n = self.panics.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::error!(plugin = %self.label, method, panic = message, "plugin panicked; its instance is dropped and will be recreated");
        self.health.set(
            Kind::Plugin,
            &self.label,
            Status::Degraded,
            format!("panicked in {method} ({n} so far): {message}; instance recreated"),
        );
        let mut slot = self.slot.write().unwrap_or_else(|p| p.into_inner());
        if *slot == Some(broken) {
            *slot = None;
            // SAFETY: the instance came from this library's `create`; no call is inside it: calls
            // hold the read lock for their whole duration and we hold the write lock. Destroy
            // catches panics in the plugin's Drop.
            unsafe { (self.lib.vtable.destroy)(broken.0) };
        }
    }

    fn finish(&self, method: &str, ptr: Ptr, status: abi::Status, bytes: Vec<u8>) -> Result<Vec<u8>, CallError> {
        match status {
            abi::Status::OK => Ok(bytes),
            abi::Status::ERROR => Err(match serde_json::from_slice::<PluginError>(&bytes) {
                Ok(error) => CallError::Plugin { plugin: self.label.clone(), method: method.into(), error },
                Err(e) => CallError::BadReply {
                    plugin: self.label.clone(),
                    method: method.into(),
                    reason: format!("unreadable error: {e}"),
                },
            }),
            abi::Status::PANIC => {
                let message = String::from_utf8_lossy(&bytes).into_owned();
                self.discard(ptr, method, &message);
                Err(CallError::Panicked { plugin: self.label.clone(), method: method.into(), message })
            }
            abi::Status(other) => {
                let message = format!("unknown status {other}");
                self.discard(ptr, method, &message);
                Err(CallError::BadReply { plugin: self.label.clone(), method: method.into(), reason: message })
            }
        }
    }

    /// A control-plane call with raw JSON bytes. Blocking.
    pub(crate) fn call_raw(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        let ((status, bytes), ptr) = self.with_instance(|ptr| {
            let mut reply = OwnedBuf::EMPTY;
            // SAFETY: a live instance of this library; method, payload and host vtable live
            // for the call.
            let status = self.with_context(false, |vt| unsafe {
                (self.lib.vtable.call)(ptr.0, Bytes::new(method.as_bytes()), Bytes::new(payload), vt, &mut reply)
            });
            (status, self.take(reply))
        })?;
        self.finish(method, ptr, status, bytes)
    }

    /// A typed control-plane call. Blocking.
    pub(crate) fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &str,
        req: &Req,
    ) -> Result<Resp, CallError> {
        let payload = serde_json::to_vec(req).expect("request types encode");
        let bytes = self.call_raw(method, &payload)?;
        serde_json::from_slice(&bytes).map_err(|e| CallError::BadReply {
            plugin: self.label.clone(),
            method: method.into(),
            reason: e.to_string(),
        })
    }

    /// The hot path: scan a raw block or transaction. Blocking.
    pub(crate) fn scan(&self, what: u32, raw: &[u8]) -> Result<ScanReply, CallError> {
        let method = if what == abi::SCAN_BLOCK { "scan_block" } else { "scan_tx" };
        let ((status, bytes), ptr) = self.with_instance(|ptr| {
            let mut reply = OwnedBuf::EMPTY;
            // SAFETY: as in `call_raw`.
            let status = self.with_context(true, |vt| unsafe {
                (self.lib.vtable.scan)(ptr.0, what, Bytes::new(raw), vt, &mut reply)
            });
            (status, self.take(reply))
        })?;
        let bytes = self.finish(method, ptr, status, bytes)?;
        let mut reply: ScanReply = serde_json::from_slice(&bytes).map_err(|e| CallError::BadReply {
            plugin: self.label.clone(),
            method: method.into(),
            reason: e.to_string(),
        })?;
        if let Some(asset) = &self.asset {
            for m in reply.matches.iter_mut().filter(|m| m.asset != *asset) {
                if !self.wrong_asset.swap(true, Ordering::Relaxed) {
                    tracing::warn!(plugin = %self.label, found = %m.asset, asset = %asset, "plugin names another asset in Match.asset (it must be the asset id); recorded for the instance's asset");
                }
                m.asset.clone_from(asset);
            }
        }
        // What is stored is read back as an amount: one that does not read is the plugin's bad
        // reply here, not a corrupt record (or a zero) later. Kept in canonical form.
        for m in &mut reply.matches {
            let amount = Amount::from_base_str(&m.amount_base).map_err(|e| CallError::BadReply {
                plugin: self.label.clone(),
                method: method.into(),
                reason: format!("match {}:{}: amount_base {e}", m.txid, m.index),
            })?;
            m.amount_base = amount.to_string();
        }
        Ok(reply)
    }
}

impl Drop for PluginInstance {
    fn drop(&mut self) {
        if let Some(p) = self.slot.get_mut().unwrap_or_else(|p| p.into_inner()).take() {
            // SAFETY: created by this library, not used any more (we are being dropped).
            unsafe { (self.lib.vtable.destroy)(p.0) };
        }
    }
}
