//! A Bitcoin-family node's ZMQ feed: whether the node publishes the topics the follower
//! subscribes to at the endpoints the config names (as the node lists them), and whether each
//! endpoint takes a subscriber (connected, ZMTP handshake, a message if one comes soon).

use super::{key, Check};
use crate::config::ZmqEndpoints;
use std::time::{Duration, Instant};

/// Waited for the ZMTP handshake with an endpoint…
const HANDSHAKE: Duration = Duration::from_secs(3);
/// …then for a message (none is needed: a quiet node publishes nothing).
const MESSAGE: Duration = Duration::from_secs(1);

/// One notification the node publishes (`getzmqnotifications`, `activezmqnotifications`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub(super) struct Notification {
    /// `pubrawtx`, `pubhashblock`…
    #[serde(rename = "type", alias = "notification")]
    pub(super) kind: String,
    pub(super) address: String,
}

/// What the node says it publishes.
#[derive(Debug, Clone)]
pub(super) enum Listed {
    /// Its list, and the RPC that gave it.
    By(&'static str, Vec<Notification>),
    /// It cannot say (why).
    Unavailable(String),
}

/// The configured topics with their endpoints, in the follower's order.
fn configured(zmq: &ZmqEndpoints) -> Vec<(&'static str, &str)> {
    [("rawtx", &zmq.rawtx), ("hashblock", &zmq.hashblock), ("rawblock", &zmq.rawblock), ("sequence", &zmq.sequence)]
        .into_iter()
        .filter_map(|(t, e)| e.as_deref().map(|e| (t, e)))
        .collect()
}

/// The config key of a topic's endpoint.
fn topic_key(chain: &str, topic: &str) -> String {
    key(chain, &format!("zmq_{topic}"))
}

/// `tcp://HOST:PORT` → (scheme, host, port); an `ipc://` path is its host.
fn parts(endpoint: &str) -> (&str, &str, &str) {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("", endpoint));
    match rest.rsplit_once(':') {
        Some((host, port)) if scheme == "tcp" => (scheme, host.trim_start_matches('[').trim_end_matches(']'), port),
        _ => (scheme, rest, ""),
    }
}

/// Whether the node's published address serves the configured endpoint: the same one, or the
/// same port on an address that includes it (the node bound every interface, or both are
/// this machine).
pub(super) fn same_endpoint(node: &str, config: &str) -> bool {
    let ((ns, nh, np), (cs, ch, cp)) = (parts(node), parts(config));
    let local = |h: &str| matches!(h, "127.0.0.1" | "localhost" | "::1");
    let any = |h: &str| matches!(h, "0.0.0.0" | "*" | "::");
    ns == cs && np == cp && (nh == ch || any(nh) || (local(nh) && local(ch)))
}

/// `zmq.topics`: each configured topic against what the node publishes. `rawtx` and a block
/// topic are what make the feed worth having; `sequence` is only a trigger.
pub(super) fn topics(chain: &str, zmq: &ZmqEndpoints, listed: &Listed, poll_secs: u64) -> Vec<Check> {
    let c = Some(chain);
    let wanted = configured(zmq);
    let published = |topic: &str| -> Vec<String> {
        match listed {
            Listed::By(_, list) => {
                list.iter().filter(|n| n.kind == format!("pub{topic}")).map(|n| n.address.clone()).collect()
            }
            Listed::Unavailable(_) => Vec::new(),
        }
    };
    if wanted.is_empty() {
        let at = published("rawtx").into_iter().next().unwrap_or_else(|| "tcp://127.0.0.1:28332".into());
        return vec![Check::warning(
            "zmq.topics",
            c,
            format!("no ZMQ endpoint is configured: the chain is followed by polling every {poll_secs} s, so payments are seen up to {poll_secs} s late"),
            format!("set {} = {at:?} and start bitcoind with -zmqpubrawtx={at} -zmqpubhashblock={at}", key(chain, "zmq")),
        )];
    }
    let list = match listed {
        Listed::By(method, list) => (method, list),
        Listed::Unavailable(why) => {
            let names: Vec<String> = wanted.iter().map(|(t, e)| format!("{t} at {e}")).collect();
            return vec![Check::warning(
                "zmq.topics",
                c,
                format!("the node cannot list its ZMQ notifications ({why}): whether it publishes {} is known only from the probe below", names.join(", ")),
                "check that bitcoind's -zmqpub* options name the endpoints of the config's zmq keys",
            )];
        }
    };
    let served = |topic: &str, endpoint: &str| {
        list.1.iter().any(|n| n.kind == format!("pub{topic}") && same_endpoint(&n.address, endpoint))
    };
    let block_ok = wanted.iter().any(|(t, e)| matches!(*t, "hashblock" | "rawblock") && served(t, e));
    let mut out = Vec::new();
    let mut ok = Vec::new();
    for (topic, endpoint) in &wanted {
        if served(topic, endpoint) {
            ok.push(format!("{topic} at {endpoint}"));
            continue;
        }
        let elsewhere = published(topic);
        let found = if elsewhere.is_empty() {
            format!("the node publishes no {topic} at all ({})", list.0)
        } else {
            format!("the node publishes {topic} at {} ({}), not at {endpoint}", elsewhere.join(", "), list.0)
        };
        let fix = match elsewhere.first() {
            Some(at) => format!("set {} (or {}) to {at:?}", topic_key(chain, topic), key(chain, "zmq")),
            None => format!("start bitcoind with -zmqpub{topic}={endpoint}"),
        };
        out.push(match *topic {
            "rawtx" => Check::problem(
                "zmq.topics",
                c,
                format!("{found}: payments in the mempool are seen only by polling, every {poll_secs} s"),
                fix,
            ),
            "hashblock" | "rawblock" if !block_ok => Check::problem(
                "zmq.topics",
                c,
                format!("{found}: new blocks are noticed only by polling, every {poll_secs} s"),
                fix,
            ),
            "sequence" => Check::warning(
                "zmq.topics",
                c,
                format!("{found}: harmless (sequence only hastens noticing removals; Bitcoin SV has none)"),
                format!(
                    "{fix} (Bitcoin Core 0.21+), or set {}, {} and {} instead of {} so sequence is not subscribed",
                    topic_key(chain, "rawtx"),
                    topic_key(chain, "hashblock"),
                    topic_key(chain, "rawblock"),
                    key(chain, "zmq")
                ),
            ),
            _ => Check::warning(
                "zmq.topics",
                c,
                format!("{found}: harmless while the other block topic is published"),
                fix,
            ),
        });
    }
    if !ok.is_empty() {
        out.insert(0, Check::ok("zmq.topics", c, format!("the node publishes {} ({})", ok.join(", "), list.0)));
    }
    out
}

/// What subscribing to an endpoint showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Probe {
    /// Handshake done; the topic of the first message, if one came within [`MESSAGE`].
    Subscribed(Option<String>),
    /// TCP connected, no ZMTP handshake.
    NotZmq,
    /// Nothing accepted the connection.
    Unreachable,
    /// The socket could not be set up.
    Failed(String),
}

/// `zmq.reachable` for each distinct configured endpoint.
pub(super) async fn probe_all(chain: &str, zmq: &ZmqEndpoints) -> Vec<Check> {
    let mut by_endpoint: Vec<(String, Vec<&'static str>)> = Vec::new();
    for (topic, endpoint) in configured(zmq) {
        match by_endpoint.iter_mut().find(|(e, _)| e == endpoint) {
            Some((_, topics)) => topics.push(topic),
            None => by_endpoint.push((endpoint.to_string(), vec![topic])),
        }
    }
    let mut out = Vec::new();
    for (endpoint, topics) in by_endpoint {
        let probed = {
            let (endpoint, topics) = (endpoint.clone(), topics.clone());
            tokio::task::spawn_blocking(move || probe(&endpoint, &topics))
                .await
                .unwrap_or_else(|e| Probe::Failed(e.to_string()))
        };
        out.push(reachable(chain, &endpoint, &topics, &probed));
    }
    out
}

/// The verdict on one endpoint's probe.
pub(super) fn reachable(chain: &str, endpoint: &str, topics: &[&str], probed: &Probe) -> Check {
    let c = Some(chain);
    let keys = format!(
        "{} / {}",
        key(chain, "zmq"),
        topics.iter().map(|t| topic_key(chain, t)).collect::<Vec<_>>().join(", ")
    );
    match probed {
        Probe::Subscribed(Some(topic)) => {
            Check::ok("zmq.reachable", c, format!("subscribed to {endpoint}; a {topic} message arrived"))
        }
        Probe::Subscribed(None) => Check::ok(
            "zmq.reachable",
            c,
            format!("subscribed to {endpoint} (no message within {} s; none is needed)", MESSAGE.as_secs()),
        ),
        Probe::NotZmq => Check::problem(
            "zmq.reachable",
            c,
            format!("{endpoint} accepts connections but does not speak ZMQ"),
            format!("point {keys} at the node's -zmqpub* endpoint"),
        ),
        Probe::Unreachable => Check::problem(
            "zmq.reachable",
            c,
            format!("nothing accepts ZMQ subscribers at {endpoint} within {} s", HANDSHAKE.as_secs()),
            format!(
                "start bitcoind with -zmqpub{}={endpoint} (an address this machine reaches), or fix {keys}",
                topics[0]
            ),
        ),
        Probe::Failed(e) => {
            Check::problem("zmq.reachable", c, format!("cannot subscribe to {endpoint}: {e}"), format!("fix {keys}"))
        }
    }
}

/// Connects a SUB socket to `endpoint` for `topics` and watches its monitor for the handshake,
/// then waits briefly for a message. Never blocks past [`HANDSHAKE`] + [`MESSAGE`].
pub(super) fn probe(endpoint: &str, topics: &[&str]) -> Probe {
    match try_probe(endpoint, topics) {
        Ok(p) => p,
        Err(e) => Probe::Failed(e.to_string()),
    }
}

fn try_probe(endpoint: &str, topics: &[&str]) -> zmq::Result<Probe> {
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::SUB)?;
    socket.set_linger(0)?;
    socket.set_maxmsgsize(64 << 20)?;
    for t in topics {
        socket.set_subscribe(t.as_bytes())?;
    }
    let events = zmq::SocketEvent::CONNECTED as i32 | zmq::SocketEvent::HANDSHAKE_SUCCEEDED as i32;
    socket.monitor("inproc://paywatch-doctor-monitor", events)?;
    let monitor = ctx.socket(zmq::PAIR)?;
    monitor.set_linger(0)?;
    monitor.connect("inproc://paywatch-doctor-monitor")?;
    socket.connect(endpoint)?;
    let deadline = Instant::now() + HANDSHAKE;
    let mut connected = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(if connected { Probe::NotZmq } else { Probe::Unreachable });
        }
        if monitor.poll(zmq::POLLIN, left.as_millis().max(1) as i64)? == 0 {
            continue;
        }
        let parts = monitor.recv_multipart(0)?;
        let event = parts.first().and_then(|f| f.get(..2)).map(|b| u16::from_le_bytes([b[0], b[1]]));
        if event == Some(zmq::SocketEvent::HANDSHAKE_SUCCEEDED as u16) {
            break;
        }
        connected |= event == Some(zmq::SocketEvent::CONNECTED as u16);
    }
    if socket.poll(zmq::POLLIN, MESSAGE.as_millis() as i64)? > 0 {
        let parts = socket.recv_multipart(0)?;
        let topic = parts.first().map(|t| String::from_utf8_lossy(t).into_owned());
        return Ok(Probe::Subscribed(topic));
    }
    Ok(Probe::Subscribed(None))
}
