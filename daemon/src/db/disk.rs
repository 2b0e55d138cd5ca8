//! RocksDB's size on disk, from its properties (SST files, live data, every column family) and
//! the write-ahead log's files, for `/metrics`: a few property reads and one directory listing.

use super::schema::ALL_CFS;
use super::Db;

/// Bytes on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DiskSize {
    /// Every SST file (live or not yet deleted), every column family.
    pub(crate) sst: u64,
    /// RocksDB's estimate of its live data.
    pub(crate) live: u64,
    /// The write-ahead log's files.
    pub(crate) wal: u64,
}

impl Db {
    /// What the store takes on disk; a property RocksDB does not give counts as 0.
    pub(crate) fn disk(&self) -> DiskSize {
        let mut out = DiskSize::default();
        for name in ALL_CFS {
            let Some(cf) = self.db.cf_handle(name) else { continue };
            let prop = |p: &str| self.db.property_int_value_cf(cf, p).ok().flatten().unwrap_or(0);
            out.sst += prop("rocksdb.total-sst-files-size");
            out.live += prop("rocksdb.estimate-live-data-size");
        }
        if let Ok(dir) = std::fs::read_dir(&self.path) {
            out.wal = dir
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Db, NewEvent};
    use crate::events::EventKind;

    /// Written events show in the WAL at once, and in SST files once flushed.
    #[test]
    fn sizes_grow_with_writes_and_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let before = db.disk();
        let mut batch = db.batch();
        for i in 0..200 {
            let data = serde_json::json!({"pad": "x".repeat(1000)});
            batch.push_event(NewEvent {
                kind: EventKind::InvoiceCreated,
                store: "shop".into(),
                subject: format!("invoice:{i}"),
                data,
            });
        }
        db.write(batch).unwrap();
        let written = db.disk();
        assert!(written.wal >= before.wal + 200_000, "{before:?} → {written:?}");
        for name in super::ALL_CFS {
            db.db.flush_cf(db.db.cf_handle(name).unwrap()).unwrap();
        }
        let flushed = db.disk();
        assert!(flushed.sst > before.sst + 10_000, "{written:?} → {flushed:?}");
        assert!(flushed.live > 0, "{flushed:?}");
    }
}
