//! The store holds endpoint secrets and customer emails: its directory is the owner's alone
//! (0700) and its files are not readable by group or others (0600), including those of a store
//! an older paywatch created world-readable.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Creates `path` (and missing parents) private to the owner, takes group and other access
/// from what is already in it, and sets the process umask to 077 so every file RocksDB
/// creates later is the owner's alone (the daemon writes nothing others should read).
/// The owner of `path` when it exists and is not this process's effective user: a store command
/// run as another user (root, say) would leave files in the store the daemon's user cannot
/// open, and the daemon would then not start.
pub(super) fn foreign_owner(path: &Path) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(path).ok()?.uid();
    // SAFETY: geteuid cannot fail and touches no memory.
    let me = unsafe { libc::geteuid() };
    (owner != me).then_some((owner, me))
}

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

#[cfg(test)]
mod owner_tests {
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn a_store_of_another_user_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("data");
        std::fs::create_dir(&store).unwrap();
        assert_eq!(super::foreign_owner(&store), None, "our own directory");
        let c = std::ffi::CString::new(store.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; chown touches nothing else.
        if unsafe { libc::chown(c.as_ptr(), 54_321, 54_321) } != 0 {
            return; // not root: no other owner can be made here, and the case above held.
        }
        let e = super::super::Db::open(&store).unwrap_err().to_string();
        assert!(e.contains("belongs to uid 54321") && e.contains("sudo -u paywatch"), "{e}");
        assert_eq!(std::fs::read_dir(&store).unwrap().count(), 0, "nothing written");
        let none = super::super::Db::open_existing(&dir.path().join("nowhere")).unwrap_err().to_string();
        assert!(none.contains("no store at") && !dir.path().join("nowhere").exists(), "{none}");
    }
}
