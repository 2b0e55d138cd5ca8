//! Prometheus metrics (prometheus-client), rendered at `/metrics`.

use axum::http::Method;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
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
        }
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
}
