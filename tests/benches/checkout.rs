//! The checkout page and its live status against the real daemon binary (the release
//! `paywatch`, run as a child process, as `dispatch_backlog` does; the release plugins, as
//! `invoices` does), on the test config's placeholder chains: no node is needed to make an
//! invoice (addresses derived from a descriptor and two xpubs, priced in USD at fixed rates)
//! nor to cancel it, and a cancel emits `invoice.invalid`, an invoice event the checkout hub
//! fans out to every open page of it. Prints figures; asserts nothing about speed.
//!
//! 1. the page: time to first byte of `GET /i/{id}` on one keep-alive connection, and the
//!    bytes of a first load (HTML, CSS, JS, the shown method's QR code);
//! 2. 5,000 status streams (`GET /i/{id}/events`) on one invoice: the daemon's memory per
//!    stream, and the time from the cancel request to each stream receiving `cancelled`;
//! 3. 5,000 streams over 500 invoices (10 each), all 500 cancelled at once;
//! 4. the daemon's memory once the streams are closed.
//!
//!     cargo bench --workspace --bench cli --bench checkout
//!
//! (`--bench cli`, the daemon package's, makes cargo build the release binary this one runs.)
// A benchmark prints its figures.
#![allow(clippy::print_stdout)]

use anyhow::{bail, ensure, Context, Result};
use futures::StreamExt;
use paywatch_tests::bench::{percentiles, rss_of_pid};
use paywatch_tests::daemon::{test_config, Daemon, ADMIN_KEY};
use paywatch_tests::sse::Sse;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

const KEY: &str = "shop_bench_Xw8ZkqL2vRt5NpH7yJc3FmD9aG";
/// Status streams held open at once.
const STREAMS: usize = 5_000;
/// Invoices the streams of the third figure are spread over.
const INVOICES: usize = 500;
/// Sequential page requests timed (after `PAGE_WARM_UP`).
const PAGE_RUNS: usize = 200;
const PAGE_WARM_UP: usize = 20;
/// Rounds of the one-invoice fan-out, each way of reading.
const ROUNDS: usize = 3;
/// Streams being opened at once (the rest wait their turn, as a listen backlog would not).
const OPENING: usize = 64;
/// The longest any step may take before the bench gives up.
const WAIT: Duration = Duration::from_secs(120);
/// What a stream's status carries once its invoice is cancelled (compact JSON).
const CANCELLED: &str = r#""state":"cancelled""#;

/// The invoice bench's three assets, fixed rates and store; limits raised so that one client
/// (this process, 127.0.0.1) may hold 5,000 streams, and a log at `info` (the test config logs
/// every request at `debug`).
fn config(dir: &std::path::Path, port: u16) -> String {
    let mut extra = paywatch_tests::bench::three_methods(KEY, "name = \"Bench Shop\"");
    extra.push_str(
        r#"
[checkout]
max_streams = 11000
max_streams_per_client = 11000
max_streams_per_invoice = 10000
per_second = 100000
burst = 1000000
"#,
    );
    let base = test_config(dir, port, &extra);
    let server = "max_body_bytes = 65536\n";
    let log = r#"log_filter = "info,paywatch=debug""#;
    assert!(base.contains(server) && base.contains(log), "the test config changed: {base}");
    // The requests one client has handled at once stay at their default (64): a burst of
    // cancels waits its turn in the daemon, as a shop's would.
    let limits = "max_connections = 12000\nmax_connections_per_client = 12000\npublic_per_second = 100000\n\
                  public_burst = 100000\n";
    base.replace(server, &format!("{server}{limits}")).replace(log, r#"log_filter = "info""#)
}

static NEXT: AtomicU64 = AtomicU64::new(1);

struct Bench {
    daemon: Daemon,
    pid: u32,
    addr: SocketAddr,
    /// Pooled keep-alive connections for the API calls (idle ones dropped well before the
    /// daemon's 10 s header-read timeout would close them under a request).
    http: reqwest::Client,
}

impl Bench {
    /// A new invoice of 25 USD payable in BTC, ETH or USDT.
    async fn invoice(&self) -> Value {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let body = json!({"currency": "USD", "amount": "25.00", "order_id": format!("co-{n}"),
            "redirect_url": "https://shop.example/thanks"});
        let r = self.http.post(self.daemon.url("/v1/invoices")).bearer_auth(KEY).json(&body).send().await;
        let r = r.unwrap_or_else(|e| panic!("POST /v1/invoices: {e}"));
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 201, "POST /v1/invoices: {v}");
        assert_eq!(v["payment_methods"].as_array().map(Vec::len), Some(3), "three payment methods: {v}");
        v
    }

    /// Cancels invoice `id` (its `invoice.invalid` is committed before the answer).
    async fn cancel(&self, id: &str) {
        let url = self.daemon.url(&format!("/v1/invoices/{id}/cancel"));
        let r = self.http.post(url).bearer_auth(KEY).send().await.unwrap_or_else(|e| panic!("cancel {id}: {e}"));
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status == 200 && v["status"] == "invalid", "cancel {id}: {status} {v}");
    }

    /// A gauge of `/metrics`.
    async fn gauge(&self, name: &str) -> i64 {
        let r = self.daemon.req(reqwest::Method::GET, "/metrics", ADMIN_KEY).send().await;
        let text = r.unwrap_or_else(|e| panic!("GET /metrics: {e}")).text().await.unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no gauge {name} in /metrics:\n{text}"))
    }

    /// Waits until `/metrics` counts `n` status streams open; how long that took.
    async fn wait_streams(&self, n: i64) -> Duration {
        let started = Instant::now();
        loop {
            let open = self.gauge("paywatch_checkout_streams_open").await;
            if open == n {
                return started.elapsed();
            }
            assert!(started.elapsed() < WAIT, "the daemon counts {open} status streams open, not {n}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The daemon's resident memory, in MB, once it has had a moment to settle.
    async fn rss_mb(&self) -> f64 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_of_pid(self.pid) as f64 / (1024.0 * 1024.0)
    }
}

/// CPU time of every thread of process `pid` (`self` for this one) so far, in ms.
fn cpu_ms(pid: &str) -> f64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap_or_else(|e| panic!("/proc/{pid}/task: {e}"));
    let ns: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next().and_then(|ns| ns.parse::<u64>().ok()))
        .sum();
    ns as f64 / 1e6
}

/// Threads of process `pid`.
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One HTTP/1.1 connection kept alive, timing each response's first byte.
struct KeepAlive {
    tcp: TcpStream,
    host: String,
}

/// A response and its timing.
struct Got {
    status: u16,
    /// Bytes of the status line and headers.
    head: usize,
    body: Vec<u8>,
    /// From writing the request to the first byte of the response, and to its last.
    first_byte: Duration,
    whole: Duration,
}

impl KeepAlive {
    async fn connect(addr: SocketAddr) -> Result<Self> {
        let tcp = TcpStream::connect(addr).await.with_context(|| format!("connect {addr}"))?;
        tcp.set_nodelay(true)?;
        Ok(Self { tcp, host: addr.to_string() })
    }

    async fn get(&mut self, path: &str) -> Result<Got> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\n\r\n", self.host);
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut chunk = vec![0u8; 64 * 1024];
        let started = Instant::now();
        self.tcp.write_all(req.as_bytes()).await?;
        let mut first_byte = None;
        let mut want = None;
        loop {
            let n = self.tcp.read(&mut chunk).await?;
            ensure!(n > 0, "{path}: the daemon closed the connection: {:?}", String::from_utf8_lossy(&buf));
            first_byte.get_or_insert_with(|| started.elapsed());
            buf.extend_from_slice(&chunk[..n]);
            if want.is_none() {
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let Some(len) = head.lines().find_map(|l| l.strip_prefix("content-length:")) else {
                        bail!("{path}: no content-length (a chunked body?): {head}");
                    };
                    want = Some((end + 4, len.trim().parse::<usize>().context("content-length")?));
                }
            }
            if let Some((head, len)) = want {
                if buf.len() >= head + len {
                    ensure!(buf.len() == head + len, "{path}: more than one response");
                    let status = std::str::from_utf8(&buf[9..12]).ok().and_then(|s| s.parse().ok());
                    return Ok(Got {
                        status: status.context("status line")?,
                        head,
                        body: buf.split_off(head),
                        first_byte: first_byte.expect("a byte was read"),
                        whole: started.elapsed(),
                    });
                }
            }
        }
    }
}

/// `attr="…"` of every tag of the HTML that starts with `open` (e.g. `<img class="qr"`), and
/// whether the tag is lazily loaded.
fn tags(html: &str, open: &str, attr: &str) -> Vec<(String, bool)> {
    html.match_indices(open)
        .map(|(at, _)| {
            let tag = &html[at..at + html[at..].find('>').expect("a tag ends")];
            let needle = format!(" {attr}=\"");
            let start = tag.find(&needle).unwrap_or_else(|| panic!("no {attr} in {tag}")) + needle.len();
            let value = &tag[start..start + tag[start..].find('"').expect("a quoted value")];
            (value.replace("&amp;", "&"), tag.contains(r#"loading="lazy""#))
        })
        .collect()
}

/// Figure 1.
async fn page(b: &Bench) {
    let inv = b.invoice().await;
    let id = inv["id"].as_str().expect("an id");
    let path = format!("/i/{id}");
    assert_eq!(inv["checkout_url"], b.daemon.url(&path), "{inv}");
    let mut conn = KeepAlive::connect(b.addr).await.unwrap_or_else(|e| panic!("{e:#}"));
    let mut get = async |p: &str| {
        let got = conn.get(p).await.unwrap_or_else(|e| panic!("GET {p}: {e:#}"));
        assert_eq!(got.status, 200, "GET {p}: {}", String::from_utf8_lossy(&got.body));
        got
    };
    for _ in 0..PAGE_WARM_UP {
        get(&path).await;
    }
    let (mut first, mut whole) = (Vec::new(), Vec::new());
    let mut page = None;
    for _ in 0..PAGE_RUNS {
        let got = get(&path).await;
        first.push(ms(got.first_byte));
        whole.push(ms(got.whole));
        page = Some(got);
    }
    let page = page.expect("a page");
    let html = String::from_utf8(page.body.clone()).expect("UTF-8 HTML");
    let css = tags(&html, r#"<link rel="stylesheet""#, "href");
    let js = tags(&html, "<script src=", "src");
    let qrs = tags(&html, r#"<img class="qr""#, "src");
    assert!(css.len() == 1 && js.len() == 1 && qrs.len() == 3, "the page's assets: {css:?} {js:?} {qrs:?}");
    let shown: Vec<usize> = (0..qrs.len()).filter(|n| !qrs[*n].1).collect();
    assert_eq!(shown, [0], "only the selected method's QR code loads at once: {qrs:?}");
    // The page links relatively (`../checkout/…`, `../i/…`): it is at `/i/{id}`.
    let from_page = |src: &str| src.strip_prefix("..").unwrap_or(src).to_string();
    let (css, js) = (get(&from_page(&css[0].0)).await, get(&from_page(&js[0].0)).await);
    let mut qr = Vec::new();
    for (src, _) in &qrs {
        qr.push(get(&from_page(src)).await);
    }
    let body = page.body.len() + css.body.len() + js.body.len() + qr[0].body.len();
    let heads = page.head + css.head + js.head + qr[0].head;
    println!(
        "1. the page, GET /i/{{id}} (3 methods: BTC, ETH, USDT; priced in USD), {PAGE_RUNS} sequential requests on one \
         keep-alive connection after {PAGE_WARM_UP}:"
    );
    println!("   time to first byte: {}", percentiles(first));
    println!("   whole response:     {}", percentiles(whole));
    println!(
        "   first load: HTML {} B + CSS {} B + JS {} B + the shown method's QR SVG {} B = {body} B ({:.1} KB; goal ≤ 60 KB), \
         bodies uncompressed, + {heads} B of response headers",
        page.body.len(),
        css.body.len(),
        js.body.len(),
        qr[0].body.len(),
        body as f64 / 1024.0
    );
    println!(
        "   the other methods' QR codes (loaded lazily, when switched to): {} B, {} B",
        qr[1].body.len(),
        qr[2].body.len()
    );
}

/// Opens a status stream on each path (`OPENING` at a time), each read up to its first event
/// (the status now, `awaiting`), its later arrivals stamped by the kernel: the streams with
/// their index in `paths`.
async fn open_streams(addr: SocketAddr, paths: &[String]) -> Vec<(usize, Sse)> {
    futures::stream::iter(paths.iter().enumerate())
        .map(|(i, path)| async move {
            let mut s = Sse::connect(addr, path).await.unwrap_or_else(|e| panic!("stream {i} ({path}): {e:#}"));
            let first = s.next(WAIT).await.unwrap_or_else(|e| panic!("stream {i} ({path}): first event: {e:#}"));
            assert!(
                first.event == "status" && first.data["state"] == "awaiting",
                "stream {i} ({path}): first event {first:?}"
            );
            s.stamp_arrivals().unwrap_or_else(|e| panic!("stream {i}: {e:#}"));
            (i, s)
        })
        .buffer_unordered(OPENING)
        .collect()
        .await
}

/// A moment on both clocks: this process's monotonic one, and the realtime one of the
/// kernel's arrival stamps.
#[derive(Debug, Clone, Copy)]
struct At {
    mono: Instant,
    wall: SystemTime,
}

impl At {
    fn now() -> Self {
        Self { mono: Instant::now(), wall: SystemTime::now() }
    }
}

/// How a stream got its invoice's `cancelled` status.
struct Seen {
    /// Its index in the paths it was opened from.
    index: usize,
    /// When its bytes reached the stream's socket (the kernel's stamp).
    arrived: SystemTime,
    /// When this process read it.
    read: Instant,
    /// Open until this is dropped.
    _stream: Sse,
}

/// Reads `s` until its status is `cancelled` (nothing parsed).
async fn cancelled(index: usize, mut s: Sse) -> Seen {
    let arrived = s.until_text(WAIT, CANCELLED).await.unwrap_or_else(|e| panic!("stream {index}: {e:#}"));
    let read = Instant::now();
    Seen { index, arrived: arrived.unwrap_or_else(|| panic!("stream {index}: no arrival stamp")), read, _stream: s }
}

/// A task per stream reading it as events come, until its status is `cancelled`; returns once
/// every task runs.
async fn readers(streams: Vec<(usize, Sse)>) -> Vec<JoinHandle<Seen>> {
    let running = Arc::new(AtomicUsize::new(0));
    let n = streams.len();
    let tasks = streams
        .into_iter()
        .map(|(i, s)| {
            let running = running.clone();
            tokio::spawn(async move {
                running.fetch_add(1, Ordering::SeqCst);
                cancelled(i, s).await
            })
        })
        .collect();
    let started = Instant::now();
    while running.load(Ordering::SeqCst) < n {
        assert!(started.elapsed() < WAIT, "only {} of {n} stream tasks run", running.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Let every task reach its first read before anything is sent.
    tokio::time::sleep(Duration::from_millis(200)).await;
    tasks
}

async fn join<T>(tasks: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap_or_else(|e| panic!("a task: {e}")));
    }
    out
}

/// Milliseconds from `from` to `t` (negative when `t` is earlier).
fn ms_after(t: SystemTime, from: SystemTime) -> f64 {
    match t.duration_since(from) {
        Ok(d) => ms(d),
        Err(e) => -ms(e.duration()),
    }
}

/// Streams opened, and what they cost the daemon.
struct Opened {
    n: usize,
    /// The daemon's RSS before and after, in MB.
    rss: (f64, f64),
    secs: f64,
}

impl Opened {
    fn kb_each(&self) -> f64 {
        (self.rss.1 - self.rss.0) * 1024.0 / self.n as f64
    }

    fn line(&self) -> String {
        let n = self.n;
        format!(
            "{n} streams opened in {:.2} s ({:.0}/s, {OPENING} at a time, each read to its first event): daemon RSS \
             {:.1} MB → {:.1} MB, {:.1} KB per stream",
            self.secs,
            n as f64 / self.secs,
            self.rss.0,
            self.rss.1,
            self.kb_each()
        )
    }
}

/// Opens `paths`' streams (once the daemon counts them all) and weighs them.
async fn open_and_weigh(b: &Bench, paths: &[String]) -> (Vec<(usize, Sse)>, Opened) {
    let before = b.rss_mb().await;
    let started = Instant::now();
    let streams = open_streams(b.addr, paths).await;
    let secs = started.elapsed().as_secs_f64();
    b.wait_streams(paths.len() as i64).await;
    (streams, Opened { n: paths.len(), rss: (before, b.rss_mb().await), secs })
}

/// Streams closed by this process: how long the daemon took to count them closed, and its RSS
/// (MB) before and after.
struct Closed {
    secs: f64,
    rss: (f64, f64),
}

impl Closed {
    fn line(&self, n: usize) -> String {
        format!(
            "{n} streams closed by this process: the daemon counted them closed after {:.2} s; its RSS {:.1} MB → {:.1} MB",
            self.secs, self.rss.0, self.rss.1
        )
    }
}

async fn close(b: &Bench, seen: Vec<Seen>) -> Closed {
    let before = b.rss_mb().await;
    drop(seen);
    let secs = b.wait_streams(0).await.as_secs_f64();
    let watched = b.gauge("paywatch_checkout_invoices_open").await;
    assert_eq!(watched, 0, "the hub still holds invoices of closed pages");
    Closed { secs, rss: (before, b.rss_mb().await) }
}

/// The daemon's and this process's CPU time since `since` (from [`cpu_now`]), in ms.
fn cpu_since(b: &Bench, since: (f64, f64)) -> (f64, f64) {
    let now = cpu_now(b);
    (now.0 - since.0, now.1 - since.1)
}

fn cpu_now(b: &Bench) -> (f64, f64) {
    (cpu_ms(&b.pid.to_string()), cpu_ms("self"))
}

/// Figure 2: `ROUNDS` rounds each way of reading.
async fn one_invoice(b: &Bench) {
    println!(
        "2. SSE fan-out: {STREAMS} status streams on one invoice, then the invoice cancelled (`invoice.invalid`); \
         {ROUNDS} rounds each way, each on a new invoice and new streams:"
    );
    let mut opened = Vec::new();
    let mut closed = Vec::new();
    for live in [true, false] {
        if live {
            println!("   a) read as events come, by {STREAMS} tasks of this process:");
        } else {
            println!(
                "   b) nothing read until the daemon is done (this process only notes the sockets' readiness: the \
                 daemon nearly alone on the cores), then each stream read once:"
            );
        }
        for round in 1..=ROUNDS {
            let (o, c) = one_invoice_round(b, live, round).await;
            opened.push(o);
            closed.push(c);
        }
    }
    let later: Vec<String> = opened[1..].iter().map(|o| format!("{:+.1}", o.kb_each())).collect();
    println!(
        "   memory: the first {}; closed, the RSS stays at {:.1} MB (glibc keeps what was freed), and the next rounds' \
         streams reuse it ({} KB per stream); the daemon counted closed streams closed within {:.2} s",
        opened[0].line(),
        closed[0].rss.1,
        later.join(", "),
        closed.iter().map(|c| c.secs).fold(0.0, f64::max)
    );
}

/// One round of figure 2 (see [`one_invoice`]): `live`, a task per stream reads as events
/// come; else nothing is read until the daemon is done, and the kernel's arrival stamps tell
/// when each stream got its event. Prints a line; the streams' cost.
async fn one_invoice_round(b: &Bench, live: bool, round: usize) -> (Opened, Closed) {
    let inv = b.invoice().await;
    let id = inv["id"].as_str().expect("an id").to_string();
    let paths = vec![format!("/i/{id}/events"); STREAMS];
    let (streams, opened) = open_and_weigh(b, &paths).await;
    let (readers, mut idle) = if live { (readers(streams).await, Vec::new()) } else { (Vec::new(), streams) };
    let cpu = cpu_now(b);
    let sent = At::now();
    b.cancel(&id).await;
    let answered = At::now();
    let (seen, cpu) = if live {
        let seen = join(readers).await;
        (seen, cpu_since(b, cpu))
    } else {
        // The fan-out takes well under half a second: until then this process sleeps.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cpu = cpu_since(b, cpu);
        let seen = futures::stream::iter(idle.drain(..)).map(|(i, s)| cancelled(i, s)).buffer_unordered(256);
        (seen.collect().await, cpu)
    };
    let arrivals: Vec<f64> = seen.iter().map(|s| ms_after(s.arrived, sent.wall)).collect();
    let last_arrival = seen.iter().map(|s| s.arrived).max().expect("streams");
    let read = if live {
        let last_read = seen.iter().map(|s| s.read).max().expect("streams");
        format!(
            "\n         → read by its task: {}; answer → last read {:.2} ms",
            percentiles(seen.iter().map(|s| ms(s.read - sent.mono)).collect()),
            ms(last_read - answered.mono)
        )
    } else {
        String::new()
    };
    println!(
        "      {round}. cancel sent → `cancelled` arrived at the stream's socket (kernel stamp): {}; the cancel answered \
         after {:.2} ms (its event committed before), answer → last arrival {:.2} ms; CPU{}: daemon {:.0} ms, this \
         bench {:.0} ms{read}",
        percentiles(arrivals),
        ms(answered.mono - sent.mono),
        ms_after(last_arrival, answered.wall),
        if live { " until the last read" } else { " in the 0.5 s from the cancel" },
        cpu.0,
        cpu.1,
    );
    (opened, close(b, seen).await)
}

/// Figure 3.
async fn many_invoices(b: &Bench) {
    let per = STREAMS / INVOICES;
    println!(
        "3. SSE fan-out: {STREAMS} status streams over {INVOICES} invoices ({per} each), read as events come by a task \
         each; all {INVOICES} invoices cancelled at once (concurrent requests, one pooled connection each; the daemon \
         handles 64 of one client's at a time)"
    );
    let invoices: Vec<String> = futures::stream::iter(0..INVOICES)
        .map(|_| async { b.invoice().await["id"].as_str().expect("an id").to_string() })
        .buffer_unordered(16)
        .collect()
        .await;
    let paths: Vec<String> = (0..STREAMS).map(|i| format!("/i/{}/events", invoices[i / per])).collect();
    let (streams, opened) = open_and_weigh(b, &paths).await;
    println!("   {}", opened.line());
    // One pooled connection per cancel, opened beforehand: the burst measures the daemon, not
    // 500 TCP handshakes.
    let warm: Vec<u16> = futures::stream::iter(&invoices)
        .map(|id| async move {
            let r = b.http.get(b.daemon.url(&format!("/i/{id}/status"))).send().await;
            r.unwrap_or_else(|e| panic!("GET /i/{id}/status: {e}")).status().as_u16()
        })
        .buffer_unordered(INVOICES)
        .collect()
        .await;
    assert!(warm.iter().all(|s| *s == 200), "public statuses: {warm:?}");
    let readers = readers(streams).await;
    let cpu = cpu_now(b);
    let go = Arc::new(tokio::sync::Barrier::new(INVOICES));
    let cancels: Vec<JoinHandle<(At, At)>> = invoices
        .iter()
        .map(|id| {
            let (go, id) = (go.clone(), id.clone());
            let (http, url) = (b.http.clone(), b.daemon.url(&format!("/v1/invoices/{id}/cancel")));
            tokio::spawn(async move {
                go.wait().await;
                let sent = At::now();
                let r = http.post(url).bearer_auth(KEY).send().await.unwrap_or_else(|e| panic!("cancel {id}: {e}"));
                let answered = At::now();
                let status = r.status();
                let v: Value = r.json().await.unwrap_or(Value::Null);
                assert!(status == 200 && v["status"] == "invalid", "cancel {id}: {status} {v}");
                (sent, answered)
            })
        })
        .collect();
    let cancels = join(cancels).await;
    let seen = join(readers).await;
    let cpu = cpu_since(b, cpu);
    let first_sent = cancels.iter().map(|c| c.0.mono).min().expect("cancels");
    let first_sent_wall = cancels.iter().map(|c| c.0.wall).min().expect("cancels");
    let last_answer = cancels.iter().map(|c| c.1.mono).max().expect("cancels");
    let last_arrival = seen.iter().map(|s| s.arrived).max().expect("streams");
    let of = |s: &Seen| cancels[s.index / per];
    println!(
        "   each cancel request → its answer:                                    {}",
        percentiles(cancels.iter().map(|(s, a)| ms(a.mono - s.mono)).collect())
    );
    println!(
        "   its invoice's cancel sent → `cancelled` arrived at the stream's socket: {}",
        percentiles(seen.iter().map(|s| ms_after(s.arrived, of(s).0.wall)).collect())
    );
    println!(
        "   its invoice's cancel sent → read by the stream's task:                 {}",
        percentiles(seen.iter().map(|s| ms(s.read - of(s).0.mono)).collect())
    );
    println!(
        "   its invoice's cancel answered → arrived at the stream's socket:        {}",
        percentiles(seen.iter().map(|s| ms_after(s.arrived, of(s).1.wall)).collect())
    );
    println!(
        "   the burst: first cancel sent → last answer {:.1} ms, → last arrival {:.1} ms; CPU meanwhile: daemon {:.0} ms, \
         this bench {:.0} ms",
        ms(last_answer - first_sent),
        ms_after(last_arrival, first_sent_wall),
        cpu.0,
        cpu.1
    );
    let n = seen.len();
    println!("   {}", close(b, seen).await.line(n));
}

#[tokio::main]
async fn main() {
    let plugins = paywatch_tests::bench::release_plugins();
    let libs: Vec<_> = ["bitcoin", "ethereum", "erc20"]
        .iter()
        .map(|p| plugins.join(format!("libpaywatch_plugin_{p}.{}", std::env::consts::DLL_EXTENSION)))
        .collect();
    let daemon =
        Daemon::start_configured(config, &libs).await.unwrap_or_else(|e| panic!("the daemon did not start: {e:#}"));
    let pid = daemon.pid().expect("the daemon runs");
    let addr = SocketAddr::from(([127, 0, 0, 1], daemon.port));
    let http = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(5))
        .timeout(WAIT)
        .build()
        .expect("a reqwest client");
    let b = Bench { daemon, pid, addr, http };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start_rss = b.rss_mb().await;
    println!(
        "checkout: the release daemon ({}) as a child process, loopback HTTP, {cores} cores shared with this bench; \
         daemon RSS at start {:.1} MB",
        paywatch_tests::daemon::paywatch_bin().expect("the binary").display(),
        start_rss
    );
    let cpu = cpu_now(&b);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = cpu_since(&b, cpu).0 / 2.0;
    println!("   (the daemon idle uses {idle:.1} ms of CPU per second)");
    page(&b).await;
    one_invoice(&b).await;
    many_invoices(&b).await;
    let (rss, at_close) = (b.rss_mb().await, threads(b.pid));
    // Tokio lets an idle blocking thread go after 10 s.
    tokio::time::sleep(Duration::from_secs(12)).await;
    println!(
        "4. the daemon at the end, every stream closed: RSS {rss:.1} MB with {at_close} threads; 12 s later {:.1} MB with \
         {} threads (idle blocking threads gone); at start it was {start_rss:.1} MB",
        b.rss_mb().await,
        threads(b.pid)
    );
}
