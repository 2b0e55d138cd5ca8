//! Prometheus metrics (prometheus-client), rendered at `/metrics`. Every metric is explained in
//! `docs/metrics.md`. Made first in `run_with`; followers get a [`ChainMetrics`] per chain, the
//! dispatcher an [`EndpointMetrics`] per endpoint, the store an [`EventCounter`].

mod chain;
mod endpoint;

pub(crate) use chain::{ChainMetrics, SyncFailure, Verified};
pub(crate) use endpoint::EndpointMetrics;

use axum::http::Method;
use paywatch_plugin_api::events::EventKind;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

type Labels = Vec<(&'static str, String)>;
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    http_requests: Family<Labels, Counter>,
    http_seconds: HistogramFamily,
    pub(crate) watches_created: Counter,
    pub(crate) outbox_last_seq: Gauge<u64, AtomicU64>,
    /// `GET /v1/events?wait=` requests waiting now, per store.
    long_polls_waiting: Family<Labels, Gauge>,
    /// Checkout status streams open now, and the invoices they show.
    pub(crate) checkout_streams: Gauge,
    pub(crate) checkout_invoices: Gauge,
    /// RocksDB's memory under `storage.memory_budget`: held now, the memtables' share, the
    /// budget.
    pub(crate) rocksdb_memory: Gauge,
    pub(crate) rocksdb_memtables: Gauge,
    pub(crate) rocksdb_memory_budget: Gauge,
    /// RocksDB on disk: SST files, write-ahead log, estimated live data.
    pub(crate) rocksdb_sst: Gauge,
    pub(crate) rocksdb_wal: Gauge,
    pub(crate) rocksdb_live: Gauge,
    chains: ChainFamilies,
    endpoints: EndpointFamilies,
    events: EventCounter,
}

type GaugeFamily = Family<Labels, Gauge>;
type CounterFamily = Family<Labels, Counter>;
type F64Gauge = Gauge<f64, AtomicU64>;
type F64GaugeFamily = Family<Labels, F64Gauge>;

#[derive(Debug)]
struct ChainFamilies {
    local_tip: GaugeFamily,
    node_tip: GaugeFamily,
    connected: CounterFamily,
    disconnected: CounterFamily,
    reorg_depth: HistogramFamily,
    deepest_reorg: GaugeFamily,
    last_block_time: GaugeFamily,
    failures: CounterFamily,
    stopped: GaugeFamily,
    feed_up: GaugeFamily,
    feed_messages: CounterFamily,
    feed_gaps: CounterFamily,
    verify_failures: CounterFamily,
}

#[derive(Debug)]
struct EndpointFamilies {
    pending: GaugeFamily,
    oldest_age: F64GaugeFamily,
    attempts: CounterFamily,
    latency: HistogramFamily,
    /// Every endpoint's handles, and its age gauge (set from them at each scrape).
    made: Mutex<HashMap<Labels, (EndpointMetrics, F64Gauge)>>,
}

/// Events committed to the outbox, counted by the store's writer: all of them by type, and the
/// invoice status transitions among them by new status.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventCounter {
    events: CounterFamily,
    transitions: CounterFamily,
}

impl EventCounter {
    pub(crate) fn committed(&self, store: &str, kind: EventKind) {
        let labels = vec![("store", store.to_string()), ("type", kind.as_str().to_string())];
        self.events.get_or_create(&labels).inc();
        if let Some(status) = new_status(kind) {
            self.transitions.get_or_create(&vec![("store", store.to_string()), ("status", status.into())]).inc();
        }
    }
}

/// The status an invoice event moves its invoice to; `None` for events that keep the status
/// (a payment detected or reversed, paid late).
fn new_status(kind: EventKind) -> Option<&'static str> {
    match kind {
        EventKind::InvoiceCreated => Some("new"),
        EventKind::InvoiceProcessing => Some("processing"),
        EventKind::InvoiceSettled => Some("settled"),
        EventKind::InvoiceExpired => Some("expired"),
        EventKind::InvoiceInvalid => Some("invalid"),
        _ => None,
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The label of a request method: the standard ones by name, anything else `other`.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ];
    KNOWN.iter().find(|m| *m == method).map_or("other", Method::as_str)
}

impl ChainFamilies {
    fn register(r: &mut Registry) -> Self {
        let blocks = Unit::Other("blocks".into());
        let c = Self {
            local_tip: Family::default(),
            node_tip: Family::default(),
            connected: Family::default(),
            disconnected: Family::default(),
            reorg_depth: Family::new_with_constructor(chain::reorg_histogram),
            deepest_reorg: Family::default(),
            last_block_time: Family::default(),
            failures: Family::default(),
            stopped: Family::default(),
            feed_up: Family::default(),
            feed_messages: Family::default(),
            feed_gaps: Family::default(),
            verify_failures: Family::default(),
        };
        r.register("chain_local_tip_height", "Height of the chain's local tip", c.local_tip.clone());
        r.register(
            "chain_node_tip_height",
            "Height of the node's best block, as it last reported it",
            c.node_tip.clone(),
        );
        r.register("chain_blocks_connected", "Blocks connected to the local chain", c.connected.clone());
        r.register(
            "chain_blocks_disconnected",
            "Blocks disconnected from the local chain by reorgs",
            c.disconnected.clone(),
        );
        r.register_with_unit(
            "chain_reorg_depth",
            "Reorgs, by blocks disconnected",
            blocks.clone(),
            c.reorg_depth.clone(),
        );
        r.register_with_unit("chain_deepest_reorg", "Deepest reorg since the start", blocks, c.deepest_reorg.clone());
        r.register_with_unit(
            "chain_last_block_timestamp",
            "Header time of the last block connected (unix); 0 until one is connected after the start",
            Unit::Seconds,
            c.last_block_time.clone(),
        );
        r.register("chain_sync_failures", "Failed syncs and follower runs, by kind", c.failures.clone());
        r.register(
            "chain_stopped",
            "1 when following stopped on a fatal error until an operator acts",
            c.stopped.clone(),
        );
        r.register("chain_feed_up", "1 while the feed (zmq or websocket newHeads) is connected", c.feed_up.clone());
        r.register("chain_feed_messages", "Messages received from the feed", c.feed_messages.clone());
        r.register("chain_feed_gaps", "Sequence gaps in the feed (messages lost)", c.feed_gaps.clone());
        r.register(
            "chain_verification_failures",
            "Blocks refused by verification, and feed transactions the node did not confirm",
            c.verify_failures.clone(),
        );
        c
    }
}

impl EndpointFamilies {
    fn register(r: &mut Registry) -> Self {
        let e = Self {
            pending: Family::default(),
            oldest_age: Family::default(),
            attempts: Family::default(),
            latency: Family::new_with_constructor(endpoint::latency_histogram),
            made: Mutex::default(),
        };
        r.register("endpoint_pending_deliveries", "Deliveries taken in and not yet ended", e.pending.clone());
        r.register_with_unit(
            "endpoint_oldest_pending_delivery_age",
            "Age of the event of the oldest pending delivery; 0 when none is pending",
            Unit::Seconds,
            e.oldest_age.clone(),
        );
        r.register("endpoint_delivery_attempts", "Delivery attempts, by verdict", e.attempts.clone());
        r.register_with_unit(
            "endpoint_delivery_duration",
            "Time of one delivery attempt (render, send, classify)",
            Unit::Seconds,
            e.latency.clone(),
        );
        e
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("paywatch");
        registry.register("build", "Build information", Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]));
        let http_requests = Family::<Labels, Counter>::default();
        registry.register("http_requests", "API requests by method, route and status", http_requests.clone());
        let http_seconds: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register("http_request_duration_seconds", "API request latency by route", http_seconds.clone());
        let watches_created = Counter::default();
        registry.register("watches_created", "Watches created through the API", watches_created.clone());
        let outbox_last_seq = Gauge::<u64, AtomicU64>::default();
        registry.register("outbox_last_seq", "Sequence number of the newest event", outbox_last_seq.clone());
        let long_polls_waiting = Family::<Labels, Gauge>::default();
        registry.register("long_polls_waiting", "Event long-polls waiting, per store", long_polls_waiting.clone());
        let checkout_streams = Gauge::default();
        registry.register("checkout_streams_open", "Checkout pages' status streams open", checkout_streams.clone());
        let checkout_invoices = Gauge::default();
        registry.register(
            "checkout_invoices_open",
            "Invoices with a checkout page streaming",
            checkout_invoices.clone(),
        );
        let rocksdb_memory = Gauge::default();
        registry.register_with_unit(
            "rocksdb_memory",
            "RocksDB's memtables and cached blocks, under storage.memory_budget",
            prometheus_client::registry::Unit::Bytes,
            rocksdb_memory.clone(),
        );
        let rocksdb_memtables = Gauge::default();
        registry.register_with_unit(
            "rocksdb_memtables",
            "RocksDB's memtables (their share of rocksdb_memory_bytes)",
            prometheus_client::registry::Unit::Bytes,
            rocksdb_memtables.clone(),
        );
        let rocksdb_memory_budget = Gauge::default();
        registry.register_with_unit(
            "rocksdb_memory_budget",
            "storage.memory_budget",
            prometheus_client::registry::Unit::Bytes,
            rocksdb_memory_budget.clone(),
        );
        let bytes = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register_with_unit(name, help, Unit::Bytes, g.clone());
            g
        };
        let rocksdb_sst = bytes(&mut registry, "rocksdb_sst_files", "RocksDB's SST files on disk, every column family");
        let rocksdb_wal = bytes(&mut registry, "rocksdb_wal", "RocksDB's write-ahead log files on disk");
        let rocksdb_live =
            bytes(&mut registry, "rocksdb_live_data", "RocksDB's estimate of its live data, every column family");
        let chains = ChainFamilies::register(&mut registry);
        let endpoints = EndpointFamilies::register(&mut registry);
        let events = EventCounter::default();
        registry.register("events", "Events committed to the outbox, by store and type", events.events.clone());
        registry.register(
            "invoice_transitions",
            "Invoice status transitions committed, by store and new status",
            events.transitions.clone(),
        );
        Self {
            registry,
            http_requests,
            http_seconds,
            watches_created,
            outbox_last_seq,
            long_polls_waiting,
            checkout_streams,
            checkout_invoices,
            rocksdb_memory,
            rocksdb_memtables,
            rocksdb_memory_budget,
            rocksdb_sst,
            rocksdb_wal,
            rocksdb_live,
            chains,
            endpoints,
            events,
        }
    }

    /// The handles of chain `name`'s metrics (every failure kind and the feed's series made
    /// now, at 0, so that rates and alerts see them from the start). `feed` is `zmq` or
    /// `websocket`.
    pub(crate) fn chain(&self, name: &str, feed: &'static str) -> ChainMetrics {
        let c = &self.chains;
        let l = vec![("chain", name.to_string())];
        let with = |k: &'static str, v: &str| vec![("chain", name.to_string()), (k, v.to_string())];
        let f = with("feed", feed);
        ChainMetrics {
            local_tip: c.local_tip.get_or_create(&l).clone(),
            node_tip: c.node_tip.get_or_create(&l).clone(),
            connected: c.connected.get_or_create(&l).clone(),
            disconnected: c.disconnected.get_or_create(&l).clone(),
            reorg_depth: chain::ReorgDepths(c.reorg_depth.get_or_create(&l).clone()),
            deepest_reorg: c.deepest_reorg.get_or_create(&l).clone(),
            last_block_time: c.last_block_time.get_or_create(&l).clone(),
            failures: SyncFailure::ALL.map(|k| c.failures.get_or_create(&with("kind", k.as_str())).clone()),
            stopped: c.stopped.get_or_create(&l).clone(),
            feed_up: c.feed_up.get_or_create(&f).clone(),
            feed_messages: c.feed_messages.get_or_create(&f).clone(),
            feed_gaps: c.feed_gaps.get_or_create(&f).clone(),
            verify_failures: ["block", "tx"].map(|w| c.verify_failures.get_or_create(&with("what", w)).clone()),
        }
    }

    /// The handles of endpoint `id`'s metrics (of `store`), made on first use.
    pub(crate) fn endpoint(&self, store: &str, id: &str) -> EndpointMetrics {
        let e = &self.endpoints;
        let l = vec![("store", store.to_string()), ("endpoint", id.to_string())];
        let mut made = e.made.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((m, _)) = made.get(&l) {
            return m.clone();
        }
        let with = |v: &str| {
            let mut l = l.clone();
            l.push(("verdict", v.to_string()));
            l
        };
        let m = EndpointMetrics {
            pending: e.pending.get_or_create(&l).clone(),
            oldest_pending: Default::default(),
            attempts: endpoint::VERDICTS.map(|v| e.attempts.get_or_create(&with(v)).clone()),
            latency: e.latency.get_or_create(&l).clone(),
        };
        made.insert(l.clone(), (m.clone(), e.oldest_age.get_or_create(&l).clone()));
        m
    }

    /// Forgets endpoint `id`'s series (its worker stopped: the endpoint was deleted or
    /// disabled), so that a gone endpoint's last backlog does not alert for ever.
    pub(crate) fn drop_endpoint(&self, store: &str, id: &str) {
        let e = &self.endpoints;
        let l = vec![("store", store.to_string()), ("endpoint", id.to_string())];
        e.made.lock().unwrap_or_else(|p| p.into_inner()).remove(&l);
        e.pending.remove(&l);
        e.oldest_age.remove(&l);
        e.latency.remove(&l);
        for v in endpoint::VERDICTS {
            let mut with = l.clone();
            with.push(("verdict", v.to_string()));
            e.attempts.remove(&with);
        }
    }

    /// What the store's writer counts events with.
    pub(crate) fn events(&self) -> EventCounter {
        self.events.clone()
    }

    /// Counts a request. The method label is one of the standard methods or `other`: any
    /// token is a valid method, and each new label would be kept for good.
    pub(crate) fn observe_http(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        let labels = vec![
            ("method", method_label(method).to_string()),
            ("route", route.to_string()),
            ("status", status.to_string()),
        ];
        self.http_requests.get_or_create(&labels).inc();
        let labels = vec![("route", route.to_string())];
        self.http_seconds.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    /// Sets how many long-polls `store` has waiting.
    pub(crate) fn set_long_polls_waiting(&self, store: &str, n: usize) {
        self.long_polls_waiting.get_or_create(&vec![("store", store.to_string())]).set(n as i64);
    }

    pub(crate) fn render(&self) -> Result<String, std::fmt::Error> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        for (m, age) in self.endpoints.made.lock().unwrap_or_else(|p| p.into_inner()).values() {
            age.set(m.age(now));
        }
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_prometheus_text() {
        let m = super::Metrics::new();
        m.observe_http(&axum::http::Method::GET, "/v1/watches", 200, std::time::Duration::from_millis(3));
        m.watches_created.inc_by(2);
        let text = m.render().unwrap();
        assert!(
            text.contains(r#"paywatch_http_requests_total{method="GET",route="/v1/watches",status="200"} 1"#),
            "{text}"
        );
        assert!(text.contains("paywatch_watches_created_total 2"), "{text}");
        assert!(text.contains("paywatch_build_info{version="), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let m = super::Metrics::new();
        for i in 0..100 {
            let method = axum::http::Method::from_bytes(format!("M{i}").as_bytes()).unwrap();
            m.observe_http(&method, "unmatched", 405, std::time::Duration::from_millis(1));
        }
        m.observe_http(&axum::http::Method::PATCH, "unmatched", 405, std::time::Duration::from_millis(1));
        let text = m.render().unwrap();
        assert!(
            text.contains(r#"paywatch_http_requests_total{method="other",route="unmatched",status="405"} 100"#),
            "{text}"
        );
        assert!(text.contains(r#"method="PATCH""#), "{text}");
        assert!(!text.contains("M1"), "{text}");
    }

    /// A registry with every series made: a chain, an endpoint, events, requests.
    fn busy() -> super::Metrics {
        let m = super::Metrics::new();
        let c = m.chain("btc", "zmq");
        c.connected(7, 1_700_000_000);
        c.disconnected(6);
        c.reorg(1);
        c.node_tip(7);
        c.failed(super::SyncFailure::Rpc);
        c.feed_message();
        c.verify_failed(super::Verified::Tx);
        let e = m.endpoint("shop1", "0190a0a0-0000-7000-8000-000000000000");
        e.taken_in(3);
        e.ended();
        e.oldest_pending(Some(time::OffsetDateTime::now_utc().unix_timestamp() - 60));
        e.attempt("retry", 0.2);
        m.events().committed("shop1", super::EventKind::InvoiceSettled);
        m.events().committed("shop1", super::EventKind::PaymentDetected);
        m.observe_http(&axum::http::Method::GET, "/v1/invoices", 200, std::time::Duration::from_millis(3));
        m.set_long_polls_waiting("shop1", 0);
        m
    }

    #[test]
    fn a_dropped_endpoint_renders_no_more() {
        let m = super::Metrics::new();
        m.endpoint("shop1", "e1").attempt("ack", 0.1);
        m.endpoint("shop1", "e2").taken_in(1);
        m.drop_endpoint("shop1", "e1");
        let text = m.render().unwrap();
        assert!(!text.contains(r#"endpoint="e1""#), "{text}");
        assert!(text.contains(r#"paywatch_endpoint_pending_deliveries{store="shop1",endpoint="e2"} 1"#), "{text}");
    }

    #[test]
    fn chains_endpoints_and_events_render_with_their_labels() {
        let text = busy().render().unwrap();
        for line in [
            r#"paywatch_chain_local_tip_height{chain="btc"} 6"#,
            r#"paywatch_chain_node_tip_height{chain="btc"} 7"#,
            r#"paywatch_chain_blocks_connected_total{chain="btc"} 1"#,
            r#"paywatch_chain_blocks_disconnected_total{chain="btc"} 1"#,
            r#"paywatch_chain_deepest_reorg_blocks{chain="btc"} 1"#,
            r#"paywatch_chain_reorg_depth_blocks_count{chain="btc"} 1"#,
            r#"paywatch_chain_last_block_timestamp_seconds{chain="btc"} 1700000000"#,
            r#"paywatch_chain_sync_failures_total{chain="btc",kind="rpc"} 1"#,
            r#"paywatch_chain_sync_failures_total{chain="btc",kind="panic"} 0"#,
            r#"paywatch_chain_feed_up{chain="btc",feed="zmq"} 0"#,
            r#"paywatch_chain_feed_messages_total{chain="btc",feed="zmq"} 1"#,
            r#"paywatch_chain_feed_gaps_total{chain="btc",feed="zmq"} 0"#,
            r#"paywatch_chain_verification_failures_total{chain="btc",what="tx"} 1"#,
            r#"paywatch_chain_stopped{chain="btc"} 0"#,
            r#"paywatch_endpoint_pending_deliveries{store="shop1",endpoint="0190a0a0-0000-7000-8000-000000000000"} 2"#,
            r#"paywatch_endpoint_delivery_attempts_total{store="shop1",endpoint="0190a0a0-0000-7000-8000-000000000000",verdict="retry"} 1"#,
            r#"paywatch_endpoint_delivery_attempts_total{store="shop1",endpoint="0190a0a0-0000-7000-8000-000000000000",verdict="ack"} 0"#,
            r#"paywatch_endpoint_delivery_duration_seconds_count{store="shop1",endpoint="0190a0a0-0000-7000-8000-000000000000"} 1"#,
            r#"paywatch_invoice_transitions_total{store="shop1",status="settled"} 1"#,
            r#"paywatch_events_total{store="shop1",type="payment.detected"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        // The age is computed at the scrape: about a minute.
        let age = text
            .lines()
            .find(|l| l.starts_with("paywatch_endpoint_oldest_pending_delivery_age_seconds{"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap();
        assert!((60.0..3600.0).contains(&age), "{age}");
        assert!(!text.contains(r#"status="payment.detected""#), "only status transitions: {text}");
    }

    /// The names a text uses: `paywatch_` and what follows of `[a-z0-9_]`.
    fn names(text: &str) -> std::collections::BTreeSet<&str> {
        let mut out = std::collections::BTreeSet::new();
        for (i, _) in text.match_indices("paywatch_") {
            let rest = &text[i..];
            let end =
                rest.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')).unwrap_or(rest.len());
            out.insert(&rest[..end]);
        }
        out
    }

    /// The dashboard parses, and every metric it, the alert rules and the docs name is one the
    /// daemon renders (a sample's name: with `_total`, `_bucket`… where the type adds them).
    #[test]
    fn the_dashboard_alerts_and_docs_name_only_exported_metrics() {
        let text = busy().render().unwrap();
        let samples: std::collections::BTreeSet<&str> =
            text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split(['{', ' ']).next()).collect();
        // A histogram is named by its stem (its samples add `_bucket`, `_sum`, `_count`).
        let stem = |n: &str| {
            let s = n.strip_suffix("_bucket").or(n.strip_suffix("_sum")).or(n.strip_suffix("_count"))?;
            samples.contains(format!("{s}_bucket").as_str()).then(|| s.to_string())
        };
        let metrics: std::collections::BTreeSet<String> =
            samples.iter().map(|n| stem(n).unwrap_or_else(|| n.to_string())).collect();
        let known = |n: &str| samples.contains(n) || metrics.contains(n);
        let dashboard = include_str!("../../packaging/grafana/paywatch.json");
        let parsed: serde_json::Value = serde_json::from_str(dashboard).unwrap();
        assert!(parsed["panels"].as_array().is_some_and(|p| p.len() >= 10), "panels");
        let alerts = include_str!("../../packaging/prometheus/alerts.yml");
        let docs = include_str!("../../docs/metrics.md");
        for (file, used) in [("dashboard", names(dashboard)), ("alerts", names(alerts)), ("docs", names(docs))] {
            assert!(used.len() > 5, "{file}: {used:?}");
            let unknown: Vec<_> = used.iter().filter(|n| !known(n)).collect();
            assert!(unknown.is_empty(), "{file} names metrics the daemon does not export: {unknown:?}");
        }
        // And the docs explain every metric.
        let documented = names(docs);
        let missing: Vec<_> = metrics.iter().filter(|n| !documented.contains(n.as_str())).collect();
        assert!(missing.is_empty(), "docs/metrics.md does not explain {missing:?}");
    }
}
