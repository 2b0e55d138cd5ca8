//! A local HTTP server playing the public rate APIs the shipped rate-source plugins read
//! (Kraken's `Ticker`, Coinbase's `exchange-rates`, the ECB's daily XML), in their real
//! response formats, with rates and failures the test sets while it runs. Nothing reaches the
//! internet: the daemon's sources get this server as their `base_url`.

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Which API a request is for, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Api {
    Kraken,
    Coinbase,
    Ecb,
}

#[derive(Debug, Default)]
struct Book {
    /// Per API: `BASE_QUOTE` → rate text.
    rates: BTreeMap<Api, BTreeMap<String, String>>,
    /// Per API: answer this status with an error body instead.
    failing: BTreeMap<Api, u16>,
    /// Requests served, per API.
    hits: BTreeMap<Api, usize>,
    /// The ECB's reference date (`YYYY-MM-DD`).
    ecb_date: String,
}

/// The running server; stops when dropped.
#[derive(Debug)]
pub struct RateApi {
    pub port: u16,
    book: Arc<Mutex<Book>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RateApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RateApi {
    pub async fn start() -> Self {
        let today = time::OffsetDateTime::now_utc().date();
        let book = Arc::new(Mutex::new(Book { ecb_date: today.to_string(), ..Book::default() }));
        let app = axum::Router::new().fallback(serve).with_state(book.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind rate api");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { port, book, task }
    }

    /// The base URL every source of this server takes.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Quotes `pair` (`BTC_USD`) at `rate` on `api` (for the ECB: `EUR_X` only).
    pub fn set(&self, api: Api, pair: &str, rate: &str) {
        self.book.lock().unwrap().rates.entry(api).or_default().insert(pair.to_string(), rate.to_string());
    }

    /// `api` answers `status` (with its error body) until [`RateApi::heal`].
    pub fn fail(&self, api: Api, status: u16) {
        self.book.lock().unwrap().failing.insert(api, status);
    }

    pub fn heal(&self, api: Api) {
        self.book.lock().unwrap().failing.remove(&api);
    }

    /// Requests `api` served so far.
    pub fn hits(&self, api: Api) -> usize {
        self.book.lock().unwrap().hits.get(&api).copied().unwrap_or(0)
    }
}

fn api_of(path: &str) -> Option<Api> {
    if path.contains("/0/public/Ticker") {
        Some(Api::Kraken)
    } else if path.contains("/v2/exchange-rates") {
        Some(Api::Coinbase)
    } else if path.contains("eurofxref") {
        Some(Api::Ecb)
    } else {
        None
    }
}

async fn serve(State(book): State<Arc<Mutex<Book>>>, uri: Uri, RawQuery(query): RawQuery) -> Response {
    let Some(api) = api_of(uri.path()) else { return (StatusCode::NOT_FOUND, "no such api").into_response() };
    let mut b = book.lock().unwrap();
    *b.hits.entry(api).or_default() += 1;
    let rates = b.rates.get(&api).cloned().unwrap_or_default();
    if let Some(status) = b.failing.get(&api).copied() {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, [("content-type", "text/html")], "<html><body>upstream failure</body></html>").into_response();
    }
    let query = query.unwrap_or_default();
    match api {
        Api::Kraken => json(kraken(&rates)),
        Api::Coinbase => {
            let base = query.split('&').find_map(|kv| kv.strip_prefix("currency=")).unwrap_or("").to_string();
            json(coinbase(&base, &rates))
        }
        Api::Ecb => ([("content-type", "text/xml")], ecb(&b.ecb_date, &rates)).into_response(),
    }
}

fn json(v: serde_json::Value) -> Response {
    ([("content-type", "application/json")], v.to_string()).into_response()
}

/// Kraken's `Ticker` result: every quoted pair under its legacy key (`XXBTZUSD`), ask = bid =
/// the rate (so the mid is the rate exactly).
fn kraken(rates: &BTreeMap<String, String>) -> serde_json::Value {
    let code = |c: &str| match c {
        "BTC" => "XXBT".to_string(),
        "ETH" => "XETH".to_string(),
        "USD" | "EUR" | "GBP" | "JPY" | "CAD" => format!("Z{c}"),
        other => other.to_string(),
    };
    let mut result = serde_json::Map::new();
    for (pair, rate) in rates {
        let (b, q) = pair.split_once('_').expect("BASE_QUOTE");
        result.insert(
            format!("{}{}", code(b), code(q)),
            serde_json::json!({
                "a": [rate, "1", "1.000"], "b": [rate, "1", "1.000"], "c": [rate, "0.01"],
                "v": ["1.0", "2.0"], "p": [rate, rate], "t": [10, 20], "l": [rate, rate], "h": [rate, rate], "o": rate,
            }),
        );
    }
    serde_json::json!({"error": [], "result": result})
}

/// Coinbase's `exchange-rates` for one base.
fn coinbase(base: &str, rates: &BTreeMap<String, String>) -> serde_json::Value {
    let mut quoted = serde_json::Map::new();
    for (pair, rate) in rates {
        if let Some(q) = pair.strip_prefix(&format!("{base}_")) {
            quoted.insert(q.to_string(), serde_json::Value::String(rate.clone()));
        }
    }
    serde_json::json!({"data": {"currency": base, "rates": quoted}})
}

/// The ECB's `eurofxref-daily.xml` with the `EUR_X` rates.
fn ecb(date: &str, rates: &BTreeMap<String, String>) -> String {
    let cubes: String = rates
        .iter()
        .filter_map(|(pair, rate)| {
            pair.strip_prefix("EUR_").map(|c| format!("\t\t\t<Cube currency='{c}' rate='{rate}'/>\n"))
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gesmes:Envelope xmlns:gesmes=\"http://www.gesmes.org/xml/2002-08-01\" xmlns=\"http://www.ecb.int/vocabulary/2002-08-01/eurofxref\">\n\t<gesmes:subject>Reference rates</gesmes:subject>\n\t<gesmes:Sender>\n\t\t<gesmes:name>European Central Bank</gesmes:name>\n\t</gesmes:Sender>\n\t<Cube>\n\t\t<Cube time='{date}'>\n{cubes}\t\t</Cube>\n\t</Cube>\n</gesmes:Envelope>\n"
    )
}
