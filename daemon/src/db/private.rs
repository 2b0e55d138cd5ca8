//! The store holds endpoint secrets and customer emails: its directory is the owner's alone
//! (0700) and its files are not readable by group or others (0600), including those of a store
//! an older paywatch created world-readable.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Creates `path` (and missing parents) private to the owner, takes group and other access
/// from what is already in it, and sets the process umask to 077 so every file RocksDB
/// creates later is the owner's alone (the daemon writes nothing others should read).
pub(super) fn prepare(path: &Path) -> io::Result<()> {
    // SAFETY: umask only swaps the process's file-mode creation mask; it cannot fail.
    unsafe { libc::umask(0o077) };
    std::fs::create_dir_all(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let mode = meta.permissions().mode();
        if meta.is_file() && mode & 0o077 != 0 {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    Ok(())
}
