//! One delivery attempt: the platform plugin renders the event into request(s), the daemon
//! sends them (SSRF-guarded, no redirects, bounded reads), the plugin classifies each response,
//! and the attempt is recorded with its outcome.

use super::{policy, Dispatcher};
use crate::db::{Attempt, DeliveryRecord, DeliveryStatus, EndpointRecord};
use crate::events::views;
use crate::metrics::EndpointMetrics;
use paywatch_plugin_api::events::Event;
use paywatch_plugin_api::messages::{self as m, platform_method, Verdict};
use std::time::Instant;
use time::OffsetDateTime;

/// Response bytes read at most, and kept in the attempt record.
const READ_LIMIT: usize = 64 * 1024;
const KEEP: usize = 512;

/// What one attempt came to.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) verdict: Verdict,
    pub(crate) http_status: Option<u16>,
    pub(crate) latency_ms: u64,
    pub(crate) error: Option<String>,
    pub(crate) response: Option<String>,
}

impl Outcome {
    /// No answer to classify (plugin missing or failing, bad URL, refused address, network):
    /// try again on the schedule.
    fn retry(error: String, started: Instant) -> Self {
        Outcome {
            verdict: Verdict::Retry { after_secs: None, reason: error.clone() },
            http_status: None,
            latency_ms: started.elapsed().as_millis() as u64,
            error: Some(error),
            response: None,
        }
    }

    /// The plugin said this can never be delivered (`undeliverable`): recorded, not retried.
    fn undeliverable(error: String, started: Instant) -> Self {
        Outcome { verdict: Verdict::Fail { reason: error.clone() }, ..Self::retry(error, started) }
    }
}

impl Dispatcher {
    /// Sends one pending delivery and records the attempt (and counts it in `metrics`).
    pub(super) async fn attempt(&self, ep: &EndpointRecord, mut del: DeliveryRecord, metrics: &EndpointMetrics) {
        let n = del.attempts.len() as u32 + 1;
        let event = match self.db().event(&ep.store, del.seq) {
            Ok(Some(e)) => e,
            Ok(None) => return self.finish_missing(ep, del, metrics),
            Err(e) => return tracing::error!(endpoint = %ep.id, seq = del.seq, error = %e, "cannot read event"),
        };
        let now = OffsetDateTime::now_utc();
        let started = Instant::now();
        let out = self.send(ep, &views::event(&event), n).await;
        metrics.attempt(verdict_name(&out.verdict), started.elapsed().as_secs_f64());
        tracing::debug!(endpoint = %ep.id, seq = del.seq, attempt = n, verdict = ?out.verdict, "delivery attempt");
        del.attempts.push(Attempt {
            n,
            at: now,
            http_status: out.http_status,
            latency_ms: out.latency_ms,
            verdict: verdict_name(&out.verdict).into(),
            error: out.error.clone(),
            response: out.response.clone(),
        });
        let mut disable = None;
        match &out.verdict {
            Verdict::Ack => {
                del.status = DeliveryStatus::Delivered;
                del.next_attempt_at = None;
            }
            Verdict::Retry { after_secs, .. } => {
                match policy::next_attempt(&self.inner.schedule, n as usize, *after_secs, now) {
                    Some(t) => del.next_attempt_at = Some(t),
                    None => {
                        del.status = DeliveryStatus::Failed;
                        del.next_attempt_at = None;
                    }
                }
            }
            Verdict::Fail { .. } => {
                del.status = DeliveryStatus::Failed;
                del.next_attempt_at = None;
            }
            Verdict::Disable { reason } => {
                del.status = DeliveryStatus::Failed;
                del.next_attempt_at = None;
                disable = Some(reason.clone());
            }
        }
        let ended = del.status != DeliveryStatus::Pending;
        let d = self.clone();
        let ep = ep.clone();
        let written = tokio::task::spawn_blocking(move || {
            let db = d.db();
            let mut batch = db.batch();
            batch.put_delivery(&del)?;
            if let Some(reason) = disable {
                // Read again: the API may have changed it meanwhile.
                if let Some(mut fresh) = db.endpoint(ep.id)? {
                    tracing::warn!(endpoint = %ep.id, %reason, "endpoint disabled by its receiver");
                    fresh.enabled = false;
                    fresh.disabled_reason = Some(reason);
                    fresh.updated_at = OffsetDateTime::now_utc();
                    batch.put_endpoint(&fresh)?;
                }
            }
            db.write(batch)
        })
        .await;
        match written {
            Ok(Ok(())) if ended => metrics.ended(),
            Ok(Ok(())) => {}
            _ => tracing::error!(endpoint = %ep.id, "cannot record a delivery attempt; it will be sent again"),
        }
    }

    /// The event is gone (cannot happen: the outbox is append-only): give the delivery up.
    fn finish_missing(&self, ep: &EndpointRecord, mut del: DeliveryRecord, metrics: &EndpointMetrics) {
        tracing::error!(endpoint = %ep.id, seq = del.seq, "event missing from the outbox; delivery given up");
        del.status = DeliveryStatus::Failed;
        let mut batch = self.db().batch();
        if batch.put_delivery(&del).is_ok() && self.db().write(batch).is_ok() {
            metrics.ended();
        }
    }

    /// Renders, sends and classifies; never fails: every problem is an outcome.
    pub(crate) async fn send(&self, ep: &EndpointRecord, event: &Event, attempt: u32) -> Outcome {
        let started = Instant::now();
        let fail = |error: String| Outcome::retry(error, started);
        let Some(plugin) = self.inner.platforms.get(&ep.plugin).cloned() else {
            let e = format!("platform plugin {:?} is not loaded", ep.plugin);
            return fail(e);
        };
        let req = m::RenderRequest {
            event: serde_json::to_value(event).expect("events encode"),
            endpoint: serde_json::Value::Object(ep.config.clone()),
            attempt,
            now: OffsetDateTime::now_utc().unix_timestamp(),
        };
        let rendered = {
            let plugin = plugin.clone();
            tokio::task::spawn_blocking(move || plugin.call::<_, m::RenderReply>(platform_method::RENDER, &req)).await
        };
        let requests = match rendered {
            Ok(Ok(r)) => r.requests,
            Ok(Err(e)) if e.plugin_code() == Some(m::PluginError::UNDELIVERABLE) => {
                return Outcome::undeliverable(e.to_string(), started)
            }
            Ok(Err(e)) => return fail(e.to_string()),
            Err(e) => return fail(e.to_string()),
        };
        let route = self.inner.routes.of(&ep.store);
        let mut last = Outcome { verdict: Verdict::Ack, http_status: None, latency_ms: 0, error: None, response: None };
        for r in requests {
            last = self.send_one(&route, &plugin, r, started).await;
            if last.verdict != Verdict::Ack {
                break;
            }
        }
        last.latency_ms = started.elapsed().as_millis() as u64;
        last
    }

    async fn send_one(
        &self,
        route: &super::clients::Route,
        plugin: &std::sync::Arc<crate::plugins::PluginInstance>,
        r: m::HttpRequest,
        started: Instant,
    ) -> Outcome {
        let fail = |error: String| Outcome::retry(error, started);
        let url = match url::Url::parse(&r.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            // The plugin rendered a URL that cannot be sent: no retry makes it better.
            Ok(u) => return Outcome::undeliverable(format!("{u}: only http and https callbacks are sent"), started),
            Err(e) => return Outcome::undeliverable(format!("bad callback url {:?}: {e}", r.url), started),
        };
        if let Some(ip) = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        } {
            if !route.guard.permits(ip) {
                return fail(format!("{url}: {ip} is a private address (see {})", route.guard.key()));
            }
        }
        // A malformed method or header is the plugin's doing and will not change on a retry.
        let Ok(method) = reqwest::Method::from_bytes(r.method.as_bytes()) else {
            return Outcome::undeliverable(
                format!("the plugin rendered an invalid HTTP method {:?}", r.method),
                started,
            );
        };
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &r.headers {
            match (reqwest::header::HeaderName::from_bytes(k.as_bytes()), reqwest::header::HeaderValue::from_str(v)) {
                (Ok(name), Ok(value)) => {
                    headers.append(name, value);
                }
                _ => {
                    let e = format!(
                        "the plugin rendered an invalid HTTP header {k:?} (bad name, or CR/LF/NUL in its value)"
                    );
                    return Outcome::undeliverable(e, started);
                }
            }
        }
        let req = route.client.request(method, url).headers(headers).body(r.body);
        let mut resp = match req.send().await {
            Ok(resp) => resp,
            Err(e) => return fail(format!("{e}{}", source_chain(&e))),
        };
        let status = resp.status().as_u16();
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = resp.chunk().await {
            body.extend_from_slice(&chunk[..chunk.len().min(READ_LIMIT - body.len())]);
            if body.len() >= READ_LIMIT {
                break;
            }
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        let classify = m::ClassifyRequest { status, headers, body: body.clone() };
        let plugin = plugin.clone();
        let verdict =
            tokio::task::spawn_blocking(move || plugin.call::<_, Verdict>(platform_method::CLASSIFY, &classify))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .unwrap_or_else(|e| Verdict::Retry { after_secs: None, reason: format!("classify failed: {e}") });
        Outcome {
            verdict,
            http_status: Some(status),
            latency_ms: started.elapsed().as_millis() as u64,
            error: None,
            response: Some(body.chars().take(KEEP).collect()),
        }
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut s = e.source();
    while let Some(x) = s {
        out.push_str(&format!(": {x}"));
        s = x.source();
    }
    out
}

pub(crate) fn verdict_name(v: &Verdict) -> &'static str {
    match v {
        Verdict::Ack => "ack",
        Verdict::Retry { .. } => "retry",
        Verdict::Fail { .. } => "fail",
        Verdict::Disable { .. } => "disable",
    }
}
