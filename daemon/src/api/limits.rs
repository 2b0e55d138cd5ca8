//! The front door's limits: hyper's header-read timeout, a request timeout, a concurrency
//! limit, and per-client rate limits (governor) on the unauthenticated routes and on failed
//! authentications. A client is its IP address; an IPv6 client is its /64 (one host usually
//! holds a whole /64, so single addresses would cost an attacker nothing).

use super::error::ApiError;
use crate::config::ServerLimits;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;
use tower_governor::{GovernorError, GovernorLayer};

/// How often idle clients are dropped from the rate limiters' tables.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// The rate-limit key of a peer address: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by its /64.
pub(crate) fn client_of(ip: IpAddr) -> IpAddr {
    match unmapped(ip) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

/// An IPv4-mapped IPv6 address as its IPv4 (a dual-stack listener sees IPv4 peers so).
pub(crate) fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client of a request, from the connection's peer address. Every connection the server
/// accepts has one; a request without (only in tests that call the router directly) counts as
/// one shared client.
pub(crate) fn client_of_extensions(ext: &axum::http::Extensions) -> IpAddr {
    if let Some(c) = ext.get::<super::proxies::ClientAddr>() {
        return client_of(c.0);
    }
    ext.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| client_of(c.0.ip()))
}

/// A key extractor for tower_governor: the request's client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Client;

impl KeyExtractor for Client {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<IpAddr, GovernorError> {
        Ok(client_of_extensions(req.extensions()))
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// Failed authentications per client: a client past its budget gets `429` for each further
/// failure until it refills. A valid key is never refused by it (a shop that shares an
/// address with an attacker keeps working; guessing a 128-bit key is hopeless anyway).
#[derive(Debug)]
pub(crate) struct AuthFailures {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl AuthFailures {
    pub(crate) fn new(limits: &ServerLimits) -> Self {
        let period = Duration::from_secs(60) / u32::try_from(limits.auth_failures_per_minute).unwrap_or(u32::MAX);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(nonzero(limits.auth_failure_burst));
        Self { limiter: RateLimiter::keyed(quota) }
    }

    /// Counts one failed authentication of the request's client: `401`, or `429` past its
    /// budget.
    pub(crate) fn fail(&self, ext: &axum::http::Extensions) -> ApiError {
        let client = client_of_extensions(ext);
        match self.limiter.check_key(&client) {
            Ok(()) => ApiError::unauthorized(),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                tracing::warn!(%client, "too many failed authentications: refused for {wait:?}");
                ApiError::rate_limited(wait)
            }
        }
    }

    fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// A per-client budget's config ([`rate_config`]).
pub(crate) type PublicLimit = Arc<GovernorConfig<Client, governor::middleware::NoOpMiddleware>>;

/// The per-client limit of the unauthenticated routes.
pub(crate) type PublicLayer = GovernorLayer<Client, governor::middleware::NoOpMiddleware, axum::body::Body>;

/// A per-client budget: `per_second` sustained, `burst` above it (its table is shared by every
/// route it guards).
pub(crate) fn rate_config(
    per_second: u64,
    burst: u32,
) -> Arc<GovernorConfig<Client, governor::middleware::NoOpMiddleware>> {
    let per_second = u32::try_from(per_second).unwrap_or(u32::MAX).max(1);
    let config = GovernorConfigBuilder::default()
        .key_extractor(Client)
        .period(Duration::from_secs(1) / per_second)
        .burst_size(burst.max(1))
        .finish()
        .expect("a nonzero period and burst make a governor config");
    Arc::new(config)
}

pub(crate) fn public_layer(config: Arc<GovernorConfig<Client, governor::middleware::NoOpMiddleware>>) -> PublicLayer {
    GovernorLayer::new(config).error_handler(|e| match e {
        GovernorError::TooManyRequests { wait_time, .. } => {
            ApiError::rate_limited(Duration::from_secs(wait_time)).into_response()
        }
        other => ApiError::internal(other).into_response(),
    })
}

/// Drops idle clients from the tables (the failed authentications' when given, and a public
/// budget's) every minute, so a scan from many addresses does not grow them for good.
pub(crate) fn spawn_forgetting(
    auth: Option<Arc<AuthFailures>>,
    public: Arc<GovernorConfig<Client, governor::middleware::NoOpMiddleware>>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FORGET_EVERY);
        loop {
            tick.tick().await;
            if let Some(auth) = &auth {
                auth.forget_idle();
            }
            public.limiter().retain_recent();
            public.limiter().shrink_to_fit();
        }
    });
}

/// hyper's connection settings: the header-read timeout needs a timer, without which hyper
/// silently skips it (a client could hold a connection forever by sending headers slowly).
pub(crate) fn configure_http(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    limits: &ServerLimits,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout_secs));
    builder.http2().timer(hyper_util::rt::TokioTimer::new());
}

/// A body that has not fully arrived in time (the error inside the extractor's rejection).
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within body_read_timeout_secs")]
pub(crate) struct BodyTimedOut;

/// Middleware: a request's body must arrive within `limit` of its headers, in total (a timeout
/// between chunks would let a client dribble one byte at a time and hold its slot until the
/// request timeout). Requests without a body pass as they are.
pub(crate) async fn body_deadline(
    axum::extract::State(limit): axum::extract::State<Duration>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use futures::StreamExt;
    let has_body = req.headers().contains_key(axum::http::header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.to_str().ok().and_then(|v| v.parse::<u64>().ok()) != Some(0));
    if !has_body {
        return next.run(req).await;
    }
    // The clock starts when the handler first reads the body, not when the request arrives: a
    // request that waited its turn (for a slot, or behind its client's others) with its body
    // already sent is not cut off for the wait.
    let (parts, body) = req.into_parts();
    let start = Some((body.into_data_stream(), None));
    let chunks = futures::stream::unfold(start, move |state| async move {
        let (mut chunks, deadline) = state?;
        let deadline = deadline.unwrap_or_else(|| tokio::time::Instant::now() + limit);
        match tokio::time::timeout_at(deadline, chunks.next()).await {
            Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some((chunks, Some(deadline))))),
            Ok(Some(Err(e))) => Some((Err(axum::BoxError::from(e)), None)),
            Ok(None) => None,
            Err(_) => Some((Err(axum::BoxError::from(BodyTimedOut)), None)),
        }
    });
    next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from_stream(chunks))).await
}

/// Middleware: a request not answered within `limit` gets `408 request_timeout` (a JSON error
/// like every other; the handler's future is dropped).
pub(crate) async fn request_deadline(
    axum::extract::State(limit): axum::extract::State<Duration>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("no answer within {} s (server.request_timeout_secs)", limit.as_secs()),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_its_slash_64_and_a_mapped_ipv4_is_the_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_of(a), client_of(b));
        assert_ne!(client_of(a), client_of(c));
        assert_eq!(client_of("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(client_of("10.0.0.1".parse().unwrap()), "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    /// A router whose handler waits `before` (as a request waits for a slot), then reads the
    /// body, behind the body deadline of 1 s.
    fn slow_reader(before: Duration) -> axum::Router {
        let late = move |req: axum::extract::Request| async move {
            tokio::time::sleep(before).await;
            match axum::body::to_bytes(req.into_body(), usize::MAX).await {
                Ok(b) => (StatusCode::OK, String::from_utf8_lossy(&b).into_owned()),
                Err(e) => (StatusCode::REQUEST_TIMEOUT, e.to_string()),
            }
        };
        axum::Router::new()
            .route("/", axum::routing::post(late))
            .layer(axum::middleware::from_fn_with_state(Duration::from_secs(1), body_deadline))
    }

    #[tokio::test]
    async fn the_body_clock_starts_when_the_body_is_read_and_cuts_a_body_that_never_comes() {
        use tower::ServiceExt;
        // A body already there, read after a 2 s wait: not cut off for the wait.
        let req =
            axum::http::Request::post("/").header("content-length", "2").body(axum::body::Body::from("ok")).unwrap();
        let res = slow_reader(Duration::from_secs(2)).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        // A body that never comes: cut off 1 s after the handler starts reading it.
        let (_tx, rx) = tokio::sync::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(1);
        let never = axum::body::Body::from_stream(tokio_stream_of(rx));
        let req = axum::http::Request::post("/").header("content-length", "5").body(never).unwrap();
        let res = tokio::time::timeout(Duration::from_secs(30), slow_reader(Duration::ZERO).oneshot(req))
            .await
            .expect("a body that never comes was waited on for good")
            .unwrap();
        assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
    }

    /// The receiver as a stream (without tokio-stream).
    fn tokio_stream_of<T: Send + 'static>(
        rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures::Stream<Item = T> + Send + 'static {
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|t| (t, rx)) })
    }

    #[test]
    fn failures_past_the_burst_are_refused_per_client() {
        let limits = crate::config::ServerLimits {
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 15,
            max_connections: 16,
            max_connections_per_client: 4,
            max_requests_per_client: 4,
            trusted_proxies: Vec::new(),
            request_timeout_secs: 90,
            max_concurrent_requests: 8,
            max_long_polls: 4,
            public_per_second: 10,
            public_burst: 10,
            auth_failures_per_minute: 1,
            auth_failure_burst: 3,
        };
        let auth = AuthFailures::new(&limits);
        let from = |ip: &str| {
            let mut ext = axum::http::Extensions::new();
            ext.insert(ConnectInfo(SocketAddr::new(ip.parse().unwrap(), 1)));
            auth.fail(&ext).status()
        };
        for _ in 0..3 {
            assert_eq!(from("10.0.0.1"), StatusCode::UNAUTHORIZED);
        }
        assert_eq!(from("10.0.0.1"), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(from("10.0.0.2"), StatusCode::UNAUTHORIZED);
    }
}
