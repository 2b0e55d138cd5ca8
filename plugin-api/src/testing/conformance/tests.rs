//! The kit against plugins that break the contract on purpose: each is caught, by name.

use super::*;
use crate::abi::PluginVTable;
use crate::messages::{Hex, Match, PaymentUriRequest};
use crate::testing::fixtures::{self, decode_hex};
use crate::{CurrencyPlugin, Host, PluginError};

/// Answers the reference block from the reference index (no real parsing), with one flaw.
struct Fake<const F: u8>;

const WIRE_ORDER: u8 = 1;
const SYMBOL_AS_ASSET: u8 = 2;
const LENIENT: u8 = 3;
const PANICS: u8 = 4;

impl<const F: u8> CurrencyPlugin for Fake<F> {
    const NAME: &'static str = "fake";
    const VERSION: &'static str = "0.0.0";
    fn create(_: Value, _: &Host<'_>) -> Result<Self, PluginError> {
        Ok(Fake)
    }
    fn info(&self) -> CurrencyInfo {
        CurrencyInfo { chain_kind: "bitcoin".into(), symbol: "BTC".into(), decimals: 8, default_confirmations: 1 }
    }
    fn parse_address(&self, a: &str) -> Result<ParsedAddress, PluginError> {
        Err(PluginError::new("invalid_address", format!("{a:?}")))
    }
    fn key_to_address(&self, _: &[u8]) -> Result<String, PluginError> {
        Err(PluginError::unsupported("key_to_address"))
    }
    fn scan_block(&self, raw: &[u8], host: &Host<'_>) -> Result<ScanReply, PluginError> {
        if F == PANICS {
            panic!("fake panics on every scan");
        }
        if raw != fixtures::bitcoin_mainnet_block() {
            return if F == LENIENT {
                Ok(ScanReply::default())
            } else {
                Err(PluginError::invalid_input("not the block"))
            };
        }
        let mut reply = ScanReply::default();
        for t in fixtures::bitcoin_mainnet_index().txs {
            for o in &t.outputs {
                let key = decode_hex(&o.script_pubkey).unwrap();
                if !host.is_watched(&key) {
                    continue;
                }
                let mut txid = t.txid.clone();
                if F == WIRE_ORDER {
                    let mut b = decode_hex(&txid).unwrap();
                    b.reverse();
                    txid = b.iter().map(|x| format!("{x:02x}")).collect();
                }
                let asset = if F == SYMBOL_AS_ASSET { "BTC" } else { "X" }.to_string();
                let amount_base = o.value.to_string();
                reply.matches.push(Match {
                    key: Hex(key),
                    asset,
                    amount_base,
                    txid,
                    index: o.index,
                    spends: t.spends.clone(),
                });
            }
        }
        Ok(reply)
    }
    fn payment_uri(&self, _: &PaymentUriRequest) -> Result<String, PluginError> {
        Err(PluginError::unsupported("payment_uri"))
    }
}

fn report<const F: u8>(vt: &'static PluginVTable) -> Report {
    let lib = PluginLib::from_static(vt).unwrap();
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
    let r = report::<WIRE_ORDER>(&VT);
    assert!(failed(&r, "scan_block finds the reference outputs").contains("is in wire order"), "{r}");
    assert!(!r.passed());
}

#[test]
fn the_symbol_in_place_of_the_asset_id_is_named() {
    static VT: PluginVTable = crate::__private::currency_vtable::<Fake<SYMBOL_AS_ASSET>>(true);
    let r = report::<SYMBOL_AS_ASSET>(&VT);
    assert!(failed(&r, "scan_block finds the reference outputs").contains("must be the asset id \"X\""), "{r}");
}

#[test]
fn partial_results_for_truncated_input_are_named() {
    static VT: PluginVTable = crate::__private::currency_vtable::<Fake<LENIENT>>(true);
    let r = report::<LENIENT>(&VT);
    assert!(failed(&r, "truncated blocks are errors").contains("answered OK"), "{r}");
    assert!(failed(&r, "scan_tx agrees with scan_block").contains("scan_tx"), "{r}");
    // The flaws are the only failures: the rest of the plugin passes.
    assert!(r.checks.iter().any(|c| c.name == "info" && matches!(c.outcome, Outcome::Passed(_))), "{r}");
}

#[test]
fn panics_are_caught_and_named() {
    static VT: PluginVTable = crate::__private::currency_vtable::<Fake<PANICS>>(true);
    let r = report::<PANICS>(&VT);
    assert!(failed(&r, "scan_block finds the reference outputs").contains("panicked: fake panics"), "{r}");
    assert!(failed(&r, "garbage input is an error, not a panic").contains("panicked"), "{r}");
}
