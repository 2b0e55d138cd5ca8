//! A plugin author's first contact, as a test: each template, copied out of the repository and
//! pointed at the SDK by the dependency line `docs/plugins.md` gives, builds on its own, passes
//! its own conformance tests, and `paywatch plugins check` accepts the library it builds. Every
//! shipped plugin passes `plugins check` too; a plugin that does not read the chain's blocks
//! fails it, check by check.

use paywatch_tests::daemon::paywatch_bin;
use paywatch_tests::{plugin_lib, plugins_dir, workspace_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Where the copies build: cached across runs, apart from the workspace's own builds.
fn copies_target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("template-copies")
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.env("CARGO_TARGET_DIR", copies_target()).env_remove("RUSTFLAGS").env_remove("CARGO_ENCODED_RUSTFLAGS");
    c
}

fn ok(out: Output, what: &str) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

fn plugins_check(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(paywatch_bin().unwrap()).args(["plugins", "check"]).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

/// Copies `plugins/NAME` out of the repository and points its SDK dependency at this checkout
/// the documented way; returns the copy's folder.
fn copy_template(name: &str, into: &Path) -> PathBuf {
    let copy = into.join(format!("paywatch-plugin-{name}"));
    copy_dir(&workspace_root().join("plugins").join(name), &copy);
    let manifest = std::fs::read_to_string(copy.join("Cargo.toml")).unwrap();
    assert!(!manifest.contains("workspace = true") && !manifest.contains(".workspace"), "inherits from the workspace");
    let sdk = workspace_root().join("plugin-api");
    let documented = manifest.replace(
        "paywatch-plugin-api = { path = \"../../plugin-api\"",
        &format!("paywatch-plugin-api = {{ path = \"{}\"", sdk.display()),
    );
    assert_eq!(documented.matches(&*sdk.display().to_string()).count(), 2, "both SDK lines:\n{documented}");
    std::fs::write(copy.join("Cargo.toml"), documented).unwrap();
    // The workspace's lock file: the same versions, no registry look-up (--offline).
    std::fs::copy(workspace_root().join("Cargo.lock"), copy.join("Cargo.lock")).unwrap();
    copy
}

#[test]
fn each_template_builds_outside_the_repository_and_passes_the_checks() {
    let outside = tempfile::tempdir().unwrap();
    for (name, lib) in [("template-currency", "template_currency"), ("template-platform", "template_platform")] {
        let copy = copy_template(name, outside.path());
        let manifest = copy.join("Cargo.toml");
        let m = manifest.to_str().unwrap();
        let tests = ok(cargo().args(["test", "--offline", "--manifest-path", m]).output().unwrap(), "cargo test");
        assert!(tests.contains("passes_the_conformance_kit ... ok"), "{tests}");
        ok(cargo().args(["build", "--offline", "--manifest-path", m]).output().unwrap(), "cargo build");
        let so =
            copies_target().join("debug").join(format!("libpaywatch_plugin_{lib}.{}", std::env::consts::DLL_EXTENSION));
        let (code, out) = plugins_check(&[so.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{out}");
        assert!(out.contains("loaded and checked") && out.contains("PASS") && !out.contains("FAIL"), "{out}");
        if name == "template-currency" {
            // Its chain kind is its own: scanning is checked with the fixture it ships.
            assert!(out.contains("SKIP scanning"), "{out}");
            let fixture = copy.join("conformance.json");
            let (code, out) = plugins_check(&[so.to_str().unwrap(), "--fixture", fixture.to_str().unwrap()]);
            assert_eq!(code, Some(0), "{out}");
            for check in ["PASS scan_block finds exactly the expected payments", "PASS scan_tx agrees with scan_block"]
            {
                assert!(out.contains(check), "{check}:\n{out}");
            }
        }
    }
}

#[test]
fn every_shipped_plugin_passes_plugins_check() {
    let erc20 = r#"{"contract": "0xdAC17F958D2ee523a2206206994597C13D831ec7", "decimals": 6}"#;
    let webhook = r#"{"url": "https://shop.example/cb", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}"#;
    let woo = r#"{"url": "https://shop.example", "consumer_key": "ck_1", "consumer_secret": "cs_1"}"#;
    let bitpay = r#"{"url": "", "token_key": "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"}"#;
    let cases: [(&str, &[&str], &str); 12] = [
        ("bitcoin", &["--network", "regtest"], "scan_tx agrees with scan_block"),
        ("bitcoin", &["--network", "mainnet", "--asset", "BTC"], "truncated transactions are errors"),
        ("ethereum", &["--chain-id", "31337"], "scan_block finds exactly the payments to a watched address"),
        ("erc20", &["--config", erc20], "scan_block finds exactly the payments to a watched address"),
        ("webhook", &["--endpoint", webhook], "render gives well-formed requests"),
        ("woocommerce", &["--endpoint", woo], "validate_endpoint accepts the sample endpoint"),
        ("bitpay", &["--endpoint", bitpay], "validate_endpoint accepts the sample endpoint"),
        ("kraken", &[], "error statuses, garbage and other shapes are errors"),
        ("coinbase", &[], "the wrong number of responses is an error"),
        ("binance", &[], "request gives well-formed requests for each pair"),
        ("coingecko", &["--config", r#"{"api_key": "CG-demo"}"#], "pairs it cannot quote are refused or left out"),
        ("ecb", &[], "error statuses, garbage and other shapes are errors"),
    ];
    for (plugin, args, check) in cases {
        let lib = plugin_lib(plugin);
        let mut all = vec![lib.to_str().unwrap()];
        all.extend_from_slice(args);
        let (code, out) = plugins_check(&all);
        assert_eq!(code, Some(0), "{plugin} {args:?}:\n{out}");
        assert!(out.contains(&format!("PASS {check}")) && !out.contains("FAIL"), "{plugin}:\n{out}");
    }
}

#[test]
fn plugins_check_fails_a_plugin_that_breaks_the_contract_and_refuses_non_plugins() {
    // The fixture claims the bitcoin kind but reads 20-byte chunks: the kit finds it out.
    let fixture = plugins_dir().join("fixtures/fixture.so");
    let (code, out) = plugins_check(&[fixture.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    for failed in ["FAIL scan_block finds the reference outputs", "FAIL truncated blocks are errors"] {
        assert!(out.contains(failed), "{failed}:\n{out}");
    }
    // A currency plugin checked against a kind of chain it does not scan.
    let (code, out) = plugins_check(&[plugin_lib("template_currency").to_str().unwrap(), "--chain-kind", "bitcoin"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL chain kind: info().chain_kind is \"demo\", the chain is \"bitcoin\""), "{out}");
    // Refused before any check, as the daemon refuses them.
    for (file, says) in [
        (plugins_dir().join("fixtures/bad_abi.so"), "built for plugin ABI v99"),
        (plugins_dir().join("fixtures/panic_abort.so"), "panic = \"abort\""),
        (workspace_root().join("Cargo.toml"), "cannot load library"),
    ] {
        let (code, out) = plugins_check(&[file.to_str().unwrap()]);
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("refused") && out.contains(says), "{says}:\n{out}");
    }
    // A rate source given a config it refuses: the check says why, naming the key.
    let (code, out) =
        plugins_check(&[plugin_lib("kraken").to_str().unwrap(), "--config", r#"{"base_url": "ftp://x"}"#]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("rates plugin kraken") && out.contains("FAIL create") && out.contains("kraken: base_url"),
        "{out}"
    );
    // A plugin call that never returns fails the check instead of hanging it.
    let (code, out) =
        plugins_check(&[fixture.to_str().unwrap(), "--config", r#"{"hang": true}"#, "--timeout-secs", "2"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("did not finish within 2 s"), "{out}");
    // A fixture that is not one is refused with the reason, before anything is loaded.
    let (code, out) =
        plugins_check(&[fixture.to_str().unwrap(), "--fixture", workspace_root().join("Cargo.toml").to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("not a conformance fixture"), "{out}");
    // Bad arguments are refused by the command line, with the reason.
    let (code, out) = plugins_check(&[fixture.to_str().unwrap(), "--config", "[1, 2]"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("not a JSON object"), "{out}");
}
