//! The shipped systemd unit (`packaging/systemd/paywatch.service`): `systemd-analyze verify`
//! passes on it without a word, and `systemd-analyze security` rates its exposure low. verify
//! checks that ExecStart's binary exists, so it runs on a copy whose ExecStart is the binary
//! these tests run. The unit's `MemoryDenyWriteExecute=` holds with plugins: the daemon, its
//! plugins loaded, follows a chain and sees a payment under the kernel's own memory-deny-write-
//! execute (`prctl(PR_SET_MDWE)`, which refuses what systemd's seccomp filter refuses: memory
//! that is writable and executable, or made executable later), and `plugins check` loads the
//! EVM plugins under it.

use paywatch_tests::btc::{BtcRig, SHOP};
use paywatch_tests::daemon::{paywatch_bin, Launch};
use std::path::Path;
use std::process::Command;

const UNIT: &str = "packaging/systemd/paywatch.service";
const SYSTEMD_ANALYZE: &str = "/usr/bin/systemd-analyze";

/// The unit with ExecStart on the built binary, written as `dir/paywatch.service`.
fn unit_copy(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(paywatch_tests::workspace_root().join(UNIT)).unwrap();
    let bin = paywatch_tests::daemon::paywatch_bin().unwrap();
    assert!(text.contains("ExecStart=/usr/local/bin/paywatch run --config "), "{text}");
    let text = text.replace("ExecStart=/usr/local/bin/paywatch ", &format!("ExecStart={} ", bin.display()));
    let path = dir.join("paywatch.service");
    std::fs::write(&path, text).unwrap();
    path
}

fn analyze(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(SYSTEMD_ANALYZE)
        .args(args)
        .current_dir(dir)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap_or_else(|e| panic!("{SYSTEMD_ANALYZE}: {e}"));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_systemd_unit_verifies_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_copy(dir.path());
    let (ok, stdout, stderr) = analyze(dir.path(), &["verify", unit.to_str().unwrap()]);
    assert!(ok && stdout.trim().is_empty() && stderr.trim().is_empty(), "verify:\n{stdout}\n{stderr}");
}

#[test]
fn the_systemd_unit_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_copy(dir.path());
    // Exposure on systemd's 0-10 scale, times ten: fails above 2.0 ("OK" ends at 4.9).
    let (ok, stdout, stderr) =
        analyze(dir.path(), &["security", "--offline=yes", "--threshold=20", "--no-pager", unit.to_str().unwrap()]);
    assert!(ok, "exposure above 2.0:\n{stdout}\n{stderr}");
    let overall = stdout.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_default();
    assert!(overall.contains(" OK"), "{stdout}");
    for setting in ["NoNewPrivileges=", "ProtectSystem=", "MemoryDenyWriteExecute=", "SystemCallFilter="] {
        let line = stdout.lines().find(|l| l.contains(setting)).unwrap_or_default();
        assert!(line.starts_with('✓'), "{setting} not in force: {line:?}\n{stdout}");
    }
}

/// Runs its arguments (a program and its own) with memory-deny-write-execute set for the
/// process, which `execve` keeps: `prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN)`.
fn under_mdwe() -> Vec<String> {
    let script = "import ctypes, os, sys\n\
        libc = ctypes.CDLL(None, use_errno=True)\n\
        if libc.prctl(65, 1, 0, 0, 0) != 0: sys.exit('prctl(PR_SET_MDWE): errno %d' % ctypes.get_errno())\n\
        os.execv(sys.argv[1], sys.argv[1:])\n";
    ["python3", "-c", script].map(String::from).to_vec()
}

#[tokio::test]
async fn the_daemon_and_its_plugins_run_under_memory_deny_write_execute() {
    // The wrapper does refuse writable and executable memory.
    let under = under_mdwe();
    let wx = "import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)";
    let out = Command::new(&under[0]).args(&under[1..]).args(["/usr/bin/python3", "-c", wx]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("PermissionError"), "{out:?}");
    let launch = Launch { under: under_mdwe(), ..Launch::default() };
    let rig = BtcRig::start_custom(1, "", "", launch).await.unwrap();
    let address = rig.new_address().unwrap();
    rig.watch(SHOP, &address, 1).await.unwrap();
    let txid = rig.send(&address, 0.01).unwrap();
    rig.wait_events(SHOP, "the payment", |e| e.iter().any(|e| e["data"]["txid"] == txid)).await.unwrap();
    let health = rig.daemon.health().await.unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    let erc20 = r#"{"contract": "0xdAC17F958D2ee523a2206206994597C13D831ec7", "decimals": 6}"#;
    let cases: [(&str, &[&str]); 3] =
        [("ethereum", &["--chain-id", "31337"]), ("erc20", &["--config", erc20]), ("kraken", &[])];
    for (plugin, args) in cases {
        let under = under_mdwe();
        let out = Command::new(&under[0])
            .args(&under[1..])
            .arg(paywatch_bin().unwrap())
            .args(["plugins", "check"])
            .arg(paywatch_tests::plugin_lib(plugin))
            .args(args)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && !text.contains("FAIL"), "{plugin} under MDWE:\n{text}");
    }
}
