//! Backups and restores of the store (`docs/operations.md`, "Backups and restore"). A backup is
//! a directory: `store/`, a RocksDB checkpoint (a consistent point in time of every column
//! family: SST files hard-linked when on the same file system, copied otherwise, the memtables
//! flushed first), and `paywatch-backup.json`, its [`Manifest`]. The daemon takes one while it
//! runs ([`Db::backup`], through `POST /v1/admin/backup`); `paywatch backup` takes one itself
//! when the daemon is stopped ([`backup_stopped`]); `paywatch restore` ([`restore`]) copies one
//! back as the store, the daemon stopped, never deleting what it replaces.

use super::schema::{decode_seq, CF_BLOCKS, CF_META, META_SCHEMA_VERSION, SCHEMA_VERSION, UPGRADABLE_FROM};
use super::{cf_options, last_seq, BlockRecord, Db};
use rocksdb::checkpoint::Checkpoint;
use rocksdb::{ColumnFamilyDescriptor, IteratorMode, Options, DB};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The manifest's file name in a backup directory.
pub(crate) const MANIFEST: &str = "paywatch-backup.json";
/// The checkpoint's directory in a backup directory.
pub(crate) const STORE_DIR: &str = "store";

/// Why a backup or a restore was refused or failed. Nothing is left half-made: a backup
/// directory this made is removed again on failure; a restore changes `storage.path` only by
/// one rename at its end.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("store at {path} belongs to uid {owner}, and this paywatch runs as uid {uid}: run it as the store's owner (e.g. `sudo -u paywatch paywatch …`)")]
    NotOwner { path: PathBuf, owner: u32, uid: u32 },
    #[error("backup directory {0}: not an absolute path")]
    NotAbsolute(PathBuf),
    #[error("backup directory {0}: already exists (a backup goes into a new directory)")]
    Exists(PathBuf),
    #[error("backup directory {path}: its parent {parent} does not exist")]
    NoParent { path: PathBuf, parent: PathBuf },
    #[error("backup directory {path}: inside the store at {store}")]
    InsideStore { path: PathBuf, store: PathBuf },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("store at {path}: {source}")]
    Rocks { path: PathBuf, source: rocksdb::Error },
    #[error("no store at {0}")]
    NoStore(PathBuf),
    #[error("store at {path} is in use by process {pid}: stop the daemon first")]
    InUse { path: PathBuf, pid: i32 },
    #[error("{0} is not a paywatch backup: it has no {dir:?} directory", dir = STORE_DIR)]
    NotBackup(PathBuf),
    #[error("backup store at {path} has schema version {found}; this paywatch reads {} and upgrades {:?}: restore it with a paywatch that matches", SCHEMA_VERSION, UPGRADABLE_FROM)]
    Schema { path: PathBuf, found: u32 },
    #[error("backup store at {path} has an unreadable schema version {raw:?}")]
    BadSchema { path: PathBuf, raw: Vec<u8> },
    #[error("storage.path {0} is not empty: restore with --force to move it aside (it is renamed, never deleted)")]
    NotEmpty(PathBuf),
    #[error("{0} exists, left by an earlier restore that stopped: look at it, move it away, and restore again")]
    Leftover(PathBuf),
    #[error("corrupt record in {cf} at key {key}")]
    Corrupt { cf: &'static str, key: String },
}

/// One chain's cursor in a backup: the highest block it had recorded. After a restore the
/// daemon scans the node's blocks above it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainCursor {
    pub height: u64,
    pub hash: String,
}

/// What a backup holds, as `paywatch-backup.json` says and the API answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The backup directory.
    pub path: PathBuf,
    /// The paywatch that took it.
    pub paywatch_version: String,
    /// When (RFC 3339, UTC).
    pub created_at: String,
    /// The store's schema version.
    pub schema_version: u32,
    /// The newest event's sequence number in it: events above it were not in the backup.
    pub outbox_last_seq: u64,
    /// Each chain's cursor, by chain name.
    pub chains: BTreeMap<String, ChainCursor>,
    /// Bytes of the checkpoint's files (hard links to the live store's share its blocks).
    pub bytes: u64,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The backup as its store says (read again from the restored copy).
    pub backup: Manifest,
    /// Where the store that was at `storage.path` went (`--force`).
    pub moved_aside: Option<PathBuf>,
    /// The address pools moved on past what was handed out after the backup.
    pub pools: super::restore_pools::PoolsAdvanced,
}

impl Db {
    /// A backup of the open store into `to` (absolute, new, its parent existing), while the
    /// daemon runs. Blocking: call it off the async runtime.
    pub(crate) fn backup(&self, to: &Path) -> Result<Manifest, BackupError> {
        checkpoint_into(&self.db, &self.path, to)
    }
}

/// A backup of the store at `store` into `to` with the daemon stopped: `InUse` when a process
/// holds its lock (the daemon: ask it through its API instead).
pub(crate) fn backup_stopped(store: &Path, to: &Path) -> Result<Manifest, BackupError> {
    check_target(to)?;
    if !store.join("CURRENT").is_file() {
        return Err(BackupError::NoStore(store.to_owned()));
    }
    if let Some(pid) = lock_holder(store)? {
        return Err(BackupError::InUse { path: store.to_owned(), pid });
    }
    if let Some((owner, uid)) = super::private::foreign_owner(store) {
        return Err(BackupError::NotOwner { path: store.to_owned(), owner, uid });
    }
    // Opened for writing (not read-only) so that the lock is held while the checkpoint is made.
    let db = open_plain(store, false)?;
    checkpoint_into(&db, store, to)
}

/// The process holding the RocksDB lock of the store at `store`, if one does (RocksDB locks
/// its `LOCK` file with a POSIX record lock while a store is open).
pub(crate) fn lock_holder(store: &Path) -> Result<Option<i32>, BackupError> {
    let lock = store.join("LOCK");
    let file = match fs::File::open(&lock) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(BackupError::Io { path: lock, source }),
    };
    use std::os::fd::AsRawFd;
    // SAFETY: a zeroed `flock` is a valid value of this plain C struct.
    let mut query: libc::flock = unsafe { std::mem::zeroed() };
    query.l_type = libc::F_WRLCK as libc::c_short;
    query.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: F_GETLK on an open descriptor with a valid `flock` only fills in that struct.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut query) };
    if rc != 0 {
        return Err(BackupError::Io { path: lock, source: io::Error::last_os_error() });
    }
    Ok((query.l_type != libc::F_UNLCK as libc::c_short).then_some(query.l_pid))
}

/// `to` must be absolute, new, with an existing parent.
fn check_target(to: &Path) -> Result<(), BackupError> {
    if !to.is_absolute() {
        return Err(BackupError::NotAbsolute(to.to_owned()));
    }
    if fs::symlink_metadata(to).is_ok() {
        return Err(BackupError::Exists(to.to_owned()));
    }
    match to.parent() {
        Some(parent) if parent.is_dir() => Ok(()),
        parent => Err(BackupError::NoParent {
            path: to.to_owned(),
            parent: parent.map(Path::to_owned).unwrap_or_else(|| to.to_owned()),
        }),
    }
}

fn checkpoint_into(db: &DB, store: &Path, to: &Path) -> Result<Manifest, BackupError> {
    check_target(to)?;
    if to.starts_with(fs::canonicalize(store).unwrap_or_else(|_| store.to_owned())) {
        return Err(BackupError::InsideStore { path: to.to_owned(), store: store.to_owned() });
    }
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| BackupError::Io { path, source }
    };
    // The backup holds what the store holds (endpoint secrets…): the owner's alone, every file
    // of it (the checkpoint's files are made with the process's umask).
    // SAFETY: umask only swaps the process's file-mode creation mask; it cannot fail.
    unsafe { libc::umask(0o077) };
    fs::DirBuilder::new().mode(0o700).create(to).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => BackupError::Exists(to.to_owned()),
        _ => io_err(to)(e),
    })?;
    let made = (|| {
        let rocks = |source| BackupError::Rocks { path: store.to_owned(), source };
        let checkpoint = Checkpoint::new(db).map_err(rocks)?;
        checkpoint.create_checkpoint(to.join(STORE_DIR)).map_err(rocks)?;
        let mut manifest = read_store(&to.join(STORE_DIR))?;
        manifest.path = to.to_owned();
        let text = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
        write_synced(&to.join(MANIFEST), &text)?;
        sync_dir(to)?;
        Ok(manifest)
    })();
    if made.is_err() {
        // Only what this call made: `to` did not exist before it.
        let _ = fs::remove_dir_all(to);
    }
    made
}

/// A store's schema version (refused unless this paywatch reads it), newest event and chain
/// cursors, read without writing anything; `path` and `created_at` are left for the caller.
fn read_store(store: &Path) -> Result<Manifest, BackupError> {
    let rocks = |source| BackupError::Rocks { path: store.to_owned(), source };
    let db = open_plain(store, true)?;
    let meta = db.cf_handle(CF_META).ok_or_else(|| BackupError::Corrupt { cf: CF_META, key: "(missing)".into() })?;
    let raw = db.get_cf(meta, META_SCHEMA_VERSION).map_err(rocks)?.unwrap_or_default();
    let schema_version = <[u8; 4]>::try_from(raw.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| BackupError::BadSchema { path: store.to_owned(), raw: raw.clone() })?;
    if schema_version != SCHEMA_VERSION && !UPGRADABLE_FROM.contains(&schema_version) {
        return Err(BackupError::Schema { path: store.to_owned(), found: schema_version });
    }
    let outbox_last_seq = last_seq(&db).map_err(|_| BackupError::Corrupt { cf: "outbox", key: "(last)".into() })?;
    let mut chains = BTreeMap::new();
    if let Some(blocks) = db.cf_handle(CF_BLOCKS) {
        for item in db.iterator_cf(blocks, IteratorMode::Start) {
            let (k, v) = item.map_err(rocks)?;
            let corrupt = || BackupError::Corrupt { cf: CF_BLOCKS, key: hex::encode(&k) };
            // len(chain) ‖ chain ‖ height (u64 BE), lowest height first per chain.
            let (&len, rest) = k.split_first().ok_or_else(corrupt)?;
            let (name, height) = rest.split_at_checked(len as usize).ok_or_else(corrupt)?;
            let name = std::str::from_utf8(name).map_err(|_| corrupt())?;
            let height = decode_seq(height).ok_or_else(corrupt)?;
            let block: BlockRecord = serde_json::from_slice(&v).map_err(|_| corrupt())?;
            chains.insert(name.to_string(), ChainCursor { height, hash: block.hash });
        }
    }
    let created_at =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    Ok(Manifest {
        path: PathBuf::new(),
        paywatch_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at,
        schema_version,
        outbox_last_seq,
        chains,
        bytes: dir_bytes(store)?,
    })
}

/// The store at `store` with every column family it has, as it is: nothing created, no schema
/// upgrade (`Db::open` does those), the store's own compression.
fn open_plain(store: &Path, read_only: bool) -> Result<DB, BackupError> {
    let rocks = |source| BackupError::Rocks { path: store.to_owned(), source };
    let mut opts = Options::default();
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    let names = DB::list_cf(&opts, store).map_err(rocks)?;
    let cfs = names.iter().map(|n| ColumnFamilyDescriptor::new(n, cf_options()));
    if read_only {
        DB::open_cf_descriptors_read_only(&opts, store, cfs, false).map_err(rocks)
    } else {
        DB::open_cf_descriptors(&opts, store, cfs).map_err(rocks)
    }
}

/// `paywatch restore`: the backup at `from` (checked to open, its schema version one this
/// paywatch reads) copied in as the store at `store`, the daemon stopped. A non-empty `store`
/// is refused unless `force`, then renamed to `STORE.before-restore-UNIXTIME`, never deleted.
/// The copy is made beside `store` and renamed into place once complete and synced.
pub(crate) fn restore(store: &Path, from: &Path, force: bool, skip_addresses: u32) -> Result<Restored, BackupError> {
    // The restored files are the running user's: the store's (or its parent's) owner must be.
    let owned_by = if store.exists() { store } else { store.parent().unwrap_or(store) };
    if let Some((owner, uid)) = super::private::foreign_owner(owned_by) {
        return Err(BackupError::NotOwner { path: owned_by.to_owned(), owner, uid });
    }
    let source = from.join(STORE_DIR);
    if !source.is_dir() {
        return Err(BackupError::NotBackup(from.to_owned()));
    }
    let mut backup = read_store(&source)?;
    if let Ok(text) = fs::read(from.join(MANIFEST)) {
        if let Ok(m) = serde_json::from_slice::<Manifest>(&text) {
            backup.created_at = m.created_at;
            backup.paywatch_version = m.paywatch_version;
        }
    }
    backup.path = from.to_owned();
    if let Some(pid) = lock_holder(store)? {
        return Err(BackupError::InUse { path: store.to_owned(), pid });
    }
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| BackupError::Io { path, source }
    };
    let occupied = match fs::read_dir(store) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(io_err(store)(e)),
    };
    if occupied && !force {
        return Err(BackupError::NotEmpty(store.to_owned()));
    }
    let staging = sibling(store, ".restoring");
    if fs::symlink_metadata(&staging).is_ok() {
        return Err(BackupError::Leftover(staging));
    }
    if let Some(parent) = store.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    fs::DirBuilder::new().mode(0o700).create(&staging).map_err(io_err(&staging))?;
    let copied = copy_files(&source, &staging);
    if copied.is_err() {
        // Only the copy this call made.
        let _ = fs::remove_dir_all(&staging);
    }
    copied?;
    let pools = match advance_pools(&staging, store, occupied, skip_addresses) {
        Ok(p) => p,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let moved_aside = if fs::symlink_metadata(store).is_ok() {
        let unix = time::OffsetDateTime::now_utc().unix_timestamp();
        let aside = sibling(store, &format!(".before-restore-{unix}"));
        fs::rename(store, &aside).map_err(io_err(store))?;
        Some(aside)
    } else {
        None
    };
    fs::rename(&staging, store).map_err(io_err(store))?;
    if let Some(parent) = store.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    // What is now at storage.path opens and says what the backup said.
    let check = read_store(store)?;
    backup.bytes = check.bytes;
    Ok(Restored { backup, moved_aside, pools })
}

/// The restored copy's address pools moved past what the replaced store (read-only, when it
/// can be read) handed out, and `skip` more (`restore_pools`).
fn advance_pools(
    staging: &Path,
    store: &Path,
    occupied: bool,
    skip: u32,
) -> Result<super::restore_pools::PoolsAdvanced, BackupError> {
    let restored = open_plain(staging, false)?;
    let replaced = if occupied { open_plain(store, true).ok() } else { None };
    super::restore_pools::advance(&restored, replaced.as_ref(), skip)
        .map_err(|source| BackupError::Rocks { path: staging.to_owned(), source })
}

/// Every file of `from` copied into `to`, owner-only and synced, and `to` synced.
fn copy_files(from: &Path, to: &Path) -> Result<(), BackupError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| BackupError::Io { path, source }
    };
    for entry in fs::read_dir(from).map_err(io_err(from))? {
        let entry = entry.map_err(io_err(from))?;
        let (from_file, to_file) = (entry.path(), to.join(entry.file_name()));
        if !entry.file_type().map_err(io_err(&from_file))?.is_file() {
            continue;
        }
        fs::copy(&from_file, &to_file).map_err(io_err(&from_file))?;
        fs::set_permissions(&to_file, fs::Permissions::from_mode(0o600)).map_err(io_err(&to_file))?;
        fs::File::open(&to_file).and_then(|f| f.sync_all()).map_err(io_err(&to_file))?;
    }
    sync_dir(to)
}

/// `path` with `suffix` added to its last component.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

fn dir_bytes(dir: &Path) -> Result<u64, BackupError> {
    let io_err = |source| BackupError::Io { path: dir.to_owned(), source };
    let mut total = 0;
    for entry in fs::read_dir(dir).map_err(io_err)? {
        let meta = entry.and_then(|e| e.metadata()).map_err(io_err)?;
        if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    use std::io::Write;
    let io_err = |source| BackupError::Io { path: path.to_owned(), source };
    let mut f = fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(io_err)?;
    f.write_all(bytes).map_err(io_err)?;
    f.sync_all().map_err(io_err)
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|source| BackupError::Io { path: dir.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::NewEvent;

    fn event(store: &str) -> NewEvent {
        let kind = paywatch_plugin_api::events::EventKind::InvoiceCreated;
        NewEvent { kind, store: store.into(), subject: "invoice/1".into(), data: serde_json::json!({}) }
    }

    #[test]
    fn a_backup_of_an_open_store_restores_with_its_events_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("data");
        let db = Db::open(&live).unwrap();
        let mut b = db.batch();
        b.push_event(event("shop1"));
        b.push_event(event("shop1"));
        db.write(b).unwrap();
        let to = dir.path().join("backup-1");
        let m = db.backup(&to).unwrap();
        assert_eq!((m.schema_version, m.outbox_last_seq, m.path.as_path()), (SCHEMA_VERSION, 2, to.as_path()));
        assert!(m.bytes > 0);
        let written: Manifest = serde_json::from_slice(&fs::read(to.join(MANIFEST)).unwrap()).unwrap();
        assert_eq!(written.outbox_last_seq, 2);
        // Written after the backup: not in it.
        let mut b = db.batch();
        b.push_event(event("shop1"));
        db.write(b).unwrap();
        assert!(matches!(db.backup(&to), Err(BackupError::Exists(_))));
        assert!(matches!(db.backup(Path::new("relative")), Err(BackupError::NotAbsolute(_))));
        assert!(matches!(db.backup(&dir.path().join("no/such")), Err(BackupError::NoParent { .. })));
        assert!(matches!(db.backup(&live.join("b")), Err(BackupError::InsideStore { .. })));
        drop(db);
        assert!(matches!(restore(&live, &to, false, 0), Err(BackupError::NotEmpty(_))));
        let r = restore(&live, &to, true, 0).unwrap();
        let aside = r.moved_aside.unwrap();
        assert!(aside.join("CURRENT").is_file(), "the old store is kept");
        let db = Db::open(&live).unwrap();
        assert_eq!(db.events_after(0, 10).unwrap().len(), 2, "the backup's events, not the later one");
        assert_eq!(Db::open(&aside).unwrap().events_after(0, 10).unwrap().len(), 3);
    }

    #[test]
    fn a_stopped_store_is_backed_up_directly_and_a_missing_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("data");
        assert!(matches!(backup_stopped(&live, &dir.path().join("b0")), Err(BackupError::NoStore(_))));
        let db = Db::open(&live).unwrap();
        let mut b = db.batch();
        b.push_event(event("shop1"));
        db.write(b).unwrap();
        drop(db);
        let m = backup_stopped(&live, &dir.path().join("b1")).unwrap();
        assert_eq!(m.outbox_last_seq, 1);
        assert!(lock_holder(&live).unwrap().is_none());
        let fresh = dir.path().join("fresh");
        let r = restore(&fresh, &dir.path().join("b1"), false, 0).unwrap();
        assert_eq!((r.moved_aside, r.backup.outbox_last_seq), (None, 1));
        assert!(matches!(restore(&fresh, dir.path(), false, 0), Err(BackupError::NotBackup(_))));
    }

    #[test]
    fn a_backup_of_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("data");
        let db = Db::open(&live).unwrap();
        let meta = db.db.cf_handle(CF_META).unwrap();
        db.db.put_cf(meta, META_SCHEMA_VERSION, (SCHEMA_VERSION + 1).to_be_bytes()).unwrap();
        let err = db.backup(&dir.path().join("b")).unwrap_err();
        assert!(matches!(err, BackupError::Schema { found, .. } if found == SCHEMA_VERSION + 1), "{err}");
        assert!(!dir.path().join("b").exists(), "a failed backup leaves nothing");
    }
}
