//! The index: the watch set and (in later stages) the indexer that applies chain updates.
//! Only this module and `invoices` decide state; they write through `store`.

mod codec;
mod fingerprints;
mod indexer;
mod watches;
mod watchset;

pub(crate) use codec::{placeholder as placeholder_codec, AddressCodec, PluginCodec};
pub(crate) use indexer::{Decimals, Indexer};
pub(crate) use watches::{ChainWatches, NewWatch, WatchError, Watches};
pub(crate) use watchset::{ChainSet, ScanView, WatchSet};
