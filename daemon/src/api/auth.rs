//! Bearer API keys. A store's keys (the config file's `api_key`, every scope; and the keys the
//! admin API makes, each with its scopes, label and expiry) are looked up by their SHA-256 in
//! `stores`; the operator's admin key is compared in constant time. A store route needs the
//! scope `stores::required_scope` names for it: a key without it gets `403`. Failures to
//! authenticate are counted per client (`limits.rs`): past `server.auth_failure_burst`, `429`.
//!
//! The admin key reads any store's data (retired stores' too) on the store routes that only
//! read, naming the store in the `Paywatch-Store` header.

use super::error::ApiError;
use super::AppState;
use crate::config::{Config, KeyHash};
use crate::stores::{Caller, Refusal, Scope, Scopes};
use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use time::OffsetDateTime;

/// The header naming the store the admin key reads.
pub(crate) const STORE_HEADER: &str = "paywatch-store";

#[derive(Debug)]
pub(crate) struct Keys {
    admin: Option<KeyHash>,
}

impl Keys {
    pub(crate) fn new(config: &Config) -> Self {
        Self { admin: config.server.admin_key.clone() }
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

/// Who called a store route, with the scope the route needs checked.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let fail = || state.auth_failures().fail(&parts.extensions);
        let Some(token) = bearer(parts) else { return Err(fail()) };
        let needed = parts
            .extensions
            .get::<MatchedPath>()
            .and_then(|p| crate::stores::required_scope(&parts.method, p.as_str()));
        let caller = match state.stores().authenticate(token, OffsetDateTime::now_utc()) {
            Ok(c) => c,
            Err(Refusal::Unknown) if state.keys().is_admin(token) => return admin_reading(parts, state, needed),
            Err(Refusal::Unknown) => return Err(fail()),
            Err(Refusal::Expired(at)) => {
                let _ = fail();
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "key_expired",
                    format!("this API key expired at {}", crate::events::views::ts(at)),
                ));
            }
            Err(Refusal::Retired(store)) => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "store_retired",
                    format!("store {store:?} is retired: its keys no longer act for it"),
                ));
            }
        };
        match needed {
            Some(scope) if caller.scopes.has(scope) => Ok(caller),
            // A route without a scope of its own: only a key with every scope.
            None if caller.scopes == Scopes::all() => Ok(caller),
            needed => Err(forbidden(&caller.key_id, needed)),
        }
    }
}

/// The admin key on a store route: reads only, of the store `Paywatch-Store` names.
fn admin_reading(parts: &Parts, state: &AppState, needed: Option<Scope>) -> Result<Caller, ApiError> {
    let Some(store) = parts.headers.get(STORE_HEADER).and_then(|v| v.to_str().ok()) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the admin key reads a store's data with the Paywatch-Store header naming the store; it makes nothing for a store (use a key of the store)",
        ));
    };
    if !state.stores().exists(store) {
        return Err(ApiError::not_found(format!("store {store:?}")));
    }
    match needed {
        Some(scope) if scope.is_read() => {
            Ok(Caller { store: store.to_string(), key_id: "admin".into(), scopes: Scopes::reads() })
        }
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the admin key only reads a store's data (invoices, payments, watches, events, rates); a change needs a key of the store",
        )),
    }
}

fn forbidden(key_id: &str, needed: Option<Scope>) -> ApiError {
    let message = match needed {
        Some(scope) => format!("API key {key_id} lacks the scope {scope} this route needs"),
        None => format!("API key {key_id} is scoped; this route needs a key with every scope"),
    };
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

/// The store whose key authenticated the request (with the route's scope). Every store-scoped
/// route takes it.
#[derive(Debug, Clone)]
pub(crate) struct StoreId(pub(crate) String);

impl FromRequestParts<AppState> for StoreId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Caller::from_request_parts(parts, state).await.map(|c| StoreId(c.store))
    }
}

/// The operator (admin key): `/metrics`, `/v1/admin/…`.
#[derive(Debug)]
pub(crate) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = bearer(parts) else { return Err(state.auth_failures().fail(&parts.extensions)) };
        if state.keys().is_admin(token) {
            return Ok(Admin);
        }
        // A valid store key is no failed authentication: say what the route needs (a scraper
        // set up with a store key would otherwise lock its own address out).
        if state.stores().authenticate(token, OffsetDateTime::now_utc()).is_ok() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this route needs the admin key (server.admin_key), not a store key",
            ));
        }
        Err(state.auth_failures().fail(&parts.extensions))
    }
}

/// Any valid key, store or admin (documentation routes).
#[derive(Debug)]
pub(crate) struct AnyKey;

impl FromRequestParts<AppState> for AnyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = bearer(parts) else { return Err(state.auth_failures().fail(&parts.extensions)) };
        let store = state.stores().authenticate(token, OffsetDateTime::now_utc()).is_ok();
        let valid = store | state.keys().is_admin(token);
        valid.then_some(AnyKey).ok_or_else(|| state.auth_failures().fail(&parts.extensions))
    }
}
