//! What paywatch tells shops: the one place events are made. Each event is built here from
//! the record it is about, with its kind ([`EventKind`], one enum for every type), the
//! subject that orders its deliveries (computed now and stored with it, so the dispatcher
//! never reads it back out of the JSON) and its `data`: the resource's wire view
//! ([`views`]), the same type the API returns and platform plugins read.

pub(crate) mod views;

use crate::db::{InvoiceRecord, NewEvent, PaymentRecord, RefundRecord};
use paywatch_plugin_api::events::Event;
pub(crate) use paywatch_plugin_api::events::EventKind;
use std::fmt;
use time::OffsetDateTime;
use uuid::Uuid;

/// What orders deliveries: events of one subject reach an endpoint in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Subject<'a> {
    Invoice(Uuid),
    Refund(Uuid),
    /// A payment's identity: chain, txid, output (or log) index, watch.
    Payment {
        chain: &'a str,
        txid: &'a str,
        index: u32,
        watch: Uuid,
    },
}

impl fmt::Display for Subject<'_> {
    /// The stored form (also in delivery records): `invoice:ID`, `refund:ID`,
    /// `payment:CHAIN:TXID:INDEX:WATCH`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Invoice(id) => write!(f, "invoice:{id}"),
            Subject::Refund(id) => write!(f, "refund:{id}"),
            Subject::Payment { chain, txid, index, watch } => write!(f, "payment:{chain}:{txid}:{index}:{watch}"),
        }
    }
}

fn event(kind: EventKind, store: &str, subject: Subject<'_>, data: impl serde::Serialize) -> NewEvent {
    NewEvent {
        kind,
        store: store.to_string(),
        subject: subject.to_string(),
        data: serde_json::to_value(data).expect("wire views encode"),
    }
}

/// An `invoice.*` event: the invoice with what it shows of its payments.
pub(crate) fn invoice(
    kind: EventKind,
    i: &InvoiceRecord,
    payments: views::InvoicePayments<'_>,
    checkout: &str,
) -> NewEvent {
    debug_assert_eq!(kind.family(), paywatch_plugin_api::events::Family::Invoice, "{kind}");
    event(kind, &i.store, Subject::Invoice(i.id), views::invoice(i, payments, checkout))
}

/// A `payment.*` event: the payment.
pub(crate) fn payment(kind: EventKind, p: &PaymentRecord) -> NewEvent {
    debug_assert_eq!(kind.family(), paywatch_plugin_api::events::Family::Payment, "{kind}");
    let subject = Subject::Payment { chain: &p.chain, txid: &p.txid, index: p.index, watch: p.watch_id };
    event(kind, &p.store, subject, views::payment(p))
}

/// A test `ping` for one endpoint (sent at once, never stored).
pub(crate) fn ping(store: &str, endpoint: Uuid) -> Event {
    Event {
        seq: 0,
        id: Uuid::now_v7().to_string(),
        event_type: EventKind::Ping.as_str().to_string(),
        store: store.to_string(),
        created_at: views::ts(OffsetDateTime::now_utc()),
        data: serde_json::json!({"message": "a test callback from paywatch", "endpoint": endpoint}),
    }
}

/// A `refund.*` event: the refund.
pub(crate) fn refund(kind: EventKind, r: &RefundRecord) -> NewEvent {
    debug_assert_eq!(kind.family(), paywatch_plugin_api::events::Family::Refund, "{kind}");
    event(kind, &r.store, Subject::Refund(r.id), views::refund(r))
}
