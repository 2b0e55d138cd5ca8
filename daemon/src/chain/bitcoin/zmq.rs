//! The node's ZMQ feed on a dedicated thread (the `zmq` crate blocks). Every message is only
//! a trigger for the follower: `rawtx` and `rawblock` carry data for the fast path, the rest
//! (and every sequence gap, reconnect and quiet spell) asks for a reconcile, because the feed
//! loses messages (slow joiner, HWM, restarts) and the node is the truth.

use super::Trigger;
use crate::chain::ChainStartError;
use crate::config::ZmqEndpoints;
use crate::metrics::ChainMetrics;
use crossbeam_channel::{Sender, TrySendError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A feed with no message for this long is suspect: reconcile.
const QUIET: Duration = Duration::from_secs(60);
const POLL_MS: i64 = 500;
const RCV_HWM: i32 = 100_000;
/// Largest message taken from a publisher (ZMQ is unauthenticated: without a bound, anything
/// that reaches the endpoint could make the daemon buffer gigabytes). A publisher that sends a
/// larger one is disconnected; the reconnect is a gap, and the gap a reconcile over RPC. Far
/// above Bitcoin's largest block (4 MB); a coin with larger blocks is followed through RPC.
const MAX_MESSAGE: i64 = 64 * 1024 * 1024;
/// The transaction bytes queued for the follower at most (the queue is bounded in triggers;
/// this bounds it in bytes). Over it, bodies are dropped and a reconcile is owed.
const MAX_QUEUED_BYTES: usize = MAX_MESSAGE as usize;
/// What the follower reads of a `rawblock`: its header (the block itself comes from the node).
const HEADER: usize = 80;

/// A message's bytes on their way to the follower. A `rawtx` body counts against the feed's
/// [`MAX_QUEUED_BYTES`] until the follower is done with it (dropped).
pub(crate) struct Body {
    bytes: Vec<u8>,
    budget: Option<Arc<AtomicUsize>>,
}

impl Body {
    /// Bytes not counted against any budget (a block header, a test's message).
    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        Self { bytes, budget: None }
    }
}

impl std::ops::Deref for Body {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.bytes.fmt(f)
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        if let Some(b) = &self.budget {
            b.fetch_sub(self.bytes.len(), Ordering::Relaxed);
        }
    }
}

/// One SUB socket per distinct endpoint, with its topics and a monitor for (re)connects.
struct Sub {
    endpoint: String,
    socket: zmq::Socket,
    monitor: zmq::Socket,
}

/// Starts the ZMQ thread; it ends when `stop` is set.
pub(crate) fn spawn(
    chain: &str,
    endpoints: &ZmqEndpoints,
    triggers: Sender<Trigger>,
    stop: Arc<AtomicBool>,
    metrics: ChainMetrics,
) -> Result<std::thread::JoinHandle<()>, ChainStartError> {
    let ctx = zmq::Context::new();
    let mut by_endpoint: HashMap<&str, Vec<&'static str>> = HashMap::new();
    for (topic, ep) in [
        ("rawtx", &endpoints.rawtx),
        ("hashblock", &endpoints.hashblock),
        ("rawblock", &endpoints.rawblock),
        ("sequence", &endpoints.sequence),
    ] {
        if let Some(ep) = ep {
            by_endpoint.entry(ep.as_str()).or_default().push(topic);
        }
    }
    let mut subs = Vec::new();
    for (i, (endpoint, topics)) in by_endpoint.into_iter().enumerate() {
        let failed = |source| ChainStartError::Zmq { chain: chain.to_string(), endpoint: endpoint.to_string(), source };
        subs.push(subscribe(&ctx, chain, i, endpoint, &topics, MAX_MESSAGE).map_err(failed)?);
    }
    let chain = chain.to_string();
    std::thread::Builder::new()
        .name(format!("zmq-{chain}"))
        .spawn({
            let chain = chain.clone();
            move || Feed::new(chain, subs, triggers, stop).with_metrics(metrics).run()
        })
        .map_err(|source| ChainStartError::Spawn { chain, what: "zmq thread", source })
}

/// A SUB socket on one endpoint for its topics (messages up to `max_message` bytes), with a
/// monitor of its connection.
fn subscribe(
    ctx: &zmq::Context,
    chain: &str,
    i: usize,
    endpoint: &str,
    topics: &[&str],
    max_message: i64,
) -> zmq::Result<Sub> {
    let socket = ctx.socket(zmq::SUB)?;
    socket.set_rcvhwm(RCV_HWM)?;
    socket.set_maxmsgsize(max_message)?;
    socket.set_tcp_keepalive(1)?;
    socket.set_tcp_keepalive_idle(60)?;
    socket.set_tcp_keepalive_intvl(10)?;
    socket.set_reconnect_ivl(500)?;
    socket.set_reconnect_ivl_max(5_000)?;
    for t in topics {
        socket.set_subscribe(t.as_bytes())?;
    }
    let addr = format!("inproc://paywatch-monitor-{chain}-{i}");
    socket.monitor(&addr, (zmq::SocketEvent::CONNECTED as i32) | (zmq::SocketEvent::DISCONNECTED as i32))?;
    let monitor = ctx.socket(zmq::PAIR)?;
    monitor.connect(&addr)?;
    socket.connect(endpoint)?;
    tracing::info!(chain, endpoint, topics = ?topics, "zmq subscribed");
    Ok(Sub { endpoint: endpoint.to_string(), socket, monitor })
}

pub(super) struct Feed {
    chain: String,
    subs: Vec<Sub>,
    triggers: Sender<Trigger>,
    stop: Arc<AtomicBool>,
    /// Last sequence number per (endpoint, topic).
    seqs: HashMap<(usize, String), u32>,
    /// A trigger was dropped (the follower is behind): owe it a reconcile.
    overflowed: bool,
    /// Transaction bytes queued for the follower (see [`Body`]).
    queued: Arc<AtomicUsize>,
    /// Which sockets are connected: the feed is up when all are.
    connected: Vec<bool>,
    metrics: ChainMetrics,
}

impl Feed {
    fn new(chain: String, subs: Vec<Sub>, triggers: Sender<Trigger>, stop: Arc<AtomicBool>) -> Self {
        let connected = vec![false; subs.len()];
        let (seqs, metrics) = (HashMap::new(), ChainMetrics::detached());
        Self { chain, subs, triggers, stop, seqs, overflowed: false, queued: Arc::default(), connected, metrics }
    }

    fn with_metrics(mut self, metrics: ChainMetrics) -> Self {
        metrics.feed_up(false);
        self.metrics = metrics;
        self
    }

    /// `bytes` counted against [`MAX_QUEUED_BYTES`]; None (and a reconcile owed) over it.
    fn budgeted(&mut self, bytes: Vec<u8>) -> Option<Body> {
        let n = bytes.len();
        if self.queued.fetch_add(n, Ordering::Relaxed) + n > MAX_QUEUED_BYTES {
            self.queued.fetch_sub(n, Ordering::Relaxed);
            if !self.overflowed {
                tracing::warn!(chain = %self.chain, "zmq transactions queued over {MAX_QUEUED_BYTES} bytes: dropping them until the follower catches up, then reconciling");
            }
            self.overflowed = true;
            return None;
        }
        Some(Body { bytes, budget: Some(self.queued.clone()) })
    }

    fn run(mut self) {
        let mut last_message = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            let mut items: Vec<zmq::PollItem<'_>> = Vec::new();
            for s in &self.subs {
                items.push(s.socket.as_poll_item(zmq::POLLIN));
                items.push(s.monitor.as_poll_item(zmq::POLLIN));
            }
            if let Err(e) = zmq::poll(&mut items, POLL_MS) {
                tracing::warn!(chain = %self.chain, error = %e, "zmq poll failed");
                std::thread::sleep(Duration::from_millis(POLL_MS as u64));
                continue;
            }
            let ready: Vec<(usize, bool, bool)> =
                (0..self.subs.len()).map(|i| (i, items[2 * i].is_readable(), items[2 * i + 1].is_readable())).collect();
            drop(items);
            for (i, data, monitor) in ready {
                if monitor {
                    self.on_monitor(i);
                }
                if data {
                    self.drain(i);
                    last_message = Instant::now();
                }
            }
            if last_message.elapsed() > QUIET {
                self.send(Trigger::Reconcile("zmq feed quiet"));
                last_message = Instant::now();
            }
            if self.overflowed && self.send(Trigger::Reconcile("zmq triggers overflowed")) {
                self.overflowed = false;
            }
        }
    }

    fn drain(&mut self, i: usize) {
        loop {
            let parts = match self.subs[i].socket.recv_multipart(zmq::DONTWAIT) {
                Ok(p) => p,
                Err(zmq::Error::EAGAIN) => return,
                Err(e) => {
                    tracing::warn!(chain = %self.chain, endpoint = %self.subs[i].endpoint, error = %e, "zmq receive failed");
                    self.send(Trigger::Reconcile("zmq receive error"));
                    return;
                }
            };
            self.on_message(i, parts);
        }
    }

    /// A feed with no socket, for the fuzz targets: messages are handed to `on_message`.
    pub(super) fn detached(triggers: Sender<Trigger>) -> Self {
        Self::new("fuzz".into(), Vec::new(), triggers, Arc::new(AtomicBool::new(false)))
    }

    pub(super) fn on_message(&mut self, i: usize, mut parts: Vec<Vec<u8>>) {
        if parts.len() != 3 || parts[2].len() != 4 {
            tracing::warn!(chain = %self.chain, frames = parts.len(), "malformed zmq message ignored; reconciling");
            self.send(Trigger::Reconcile("malformed zmq message"));
            return;
        }
        self.metrics.feed_message();
        let seq = u32::from_le_bytes(parts[2].as_slice().try_into().expect("4 bytes"));
        let topic = String::from_utf8_lossy(&parts[0]).into_owned();
        let body = std::mem::take(&mut parts[1]);
        let gap = match self.seqs.insert((i, topic.clone()), seq) {
            Some(last) => seq != last.wrapping_add(1),
            None => seq != 0,
        };
        if gap {
            self.metrics.feed_gap();
            tracing::debug!(chain = %self.chain, %topic, seq, "zmq sequence gap");
            self.send(Trigger::Reconcile("zmq sequence gap"));
        }
        let trigger = match topic.as_str() {
            "rawtx" => match self.budgeted(body) {
                Some(body) => Trigger::RawTx(body),
                None => return,
            },
            "rawblock" => Trigger::RawBlock(Body::new(body[..body.len().min(HEADER)].to_vec())),
            // A mempool addition is `rawtx`'s job; connects, disconnects and removals reconcile.
            "sequence" if body.get(32) == Some(&b'A') => return,
            "hashblock" | "sequence" => Trigger::Reconcile("zmq notification"),
            _ => return,
        };
        self.send(trigger);
    }

    fn on_monitor(&mut self, i: usize) {
        while let Ok(parts) = self.subs[i].monitor.recv_multipart(zmq::DONTWAIT) {
            let event = parts.first().and_then(|f| f.get(..2)).map(|b| u16::from_le_bytes([b[0], b[1]]));
            let endpoint = &self.subs[i].endpoint;
            if event == Some(zmq::SocketEvent::CONNECTED as u16) {
                tracing::info!(chain = %self.chain, %endpoint, "zmq connected");
                // The node may have restarted: its sequence numbers start over.
                self.seqs.retain(|(j, _), _| *j != i);
                self.send(Trigger::Reconcile("zmq (re)connected"));
                self.connected[i] = true;
            } else if event == Some(zmq::SocketEvent::DISCONNECTED as u16) {
                tracing::warn!(chain = %self.chain, %endpoint, "zmq disconnected; reconnecting");
                self.connected[i] = false;
            }
            self.metrics.feed_up(self.connected.iter().all(|c| *c));
        }
    }

    /// False when the follower's queue is full (the trigger is dropped, a reconcile is owed).
    fn send(&mut self, t: Trigger) -> bool {
        match self.triggers.try_send(t) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => true,
            Err(TrySendError::Full(_)) => {
                self.overflowed = true;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed() -> (Feed, crossbeam_channel::Receiver<Trigger>) {
        let (tx, rx) = crossbeam_channel::bounded(2);
        let stop = Arc::new(AtomicBool::new(false));
        (Feed::new("btc".into(), Vec::new(), tx, stop), rx)
    }

    fn msg(topic: &str, body: &[u8], seq: u32) -> Vec<Vec<u8>> {
        vec![topic.as_bytes().to_vec(), body.to_vec(), seq.to_le_bytes().to_vec()]
    }

    fn drain(rx: &crossbeam_channel::Receiver<Trigger>) -> Vec<String> {
        rx.try_iter().map(|t| format!("{t:?}")).collect()
    }

    #[test]
    fn topics_become_triggers_and_sequence_gaps_ask_for_a_reconcile() {
        let (mut f, rx) = feed();
        f.on_message(0, msg("rawtx", b"tx", 0));
        f.on_message(0, msg("rawtx", b"tx", 1));
        assert_eq!(drain(&rx), ["RawTx([116, 120])", "RawTx([116, 120])"]);
        // 2 was lost: a gap, then the message itself.
        f.on_message(0, msg("rawtx", b"tx", 3));
        assert_eq!(drain(&rx), ["Reconcile(\"zmq sequence gap\")", "RawTx([116, 120])"]);
        // Sequence numbers are per topic; the first seen of a topic after 0 is a gap too.
        f.on_message(0, msg("hashblock", &[0; 32], 5));
        assert_eq!(drain(&rx), ["Reconcile(\"zmq sequence gap\")", "Reconcile(\"zmq notification\")"]);
        // `sequence`: additions are rawtx's job; connects, disconnects, removals reconcile.
        let mut body = vec![0u8; 32];
        body.push(b'A');
        f.on_message(0, msg("sequence", &body, 0));
        assert!(drain(&rx).is_empty());
        body[32] = b'R';
        f.on_message(0, msg("sequence", &body, 1));
        assert_eq!(drain(&rx), ["Reconcile(\"zmq notification\")"]);
    }

    #[test]
    fn malformed_messages_and_a_full_queue_are_survived() {
        let (mut f, rx) = feed();
        f.on_message(0, vec![b"rawtx".to_vec(), b"x".to_vec()]);
        f.on_message(0, vec![b"rawtx".to_vec(), b"x".to_vec(), vec![1, 2]]);
        assert_eq!(drain(&rx), ["Reconcile(\"malformed zmq message\")", "Reconcile(\"malformed zmq message\")"]);
        // The queue holds 2: the third trigger is dropped and a reconcile is owed.
        for i in 0..3 {
            f.on_message(0, msg("rawtx", b"t", i));
        }
        assert!(f.overflowed);
        assert_eq!(drain(&rx).len(), 2);
    }

    /// What a publisher on the endpoint (ZMQ is unauthenticated) can make the daemon hold: each
    /// message may be up to MAX_MESSAGE (64 MiB), the follower's queue holds 10,000 triggers and
    /// the socket up to RCV_HWM (100,000) messages, so the bound is counted in messages, not
    /// bytes: 10,000 queued `rawblock`s of 64 MiB are 640 GiB. On loopback a publisher pushes
    /// gigabytes a second, and every `rawblock` on our tip costs the follower RPC round trips and
    /// a reconcile (a `getrawmempool` of a mainnet mempool), so the queue fills faster than it
    /// drains and the daemon (every chain, the API) is killed for memory. The follower reads
    /// only the 80-byte header of a `rawblock`, and a `rawtx` is at most a few MB; the bytes
    /// queued must stay bounded (here: one MAX_MESSAGE in all; over it, bodies are dropped and a
    /// reconcile is owed, as for a full queue).
    #[test]
    fn queued_trigger_bytes_are_bounded() {
        let (tx, rx) = crossbeam_channel::bounded(super::super::QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let mut f = Feed::new("btc".into(), Vec::new(), tx, stop);
        let body = vec![0x66u8; 1 << 20];
        for i in 0..80u32 {
            let topic = if i % 2 == 0 { "rawblock" } else { "rawtx" };
            let seq = i / 2;
            f.on_message(0, vec![topic.as_bytes().to_vec(), body.clone(), seq.to_le_bytes().to_vec()]);
        }
        let queued: usize = rx
            .try_iter()
            .map(|t| match t {
                Trigger::RawTx(b) | Trigger::RawBlock(b) => b.len(),
                _ => 0,
            })
            .sum();
        assert!(
            queued <= MAX_MESSAGE as usize,
            "{} MiB of trigger bodies queued from 80 messages of 1 MiB",
            queued >> 20
        );
    }

    /// Over the byte budget, transaction bodies are dropped and a reconcile is owed; once the
    /// follower is done with the queued ones (dropped), bodies come through again.
    #[test]
    fn the_byte_budget_is_given_back_when_the_follower_is_done() {
        let (tx, rx) = crossbeam_channel::bounded(super::super::QUEUE);
        let mut f = Feed::new("btc".into(), Vec::new(), tx, Arc::new(AtomicBool::new(false)));
        let body = vec![7u8; 16 << 20];
        for seq in 0..5u32 {
            f.on_message(0, vec![b"rawtx".to_vec(), body.clone(), seq.to_le_bytes().to_vec()]);
        }
        let held: Vec<Trigger> = rx.try_iter().collect();
        assert_eq!(held.len(), 4, "four 16 MiB bodies fit in 64 MiB, the fifth is dropped");
        assert!(f.overflowed, "a reconcile is owed for the dropped one");
        assert_eq!(f.queued.load(Ordering::Relaxed), 64 << 20);
        drop(held);
        assert_eq!(f.queued.load(Ordering::Relaxed), 0);
        f.on_message(0, vec![b"rawtx".to_vec(), body, 5u32.to_le_bytes().to_vec()]);
        assert!(matches!(rx.try_recv(), Ok(Trigger::RawTx(b)) if b.len() == 16 << 20));
        // A rawblock is queued as its header only.
        f.on_message(0, vec![b"rawblock".to_vec(), vec![1u8; 1 << 20], 0u32.to_le_bytes().to_vec()]);
        assert!(matches!(rx.try_recv(), Ok(Trigger::RawBlock(b)) if b.len() == 80));
    }

    /// A publisher sending a message over the limit never gets it delivered (it is
    /// disconnected); messages under it still come through.
    #[test]
    fn messages_over_the_size_limit_are_refused() {
        let ctx = zmq::Context::new();
        let publ = ctx.socket(zmq::PUB).unwrap();
        publ.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = publ.get_last_endpoint().unwrap().unwrap();
        let sub = subscribe(&ctx, "btc", 0, &endpoint, &["rawtx"], 1024).unwrap();
        sub.socket.set_rcvtimeo(100).unwrap();
        let small: Vec<&[u8]> = vec![b"rawtx", b"small", &[1, 0, 0, 0]];
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            publ.send_multipart(&small, 0).unwrap(); // until subscribed (slow joiner)
            if sub.socket.recv_multipart(0).is_ok() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "nothing came through");
        }
        let big = vec![0u8; 4096];
        publ.send_multipart([b"rawtx".as_slice(), &big, &[2, 0, 0, 0]], 0).unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(1);
        while std::time::Instant::now() < until {
            if let Ok(parts) = sub.socket.recv_multipart(0) {
                assert!(parts.iter().all(|p| p.len() <= 1024), "a message over the limit was delivered");
            }
        }
    }
}
