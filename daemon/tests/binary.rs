//! Smoke tests of the `paywatch` binary itself (its package builds it for these, with the
//! workspace's features, so the end-to-end tests in `tests/` run this very binary).

use std::process::Command;

fn paywatch() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_paywatch"));
    c.env_remove("RUST_LOG");
    c
}

/// The example with the operator's own keys (the example's placeholders are refused), given
/// through the environment as an operator may.
fn with_own_keys(c: &mut Command) -> &mut Command {
    c.env("PAYWATCH_SERVER__ADMIN_KEY", "pwk_Gq8Zr2Lw7XkP4nBv9Tc3Hd6Ys1Mf5Ja0Ue7Wo2Ri4Nx")
        .env("PAYWATCH_STORES__SHOP1__API_KEY", "pwk_Vb3Qm8Kt1Zx6Rc9Ln4Hw7Pd2Sg5Fy0Ja8Eu3Io6Tk1Mr")
}

#[test]
fn version_is_the_crate_version() {
    let out = paywatch().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("paywatch {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn the_example_config_checks_with_its_plugins_and_without() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/example.toml");
    // The file alone (`--no-plugins`): an empty plugin dir will do. As shipped, its two
    // placeholder keys are refused, and nothing else.
    let empty = tempfile::tempdir().unwrap();
    let out = paywatch()
        .args(["config", "check", "--no-plugins", "--config", example])
        .env("PAYWATCH_PLUGINS__DIR", empty.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("(2 problems)") && stderr.matches("is a placeholder").count() == 2, "{stderr}");
    let out = with_own_keys(&mut paywatch())
        .args(["config", "check", "--no-plugins", "--config", example])
        .env("PAYWATCH_PLUGINS__DIR", empty.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("[[chains]]") && printed.contains("<redacted>"), "{printed}");
    for secret in ["change-me", "changeme_", "pwk_"] {
        assert!(!printed.contains(secret), "a secret was printed:\n{printed}");
    }
    // Without its plugins the example is refused, as `run` would refuse it.
    let out = with_own_keys(&mut paywatch())
        .args(["config", "check", "--config", example])
        .env("PAYWATCH_PLUGINS__DIR", empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("which is not loaded from"));
    // With the shipped plugins, every instance it names is created.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/build-plugins.sh");
    let built = Command::new("bash").arg(script).stderr(std::process::Stdio::inherit()).output().unwrap();
    assert!(built.status.success());
    let dir = String::from_utf8(built.stdout).unwrap().trim().to_string();
    let out = with_own_keys(&mut paywatch())
        .args(["config", "check", "--config", example])
        .env("PAYWATCH_PLUGINS__DIR", &dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("currency plugin bitcoin@BTC ok") && stderr.contains("platform plugin webhook@dispatch ok"),
        "{stderr}"
    );
}
