//! Ether moved by contracts, from call traces: `trace_block` (Parity style: a flat list with
//! trace addresses) or `debug_traceBlockByNumber` with the `callTracer` (Geth style: a tree per
//! transaction). An internal transfer is a `CALL` below the top level with a non-zero value,
//! in a frame that neither reverted itself nor sits under one that did. Traces that do not
//! match the block's transactions (a reorg between requests) are an error.

use alloy::primitives::{Address, B256, U256};
use paywatch_plugin_api::evm::Internal;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ParityTrace {
    action: ParityAction,
    #[serde(rename = "type")]
    kind: String,
    error: Option<String>,
    #[serde(default)]
    trace_address: Vec<u64>,
    /// Absent for block and uncle rewards.
    transaction_position: Option<u32>,
    transaction_hash: Option<B256>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParityAction {
    call_type: Option<String>,
    from: Option<Address>,
    to: Option<Address>,
    value: Option<U256>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GethTxTrace {
    tx_hash: Option<B256>,
    result: Option<Frame>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    from: Address,
    to: Option<Address>,
    value: Option<U256>,
    error: Option<String>,
    #[serde(default)]
    calls: Vec<Frame>,
}

fn internal(tx: u32, from: Address, to: Address, value: U256) -> Internal {
    Internal { tx, from: from.0 .0, to: to.0 .0, value: value.to_be_bytes() }
}

/// From `trace_block`; `txs` are the block's transaction hashes in order.
pub(crate) fn from_parity(traces: &[ParityTrace], txs: &[B256]) -> Result<Vec<Internal>, String> {
    let reverted = |t: &ParityTrace, pos: u32| {
        // A frame is undone when it, or any frame above it in the same transaction, errored.
        traces.iter().any(|o| {
            o.transaction_position == Some(pos) && o.error.is_some() && t.trace_address.starts_with(&o.trace_address)
        })
    };
    let mut out = Vec::new();
    for t in traces {
        let Some(pos) = t.transaction_position else { continue }; // rewards
        let Some(hash) = txs.get(pos as usize) else {
            return Err(format!("a trace names transaction {pos} of {}", txs.len()));
        };
        if t.transaction_hash.is_some_and(|h| h != *hash) {
            return Err(format!("the traces are of another block (transaction {pos} is {hash})"));
        }
        let a = &t.action;
        let value = a.value.unwrap_or_default();
        if t.kind != "call" || a.call_type.as_deref() != Some("call") || t.trace_address.is_empty() || value.is_zero() {
            continue;
        }
        if let (Some(from), Some(to)) = (a.from, a.to) {
            if !reverted(t, pos) {
                out.push(internal(pos, from, to, value));
            }
        }
    }
    Ok(out)
}

/// Reads a `debug_traceBlockByNumber` reply. A call tree is as deep as the transaction makes it
/// (the EVM allows 1024 nested calls; each is two JSON levels), so serde_json's recursion limit
/// (128) is lifted and the stack grows on the heap as needed (serde_stacker): no transaction can
/// make its block unreadable.
pub(crate) fn parse_geth(raw: &str) -> Result<Vec<GethTxTrace>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(raw);
    de.disable_recursion_limit();
    let traces = Vec::<GethTxTrace>::deserialize(serde_stacker::Deserializer::new(&mut de))?;
    de.end()?;
    Ok(traces)
}

/// From `debug_traceBlockByNumber` with the `callTracer`: one tree per transaction, in order.
pub(crate) fn from_geth(traces: &[GethTxTrace], txs: &[B256]) -> Result<Vec<Internal>, String> {
    if traces.len() != txs.len() {
        return Err(format!("{} transaction traces for {} transactions", traces.len(), txs.len()));
    }
    let mut out = Vec::new();
    for (pos, (t, hash)) in traces.iter().zip(txs).enumerate() {
        if t.tx_hash.is_some_and(|h| h != *hash) {
            return Err(format!("the traces are of another block (transaction {pos} is {hash})"));
        }
        let frame = t.result.as_ref().ok_or_else(|| {
            format!("no trace for transaction {hash}: {}", t.error.as_deref().unwrap_or("the node gave no reason"))
        })?;
        walk(frame, pos as u32, &mut out);
    }
    Ok(out)
}

/// Depth first, in call order, without recursion (trees can be deep).
fn walk(root: &Frame, tx: u32, out: &mut Vec<Internal>) {
    let mut stack = vec![(root, 0usize)];
    while let Some((frame, depth)) = stack.pop() {
        if frame.error.is_some() {
            continue; // reverted: nothing it or its children sent stands
        }
        let value = frame.value.unwrap_or_default();
        if depth > 0 && frame.kind.eq_ignore_ascii_case("CALL") && !value.is_zero() {
            if let Some(to) = frame.to {
                out.push(internal(tx, frame.from, to, value));
            }
        }
        stack.extend(frame.calls.iter().rev().map(|c| (c, depth + 1)));
    }
}

impl Drop for Frame {
    /// Without recursion, like [`walk`]: a deep tree must not overflow the stack when freed.
    fn drop(&mut self) {
        let mut pending = std::mem::take(&mut self.calls);
        while let Some(mut f) = pending.pop() {
            pending.append(&mut f.calls);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn h(n: u8) -> B256 {
        B256::repeat_byte(n)
    }

    fn a(n: u8) -> String {
        format!("0x{}", format!("{n:02x}").repeat(20))
    }

    #[test]
    fn parity_traces_keep_value_calls_below_the_top_that_did_not_revert() {
        let trace = |pos: u32, addr: &[u64], call: &str, to: u8, value: &str, error: Option<&str>| {
            json!({"type": "call", "action": {"callType": call, "from": a(0xc0), "to": a(to), "value": value},
                   "traceAddress": addr, "transactionPosition": pos, "transactionHash": h(pos as u8 + 1), "error": error})
        };
        let traces: Vec<ParityTrace> = serde_json::from_value(json!([
            trace(0, &[], "call", 0xc0, "0x9", None),         // the top-level call: the tx's own value
            trace(0, &[0], "call", 0xa1, "0x5", None),        // kept
            trace(0, &[1], "call", 0xa2, "0x6", Some("out of gas")), // reverted
            trace(0, &[1, 0], "call", 0xa3, "0x7", None),     // under a reverted frame
            trace(0, &[2], "delegatecall", 0xa4, "0x8", None), // moves nothing
            trace(0, &[3], "call", 0xa5, "0x0", None),        // no value
            trace(1, &[0], "call", 0xa6, "0xa", None),        // kept, second transaction
            {"type": "reward", "action": {"author": a(1), "value": "0x1", "rewardType": "block"}, "traceAddress": []},
        ]))
        .unwrap();
        let got = from_parity(&traces, &[h(1), h(2)]).unwrap();
        let want = [(0, 0xa1, 5u64), (1, 0xa6, 10)];
        assert_eq!(got.iter().map(|i| (i.tx, i.to[0], i.value[31] as u64)).collect::<Vec<_>>(), want);
        assert!(from_parity(&traces, &[h(1), h(9)]).unwrap_err().contains("another block"));
    }

    #[test]
    fn geth_traces_walk_each_tree_and_skip_reverted_branches() {
        let traces: Vec<GethTxTrace> = serde_json::from_value(json!([
            {"txHash": h(1), "result": {"type": "CALL", "from": a(1), "to": a(0xc0), "value": "0x9", "calls": [
                {"type": "CALL", "from": a(0xc0), "to": a(0xa1), "value": "0x5"},
                {"type": "CALL", "from": a(0xc0), "to": a(0xa2), "value": "0x6", "error": "execution reverted", "calls": [
                    {"type": "CALL", "from": a(0xa2), "to": a(0xa3), "value": "0x7"}]},
                {"type": "STATICCALL", "from": a(0xc0), "to": a(0xa4)},
                {"type": "DELEGATECALL", "from": a(0xc0), "to": a(0xa5), "calls": [
                    {"type": "CALL", "from": a(0xc0), "to": a(0xa6), "value": "0x8"}]}]}},
            {"txHash": h(2), "result": {"type": "CALL", "from": a(1), "to": a(0xa7), "value": "0x3"}},
        ]))
        .unwrap();
        let got = from_geth(&traces, &[h(1), h(2)]).unwrap();
        assert_eq!(got.iter().map(|i| (i.tx, i.to[0], i.value[31])).collect::<Vec<_>>(), [(0, 0xa1, 5), (0, 0xa6, 8)]);
        assert!(from_geth(&traces, &[h(1)]).unwrap_err().contains("2 transaction traces for 1"));
        assert!(from_geth(&traces, &[h(1), h(3)]).unwrap_err().contains("another block"));
    }

    /// The EVM's deepest call stack (1024 nested calls) as callTracer JSON, with 1 wei sent at
    /// the bottom: read and walked on a thread with a small stack, found; serde_json's default
    /// limit (128 levels) alone would refuse the block forever.
    #[test]
    fn geth_traces_of_the_deepest_call_stack_are_read() {
        let depth = 1024;
        let frame =
            |to: u8, value: &str| format!(r#"{{"type":"CALL","from":"{}","to":"{}","value":"{value}""#, a(0xc0), a(to));
        let mut raw = format!(r#"[{{"txHash":"{}","result":"#, h(1));
        for _ in 0..depth {
            raw += &frame(0xc0, "0x0");
            raw += r#","calls":["#;
        }
        raw += &frame(0xa1, "0x1");
        raw += "}";
        for _ in 0..depth {
            raw += "]}";
        }
        raw += "}]";
        assert!(serde_json::from_str::<Vec<GethTxTrace>>(&raw).unwrap_err().to_string().contains("recursion limit"));
        let got = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let traces = parse_geth(&raw).unwrap();
                from_geth(&traces, &[h(1)]).unwrap()
            })
            .unwrap()
            .join()
            .expect("no stack overflow");
        assert_eq!(got.iter().map(|i| (i.tx, i.to[0], i.value[31])).collect::<Vec<_>>(), [(0, 0xa1, 1)]);
        assert!(parse_geth("[] trailing").is_err(), "the whole reply is read");
    }
}
