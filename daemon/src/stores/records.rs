//! What the registry keeps per store, as stored and as the admin API shows it, and its errors.

use crate::config::{ConfigIssue, StoreConfig};
use crate::events::views::ts;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

/// The store record kind in the `admin` CF.
pub(crate) const KIND: &str = "store";

/// A run-time store as stored (`admin` CF, `store/` ‖ id): the spec as given (validated), so
/// that it is validated again, against the config of the day, at each start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoreRecord {
    pub(crate) spec: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub(crate) retired_at: Option<OffsetDateTime>,
}

/// A store in the registry.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) config: StoreConfig,
    /// `None`: the config file's.
    pub(crate) record: Option<StoreRecord>,
}

impl Entry {
    pub(crate) fn file(config: StoreConfig) -> Self {
        Self { config, record: None }
    }

    pub(crate) fn api(config: StoreConfig, record: StoreRecord) -> Self {
        Self { config, record: Some(record) }
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.record.as_ref().is_some_and(|r| r.retired_at.is_some())
    }

    pub(crate) fn view(&self) -> StoreView {
        let c = &self.config;
        let mut v = json!({
            "id": c.id,
            "name": c.name,
            "origin": if self.record.is_some() { "api" } else { "config" },
            "status": if self.is_retired() { "retired" } else { "active" },
            "receive_assets": c.receive.keys().collect::<Vec<_>>(),
        });
        match &self.record {
            Some(r) => {
                v["spec"] = r.spec.clone();
                v["created_at"] = json!(ts(r.created_at));
                v["updated_at"] = json!(ts(r.updated_at));
                v["retired_at"] = json!(r.retired_at.map(ts));
            }
            None => {
                v["spec"] = Value::Null;
            }
        }
        StoreView(v)
    }
}

/// A store as the admin API shows it: id, name, `origin` (`config` or `api`), `status`
/// (`active` or `retired`), the spec of a run-time store, its times.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub(crate) struct StoreView(pub(crate) Value);

/// Why the registry refused a change.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("{} problem(s) in the store: {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ConfigIssue>),
    #[error("{0}")]
    InvalidKey(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("store {0:?} exists already, or did and keeps its id (a retired store, one left out at start, or one taken out of the config file whose keys are not all revoked)")]
    Exists(String),
    #[error("store {0:?} is declared in the config file: change it there")]
    FromConfig(String),
    #[error("store {0:?} is retired")]
    Retired(String),
    #[error("{0}")]
    Conflict(String),
    #[error("database: {0}")]
    Db(#[from] crate::db::DbError),
}
