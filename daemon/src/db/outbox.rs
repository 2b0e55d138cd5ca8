//! Reading the outbox (events, per store) and each endpoint's deliveries and cursor.

use super::schema::*;
use super::*;
use paywatch_plugin_api::events::{EventKind, Family};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// An immutable, numbered event of the outbox (made by `crate::events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EventRecord {
    pub(crate) seq: u64,
    /// Stable across redeliveries (the `webhook-id`).
    pub(crate) id: Uuid,
    #[serde(rename = "type")]
    pub(crate) kind: EventKind,
    pub(crate) store: String,
    /// What orders its deliveries (`invoice:ID`, `refund:ID`, `payment:CHAIN:TXID:INDEX:WATCH`),
    /// computed when it was made. Absent in events stored by schema 4 and earlier: see
    /// [`legacy_subject`].
    #[serde(default)]
    pub(crate) subject: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    pub(crate) data: Value,
}

impl DeliveryRecord {
    /// A first delivery of `event` to `endpoint`, due now.
    pub(crate) fn pending(endpoint: Uuid, event: &EventRecord) -> Self {
        DeliveryRecord {
            endpoint,
            seq: event.seq,
            event_id: event.id,
            event_type: event.kind,
            subject: event.subject.clone(),
            status: DeliveryStatus::Pending,
            attempts: Vec::new(),
            next_attempt_at: None,
        }
    }
}

/// The subject of an event stored before subjects were stored (schema ≤ 4), derived from its
/// data as the dispatcher of those versions did. Only for reading old records.
fn legacy_subject(e: &EventRecord) -> String {
    let d = &e.data;
    let text = |k: &str| d[k].as_str().unwrap_or_default().to_string();
    match e.kind.family() {
        Family::Invoice => format!("invoice:{}", text("id")),
        Family::Refund => format!("refund:{}", text("id")),
        Family::Payment => {
            format!("payment:{}:{}:{}:{}", text("chain"), text("txid"), d["index"], text("watch_id"))
        }
        Family::Ping => e.kind.as_str().to_string(),
    }
}

fn decode_event(key: &[u8], raw: &[u8]) -> Result<EventRecord, DbError> {
    let mut e: EventRecord = decode(CF_OUTBOX, key, raw)?;
    if e.subject.is_empty() {
        e.subject = legacy_subject(&e);
    }
    Ok(e)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DeliveryStatus {
    Pending,
    Delivered,
    /// Given up: a permanent failure, the schedule ran out, or the endpoint was disabled.
    Failed,
}

/// One try at delivering an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Attempt {
    pub(crate) n: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) at: OffsetDateTime,
    pub(crate) http_status: Option<u16>,
    pub(crate) latency_ms: u64,
    /// `ack`, `retry`, `fail`, `disable`.
    pub(crate) verdict: String,
    pub(crate) error: Option<String>,
    /// The start of the response body.
    pub(crate) response: Option<String>,
}

/// An event on its way to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DeliveryRecord {
    pub(crate) endpoint: Uuid,
    pub(crate) seq: u64,
    pub(crate) event_id: Uuid,
    pub(crate) event_type: EventKind,
    /// Events of one subject (an invoice, a payment) are delivered in order.
    pub(crate) subject: String,
    pub(crate) status: DeliveryStatus,
    pub(crate) attempts: Vec<Attempt>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) next_attempt_at: Option<OffsetDateTime>,
}

impl Db {
    /// A store's events with seq > `after`, in order, at most `limit`.
    pub(crate) fn store_events(&self, store: &str, after: u64, limit: usize) -> Result<Vec<EventRecord>, DbError> {
        let prefix = store_prefix(store);
        let start = store_events_key(store, after.saturating_add(1));
        let iter = self.db.iterator_cf(self.cf(CF_STORE_EVENTS), IteratorMode::From(&start, Direction::Forward));
        let mut out = Vec::new();
        for item in iter {
            let (k, _) = item?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let seq = decode_seq(&k[prefix.len()..]).ok_or_else(|| corrupt(CF_STORE_EVENTS, &k, "bad seq"))?;
            let raw = self.db.get_cf(self.cf(CF_OUTBOX), outbox_key(seq))?;
            let raw = raw.ok_or_else(|| corrupt(CF_STORE_EVENTS, &k, "index entry without an event"))?;
            out.push(decode_event(&outbox_key(seq), &raw)?);
        }
        Ok(out)
    }

    pub(crate) fn cursor(&self, endpoint: Uuid) -> Result<Option<u64>, DbError> {
        let k = cursor_key(endpoint);
        match self.db.get_cf(self.cf(CF_META), &k)? {
            Some(v) => Ok(Some(decode_seq(&v).ok_or_else(|| corrupt(CF_META, &k, "bad cursor"))?)),
            None => Ok(None),
        }
    }

    pub(crate) fn delivery(&self, endpoint: Uuid, seq: u64) -> Result<Option<DeliveryRecord>, DbError> {
        let k = delivery_key(endpoint, seq);
        let raw = self.db.get_cf(self.cf(CF_DELIVERIES), k)?;
        raw.map(|v| decode(CF_DELIVERIES, &k, &v)).transpose()
    }

    /// An endpoint's deliveries with seq > `after`, in order, at most `limit`.
    pub(crate) fn deliveries(&self, endpoint: Uuid, after: u64, limit: usize) -> Result<Vec<DeliveryRecord>, DbError> {
        let start = delivery_key(endpoint, after.saturating_add(1));
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_DELIVERIES), IteratorMode::From(&start, Direction::Forward)) {
            let (k, v) = item?;
            if !k.starts_with(endpoint.as_bytes()) || out.len() >= limit {
                break;
            }
            out.push(decode(CF_DELIVERIES, &k, &v)?);
        }
        Ok(out)
    }

    /// An endpoint's pending deliveries from seq `from` on, oldest first, at most `limit`.
    /// (Starting past the delivered ones skips their tombstones in the pending index.)
    pub(crate) fn pending_deliveries(
        &self,
        endpoint: Uuid,
        from: u64,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, DbError> {
        let mut out = Vec::new();
        let start = delivery_key(endpoint, from);
        let mode = IteratorMode::From(&start, Direction::Forward);
        for item in self.db.iterator_cf(self.cf(CF_PENDING_DELIVERIES), mode) {
            let (k, _) = item?;
            if !k.starts_with(endpoint.as_bytes()) || out.len() >= limit {
                break;
            }
            let seq = decode_seq(&k[16..]).ok_or_else(|| corrupt(CF_PENDING_DELIVERIES, &k, "bad seq"))?;
            let d = self.delivery(endpoint, seq)?;
            out.push(d.ok_or_else(|| corrupt(CF_PENDING_DELIVERIES, &k, "pending entry without delivery"))?);
        }
        Ok(out)
    }

    /// How many deliveries of an endpoint are pending (the pending index's keys, read once when
    /// a dispatcher worker starts).
    pub(crate) fn count_pending(&self, endpoint: Uuid) -> Result<u64, DbError> {
        let start = delivery_key(endpoint, 0);
        let mode = IteratorMode::From(&start, Direction::Forward);
        let mut n = 0;
        for item in self.db.iterator_cf(self.cf(CF_PENDING_DELIVERIES), mode) {
            let (k, _) = item?;
            if !k.starts_with(endpoint.as_bytes()) {
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    /// Every store's events with seq > `after`, in order, at most `limit` (the checkout pages'
    /// fan-out reads each committed event once, for every open page).
    pub(crate) fn events_after(&self, after: u64, limit: usize) -> Result<Vec<EventRecord>, DbError> {
        let start = outbox_key(after.saturating_add(1));
        let iter = self.db.iterator_cf(self.cf(CF_OUTBOX), IteratorMode::From(&start, Direction::Forward));
        let mut out = Vec::new();
        for item in iter.take(limit) {
            let (k, v) = item?;
            out.push(decode_event(&k, &v)?);
        }
        Ok(out)
    }

    /// The event with this seq, if it belongs to `store`.
    pub(crate) fn event(&self, store: &str, seq: u64) -> Result<Option<EventRecord>, DbError> {
        let raw = self.db.get_cf(self.cf(CF_OUTBOX), outbox_key(seq))?;
        let e = raw.map(|v| decode_event(&outbox_key(seq), &v)).transpose()?;
        Ok(e.filter(|e| e.store == store))
    }

    /// The newest committed event sequence number, of any store (metrics, new cursors).
    pub(crate) fn subscribe_seq(&self) -> watch::Receiver<u64> {
        self.last_seq.subscribe()
    }

    /// Changes when an event of `store` is committed (and only then): what its dispatcher
    /// workers and long-polls wait on.
    pub(crate) fn subscribe_store(&self, store: &str) -> watch::Receiver<u64> {
        self.store_seqs.subscribe(store)
    }
}
