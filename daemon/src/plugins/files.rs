//! Which file is a configured plugin's, and opening it for loading: the name rule, the
//! explicit `[plugins.files]`, the trust checks (`trust.rs`) on the opened file, and the
//! SHA-256 of exactly the bytes that will be loaded.

use super::trust;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// What the config asks of one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub(crate) name: String,
    /// `[plugins.files] NAME`: its file name in the directory, instead of the rule.
    pub(crate) file: Option<String>,
    /// `[plugins.sha256] NAME`: the file's expected SHA-256, lowercase hex.
    pub(crate) sha256: Option<String>,
}

/// Why a configured plugin's file was not opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileError {
    #[error("plugin {name:?}: no file {tried} in {dir} (a library named otherwise: [plugins.files] {name} = \"its-file.so\")", tried = .tried.join(" or "))]
    NotFound { name: String, dir: PathBuf, tried: Vec<String> },
    #[error("plugin {name:?}: both {} and {} are in {dir}: remove one, or name the file in [plugins.files]", .files[0], .files[1])]
    Ambiguous { name: String, dir: PathBuf, files: Vec<String> },
    #[error("{path}: not loaded: {why}")]
    Untrusted { path: PathBuf, why: String },
    #[error("{path}: cannot read it: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: not loaded: its SHA-256 is {actual}, but [plugins.sha256] pins {name} = \"{expected}\" (a changed or replaced file; if you updated the plugin, `paywatch plugins hash` prints the new line)")]
    PinMismatch { path: PathBuf, name: String, expected: String, actual: String },
}

/// The file names the rule accepts for plugin `name`, in order: the name cargo gives a
/// `paywatch-plugin-NAME` cdylib (`libpaywatch_plugin_NAME.so`, `-` becoming `_`), the same
/// without `lib`, and `NAME.so`.
pub(crate) fn candidates(name: &str) -> Vec<String> {
    let ext = std::env::consts::DLL_EXTENSION;
    let snake = name.replace('-', "_");
    vec![format!("libpaywatch_plugin_{snake}.{ext}"), format!("paywatch_plugin_{snake}.{ext}"), format!("{name}.{ext}")]
}

/// The one file of `dir` holding plugin `w` (by `[plugins.files]` or the rule; two files
/// that both match the rule are refused rather than guessed between).
pub(crate) fn locate(dir: &Path, w: &Wanted) -> Result<PathBuf, FileError> {
    let tried = match &w.file {
        Some(f) => vec![f.clone()],
        None => candidates(&w.name),
    };
    let found: Vec<String> = tried.iter().filter(|f| dir.join(f).symlink_metadata().is_ok()).cloned().collect();
    match found.as_slice() {
        [] => Err(FileError::NotFound { name: w.name.clone(), dir: dir.to_owned(), tried }),
        [one] => Ok(dir.join(one)),
        _ => Err(FileError::Ambiguous { name: w.name.clone(), dir: dir.to_owned(), files: found }),
    }
}

/// A plugin file opened for loading: checked, hashed, and loadable through the open file
/// itself ([`Opened::load_path`]), so what is loaded is the file that was checked and hashed
/// even if the name is pointed at another file meanwhile.
#[derive(Debug)]
pub(crate) struct Opened {
    /// The file as found in the directory (for messages).
    pub(crate) path: PathBuf,
    pub(crate) sha256: String,
    file: File,
}

impl Opened {
    /// The path to hand `dlopen`: `/proc/self/fd/N` where procfs exists (the very file
    /// opened here), else the resolved path. After loading through it, [`Opened::keep`].
    pub(crate) fn load_path(&self) -> PathBuf {
        use std::os::fd::AsRawFd;
        let fd = Path::new("/proc/self/fd").join(self.file.as_raw_fd().to_string());
        if fd.exists() {
            fd
        } else {
            self.path.clone()
        }
    }
}

impl Opened {
    /// Keeps the file descriptor open for the life of the process, as the library stays
    /// loaded: the dynamic loader knows the library by the name `/proc/self/fd/N`, and would
    /// hand the same library back for a later `dlopen` of that name were `N` reused.
    pub(crate) fn keep(self) {
        std::mem::forget(self.file);
    }
}

/// Opens `path` (a file of the canonical `dir`), refuses it if untrusted (symlink out of
/// the directory; mode and owner read from the open file), hashes its bytes, and checks the
/// pin if there is one.
pub(crate) fn open(dir: &Path, path: &Path, name: &str, pin: Option<&str>) -> Result<Opened, FileError> {
    let untrusted = |why: String| FileError::Untrusted { path: path.to_owned(), why };
    if let Some(why) = trust::unsafe_file(dir, path) {
        return Err(untrusted(why));
    }
    let read = |source| FileError::Read { path: path.to_owned(), source };
    // Non-blocking: a FIFO under a plugin's name must not hang the start (refused below).
    let mut file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(read)?;
    let meta = file.metadata().map_err(read)?;
    if !meta.is_file() {
        return Err(untrusted("it is not a regular file".into()));
    }
    if let Some(why) = trust::unsafe_meta(&meta) {
        return Err(untrusted(why));
    }
    let sha256 = hash(&mut file).map_err(read)?;
    if let Some(expected) = pin {
        if !expected.eq_ignore_ascii_case(&sha256) {
            return Err(FileError::PinMismatch {
                path: path.to_owned(),
                name: name.to_string(),
                expected: expected.to_ascii_lowercase(),
                actual: sha256,
            });
        }
    }
    Ok(Opened { path: path.to_owned(), sha256, file })
}

/// The SHA-256 of everything readable from `r`, lowercase hex.
pub(crate) fn hash(r: &mut impl Read) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf)? {
            0 => return Ok(hex::encode(h.finalize())),
            n => h.update(&buf[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn wanted(name: &str) -> Wanted {
        Wanted { name: name.into(), file: None, sha256: None }
    }

    fn plugin_dir() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let canonical = trust::canonical(d.path()).unwrap();
        (d, canonical)
    }

    fn write(dir: &Path, file: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(file);
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        p
    }

    #[test]
    fn the_name_rule_matches_how_plugins_are_built_and_installed() {
        // scripts/build-plugins.sh copies cargo's names; the loader's tests install `fixture.so`.
        assert_eq!(
            candidates("template-currency"),
            ["libpaywatch_plugin_template_currency.so", "paywatch_plugin_template_currency.so", "template-currency.so"]
        );
        let (_d, dir) = plugin_dir();
        write(&dir, "libpaywatch_plugin_bitcoin.so", b"b");
        write(&dir, "fixture.so", b"f");
        write(&dir, "libevil.so", b"e");
        assert_eq!(locate(&dir, &wanted("bitcoin")).unwrap(), dir.join("libpaywatch_plugin_bitcoin.so"));
        assert_eq!(locate(&dir, &wanted("fixture")).unwrap(), dir.join("fixture.so"));
        // Other files are never a plugin's: not `libevil.so` for a plugin called `evil`.
        let err = locate(&dir, &wanted("evil")).unwrap_err().to_string();
        assert!(err.contains("no file libpaywatch_plugin_evil.so or paywatch_plugin_evil.so or evil.so in"), "{err}");
        // An explicit file name wins over the rule, and only it is looked for.
        let w = Wanted { file: Some("libevil.so".into()), ..wanted("bitcoin") };
        assert_eq!(locate(&dir, &w).unwrap(), dir.join("libevil.so"));
        // Two files matching the rule: refused, not guessed between.
        write(&dir, "bitcoin.so", b"b2");
        let err = locate(&dir, &wanted("bitcoin")).unwrap_err().to_string();
        assert!(err.contains("both libpaywatch_plugin_bitcoin.so and bitcoin.so"), "{err}");
    }

    #[test]
    fn a_pin_is_checked_against_the_bytes_opened() {
        let (_d, dir) = plugin_dir();
        let p = write(&dir, "x.so", b"abc");
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let o = open(&dir, &p, "x", Some(abc)).unwrap();
        assert_eq!(o.sha256, abc);
        assert!(o.load_path().starts_with("/proc/self/fd"), "{}", o.load_path().display());
        // Upper-case pins are the same pin.
        assert!(open(&dir, &p, "x", Some(&abc.to_ascii_uppercase())).is_ok());
        let wrong = "00".repeat(32);
        let err = open(&dir, &p, "x", Some(&wrong)).unwrap_err().to_string();
        assert!(err.contains(&format!("its SHA-256 is {abc}, but [plugins.sha256] pins x = \"{wrong}\"")), "{err}");
        assert!(err.contains(&*p.to_string_lossy()), "names the file: {err}");
        // The trust checks come first: a writable file is refused before it is read.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = open(&dir, &p, "x", Some(abc)).unwrap_err().to_string();
        assert!(err.contains("writable by group or others"), "{err}");
        // A FIFO under a plugin's name is refused, not waited on.
        let fifo = dir.join("libpaywatch_plugin_fifo.so");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let err = open(&dir, &fifo, "fifo", None).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
