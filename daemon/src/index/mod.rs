//! The index: the watch set and (in later stages) the indexer that applies chain updates.
//! Only this module and `invoices` decide state; they write through `store`.

mod codec;
mod fingerprints;
mod indexer;
mod watches;
mod watchset;

pub(crate) use codec::{placeholder as placeholder_codec, AddressCodec, PluginCodec};
#[cfg(test)]
pub(crate) use indexer::PlainWrites;
pub(crate) use indexer::{Decimals, Indexer, PaymentHook};
pub(crate) use watches::{ChainWatches, NewWatch, WatchError, Watches, MAX_CONFIRMATIONS};
pub(crate) use watchset::{ChainSet, ScanView, WatchSet};
