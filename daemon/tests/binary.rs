//! Smoke tests of the `paywatch` binary itself (its package builds it for these, with the
//! workspace's features, so the end-to-end tests in `tests/` run this very binary).

use std::process::Command;

fn paywatch() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_paywatch"));
    c.env_remove("RUST_LOG");
    c
}

#[test]
fn version_is_the_crate_version() {
    let out = paywatch().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("paywatch {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn the_example_config_checks_once_its_plugin_dir_exists() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/example.toml");
    let out = paywatch()
        .args(["config", "check", "--config", example])
        .env("PAYWATCH_PLUGINS__DIR", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("[[chains]]") && printed.contains("<redacted>"), "{printed}");
    assert!(!printed.contains("change-me"), "a secret was printed:\n{printed}");
}
