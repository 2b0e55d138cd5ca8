//! What one client may occupy: connections (every client together and per client, counted at
//! accept, before hyper sees a byte; a connection that sends nothing within the header-read
//! timeout is closed) and its fair share of the requests handled at once (past it, its own
//! requests wait for each other, not the other clients' requests). A client is
//! [`super::limits::client_of`].

use super::limits::{client_of, client_of_extensions};
use super::proxies::TrustedProxies;
use crate::config::ServerLimits;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
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

/// Each client's places (connections, or requests handled at once), `max` per client: taken
/// at once or refused ([`PerClient::try_take`], connections), or waited for in the client's own
/// queue ([`PerClient::take`], requests: a client past its share waits for its own requests,
/// never for the other clients'). A client is forgotten when it holds and waits for nothing.
#[derive(Debug)]
pub(crate) struct PerClient {
    max: usize,
    clients: Mutex<HashMap<IpAddr, (Arc<Semaphore>, usize)>>,
}

/// A place a client holds, given back when dropped.
#[derive(Debug)]
pub(crate) struct Place {
    _permit: OwnedSemaphorePermit,
    _turn: Turn,
}

/// A client's presence in the table (holding a place or waiting for one).
#[derive(Debug)]
struct Turn {
    of: Arc<PerClient>,
    client: IpAddr,
}

impl PerClient {
    pub(crate) fn new(max: u32) -> Arc<Self> {
        Arc::new(Self { max: max as usize, clients: Mutex::new(HashMap::new()) })
    }

    fn enter(self: &Arc<Self>, client: IpAddr) -> (Arc<Semaphore>, Turn) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let (sem, users) = clients.entry(client).or_insert_with(|| (Arc::new(Semaphore::new(self.max)), 0));
        *users += 1;
        (sem.clone(), Turn { of: self.clone(), client })
    }

    /// A place for `client` now, or None at its maximum.
    pub(crate) fn try_take(self: &Arc<Self>, client: IpAddr) -> Option<Place> {
        let (sem, turn) = self.enter(client);
        sem.try_acquire_owned().ok().map(|permit| Place { _permit: permit, _turn: turn })
    }

    /// A place for `client`, once one of its own is free.
    pub(crate) async fn take(self: &Arc<Self>, client: IpAddr) -> Place {
        let (sem, turn) = self.enter(client);
        let permit = sem.acquire_owned().await.expect("a client's semaphore is never closed");
        Place { _permit: permit, _turn: turn }
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

/// The acceptor in front of hyper (and of rustls): counts the connection against both limits
/// and waits for its first byte; a connection over a limit, or silent, is closed.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    total: Arc<Semaphore>,
    per_client: Arc<PerClient>,
    /// Reverse proxies carry many clients' connections: not held to one client's cap.
    trusted_proxies: Arc<TrustedProxies>,
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
            trusted_proxies: Arc::new(TrustedProxies::new(&limits.trusted_proxies)),
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
        let held = match self.per_client.try_take(client) {
            Some(h) => Some(h),
            None if self.trusted_proxies.contains(peer) => None,
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
    _held: Option<Place>,
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

/// Middleware: waits for one of the client's `max_requests_per_client` places, then runs the
/// request (the request timeout, outside, bounds the wait).
pub(crate) async fn in_flight(State(share): State<Arc<PerClient>>, req: Request, next: Next) -> Response {
    let _place = share.take(client_of_extensions(req.extensions())).await;
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_holds_at_most_its_maximum_and_gets_places_back_on_drop() {
        let pc = PerClient::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = pc.try_take(a).unwrap();
        let second = pc.try_take(a).unwrap();
        assert!(pc.try_take(a).is_none(), "a third place for one client");
        let other = pc.try_take(b).expect("another client has its own places");
        drop(first);
        let again = pc.try_take(a).expect("a place given back is free again");
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
    async fn a_trusted_proxy_is_not_held_to_one_clients_connection_cap() {
        use tokio::io::AsyncWriteExt;
        // Over IPv6, where a client is its /64 but a proxy is its own address.
        let listener = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut l = limits(3600);
        l.trusted_proxies = vec!["::1/128".parse().unwrap()];
        let (_running, stopping) = tokio::sync::watch::channel(false);
        let admission = Admission::new(&l, stopping);
        let mut kept = Vec::new();
        for _ in 0..3 {
            let mut client = TcpStream::connect(addr).await.unwrap();
            client.write_all(b"G").await.unwrap();
            let (server_side, _) = listener.accept().await.unwrap();
            kept.push((client, admission.clone().admit(server_side).await.expect("a proxy's connection")));
        }
    }

    #[tokio::test]
    async fn a_client_past_its_share_waits_for_its_own_requests_not_for_others() {
        let share = PerClient::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let p1 = share.take(a).await;
        let p2 = share.take(a).await;
        // A third request of a waits; b's does not.
        let waiting = tokio::spawn({
            let share = share.clone();
            async move { share.take(a).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "a third request of one client ran past its share");
        let pb = share.try_take(b).expect("another client is not behind a's queue");
        drop(p1);
        let p3 = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
        drop((p2, p3, pb));
        assert_eq!(share.clients(), 0, "clients with no request are forgotten");
    }
}
