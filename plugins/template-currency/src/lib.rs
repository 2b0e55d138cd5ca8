//! A template currency plugin for a toy chain, "democoin", whose wire format is text so that
//! every part of a currency plugin is visible at a glance. Copy this crate to start a plugin
//! for a real currency; keep the structure, replace the formats.
//!
//! * address: `demo1` followed by 40 hex digits (20 bytes: the canonical key), any case;
//! * transaction: one line `TXID ADDRESS AMOUNT_BASE [SPENT_TXID:INDEX …]`;
//! * block: transactions, one per line;
//! * 8 decimals; payment URI `democoin:ADDRESS?amount=1.5`.

use paywatch_plugin_api::amount::{format_base_units, Amount};
use paywatch_plugin_api::messages::*;
use paywatch_plugin_api::{export_currency_plugin, CurrencyPlugin, Host, PluginError};

const PREFIX: &str = "demo1";
const DECIMALS: u8 = 8;

/// One instance per configured asset.
#[derive(Debug)]
pub struct DemoCoin {
    /// The asset id (`[[assets]] id`): what every `Match.asset` carries.
    asset: String,
    symbol: String,
}

impl CurrencyPlugin for DemoCoin {
    const NAME: &'static str = "template-currency";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    /// The daemon passes `asset` (the asset id), `symbol`, `chain` (the chain's name), the
    /// chain's `network` (bitcoin) or `chain_id` (evm), and every other key of the asset's table.
    fn create(config: serde_json::Value, host: &Host<'_>) -> Result<Self, PluginError> {
        let text = |key: &str, default: &str| match config.get(key) {
            None => Ok(default.to_string()),
            Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(other) => Err(PluginError::bad_config(format!("{key} must be a non-empty string, got {other}"))),
        };
        let symbol = text("symbol", "DEMO")?;
        let asset = text("asset", &symbol)?;
        host.info(&format!("template-currency ready for {asset} ({symbol})"));
        Ok(Self { asset, symbol })
    }

    fn info(&self) -> CurrencyInfo {
        CurrencyInfo {
            chain_kind: "demo".into(),
            symbol: self.symbol.clone(),
            decimals: DECIMALS,
            default_confirmations: 1,
        }
    }

    fn parse_address(&self, address: &str) -> Result<ParsedAddress, PluginError> {
        // Before any decoding: a decoder never sees megabytes.
        paywatch_plugin_api::text::check_address_len(address)?;
        let key = decode_address(address)?;
        Ok(ParsedAddress { address: encode_address(&key), key: Hex(key) })
    }

    fn key_to_address(&self, key: &[u8]) -> Result<String, PluginError> {
        if key.len() != 20 {
            return Err(PluginError::invalid_input(format!("key of {} bytes, expected 20", key.len())));
        }
        Ok(encode_address(key))
    }

    fn scan_block(&self, raw: &[u8], host: &Host<'_>) -> Result<ScanReply, PluginError> {
        let text =
            std::str::from_utf8(raw).map_err(|e| PluginError::invalid_input(format!("block is not UTF-8: {e}")))?;
        let mut reply = ScanReply::default();
        // Ask once per scan whether any outpoint is watched (usually not): then skip the
        // per-input questions.
        let spends = host.has_watched_spends();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            self.scan_line(line, host, spends, &mut reply)
                .map_err(|e| PluginError::invalid_input(format!("line {}: {}", n + 1, e.message)))?;
        }
        Ok(reply)
    }

    fn scan_tx(&self, raw: &[u8], host: &Host<'_>) -> Result<ScanReply, PluginError> {
        self.scan_block(raw, host)
    }

    fn payment_uri(&self, req: &PaymentUriRequest) -> Result<String, PluginError> {
        let address = self.parse_address(&req.address)?.address;
        Ok(format!("democoin:{address}?amount={}", format_base_units(&req.amount_base, DECIMALS)?))
    }
}

impl DemoCoin {
    fn scan_line(
        &self,
        line: &str,
        host: &Host<'_>,
        spends_watched: bool,
        reply: &mut ScanReply,
    ) -> Result<(), PluginError> {
        let mut fields = line.split_whitespace();
        let (Some(txid), Some(address), Some(amount)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(PluginError::invalid_input(format!("{line:?} is not `TXID ADDRESS AMOUNT [SPENDS…]`")));
        };
        let spends = fields.map(parse_outpoint).collect::<Result<Vec<_>, _>>()?;
        // What the host watches for a pending payment and asks `is_watched_spend` about: this
        // chain's outpoint key, here `TXID:INDEX` (Bitcoin: the input's 36 outpoint bytes).
        let outpoint_keys: Vec<Hex> =
            spends.iter().map(|s| Hex(format!("{}:{}", s.txid, s.index).into_bytes())).collect();
        for (s, k) in spends.iter().zip(&outpoint_keys).filter(|_| spends_watched) {
            if host.is_watched_spend(&k.0) {
                let spend = WatchedSpend { txid: txid.to_string(), spends: s.clone(), outpoint_key: k.clone() };
                reply.watched_spends.push(spend);
            }
        }
        let key = decode_address(address)?;
        // Digits, at most 2^256 − 1: what the host accepts in `Match.amount_base`.
        let amount = Amount::from_base_str(amount)?;
        // The hot path: ask the host per output, build a match only for watched keys.
        if host.is_watched(&key) {
            let m = Match {
                key: Hex(key),
                asset: self.asset.clone(), // the asset id, not the symbol
                amount_base: amount.to_string(),
                txid: txid.to_string(),
                index: 0,
                spends,
                outpoint_keys,
            };
            reply.matches.push(m);
        }
        Ok(())
    }
}

fn decode_address(address: &str) -> Result<Vec<u8>, PluginError> {
    let lower = address.trim().to_ascii_lowercase();
    let hex = lower
        .strip_prefix(PREFIX)
        .ok_or_else(|| PluginError::new("invalid_address", format!("{address:?} does not start with {PREFIX}")))?;
    if hex.len() != 40 {
        return Err(PluginError::new("invalid_address", format!("{address:?} must have 40 hex digits after {PREFIX}")));
    }
    (0..20)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| PluginError::new("invalid_address", format!("{address:?} has a non-hex digit")))
}

fn encode_address(key: &[u8]) -> String {
    key.iter().fold(String::from(PREFIX), |mut s, b| {
        s.push_str(&format!("{b:02x}"));
        s
    })
}

fn parse_outpoint(s: &str) -> Result<OutPoint, PluginError> {
    let (txid, index) =
        s.split_once(':').ok_or_else(|| PluginError::invalid_input(format!("{s:?} is not TXID:INDEX")))?;
    let index = index.parse().map_err(|_| PluginError::invalid_input(format!("{s:?} has a bad index")))?;
    Ok(OutPoint { txid: txid.to_string(), index })
}

export_currency_plugin!(DemoCoin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_the_conformance_kit() {
        use paywatch_plugin_api::testing::conformance::{check_currency, CurrencyOptions, CustomFixture};
        use paywatch_plugin_api::testing::harness::PluginLib;
        // Through the C ABI, as the daemon calls it.
        let lib = PluginLib::from_exported(&crate::PAYWATCH_PLUGIN).unwrap();
        // A block of three transactions, two paying the watched key: the same file
        // `paywatch plugins check LIB --fixture conformance.json` reads.
        let fixture = CustomFixture::from_json(include_str!("../conformance.json")).unwrap();
        // An asset id other than the symbol, as an operator may configure it.
        let config = serde_json::json!({"asset": "DEMO-MAIN", "symbol": "DEMO", "chain": "demo"});
        let opts = CurrencyOptions { custom: Some(fixture), ..CurrencyOptions::new(config) };
        let report = check_currency(&lib, &opts);
        report.assert_passed();
        assert!(report.checks.iter().any(|c| c.name == "scan_tx agrees with scan_block"), "{report}");
    }

    #[test]
    fn matches_carry_outpoint_keys_and_watched_spends_come_back_with_theirs() {
        use paywatch_plugin_api::testing::TestHost;
        let c = DemoCoin { asset: "DEMO".into(), symbol: "DEMO".into() };
        let key = vec![0xab; 20];
        let block = format!("t3 demo1{} 7 t0:1 t0:2\n", "ab".repeat(20));
        // A payment: what its transaction spends, shown and as the keys the host will watch.
        let host = TestHost::with_keys([key]);
        let reply = c.scan_block(block.as_bytes(), &host.host()).unwrap();
        let keys: Vec<&[u8]> = reply.matches[0].outpoint_keys.iter().map(|k| k.0.as_slice()).collect();
        assert_eq!(keys, [b"t0:1".as_slice(), b"t0:2"]);
        // Once the payment is pending, the host watches those keys: a spend of one comes back
        // with the same key.
        let host = TestHost::new();
        host.watch_outpoint(b"t0:2".to_vec());
        let reply = c.scan_block(block.as_bytes(), &host.host()).unwrap();
        assert_eq!(reply.watched_spends.len(), 1);
        assert_eq!(
            (reply.watched_spends[0].txid.as_str(), &reply.watched_spends[0].outpoint_key.0[..]),
            ("t3", &b"t0:2"[..])
        );
    }

    #[test]
    fn addresses_round_trip_and_bad_ones_are_refused() {
        let c = DemoCoin { asset: "DEMO".into(), symbol: "DEMO".into() };
        let a = format!("DEMO1{}", "AB".repeat(20));
        let p = c.parse_address(&a).unwrap();
        assert_eq!(p.address, format!("demo1{}", "ab".repeat(20)));
        assert_eq!(c.key_to_address(&p.key.0).unwrap(), p.address);
        for bad in ["", "demo1", "btc1abab", &format!("demo1{}", "zz".repeat(20))] {
            assert_eq!(c.parse_address(bad).unwrap_err().code, "invalid_address", "{bad}");
        }
        let uri = c
            .payment_uri(&PaymentUriRequest { address: a, amount_base: "150000000".into(), label: None, message: None })
            .unwrap();
        assert_eq!(uri, format!("democoin:demo1{}?amount=1.5", "ab".repeat(20)));
    }
}
