//! The `paywatch` command line: `config check`, `--version`, `--help`.

use paywatch_tests::daemon::{paywatch_bin, test_config, SHOP1_KEY};
use std::process::{Command, Output};

fn paywatch(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(paywatch_bin().unwrap());
    c.args(args).env_remove("RUST_LOG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn config_check_reports_all_mistakes_with_key_paths_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let config = test_config(dir.path(), 8080, "")
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:99999\"")
        .replace("network = \"regtest\"", "network = \"regtset\"")
        .replace("ws_url = \"ws://127.0.0.1:3\"", "ws_url = \"http://127.0.0.1:3\"");
    std::fs::write(&path, config).unwrap();
    let out = paywatch(&["config", "check", "--config", path.to_str().unwrap()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid configuration (3 problems)"), "{stderr}");
    assert!(stderr.contains("server.listen: \"127.0.0.1:99999\" is not an address:port"), "{stderr}");
    assert!(
        stderr.contains("chains[0].network: \"regtset\" is not one of mainnet, testnet, testnet4, signet, regtest"),
        "{stderr}"
    );
    assert!(stderr.contains("chains[1].ws_url: \"http://127.0.0.1:3\" must be a ws/wss URL"), "{stderr}");
    // The same mistakes fail `run` the same way, before touching storage.
    let out = paywatch(&["run", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.path().join("data").exists());
}

#[test]
fn config_check_prints_the_effective_config_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.toml");
    std::fs::write(&path, test_config(dir.path(), 8080, "")).unwrap();
    let out = paywatch(
        &["config", "check"],
        &[
            ("PAYWATCH_CONFIG", path.to_str().unwrap()),
            ("PAYWATCH_SERVER__LISTEN", "127.0.0.1:9191"),
            ("PAYWATCH_CHAINS__BTC__RPC_PASSWORD", "env-secret-pw"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("listen = \"127.0.0.1:9191\""), "{stdout}");
    assert!(stdout.contains("<redacted>"), "{stdout}");
    for secret in [SHOP1_KEY, "env-secret-pw", "admin-key-0123456789"] {
        assert!(!stdout.contains(secret), "{secret} printed:\n{stdout}");
    }
}

#[test]
fn version_and_help() {
    let out = paywatch(&["--version"], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("paywatch 0."), "{out:?}");
    for args in [&["--help"][..], &["run", "--help"], &["config", "--help"], &["config", "check", "--help"]] {
        let out = paywatch(args, &[]);
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: paywatch"), "{args:?}");
    }
    let out = paywatch(&["frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(2));
}
