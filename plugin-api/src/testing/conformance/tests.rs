//! The kit against plugins that break the contract on purpose: each is caught, by name.

use super::*;
use crate::abi::PluginVTable;
use crate::messages::{
    Hex, HttpRequest, HttpResponse, Match, Pair, PaymentUriRequest, QuotedRate, RateParseRequest, RateRequest,
    RateSourceInfo,
};
use crate::testing::fixtures;
use crate::{CurrencyPlugin, Host, PluginError};

/// What no fake here is about: addresses and payment URIs, all refused.
macro_rules! refuse_addresses_and_uris {
    () => {
        fn parse_address(&self, a: &str) -> Result<ParsedAddress, PluginError> {
            Err(PluginError::new("invalid_address", format!("{a:?}")))
        }
        fn key_to_address(&self, _: &[u8]) -> Result<String, PluginError> {
            Err(PluginError::unsupported("key_to_address"))
        }
        fn payment_uri(&self, _: &PaymentUriRequest) -> Result<String, PluginError> {
            Err(PluginError::unsupported("payment_uri"))
        }
    };
}

fn bitcoin_info() -> CurrencyInfo {
    CurrencyInfo { chain_kind: "bitcoin".into(), symbol: "BTC".into(), decimals: 8, default_confirmations: 1 }
}

/// Answers the reference block from the reference index (no real parsing), with one flaw.
struct Fake<const F: u8>;

const WIRE_ORDER: u8 = 1;
const SYMBOL_AS_ASSET: u8 = 2;
const LENIENT: u8 = 3;
const PANICS: u8 = 4;
const TWICE: u8 = 5;
const NO_OUTPOINT_KEYS: u8 = 6;
/// Reports the header's merkle root of any block without hashing anything.
const HEADER_ROOT: u8 = 7;
/// Reports a merkle root that is not the block's.
const WRONG_ROOT: u8 = 8;

/// The merkle root a block's header states, shown byte-reversed.
fn header_root(raw: &[u8]) -> String {
    let mut root = raw[36..68].to_vec();
    root.reverse();
    Hex(root).to_string()
}

impl<const F: u8> CurrencyPlugin for Fake<F> {
    const NAME: &'static str = "fake";
    const VERSION: &'static str = "0.0.0";
    fn create(_: Value, _: &Host<'_>) -> Result<Self, PluginError> {
        Ok(Fake)
    }
    fn info(&self) -> CurrencyInfo {
        bitcoin_info()
    }
    fn scan_block(&self, raw: &[u8], host: &Host<'_>) -> Result<ScanReply, PluginError> {
        if F == PANICS {
            panic!("fake panics on every scan");
        }
        if raw != fixtures::bitcoin_mainnet_block() {
            if F == HEADER_ROOT && raw.len() >= 80 {
                return Ok(ScanReply { merkle_root: Some(header_root(raw)), ..ScanReply::default() });
            }
            return if F == LENIENT {
                Ok(ScanReply::default())
            } else {
                Err(PluginError::invalid_input("not the block"))
            };
        }
        let merkle_root = match F {
            HEADER_ROOT => Some(header_root(raw)),
            WRONG_ROOT => Some("00".repeat(32)),
            _ => None,
        };
        let mut reply = ScanReply { merkle_root, ..ScanReply::default() };
        for t in fixtures::bitcoin_mainnet_index().txs {
            for o in &t.outputs {
                let key = Hex::decode(&o.script_pubkey).unwrap().0;
                if !host.is_watched(&key) {
                    continue;
                }
                let mut txid = t.txid.clone();
                if F == WIRE_ORDER {
                    let mut b = Hex::decode(&txid).unwrap();
                    b.0.reverse();
                    txid = b.to_string();
                }
                let asset = if F == SYMBOL_AS_ASSET { "BTC" } else { "X" }.to_string();
                let amount_base = o.value.to_string();
                let outpoint_keys = match F {
                    NO_OUTPOINT_KEYS => Vec::new(),
                    _ => t.spends.iter().map(|o| Hex(fixtures::bitcoin_outpoint_key(o).unwrap())).collect(),
                };
                let spends = t.spends.clone();
                let m = Match { key: Hex(key), asset, amount_base, txid, index: o.index, spends, outpoint_keys };
                if F == TWICE {
                    reply.matches.push(m.clone());
                }
                reply.matches.push(m);
            }
        }
        Ok(reply)
    }
    refuse_addresses_and_uris!();
}

fn report(vt: &'static PluginVTable) -> Report {
    // SAFETY: the vtable is made by the SDK's export glue.
    let lib = PluginLib::from_exported(&unsafe { crate::ExportedPlugin::__new(vt) }).unwrap();
    check_currency(
        &lib,
        &CurrencyOptions::new(json!({"asset": "X", "symbol": "BTC", "chain": "btc", "network": "mainnet"})),
    )
}

fn failed<'a>(r: &'a Report, name: &str) -> &'a str {
    match r.checks.iter().find(|c| c.name == name).map(|c| &c.outcome) {
        Some(Outcome::Failed(why)) => why,
        other => panic!("{name}: {other:?}\n{r}"),
    }
}

#[test]
fn txids_in_wire_order_are_named() {
    static VT: PluginVTable = crate::__private::currency_vtable::<Fake<WIRE_ORDER>>(true);
    let r = report(&VT);
    assert!(failed(&r, "scan_block finds the reference outputs").contains("is in wire order"), "{r}");
    assert!(!r.passed());
}

#[test]
fn the_symbol_in_place_of_the_asset_id_is_named() {
    static VT: PluginVTable = crate::__private::currency_vtable::<Fake<SYMBOL_AS_ASSET>>(true);
    let r = report(&VT);
    assert!(failed(&r, "scan_block finds the reference outputs").contains("must be the asset id \"X\""), "{r}");
}

#[test]
fn partial_results_for_truncated_input_are_named() {
    static VT: PluginVTable = crate::__private::currency_vtable::<Fake<LENIENT>>(true);
    let r = report(&VT);
    assert!(failed(&r, "truncated blocks are errors").contains("answered OK"), "{r}");
    assert!(failed(&r, "scan_tx agrees with scan_block").contains("scan_tx"), "{r}");
    // The flaws are the only failures: the rest of the plugin passes.
    assert!(r.checks.iter().any(|c| c.name == "info" && matches!(c.outcome, Outcome::Passed(_))), "{r}");
}

#[test]
fn a_payment_reported_twice_is_named() {
    static VT: PluginVTable = crate::__private::currency_vtable::<Fake<TWICE>>(true);
    let r = report(&VT);
    assert!(failed(&r, "scan_block finds the reference outputs").contains("more than once"), "{r}");
}

#[test]
fn matches_without_outpoint_keys_are_named() {
    static VT: PluginVTable = crate::__private::currency_vtable::<Fake<NO_OUTPOINT_KEYS>>(true);
    let r = report(&VT);
    let why = failed(&r, "watched spends are reported, a coinbase is not a spend");
    assert!(why.contains("Match.outpoint_keys is empty for ") && why.contains("replacement goes unseen"), "{r}");
    // The fake with keys is not blamed for them (it fails the check for not reporting spends).
    static WITH_KEYS: PluginVTable = crate::__private::currency_vtable::<Fake<TWICE>>(true);
    let r = report(&WITH_KEYS);
    assert!(!failed(&r, "watched spends are reported, a coinbase is not a spend").contains("outpoint_keys"), "{r}");
}

#[test]
fn merkle_roots_that_would_let_an_altered_block_through_are_named() {
    let name = "the merkle root reported is the header's, a mutated list is refused";
    static WRONG: PluginVTable = crate::__private::currency_vtable::<Fake<WRONG_ROOT>>(true);
    let r = report(&WRONG);
    assert!(failed(&r, name).contains("the header says"), "{r}");
    static ECHO: PluginVTable = crate::__private::currency_vtable::<Fake<HEADER_ROOT>>(true);
    let r = report(&ECHO);
    assert!(failed(&r, name).contains("last transaction is repeated got a merkle root"), "{r}");
    // Not reporting one is allowed (the host computes it).
    static NONE: PluginVTable = crate::__private::currency_vtable::<Fake<TWICE>>(true);
    let r = report(&NONE);
    assert!(r.checks.iter().any(|c| c.name == name && matches!(c.outcome, Outcome::Passed(_))), "{r}");
}

#[test]
fn panics_are_caught_and_named() {
    static VT: PluginVTable = crate::__private::currency_vtable::<Fake<PANICS>>(true);
    let r = report(&VT);
    assert!(failed(&r, "scan_block finds the reference outputs").contains("panicked: fake panics"), "{r}");
    assert!(failed(&r, "garbage input is an error, not a panic").contains("panicked"), "{r}");
}

/// Allows one live instance: every check after `create` needs a second one.
struct OneInstance;
static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Drop for OneInstance {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl CurrencyPlugin for OneInstance {
    const NAME: &'static str = "one";
    const VERSION: &'static str = "0.0.0";
    fn create(_: Value, _: &Host<'_>) -> Result<Self, PluginError> {
        if LIVE.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
            LIVE.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            return Err(PluginError::bad_config("one instance at a time"));
        }
        Ok(OneInstance)
    }
    fn info(&self) -> CurrencyInfo {
        bitcoin_info()
    }
    fn scan_block(&self, _: &[u8], _: &Host<'_>) -> Result<ScanReply, PluginError> {
        Err(PluginError::invalid_input("never"))
    }
    refuse_addresses_and_uris!();
}

#[test]
fn a_check_that_cannot_get_an_instance_fails_instead_of_vanishing() {
    static VT: PluginVTable = crate::__private::currency_vtable::<OneInstance>(true);
    let r = report(&VT);
    for check in [
        "scan_block finds the reference outputs",
        "truncated blocks are errors",
        "garbage input is an error, not a panic",
    ] {
        assert!(failed(&r, check).contains("cannot create another instance"), "{check}: {r}");
    }
}

/// An EVM plugin that credits every successful top-level transfer to a watched address.
struct EtherEverywhere;

impl CurrencyPlugin for EtherEverywhere {
    const NAME: &'static str = "ether-everywhere";
    const VERSION: &'static str = "0.0.0";
    fn create(_: Value, _: &Host<'_>) -> Result<Self, PluginError> {
        Ok(EtherEverywhere)
    }
    fn info(&self) -> CurrencyInfo {
        CurrencyInfo { chain_kind: "evm".into(), symbol: "USDT".into(), decimals: 6, default_confirmations: 1 }
    }
    fn scan_block(&self, raw: &[u8], host: &Host<'_>) -> Result<ScanReply, PluginError> {
        let block = crate::evm::BlockView::parse(raw).map_err(|e| PluginError::invalid_input(e.to_string()))?;
        let mut reply = ScanReply::default();
        for tx in block.txs().filter(|t| t.success()) {
            let Some(to) = tx.to().filter(|to| host.is_watched(&to[..])) else { continue };
            let txid = format!("0x{}", Hex(tx.hash().to_vec()));
            let amount_base = crate::evm::u256_to_decimal(tx.value());
            reply.matches.push(Match {
                key: Hex(to.to_vec()),
                asset: "USDT".into(),
                amount_base,
                txid,
                index: 0,
                spends: vec![],
                outpoint_keys: vec![],
            });
        }
        Ok(reply)
    }
    refuse_addresses_and_uris!();
}

#[test]
fn a_token_plugin_crediting_ether_fails() {
    static VT: PluginVTable = crate::__private::currency_vtable::<EtherEverywhere>(true);
    // SAFETY: the vtable is made by the SDK's export glue.
    let lib = PluginLib::from_exported(&unsafe { crate::ExportedPlugin::__new(&VT) }).unwrap();
    let config = json!({"asset": "USDT", "symbol": "USDT", "chain": "eth", "chain_id": 1,
                        "contract": "0xdAC17F958D2ee523a2206206994597C13D831ec7"});
    let r = check_currency(&lib, &CurrencyOptions::new(config));
    assert!(failed(&r, "scan_block finds exactly the payments to a watched address").contains("expected"), "{r}");
    // As a native-coin plugin it misses the Ether a contract forwarded (an internal transfer).
    let r = check_currency(&lib, &CurrencyOptions::new(json!({"asset": "ETH", "chain": "eth", "chain_id": 1})));
    assert!(failed(&r, "scan_block finds exactly the payments to a watched address").contains("forwarded"), "{r}");
}

#[test]
fn a_custom_plugin_without_scan_tx_fails_agreement() {
    static VT: PluginVTable = crate::__private::currency_vtable::<Fake<LENIENT>>(true);
    // SAFETY: the vtable is made by the SDK's export glue.
    let lib = PluginLib::from_exported(&unsafe { crate::ExportedPlugin::__new(&VT) }).unwrap();
    let block = fixtures::bitcoin_mainnet_block();
    let index = fixtures::bitcoin_mainnet_index();
    let t = &index.txs[1];
    let o = &t.outputs[0];
    let fixture = CustomFixture {
        block: block.to_vec(),
        txs: vec![FixtureTx { txid: t.txid.clone(), raw: t.raw(block).to_vec() }],
        watch: vec![Hex::decode(&o.script_pubkey).unwrap().0],
        expected: vec![Expected { txid: t.txid.clone(), index: o.index, amount_base: o.value.to_string() }],
    };
    let opts = CurrencyOptions { custom: Some(fixture), ..CurrencyOptions::new(json!({"asset": "X"})) };
    let r = check_currency(&lib, &opts);
    assert!(failed(&r, "scan_tx agrees with scan_block").contains("scan_tx []"), "{r}");
}

/// A rate source whose one response is `{"BTC_USD": "64000.5", …}`, with one flaw (or none).
struct FakeRates<const F: u8>;

const HONEST: u8 = 0;
const IGNORES_STATUS: u8 = 1;
const PANICS_ON_GARBAGE: u8 = 2;
const EXPONENT: u8 = 3;
const CRLF_HEADER: u8 = 4;
const RELATIVE_URL: u8 = 5;
const EXTRA_PAIR: u8 = 6;
const IGNORES_COUNT: u8 = 7;
const PANICS_ON_ODD_PAIRS: u8 = 8;

impl<const F: u8> crate::RatePlugin for FakeRates<F> {
    const NAME: &'static str = "fake-rates";
    const VERSION: &'static str = "0.0.0";
    fn create(_: Value, _: &Host<'_>) -> Result<Self, PluginError> {
        Ok(FakeRates)
    }
    fn info(&self) -> RateSourceInfo {
        RateSourceInfo { name: "fake-rates".into(), description: "a fake".into() }
    }
    fn request(&self, req: &RateRequest) -> Result<Vec<HttpRequest>, PluginError> {
        if F == PANICS_ON_ODD_PAIRS && req.pairs.iter().any(|p| p.base.is_empty()) {
            panic!("fake panics on an empty code");
        }
        let url = if F == RELATIVE_URL { "/rates" } else { "https://rates.example/v1/all" };
        let value = if F == CRLF_HEADER { "a\r\nX-Injected: 1" } else { "paywatch" };
        Ok(vec![HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: vec![("user-agent".into(), value.into())],
            body: String::new(),
        }])
    }
    fn parse(&self, req: &RateParseRequest) -> Result<Vec<QuotedRate>, PluginError> {
        if req.responses.len() != 1 && F != IGNORES_COUNT {
            return Err(PluginError::invalid_input("one response expected"));
        }
        let Some(resp) = req.responses.first() else { return Ok(Vec::new()) };
        if resp.status != 200 && F != IGNORES_STATUS {
            return Err(PluginError::new("http_status", format!("HTTP {}", resp.status)));
        }
        let body: std::collections::BTreeMap<String, String> = match serde_json::from_str(&resp.body) {
            Ok(b) => b,
            Err(e) if F == PANICS_ON_GARBAGE => panic!("fake cannot read {e}"),
            Err(e) => return Err(PluginError::invalid_input(e.to_string())),
        };
        let mut rates: Vec<QuotedRate> = req
            .pairs
            .iter()
            .filter_map(|p| body.get(&p.to_string()).map(|r| (p, r)))
            .map(|(p, r)| QuotedRate { pair: p.clone(), rate: r.clone(), at: req.now })
            .collect();
        if F == EXPONENT {
            rates.iter_mut().for_each(|q| q.rate = "6.40005e4".into());
        }
        if F == EXTRA_PAIR {
            rates.push(QuotedRate { pair: Pair::new("ETH", "USD"), rate: "3000".into(), at: req.now });
        }
        if F == IGNORES_STATUS && rates.is_empty() {
            rates.push(QuotedRate { pair: req.pairs[0].clone(), rate: "1".into(), at: req.now });
        }
        Ok(rates)
    }
}

fn rates_report(vt: &'static PluginVTable) -> Report {
    // SAFETY: the vtable is made by the SDK's export glue.
    let lib = PluginLib::from_exported(&unsafe { crate::ExportedPlugin::__new(vt) }).unwrap();
    let pairs = vec![Pair::new("BTC", "USD")];
    let body = r#"{"BTC_USD": "64000.5", "ETH_USD": "3000"}"#;
    let recorded = Recorded {
        responses: vec![HttpResponse { status: 200, headers: vec![], body: body.into() }],
        now: 1_800_000_000,
        expected: vec![QuotedRate { pair: pairs[0].clone(), rate: "64000.5".into(), at: 1_800_000_000 }],
    };
    check_rates(&lib, &RatesOptions { recorded: Some(recorded), ..RatesOptions::new(json!({}), pairs) })
}

#[test]
fn an_honest_rate_source_passes() {
    static VT: PluginVTable = crate::__private::rate_vtable::<FakeRates<HONEST>>(true);
    rates_report(&VT).assert_passed();
}

#[test]
fn rates_read_from_an_error_status_are_named() {
    static VT: PluginVTable = crate::__private::rate_vtable::<FakeRates<IGNORES_STATUS>>(true);
    let r = rates_report(&VT);
    let why = failed(&r, "error statuses, garbage and other shapes are errors");
    assert!(why.contains("HTTP 500 (response 1): answered OK with 1 rates") && why.contains("HTTP 429"), "{r}");
}

#[test]
fn a_rate_source_panicking_on_garbage_is_named() {
    static VT: PluginVTable = crate::__private::rate_vtable::<FakeRates<PANICS_ON_GARBAGE>>(true);
    let r = rates_report(&VT);
    let why = failed(&r, "error statuses, garbage and other shapes are errors");
    assert!(why.contains("garbage (response 1): panicked: fake cannot read"), "{r}");
}

#[test]
fn a_rate_in_exponent_form_is_named() {
    static VT: PluginVTable = crate::__private::rate_vtable::<FakeRates<EXPONENT>>(true);
    let r = rates_report(&VT);
    let why = failed(&r, "parse reads the recorded responses to the expected rates");
    assert!(why.contains(r#"BTC_USD rate "6.40005e4" is not a plain positive decimal"#), "{r}");
}

#[test]
fn requests_a_client_cannot_send_are_named() {
    static CRLF: PluginVTable = crate::__private::rate_vtable::<FakeRates<CRLF_HEADER>>(true);
    let r = rates_report(&CRLF);
    assert!(failed(&r, "request gives well-formed requests for each pair").contains("control character"), "{r}");
    static RELATIVE: PluginVTable = crate::__private::rate_vtable::<FakeRates<RELATIVE_URL>>(true);
    let r = rates_report(&RELATIVE);
    assert!(failed(&r, "request gives well-formed requests for each pair").contains(r#"url "/rates""#), "{r}");
}

#[test]
fn a_rate_for_a_pair_not_asked_is_named() {
    static VT: PluginVTable = crate::__private::rate_vtable::<FakeRates<EXTRA_PAIR>>(true);
    let r = rates_report(&VT);
    let why = failed(&r, "parse reads the recorded responses to the expected rates");
    assert!(why.contains("ETH_USD was not asked for"), "{r}");
}

#[test]
fn responses_miscounted_are_named() {
    static VT: PluginVTable = crate::__private::rate_vtable::<FakeRates<IGNORES_COUNT>>(true);
    let r = rates_report(&VT);
    let why = failed(&r, "the wrong number of responses is an error");
    assert!(why.contains("no responses: answered OK") && why.contains("one response too many: answered OK"), "{r}");
}

#[test]
fn a_panic_on_a_pair_it_cannot_quote_is_named() {
    static VT: PluginVTable = crate::__private::rate_vtable::<FakeRates<PANICS_ON_ODD_PAIRS>>(true);
    let r = rates_report(&VT);
    let why = failed(&r, "pairs it cannot quote are refused or left out, not a panic");
    assert!(why.contains("panicked: fake panics on an empty code"), "{r}");
}

#[test]
fn a_rate_kit_given_another_kind_says_which_it_wanted() {
    static VT: PluginVTable = crate::__private::currency_vtable::<Fake<TWICE>>(true);
    // SAFETY: the vtable is made by the SDK's export glue.
    let lib = PluginLib::from_exported(&unsafe { crate::ExportedPlugin::__new(&VT) }).unwrap();
    let r = check_rates(&lib, &RatesOptions::new(json!({}), vec![Pair::new("BTC", "USD")]));
    assert_eq!(failed(&r, "kind"), "not a rate-source plugin");
}
