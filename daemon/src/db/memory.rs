//! RocksDB's memory under one budget (`storage.memory_budget`): one LRU block cache of the
//! budget's size, shared by every column family (data, index and filter blocks), and a write
//! buffer manager that charges the memtables to that same cache, so memtables and cached blocks
//! together stay within the budget. Memtables may take at most half of it; past that, RocksDB
//! flushes, and stalls writers rather than grow.

use rocksdb::{BlockBasedIndexType, BlockBasedOptions, Cache, Options, WriteBufferManager};

/// The smallest budget: below it, memtables flush at every few writes.
pub(crate) const MIN_BUDGET: usize = 16 << 20;
/// The budget unless configured.
pub(crate) const DEFAULT_BUDGET: usize = 256 << 20;

/// The cache and the write buffer manager every column family shares.
pub(crate) struct Memory {
    cache: Cache,
    buffers: WriteBufferManager,
    budget: usize,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory").field("cache_usage", &self.cache.get_usage()).finish()
    }
}

impl Memory {
    /// A budget of `bytes` (at least [`MIN_BUDGET`]).
    pub(crate) fn new(bytes: usize) -> Self {
        let bytes = bytes.max(MIN_BUDGET);
        let cache = Cache::new_lru_cache(bytes);
        let buffers = WriteBufferManager::new_write_buffer_manager_with_cache(bytes / 2, true, cache.clone());
        Self { cache, buffers, budget: bytes }
    }

    /// The database's options: its memtables charged to the budget.
    pub(crate) fn apply_db(&self, opts: &mut Options) {
        opts.set_write_buffer_manager(&self.buffers);
    }

    /// A column family's options: its blocks, index and filters in the shared cache.
    pub(crate) fn apply_cf(&self, opts: &mut Options) {
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&self.cache);
        table.set_cache_index_and_filter_blocks(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        table.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
        table.set_partition_filters(true);
        table.set_pin_top_level_index_and_filter(true);
        table.set_metadata_block_size(4096);
        table.set_bloom_filter(10.0, false);
        opts.set_block_based_table_factory(&table);
    }

    /// Bytes held under the budget now: cached blocks and the memtables charged to the cache.
    pub(crate) fn usage(&self) -> usize {
        self.cache.get_usage()
    }

    /// The memtables' share of [`Memory::usage`].
    pub(crate) fn memtables(&self) -> usize {
        self.buffers.get_usage()
    }

    /// The budget.
    pub(crate) fn budget(&self) -> usize {
        self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Db, NewEvent};
    use super::MIN_BUDGET;
    use crate::events::EventKind;

    /// 48 MiB of events written through a 16 MiB budget: memtables flush instead of growing,
    /// and what RocksDB holds stays within the budget (and reads still find everything).
    #[test]
    fn memtables_and_cache_stay_within_the_budget_under_writes() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_with(dir.path(), MIN_BUDGET).unwrap();
        let blob = "x".repeat(16 * 1024);
        let mut peak = (0, 0);
        for i in 0..3072u32 {
            let mut b = db.batch();
            let data = serde_json::json!({"n": i, "blob": blob});
            let subject = format!("invoice:{i}");
            b.push_event(NewEvent { kind: EventKind::InvoiceCreated, store: "s".into(), subject, data });
            db.write(b).unwrap();
            let (usage, memtables, _) = db.memory();
            peak = (peak.0.max(usage), peak.1.max(memtables));
        }
        let (_, _, budget) = db.memory();
        assert_eq!(budget, MIN_BUDGET);
        // The cache's capacity is soft by a block or two in flight; a budget that did nothing
        // would hold every memtable of 48 MiB.
        assert!(peak.0 <= budget + budget / 8, "peak usage {} of a {budget}-byte budget", peak.0);
        assert!(peak.1 <= budget / 2 + budget / 8, "peak memtables {} of {}", peak.1, budget / 2);
        // And the memtables were charged to it at all, up to where it made them flush.
        assert!(peak.1 >= budget / 8, "memtables never charged to the budget: peak {}", peak.1);
        assert_eq!(db.store_events("s", 3000, 100).unwrap().len(), 72, "everything written reads back");
    }
}
