//! The `paywatch` command line: `config check`, `chain rewind`'s refusals, `--version`, `--help`.

use paywatch_tests::daemon::{paywatch_bin, test_config, ADMIN_KEY, SHOP1_KEY};
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
    assert!(stderr.contains("chains[1].ws_url: \"http://127.0.0.1:3/\" must be a ws/wss URL"), "{stderr}");
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
    for secret in [SHOP1_KEY, "env-secret-pw", "admin_ANtQLP1kb2eRtEYFMuHmwJguJQ"] {
        assert!(!stdout.contains(secret), "{secret} printed:\n{stdout}");
    }
}

#[test]
fn config_check_prints_receive_sources_and_node_urls_without_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.toml");
    let xpub = "tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp";
    // The receive table belongs to the last store (shop2).
    let extra = format!(
        "\n[stores.receive.X]\ndescriptor = \"wpkh({xpub}/0/*)\"\n\n[[assets]]\nid = \"X\"\nchain = \"btc\"\nplugin = \"bitcoin\"\n"
    );
    let config = test_config(dir.path(), 8080, &extra)
        .replace(
            "rpc_url = \"http://127.0.0.1:1\"",
            "rpc_url = \"http://rpcuser:rpcpass@127.0.0.1:1/?apikey=qs-secret\"",
        )
        .replace("ws_url = \"ws://127.0.0.1:3\"", "ws_url = \"wss://eth.example/v2/Ab3dEfGhIjKlMnOpQrStUvWxYz012345\"");
    std::fs::write(&path, config).unwrap();
    let out = paywatch(&["config", "check", "--no-plugins", "--config", path.to_str().unwrap()], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("descriptor = \"<redacted> sha256:"), "{stdout}");
    assert!(stdout.contains("eth.example/v2/%3Credacted%3E"), "{stdout}");
    for secret in ["tpubD6Nz", "rpcpass", "qs-secret", "Ab3dEfGh"] {
        assert!(!stdout.contains(secret), "{secret} printed:\n{stdout}");
    }
}

/// A guessable key is refused where it is set, saying how to make one, without repeating it;
/// `paywatch keys new` makes one `config check` takes, in clear or as its SHA-256.
#[test]
fn a_guessable_api_key_is_refused_and_keys_new_makes_one_that_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.toml");
    let base = test_config(dir.path(), 8080, "");
    for weak in ["shop1-key-0123456789", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "correct horse battery staple x"] {
        std::fs::write(&path, base.replace(SHOP1_KEY, weak)).unwrap();
        let out = paywatch(&["config", "check", "--no-plugins", "--config", path.to_str().unwrap()], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{weak}: {stderr}");
        assert!(stderr.contains("stores[0].api_key: ") && stderr.contains("paywatch keys new"), "{weak}: {stderr}");
        assert!(!stderr.contains(weak), "the key was echoed: {stderr}");
    }
    std::fs::write(&path, base.replace(ADMIN_KEY, "admin-key-0123456789")).unwrap();
    let out = paywatch(&["config", "check", "--no-plugins", "--config", path.to_str().unwrap()], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.admin_key: is too short"), "{out:?}");

    let out = paywatch(&["keys", "new"], &[]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| {
        stdout.lines().find_map(|l| l.strip_prefix(name)).unwrap_or_else(|| panic!("{stdout}")).to_string()
    };
    let (key, sha256) = (field("key: "), field("sha256: "));
    assert_ne!(String::from_utf8_lossy(&paywatch(&["keys", "new"], &[]).stdout), stdout, "keys are fresh");
    let shop1_line = format!("api_key = \"{SHOP1_KEY}\"");
    for line in [format!("api_key = \"{key}\""), format!("api_key_sha256 = \"{sha256}\"")] {
        std::fs::write(&path, base.replace(&shop1_line, &line)).unwrap();
        let out = paywatch(&["config", "check", "--no-plugins", "--config", path.to_str().unwrap()], &[]);
        assert!(out.status.success(), "{line}: {}", String::from_utf8_lossy(&out.stderr));
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

/// `config check` on the test config plus `extra`, with these plugins installed.
fn check_with(extra: &str, plugins: &[std::path::PathBuf]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    paywatch_tests::daemon::install_plugins(dir.path(), plugins).unwrap();
    let path = dir.path().join("paywatch.toml");
    std::fs::write(&path, test_config(dir.path(), 8080, extra)).unwrap();
    let out = paywatch(&["config", "check", "--config", path.to_str().unwrap()], &[]);
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    // `run` refuses what `config check` refuses, with the same reason, before it touches
    // storage (a config it accepts would start the daemon: not run here).
    if out.status.code() == Some(2) {
        let run = paywatch(&["run", "--config", path.to_str().unwrap()], &[]);
        assert_ne!(run.status.code(), Some(0), "run accepted what config check refused: {stderr}");
        assert!(
            String::from_utf8_lossy(&run.stderr)
                .contains(stderr.trim_start_matches("paywatch: invalid configuration: ").trim()),
            "run said something else than {stderr}"
        );
        assert!(!dir.path().join("data").exists(), "run touched storage");
    }
    (out.status.code(), stdout, stderr)
}

/// Two stores may not hand out the same addresses, however their sources are spelled (review
/// of issue 14: the config compared text): a descriptor with and without its BIP-380 checksum,
/// a bare extended key and the descriptor the plugin makes of it. The plugin derives, the
/// addresses are compared; different sources pass.
#[test]
fn two_stores_may_not_share_a_receive_source_spelled_differently() {
    use paywatch_tests::plugin_lib;
    let key = "tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp";
    let stores = |a: &str, b: &str| {
        format!(
            "\n[[assets]]\nid = \"X\"\nchain = \"btc\"\nplugin = \"bitcoin\"\n\n[[stores]]\nid = \"shop3\"\napi_key = \"shop3_TJHU3zAzW3xkbj6iiJ4ZHCHga7\"\n[stores.receive.X]\n{a}\n\n[[stores]]\nid = \"shop4\"\napi_key = \"shop4_8THm1VHw0jUm0qle3l984xRyMz\"\n[stores.receive.X]\n{b}\n"
        )
    };
    let plugins = [plugin_lib("bitcoin")];
    for (a, b) in [
        (format!("descriptor = \"wpkh({key}/0/*)\""), format!("descriptor = \"wpkh({key}/0/*)#qvnrzae8\"")),
        (format!("xpub = \"{key}\""), format!("descriptor = \"pkh({key}/0/*)\"")),
    ] {
        let (code, _, stderr) = check_with(&stores(&a, &b), &plugins);
        assert_eq!(code, Some(2), "{a} / {b}: {stderr}");
        assert!(
            stderr.contains("stores[shop4].receive.X: hands out the same addresses as store \"shop3\" (receive.X)"),
            "{a} / {b}: {stderr}"
        );
    }
    // Other branches of one key are other addresses: accepted.
    let (code, _, stderr) = check_with(
        &stores(&format!("descriptor = \"wpkh({key}/0/*)\""), &format!("descriptor = \"wpkh({key}/1/*)\"")),
        &plugins,
    );
    assert_eq!(code, Some(0), "{stderr}");
}

/// Every receive source goes through its plugin at start: one it refuses (a mainnet key on a
/// regtest chain, a list entry that is no address) stops `config check` and `run`, naming
/// store and asset, never the source; a pasted private key is refused before any plugin.
#[test]
fn a_receive_source_its_plugin_refuses_stops_the_daemon_naming_store_and_asset_only() {
    use paywatch_tests::plugin_lib;
    let mainnet = "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8";
    let xprv = "tprv8ZgxMBicQKsPd7Uf69XL1XwhmjHopUGep8GuEiJDZmbQz6o58LninorQAfcKZWARbtRtfnLcJ5MQ2AtHcQJCCRUcMRvmDUjyEmNUWwx8UbK";
    let store = |source: &str| {
        format!("\n[stores.receive.X]\n{source}\n\n[[assets]]\nid = \"X\"\nchain = \"btc\"\nplugin = \"bitcoin\"\n")
    };
    let plugins = [plugin_lib("bitcoin")];
    for (source, says) in [
        (format!("xpub = \"{mainnet}\""), "cannot derive addresses from this receive source"),
        (format!("descriptor = \"wpkh({mainnet}/0/*)\""), "cannot derive addresses from this receive source"),
        (
            "addresses = [\"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080\", \"not-an-address\"]".to_string(),
            "addresses[1] is not an address of this asset",
        ),
        (format!("xpub = \"{xprv}\""), "holds an extended private key"),
    ] {
        let (code, _, stderr) = check_with(&store(&source), &plugins);
        assert_eq!(code, Some(2), "{source}: {stderr}");
        assert!(
            stderr.contains("stores[shop2].receive.X: ") || stderr.contains("stores[1].receive.X: "),
            "{source}: {stderr}"
        );
        assert!(stderr.contains(says), "{source}: {stderr}");
        assert!(!stderr.contains("xpub661My") && !stderr.contains("tprv8Zgx"), "the source echoed: {stderr}");
    }
}

#[test]
fn config_check_creates_every_plugin_instance_as_run_does() {
    use paywatch_tests::plugin_lib;
    let asset = |plugin: &str, extra: &str| {
        format!("\n[[assets]]\nid = \"X\"\nchain = \"btc\"\nplugin = \"{plugin}\"\n{extra}")
    };
    let plugins = [plugin_lib("bitcoin"), plugin_lib("template_currency"), plugin_lib("webhook"), plugin_lib("erc20")];
    // Fine: the plugin is named, loads, accepts its config and scans bitcoin chains.
    let (code, stdout, stderr) = check_with(&asset("bitcoin", ""), &plugins);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("asset X: currency plugin bitcoin@X ok"), "{stderr}");
    assert!(stdout.contains("[plugins]"), "the config is printed: {stdout}");
    let refused = [
        (asset("nosuchplugin", ""), "uses currency plugin \"nosuchplugin\", which is not loaded from"),
        (
            asset("template-currency", ""),
            "plugin \"template-currency\" scans \"demo\" chains, but chain \"btc\" is \"bitcoin\"",
        ),
        ("\n[[assets]]\nid = \"T\"\nchain = \"eth\"\nplugin = \"erc20\"\n".to_string(), "missing \"contract\""),
        (
            asset("bitcoin", "min_payment = \"0.000000001\"\n"),
            "assets[0].min_payment: \"0.000000001\" has more than 8 decimals (asset X has 8 decimals)",
        ),
        (
            asset("bitcoin", "max_invoice_amount = \"0.000001\"\n"),
            "assets[0].min_payment: 0.00000546 is more than the largest invoice of X, 0.000001",
        ),
        (
            "\n[[stores.endpoints]]\nplugin = \"webhook\"\nurl = \"https://shop.example/cb\"\n".to_string(),
            "stores[shop2].endpoints[0]: plugin webhook@dispatch refused the endpoint: endpoint has no secret",
        ),
    ];
    for (extra, says) in refused {
        let (code, _, stderr) = check_with(&extra, &plugins);
        assert_eq!(code, Some(2), "{extra}: {stderr}");
        assert!(stderr.contains("invalid configuration") && stderr.contains(says), "{says}:\n{stderr}");
    }
    // A platform plugin's create receives [plugins.config.NAME].
    let plugins = [plugin_lib("template_platform")];
    let (code, _, stderr) = check_with("\n[plugins.config.template-platform]\nuser_agent = \"shop/1\"\n", &plugins);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = check_with("\n[plugins.config.template-platform]\nuser_agent = 5\n", &plugins);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "template-platform@dispatch: cannot create an instance: bad_config: user_agent must be a string, got 5"
        ),
        "{stderr}"
    );
    // --no-plugins checks the file alone.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paywatch.toml");
    std::fs::write(&path, test_config(dir.path(), 8080, &asset("nosuchplugin", ""))).unwrap();
    let out = paywatch(&["config", "check", "--no-plugins", "--config", path.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `chain rewind` refuses what it cannot do, changing nothing: an unknown chain, a chain never
/// followed; bad arguments exit 2. (Rewinding a real store: `recovery.rs`.)
#[test]
fn chain_rewind_refuses_unknown_and_never_followed_chains() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paywatch.toml");
    std::fs::write(&path, test_config(dir.path(), 8080, "")).unwrap();
    let rewind = |args: &[&str]| {
        let out = paywatch(&[&["chain", "rewind", "--config", path.to_str().unwrap()], args].concat(), &[]);
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stderr) = rewind(&["--chain", "ltc"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "chain rewind refused, nothing was changed: no chain named \"ltc\" in the config (chains: btc, eth)"
        ),
        "{stderr}"
    );
    let (code, stderr) = rewind(&["--chain", "btc", "--yes"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("chain \"btc\" has no recorded block: it was never followed"), "{stderr}");
    let (code, stderr) = rewind(&["--chain", "btc", "--height", "x"]);
    assert_eq!(code, Some(2), "{stderr}");
    let out = paywatch(&["chain", "rewind", "--help"], &[]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && help.contains("--yes") && help.contains("--height"), "{help}");
}

/// Loading a plugin runs its code with the daemon's rights: a plugin directory anyone can write
/// to is refused with the reason, and a group-writable plugin file is not loaded (its code
/// never runs), named in `plugins list`.
#[test]
fn writable_plugin_dirs_and_files_are_refused_with_the_reason() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    paywatch_tests::daemon::install_plugins(dir.path(), &[paywatch_tests::plugin_lib("bitcoin")]).unwrap();
    let plugins = dir.path().join("plugins");
    let path = dir.path().join("paywatch.toml");
    let asset = "\n[[assets]]\nid = \"X\"\nchain = \"btc\"\nplugin = \"bitcoin\"\n";
    std::fs::write(&path, test_config(dir.path(), 8080, asset)).unwrap();
    let config = path.to_str().unwrap();
    let mode = |p: &std::path::Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    mode(&plugins, 0o755);
    let out = paywatch(&["config", "check", "--config", config], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    mode(&plugins, 0o777);
    let out = paywatch(&["config", "check", "--config", config], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("writable by group or others (mode 777)"), "{stderr}");
    mode(&plugins, 0o755);
    let lib = std::fs::read_dir(&plugins).unwrap().next().unwrap().unwrap().path();
    mode(&lib, 0o664);
    let out = paywatch(&["plugins", "list", "--config", config], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("not loaded: it is writable by group or others (mode 664)"), "{stdout}");
    let out = paywatch(&["config", "check", "--config", config], &[]);
    assert_eq!(out.status.code(), Some(2), "a plugin that did not load is missing for its asset");
    // A directory that is not there: the file alone checks; loading names the directory.
    std::fs::remove_dir_all(&plugins).unwrap();
    let out = paywatch(&["config", "check", "--no-plugins", "--config", config], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = paywatch(&["config", "check", "--config", config], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("plugin directory {}", plugins.display())), "{stderr}");
    assert!(stderr.contains("No such file or directory"), "{stderr}");
}
