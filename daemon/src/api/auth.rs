//! Bearer API keys: one per store, plus the operator's admin key. Every key is checked (no
//! early exit) and compared in constant time against its SHA-256. Failures are counted per
//! client (`limits.rs`): past `server.auth_failure_burst`, `429`.

use super::error::ApiError;
use super::AppState;
use crate::config::{Config, KeyHash};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

#[derive(Debug)]
pub(crate) struct Keys {
    stores: Vec<(String, KeyHash)>,
    admin: Option<KeyHash>,
}

impl Keys {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            stores: config.stores.iter().map(|s| (s.id.clone(), s.api_key.clone())).collect(),
            admin: config.server.admin_key.clone(),
        }
    }

    fn store_for(&self, presented: &str) -> Option<&str> {
        let mut found = None;
        for (id, hash) in &self.stores {
            if hash.matches(presented) && found.is_none() {
                found = Some(id.as_str());
            }
        }
        found
    }

    fn is_admin(&self, presented: &str) -> bool {
        self.admin.as_ref().is_some_and(|h| h.matches(presented))
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The store whose key authenticated the request. Every store-scoped route takes it.
#[derive(Debug, Clone)]
pub(crate) struct StoreId(pub(crate) String);

impl FromRequestParts<AppState> for StoreId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let store = bearer(parts).and_then(|token| state.keys().store_for(token));
        store.map(|s| StoreId(s.to_string())).ok_or_else(|| state.auth_failures().fail(&parts.extensions))
    }
}

/// The operator (admin key): `/metrics`.
#[derive(Debug)]
pub(crate) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let admin = bearer(parts).is_some_and(|token| state.keys().is_admin(token));
        admin.then_some(Admin).ok_or_else(|| state.auth_failures().fail(&parts.extensions))
    }
}

/// Any valid key, store or admin (documentation routes).
#[derive(Debug)]
pub(crate) struct AnyKey;

impl FromRequestParts<AppState> for AnyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let keys = state.keys();
        let valid = bearer(parts).is_some_and(|token| keys.store_for(token).is_some() | keys.is_admin(token));
        valid.then_some(AnyKey).ok_or_else(|| state.auth_failures().fail(&parts.extensions))
    }
}
