//! The fan-out behind the open checkout pages: one task reads each committed event of the
//! outbox once and, for an invoice that has pages open, reads its status once and hands it to
//! every page of it (a `watch` channel each invoice: a slow page skips to the newest status,
//! never queues). Nothing is read per page or per tick; an invoice nobody looks at costs nothing.
//!
//! A page opens with the status it reads itself ([`Hub::subscribe`]); statuses carry the outbox
//! sequence number they were read at, so a stream never goes back to an older one.

use super::status::PublicStatus;
use crate::db::{Db, EventRecord, InvoiceRecord};
use crate::invoices::{InvoiceError, Invoices};
use paywatch_plugin_api::events::Family;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;
use uuid::Uuid;

/// Events read from the outbox at a time.
const READ_BATCH: usize = 1000;

/// The latest status of one invoice, as its pages are sent it.
type Latest = watch::Receiver<Option<Arc<Published>>>;

/// A status as its streams send it: serialized once, whatever the number of pages.
#[derive(Debug)]
pub(crate) struct Published {
    pub(crate) version: u64,
    pub(crate) json: String,
}

impl Published {
    fn of(status: &PublicStatus) -> Arc<Self> {
        let json = serde_json::to_string(status).expect("a public status serializes");
        Arc::new(Self { version: status.version, json })
    }
}

/// The open pages' invoices and where their statuses come from. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Arc<Db>,
    invoices: Invoices,
    /// Store id → display name.
    names: std::sync::RwLock<HashMap<String, String>>,
    pages: Mutex<Pages>,
    /// See [`Hub::cursor`]; starts at what was committed when the hub was made.
    cursor: Mutex<u64>,
}

#[derive(Debug, Default)]
struct Pages {
    invoices: HashMap<Uuid, Watched>,
    /// Each watched invoice's addresses (watch ids): `payment.*` events name them.
    watches: HashMap<Uuid, Uuid>,
}

#[derive(Debug)]
struct Watched {
    latest: watch::Sender<Option<Arc<Published>>>,
    watches: Vec<Uuid>,
    pages: usize,
}

/// What opening a page found.
#[derive(Debug)]
pub(crate) enum Subscribed {
    Open(Subscription),
    NotFound,
    /// The invoice has its most pages open already.
    Full,
}

/// An open page at the hub: its first status and the newer ones. Dropping it closes the
/// page (the last page of an invoice removes the invoice).
#[derive(Debug)]
pub(crate) struct Subscription {
    pub(crate) first: Arc<Published>,
    pub(crate) latest: Latest,
    _place: Place,
}

/// A page counted at the hub; uncounted on drop.
#[derive(Debug)]
struct Place {
    hub: Hub,
    invoice: Uuid,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut pages = self.hub.pages();
        let Some(w) = pages.invoices.get_mut(&self.invoice) else { return };
        w.pages -= 1;
        if w.pages == 0 {
            let w = pages.invoices.remove(&self.invoice).expect("just found");
            for watch in w.watches {
                pages.watches.remove(&watch);
            }
        }
    }
}

impl Hub {
    pub(crate) fn new(db: Arc<Db>, invoices: Invoices, names: HashMap<String, String>) -> Self {
        let cursor = Mutex::new(*db.subscribe_seq().borrow());
        let names = std::sync::RwLock::new(names);
        Self { inner: Arc::new(Inner { db, invoices, names, pages: Mutex::default(), cursor }) }
    }

    /// What the pages call `store` (`stores[].name`).
    pub(crate) fn store_name(&self, store: &str) -> String {
        let names = self.inner.names.read().unwrap_or_else(|p| p.into_inner());
        names.get(store).map_or_else(|| store.to_string(), Clone::clone)
    }

    fn pages(&self) -> MutexGuard<'_, Pages> {
        self.inner.pages.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Invoices with a page open now, and the pages (for `/metrics`).
    pub(crate) fn open(&self) -> (usize, usize) {
        let pages = self.pages();
        (pages.invoices.len(), pages.invoices.values().map(|w| w.pages).sum())
    }

    /// The public status of invoice `id` now, labelled with the outbox sequence number the
    /// fan-out has reached; `None` if there is no such invoice. Blocking (RocksDB).
    pub(crate) fn status(&self, id: Uuid) -> Result<Option<PublicStatus>, InvoiceError> {
        let cursor = self.cursor();
        self.read(id, *cursor)
    }

    /// Reads invoice `id`'s public status, labelled `version`. Callers hold the cursor, so no
    /// two reads race with each other or with the fan-out.
    fn read(&self, id: Uuid, version: u64) -> Result<Option<PublicStatus>, InvoiceError> {
        Ok(self.read_record(id, version)?.map(|(_, status)| status))
    }

    /// [`Hub::read`], with the invoice's record.
    fn read_record(&self, id: Uuid, version: u64) -> Result<Option<(InvoiceRecord, PublicStatus)>, InvoiceError> {
        let Some(record) = self.inner.invoices.get_public(id)? else { return Ok(None) };
        let view = self.inner.invoices.view(&record)?;
        let status = PublicStatus::new(&view, &self.store_name(&record.store), record.redirect_url.as_deref(), version);
        Ok(Some((record, status)))
    }

    /// The fan-out's position: the outbox sequence number up to which every open page has
    /// been sent its invoice's status. Held while reading, so reads are ordered: a status read
    /// later is never older than one read before, and its label (the cursor) never smaller.
    fn cursor(&self) -> MutexGuard<'_, u64> {
        self.inner.cursor.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest outbox sequence number committed.
    fn committed(&self) -> u64 {
        *self.inner.db.subscribe_seq().borrow()
    }

    /// Opens a page of invoice `id`, one of at most `max_pages` open on it: its status now and
    /// every newer one. Blocking (RocksDB).
    pub(crate) fn subscribe(&self, id: Uuid, max_pages: usize) -> Result<Subscribed, InvoiceError> {
        let place = Place { hub: self.clone(), invoice: id };
        let latest = {
            let mut pages = self.pages();
            let w = pages.invoices.entry(id).or_insert_with(|| Watched {
                latest: watch::channel(None).0,
                watches: Vec::new(),
                pages: 0,
            });
            // Counted at once, so `place` uncounts it on every return below.
            w.pages += 1;
            if w.pages > max_pages {
                return Ok(Subscribed::Full);
            }
            w.latest.subscribe()
        };
        // Under the cursor: the fan-out reads no event while this page reads its status and
        // names its addresses, so whatever comes after the cursor reaches this page.
        let cursor = self.cursor();
        let Some((record, first)) = self.read_record(id, *cursor)? else { return Ok(Subscribed::NotFound) };
        {
            let mut pages = self.pages();
            let watches: Vec<Uuid> = record.methods.iter().map(|m| m.watch_id).collect();
            for w in &watches {
                pages.watches.insert(*w, id);
            }
            if let Some(w) = pages.invoices.get_mut(&id) {
                w.watches = watches;
            }
        }
        Ok(Subscribed::Open(Subscription { first: Published::of(&first), latest, _place: place }))
    }

    /// The invoices with an open page that these events touch: `invoice.*` of one, and
    /// `payment.*` to one of its addresses (a confirmation moves its page's count).
    fn touched(&self, events: &[EventRecord]) -> HashSet<Uuid> {
        let pages = self.pages();
        let mut out = HashSet::new();
        for e in events {
            let id = match e.kind.family() {
                Family::Invoice => e.data["id"].as_str().and_then(|s| s.parse().ok()),
                Family::Payment => e.data["watch_id"]
                    .as_str()
                    .and_then(|s| s.parse::<Uuid>().ok())
                    .and_then(|w| pages.watches.get(&w).copied()),
                Family::Refund | Family::Ping => None,
            };
            if let Some(id) = id.filter(|id| pages.invoices.contains_key(id)) {
                out.insert(id);
            }
        }
        out
    }

    /// Reads the outbox after the cursor up to what is committed, and sends every touched
    /// open invoice its new status. Blocking (RocksDB). On an error the cursor stays where it
    /// was: the same events are read again at the next commit.
    pub(crate) fn catch_up(&self) -> Result<(), InvoiceError> {
        loop {
            let mut cursor = self.cursor();
            // Read before looking for pages: a page opened after the look reads (under the
            // cursor) everything committed up to here.
            let committed = self.committed();
            if self.pages().invoices.is_empty() {
                // Nobody to tell: skip what was committed without reading it.
                *cursor = (*cursor).max(committed);
                return Ok(());
            }
            let events = self.inner.db.events_after(*cursor, READ_BATCH).map_err(InvoiceError::from)?;
            let Some(last) = events.last().map(|e| e.seq) else { return Ok(()) };
            let mut statuses = Vec::new();
            for id in self.touched(&events) {
                if let Some(status) = self.read(id, last)? {
                    statuses.push((id, status));
                }
            }
            *cursor = last;
            for (id, status) in statuses {
                self.publish(id, status);
            }
            if events.len() < READ_BATCH {
                return Ok(());
            }
        }
    }

    fn publish(&self, id: Uuid, status: PublicStatus) {
        if let Some(w) = self.pages().invoices.get(&id) {
            w.latest.send_replace(Some(Published::of(&status)));
        }
    }

    /// Follows the outbox until `stop` turns true.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut committed = self.inner.db.subscribe_seq();
        committed.borrow_and_update();
        loop {
            tokio::select! {
                changed = committed.changed() => if changed.is_err() { return },
                _ = stop.wait_for(|s| *s) => return,
            }
            committed.borrow_and_update();
            let hub = self.clone();
            match tokio::task::spawn_blocking(move || hub.catch_up()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "checkout pages: reading new events failed; retrying at the next commit");
                }
                Err(e) => tracing::error!(error = %e, "checkout pages: the fan-out task panicked"),
            }
        }
    }
}

impl crate::stores::StoreSettings for Hub {
    fn put_store(&self, store: &crate::config::StoreConfig) {
        let mut names = self.inner.names.write().unwrap_or_else(|p| p.into_inner());
        names.insert(store.id.clone(), store.name.clone());
    }
}
