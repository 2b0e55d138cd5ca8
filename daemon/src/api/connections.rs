//! What one client may occupy: connections (every client together and per client, counted at
//! accept, before hyper sees a byte; a connection that sends nothing within the header-read
//! timeout is closed) and its fair share of the requests handled at once (past it, its own
//! requests wait for each other, not the other clients' requests). A client is
//! [`super::limits::client_of`].

use super::error::ApiError;
use super::limits::{client_of, client_of_extensions};
use crate::config::ServerLimits;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many of something each client holds, up to `max` each.
#[derive(Debug)]
pub(crate) struct PerClient {
    max: u32,
    held: Mutex<HashMap<IpAddr, u32>>,
}

/// One unit held by a client, given back when dropped.
#[derive(Debug)]
pub(crate) struct Held {
    of: Arc<PerClient>,
    client: IpAddr,
}

impl PerClient {
    pub(crate) fn new(max: u32) -> Arc<Self> {
        Arc::new(Self { max, held: Mutex::new(HashMap::new()) })
    }

    /// One more for `client`, or None at its maximum.
    pub(crate) fn take(self: &Arc<Self>, client: IpAddr) -> Option<Held> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(client).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Held { of: self.clone(), client })
    }

    #[cfg(test)]
    fn clients(&self) -> usize {
        self.held.lock().unwrap().len()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.of.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.client);
            }
        }
    }
}

/// The acceptor in front of hyper (and of rustls): counts the connection against both limits
/// and waits for its first byte; a connection over a limit, or silent, is closed.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    total: Arc<Semaphore>,
    per_client: Arc<PerClient>,
    /// Reverse proxies carry many clients' connections: not held to one client's cap.
    trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    first_byte: Duration,
    /// True once the server is shutting down: a connection still waiting for its first byte
    /// is closed at once rather than holding the shutdown for the header-read timeout.
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl Admission {
    pub(crate) fn new(limits: &ServerLimits, stopping: tokio::sync::watch::Receiver<bool>) -> Self {
        Self {
            total: Arc::new(Semaphore::new(limits.max_connections)),
            per_client: PerClient::new(limits.max_connections_per_client),
            trusted_proxies: Arc::new(limits.trusted_proxies.clone()),
            first_byte: Duration::from_secs(limits.header_read_timeout_secs),
            stopping,
        }
    }

    async fn admit(mut self, stream: TcpStream) -> io::Result<Admitted> {
        let refuse = |why: &str| io::Error::new(io::ErrorKind::ConnectionRefused, why.to_string());
        let peer = stream.peer_addr()?.ip();
        let client = client_of(peer);
        let Ok(total) = self.total.clone().try_acquire_owned() else {
            tracing::debug!(%client, "connection refused: max_connections reached");
            return Err(refuse("max_connections"));
        };
        let proxy = self.trusted_proxies.iter().any(|n| n.contains(&client));
        let held = match self.per_client.take(client) {
            Some(h) => Some(h),
            None if proxy => None,
            None => {
                tracing::debug!(%client, "connection refused: max_connections_per_client reached");
                return Err(refuse("max_connections_per_client"));
            }
        };
        // hyper's header-read timeout starts with the first byte: a connection that sends none
        // would otherwise be held for good.
        // (`peek`, not `readable`: readiness may be reported before any byte is there.)
        let mut first = [0u8; 1];
        let peeked = tokio::select! {
            peeked = tokio::time::timeout(self.first_byte, stream.peek(&mut first)) => peeked,
            _ = self.stopping.wait_for(|s| *s) => {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "shutting down"));
            }
        };
        match peeked {
            Ok(Ok(0)) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before a request")),
            Ok(Ok(_)) => Ok(Admitted { stream, _total: total, _held: held }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "no request within header_read_timeout_secs")),
        }
    }
}

impl<S: Send + 'static> axum_server::accept::Accept<TcpStream, S> for Admission {
    type Stream = Admitted;
    type Service = S;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Admitted, S)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admission = self.clone();
        Box::pin(async move { Ok((admission.admit(stream).await?, service)) })
    }
}

/// An admitted connection: its places are given back when it closes.
#[derive(Debug)]
pub(crate) struct Admitted {
    stream: TcpStream,
    _total: OwnedSemaphorePermit,
    _held: Option<Held>,
}

impl AsyncRead for Admitted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Each client's share of the requests handled at once: a client past its share waits in its
/// own queue (until the request timeout), outside the global limit, so one client's flood
/// never takes every one of `max_concurrent_requests` while a burst of a busy shop is still
/// served, only a share at a time.
#[derive(Debug)]
pub(crate) struct FairShare {
    share: usize,
    clients: Mutex<HashMap<IpAddr, (Arc<Semaphore>, usize)>>,
}

/// A client's place in its share (or in its queue for one); the client is forgotten when its
/// last request leaves.
struct Turn {
    of: Arc<FairShare>,
    client: IpAddr,
}

impl FairShare {
    pub(crate) fn new(share: u32) -> Arc<Self> {
        Arc::new(Self { share: share as usize, clients: Mutex::new(HashMap::new()) })
    }

    fn enter(self: &Arc<Self>, client: IpAddr) -> (Arc<Semaphore>, Turn) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let (sem, users) = clients.entry(client).or_insert_with(|| (Arc::new(Semaphore::new(self.share)), 0));
        *users += 1;
        (sem.clone(), Turn { of: self.clone(), client })
    }

    #[cfg(test)]
    fn clients(&self) -> usize {
        self.clients.lock().unwrap().len()
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut clients = self.of.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, users)) = clients.get_mut(&self.client) {
            *users -= 1;
            if *users == 0 {
                clients.remove(&self.client);
            }
        }
    }
}

/// Middleware: waits for one of the client's `max_requests_per_client` places, then runs the
/// request (the request timeout, outside, bounds the wait).
pub(crate) async fn in_flight(
    axum::extract::State(fair): axum::extract::State<Arc<FairShare>>,
    req: Request,
    next: Next,
) -> Response {
    let (sem, _turn) = fair.enter(client_of_extensions(req.extensions()));
    let Ok(_place) = sem.acquire_owned().await else {
        return ApiError::internal("a client's request queue was closed").into_response();
    };
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_holds_at_most_its_maximum_and_gets_places_back_on_drop() {
        let pc = PerClient::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = pc.take(a).unwrap();
        let second = pc.take(a).unwrap();
        assert!(pc.take(a).is_none(), "a third place for one client");
        let other = pc.take(b).expect("another client has its own places");
        drop(first);
        let again = pc.take(a).expect("a place given back is free again");
        drop((second, again, other));
        assert_eq!(pc.clients(), 0, "clients holding nothing are forgotten");
    }

    fn limits(header_read_timeout_secs: u64) -> ServerLimits {
        let mut l = crate::config::parse_str("[[stores]]\nid = \"s\"\napi_key = \"s_k29dLq8Rv0PzWm3NcT6yHb1JsX\"\n")
            .expect("a minimal config")
            .server
            .limits;
        l.header_read_timeout_secs = header_read_timeout_secs;
        l.max_connections_per_client = 1;
        l
    }

    #[tokio::test]
    async fn a_silent_connection_is_let_go_at_shutdown_and_one_client_gets_its_cap() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let admission = Admission::new(&limits(3600), stopping);
        let _silent = TcpStream::connect(addr).await.unwrap();
        let (server_side, _) = listener.accept().await.unwrap();
        let waiting = tokio::spawn(admission.clone().admit(server_side));
        // Its only place is taken: a second connection of the client is refused at once.
        let _second = TcpStream::connect(addr).await.unwrap();
        let (second_side, _) = listener.accept().await.unwrap();
        tokio::task::yield_now().await;
        let refused = admission.clone().admit(second_side).await.unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused, "{refused}");
        // Shutdown: the silent one stops waiting (not after the hour of its timeout).
        stop.send(true).unwrap();
        let ended =
            tokio::time::timeout(Duration::from_secs(30), waiting).await.expect("admission ignored the shutdown");
        assert_eq!(ended.unwrap().unwrap_err().kind(), io::ErrorKind::Interrupted);
    }

    #[tokio::test]
    async fn a_client_past_its_share_waits_for_its_own_requests_not_for_others() {
        let fair = FairShare::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let (sem_a, turn1) = fair.enter(a);
        let p1 = sem_a.clone().acquire_owned().await.unwrap();
        let (_, turn2) = fair.enter(a);
        let p2 = sem_a.clone().acquire_owned().await.unwrap();
        // A third request of a waits; b's does not.
        let (sem_a3, turn3) = fair.enter(a);
        let waiting = tokio::spawn(async move { sem_a3.acquire_owned().await.unwrap() });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "a third request of one client ran past its share");
        let (sem_b, turn_b) = fair.enter(b);
        let pb = sem_b.try_acquire_owned().expect("another client is not behind a's queue");
        drop(p1);
        let p3 = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
        drop((p2, p3, pb, turn1, turn2, turn3, turn_b));
        assert_eq!(fair.clients(), 0, "clients with no request are forgotten");
    }
}
