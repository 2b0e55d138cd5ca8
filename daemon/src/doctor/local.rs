//! This machine's side: the store's directory (`storage.path`: writable, private, free
//! space, whether a running daemon holds its RocksDB lock) and the plugins (`plugins.dir`,
//! each configured plugin loaded as `run` loads it, through `check_plugins`).

use super::Check;
use crate::config::Config;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Free space under this is a problem (RocksDB stops taking writes when the disk is full)…
const MIN_FREE: u64 = 256 << 20;
/// …under this, or under [`LOW_FREE_PERCENT`] of the filesystem, a warning.
const LOW_FREE: u64 = 1 << 30;
const LOW_FREE_PERCENT: u64 = 10;

pub(super) fn check(config: &Config) -> Vec<Check> {
    let path = &config.storage.path;
    let mut out = vec![storage(path)];
    if let Some(c) = space(path) {
        out.push(c);
    }
    out.push(lock(path));
    out.extend(plugins(config));
    out
}

/// The directory itself, or the nearest ancestor that exists (the daemon creates the rest).
fn existing(path: &Path) -> PathBuf {
    path.ancestors().find(|p| p.exists()).unwrap_or(Path::new("/")).to_path_buf()
}

fn writable(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else { return false };
    // SAFETY: `c` is a valid NUL-terminated path; access only reads it.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// `storage`: the directory is writable by this user and private to it.
fn storage(path: &Path) -> Check {
    let shown = path.display();
    let at = existing(path);
    if at != path {
        return if writable(&at) {
            Check::ok(
                "storage",
                None,
                format!("{shown} does not exist yet: the daemon creates it (0700) in {}", at.display()),
            )
        } else {
            Check::problem(
                "storage",
                None,
                format!("{shown} does not exist, and {} is not writable by this user", at.display()),
                format!(
                    "create {shown} owned by the user paywatch runs as, or set storage.path to a directory it owns"
                ),
            )
        };
    }
    let meta = match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => {
            return Check::problem(
                "storage",
                None,
                format!("{shown} is not a directory"),
                "set storage.path to a directory",
            )
        }
        Err(e) => {
            return Check::problem(
                "storage",
                None,
                format!("{shown}: {e}"),
                "set storage.path to a directory this user can read",
            )
        }
    };
    if !writable(path) {
        return Check::problem(
            "storage",
            None,
            format!("{shown} is not writable by this user"),
            format!("run paywatch as the user owning {shown} (or chown -R it to that user)"),
        );
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Check::warning(
            "storage",
            None,
            format!("{shown} is readable by others (mode {mode:o}): it holds endpoint secrets and customers' emails"),
            format!("chmod 700 {shown} (the daemon also makes it 0700 when it opens the store)"),
        );
    }
    Check::ok("storage", None, format!("{shown} is writable and private (mode {mode:o})"))
}

/// `disk`: free space on the store's filesystem.
fn space(path: &Path) -> Option<Check> {
    let at = existing(path);
    let c = std::ffi::CString::new(at.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs is plain data, filled by the call; `c` is a valid NUL-terminated path.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        let e = std::io::Error::last_os_error();
        return Some(Check::warning(
            "disk",
            None,
            format!("cannot read the free space of {}: {e}", at.display()),
            "check it by hand (df)",
        ));
    }
    let unit = s.f_frsize as u64;
    Some(free_space(path, s.f_bavail as u64 * unit, s.f_blocks as u64 * unit))
}

/// The verdict on `free` bytes of a filesystem of `total`.
pub(super) fn free_space(path: &Path, free: u64, total: u64) -> Check {
    let mib = |b: u64| b >> 20;
    let percent = (free as u128 * 100).checked_div(total as u128).unwrap_or(100) as u64;
    let detail = format!("{} MiB free of {} MiB ({percent} %) where {} is", mib(free), mib(total), path.display());
    let fix = "free space or move storage.path to a larger filesystem: when the disk is full the store takes no writes and the daemon is degraded until space is freed";
    if free < MIN_FREE {
        Check::problem("disk", None, detail, fix)
    } else if free < LOW_FREE || percent < LOW_FREE_PERCENT {
        Check::warning("disk", None, detail, fix)
    } else {
        Check::ok("disk", None, detail)
    }
}

/// `lock`: who holds the store's RocksDB lock (a running daemon: information, not a problem).
fn lock(path: &Path) -> Check {
    let file = path.join("LOCK");
    match lock_holder(&file) {
        Ok(None) => Check::ok("lock", None, format!("no process holds {}: the daemon is not running on this store", file.display())),
        Ok(Some(pid)) => Check::ok(
            "lock",
            None,
            format!("process {pid} holds {}: a daemon is running on this store (commands that open it must wait until it stops)", file.display()),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Check::ok("lock", None, format!("no store at {} yet", path.display()))
        }
        Err(e) => Check::warning("lock", None, format!("cannot read the lock of {}: {e}", file.display()), "check the file's permissions"),
    }
}

/// The process holding RocksDB's lock on `file` (an `fcntl` write lock), without taking it.
fn lock_holder(file: &Path) -> std::io::Result<Option<i32>> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(file)?;
    // SAFETY: flock is plain data; every field the call reads is set below.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as _;
    fl.l_whence = libc::SEEK_SET as _;
    // SAFETY: `f` is open for the call's duration and `fl` a valid flock.
    if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETLK, &mut fl as *mut libc::flock) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((fl.l_type != libc::F_UNLCK as libc::c_short).then_some(fl.l_pid))
}

/// `plugins.dir` and `plugins`: the directory exists, and every configured plugin loads and
/// takes its config as `run` (and `paywatch config check`) would have it.
fn plugins(config: &Config) -> Vec<Check> {
    let dir = &config.plugins.dir;
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return vec![Check::problem(
                "plugins.dir",
                None,
                format!("{} is not a directory", dir.display()),
                "set plugins.dir to the directory of the plugin libraries",
            )]
        }
        Err(e) => {
            return vec![Check::problem(
            "plugins.dir",
            None,
            format!("{}: {e}", dir.display()),
            "set plugins.dir to the directory of the plugin libraries (a relative one is relative to the config file)",
        )]
        }
    }
    let mut out = vec![Check::ok("plugins.dir", None, dir.display().to_string())];
    out.push(match crate::check_plugins(config) {
        Ok(lines) => Check::ok(
            "plugins",
            None,
            if lines.is_empty() { "no plugin is configured".into() } else { lines.join("; ") },
        ),
        Err(e) => Check::problem(
            "plugins",
            None,
            e.to_string(),
            "see `paywatch plugins list --config FILE` for every library and why it was refused",
        ),
    });
    out
}
