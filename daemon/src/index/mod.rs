//! The index: the watch set and (in later stages) the indexer that applies chain updates.
//! Only this module and `invoices` decide state; they write through `store`.

mod codec;
mod watches;

pub(crate) use watches::{NewWatch, WatchError, Watches};
