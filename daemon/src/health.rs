//! Component health for `/health`: the store, each chain, each plugin.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::RwLock;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Configured but not running yet (or no follower in this version).
    Idle,
    Degraded,
    Down,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Component {
    pub status: Status,
    /// What is wrong or where it is (node URLs, paths, panic messages): with the admin key only.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// `/health` body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthReport {
    /// `down` if any component is down, `degraded` if any is degraded, else `ok`.
    pub status: Status,
    /// With the admin key only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<&'static str>,
    pub store: Component,
    pub chains: BTreeMap<String, Component>,
    pub plugins: BTreeMap<String, Component>,
}

impl HealthReport {
    pub fn is_down(&self) -> bool {
        self.status == Status::Down
    }

    /// What anyone may see: every status, no detail and no version (details name node URLs,
    /// which hosted providers put API keys in, paths and panic messages).
    pub fn statuses_only(mut self) -> Self {
        self.version = None;
        let components =
            std::iter::once(&mut self.store).chain(self.chains.values_mut()).chain(self.plugins.values_mut());
        for c in components {
            c.detail.clear();
        }
        self
    }
}

#[derive(Debug)]
pub(crate) struct Health {
    inner: RwLock<State>,
}

#[derive(Debug)]
struct State {
    store: Component,
    chains: BTreeMap<String, Component>,
    plugins: BTreeMap<String, Component>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Chain,
    Plugin,
}

impl Health {
    pub(crate) fn new() -> Self {
        let store = Component { status: Status::Idle, detail: "not opened".into() };
        Self { inner: RwLock::new(State { store, chains: BTreeMap::new(), plugins: BTreeMap::new() }) }
    }

    pub(crate) fn set_store(&self, status: Status, detail: impl Into<String>) {
        self.write().store = Component { status, detail: detail.into() };
    }

    pub(crate) fn set(&self, kind: Kind, name: &str, status: Status, detail: impl Into<String>) {
        let mut s = self.write();
        let map = match kind {
            Kind::Chain => &mut s.chains,
            Kind::Plugin => &mut s.plugins,
        };
        map.insert(name.to_string(), Component { status, detail: detail.into() });
    }

    pub(crate) fn report(&self) -> HealthReport {
        let s = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let worst =
            std::iter::once(&s.store).chain(s.chains.values()).chain(s.plugins.values()).map(|c| c.status).max();
        let status = match worst {
            Some(Status::Down) => Status::Down,
            Some(Status::Degraded) => Status::Degraded,
            _ => Status::Ok,
        };
        HealthReport {
            status,
            version: Some(env!("CARGO_PKG_VERSION")),
            store: s.store.clone(),
            chains: s.chains.clone(),
            plugins: s.plugins.clone(),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_component_decides() {
        let h = Health::new();
        h.set_store(Status::Ok, "open");
        h.set(Kind::Chain, "btc", Status::Idle, "no follower");
        assert_eq!(h.report().status, Status::Ok);
        h.set(Kind::Plugin, "bitcoin", Status::Degraded, "recreated after a panic");
        assert_eq!(h.report().status, Status::Degraded);
        h.set(Kind::Chain, "btc", Status::Down, "node unreachable");
        assert!(h.report().is_down());
    }

    #[test]
    fn the_public_view_has_statuses_and_no_detail() {
        let h = Health::new();
        h.set_store(Status::Ok, "/var/lib/paywatch");
        h.set(Kind::Chain, "eth", Status::Degraded, "https://eth.example/v2/SECRETKEY unreachable");
        h.set(Kind::Plugin, "fixture@FIX", Status::Degraded, "panicked in parse_address");
        let full = h.report();
        let public = serde_json::to_value(full.clone().statuses_only()).unwrap();
        assert_eq!(
            public,
            serde_json::json!({"status": "degraded", "store": {"status": "ok"},
                "chains": {"eth": {"status": "degraded"}}, "plugins": {"fixture@FIX": {"status": "degraded"}}})
        );
        let admin = serde_json::to_value(full).unwrap();
        assert!(admin["chains"]["eth"]["detail"].as_str().unwrap().contains("SECRETKEY"));
        assert!(admin["version"].is_string());
    }
}
