use super::*;
use crate::config::StoreConfig;
use records::StoreRecord;
use serde_json::json;
use std::sync::Mutex as StdMutex;
use time::Duration;

#[derive(Debug, Default)]
struct Recorder(StdMutex<Vec<String>>);

impl StoreSettings for Recorder {
    fn put_store(&self, s: &StoreConfig) {
        self.0.lock().unwrap().push(format!("put {} {}", s.id, s.speed));
    }
    fn retire_store(&self, s: &str) {
        self.0.lock().unwrap().push(format!("retire {s}"));
    }
}

fn config(dir: &std::path::Path) -> Config {
    crate::config::parse_str(&format!(
        r#"
[server]
listen = "127.0.0.1:0"
[storage]
path = "{}"
[[stores]]
id = "file"
api_key = "file_Xq7Lm2Vb9Rt4Kp8Wz3Nc6Hd1Yf5Gs"
"#,
        dir.join("db").display()
    ))
    .unwrap()
}

fn open(dir: &std::path::Path) -> (Stores, Arc<Recorder>) {
    let c = config(dir);
    let db = Arc::new(Db::open(&c.storage.path).unwrap());
    let (stores, _) = Stores::load(&c, db, HashMap::new()).unwrap();
    let rec = Arc::new(Recorder::default());
    stores.attach(rec.clone());
    (stores, rec)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[test]
fn a_store_made_at_run_time_is_applied_kept_and_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, rec) = open(dir.path());
    let v = stores.create_store(json!({"id": "s2", "speed": 3}), now()).unwrap();
    assert_eq!((v.0["origin"].as_str(), v.0["status"].as_str()), (Some("api"), Some("active")));
    assert!(matches!(stores.create_store(json!({"id": "s2"}), now()), Err(StoreError::Exists(_))));
    assert!(matches!(stores.create_store(json!({"id": "file"}), now()), Err(StoreError::Exists(_))));
    let v = stores.update_store("s2", json!({"speed": 5, "name": "Two"}), now()).unwrap();
    assert_eq!(v.0["spec"], json!({"id": "s2", "speed": 5, "name": "Two"}));
    assert!(matches!(stores.update_store("s2", json!({"id": "s3"}), now()), Err(StoreError::Invalid(_))));
    assert!(matches!(stores.update_store("s2", json!({"speed": "x"}), now()), Err(StoreError::Invalid(_))));
    assert!(matches!(stores.update_store("file", json!({"speed": 2}), now()), Err(StoreError::FromConfig(_))));
    assert_eq!(*rec.0.lock().unwrap(), ["put s2 3", "put s2 5"]);
    drop(stores);
    // Read again at the next start, as it was last saved.
    let c = config(dir.path());
    let db = Arc::new(Db::open(&c.storage.path).unwrap());
    let (again, api) = Stores::load(&c, db, HashMap::new()).unwrap();
    assert_eq!(api.iter().map(|s| (s.id.as_str(), s.speed)).collect::<Vec<_>>(), [("s2", 5)]);
    let ids: Vec<String> = again.list().iter().map(|v| v.0["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, ["file", "s2"]);
}

#[test]
fn keys_act_with_their_scopes_until_expired_revoked_or_the_store_retired() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, rec) = open(dir.path());
    stores.create_store(json!({"id": "s2"}), now()).unwrap();
    let checkout =
        stores.create_key("s2", "checkout", vec![Scope::InvoicesCreate, Scope::InvoicesRead], None, now()).unwrap();
    assert!(checkout.key.starts_with("pwk_"));
    assert!(!checkout.view.to_string().contains(&checkout.key), "the view never holds the key");
    let c = stores.authenticate(&checkout.key, now()).unwrap();
    assert_eq!(c.store, "s2");
    assert!(c.scopes.has(Scope::InvoicesCreate) && !c.scopes.has(Scope::RefundsWrite));
    assert_eq!(stores.authenticate("pwk_nothing", now()).unwrap_err(), Refusal::Unknown);
    // The config file's key has every scope.
    let file = stores.authenticate("file_Xq7Lm2Vb9Rt4Kp8Wz3Nc6Hd1Yf5Gs", now()).unwrap();
    assert_eq!((file.store.as_str(), file.key_id.as_str(), file.scopes), ("file", CONFIG_KEY_ID, Scopes::all()));
    // Expiry.
    let soon = now() + Duration::seconds(60);
    let short = stores.create_key("s2", "temp", vec![Scope::EventsRead], Some(soon), now()).unwrap();
    assert!(stores.authenticate(&short.key, now()).is_ok());
    assert_eq!(stores.authenticate(&short.key, soon).unwrap_err(), Refusal::Expired(soon));
    assert!(matches!(
        stores.create_key("s2", "past", vec![Scope::EventsRead], Some(now() - Duration::seconds(1)), now()),
        Err(StoreError::InvalidKey(m)) if m.contains("expires_at")
    ));
    assert!(matches!(
        stores.create_key("s2", " ", vec![Scope::EventsRead], None, now()),
        Err(StoreError::InvalidKey(_))
    ));
    assert!(matches!(
        stores.create_key("nope", "x", vec![Scope::EventsRead], None, now()),
        Err(StoreError::NotFound(_))
    ));
    // Revocation.
    let id = short.view["id"].as_str().unwrap().to_string();
    let revoked = stores.revoke_key(&id, now()).unwrap();
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(stores.authenticate(&short.key, now()).unwrap_err(), Refusal::Unknown);
    // Retirement: every key of the store stops; the store's data stays listed.
    stores.retire_store("s2", now()).unwrap();
    assert_eq!(stores.authenticate(&checkout.key, now()).unwrap_err(), Refusal::Retired("s2".into()));
    assert!(matches!(
        stores.create_key("s2", "late", vec![Scope::EventsRead], None, now()),
        Err(StoreError::Retired(_))
    ));
    assert!(matches!(stores.retire_store("file", now()), Err(StoreError::FromConfig(_))));
    assert_eq!(rec.0.lock().unwrap().last().unwrap(), "retire s2");
    assert_eq!(stores.view("s2").unwrap().0["status"], "retired");
    assert_eq!(stores.keys_of("s2").unwrap().len(), 2);
}

#[test]
fn last_use_is_written_and_read_back_and_revocation_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, _) = open(dir.path());
    let k = stores.create_key("file", "ops", vec![Scope::EventsRead], None, now()).unwrap();
    let gone = stores.create_key("file", "old", vec![Scope::EventsRead], None, now()).unwrap();
    stores.revoke_key(gone.view["id"].as_str().unwrap(), now()).unwrap();
    let used = OffsetDateTime::from_unix_timestamp(now().unix_timestamp()).unwrap();
    stores.authenticate(&k.key, used).unwrap();
    stores.flush_last_used().unwrap();
    drop(stores);
    let (again, _) = open(dir.path());
    let listed = again.keys_of("file").unwrap();
    let ops = listed.iter().find(|v| v["label"] == "ops").unwrap();
    let at = ops["last_used_at"].as_str().unwrap();
    assert_eq!(OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).unwrap(), used);
    assert!(again.authenticate(&k.key, now()).is_ok());
    assert_eq!(again.authenticate(&gone.key, now()).unwrap_err(), Refusal::Unknown);
}

#[test]
fn a_store_spec_refuses_keys_endpoints_and_gateways_and_a_receive_source_needs_its_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, rec) = open(dir.path());
    let e = stores.create_store(json!({"id": "s3", "api_key": "x", "endpoints": []}), now()).unwrap_err();
    let StoreError::Invalid(issues) = e else { panic!("{e}") };
    assert_eq!(issues.len(), 2, "{issues:?}");
    // No asset in this config: the receive source is refused by the config's own check.
    let e = stores.create_store(json!({"id": "s3", "receive": {"BTC": {"xpub": "tpub"}}}), now()).unwrap_err();
    assert!(e.to_string().contains("unknown asset"), "{e}");
    assert!(rec.0.lock().unwrap().is_empty(), "nothing applied");
    assert!(!stores.exists("s3"));
}

/// Spoils the stored spec of run-time store `id` (as a config change would: it no longer
/// validates at the next start).
fn spoil(dir: &std::path::Path, id: &str) {
    let c = config(dir);
    let db = Db::open(&c.storage.path).unwrap();
    let mut r: StoreRecord = db.admin_get(records::KIND, id).unwrap().unwrap();
    r.spec["speed"] = json!("not a number");
    let mut batch = db.batch();
    batch.admin_put(records::KIND, id, &r).unwrap();
    db.write(batch).unwrap();
}

#[test]
fn a_store_left_out_at_start_keeps_its_id_and_its_keys_act_for_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, _) = open(dir.path());
    stores.create_store(json!({"id": "gone"}), now()).unwrap();
    stores.create_store(json!({"id": "off"}), now()).unwrap();
    let gone = stores.create_key("gone", "checkout", vec![Scope::InvoicesRead], None, now()).unwrap();
    let off = stores.create_key("off", "checkout", vec![Scope::InvoicesRead], None, now()).unwrap();
    stores.retire_store("gone", now()).unwrap();
    drop(stores);
    spoil(dir.path(), "gone");
    spoil(dir.path(), "off");
    let (again, _) = open(dir.path());
    // A retired store's keys stay stopped, and no store left out acts.
    assert!(again.authenticate(&gone.key, now()).is_err(), "a retired store's key acts again");
    assert!(again.authenticate(&off.key, now()).is_err(), "a left-out store's key acts");
    // Their ids are not taken by a new store (which would get their invoices and events).
    assert!(matches!(again.create_store(json!({"id": "gone"}), now()), Err(StoreError::Exists(_))));
    assert!(matches!(again.create_store(json!({"id": "off"}), now()), Err(StoreError::Exists(_))));
    assert!(matches!(
        again.create_key("off", "late", vec![Scope::InvoicesRead], None, now()),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn a_store_taken_out_of_the_config_file_keeps_its_id_from_the_admin_api_while_its_keys_live() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, _) = open(dir.path());
    let old = stores.create_key("file", "checkout", vec![Scope::InvoicesRead], None, now()).unwrap();
    drop(stores);
    // The next start without the store in the config file.
    let mut c = config(dir.path());
    c.stores.clear();
    let db = Arc::new(Db::open(&c.storage.path).unwrap());
    let (again, _) = Stores::load(&c, db, HashMap::new()).unwrap();
    assert_eq!(again.authenticate(&old.key, now()).unwrap_err(), Refusal::Unknown, "a gone store's key acts");
    // A new store of that id would be served by the old store's keys.
    assert!(matches!(again.create_store(json!({"id": "file"}), now()), Err(StoreError::Exists(_))));
    again.revoke_key(old.view["id"].as_str().unwrap(), now()).unwrap();
    again.create_store(json!({"id": "file"}), now()).unwrap();
}

#[test]
fn a_retired_stores_keys_stay_stopped_when_the_config_file_takes_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, _) = open(dir.path());
    stores.create_store(json!({"id": "s2"}), now()).unwrap();
    let old = stores.create_key("s2", "checkout", vec![Scope::InvoicesRead], None, now()).unwrap();
    stores.retire_store("s2", now()).unwrap();
    drop(stores);
    let mut c = config(dir.path());
    let mut s2 = c.stores[0].clone();
    s2.id = "s2".into();
    s2.api_key = None;
    c.stores.push(s2);
    let db = Arc::new(Db::open(&c.storage.path).unwrap());
    let (again, _) = Stores::load(&c, db, HashMap::new()).unwrap();
    assert_eq!(again.authenticate(&old.key, now()).unwrap_err(), Refusal::Unknown, "a retired store's key acts");
    let new = again.create_key("s2", "checkout", vec![Scope::InvoicesRead], None, now()).unwrap();
    assert_eq!(again.authenticate(&new.key, now()).unwrap().store, "s2");
}

#[test]
fn services_attached_at_start_are_told_of_the_retired_stores_again() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, _) = open(dir.path());
    stores.create_store(json!({"id": "s2"}), now()).unwrap();
    stores.create_store(json!({"id": "s3"}), now()).unwrap();
    stores.retire_store("s2", now()).unwrap();
    drop(stores);
    // Its endpoints disabled at retirement may not have been (a crash, a failed write): the
    // dispatcher disables them again at each start.
    let (_again, rec) = open(dir.path());
    assert_eq!(*rec.0.lock().unwrap(), ["retire s2"]);
}
