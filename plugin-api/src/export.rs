//! The glue between the safe traits and the C ABI, used by the export macros. Every function
//! here catches panics: nothing unwinds across the boundary.

use crate::abi::*;
use crate::host::Host;
use crate::messages::*;
use crate::plugin::{CurrencyPlugin, PlatformPlugin, RatePlugin};
use serde::de::DeserializeOwned;
use std::panic::{catch_unwind, AssertUnwindSafe};

type Reply = Result<Vec<u8>, PluginError>;

/// Runs `f`, catching panics, and writes its reply (JSON, error JSON or panic text).
fn guard(reply: *mut OwnedBuf, f: impl FnOnce() -> Reply) -> Status {
    let (status, bytes) = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => (Status::OK, v),
        Ok(Err(e)) => (Status::ERROR, serde_json::to_vec(&e).unwrap_or_default()),
        Err(panic) => (Status::PANIC, panic_message(panic.as_ref()).into_bytes()),
    };
    if !reply.is_null() {
        // SAFETY: the host passes a valid out-pointer for the reply.
        unsafe { reply.write(OwnedBuf::from_vec(bytes)) };
    }
    status
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".into())
}

fn json<T: serde::Serialize>(v: &T) -> Reply {
    serde_json::to_vec(v).map_err(|e| PluginError::new("internal", format!("cannot encode reply: {e}")))
}

fn parse<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, PluginError> {
    serde_json::from_slice(bytes).map_err(|e| PluginError::invalid_input(format!("bad {what} payload: {e}")))
}

/// # Safety
/// `b` must be valid for the call (the host guarantees it).
unsafe fn slice<'a>(b: Bytes) -> &'a [u8] {
    // SAFETY: forwarded from the caller.
    unsafe { b.as_slice() }
}

fn host<'a>(vt: *const HostVTable) -> Result<Host<'a>, PluginError> {
    // SAFETY: the host passes null or a vtable valid for the call.
    unsafe { Host::from_ptr(vt) }.ok_or_else(|| PluginError::invalid_input("no host vtable"))
}

/// # Safety
/// Called through the vtable by the host with valid arguments.
unsafe fn create<T>(
    config: Bytes,
    hostp: *const HostVTable,
    out: *mut Instance,
    reply: *mut OwnedBuf,
    make: impl FnOnce(serde_json::Value, &Host<'_>) -> Result<T, PluginError>,
) -> Status {
    guard(reply, || {
        // SAFETY: the host keeps `config` valid for the call.
        let cfg = parse("config", unsafe { slice(config) })?;
        let instance = make(cfg, &host(hostp)?)?;
        // SAFETY: `out` is a valid out-pointer from the host.
        unsafe { out.write(Box::into_raw(Box::new(instance)).cast()) };
        Ok(Vec::new())
    })
}

/// # Safety
/// `instance` comes from `create::<T>` of this library.
unsafe fn instance<'a, T>(instance: Instance) -> Result<&'a T, PluginError> {
    // SAFETY: forwarded from the caller; instances are `Sync`.
    unsafe { instance.cast::<T>().as_ref() }.ok_or_else(|| PluginError::invalid_input("null instance"))
}

pub(crate) unsafe extern "C" fn currency_create<T: CurrencyPlugin>(
    config: Bytes,
    hostp: *const HostVTable,
    out: *mut Instance,
    reply: *mut OwnedBuf,
) -> Status {
    // SAFETY: called by the host through the vtable.
    unsafe { create(config, hostp, out, reply, T::create) }
}

pub(crate) unsafe extern "C" fn platform_create<T: PlatformPlugin>(
    config: Bytes,
    hostp: *const HostVTable,
    out: *mut Instance,
    reply: *mut OwnedBuf,
) -> Status {
    // SAFETY: called by the host through the vtable.
    unsafe { create(config, hostp, out, reply, T::create) }
}

pub(crate) unsafe extern "C" fn rate_create<T: RatePlugin>(
    config: Bytes,
    hostp: *const HostVTable,
    out: *mut Instance,
    reply: *mut OwnedBuf,
) -> Status {
    // SAFETY: called by the host through the vtable.
    unsafe { create(config, hostp, out, reply, T::create) }
}

pub(crate) unsafe extern "C" fn destroy<T>(instance: Instance) {
    if instance.is_null() {
        return;
    }
    // SAFETY: `instance` came from `create::<T>`; the host destroys it once. A panicking
    // `Drop` is caught: the memory then leaks, which is the safe outcome.
    let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(instance.cast::<T>()) })));
}

pub(crate) unsafe extern "C" fn currency_call<T: CurrencyPlugin>(
    inst: Instance,
    method: Bytes,
    payload: Bytes,
    _host: *const HostVTable,
    reply: *mut OwnedBuf,
) -> Status {
    guard(reply, || {
        // SAFETY: arguments valid for the call, per the ABI contract.
        let (p, method, payload) = unsafe { (instance::<T>(inst)?, slice(method), slice(payload)) };
        currency_dispatch(p, method, payload)
    })
}

fn currency_dispatch<T: CurrencyPlugin>(p: &T, method: &[u8], payload: &[u8]) -> Reply {
    use crate::messages::currency_method as m;
    match std::str::from_utf8(method).unwrap_or("") {
        m::INFO => json(&p.info()),
        m::PARSE_ADDRESS => json(&p.parse_address(&parse::<ParseAddressRequest>(m::PARSE_ADDRESS, payload)?.address)?),
        m::KEY_TO_ADDRESS => {
            let req: KeyToAddressRequest = parse(m::KEY_TO_ADDRESS, payload)?;
            json(&AddressReply { address: p.key_to_address(&req.key.0)? })
        }
        m::DERIVE_ADDRESSES => {
            json(&DeriveReply { addresses: p.derive_addresses(&parse(m::DERIVE_ADDRESSES, payload)?)? })
        }
        m::PAYMENT_URI => json(&PaymentUriReply { uri: p.payment_uri(&parse(m::PAYMENT_URI, payload)?)? }),
        m::FORMAT_AMOUNT => {
            let req: FormatAmountRequest = parse(m::FORMAT_AMOUNT, payload)?;
            json(&FormatAmountReply { amount: p.format_amount(&req.amount_base)? })
        }
        other => Err(PluginError::new("unknown_method", format!("unknown method {other:?}"))),
    }
}

pub(crate) unsafe extern "C" fn currency_scan<T: CurrencyPlugin>(
    inst: Instance,
    what: u32,
    raw: Bytes,
    hostp: *const HostVTable,
    reply: *mut OwnedBuf,
) -> Status {
    guard(reply, || {
        // SAFETY: arguments valid for the call, per the ABI contract.
        let (p, raw) = unsafe { (instance::<T>(inst)?, slice(raw)) };
        let host = host(hostp)?;
        let found = match what {
            SCAN_BLOCK => p.scan_block(raw, &host)?,
            SCAN_TX => p.scan_tx(raw, &host)?,
            other => return Err(PluginError::invalid_input(format!("unknown scan kind {other}"))),
        };
        json(&found)
    })
}

pub(crate) unsafe extern "C" fn platform_call<T: PlatformPlugin>(
    inst: Instance,
    method: Bytes,
    payload: Bytes,
    hostp: *const HostVTable,
    reply: *mut OwnedBuf,
) -> Status {
    use crate::messages::platform_method as m;
    guard(reply, || {
        // SAFETY: arguments valid for the call, per the ABI contract.
        let (p, method, payload) = unsafe { (instance::<T>(inst)?, slice(method), slice(payload)) };
        match std::str::from_utf8(method).unwrap_or("") {
            m::INFO => json(&p.info()),
            m::RENDER => json(&p.render(&parse(m::RENDER, payload)?, &host(hostp)?)?),
            m::CLASSIFY => json(&p.classify(&parse(m::CLASSIFY, payload)?)?),
            m::VALIDATE_ENDPOINT => {
                p.validate_endpoint(&parse(m::VALIDATE_ENDPOINT, payload)?)?;
                json(&serde_json::json!({}))
            }
            other => Err(PluginError::new("unknown_method", format!("unknown method {other:?}"))),
        }
    })
}

pub(crate) unsafe extern "C" fn rate_call<T: RatePlugin>(
    inst: Instance,
    method: Bytes,
    payload: Bytes,
    _host: *const HostVTable,
    reply: *mut OwnedBuf,
) -> Status {
    use crate::messages::rate_method as m;
    guard(reply, || {
        // SAFETY: arguments valid for the call, per the ABI contract.
        let (p, method, payload) = unsafe { (instance::<T>(inst)?, slice(method), slice(payload)) };
        match std::str::from_utf8(method).unwrap_or("") {
            m::INFO => json(&p.info()),
            m::REQUEST => json(&RateRequests { requests: p.request(&parse(m::REQUEST, payload)?)? }),
            m::PARSE => json(&RateReply { rates: p.parse(&parse(m::PARSE, payload)?)? }),
            other => Err(PluginError::new("unknown_method", format!("unknown method {other:?}"))),
        }
    })
}

/// Platform and rate-source plugins do not scan.
pub(crate) unsafe extern "C" fn no_scan(
    _: Instance,
    _: u32,
    _: Bytes,
    _: *const HostVTable,
    reply: *mut OwnedBuf,
) -> Status {
    guard(reply, || Err(PluginError::unsupported("scan")))
}

pub(crate) unsafe extern "C" fn free_buf(buf: OwnedBuf) {
    // SAFETY: every buffer handed out was made by `OwnedBuf::from_vec` in this library.
    drop(unsafe { buf.into_vec() });
}

type CreateFn = unsafe extern "C" fn(Bytes, *const HostVTable, *mut Instance, *mut OwnedBuf) -> Status;
type CallFn = unsafe extern "C" fn(Instance, Bytes, Bytes, *const HostVTable, *mut OwnedBuf) -> Status;
type ScanFn = unsafe extern "C" fn(Instance, u32, Bytes, *const HostVTable, *mut OwnedBuf) -> Status;

/// The parts of a vtable that differ between plugins.
struct Parts {
    kind: PluginKind,
    name: &'static str,
    version: &'static str,
    create: CreateFn,
    destroy: unsafe extern "C" fn(Instance),
    call: CallFn,
    scan: ScanFn,
}

const fn vtable(p: Parts, panic_unwind: bool) -> PluginVTable {
    PluginVTable {
        magic: MAGIC,
        abi_major: ABI_MAJOR,
        abi_minor: ABI_MINOR,
        struct_size: std::mem::size_of::<PluginVTable>(),
        kind: p.kind,
        panic_unwind: panic_unwind as u8,
        name: StaticStr::new(p.name),
        version: StaticStr::new(p.version),
        create: p.create,
        destroy: p.destroy,
        call: p.call,
        scan: p.scan,
        free_buf,
    }
}

/// The vtable of a currency plugin. `panic_unwind` is `cfg!(panic = "unwind")` evaluated in
/// the plugin crate (the export macro passes it).
pub const fn currency_vtable<T: CurrencyPlugin>(panic_unwind: bool) -> PluginVTable {
    let parts = Parts {
        kind: PluginKind::CURRENCY,
        name: T::NAME,
        version: T::VERSION,
        create: currency_create::<T>,
        destroy: destroy::<T>,
        call: currency_call::<T>,
        scan: currency_scan::<T>,
    };
    vtable(parts, panic_unwind)
}

/// The vtable of a platform plugin.
pub const fn platform_vtable<T: PlatformPlugin>(panic_unwind: bool) -> PluginVTable {
    let parts = Parts {
        kind: PluginKind::PLATFORM,
        name: T::NAME,
        version: T::VERSION,
        create: platform_create::<T>,
        destroy: destroy::<T>,
        call: platform_call::<T>,
        scan: no_scan,
    };
    vtable(parts, panic_unwind)
}

/// The vtable of a rate-source plugin.
pub const fn rate_vtable<T: RatePlugin>(panic_unwind: bool) -> PluginVTable {
    let parts = Parts {
        kind: PluginKind::RATES,
        name: T::NAME,
        version: T::VERSION,
        create: rate_create::<T>,
        destroy: destroy::<T>,
        call: rate_call::<T>,
        scan: no_scan,
    };
    vtable(parts, panic_unwind)
}

/// The vtable of a plugin built by [`export_currency_plugin!`](crate::export_currency_plugin)
/// or [`export_platform_plugin!`](crate::export_platform_plugin), which define one as
/// `PAYWATCH_PLUGIN` in the plugin crate. Only the macros make one, so its vtable is sound by
/// construction: the test harness takes it without `unsafe`.
#[derive(Debug, Clone, Copy)]
pub struct ExportedPlugin(&'static PluginVTable);

impl ExportedPlugin {
    /// Used by the export macros.
    ///
    /// # Safety
    /// `vt` must be a vtable made by [`currency_vtable`], [`platform_vtable`] or [`rate_vtable`].
    #[doc(hidden)]
    pub const unsafe fn __new(vt: &'static PluginVTable) -> Self {
        Self(vt)
    }

    /// The vtable.
    pub fn vtable(&self) -> &'static PluginVTable {
        self.0
    }
}

/// The entry point returning a `'static` vtable (used by the export macros). It takes the
/// kind and the type, never a vtable: every `ExportedPlugin` holds one the glue made.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_entry {
    (@vtable currency $ty:ty) => {
        $crate::__private::currency_vtable::<$ty>(cfg!(panic = "unwind"))
    };
    (@vtable platform $ty:ty) => {
        $crate::__private::platform_vtable::<$ty>(cfg!(panic = "unwind"))
    };
    (@vtable rates $ty:ty) => {
        $crate::__private::rate_vtable::<$ty>(cfg!(panic = "unwind"))
    };
    ($kind:ident $ty:ty) => {
static PAYWATCH_PLUGIN_VTABLE: $crate::abi::PluginVTable = $crate::__export_entry!(@vtable $kind $ty);

        /// This plugin, for tests of the crate itself:
        /// `paywatch_plugin_api::testing::harness::PluginLib::from_exported(&crate::PAYWATCH_PLUGIN)`
        /// calls it through its C ABI.
        // SAFETY: the vtable above is made by the SDK's export glue.
        pub static PAYWATCH_PLUGIN: $crate::ExportedPlugin =
            unsafe { $crate::ExportedPlugin::__new(&PAYWATCH_PLUGIN_VTABLE) };

        /// The paywatch plugin entry point (ABI v1).
        #[unsafe(no_mangle)]
        pub extern "C" fn paywatch_plugin_entry_v1() -> *const $crate::abi::PluginVTable {
            &PAYWATCH_PLUGIN_VTABLE
        }
    };
}

/// Exports a [`CurrencyPlugin`](crate::CurrencyPlugin) implementation as a plugin library:
/// `paywatch_plugin_api::export_currency_plugin!(MyPlugin);` in a `cdylib` crate.
#[macro_export]
macro_rules! export_currency_plugin {
    ($ty:ty) => {
        $crate::__export_entry!(currency $ty);
    };
}

/// Exports a [`PlatformPlugin`](crate::PlatformPlugin) implementation as a plugin library.
#[macro_export]
macro_rules! export_platform_plugin {
    ($ty:ty) => {
        $crate::__export_entry!(platform $ty);
    };
}

/// Exports a [`RatePlugin`](crate::RatePlugin) implementation as a plugin library.
#[macro_export]
macro_rules! export_rate_plugin {
    ($ty:ty) => {
        $crate::__export_entry!(rates $ty);
    };
}
