//! The rate sources' way out: an HTTP client behind the SSRF guard (`rates.allow_private`),
//! no redirects, no proxy from the environment, `rates.timeout_secs` per request, bodies cut
//! at `rates.max_response_bytes` (refused past it), methods and headers checked; each request
//! logged with its source and URL without credentials.

use super::fetch::response;
use super::{BoxFuture, Fetch};
use crate::config::RatesConfig;
use crate::dispatch::{guarded_client, Guard};
use paywatch_plugin_api::messages::{HttpRequest, HttpResponse};
use std::time::{Duration, Instant};

/// Connecting takes at most this long (or the whole timeout, if shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(crate) struct HttpFetch {
    guard: Guard,
    client: reqwest::Client,
    timeout: Duration,
    max_bytes: usize,
}

impl HttpFetch {
    pub(crate) fn new(config: &RatesConfig) -> Self {
        let guard = Guard::with_key(config.allow_private.clone(), "rates.allow_private");
        let timeout = Duration::from_secs(config.timeout_secs);
        let client = guarded_client(&guard, CONNECT_TIMEOUT.min(timeout), timeout);
        Self { guard, client, timeout, max_bytes: config.max_response_bytes }
    }

    async fn send(&self, source: &str, r: HttpRequest) -> Result<HttpResponse, String> {
        let shown = crate::config::redact_url(&r.url);
        let url = match url::Url::parse(&r.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            Ok(_) => return Err(format!("plugin asked for {shown}: only http and https are fetched")),
            Err(e) => return Err(format!("plugin asked for a bad url ({e})")),
        };
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = ip.filter(|ip| !self.guard.permits(*ip)) {
            return Err(format!("{shown}: {ip} is a private address (see {})", self.guard.key()));
        }
        let method = reqwest::Method::from_bytes(r.method.as_bytes())
            .map_err(|_| format!("plugin asked for an invalid http method {:?}", r.method))?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &r.headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes());
            let value = reqwest::header::HeaderValue::from_str(v);
            let (Ok(name), Ok(value)) = (name, value) else {
                return Err(format!(
                    "plugin asked for an invalid http header {k:?} (bad name, or CR/LF/NUL in its value)"
                ));
            };
            headers.append(name, value);
        }
        let started = Instant::now();
        let sent = self.client.request(method, url).headers(headers).body(r.body).send().await;
        let mut resp = sent.map_err(|e| self.transport(&shown, e))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(&shown, e))? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(format!("{shown}: response body over {} bytes (rates.max_response_bytes)", self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        let ms = started.elapsed().as_millis() as u64;
        tracing::debug!(source, url = %shown, status, ms, bytes = body.len(), "rate request");
        Ok(response(status, headers, &body))
    }

    /// A transport error as the source's reason: a timeout says so with the limit.
    fn transport(&self, shown: &str, e: reqwest::Error) -> String {
        if e.is_timeout() {
            return format!("{shown}: timed out after {} s (rates.timeout_secs)", self.timeout.as_secs());
        }
        // Without its URL: the shown one has no credentials.
        let e = e.without_url();
        let mut text = e.to_string();
        let mut next = std::error::Error::source(&e);
        while let Some(s) = next {
            text.push_str(&format!(": {s}"));
            next = s.source();
        }
        format!("{shown}: {text}")
    }
}

impl Fetch for HttpFetch {
    fn fetch<'a>(&'a self, source: &'a str, req: HttpRequest) -> BoxFuture<'a, Result<HttpResponse, String>> {
        // A failure is logged once, with its pair, by the caller (`fetch::one`).
        Box::pin(self.send(source, req))
    }
}
