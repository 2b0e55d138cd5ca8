//! The node's ZMQ feed on a dedicated thread (the `zmq` crate blocks). Every message is only
//! a trigger for the follower: `rawtx` and `rawblock` carry data for the fast path, the rest
//! (and every sequence gap, reconnect and quiet spell) asks for a reconcile, because the feed
//! loses messages (slow joiner, HWM, restarts) and the node is the truth.

use super::Trigger;
use crate::chain::ChainStartError;
use crate::config::ZmqEndpoints;
use crossbeam_channel::{Sender, TrySendError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
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
            move || Feed { chain, subs, triggers, stop, seqs: HashMap::new(), overflowed: false }.run()
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

struct Feed {
    chain: String,
    subs: Vec<Sub>,
    triggers: Sender<Trigger>,
    stop: Arc<AtomicBool>,
    /// Last sequence number per (endpoint, topic).
    seqs: HashMap<(usize, String), u32>,
    /// A trigger was dropped (the follower is behind): owe it a reconcile.
    overflowed: bool,
}

impl Feed {
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

    fn on_message(&mut self, i: usize, mut parts: Vec<Vec<u8>>) {
        if parts.len() != 3 || parts[2].len() != 4 {
            tracing::warn!(chain = %self.chain, frames = parts.len(), "malformed zmq message ignored; reconciling");
            self.send(Trigger::Reconcile("malformed zmq message"));
            return;
        }
        let seq = u32::from_le_bytes(parts[2].as_slice().try_into().expect("4 bytes"));
        let topic = String::from_utf8_lossy(&parts[0]).into_owned();
        let body = std::mem::take(&mut parts[1]);
        let gap = match self.seqs.insert((i, topic.clone()), seq) {
            Some(last) => seq != last.wrapping_add(1),
            None => seq != 0,
        };
        if gap {
            tracing::debug!(chain = %self.chain, %topic, seq, "zmq sequence gap");
            self.send(Trigger::Reconcile("zmq sequence gap"));
        }
        let trigger = match topic.as_str() {
            "rawtx" => Trigger::RawTx(body),
            "rawblock" => Trigger::RawBlock(body),
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
            } else if event == Some(zmq::SocketEvent::DISCONNECTED as u16) {
                tracing::warn!(chain = %self.chain, %endpoint, "zmq disconnected; reconnecting");
            }
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
        (
            Feed { chain: "btc".into(), subs: Vec::new(), triggers: tx, stop, seqs: HashMap::new(), overflowed: false },
            rx,
        )
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
        let mut f =
            Feed { chain: "btc".into(), subs: Vec::new(), triggers: tx, stop, seqs: HashMap::new(), overflowed: false };
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
