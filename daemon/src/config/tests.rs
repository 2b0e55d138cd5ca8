use super::*;
use serde_json::json;

fn minimal(plugin_dir: &Path) -> Value {
    json!({
        "server": {"listen": "127.0.0.1:8080", "admin_key": "admin_ANtQLP1kb2eRtEYFMuHmwJguJQ"},
        "storage": {"path": "/tmp/x"},
        "plugins": {"dir": plugin_dir},
        "chains": [
            {"name": "btc", "kind": "bitcoin", "network": "regtest", "rpc_url": "http://127.0.0.1:18443",
             "rpc_user": "u", "rpc_password": "rpc-pass", "zmq": "tcp://127.0.0.1:28332"},
            {"name": "eth", "kind": "evm", "chain_id": 31337, "ws_url": "ws://127.0.0.1:8545"}
        ],
        "assets": [
            {"id": "BTC", "chain": "btc", "plugin": "bitcoin"},
            {"id": "USDT", "chain": "eth", "plugin": "erc20", "contract": "0xdAC17F958D2ee523a2206206994597C13D831ec7", "decimals": 6}
        ],
        "dispatch": {"allow_private": ["127.0.0.1/32", "::1"]},
        "stores": [{
            "id": "shop1", "api_key": "shop1_p0Cw5yCiQhKmPZBSioL43yrnC2",
            "receive": {"BTC": {"descriptor": "pkh(tpub/0/*)"}},
            "endpoints": [{"plugin": "webhook", "url": "http://127.0.0.1:9000/hook", "secret": "whsec_abc",
                           "events": ["invoice.*"], "signing_key": "ed25519-secret"}]
        }]
    })
}

fn issues_of(raw: &Value) -> Vec<String> {
    match validate_value(raw) {
        Err(ConfigError::Invalid(v)) => v.iter().map(|i| i.to_string()).collect(),
        Ok(_) => vec![],
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn a_valid_config_becomes_typed_with_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let c = validate_value(&minimal(dir.path())).unwrap();
    assert_eq!(c.server.listen.port(), 8080);
    assert_eq!(c.server.log_format, LogFormat::Text);
    let btc = c.chain("btc").unwrap();
    assert_eq!((btc.confirmations, btc.reorg_window, btc.kind()), (1, 100, ChainKind::Bitcoin));
    let ChainNode::Bitcoin(n) = &btc.node else { panic!("bitcoin") };
    assert_eq!(n.zmq.rawtx.as_deref(), Some("tcp://127.0.0.1:28332"));
    assert_eq!(n.zmq.sequence.as_deref(), Some("tcp://127.0.0.1:28332"));
    let eth = c.chain("eth").unwrap();
    assert_eq!((eth.confirmations, eth.reorg_window), (12, 64));
    assert_eq!(c.assets[1].decimals, Some(6));
    assert_eq!(c.stores[0].speed, 1);
    assert!(c.stores[0].api_key.as_ref().unwrap().matches("shop1_p0Cw5yCiQhKmPZBSioL43yrnC2"));
    assert_eq!(c.stores[0].endpoints[0].params.expose()["signing_key"], "ed25519-secret");
    assert_eq!(c.dispatch.allow_private.len(), 2);
}

#[test]
fn every_problem_is_reported_with_its_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = minimal(dir.path());
    raw["server"]["listen"] = json!("localhost");
    raw["server"]["colour"] = json!("blue");
    raw["chains"][0]["rpc_url"] = json!("ftp://u:hunter2pw@x/v3/9aa3d95b3bc440fa88ea12eaa4456161");
    raw["chains"][1]["kind"] = json!("solana");
    raw["stores"][0].as_object_mut().unwrap().remove("api_key");
    raw["stores"][0]["endpoints"][0]["url"] = json!("not a url");
    raw["assets"][0]["chain"] = json!("ltc");
    raw["dispatch"]["allow_private"] = json!(["10.0.0.0/8", "nope"]);
    let got = issues_of(&raw);
    let expect = [
        "server.listen: \"localhost\" is not an address:port",
        "server.colour: unknown key",
        "chains[0].rpc_url: \"ftp://",
        "chains[1].kind: \"solana\" is not one of bitcoin, evm",
        "assets[0].chain: unknown chain \"ltc\"",
        "stores[0].api_key: missing",
        "stores[0].endpoints[0].url: it is not a valid URL",
        "dispatch.allow_private[1]: \"nope\" is not an IP address or CIDR",
    ];
    for e in expect {
        assert!(got.iter().any(|g| g.starts_with(e)), "missing {e:?} in {got:#?}");
    }
    assert_eq!(got.len(), expect.len(), "{got:#?}");
    let rpc = got.iter().find(|g| g.starts_with("chains[0].rpc_url")).unwrap();
    assert!(rpc.contains("must be a http/https URL"), "{rpc}");
    assert!(
        !rpc.contains("hunter2pw") && !rpc.contains("9aa3d95b3bc440fa88ea12eaa4456161"),
        "a key in an error: {rpc}"
    );
}

#[test]
fn asset_amounts_are_decimals_in_the_assets_unit() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = minimal(dir.path());
    raw["assets"][0]["max_invoice_amount"] = json!(100);
    raw["assets"][0]["min_payment"] = json!(" 0.00001 ");
    raw["assets"][1]["max_invoice_amount"] = json!("1000000.5");
    let c = validate_value(&raw).unwrap();
    assert_eq!(
        (c.assets[0].max_invoice_amount.as_deref(), c.assets[0].min_payment.as_deref()),
        (Some("100"), Some("0.00001"))
    );
    assert_eq!(
        (c.assets[1].max_invoice_amount.as_deref(), c.assets[1].min_payment.as_deref()),
        (Some("1000000.5"), None)
    );
    // Not handed to the plugin as its own parameters.
    assert!(!c.assets[0].params.expose().contains_key("min_payment"));

    raw["assets"][0]["max_invoice_amount"] = json!("-1");
    raw["assets"][0]["min_payment"] = json!("1e-5");
    raw["assets"][1]["max_invoice_amount"] = json!("0.0000001");
    raw["assets"][1]["min_payment"] = json!(["1"]);
    let got = issues_of(&raw);
    let expect = [
        "assets[0].max_invoice_amount: \"-1\" is not a non-negative decimal amount",
        "assets[0].min_payment: \"1e-5\" is not a non-negative decimal amount",
        "assets[1].max_invoice_amount: \"0.0000001\" has more than 6 decimals",
        "assets[1].min_payment: expected a string",
    ];
    for e in expect {
        assert!(got.iter().any(|g| g.starts_with(e)), "missing {e:?} in {got:#?}");
    }
}

#[test]
fn evm_blocks_are_verified_unless_the_chain_turns_it_off() {
    let dir = tempfile::tempdir().unwrap();
    let verify = |v: Option<Value>| {
        let mut raw = minimal(dir.path());
        if let Some(v) = v {
            raw["chains"][1]["verify_blocks"] = v;
        }
        let c = validate_value(&raw).unwrap();
        let ChainNode::Evm(n) = &c.chain("eth").unwrap().node else { panic!("evm") };
        n.verify_blocks
    };
    assert!(verify(None));
    assert!(!verify(Some(json!(false))));
    assert!(!verify(Some(json!("false"))), "as the environment gives it");
    let mut raw = minimal(dir.path());
    raw["chains"][1]["verify_blocks"] = json!("sometimes");
    let got = issues_of(&raw);
    assert_eq!(got, ["chains[1].verify_blocks: expected true or false, got \"sometimes\""]);
}

#[test]
fn duplicates_and_conflicts_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = minimal(dir.path());
    raw["chains"][1]["name"] = json!("btc");
    let mut second = raw["stores"][0].clone();
    second["id"] = json!("shop2");
    raw["stores"].as_array_mut().unwrap().push(second);
    raw["chains"][0]["rpc_cookie"] = json!("/x/.cookie");
    let got = issues_of(&raw);
    assert!(got.iter().any(|g| g == "chains[1].name: duplicate chain name \"btc\""), "{got:#?}");
    assert!(got.iter().any(|g| g.starts_with("stores[1].api_key: same API key as store \"shop1\"")), "{got:#?}");
    assert!(got.iter().any(|g| g.starts_with("chains[0].rpc_cookie: set either")), "{got:#?}");
    // USDT's chain "eth" was renamed away above: a real error, reported once.
    assert!(got.iter().any(|g| g == "assets[1].chain: unknown chain \"eth\""), "{got:#?}");
    assert_eq!(got.len(), 4, "{got:#?}");
}

/// Two stores handing out addresses from one source would both be paid by one payment.
#[test]
fn two_stores_may_not_share_a_receive_source_on_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = minimal(dir.path());
    let mut second = raw["stores"][0].clone();
    second["id"] = json!("shop2");
    second["api_key"] = json!("shop2_co8sfRpHLwCI9nhKZDiNtiTYgN");
    second["endpoints"] = json!([]);
    raw["stores"].as_array_mut().unwrap().push(second.clone());
    let got = issues_of(&raw);
    assert_eq!(
        got,
        ["stores[1].receive.BTC: hands out the same addresses as store \"shop1\" (receive.BTC): one payment would settle invoices of both; give each store its own receive source"],
    );
    // Address lists overlapping in one address (another spelling of it) are the same too.
    raw["stores"][0]["receive"] = json!({"USDT": {"addresses": ["0xdAC17F958D2ee523a2206206994597C13D831ec7"]}});
    raw["stores"][1]["receive"] = json!({"USDT": {"addresses": ["0x1111111111111111111111111111111111111111", "0xdac17f958d2ee523a2206206994597c13d831ec7"]}});
    let got = issues_of(&raw);
    assert!(
        got.len() == 1 && got[0].starts_with("stores[1].receive.USDT: hands out the same addresses as store \"shop1\""),
        "{got:#?}"
    );
    // Their own sources: fine.
    raw["stores"][1]["receive"] = json!({"BTC": {"descriptor": "pkh(tpub2/0/*)"}});
    assert_eq!(issues_of(&raw), Vec::<String>::new());
}

#[test]
fn bad_types_are_reported_and_the_plugin_dir_is_left_to_the_loader() {
    let mut raw = minimal(Path::new("/nonexistent/plugins"));
    raw["chains"][0]["confirmations"] = json!("many");
    raw["stores"][0]["speed"] = json!(-1);
    raw["stores"][0]["receive"]["DOGE"] = json!({"xpub": "x"});
    let got = issues_of(&raw);
    // Validation is the file alone (`config check --no-plugins`); loading says why a
    // directory cannot be read (tests/tests/cli.rs).
    assert!(!got.iter().any(|g| g.starts_with("plugins.dir")), "{got:#?}");
    assert!(
        got.iter().any(|g| g == "chains[0].confirmations: expected a non-negative integer, got \"many\""),
        "{got:#?}"
    );
    assert!(got.iter().any(|g| g == "stores[0].speed: expected a non-negative integer, got -1"), "{got:#?}");
    assert!(got.iter().any(|g| g == "stores[0].receive.DOGE: unknown asset \"DOGE\""), "{got:#?}");
}

#[test]
fn printed_config_has_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let c = validate_value(&minimal(dir.path())).unwrap();
    let printed = toml::to_string(&c).unwrap() + &format!("{c:?}");
    for secret in [
        "rpc-pass",
        "shop1_p0Cw5yCiQhKmPZBSioL43yrnC2",
        "admin_ANtQLP1kb2eRtEYFMuHmwJguJQ",
        "whsec_abc",
        "ed25519-secret",
    ] {
        assert!(!printed.contains(secret), "{secret} leaked in:\n{printed}");
    }
    assert!(printed.contains("<redacted>"));
}

#[test]
fn plugin_wide_config_is_read_and_printed_without_its_secrets_at_any_depth() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = minimal(dir.path());
    raw["plugins"]["config"] = json!({"myshop": {
        "api_version": "2",
        "account": {"password": "nested-pass", "user": "shop"},
        "authorization": "Bearer live_sk_1",
        "hosts": [{"passphrase": "in-a-list"}],
    }});
    let c = validate_value(&raw).unwrap();
    let params = c.plugins.config["myshop"].expose();
    assert_eq!(
        (params["api_version"].as_str(), params["account"]["password"].as_str()),
        (Some("2"), Some("nested-pass"))
    );
    let printed = toml::to_string(&c).unwrap() + &format!("{c:?}");
    for secret in ["nested-pass", "live_sk_1", "in-a-list"] {
        assert!(!printed.contains(secret), "{secret} leaked in:\n{printed}");
    }
    assert!(printed.contains("api_version") && printed.contains("\"shop\""), "{printed}");
}

#[test]
#[allow(clippy::result_large_err, reason = "figment::Jail's closure type is figment's")]
fn file_then_environment_overrides() {
    figment::Jail::expect_with(|jail| {
        let plugins = jail.directory().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        jail.create_file(
            "paywatch.toml",
            &format!(
                r#"
[server]
listen = "127.0.0.1:8080"
[plugins]
dir = "{}"
[[chains]]
name = "btc"
kind = "bitcoin"
network = "regtest"
rpc_url = "http://127.0.0.1:18443"
rpc_user = "u"
[[stores]]
id = "shop1"
"#,
                plugins.display()
            ),
        )?;
        jail.set_env("PAYWATCH_SERVER__LISTEN", "127.0.0.1:9999");
        jail.set_env("PAYWATCH_CHAINS__BTC__RPC_PASSWORD", "0123");
        jail.set_env("PAYWATCH_STORES__SHOP1__API_KEY", "from_the_environment_Xk29fQ7vLp");
        jail.set_env("PAYWATCH_CONFIG", "ignored: not a section");
        let c = load(Some(Path::new("paywatch.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(c.server.listen.port(), 9999);
        let ChainNode::Bitcoin(n) = &c.chains[0].node else { panic!() };
        let RpcAuth::UserPass { password, .. } = &n.rpc_auth else { panic!() };
        assert_eq!(password.expose(), "0123");
        assert!(c.stores[0].api_key.as_ref().unwrap().matches("from_the_environment_Xk29fQ7vLp"));
        Ok(())
    });
}

#[test]
fn missing_and_malformed_files_are_clear_errors() {
    let e = load(Some(Path::new("/nonexistent/paywatch.toml"))).unwrap_err();
    assert!(e.to_string().starts_with("cannot read config file /nonexistent/paywatch.toml"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, "[server\nlisten = 1").unwrap();
    let e = load(Some(&p)).unwrap_err();
    assert!(matches!(e, ConfigError::Parse { .. }), "{e}");
}

#[test]
fn the_shipped_example_and_dev_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let dir = tempfile::tempdir().unwrap();
    let raw_of = |name: &str| {
        let mut raw = read_file(&root.join(name)).unwrap();
        raw["plugins"]["dir"] = json!(dir.path());
        raw
    };
    if let Err(e) = validate_value(&raw_of("dev.toml")) {
        panic!("config/dev.toml: {e}");
    }
    // The example is valid but for its placeholder keys, which are public: an operator who
    // copies it must make their own (`paywatch keys new`).
    let issues = issues_of(&raw_of("example.toml"));
    let paths: Vec<&str> = issues.iter().map(|i| i.split(':').next().unwrap()).collect();
    assert_eq!(paths, ["server.admin_key", "stores[0].api_key"], "{issues:?}");
    assert!(issues.iter().all(|i| i.contains("placeholder") && !i.contains("changeme_")), "{issues:?}");
}

/// Another Bitcoin-family coin names its genesis block and its proof-of-work limit (Bitcoin's
/// is not theirs; scrypt coins have none the header's hash can meet).
#[test]
fn another_coins_genesis_comes_with_its_proof_of_work_limit_and_rpc_is_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let pow = |raw: &Value| {
        let c = validate_value(raw).unwrap();
        let ChainNode::Bitcoin(n) = &c.chain("btc").unwrap().node else { panic!("bitcoin") };
        (n.genesis_hash.clone(), n.pow_limit.clone())
    };
    assert_eq!(pow(&minimal(dir.path())), (None, PowLimit::Network));
    // On Bitcoin itself the checks cannot be turned off or loosened.
    let mut raw = minimal(dir.path());
    raw["chains"][0]["pow_limit"] = json!("none");
    assert_eq!(issues_of(&raw), ["chains[0].pow_limit: \"none\" without genesis_hash: a Bitcoin network's proof-of-work limit and difficulty rules are known and always checked; pow_limit is for another coin (with its genesis_hash)"]);
    let genesis = "12a765e31ffd4059bada1e25190f6e98c99d9714d334efa41a195a7e7e04bfe2";
    let mut raw = minimal(dir.path());
    raw["chains"][0]["genesis_hash"] = json!(genesis.to_uppercase());
    assert_eq!(
        issues_of(&raw),
        ["chains[0].pow_limit: required with genesis_hash: set the coin's proof-of-work limit (64 hex digits), or \"none\" for a coin whose proof of work is not the header's double SHA-256 (Litecoin, Dogecoin)"]
    );
    raw["chains"][0]["pow_limit"] = json!("None");
    assert_eq!(pow(&raw), (Some(genesis.to_string()), PowLimit::None));
    let limit = format!("00000000ffff{}", "0".repeat(52));
    raw["chains"][0]["pow_limit"] = json!(format!("0x{limit}"));
    assert_eq!(pow(&raw).1, PowLimit::Target(limit));
    for bad in ["ffff", "0".repeat(64).as_str(), "zz".repeat(32).as_str()] {
        raw["chains"][0]["pow_limit"] = json!(bad);
        let issues = issues_of(&raw);
        assert!(issues.len() == 1 && issues[0].starts_with("chains[0].pow_limit: "), "{bad}: {issues:?}");
    }
    raw["chains"][0]["pow_limit"] = json!("none");
    raw["chains"][0]["rpc_url"] = json!("https://node.example:8332");
    let issues = issues_of(&raw);
    assert!(
        issues.len() == 1
            && issues[0].starts_with(
                "chains[0].rpc_url: \"https://node.example:8332/\": bitcoind's RPC speaks plain HTTP only"
            ),
        "{issues:?}"
    );
    raw["chains"][0]["rpc_url"] = json!("http://127.0.0.1:18443");
    raw["chains"][0]["genesis_hash"] = json!("not-a-hash");
    raw["chains"][0]["pow_limit"] = json!("none");
    assert_eq!(issues_of(&raw), ["chains[0].genesis_hash: \"not-a-hash\" is not a block hash (64 hex digits)"]);
}

/// A private key pasted into a receive source is refused by its shape, named by store and
/// asset, never echoed (BIP 32 test vector 1 and the Bitcoin wiki's WIF example).
#[test]
fn a_private_key_in_a_receive_source_is_refused_without_being_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let xprv = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi";
    let wif = "KwdMAjGmerYanjeui5SHS7JkmpZvVipYvB2LJGU1ZxJwYvP98617";
    for receive in [
        json!({"xpub": xprv}),
        json!({"descriptor": format!("wpkh({xprv}/0/*)")}),
        json!({"descriptor": format!("wpkh({wif})")}),
        json!({"addresses": [wif]}),
    ] {
        let mut raw = minimal(dir.path());
        raw["stores"][0]["receive"] = json!({"BTC": receive});
        let got = issues_of(&raw);
        assert_eq!(got.len(), 1, "{receive}: {got:#?}");
        assert!(got[0].starts_with("stores[0].receive.BTC: holds a"), "{got:#?}");
        assert!(got[0].contains("extended public key"), "{got:#?}");
        assert!(!got[0].contains("xprv9s21") && !got[0].contains("KwdMAjGm"), "echoed: {got:#?}");
    }
}

#[test]
fn per_store_allow_private_and_long_poll_limits_are_read_and_checked_with_their_key_paths() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = minimal(dir.path());
    let c = validate_value(&raw).unwrap();
    assert_eq!((c.stores[0].max_long_polls, c.server.limits.max_long_polls), (32, 128));
    assert!(c.stores[0].allow_private.is_empty());
    raw["stores"][0]["allow_private"] = json!(["10.1.0.0/16", "::1"]);
    raw["stores"][0]["max_long_polls"] = json!(5);
    raw["server"]["max_concurrent_requests"] = json!(10);
    let c = validate_value(&raw).unwrap();
    assert_eq!(c.stores[0].allow_private, ["10.1.0.0/16".parse().unwrap(), "::1/128".parse().unwrap()]);
    assert_eq!(c.stores[0].max_long_polls, 5);
    assert_eq!(c.server.limits.max_long_polls, 5, "the default is half of max_concurrent_requests");
    raw["stores"][0]["allow_private"] = json!(["10.1.0.0/16", "10.0.0.0/33"]);
    raw["stores"][0]["max_long_polls"] = json!(0);
    raw["server"]["max_long_polls"] = json!(10);
    let got = issues_of(&raw);
    let expect = [
        "stores[0].allow_private[1]: \"10.0.0.0/33\" is not an IP address or CIDR",
        "stores[0].max_long_polls: ",
        "server.max_long_polls: 10 is not less than max_concurrent_requests = 10",
    ];
    for e in expect {
        assert!(got.iter().any(|g| g.starts_with(e)), "missing {e:?} in {got:#?}");
    }
    assert_eq!(got.len(), expect.len(), "{got:#?}");
}

#[test]
fn store_quotas_have_defaults_and_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = minimal(dir.path());
    let c = validate_value(&raw).unwrap();
    assert_eq!((c.stores[0].max_watches, c.stores[0].max_refunds_per_invoice), (1_000_000, 50));
    raw["stores"][0]["max_watches"] = json!(0);
    raw["stores"][0]["max_refunds_per_invoice"] = json!(10_001);
    assert_eq!(
        issues_of(&raw),
        [
            "stores[0].max_watches: 0 is out of range 1..=100000000",
            "stores[0].max_refunds_per_invoice: 10001 is out of range 1..=10000"
        ]
    );
    raw["stores"][0]["max_watches"] = json!(7);
    raw["stores"][0]["max_refunds_per_invoice"] = json!(1);
    let c = validate_value(&raw).unwrap();
    assert_eq!((c.stores[0].max_watches, c.stores[0].max_refunds_per_invoice), (7, 1));
}

#[test]
fn plugin_pins_files_and_enable_are_checked_and_must_be_for_loaded_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = minimal(dir.path());
    let pin = "AB".repeat(32);
    raw["plugins"]["enable"] = json!(["woocommerce"]);
    raw["plugins"]["files"] = json!({"bitcoin": "btc-1.2.so"});
    raw["plugins"]["sha256"] = json!({"bitcoin": pin, "woocommerce": "ab".repeat(32)});
    let c = validate_value(&raw).unwrap();
    assert_eq!(c.plugins.sha256["bitcoin"], "ab".repeat(32), "pins are kept lowercase");
    let used: Vec<(String, String)> = c.plugins_used().into_iter().collect();
    assert_eq!(
        used,
        [
            ("bitcoin".to_string(), "assets[BTC].plugin".to_string()),
            ("erc20".into(), "assets[USDT].plugin".into()),
            ("webhook".into(), "stores[shop1].endpoints[0].plugin".into()),
            ("woocommerce".into(), "plugins.enable[0]".into()),
        ]
    );
    raw["plugins"]["enable"] = json!(["../evil"]);
    raw["plugins"]["files"] = json!({"bitcoin": "../outside.so", "ethereum": "eth.so"});
    raw["plugins"]["sha256"] = json!({"bitcoin": "abc", "woocommerce": "ab".repeat(32)});
    raw["assets"][0]["plugin"] = json!("bit/coin");
    let got = issues_of(&raw);
    for want in [
        "plugins.enable[0]: \"../evil\" is not a valid plugin name",
        "plugins.files.bitcoin: \"../outside.so\" is not a file name in plugins.dir (no '/')",
        "plugins.sha256.bitcoin: \"abc\" is not a SHA-256",
        "assets[0].plugin: \"bit/coin\" is not a valid plugin name",
        "plugins.files.ethereum: plugin \"ethereum\" is not used by this config",
        "plugins.sha256.woocommerce: plugin \"woocommerce\" is not used by this config",
    ] {
        assert!(got.iter().any(|g| g.starts_with(want)), "{want} not in {got:#?}");
    }
}

#[test]
#[allow(clippy::result_large_err, reason = "figment::Jail's closure type is figment's")]
fn a_relative_plugin_dir_is_relative_to_the_config_file() {
    figment::Jail::expect_with(|jail| {
        let conf = jail.directory().join("etc");
        std::fs::create_dir_all(conf.join("plugins-bin")).unwrap();
        std::fs::create_dir_all(conf.join("libs")).unwrap();
        let file = |plugins: &str| {
            format!("[server]\nlisten = \"127.0.0.1:8080\"\n{plugins}[[stores]]\nid = \"s\"\napi_key = \"from_the_file_Xk29fQ7vLp1234\"\n")
        };
        jail.create_file("etc/a.toml", &file("[plugins]\ndir = \"libs\"\n"))?;
        jail.create_file("etc/b.toml", &file(""))?;
        // Run from the jail's directory: neither `libs` nor `plugins-bin` is there.
        let a = load(Some(Path::new("etc/a.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(a.plugins.dir, conf.join("libs"));
        let b = load(Some(Path::new("etc/b.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(b.plugins.dir, conf.join("plugins-bin"), "the default is beside the file too");
        jail.set_env("PAYWATCH_PLUGINS__DIR", conf.join("libs").display().to_string());
        let env = load(Some(Path::new("etc/b.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(env.plugins.dir, conf.join("libs"));
        Ok(())
    });
}

fn with_rates(dir: &Path) -> Value {
    let mut raw = minimal(dir);
    raw["rates"] = json!({
        "allow_private": ["127.0.0.1/32"],
        "sources": {
            "fix": {"fixed": {"BTC_USD": "50000", "USDT_USD": "1"}},
            "kraken": {"plugin": "kraken", "base_url": "http://127.0.0.1:9/", "api_key": "k-secret", "ttl_secs": 30},
        }
    });
    raw["assets"][1]["rate_code"] = json!("USDT");
    raw["stores"][0]["rates"] = json!({
        "spread_percent": "0.5",
        "rules": [
            {"pair": "BTC_*", "sources": ["kraken", "fix"]},
            {"pair": "*_CNY", "via": "USD"},
            {"pair": "*_*", "sources": ["fix"]},
        ]
    });
    raw
}

#[test]
fn rate_sources_and_store_rules_are_typed_with_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let c = validate_value(&with_rates(dir.path())).unwrap();
    assert_eq!((c.rates.timeout_secs, c.rates.max_response_bytes, c.rates.allow_private.len()), (10, 1 << 20, 1));
    let fix = &c.rates.sources["fix"];
    assert_eq!((fix.ttl_secs, fix.max_age_secs), (60, 600));
    let RateSourceKind::Fixed(rates) = &fix.kind else { panic!("fixed") };
    assert_eq!(rates["BTC_USD"].to_string(), "50000");
    let kraken = &c.rates.sources["kraken"];
    assert_eq!(kraken.ttl_secs, 30);
    let RateSourceKind::Plugin { plugin, params } = &kraken.kind else { panic!("plugin") };
    assert_eq!(plugin, "kraken");
    // The plugin gets its own keys, not the host's.
    assert_eq!(params.expose().keys().collect::<Vec<_>>(), ["api_key", "base_url"]);
    assert_eq!(c.plugins_used()["kraken"], "rates.sources.kraken.plugin");
    let rates = c.stores[0].rates.as_ref().unwrap();
    assert_eq!(rates.spread_percent.to_string(), "0.5");
    assert_eq!(rates.rules[0].pair.to_string(), "BTC_*");
    assert_eq!(rates.rules[1].action, RuleAction::Via("USD".into()));
    assert_eq!((c.assets[0].rate_code.as_str(), c.assets[1].rate_code.as_str()), ("BTC", "USDT"));
    // Printed without the plugin's secrets.
    let printed = serde_json::to_string(&c).unwrap();
    assert!(!printed.contains("k-secret") && printed.contains("base_url"), "{printed}");
    // No [stores.rates]: no rules, not an error.
    let c = validate_value(&minimal(dir.path())).unwrap();
    assert!(c.stores[0].rates.is_none() && c.rates.sources.is_empty());
}

#[test]
fn every_rate_problem_is_reported_with_its_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = with_rates(dir.path());
    raw["rates"]["timeout_secs"] = json!(0);
    raw["rates"]["sources"]["both"] = json!({"plugin": "kraken", "fixed": {"BTC_USD": "1"}});
    raw["rates"]["sources"]["neither"] = json!({"ttl_secs": 5});
    raw["rates"]["sources"]["slow"] = json!({"fixed": {"BTC_USD": "1"}, "ttl_secs": 700, "max_age_secs": 600});
    raw["rates"]["sources"]["bad"] = json!({"fixed": {"BTCUSD": "1", "ETH_usd": "2", "BTC_EUR": "-1", "BTC_JPY": "0", "BTC_GBP": 1.5, "BTC_CHF": "1e3"}});
    raw["assets"][1]["rate_code"] = json!("usdt");
    raw["stores"][0]["rates"] = json!({
        "spread_percent": "51",
        "rules": [
            {"pair": "BTC_*", "sources": ["kraken", "nope"]},
            {"pair": "BTC", "sources": ["fix"]},
            {"pair": "*_CNY", "via": "USD", "sources": ["fix"]},
            {"pair": "*_EUR", "via": "usd"},
            {"pair": "*_*"},
        ]
    });
    let issues = issues_of(&raw);
    let expect = [
        "rates.timeout_secs: 0 is out of range 1..=120",
        "rates.sources.both: set either plugin or fixed, not both",
        "rates.sources.neither: set plugin = \"NAME\"",
        "rates.sources.slow.ttl_secs: 700 is more than max_age_secs = 600",
        "rates.sources.bad.fixed.BTCUSD: \"BTCUSD\" is not a pair BASE_QUOTE",
        "rates.sources.bad.fixed.ETH_usd: \"ETH_usd\" is not a pair",
        "rates.sources.bad.fixed.BTC_EUR: \"-1\" is not a plain decimal",
        "rates.sources.bad.fixed.BTC_JPY: \"0\" is not positive",
        "rates.sources.bad.fixed.BTC_GBP: expected a decimal string",
        "rates.sources.bad.fixed.BTC_CHF: \"1e3\" is not a plain decimal",
        "assets[1].rate_code: \"usdt\" is not a code",
        "stores[0].rates.spread_percent: 51 is more than 50",
        "stores[0].rates.rules[0].sources[1]: unknown rate source \"nope\"",
        "stores[0].rates.rules[1].pair: \"BTC\" is not a pair pattern",
        "stores[0].rates.rules[2]: set either sources or via, not both",
        "stores[0].rates.rules[3].via: \"usd\" is not a code",
        "stores[0].rates.rules[4]: set sources = [\"NAME\", …] or via = \"CODE\"",
    ];
    for e in expect {
        assert!(issues.iter().any(|i| i.starts_with(e)), "missing {e:?} in {issues:#?}");
    }
    assert_eq!(issues.len(), expect.len(), "{issues:#?}");
}

#[test]
fn via_rules_that_loop_are_refused_with_the_rules_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = with_rates(dir.path());
    raw["stores"][0]["rates"]["rules"] = json!([
        {"pair": "*_CNY", "via": "USD"},
        {"pair": "*_USD", "via": "CNY"},
        {"pair": "*_*", "sources": ["fix"]},
    ]);
    let issues = issues_of(&raw);
    assert_eq!(issues.len(), 1, "{issues:#?}");
    assert!(issues[0].starts_with("stores[0].rates.rules[") && issues[0].contains("the via rules loop"), "{issues:#?}");
}

#[test]
#[allow(clippy::result_large_err, reason = "figment::Jail's closure type is figment's")]
fn rates_are_overridden_from_the_environment() {
    figment::Jail::expect_with(|jail| {
        let plugins = jail.directory().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        let text = format!(
            "[plugins]\ndir = \"{}\"\n[rates]\ntimeout_secs = 10\n[rates.sources.fix]\nfixed = {{ BTC_USD = \"1\" }}\n",
            plugins.display()
        );
        jail.create_file("paywatch.toml", &text)?;
        jail.set_env("PAYWATCH_RATES__TIMEOUT_SECS", "3");
        jail.set_env("PAYWATCH_RATES__ALLOW_PRIVATE", "127.0.0.1/32,::1");
        jail.set_env("PAYWATCH_RATES__SOURCES__FIX__MAX_AGE_SECS", "900");
        let c = load(Some(Path::new("paywatch.toml"))).map_err(|e| e.to_string())?;
        assert_eq!((c.rates.timeout_secs, c.rates.allow_private.len()), (3, 2));
        assert_eq!(c.rates.sources["fix"].max_age_secs, 900);
        Ok(())
    });
}

#[test]
fn checkout_streams_leave_connections_for_the_api_and_the_pages_own_url_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = minimal(dir.path());
    raw["server"]["max_connections"] = json!(100);
    let c = validate_value(&raw).unwrap();
    assert_eq!(c.checkout.max_streams, 50, "half the API listener's connections by default");
    assert_eq!((c.checkout.max_streams_per_client, c.checkout.max_streams_per_invoice), (16, 8));
    assert_eq!(c.stores[0].name, "shop1", "a store's name is its id by default");
    raw["checkout"] = json!({"listen": "127.0.0.1:8081"});
    assert_eq!(validate_value(&raw).unwrap().checkout.max_streams, 68, "all but 32 on their own listener");
    raw["checkout"] = json!({"max_streams": 90, "public_url": "https://pay.example.com/shop/?x=1"});
    raw["stores"][0]["name"] = json!("Shop\u{202E}1");
    let issues = issues_of(&raw);
    let has = |key: &str, what: &str| issues.iter().any(|i| i.contains(key) && i.contains(what));
    assert!(has("checkout.max_streams", "fewer than 32 of server.max_connections = 100"), "{issues:?}");
    assert!(has("checkout.public_url", "no query"), "{issues:?}");
    assert!(has("stores[0].name", "control character, U+202E"), "{issues:?}");
    raw["checkout"] = json!({"public_url": "https://pay.example.com/shop/", "listen": "127.0.0.1:8080"});
    raw["stores"][0]["name"] = json!("Corner Shop");
    let issues = issues_of(&raw);
    assert!(issues.iter().any(|i| i.contains("checkout.listen") && i.contains("server.listen too")), "{issues:?}");
    raw["checkout"] = json!({"public_url": "https://pay.example.com/shop/"});
    let c = validate_value(&raw).unwrap();
    assert_eq!(
        c.checkout.public_url.unwrap().as_str(),
        "https://pay.example.com/shop",
        "kept without a trailing slash"
    );
    assert_eq!(c.stores[0].name, "Corner Shop");
}

#[test]
fn gateway_tables_are_checked_with_their_key_paths_and_credentials_are_per_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = minimal(dir.path());
    let c = validate_value(&raw).unwrap();
    assert_eq!(c.stores[0].gateways.enabled().count(), 0, "no gateway unless its table is there");
    raw["stores"][0]["bitpay"] = json!({});
    raw["stores"][0]["coingate"] = json!({"api_token": "cg_tok_Vd3kS9wq2LxT7mZpR4nBfYc8"});
    raw["stores"][0]["coinpayments"] = json!({"public_key": "6b3f1d0c9e2a4b5d", "private_key": "cp_Xq7RtY2uWv9ZsB4nM6kLpE3d",
        "merchant_id": "m1", "ipn_secret": "ipn_Hs8Kd3Lq9WmZ2xVt5RbN7c"});
    let c = validate_value(&raw).unwrap();
    let s = &c.stores[0];
    assert_eq!(s.gateways.enabled().collect::<Vec<_>>(), GATEWAYS.to_vec());
    assert_eq!(s.gateways.bitpay.as_ref().unwrap().pairing_code_secs, 86_400);
    assert!(s.gateways.coingate.as_ref().unwrap().api_token.matches("cg_tok_Vd3kS9wq2LxT7mZpR4nBfYc8"));
    let cp = s.gateways.coinpayments.as_ref().unwrap();
    assert_eq!((cp.public_key.as_str(), cp.merchant_id.as_str()), ("6b3f1d0c9e2a4b5d", "m1"));
    assert!(!format!("{c:?}").contains("cp_Xq7RtY2uWv9ZsB4nM6kLpE3d"), "the private key never prints");
    assert!(c.plugins_used().contains_key("coinpayments"), "an enabled gateway loads its plugin");
    // A second store with the same credentials would take the first one's requests.
    let mut other = raw["stores"][0].clone();
    other["id"] = json!("shop2");
    other["api_key"] = json!("shop2_Kd8s7Wq2LxT7mZpR4nBfYc9A");
    other["receive"] = json!({});
    raw["stores"].as_array_mut().unwrap().push(other);
    let issues = issues_of(&raw);
    assert!(issues.iter().any(|i| i.contains("stores[1].coingate.api_token") && i.contains("\"shop1\"")), "{issues:?}");
    raw["stores"].as_array_mut().unwrap().pop();
    raw["stores"][0]["bitpay"] = json!({"pairing_code_secs": 5, "color": "red"});
    raw["stores"][0]["coingate"] = json!({"api_token": "short"});
    raw["stores"][0]["coinpayments"] = json!({"public_key": "has space", "private_key": "weak"});
    let symbols = json!({"public_key": "6b3f1d0c9e2a4b5d", "private_key": "cp_Xq7RtY2uWv9ZsB4nM6kLpE3d",
        "merchant_id": "m1", "ipn_secret": "My IPN secret!"});
    let mut with_symbols = raw.clone();
    with_symbols["stores"][0]["coinpayments"] = symbols.clone();
    let found = issues_of(&with_symbols);
    assert!(found.iter().any(|i| i.contains("ipn_secret") && !i.contains("My IPN")), "{found:?}");
    with_symbols["stores"][0]["coinpayments"]["ipn_secret"] = json!("s3cr3t!#a-long-one:%&*with/symbols");
    let found = issues_of(&with_symbols);
    assert!(!found.iter().any(|i| i.contains("ipn_secret")), "a long secret with symbols is taken: {found:?}");
    let issues = issues_of(&raw);
    let has = |key: &str, what: &str| issues.iter().any(|i| i.contains(key) && i.contains(what));
    assert!(has("stores[0].bitpay.pairing_code_secs", "5"), "{issues:?}");
    assert!(has("stores[0].bitpay.color", ""), "{issues:?}");
    assert!(has("stores[0].coingate.api_token", "too short"), "{issues:?}");
    assert!(has("stores[0].coinpayments.public_key", "printable"), "{issues:?}");
    assert!(has("stores[0].coinpayments.private_key", "too short"), "{issues:?}");
    assert!(!issues.iter().any(|i| i.contains("weak")), "a secret is never echoed: {issues:?}");
    assert!(has("stores[0].coinpayments.merchant_id", "missing"), "{issues:?}");
    assert!(has("stores[0].coinpayments.ipn_secret", "missing"), "{issues:?}");
}

#[test]
fn the_memory_budget_takes_bytes_or_sizes_with_units_and_refuses_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = minimal(dir.path());
    assert_eq!(validate_value(&raw).unwrap().storage.memory_budget, 256 << 20, "the default");
    for (given, bytes) in [
        (json!(33554432), 32usize << 20),
        (json!("64MiB"), 64 << 20),
        (json!("1 GiB"), 1 << 30),
        (json!("100MB"), 100_000_000),
        (json!("0.5g"), 512 << 20),
    ] {
        raw["storage"]["memory_budget"] = given.clone();
        assert_eq!(validate_value(&raw).unwrap().storage.memory_budget, bytes, "{given}");
    }
    for (given, why) in
        [(json!("1MiB"), "between 16MiB and 1TiB"), (json!("lots"), "not a size"), (json!("12 parsecs"), "not a size")]
    {
        raw["storage"]["memory_budget"] = given.clone();
        let issues = issues_of(&raw);
        assert!(issues.iter().any(|i| i.contains("storage.memory_budget") && i.contains(why)), "{given}: {issues:?}");
    }
}

#[test]
fn refund_approval_thresholds_are_positive_decimals_per_currency() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = minimal(dir.path());
    raw["stores"][0]["refund_approval_above"] = json!({"USD": "1000", "BTC": 0.05});
    let c = validate_value(&raw).unwrap();
    let t = &c.stores[0].refund_approval_above;
    assert_eq!(t.get("USD").map(ToString::to_string).as_deref(), Some("1000"));
    assert_eq!(t.get("BTC").map(ToString::to_string).as_deref(), Some("0.05"));
    raw["stores"][0]["refund_approval_above"] =
        json!({"usd": "1", "EUR": "-5", "GBP": "0", "JPY": true, "UDS": "1", "XAU": "1"});
    let issues = issues_of(&raw).join("\n");
    for (path, says) in [
        ("stores[0].refund_approval_above.usd", "not a currency code"),
        // A typo, or a currency no invoice is priced in: its threshold would never apply.
        ("stores[0].refund_approval_above.UDS", "not a currency code"),
        ("stores[0].refund_approval_above.XAU", "not a currency code"),
        ("stores[0].refund_approval_above.EUR", "not a plain decimal"),
        ("stores[0].refund_approval_above.GBP", "not positive"),
        ("stores[0].refund_approval_above.JPY", "expected a string"),
    ] {
        assert!(issues.lines().any(|l| l.starts_with(path) && l.contains(says)), "{path}: {issues}");
    }
}

#[test]
fn a_store_from_the_admin_api_is_validated_as_the_files_without_keys_endpoints_or_gateways() {
    let dir = tempfile::tempdir().unwrap();
    let c = validate_value(&minimal(dir.path())).unwrap();
    let spec = json!({"id": "shop2", "name": "Shop Two", "receive": {"BTC": {"xpub": "tpubX"}}, "speed": 2,
        "refund_approval_above": {"USD": "500"}});
    let s = store_spec(&spec, &c.assets, &c.rates).unwrap();
    assert_eq!((s.id.as_str(), s.name.as_str(), s.speed, s.api_key.is_none()), ("shop2", "Shop Two", 2, true));
    assert!(s.endpoints.is_empty() && s.gateways.bitpay.is_none());
    let bad = json!({"id": "bad id", "api_key": "k", "endpoints": [], "coingate": {"api_token": "t"},
        "receive": {"DOGE": {"xpub": "x"}}, "speed": "fast", "colour": "red"});
    let issues: Vec<String> =
        store_spec(&bad, &c.assets, &c.rates).unwrap_err().iter().map(ToString::to_string).collect();
    let all = issues.join("\n");
    for says in [
        "id:",
        "api_key: not for a store made through the admin API",
        "endpoints: not for a store",
        "coingate: not for a store",
        "receive.DOGE: unknown asset",
        "speed:",
        "colour",
    ] {
        assert!(all.contains(says), "{says}: {all}");
    }
    assert!(!all.contains("\"k\""), "the key is not echoed: {all}");
}
