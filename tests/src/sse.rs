//! A minimal Server-Sent Events client over a raw TCP connection, for the checkout pages'
//! status streams: cheap enough that a benchmark holds thousands open. It speaks HTTP/1.0, so
//! the body is the stream itself (no chunked framing), read until the server closes it.

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One event of a stream.
#[derive(Debug, Clone)]
pub struct SseEvent {
    /// `event:` (`message` when absent).
    pub event: String,
    pub id: Option<String>,
    /// `data:`, parsed as JSON (`null` when it is not JSON).
    pub data: Value,
}

/// An open stream.
#[derive(Debug)]
pub struct Sse {
    tcp: TcpStream,
    buf: Vec<u8>,
}

/// What a request for a stream got: the stream, or the status and body of a refusal.
#[derive(Debug)]
pub enum Opened {
    Stream(Box<Sse>),
    Refused { status: u16, headers: String, body: String },
}

impl Sse {
    /// Opens `path` on `addr`; `headers` are extra request lines (`Name: value`).
    pub async fn open(addr: SocketAddr, path: &str, headers: &[&str]) -> Result<Opened> {
        let mut tcp = TcpStream::connect(addr).await.with_context(|| format!("connect {addr}"))?;
        let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
        let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{extra}\r\n");
        tcp.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(at) = find(&buf, b"\r\n\r\n") {
                break at;
            }
            let mut chunk = [0u8; 4096];
            let n = tcp.read(&mut chunk).await?;
            ensure!(n > 0, "{path}: closed before the response head: {:?}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let status: u16 = head.get(9..12).context("status line")?.parse().context("status")?;
        let rest = buf[head_end + 4..].to_vec();
        if status != 200 {
            let mut body = rest;
            let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut body)).await;
            return Ok(Opened::Refused { status, headers: head, body: String::from_utf8_lossy(&body).into() });
        }
        ensure!(head.to_ascii_lowercase().contains("content-type: text/event-stream"), "{path}: not a stream: {head}");
        Ok(Opened::Stream(Box::new(Sse { tcp, buf: rest })))
    }

    /// [`Sse::open`], which must succeed.
    pub async fn connect(addr: SocketAddr, path: &str) -> Result<Sse> {
        match Sse::open(addr, path, &[]).await? {
            Opened::Stream(s) => Ok(*s),
            Opened::Refused { status, body, .. } => bail!("{path}: {status} {body}"),
        }
    }

    /// The next event (comments and keep-alives skipped), waiting at most `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Result<SseEvent> {
        tokio::time::timeout(timeout, self.read_event()).await.context("no event in time")?
    }

    /// Events until one of type `status` whose data satisfies `done`; returns it.
    pub async fn until(&mut self, timeout: Duration, done: impl Fn(&Value) -> bool) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let e = self.next(left).await?;
            if e.event == "status" && done(&e.data) {
                return Ok(e.data);
            }
        }
    }

    async fn read_event(&mut self) -> Result<SseEvent> {
        loop {
            while let Some(end) = find(&self.buf, b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                if let Some(e) = parse(&String::from_utf8_lossy(&block)) {
                    return Ok(e);
                }
            }
            let mut chunk = [0u8; 8192];
            let n = self.tcp.read(&mut chunk).await?;
            ensure!(n > 0, "the stream was closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// One event block; `None` for a comment-only block (keep-alive).
fn parse(block: &str) -> Option<SseEvent> {
    let (mut event, mut id, mut data) = (None, None, Vec::new());
    for line in block.lines() {
        let (field, value) = line.split_once(':').map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
        match field {
            "event" => event = Some(value.to_string()),
            "id" => id = Some(value.to_string()),
            "data" => data.push(value.to_string()),
            _ => {}
        }
    }
    if event.is_none() && data.is_empty() {
        return None;
    }
    let data = serde_json::from_str(&data.join("\n")).unwrap_or(Value::Null);
    Some(SseEvent { event: event.unwrap_or_else(|| "message".into()), id, data })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
