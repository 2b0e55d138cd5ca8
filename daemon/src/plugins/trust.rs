//! What is checked before a plugin file is loaded (loading runs its code with the daemon's
//! rights): the directory and each file must be writable only by their owner, owned by the
//! daemon's user or root, and a symlink may not lead out of the directory.
//!
//! This stops another local user (or a world-writable deploy directory) from putting code into
//! the daemon. It does not protect against the daemon's own user or root replacing a plugin,
//! nor against a malicious plugin the operator installed: a plugin runs in the daemon's process.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a directory or file is not trusted.
pub(crate) fn unsafe_dir(dir: &Path) -> Option<String> {
    let meta = std::fs::metadata(dir).ok()?;
    unsafe_meta(&meta)
}

/// Why a file of `dir` (canonical) is not loaded, if it is not.
pub(crate) fn unsafe_file(dir: &Path, path: &Path) -> Option<String> {
    let target = match std::fs::canonicalize(path) {
        Ok(t) => t,
        Err(e) => return Some(format!("cannot resolve it: {e}")),
    };
    if target.parent() != Some(dir) {
        return Some(format!("it is a symlink to {}, outside the plugin directory", target.display()));
    }
    let meta = std::fs::metadata(&target).ok()?;
    unsafe_meta(&meta)
}

/// Why a file or directory with this metadata is not trusted, if it is not.
pub(crate) fn unsafe_meta(meta: &std::fs::Metadata) -> Option<String> {
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Some(format!(
            "it is writable by group or others (mode {mode:o}): anyone who can write it puts code into the daemon (chmod go-w)"
        ));
    }
    let me = own_uid();
    if me.is_some_and(|me| meta.uid() != me && meta.uid() != 0) {
        return Some(format!("it is owned by uid {}, neither the daemon's user nor root", meta.uid()));
    }
    None
}

/// The daemon's effective uid (the owner of `/proc/self`); `None` where that is unknown.
fn own_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// The canonical plugin directory.
pub(crate) fn canonical(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::canonicalize(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn writable_files_and_dirs_and_symlinks_out_are_named() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("plugins");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let dir = canonical(&dir).unwrap();
        assert_eq!(unsafe_dir(&dir), None);
        let lib = dir.join("libx.so");
        fs::write(&lib, b"x").unwrap();
        fs::set_permissions(&lib, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(unsafe_file(&dir, &lib), None);
        fs::set_permissions(&lib, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(unsafe_file(&dir, &lib).unwrap().contains("writable by group or others (mode 666)"));
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(unsafe_dir(&dir).unwrap().contains("mode 777"));
        // A symlink inside the directory to a file outside it.
        let outside = root.path().join("libevil.so");
        fs::write(&outside, b"x").unwrap();
        let link = dir.join("libevil.so");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        assert!(unsafe_file(&dir, &link).unwrap().contains("outside the plugin directory"));
        // One to a file inside it is that file.
        fs::set_permissions(&lib, fs::Permissions::from_mode(0o644)).unwrap();
        let inner = dir.join("liby.so");
        std::os::unix::fs::symlink(&lib, &inner).unwrap();
        assert_eq!(unsafe_file(&dir, &inner), None);
    }
}
