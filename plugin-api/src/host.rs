//! The host as a plugin sees it: a safe wrapper over [`HostVTable`].

use crate::abi::{level, Bytes, HostVTable};

/// What the daemon offers during a call. Borrowed for the call only.
#[derive(Debug, Clone, Copy)]
pub struct Host<'a> {
    vt: &'a HostVTable,
}

impl<'a> Host<'a> {
    /// # Safety
    /// `vt` must be null or point at a valid `HostVTable` for `'a`.
    pub unsafe fn from_ptr(vt: *const HostVTable) -> Option<Self> {
        // SAFETY: the caller guarantees validity when non-null.
        unsafe { vt.as_ref() }.map(|vt| Self { vt })
    }

    /// Wraps a host vtable (the daemon's side, and test harnesses).
    pub fn new(vt: &'a HostVTable) -> Self {
        Self { vt }
    }

    /// A line in the daemon's log at a [`level`](crate::abi::level), attributed to the plugin.
    pub fn log(&self, lvl: u32, msg: &str) {
        // SAFETY: the host built the vtable; `msg` outlives the call.
        unsafe { (self.vt.log)(self.vt.ctx, lvl, Bytes::new(msg.as_bytes())) }
    }

    /// [`Host::log`] at `ERROR`.
    pub fn error(&self, msg: &str) {
        self.log(level::ERROR, msg)
    }
    /// [`Host::log`] at `WARN`.
    pub fn warn(&self, msg: &str) {
        self.log(level::WARN, msg)
    }
    /// [`Host::log`] at `INFO`.
    pub fn info(&self, msg: &str) {
        self.log(level::INFO, msg)
    }
    /// [`Host::log`] at `DEBUG`.
    pub fn debug(&self, msg: &str) {
        self.log(level::DEBUG, msg)
    }

    /// Whether a canonical key is watched on the chain being scanned.
    #[inline]
    pub fn is_watched(&self, key: &[u8]) -> bool {
        // SAFETY: as above.
        unsafe { (self.vt.is_watched)(self.vt.ctx, Bytes::new(key)) }
    }

    /// Whether any outpoint is watched at all (ask once per scan; when false, skip the
    /// per-input [`Host::is_watched_spend`] questions).
    #[inline]
    pub fn has_watched_spends(&self) -> bool {
        self.is_watched_spend(&[])
    }

    /// Whether the host wants to hear of a transaction spending this outpoint (it is an input
    /// of a pending payment: a conflicting spend means replacement). `outpoint` is the
    /// chain's serialization (Bitcoin: 32-byte txid in wire order ‖ u32 LE index), the same
    /// bytes the plugin gave in the payment's [`crate::messages::Match::outpoint_keys`]: the
    /// host compares them as they are. Report a yes with the same bytes in
    /// [`crate::messages::WatchedSpend::outpoint_key`].
    #[inline]
    pub fn is_watched_spend(&self, outpoint: &[u8]) -> bool {
        // SAFETY: as above.
        unsafe { (self.vt.is_watched_spend)(self.vt.ctx, Bytes::new(outpoint)) }
    }
}
