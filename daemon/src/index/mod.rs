//! The index: the watch set and (in later stages) the indexer that applies chain updates.
//! Only this module and `invoices` decide state; they write through `store`.

mod codec;
mod watches;
mod watchset;

pub(crate) use codec::{placeholder as placeholder_codec, AddressCodec, PluginCodec};
pub(crate) use watches::{ChainWatches, NewWatch, WatchError, Watches};
pub(crate) use watchset::WatchSet;
