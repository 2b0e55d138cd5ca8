//! `paywatch keys create|list|revoke`: the admin API's key routes with the daemon stopped (it
//! holds the database's lock while it runs; then use the API).

use super::Stores;
use crate::config::Config;
use crate::db::Db;
use crate::RunError;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;

fn open(config: &Config, what: &str) -> Result<Stores, RunError> {
    let db = Db::open_existing(&config.storage.path).map_err(|e| {
        let message = match e {
            crate::db::DbError::Open { .. } => format!(
                "cannot open the store ({e}): stop the daemon, or use the admin API while it runs (POST /v1/admin/stores/{{id}}/keys, GET the same, DELETE /v1/admin/keys/{{id}})"
            ),
            e => e.to_string(),
        };
        RunError::Refused { at: format!("keys {what}"), message }
    })?;
    Ok(Stores::read(config, Arc::new(db), HashMap::new())?.0)
}

fn refused(what: &str, e: impl ToString) -> RunError {
    RunError::Refused { at: format!("keys {what}"), message: e.to_string() }
}

/// Makes a key for `store` with `scopes` (names, or `*`): the key (shown once) and its fields.
pub fn keys_create(
    config: &Config,
    store: &str,
    label: &str,
    scopes: &[String],
    expires_at: Option<OffsetDateTime>,
) -> Result<(String, Value), RunError> {
    let scopes = super::parse_scopes(scopes).map_err(|m| refused("create", m))?;
    let stores = open(config, "create")?;
    let made = stores
        .create_key(store, label, scopes, expires_at, OffsetDateTime::now_utc())
        .map_err(|e| refused("create", e))?;
    Ok((made.key, made.view))
}

/// A store's keys made through the admin API or `keys create` (never the keys themselves).
pub fn keys_list(config: &Config, store: &str) -> Result<Vec<Value>, RunError> {
    open(config, "list")?.keys_of(store).map_err(|e| refused("list", e))
}

/// Revokes a key by its id.
pub fn keys_revoke(config: &Config, id: &str) -> Result<Value, RunError> {
    open(config, "revoke")?.revoke_key(id, OffsetDateTime::now_utc()).map_err(|e| refused("revoke", e))
}
