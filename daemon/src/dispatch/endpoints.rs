//! Endpoints: declared in the config file (synced at start) or made through the API. Secrets
//! are write-only: stored for the plugin, never shown.

use super::secrets::SIGNING_KEYS;
use super::{policy, send::Outcome, DispatchError, Dispatcher};
use crate::config::Config;
use crate::db::{DbError, DeliveryRecord, DeliveryStatus, EndpointRecord};
use crate::plugins::{CallError, PluginInstance};
use paywatch_plugin_api::messages::platform_method;
use serde_json::{json, Map, Value};
use sha2::Digest;
use time::OffsetDateTime;
use uuid::Uuid;

/// An endpoint to create.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewEndpoint {
    pub(crate) plugin: String,
    pub(crate) url: String,
    pub(crate) events: Vec<String>,
    pub(crate) enabled: Option<bool>,
    /// `secret`, `secrets`, `ed25519_secret_key` and the plugin's own keys.
    pub(crate) config: Map<String, Value>,
}

/// What a PATCH changes.
#[derive(Debug, Clone, Default)]
pub(crate) struct EndpointChange {
    pub(crate) url: Option<String>,
    pub(crate) events: Option<Vec<String>>,
    pub(crate) enabled: Option<bool>,
    pub(crate) config: Map<String, Value>,
}

/// Keys of an endpoint object the API sets from its own fields: `params` may not carry them
/// (a `params.url` would replace the checked `url`).
pub(crate) fn check_params(params: &Map<String, Value>) -> Result<(), DispatchError> {
    match std::iter::once("url").chain(SIGNING_KEYS).find(|k| params.contains_key(*k)) {
        Some(k) => Err(DispatchError::Invalid(format!("params.{k}: set {k} as a field of its own, not in params"))),
        None => Ok(()),
    }
}

/// The events a gateway's callbacks are made from: its invoices' (and of those, only the
/// invoices made through it: `policy::takes`).
fn gateway_events() -> Vec<String> {
    vec!["invoice.*".into()]
}

/// The params of a store's endpoint for one of its gateway-compatible APIs (`docs/compat.md`).
/// Its `url` is empty: each invoice names its own callback URL in its gateway fields (an
/// invoice without one gets no callback), and the gateway's plugin renders requests to it,
/// which go through the same SSRF guard, retries and delivery log as every callback.
/// `bitpay_key`: the BitPay tokens' key ([`bitpay_token_key`]), the `bitpay` endpoints'
/// secret `token_key`.
fn gateway_endpoint(s: &crate::config::StoreConfig, gateway: &str, bitpay_key: Option<&str>) -> Map<String, Value> {
    let mut params = Map::new();
    params.insert("url".into(), "".into());
    if let ("bitpay", Some(key)) = (gateway, bitpay_key) {
        params.insert("token_key".into(), key.into());
    }
    if let ("coinpayments", Some(c)) = (gateway, &s.gateways.coinpayments) {
        params.insert("merchant_id".into(), c.merchant_id.clone().into());
        params.insert("ipn_secret".into(), c.ipn_secret.expose().into());
    }
    params
}

/// The key BitPay API tokens are derived from (`docs/compat.md`): 32 random bytes as hex, made
/// and stored in the `compat` column family (`bitpay` `key`) on first use. The BitPay routes
/// derive tokens with it; the `bitpay` plugin, given it as its endpoints' secret `token_key`,
/// derives an invoice's token from the token's id to sign the IPNs.
pub(crate) fn bitpay_token_key(db: &crate::db::Db) -> Result<String, DbError> {
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = MAKING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(key) = db.compat_get::<String>("bitpay", b"key")? {
        return Ok(key);
    }
    let key = hex::encode(rand::random::<[u8; 32]>());
    let mut b = db.batch();
    b.compat_put("bitpay", b"key", &key)?;
    db.write(b)?;
    Ok(key)
}

fn check_events(events: &[String]) -> Result<(), DispatchError> {
    for e in events {
        let ok = !e.is_empty() && e.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.' || b == b'*');
        if !ok {
            return Err(DispatchError::Invalid(format!("{e:?} is not an event type or pattern like \"invoice.*\"")));
        }
    }
    Ok(())
}

fn check_url(url: &str) -> Result<url::Url, DispatchError> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u),
        _ => Err(DispatchError::Invalid(format!("url {url:?} is not an http(s) URL"))),
    }
}

impl Dispatcher {
    /// The API's view of an endpoint: no secret's value, only that it is set (`has_secret`: a
    /// signing key; `secret_params`: the names of every secret param set, the plugin's own
    /// included).
    pub(crate) fn endpoint_json(&self, e: &EndpointRecord) -> Value {
        let secret = |k: &str| self.inner.secrets.is_secret(&e.plugin, k);
        let params: Map<String, Value> = e
            .config
            .iter()
            .filter(|(k, _)| !secret(k) && k.as_str() != "url")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let secret_params: Vec<&String> = e.config.keys().filter(|k| secret(k)).collect();
        json!({
            "id": e.id, "store": e.store, "plugin": e.plugin, "url": e.config.get("url"), "events": e.events,
            "enabled": e.enabled, "disabled_reason": e.disabled_reason, "from_config": e.from_config,
            "has_secret": SIGNING_KEYS.iter().any(|k| e.config.contains_key(*k)), "params": params,
            "secret_params": secret_params,
            "created_at": e.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "updated_at": e.updated_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        })
    }

    /// Upserts the config file's endpoints (stable ids from store and position) and its
    /// stores' gateway endpoints (one per enabled gateway, see [`gateway_endpoint`]), and
    /// removes the ones no longer declared. A new endpoint starts at the current end of the
    /// outbox.
    pub(super) fn sync_config_endpoints(&self, config: &Config) -> Result<(), DbError> {
        let db = self.db();
        let now = OffsetDateTime::now_utc();
        let mut declared = Vec::new();
        let bitpay_key = match config.stores.iter().any(|s| s.gateways.bitpay.is_some()) {
            true => Some(bitpay_token_key(db)?),
            false => None,
        };
        let mut batch = db.batch();
        for s in &config.stores {
            let listed = s.endpoints.iter().enumerate().map(|(i, e)| {
                (format!("paywatch endpoint {}/{i}", s.id), e.plugin.clone(), e.plugin_object(), e.events.clone())
            });
            let gateways = s.gateways.enabled().map(|g| {
                (
                    format!("paywatch gateway endpoint {}/{g}", s.id),
                    g.to_string(),
                    gateway_endpoint(s, g, bitpay_key.as_deref()),
                    gateway_events(),
                )
            });
            for (seed, plugin, config, events) in listed.chain(gateways) {
                let digest = sha2::Sha256::digest(seed);
                let id = uuid::Builder::from_bytes(digest[..16].try_into().expect("16 bytes"))
                    .with_variant(uuid::Variant::RFC4122)
                    .with_version(uuid::Version::Custom)
                    .into_uuid();
                declared.push(id);
                let old = db.endpoint(id)?;
                if old.is_none() {
                    batch.put_cursor(id, *db.subscribe_seq().borrow());
                }
                batch.put_endpoint(&EndpointRecord {
                    id,
                    store: s.id.clone(),
                    plugin,
                    config,
                    events,
                    enabled: old.as_ref().is_none_or(|o| o.enabled),
                    disabled_reason: old.as_ref().and_then(|o| o.disabled_reason.clone()),
                    from_config: true,
                    created_at: old.as_ref().map_or(now, |o| o.created_at),
                    updated_at: now,
                })?;
            }
        }
        for gone in db.endpoints()?.into_iter().filter(|e| e.from_config && !declared.contains(&e.id)) {
            batch.delete_endpoint(gone.id);
        }
        db.write(batch)
    }

    /// Refuses URLs that resolve to private addresses, unless allowlisted for every store or
    /// for `store`.
    pub(crate) async fn check_destination(&self, store: &str, url: &str) -> Result<(), DispatchError> {
        let u = check_url(url)?;
        self.inner.routes.of(store).guard.check_url(&u).await.map_err(DispatchError::Forbidden)
    }

    pub(crate) fn create_endpoint(&self, store_id: &str, new: NewEndpoint) -> Result<EndpointRecord, DispatchError> {
        if !self.inner.platforms.contains_key(&new.plugin) {
            let mut loaded: Vec<&String> = self.inner.platforms.keys().collect();
            loaded.sort();
            return Err(DispatchError::Invalid(format!(
                "platform plugin {:?} is not loaded (loaded: {loaded:?}; the operator adds it to [plugins] enable)",
                new.plugin
            )));
        }
        check_url(&new.url)?;
        check_events(&new.events)?;
        let mut config = new.config;
        config.insert("url".into(), new.url.into());
        self.validate_params(&new.plugin, &config)?;
        // Counted and written under one lock: two requests racing for the last place get one.
        let _creating = self.inner.creating.lock().unwrap_or_else(|p| p.into_inner());
        let max = self.inner.max_endpoints.get(store_id).map_or(0, |m| *m);
        if self.db().endpoints()?.iter().filter(|e| e.store == store_id).count() >= max as usize {
            return Err(DispatchError::Quota { store: store_id.to_string(), max });
        }
        let now = OffsetDateTime::now_utc();
        let e = EndpointRecord {
            id: Uuid::now_v7(),
            store: store_id.to_string(),
            plugin: new.plugin,
            config,
            events: new.events,
            enabled: new.enabled.unwrap_or(true),
            disabled_reason: None,
            from_config: false,
            created_at: now,
            updated_at: now,
        };
        let db = self.db();
        let mut batch = db.batch();
        batch.put_endpoint(&e)?;
        batch.put_cursor(e.id, *db.subscribe_seq().borrow());
        db.write(batch)?;
        Ok(e)
    }

    /// The platform plugin's verdict on an endpoint's params (`validate_endpoint`; a plugin
    /// built before ABI 1.1 answers `unknown_method` and accepts everything). Blocking.
    pub(crate) fn validate_params(&self, plugin: &str, config: &Map<String, Value>) -> Result<(), DispatchError> {
        let Some(p) = self.inner.platforms.get(plugin) else {
            return Err(DispatchError::Invalid(format!("platform plugin {plugin:?} is not loaded")));
        };
        validate_with(p, config).map_err(DispatchError::Invalid)
    }

    pub(crate) fn endpoint(&self, store_id: &str, id: Uuid) -> Result<EndpointRecord, DispatchError> {
        self.db()
            .endpoint(id)?
            .filter(|e| e.store == store_id)
            .ok_or_else(|| DispatchError::NotFound(format!("endpoint {id}")))
    }

    pub(crate) fn endpoints(&self, store_id: &str) -> Result<Vec<EndpointRecord>, DispatchError> {
        Ok(self.db().endpoints()?.into_iter().filter(|e| e.store == store_id).collect())
    }

    pub(crate) fn update_endpoint(
        &self,
        store_id: &str,
        id: Uuid,
        c: EndpointChange,
    ) -> Result<EndpointRecord, DispatchError> {
        let mut e = self.endpoint(store_id, id)?;
        if e.from_config && (c.url.is_some() || c.events.is_some() || !c.config.is_empty()) {
            return Err(DispatchError::FromConfig(id));
        }
        // Only a change of params is validated: enabling or disabling must keep working for an
        // endpoint whose plugin is gone or whose stored params an upgraded plugin refuses.
        let params_change = c.url.is_some() || !c.config.is_empty();
        // The params first: the checked url is applied after them, so no param can replace it.
        e.config.extend(c.config);
        if let Some(url) = c.url {
            check_url(&url)?;
            e.config.insert("url".into(), url.into());
        }
        if let Some(events) = c.events {
            check_events(&events)?;
            e.events = events;
        }
        if c.enabled == Some(true) && !self.inner.platforms.contains_key(&e.plugin) {
            // It could deliver nothing, and a daemon does not start with such an endpoint
            // enabled (`startup::stored_endpoints`): a store must not be able to cause that.
            return Err(DispatchError::Invalid(format!(
                "platform plugin {:?} is not loaded: an endpoint using it cannot be enabled",
                e.plugin
            )));
        }
        if let Some(enabled) = c.enabled {
            e.enabled = enabled;
            if enabled {
                e.disabled_reason = None;
            }
        }
        if params_change {
            self.validate_params(&e.plugin, &e.config)?;
        }
        e.updated_at = OffsetDateTime::now_utc();
        let mut batch = self.db().batch();
        batch.put_endpoint(&e)?;
        self.db().write(batch)?;
        Ok(e)
    }

    /// Disables every endpoint of a store, saying `why` (a retired store).
    pub(crate) fn disable_store(&self, store_id: &str, why: &str) -> Result<(), DispatchError> {
        let now = OffsetDateTime::now_utc();
        let mut batch = self.db().batch();
        for mut e in self.endpoints(store_id)?.into_iter().filter(|e| e.enabled) {
            e.enabled = false;
            e.disabled_reason = Some(why.to_string());
            e.updated_at = now;
            batch.put_endpoint(&e)?;
        }
        self.db().write(batch)?;
        Ok(())
    }

    pub(crate) fn delete_endpoint(&self, store_id: &str, id: Uuid) -> Result<(), DispatchError> {
        let e = self.endpoint(store_id, id)?;
        if e.from_config {
            return Err(DispatchError::FromConfig(id));
        }
        let mut batch = self.db().batch();
        batch.delete_endpoint(id);
        Ok(self.db().write(batch)?)
    }

    pub(crate) fn deliveries(
        &self,
        store_id: &str,
        id: Uuid,
        after: u64,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, DispatchError> {
        self.endpoint(store_id, id)?;
        Ok(self.db().deliveries(id, after, limit)?)
    }

    /// Sends an event again to every endpoint of its store whose filter takes it; the ids.
    pub(crate) fn redeliver(&self, store_id: &str, seq: u64) -> Result<Vec<Uuid>, DispatchError> {
        let db = self.db();
        let event = db.event(store_id, seq)?.ok_or_else(|| DispatchError::NotFound(format!("event {seq}")))?;
        let mut batch = db.batch();
        let mut ids = Vec::new();
        let mut newly = Vec::new();
        for ep in self.endpoints(store_id)?.into_iter().filter(|e| policy::matches(&e.events, event.kind.as_str())) {
            let stored = db.delivery(ep.id, seq)?;
            if stored.as_ref().is_none_or(|d| d.status != DeliveryStatus::Pending) {
                newly.push(ep.id);
            }
            let mut d = stored.unwrap_or_else(|| DeliveryRecord::pending(ep.id, &event));
            d.status = DeliveryStatus::Pending;
            d.next_attempt_at = None;
            batch.put_delivery(&d)?;
            ids.push(ep.id);
        }
        db.write(batch)?;
        for id in newly {
            self.metrics_of(store_id, id).taken_in(1);
        }
        Ok(ids)
    }

    /// Sends a signed `ping` event to an endpoint now (not recorded as a delivery).
    pub(crate) async fn test(&self, store_id: &str, id: Uuid) -> Result<Outcome, DispatchError> {
        let ep = self.endpoint(store_id, id)?;
        let ping = crate::events::ping(store_id, id);
        Ok(self.send(&ep, &ping, 1).await)
    }
}

/// Asks a platform plugin whether it accepts an endpoint's params; the refusal's message.
pub(crate) fn validate_with(plugin: &PluginInstance, config: &Map<String, Value>) -> Result<(), String> {
    match plugin.call::<_, Value>(platform_method::VALIDATE_ENDPOINT, config) {
        Ok(_) => Ok(()),
        Err(e) if e.plugin_code() == Some("unknown_method") => Ok(()),
        Err(CallError::Plugin { plugin, error, .. }) => {
            Err(format!("plugin {plugin} refused the endpoint: {}", error.message))
        }
        // A panic's message may quote the params (secrets): it is in the daemon's log only.
        Err(CallError::Panicked { plugin, .. }) => {
            Err(format!("plugin {plugin} failed while validating the endpoint (see the daemon's log)"))
        }
        Err(e) => Err(e.to_string()),
    }
}
