//! The loader and instances against real `cdylib`s built by `scripts/build-plugins.sh`.

use super::*;
use crate::db::{Db, WatchRecord};
use crate::health::Health;
use crate::index::WatchSet;
use paywatch_plugin_api::abi::{SCAN_BLOCK, SCAN_TX};
use paywatch_plugin_api::messages::*;
use serde_json::json;
use std::sync::OnceLock;

/// The built plugins folder (built once per test process).
fn built() -> &'static Path {
    static OUT: OnceLock<PathBuf> = OnceLock::new();
    OUT.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-plugins.sh");
        let out =
            std::process::Command::new("bash").arg(&script).stderr(std::process::Stdio::inherit()).output().unwrap();
        assert!(out.status.success(), "{} failed", script.display());
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

fn lib_file(name: &str) -> PathBuf {
    built().join(format!("libpaywatch_plugin_{name}.{}", std::env::consts::DLL_EXTENSION))
}

fn fixture_file(name: &str) -> PathBuf {
    built().join("fixtures").join(format!("{name}.{}", std::env::consts::DLL_EXTENSION))
}

/// A plugin dir holding copies of the given files, under their own names.
fn dir_with(files: &[PathBuf]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        std::fs::copy(f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    dir
}

fn wanted(name: &str) -> Wanted {
    Wanted { name: name.into(), file: None, sha256: None }
}

/// The registry of the plugins `names`, loaded from a dir holding copies of `files`.
fn load(files: &[PathBuf], names: &[&str]) -> (tempfile::TempDir, Registry) {
    let dir = dir_with(files);
    let wanted: Vec<Wanted> = names.iter().map(|n| wanted(n)).collect();
    let reg = Registry::load(dir.path(), &wanted).unwrap();
    (dir, reg)
}

fn watch_set() -> (tempfile::TempDir, Arc<Db>, Arc<WatchSet>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path()).unwrap());
    let set = Arc::new(WatchSet::load(db.clone(), ["btc".to_string()]).unwrap());
    (dir, db, set)
}

fn instance(lib: Arc<Library>, set: Option<Arc<WatchSet>>, health: Arc<Health>) -> PluginInstance {
    let label = format!("{}@TEST", lib.name);
    PluginInstance::new(lib, label, &json!({"symbol": "TEST"}), set.map(|s| s.chain("btc").unwrap().clone()), health)
        .unwrap()
}

#[test]
fn correct_plugins_of_both_kinds_load_and_answer() {
    let (dir, reg) = load(
        &[lib_file("template_currency"), lib_file("template_platform")],
        &["template-currency", "template-platform"],
    );
    assert!(reg.refused.is_empty(), "{:?}", reg.refused);
    let rows = list(dir.path(), &[wanted("template-currency"), wanted("template-platform")]).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.loaded
        && r.abi == Some(format!("{}.{}", paywatch_plugin_api::abi::ABI_MAJOR, paywatch_plugin_api::abi::ABI_MINOR))
        && r.version.as_deref() == Some(env!("CARGO_PKG_VERSION"))));
    let health = Arc::new(Health::new());

    let cur = instance(reg.get(Kind::Currency, "template-currency").unwrap(), None, health.clone());
    let info: CurrencyInfo = cur.call(currency_method::INFO, &json!({})).unwrap();
    assert_eq!((info.symbol.as_str(), info.decimals), ("TEST", 8));
    let addr = format!("DEMO1{}", "0A".repeat(20));
    let p: ParsedAddress = cur.call(currency_method::PARSE_ADDRESS, &ParseAddressRequest { address: addr }).unwrap();
    assert_eq!(p.address, format!("demo1{}", "0a".repeat(20)));
    let uri: PaymentUriReply =
        cur.call(currency_method::PAYMENT_URI, &json!({"address": p.address, "amount_base": "150000000"})).unwrap();
    assert!(uri.uri.ends_with("?amount=1.5"), "{}", uri.uri);
    let f: FormatAmountReply = cur.call(currency_method::FORMAT_AMOUNT, &json!({"amount_base": "1"})).unwrap();
    assert_eq!(f.amount, "0.00000001");
    // A plugin error is an error, not a crash, and the instance stays healthy.
    let err = cur.call::<_, ParsedAddress>(currency_method::PARSE_ADDRESS, &json!({"address": "nope"})).unwrap_err();
    assert!(matches!(&err, CallError::Plugin { error, .. } if error.code == "invalid_address"), "{err}");
    let err = cur.call::<_, serde_json::Value>("no_such_method", &json!({})).unwrap_err();
    assert!(err.to_string().contains("unknown method \"no_such_method\""), "{err}");
    let err = cur.call_raw(currency_method::PARSE_ADDRESS, b"{not json").unwrap_err();
    assert!(err.to_string().contains("bad parse_address payload"), "{err}");

    // A platform plugin can't be found as a currency plugin, and vice versa.
    assert!(reg.get(Kind::Currency, "template-platform").is_none());
    let plat = instance(reg.get(Kind::Platform, "template-platform").unwrap(), None, health.clone());
    let event = json!({"seq": 1, "id": "e1", "type": "invoice.settled", "store": "s",
        "created_at": "2026-11-27T09:00:00Z", "data": {"x": 1}});
    let r: RenderReply = plat
        .call(
            platform_method::RENDER,
            &RenderRequest { event, endpoint: json!({"url": "http://127.0.0.1:9/h"}), attempt: 1, now: 7 },
        )
        .unwrap();
    assert_eq!(r.requests[0].url, "http://127.0.0.1:9/h");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&r.requests[0].body).unwrap()["type"], "invoice.settled");
    let v: Verdict = plat
        .call(platform_method::CLASSIFY, &ClassifyRequest { status: 410, headers: vec![], body: String::new() })
        .unwrap();
    assert!(matches!(v, Verdict::Disable { .. }));
    let err = plat.scan(SCAN_BLOCK, b"").unwrap_err();
    assert!(err.to_string().contains("scan is not supported"), "{err}");
    assert_eq!(health.report().status, crate::health::Status::Ok);
}

#[test]
fn bad_plugins_are_refused_with_the_reason() {
    let garbage = tempfile::tempdir().unwrap();
    let text = garbage.path().join("libnot_a_plugin.so");
    std::fs::write(&text, "this is not an ELF file").unwrap();
    let cases: [(PathBuf, &str); 4] = [
        (fixture_file("bad_magic"), "wrong magic 0x000000000bad0bad"),
        (fixture_file("bad_abi"), "built for plugin ABI v99, this paywatch speaks v1"),
        (fixture_file("panic_abort"), "was built with panic = \"abort\""),
        (text, "cannot load library"),
    ];
    for (file, reason) in cases {
        let dir = dir_with(std::slice::from_ref(&file));
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let w = Wanted { file: Some(file.file_name().unwrap().to_string_lossy().into()), ..wanted(&name) };
        let reg = Registry::load(dir.path(), std::slice::from_ref(&w)).unwrap();
        assert!(reg.loaded.is_empty(), "{} loaded", file.display());
        let rows = list(dir.path(), &[w]).unwrap();
        let err = rows[0].error.as_deref().unwrap();
        assert!(err.contains(reason), "{}: {err}", file.display());
        assert!(err.contains(&*dir.path().to_string_lossy()), "the message names the file: {err}");
        assert!(!rows[0].loaded);
        assert!(reg.refusal(&name).unwrap().to_string().contains(reason));
    }
    // Two files of one plugin: neither is loaded, the choice is not guessed.
    let dir = dir_with(&[lib_file("template_currency")]);
    std::fs::copy(lib_file("template_currency"), dir.path().join("template-currency.so")).unwrap();
    let reg = Registry::load(dir.path(), &[wanted("template-currency")]).unwrap();
    assert!(reg.loaded.is_empty());
    let err = reg.refusal("template-currency").unwrap().to_string();
    assert!(err.contains("both libpaywatch_plugin_template_currency.so and template-currency.so"), "{err}");
    // A refused file shows in /health.
    let health = Health::new();
    reg.report_health(&health);
    assert_eq!(health.report().status, crate::health::Status::Degraded);
}

#[test]
fn a_panicking_plugin_is_recreated_and_surfaced() {
    let (_dir, reg) = load(&[fixture_file("fixture")], &["fixture"]);
    let health = Arc::new(Health::new());
    let (_d, _store, set) = watch_set();
    let inst = instance(reg.get(Kind::Currency, "fixture").unwrap(), Some(set), health.clone());
    let gen = |i: &PluginInstance| i.call::<_, CurrencyInfo>(currency_method::INFO, &json!({})).unwrap().symbol;
    let first = gen(&inst);

    let err = inst.call::<_, ParsedAddress>(currency_method::PARSE_ADDRESS, &json!({"address": "panic"})).unwrap_err();
    assert!(matches!(&err, CallError::Panicked { message, .. } if message == "boom in parse_address"), "{err}");
    let report = health.report();
    assert_eq!(report.status, crate::health::Status::Degraded);
    assert!(report.plugins["fixture@TEST"].detail.contains("panicked in parse_address"), "{report:?}");
    // The next call works, on a fresh instance.
    let second = gen(&inst);
    assert_ne!(first, second, "a new instance was created");
    let ok: ParsedAddress = inst.call(currency_method::PARSE_ADDRESS, &json!({"address": "fine"})).unwrap();
    assert_eq!(ok.address, "fine");

    let err = inst.scan(SCAN_BLOCK, b"panic").unwrap_err();
    assert!(matches!(&err, CallError::Panicked { message, .. } if message == "boom in scan_block"), "{err}");
    assert!(health.report().plugins["fixture@TEST"].detail.contains("(2 so far)"));
    assert_ne!(gen(&inst), second);
    assert!(inst.scan(SCAN_TX, b"").unwrap().matches.is_empty());
}

#[test]
fn is_watched_reaches_the_hosts_watch_set() {
    let (_dir, reg) = load(&[fixture_file("fixture")], &["fixture"]);
    let (_d, db, set) = watch_set();
    let key = |b: u8| vec![b; 20];
    for (chain, k) in [("btc", key(1)), ("btc", key(3)), ("other", key(2))] {
        db.write_watch(&WatchRecord::new("s", chain, "a".into(), k.clone(), 1)).unwrap();
        set.insert(chain, &k);
    }
    let inst = instance(reg.get(Kind::Currency, "fixture").unwrap(), Some(set.clone()), Arc::new(Health::new()));
    let block: Vec<u8> = [key(1), key(2), key(3), key(4)].concat();
    let found = inst.scan(SCAN_BLOCK, &block).unwrap();
    let keys: Vec<_> = found.matches.iter().map(|m| m.key.0.clone()).collect();
    // Key 2 is watched on another chain only; key 4 nowhere.
    assert_eq!(keys, vec![key(1), key(3)]);
    assert_eq!(found.matches[1].index, 2);
    // A watch set reloaded from the database answers the same.
    let reloaded = Arc::new(WatchSet::load(db, ["btc".to_string()]).unwrap());
    let inst = instance(reg.get(Kind::Currency, "fixture").unwrap(), Some(reloaded), Arc::new(Health::new()));
    assert_eq!(inst.scan(SCAN_BLOCK, &block).unwrap().matches.len(), 2);
    // The fixture always writes "FIX" in Match.asset: an instance for another asset records
    // its matches for that asset (decimals are looked up by it), not for the plugin's guess.
    assert!(inst.scan(SCAN_BLOCK, &block).unwrap().matches.iter().all(|m| m.asset == "FIX"));
    let inst = inst.for_asset("BTC");
    assert!(inst.scan(SCAN_BLOCK, &block).unwrap().matches.iter().all(|m| m.asset == "BTC"));
}

#[test]
fn a_match_is_read_as_an_amount_or_the_reply_is_bad() {
    let (_dir, reg) = load(&[fixture_file("fixture")], &["fixture"]);
    let (_d, db, set) = watch_set();
    // The fixture pays " 007" to a key starting with 0xfe and "-1" to one starting with 0xff.
    for k in [vec![0xfe; 20], vec![0xff; 20]] {
        db.write_watch(&WatchRecord::new("s", "btc", "a".into(), k.clone(), 1)).unwrap();
        set.insert("btc", &k);
    }
    let inst = instance(reg.get(Kind::Currency, "fixture").unwrap(), Some(set), Arc::new(Health::new()));
    let found = inst.scan(SCAN_BLOCK, &[0xfe; 20]).unwrap();
    assert_eq!(found.matches[0].amount_base, "7", "kept in canonical form");
    let err = inst.scan(SCAN_BLOCK, &[[0xfe; 20], [0xff; 20]].concat()).unwrap_err();
    assert!(
        matches!(&err, CallError::BadReply { reason, .. } if reason == "match tx1:1: amount_base \"-1\" is not an amount in base units"),
        "{err}"
    );
}

thread_local! {
    /// Where this thread's log lines go while a test captures them.
    static CAPTURED: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// Writes into the current thread's capture buffer, if any.
struct ThreadCapture;

impl std::io::Write for ThreadCapture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        CAPTURED.with(|c| c.borrow_mut().as_mut().map(|buf| buf.extend_from_slice(b)));
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log lines `f` makes on this thread. A process-wide subscriber (installed once) writes
/// into a thread-local buffer: a scoped subscriber would race with tests on other threads
/// that hit the same callsites first and get their interest cached as "never".
fn captured_logs(f: impl FnOnce()) -> String {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(|| ThreadCapture)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber in unit tests");
    });
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
    f();
    let out = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
    String::from_utf8(out).unwrap()
}

#[test]
fn plugin_logs_land_in_the_daemons_tracing_output() {
    let (_dir, reg) = load(&[fixture_file("fixture")], &["fixture"]);
    let out = captured_logs(|| {
        instance(reg.get(Kind::Currency, "fixture").unwrap(), None, Arc::new(Health::new()));
    });
    for (level, msg) in [
        ("ERROR", "fixture log at error"),
        ("WARN", "fixture log at warn"),
        ("INFO", "fixture created"),
        ("DEBUG", "fixture log at debug"),
    ] {
        let line = out.lines().find(|l| l.contains(msg)).unwrap_or_else(|| panic!("{msg:?} not logged:\n{out}"));
        assert!(
            line.contains(level) && line.contains("paywatch::plugin") && line.contains("plugin=\"fixture@TEST\""),
            "{line}"
        );
    }
}

#[test]
fn a_plugin_refusing_its_config_fails_creation_with_its_message() {
    let (_dir, reg) = load(&[fixture_file("fixture")], &["fixture"]);
    let lib = reg.get(Kind::Currency, "fixture").unwrap();
    let err = PluginInstance::new(lib, "fixture@X".into(), &json!({"refuse": true}), None, Arc::new(Health::new()))
        .unwrap_err();
    assert_eq!(err.to_string(), "plugin fixture@X: cannot create an instance: bad_config: refused by config");
}

#[test]
fn calls_on_other_threads_survive_a_panicking_neighbour() {
    let (_dir, reg) = load(&[fixture_file("fixture")], &["fixture"]);
    let inst = Arc::new(instance(reg.get(Kind::Currency, "fixture").unwrap(), None, Arc::new(Health::new())));
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let inst = inst.clone();
            std::thread::spawn(move || {
                for n in 0..300 {
                    let addr = format!("fine-{t}-{n}");
                    let p: ParsedAddress =
                        inst.call(currency_method::PARSE_ADDRESS, &json!({"address": addr})).unwrap();
                    assert_eq!(p.address, addr);
                }
            })
        })
        .collect();
    for _ in 0..30 {
        let err =
            inst.call::<_, ParsedAddress>(currency_method::PARSE_ADDRESS, &json!({"address": "panic"})).unwrap_err();
        assert!(matches!(err, CallError::Panicked { .. }), "{err}");
    }
    for w in workers {
        w.join().unwrap();
    }
}

/// Across the C ABI with the real `bitcoin` plugin: the outpoint keys a payment's match hands
/// back are watched as they are, the plugin's `is_watched_spend` is asked the same bytes, and a
/// conflicting transaction replaces the pending payment (no Bitcoin decoding in between).
#[test]
fn the_bitcoin_plugins_outpoint_keys_are_what_its_spend_questions_ask() {
    use crate::db::PaymentStatus;
    use crate::index::{Indexer, PlainWrites};
    use bitcoincore_rpc::bitcoin::{consensus, Amount, ScriptBuf, Transaction, TxOut};
    use paywatch_plugin_api::testing::fixtures;
    let (_db_dir, db, set) = watch_set();
    let (_plugins, reg) = load(&[lib_file("bitcoin")], &["bitcoin"]);
    let chain = set.chain("btc").unwrap().clone();
    let config = json!({"asset": "BTC", "symbol": "BTC", "chain": "btc", "network": "mainnet"});
    let lib = reg.get(Kind::Currency, "bitcoin").unwrap();
    let btc = PluginInstance::new(lib, "bitcoin@BTC".into(), &config, Some(chain.clone()), Arc::new(Health::new()))
        .unwrap()
        .for_asset("BTC");
    // A payment: a sampled transaction of the mainnet block, paying a watched script.
    let block = fixtures::bitcoin_mainnet_block();
    let t =
        fixtures::bitcoin_mainnet_index().txs.into_iter().find(|t| t.position > 0 && !t.outputs.is_empty()).unwrap();
    let script = Hex::decode(&t.outputs[0].script_pubkey).unwrap().0;
    db.write_watch(&WatchRecord::new("shop1", "btc", "a".into(), script.clone(), 1)).unwrap();
    set.insert("btc", &script);
    let decimals = [("BTC".to_string(), 8)].into();
    let mut ix = Indexer::load("btc", db.clone(), chain.clone(), 3, decimals, Arc::new(PlainWrites)).unwrap();
    ix.start_at(0, "h0", "-").unwrap();
    ix.mempool_tx(btc.scan(SCAN_TX, t.raw(block)).unwrap()).unwrap();
    let tx: Transaction = consensus::deserialize(t.raw(block)).unwrap();
    let first_input = consensus::serialize(&tx.input[0].previous_output);
    assert!(chain.is_watched_spend(&first_input), "the input's 36 bytes are watched");
    // Its own transaction seen again replaces nothing; one spending its first input does.
    ix.mempool_tx(btc.scan(SCAN_TX, t.raw(block)).unwrap()).unwrap();
    let conflict = Transaction {
        version: tx.version,
        lock_time: tx.lock_time,
        input: vec![tx.input[0].clone()],
        output: vec![TxOut { value: Amount::from_sat(1_000), script_pubkey: ScriptBuf::new() }],
    };
    ix.mempool_tx(btc.scan(SCAN_TX, &consensus::serialize(&conflict)).unwrap()).unwrap();
    let p = db.tx_payments("btc", &t.txid).unwrap().remove(0);
    assert_eq!((p.status, p.replaced_by), (PaymentStatus::Replaced, Some(conflict.compute_txid().to_string())));
    assert!(!chain.is_watched_spend(&first_input), "a replaced payment's inputs are no longer watched");
}

#[test]
fn a_file_holding_another_plugin_than_configured_is_refused_naming_both() {
    // The fixture (plugin "fixture") installed under the bitcoin plugin's file name.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture_file("fixture"), dir.path().join("libpaywatch_plugin_bitcoin.so")).unwrap();
    let reg = Registry::load(dir.path(), &[wanted("bitcoin")]).unwrap();
    assert!(reg.get(Kind::Currency, "bitcoin").is_none() && reg.get(Kind::Currency, "fixture").is_none());
    let err = reg.refusal("bitcoin").unwrap().to_string();
    assert!(err.contains("the config names plugin \"bitcoin\", but this file is plugin \"fixture\""), "{err}");
    assert!(err.contains("libpaywatch_plugin_bitcoin.so"), "names the file: {err}");
}

#[test]
fn only_the_configured_plugins_load_and_a_pin_is_checked_first() {
    let dir = dir_with(&[lib_file("template_currency"), lib_file("template_platform"), fixture_file("fixture")]);
    let reg = Registry::load(dir.path(), &[wanted("template-currency")]).unwrap();
    assert_eq!(reg.loaded.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["template-currency"]);
    // `plugins list` shows the other files, with their hashes, unloaded.
    let rows = list(dir.path(), &[wanted("template-currency")]).unwrap();
    assert_eq!(rows.len(), 3);
    let fixture = rows.iter().find(|r| r.file.ends_with("fixture.so")).unwrap();
    assert!(!fixture.loaded && fixture.configured_as.is_none() && fixture.name.is_none());
    let real = files::hash(&mut std::fs::File::open(fixture_file("fixture")).unwrap()).unwrap();
    assert_eq!(fixture.sha256.as_deref(), Some(real.as_str()));
    // A pin: the right one loads, a wrong one refuses the file before loading it.
    let path = dir.path().join("libpaywatch_plugin_template_platform.so");
    let good = files::hash(&mut std::fs::File::open(&path).unwrap()).unwrap();
    let pinned = |h: &str| Wanted { sha256: Some(h.into()), ..wanted("template-platform") };
    let reg = Registry::load(dir.path(), &[pinned(&good)]).unwrap();
    assert!(reg.get(Kind::Platform, "template-platform").is_some());
    let bad = "0".repeat(64);
    let reg = Registry::load(dir.path(), &[pinned(&bad)]).unwrap();
    assert!(reg.loaded.is_empty());
    let err = reg.refusal("template-platform").unwrap().to_string();
    assert!(
        err.contains(&format!("its SHA-256 is {good}, but [plugins.sha256] pins template-platform = \"{bad}\"")),
        "{err}"
    );
    // The lines `plugins hash` prints are the pins that load.
    let lines = pin_lines(dir.path(), &[wanted("template-platform")]).unwrap();
    assert_eq!(lines, [Ok(format!("template-platform = \"{good}\"  # libpaywatch_plugin_template_platform.so"))]);
}
