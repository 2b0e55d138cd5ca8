//! A minimal Server-Sent Events client over a raw TCP connection, for the checkout pages'
//! status streams: cheap enough that a benchmark holds thousands open. It speaks HTTP/1.0, so
//! the body is the stream itself (no chunked framing), read until the server closes it. With
//! [`Sse::stamp_arrivals`] (Linux), the kernel stamps when each byte reached the socket, so a
//! benchmark learns when the server delivered an event however late it reads it.

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
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
    /// Reads ask the kernel when their bytes arrived ([`Sse::stamp_arrivals`]).
    stamped: bool,
    /// When the bytes of the latest read arrived, if stamped.
    arrived: Option<SystemTime>,
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
        Ok(Opened::Stream(Box::new(Sse { tcp, buf: rest, stamped: false, arrived: None })))
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

    /// Events until one whose raw text (its `event:`, `id:` and `data:` lines) contains
    /// `needle`, waiting at most `timeout`: when its last bytes reached the socket if arrivals
    /// are stamped ([`Sse::stamp_arrivals`]). Nothing is parsed: a benchmark holding thousands of
    /// streams on a few cores spends its time reading, not decoding JSON.
    pub async fn until_text(&mut self, timeout: Duration, needle: &str) -> Result<Option<SystemTime>> {
        let wait = async {
            loop {
                while let Some(end) = find(&self.buf, b"\n\n") {
                    let hit = find(&self.buf[..end], needle.as_bytes()).is_some();
                    self.buf.drain(..end + 2);
                    if hit {
                        return Ok(self.arrived);
                    }
                }
                self.fill().await?;
            }
        };
        tokio::time::timeout(timeout, wait).await.with_context(|| format!("no event with {needle:?} in time"))?
    }

    /// From now on, the kernel stamps when each byte reaches this socket (`SO_TIMESTAMPNS`,
    /// the realtime clock), and [`Sse::until_text`] says when its event arrived.
    pub fn stamp_arrivals(&mut self) -> Result<()> {
        stamp_arrivals(self.tcp.as_raw_fd()).context("SO_TIMESTAMPNS")?;
        self.stamped = true;
        Ok(())
    }

    async fn read_event(&mut self) -> Result<SseEvent> {
        loop {
            while let Some(end) = find(&self.buf, b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                if let Some(e) = parse(&String::from_utf8_lossy(&block)) {
                    return Ok(e);
                }
            }
            self.fill().await?;
        }
    }

    /// Appends what the server sent next to the buffer (and, if stamped, notes when it arrived).
    async fn fill(&mut self) -> Result<()> {
        let mut chunk = [0u8; 8192];
        let n = if self.stamped {
            let fd = self.tcp.as_raw_fd();
            loop {
                self.tcp.readable().await?;
                match self.tcp.try_io(Interest::READABLE, || recv_stamped(fd, &mut chunk)) {
                    Ok((n, arrived)) => {
                        self.arrived = arrived.or(self.arrived);
                        break n;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        } else {
            self.tcp.read(&mut chunk).await?
        };
        ensure!(n > 0, "the stream was closed");
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn stamp_arrivals(fd: RawFd) -> std::io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes at `&on`, a live c_int; `fd` is an
    // open socket its caller owns.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&raw const on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn stamp_arrivals(_: RawFd) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "arrival stamps are Linux-only"))
}

#[cfg(not(target_os = "linux"))]
fn recv_stamped(_: RawFd, _: &mut [u8]) -> std::io::Result<(usize, Option<SystemTime>)> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "arrival stamps are Linux-only"))
}

/// One `recvmsg` into `buf` without blocking, with the kernel's receive timestamp of the bytes
/// read (of the last segment read, for TCP) when the socket has `SO_TIMESTAMPNS` on.
#[cfg(target_os = "linux")]
fn recv_stamped(fd: RawFd, buf: &mut [u8]) -> std::io::Result<(usize, Option<SystemTime>)> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // Room for a few control messages, aligned as `cmsghdr` needs.
    let mut control = [0u64; 16];
    // SAFETY: an all-zero msghdr is a valid one (no name, no buffers); its buffers are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control) as _;
    // SAFETY: `msg` points at `iov` (over `buf`) and `control`, both live and as long as it
    // says; MSG_DONTWAIT: the call never blocks the runtime's thread.
    let n = unsafe { libc::recvmsg(fd, &raw mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut arrived = None;
    // SAFETY: the CMSG_* walk stays within the control messages recvmsg wrote into `control`
    // (`msg_controllen` is their length); a timestamp's data is a `timespec`, read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&raw const msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                arrived = Some(SystemTime::UNIX_EPOCH + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
            }
            c = libc::CMSG_NXTHDR(&raw const msg, c);
        }
    }
    Ok((n as usize, arrived))
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
