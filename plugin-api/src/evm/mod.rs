//! EVM blocks as the host hands them to currency plugins (`scan` with `SCAN_BLOCK` on an `evm`
//! chain): the block and its receipts, normalized into one compact encoding, and a zero-copy
//! reader. The daemon fetches and encodes; plugins only read, and return only matches.
//!
//! Layout (integers big-endian):
//!
//! ```text
//! "EVB1" number:u64 timestamp:u64 hash:32 parent:32
//! tx_count:u32   tx_count × (hash:32 from:20 has_to:u8 to:20 value:32 success:u8)   fixed 106 bytes
//! log_count:u32  log_count × (tx:u32 index:u32 address:20 topic_count:u8 topics:32×n data_len:u32 data)
//! internal_count:u32  internal_count × (tx:u32 from:20 to:20 value:32)            fixed 76 bytes
//! ```
//!
//! `value` is a u256 in wei, big-endian. `success` is the receipt's status. A log's `tx` is the
//! position of its transaction in the block, `index` its log index in the block. Only logs of
//! the block's receipts are present (never `removed` ones: a block that leaves the best chain
//! is disconnected by the host, which reverses what it paid). Internal transfers are Ether moved
//! by contracts (a `CALL` with value below the top level, in a frame that did not revert); they
//! are present only when the chain is configured with `traces` (else the section is empty).

use std::fmt;

/// A 20-byte account or contract address.
pub type Address = [u8; 20];
/// A 32-byte word: hashes, topics, u256 values (big-endian).
pub type B256 = [u8; 32];

/// The first four bytes of an encoded block.
pub const MAGIC: [u8; 4] = *b"EVB1";
const HEADER_LEN: usize = 4 + 8 + 8 + 32 + 32;
/// Bytes of one transaction record.
pub const TX_LEN: usize = 32 + 20 + 1 + 20 + 32 + 1;
/// Bytes of one internal transfer record.
pub const INTERNAL_LEN: usize = 4 + 20 + 20 + 32;
const LOG_FIXED: usize = 4 + 4 + 20 + 1 + 4;
const MAX_TOPICS: u8 = 4;

/// A normalized block (the host's side: built, then [`Block::encode`]d).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Block {
    /// Block number.
    pub number: u64,
    /// Block timestamp (unix seconds).
    pub timestamp: u64,
    /// Block hash.
    pub hash: B256,
    /// Parent block hash.
    pub parent: B256,
    /// Its transactions, in block order, with their receipts' status.
    pub txs: Vec<Tx>,
    /// Every log of its receipts, in block order.
    pub logs: Vec<Log>,
    /// Ether moved by contracts, in execution order (empty without traces).
    pub internal: Vec<Internal>,
}

/// Ether sent by a contract to `to` inside transaction `tx` (from a trace).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Internal {
    /// Position of the transaction in the block.
    pub tx: u32,
    /// The contract that sent it.
    pub from: Address,
    /// The receiver.
    pub to: Address,
    /// Wei, u256 big-endian.
    pub value: B256,
}

/// A transaction with its receipt's status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tx {
    /// Transaction hash.
    pub hash: B256,
    /// Sender.
    pub from: Address,
    /// `None` for a contract creation.
    pub to: Option<Address>,
    /// Wei, u256 big-endian.
    pub value: B256,
    /// The receipt's status.
    pub success: bool,
}

/// A log of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Log {
    /// Position of the emitting transaction in the block.
    pub tx: u32,
    /// Log index in the block.
    pub index: u32,
    /// The emitting contract.
    pub address: Address,
    /// Topics (at most 4).
    pub topics: Vec<B256>,
    /// The log's data.
    pub data: Vec<u8>,
}

impl Block {
    /// The encoding plugins receive (see the module docs for the layout).
    pub fn encode(&self) -> Vec<u8> {
        let logs_len: usize = self.logs.iter().map(|l| LOG_FIXED + 32 * l.topics.len() + l.data.len()).sum();
        let mut out = Vec::with_capacity(HEADER_LEN + 8 + TX_LEN * self.txs.len() + logs_len);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.number.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.hash);
        out.extend_from_slice(&self.parent);
        out.extend_from_slice(&(self.txs.len() as u32).to_be_bytes());
        for t in &self.txs {
            out.extend_from_slice(&t.hash);
            out.extend_from_slice(&t.from);
            out.push(t.to.is_some() as u8);
            out.extend_from_slice(&t.to.unwrap_or_default());
            out.extend_from_slice(&t.value);
            out.push(t.success as u8);
        }
        out.extend_from_slice(&(self.logs.len() as u32).to_be_bytes());
        for l in &self.logs {
            out.extend_from_slice(&l.tx.to_be_bytes());
            out.extend_from_slice(&l.index.to_be_bytes());
            out.extend_from_slice(&l.address);
            out.push(l.topics.len() as u8);
            for t in &l.topics {
                out.extend_from_slice(t);
            }
            out.extend_from_slice(&(l.data.len() as u32).to_be_bytes());
            out.extend_from_slice(&l.data);
        }
        out.extend_from_slice(&(self.internal.len() as u32).to_be_bytes());
        for i in &self.internal {
            out.extend_from_slice(&i.tx.to_be_bytes());
            out.extend_from_slice(&i.from);
            out.extend_from_slice(&i.to);
            out.extend_from_slice(&i.value);
        }
        out
    }
}

/// Why bytes are not an encoded block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError(String);

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed evm block: {}", self.0)
    }
}

impl std::error::Error for FormatError {}

fn bad(what: impl Into<String>) -> FormatError {
    FormatError(what.into())
}

/// A checked view of an encoded block. [`BlockView::parse`] checks every length once; the
/// accessors and iterators then cannot fail.
#[derive(Debug, Clone, Copy)]
pub struct BlockView<'a> {
    head: &'a [u8; HEADER_LEN],
    txs: &'a [u8],
    logs: &'a [u8],
    log_count: usize,
    internal: &'a [u8],
}

impl<'a> BlockView<'a> {
    /// Checks every length once; afterwards no accessor can fail.
    pub fn parse(raw: &'a [u8]) -> Result<Self, FormatError> {
        let head: &[u8; HEADER_LEN] = raw
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| bad(format!("{} bytes, shorter than a header", raw.len())))?;
        if head[..4] != MAGIC {
            return Err(bad(format!("magic {:02x?} is not EVB1", &head[..4])));
        }
        let mut rest = &raw[HEADER_LEN..];
        let tx_count = take_u32(&mut rest, "tx count")? as usize;
        let txs_len =
            tx_count.checked_mul(TX_LEN).filter(|&n| n <= rest.len()).ok_or_else(|| bad(format!("{tx_count} txs")))?;
        let (txs, mut rest) = rest.split_at(txs_len);
        let log_count = take_u32(&mut rest, "log count")? as usize;
        let mut cursor = LogIter { rest, left: log_count };
        for i in 0..log_count {
            let log = cursor.next_checked().map_err(|e| bad(format!("log {i}: {e}")))?;
            if log.tx as usize >= tx_count {
                return Err(bad(format!("log {i} names tx {} of {tx_count}", log.tx)));
            }
        }
        let logs = &rest[..rest.len() - cursor.rest.len()];
        let mut rest = cursor.rest;
        let count = take_u32(&mut rest, "internal transfer count")? as usize;
        if count.checked_mul(INTERNAL_LEN) != Some(rest.len()) {
            return Err(bad(format!("{count} internal transfers in {} bytes", rest.len())));
        }
        if let Some(i) = rest.chunks_exact(INTERNAL_LEN).position(|c| read_u32(c) as usize >= tx_count) {
            return Err(bad(format!(
                "internal transfer {i} names tx {} of {tx_count}",
                read_u32(&rest[i * INTERNAL_LEN..])
            )));
        }
        Ok(Self { head, txs, logs, log_count, internal: rest })
    }

    /// Block number.
    pub fn number(&self) -> u64 {
        u64::from_be_bytes(self.head[4..12].try_into().expect("8 bytes"))
    }

    /// Block timestamp (unix seconds).
    pub fn timestamp(&self) -> u64 {
        u64::from_be_bytes(self.head[12..20].try_into().expect("8 bytes"))
    }

    /// Block hash.
    pub fn hash(&self) -> &'a B256 {
        self.head[20..52].try_into().expect("32 bytes")
    }

    /// Parent block hash.
    pub fn parent(&self) -> &'a B256 {
        self.head[52..84].try_into().expect("32 bytes")
    }

    /// Number of transactions.
    pub fn tx_count(&self) -> usize {
        self.txs.len() / TX_LEN
    }

    /// The transactions, in block order.
    pub fn txs(&self) -> impl ExactSizeIterator<Item = TxView<'a>> + 'a {
        self.txs.chunks_exact(TX_LEN).map(|c| TxView(c.try_into().expect("exact chunks")))
    }

    /// The transaction at a position (a log's [`LogView::tx`]).
    pub fn tx(&self, position: u32) -> Option<TxView<'a>> {
        let start = (position as usize).checked_mul(TX_LEN)?;
        self.txs.get(start..start + TX_LEN).map(|c| TxView(c.try_into().expect("sliced to TX_LEN")))
    }

    /// The logs, in block order.
    pub fn logs(&self) -> LogIter<'a> {
        LogIter { rest: self.logs, left: self.log_count }
    }

    /// Ether moved by contracts, in execution order (empty unless the chain has `traces`).
    pub fn internal(&self) -> impl ExactSizeIterator<Item = InternalView<'a>> + 'a {
        self.internal.chunks_exact(INTERNAL_LEN).map(|c| InternalView(c.try_into().expect("exact chunks")))
    }
}

/// One internal transfer record.
#[derive(Debug, Clone, Copy)]
pub struct InternalView<'a>(&'a [u8; INTERNAL_LEN]);

impl<'a> InternalView<'a> {
    /// Position of the transaction in the block.
    pub fn tx(&self) -> u32 {
        read_u32(self.0)
    }

    /// The contract that sent the Ether.
    pub fn from(&self) -> &'a Address {
        self.0[4..24].try_into().expect("20 bytes")
    }

    /// The receiver.
    pub fn to(&self) -> &'a Address {
        self.0[24..44].try_into().expect("20 bytes")
    }

    /// Wei, u256 big-endian.
    pub fn value(&self) -> &'a B256 {
        self.0[44..76].try_into().expect("32 bytes")
    }
}

fn read_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().expect("4 bytes"))
}

fn take_u32(rest: &mut &[u8], what: &str) -> Result<u32, FormatError> {
    let (n, r) = rest.split_first_chunk::<4>().ok_or_else(|| bad(format!("truncated at the {what}")))?;
    *rest = r;
    Ok(u32::from_be_bytes(*n))
}

/// One transaction record.
#[derive(Debug, Clone, Copy)]
pub struct TxView<'a>(&'a [u8; TX_LEN]);

impl<'a> TxView<'a> {
    /// Transaction hash.
    pub fn hash(&self) -> &'a B256 {
        self.0[..32].try_into().expect("32 bytes")
    }

    /// Sender.
    pub fn from(&self) -> &'a Address {
        self.0[32..52].try_into().expect("20 bytes")
    }

    /// Receiver; `None` for a contract creation.
    pub fn to(&self) -> Option<&'a Address> {
        (self.0[52] != 0).then(|| self.0[53..73].try_into().expect("20 bytes"))
    }

    /// Wei, u256 big-endian.
    pub fn value(&self) -> &'a B256 {
        self.0[73..105].try_into().expect("32 bytes")
    }

    /// The receipt's status: only successful transactions pay.
    pub fn success(&self) -> bool {
        self.0[105] != 0
    }
}

/// One log.
#[derive(Debug, Clone, Copy)]
pub struct LogView<'a> {
    /// Position of the emitting transaction in the block.
    pub tx: u32,
    /// Log index in the block.
    pub index: u32,
    /// The emitting contract.
    pub address: &'a Address,
    topics: &'a [u8],
    /// The log's data.
    pub data: &'a [u8],
}

impl<'a> LogView<'a> {
    /// How many topics (0 to 4).
    pub fn topic_count(&self) -> usize {
        self.topics.len() / 32
    }

    /// Topic `i`, if present.
    pub fn topic(&self, i: usize) -> Option<&'a B256> {
        self.topics.get(i * 32..i * 32 + 32).map(|t| t.try_into().expect("32 bytes"))
    }
}

/// The logs of a [`BlockView`], in block order.
#[derive(Debug, Clone)]
pub struct LogIter<'a> {
    rest: &'a [u8],
    left: usize,
}

impl<'a> LogIter<'a> {
    fn next_checked(&mut self) -> Result<LogView<'a>, String> {
        let fixed = self.rest.get(..4 + 4 + 20 + 1).ok_or("truncated")?;
        let tx = u32::from_be_bytes(fixed[..4].try_into().expect("4 bytes"));
        let index = u32::from_be_bytes(fixed[4..8].try_into().expect("4 bytes"));
        let address: &Address = fixed[8..28].try_into().expect("20 bytes");
        let n = fixed[28];
        if n > MAX_TOPICS {
            return Err(format!("{n} topics, at most {MAX_TOPICS}"));
        }
        let topics_end = 29 + 32 * n as usize;
        let topics = self.rest.get(29..topics_end).ok_or("truncated in its topics")?;
        let len = self.rest.get(topics_end..topics_end + 4).ok_or("truncated at its data length")?;
        let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
        let data = self.rest.get(topics_end + 4..topics_end + 4 + len).ok_or("truncated in its data")?;
        self.rest = &self.rest[topics_end + 4 + len..];
        self.left -= 1;
        Ok(LogView { tx, index, address, topics, data })
    }
}

impl<'a> Iterator for LogIter<'a> {
    type Item = LogView<'a>;

    fn next(&mut self) -> Option<LogView<'a>> {
        if self.left == 0 {
            return None;
        }
        Some(self.next_checked().expect("checked by BlockView::parse"))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for LogIter<'_> {}

/// A u256 (big-endian) as a decimal string: [`Amount`](crate::amount::Amount)'s `Display`.
pub fn u256_to_decimal(v: &B256) -> String {
    crate::amount::Amount::from_be_bytes(*v).to_string()
}

/// A decimal string (digits only, no whitespace) as a u256 (big-endian); `None` when it is not
/// digits or does not fit. [`Amount::from_base_str`](crate::amount::Amount::from_base_str),
/// stricter.
pub fn decimal_to_u256(s: &str) -> Option<B256> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    crate::amount::Amount::from_base_str(s).ok().map(|a| a.to_be_bytes())
}

#[cfg(test)]
mod tests;
