//! The index: the watch set behind `is_watched` (`watchset`, `fingerprints`), watch creation
//! and deletion (`watches`) within each store's `max_watches` (`quota`), each chain's address
//! codec (`codec`), and the indexer, the single writer of a chain's payments, undo data, cursor
//! and payment events (`indexer`). Only this module and `invoices` decide payment and invoice
//! state; they write through `db`.

mod codec;
mod fingerprints;
mod indexer;
mod quota;
mod watches;
mod watchset;

pub(crate) use codec::{placeholder as placeholder_codec, AddressCodec, PluginCodec};
#[cfg(test)]
pub(crate) use indexer::PlainWrites;
pub(crate) use indexer::{Decimals, HookGuard, IndexError, Indexer, PaymentHook};
pub(crate) use watches::{ChainWatches, NewWatch, StagedWatch, UnstagedWatch, WatchError, Watches, MAX_CONFIRMATIONS};
pub(crate) use watchset::{ChainSet, ScanView, WatchSet};
