//! Backups and restore end to end (`docs/operations.md`, "Backups and restore"): a real regtest
//! node, the real daemon delivering to a real HTTP receiver. Invoices are paid and
//! acknowledged, some of their events refused by the shop (500); a backup is taken through
//! `paywatch backup` while a payment load runs; more payments follow; the daemon is stopped,
//! the backup restored and the daemon started: it finds the later payments again in the
//! chain, delivers what the shop had not acknowledged, and nothing the backup had as
//! acknowledged a second time (by event id); every invoice ends settled.

use paywatch_tests::btc::{BtcRig, SHOP3_KEY};
use paywatch_tests::daemon::{paywatch_bin, ADMIN_KEY};
use paywatch_tests::receiver::Receiver;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const SHOP3: &str = SHOP3_KEY;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn config() -> String {
    // Retries every second or two for minutes: refused events stay pending across the test.
    let steps = ["\"1s\"", "\"2s\""].repeat(60).join(", ");
    let dispatch = format!("\n[dispatch]\nallow_private = [\"127.0.0.1/32\"]\nretry_schedule = [{steps}]\n");
    format!("{dispatch}{}", paywatch_tests::btc::shop3(86_400, 604_800))
}

/// Every (webhook-id, status answered) the receiver saw, in order.
type Answers = Arc<Mutex<Vec<(String, u16)>>>;

/// A shop that refuses (500) the events of orders named `nack-…` until `accept` is set, and
/// acknowledges everything else.
async fn shop(accept: Arc<AtomicBool>, answers: Answers) -> Receiver {
    Receiver::scripted(move |r, _| {
        let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
        let refused = body["data"]["order_id"].as_str().is_some_and(|o| o.starts_with("nack-"));
        let status = if refused && !accept.load(Ordering::SeqCst) { 500 } else { 200 };
        let id = r.headers.get("webhook-id").cloned().unwrap_or_default();
        answers.lock().unwrap().push((id, status));
        (status, Duration::ZERO)
    })
    .await
}

async fn invoice(rig: &BtcRig, order: &str) -> (String, String) {
    let body = json!({"asset": "BTC", "amount": "0.001", "order_id": order});
    let (status, v) = rig.call(Method::POST, "/v1/invoices", SHOP3, Some(body)).await;
    assert_eq!(status, 201, "{v}");
    (v["id"].as_str().unwrap().to_string(), v["address"].as_str().unwrap().to_string())
}

async fn status_of(rig: &BtcRig, id: &str) -> (u16, String) {
    let (code, v) = rig.call(Method::GET, &format!("/v1/invoices/{id}"), SHOP3, None).await;
    (code, v["status"].as_str().unwrap_or_default().to_string())
}

/// Waits until every invoice of `ids` is settled.
async fn settled(rig: &BtcRig, ids: &[&String], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut open = Vec::new();
        for id in ids {
            if status_of(rig, id).await.1 != "settled" {
                open.push(id.to_string());
            }
        }
        if open.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: not settled: {open:?}\nlog:\n{}", rig.daemon.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The store's invoice events (what the endpoint takes).
async fn invoice_events(rig: &BtcRig) -> Vec<Value> {
    let all = rig.events(SHOP3).await.unwrap();
    all.into_iter().filter(|e| e["type"].as_str().is_some_and(|t| t.starts_with("invoice."))).collect()
}

/// Waits until the receiver has acknowledged (200) every invoice event of the store's outbox but
/// those `refused` says it refuses; returns those events.
async fn all_acked(rig: &BtcRig, answers: &Answers, refused: impl Fn(&Value) -> bool, what: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let events = invoice_events(rig).await;
        let acked: BTreeSet<String> =
            answers.lock().unwrap().iter().filter(|(_, s)| *s == 200).map(|(id, _)| id.clone()).collect();
        let missing: Vec<&Value> =
            events.iter().filter(|e| !refused(e) && !acked.contains(e["id"].as_str().unwrap())).collect();
        if missing.is_empty() {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not acknowledged: {:?}\nlog:\n{}",
            missing.iter().map(|e| (&e["seq"], &e["type"], &e["data"]["order_id"])).collect::<Vec<_>>(),
            rig.daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn is_nack(e: &Value) -> bool {
    e["data"]["order_id"].as_str().is_some_and(|o| o.starts_with("nack-"))
}

/// `paywatch ARGS --config FILE` with the admin key in the environment: (exit code, stdout,
/// stderr).
fn paywatch(config: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(paywatch_bin().unwrap())
        .args(args)
        .arg("--config")
        .arg(config)
        .env("PAYWATCH_ADMIN_KEY", ADMIN_KEY)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// The restored daemon's deliveries to `endpoint`, all pages.
async fn deliveries(rig: &BtcRig, endpoint: &str) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    loop {
        let after = out.last().map_or(0, |d| d["seq"].as_u64().unwrap());
        let path = format!("/v1/endpoints/{endpoint}/deliveries?after={after}&limit=1000");
        let (code, v) = rig.call(Method::GET, &path, SHOP3, None).await;
        assert_eq!(code, 200, "{v}");
        let page = v["items"].as_array().unwrap().clone();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

fn at(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap()
}

/// (invoice id, sequence) → (event id, type) of a store's invoice events.
fn by_sequence(events: &[&Value]) -> BTreeMap<(String, u64), (String, String)> {
    events
        .iter()
        .map(|e| {
            let key = (e["data"]["id"].as_str().unwrap().to_string(), e["data"]["sequence"].as_u64().unwrap());
            (key, (e["id"].as_str().unwrap().to_string(), e["type"].as_str().unwrap().to_string()))
        })
        .collect()
}

#[tokio::test]
async fn a_restored_backup_finds_later_payments_again_and_redelivers_only_what_was_not_acknowledged() {
    let mut rig = BtcRig::start_with(1, &config()).await.unwrap();
    let accept = Arc::new(AtomicBool::new(false));
    let answers: Answers = Arc::default();
    let rx = shop(accept.clone(), answers.clone()).await;
    let hook = json!({"plugin": "webhook", "url": rx.url("/hook"), "secret": SECRET, "events": ["invoice.*"]});
    let (code, ep) = rig.call(Method::POST, "/v1/endpoints", SHOP3, Some(hook)).await;
    assert_eq!(code, 201, "{ep}");
    let endpoint = ep["id"].as_str().unwrap().to_string();

    // Every invoice exists before the backup; some are paid before it, some during it, some after.
    let mut before = Vec::new();
    for order in ["ack-1", "ack-2", "ack-3", "nack-1", "nack-2"] {
        before.push(invoice(&rig, order).await);
    }
    let mut during = Vec::new();
    for i in 0..6 {
        during.push(invoice(&rig, &format!("load-{i}")).await);
    }
    let mut after = Vec::new();
    for order in ["late-1", "late-2", "nack-late"] {
        after.push(invoice(&rig, order).await);
    }
    for (_, address) in &before {
        rig.send(address, 0.001).unwrap();
    }
    rig.mine(1).unwrap();
    settled(&rig, &before.iter().map(|(id, _)| id).collect::<Vec<_>>(), "paid before the backup").await;
    all_acked(&rig, &answers, is_nack, "before the backup").await;

    // The load: one payment after another, a block every second one, while the daemon takes
    // the backup (through its API: it holds the store).
    let backup = rig.daemon.dir.path().join("backup-1");
    let config_path = rig.daemon.config_path.clone();
    let started = Arc::new(tokio::sync::Notify::new());
    let backup_task = {
        let (backup, started) = (backup.clone(), started.clone());
        tokio::spawn(async move {
            started.notified().await;
            let to = backup.to_str().unwrap().to_string();
            tokio::task::spawn_blocking(move || paywatch(&config_path, &["backup", "--to", &to])).await.unwrap()
        })
    };
    for (i, (_, address)) in during.iter().enumerate() {
        rig.send(address, 0.001).unwrap();
        if i == 1 {
            started.notify_one();
        }
        if i % 2 == 1 {
            rig.mine(1).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let (code, stdout, stderr) = backup_task.await.unwrap();
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("taken by the running daemon"), "{stdout}");
    let backup_done = OffsetDateTime::now_utc();
    let manifest: Value = serde_json::from_slice(&std::fs::read(backup.join("paywatch-backup.json")).unwrap()).unwrap();
    let backup_seq = manifest["outbox_last_seq"].as_u64().unwrap();
    assert!(manifest["chains"]["btc"]["height"].as_u64().unwrap() >= 102, "{manifest}");
    // An invoice made after the backup: the restored store never heard of it.
    let (lost, lost_address) = invoice(&rig, "after-backup").await;

    for (_, address) in &after {
        rig.send(address, 0.001).unwrap();
    }
    rig.mine(1).unwrap();
    let all: Vec<&String> = before.iter().chain(&during).chain(&after).map(|(id, _)| id).collect();
    settled(&rig, &all, "paid").await;
    let pre = all_acked(&rig, &answers, is_nack, "before the restore").await;
    assert!(pre.last().unwrap()["seq"].as_u64().unwrap() > backup_seq, "payments came after the backup");

    // Stopped: `paywatch backup` takes one itself; the restore refuses a store that is there…
    let status = rig.daemon.stop().await.unwrap();
    assert!(status.success(), "{status}");
    let cfg = rig.daemon.config_path.clone();
    let direct = rig.daemon.dir.path().join("backup-2");
    let (code, stdout, stderr) = paywatch(&cfg, &["backup", "--to", direct.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("taken directly") && direct.join("store/CURRENT").is_file(), "{stdout}");
    let from = backup.to_str().unwrap();
    let (code, _, stderr) = paywatch(&cfg, &["restore", "--from", from]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    // …and with --force moves it aside.
    let (code, stdout, stderr) = paywatch(&cfg, &["restore", "--from", from, "--force"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("outbox_last_seq  {backup_seq}")), "{stdout}");
    assert!(stdout.contains("past what the replaced store handed out"), "{stdout}");
    let aside: Vec<_> = std::fs::read_dir(rig.daemon.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("data.before-restore-"))
        .collect();
    assert_eq!(aside.len(), 1, "the replaced store is kept");

    // The shop now acknowledges everything; the restored daemon starts behind the chain.
    accept.store(true, Ordering::SeqCst);
    let heard_before = answers.lock().unwrap().len();
    rig.daemon.restart().await.unwrap();
    rig.wait_synced().await.unwrap();
    settled(&rig, &all, "after the restore").await;
    let post = all_acked(&rig, &answers, |_| false, "after the restore").await;
    assert_eq!(status_of(&rig, &lost).await.0, 404, "an invoice made after the backup is not in it");
    // Its address is not handed out again: the pools were moved past what the replaced store
    // had handed out, so the lost invoice's customer paying late settles no new invoice.
    let (_, fresh) = invoice(&rig, "after-restore").await;
    let used: BTreeSet<&String> = before.iter().chain(&during).chain(&after).map(|(_, a)| a).collect();
    assert!(fresh != lost_address && !used.contains(&fresh), "{fresh} handed out again");

    // The backup's events are the same events (same ids); the later ones are made again from
    // the chain with new ids, the invoices' sequence numbers continuing from the backup's.
    let pre_ids: BTreeMap<u64, &Value> = pre.iter().map(|e| (e["seq"].as_u64().unwrap(), &e["id"])).collect();
    for e in post.iter().filter(|e| e["seq"].as_u64().unwrap() <= backup_seq) {
        assert_eq!(Some(&&e["id"]), pre_ids.get(&e["seq"].as_u64().unwrap()), "{e}");
    }
    let old_ids: BTreeSet<&str> = pre.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let (pre_later, post_later): (Vec<&Value>, Vec<&Value>) = (
        pre.iter().filter(|e| e["seq"].as_u64().unwrap() > backup_seq).collect(),
        post.iter().filter(|e| e["seq"].as_u64().unwrap() > backup_seq).collect(),
    );
    assert!(!post_later.is_empty(), "the later payments were found again");
    assert!(post_later.iter().all(|e| !old_ids.contains(e["id"].as_str().unwrap())), "new event ids");
    let (pre_seqs, post_seqs) = (by_sequence(&pre_later), by_sequence(&post_later));
    eprintln!("after the backup, before the restore: {pre_seqs:?}\nafter the restore: {post_seqs:?}");
    for (invoice, seq) in post_seqs.keys() {
        assert!(
            pre_seqs.contains_key(&(invoice.clone(), *seq)),
            "invoice {invoice} sequence {seq} is a number the shop saw"
        );
    }
    for id in all.iter().map(|id| id.as_str()) {
        let last = |m: &BTreeMap<(String, u64), (String, String)>| {
            m.iter().rfind(|((i, _), _)| i == id).map(|(_, (_, kind))| kind.clone())
        };
        if let Some(kind) = last(&pre_seqs) {
            assert_eq!(last(&post_seqs), Some(kind), "invoice {id} ends as before");
        }
    }

    // What the backup had as acknowledged is never delivered again; everything else was.
    let acked_in_backup: BTreeSet<String> = deliveries(&rig, &endpoint)
        .await
        .iter()
        .filter(|d| d["status"] == "delivered")
        .filter(|d| {
            d["attempts"].as_array().unwrap().iter().any(|a| a["verdict"] == "ack" && at(&a["at"]) < backup_done)
        })
        .map(|d| d["event_id"].as_str().unwrap().to_string())
        .collect();
    assert!(acked_in_backup.len() >= 6, "the acknowledged invoices' events: {acked_in_backup:?}");
    let heard_after: Vec<(String, u16)> = answers.lock().unwrap()[heard_before..].to_vec();
    let again: Vec<&String> = heard_after.iter().map(|(id, _)| id).filter(|id| acked_in_backup.contains(*id)).collect();
    assert!(again.is_empty(), "acknowledged in the backup, delivered again: {again:?}");
    let nacked: Vec<&str> = post
        .iter()
        .filter(|e| is_nack(e) && e["seq"].as_u64().unwrap() <= backup_seq)
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(!nacked.is_empty());
    for id in nacked {
        assert!(
            heard_after.iter().any(|(h, s)| h == id && *s == 200),
            "refused event {id} delivered after the restore"
        );
    }
}

#[tokio::test]
async fn the_backup_route_checks_its_path_and_key_and_the_command_reaches_an_https_daemon() {
    use paywatch_tests::daemon::{Daemon, SHOP1_KEY};
    // A certificate for another name than the address the command connects to: it accepts
    // exactly the certificate of server.tls_cert, whatever its names.
    let dir = tempfile::tempdir().unwrap();
    let (port, config_path, _) = paywatch_tests::daemon::tls_test_config(dir.path(), &["paywatch.example"]);
    let client = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let d = Daemon::start_with(dir, port, config_path.clone(), client, true).await.unwrap();

    let to = |name: &str| d.dir.path().join(name).display().to_string();
    let (code, v) = d.call(Method::POST, "/v1/admin/backup", SHOP1_KEY, Some(json!({"to": to("b")}))).await;
    assert_eq!((code, v["error"]["code"].as_str()), (403, Some("forbidden")), "a store's key: {v}");
    for (path, why) in [
        ("relative/b".to_string(), "not an absolute path"),
        (to("paywatch.toml"), "already exists"),
        (to("no/such"), "does not exist"),
        (to("data/inside"), "inside the store"),
    ] {
        let (code, v) = d.call(Method::POST, "/v1/admin/backup", ADMIN_KEY, Some(json!({"to": path}))).await;
        assert_eq!((code, v["error"]["code"].as_str()), (422, Some("invalid_path")), "{path}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(why), "{path}: {v}");
    }
    let (code, v) = d.call(Method::POST, "/v1/admin/backup", ADMIN_KEY, Some(json!({"to": to("b1")}))).await;
    assert_eq!(code, 201, "{v}");
    assert_eq!((v["path"].as_str(), v["chains"].as_object().map(|c| c.len())), (Some(&*to("b1")), Some(0)), "{v}");
    assert!(v["bytes"].as_u64().unwrap() > 0 && v["schema_version"].as_u64().unwrap() > 0, "{v}");

    // The command, over HTTPS; without the key it says which variable to set.
    let (code, stdout, stderr) = paywatch(&config_path, &["backup", "--to", &to("b2")]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("taken by the running daemon"), "{stdout}");
    let out = std::process::Command::new(paywatch_bin().unwrap())
        .args(["backup", "--to", &to("b3"), "--config"])
        .arg(&config_path)
        .env_remove("PAYWATCH_ADMIN_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("PAYWATCH_ADMIN_KEY"), "{stderr}");
    assert!(!Path::new(&to("b3")).exists());
    // No restore under a running daemon, even forced.
    let (code, _, stderr) = paywatch(&config_path, &["restore", "--from", &to("b1"), "--force"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&format!("in use by process {}", d.pid().unwrap())), "{stderr}");
    assert!(d.dir.path().join("data/CURRENT").is_file(), "the store is where it was");
}
