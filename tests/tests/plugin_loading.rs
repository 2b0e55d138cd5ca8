//! Which code the daemon loads (issue 15, finding 7): only the plugins its config names, each
//! found by the name rule or `[plugins.files]`, pinned by `[plugins.sha256]` if the operator
//! wants, and checked to be the plugin named; a library nobody named never runs, not even
//! under `plugins list`; `plugins.dir` is found from the config file, wherever the daemon is
//! started; endpoints created through the API can use only the platform plugins loaded.

use paywatch_tests::daemon::{install_plugins, paywatch_bin, test_config, Daemon, SHOP1_KEY};
use paywatch_tests::{marker_library, plugin_lib, plugins_dir};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

const BTC_ASSET: &str = "\n[[assets]]\nid = \"BTC\"\nchain = \"btc\"\nplugin = \"bitcoin\"\n";

/// `paywatch ARGS` from `cwd`: (exit code, stdout, stderr).
fn paywatch_in(cwd: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out =
        Command::new(paywatch_bin().unwrap()).args(args).current_dir(cwd).env_remove("RUST_LOG").output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test]
async fn a_library_the_config_does_not_name_never_runs() {
    let stray = |dir: &Path| {
        marker_library(&dir.join("plugins/libpaywatch_plugin_extra.so"), &dir.join("marked")).unwrap();
    };
    let d = Daemon::start_configured(
        |dir, port| {
            stray(dir);
            test_config(dir, port, BTC_ASSET)
        },
        &[plugin_lib("bitcoin")],
    )
    .await
    .unwrap();
    let marker = d.dir.path().join("marked");
    let h = d.health().await.unwrap();
    assert_eq!(h["plugins"]["bitcoin"]["status"], "ok", "{h}");
    assert!(h["plugins"].get("extra").is_none(), "{h}");
    let (code, stdout, stderr) = d.command(&["plugins", "list"]).unwrap();
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let row = |file: &str| stdout.lines().find(|l| l.starts_with(file)).unwrap_or_else(|| panic!("{stdout}"));
    assert!(row("libpaywatch_plugin_extra.so").contains("not configured, not loaded"), "{stdout}");
    assert!(row("libpaywatch_plugin_bitcoin.so").contains("loaded"), "{stdout}");
    let (code, _, stderr) = d.command(&["config", "check"]).unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!marker.exists(), "the daemon, plugins list or config check ran the stray library's constructor");

    // The control: named in the config, the same library is loaded (its constructor runs),
    // then refused as no paywatch plugin, and the start with it.
    let dir = tempfile::tempdir().unwrap();
    install_plugins(dir.path(), &[plugin_lib("bitcoin")]).unwrap();
    stray(dir.path());
    let config = dir.path().join("paywatch.toml");
    let text = test_config(dir.path(), 8080, BTC_ASSET).replacen("enable = [", "enable = [\"extra\"", 1);
    std::fs::write(&config, text).unwrap();
    let (code, _, stderr) = paywatch_in(dir.path(), &["config", "check", "--config", config.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("plugins.enable[0] names plugin \"extra\", which was refused"), "{stderr}");
    assert!(stderr.contains("not a paywatch plugin"), "{stderr}");
    assert!(dir.path().join("marked").exists(), "the control: loading the library runs its constructor");
}

#[tokio::test]
async fn a_wrong_pin_refuses_the_start_and_plugins_hash_prints_the_right_one() {
    let wrong = "ab".repeat(32);
    let pin = |h: &str| format!("{BTC_ASSET}\n[plugins.sha256]\nbitcoin = \"{h}\"\n");
    let err = Daemon::start_with_plugins(&pin(&wrong), &[plugin_lib("bitcoin")]).await.unwrap_err().to_string();
    let real = std::fs::read(plugin_lib("bitcoin")).unwrap();
    let real = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&real));
    assert!(
        err.contains(&format!("libpaywatch_plugin_bitcoin.so: not loaded: its SHA-256 is {real}, but [plugins.sha256] pins bitcoin = \"{wrong}\"")),
        "{err}"
    );
    // `plugins hash` prints the line to paste (loading nothing); with it the daemon starts.
    let dir = tempfile::tempdir().unwrap();
    install_plugins(dir.path(), &[plugin_lib("bitcoin")]).unwrap();
    let config = dir.path().join("paywatch.toml");
    std::fs::write(&config, test_config(dir.path(), 8080, BTC_ASSET)).unwrap();
    let (code, stdout, stderr) = paywatch_in(dir.path(), &["plugins", "hash", "--config", config.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, format!("[plugins.sha256]\nbitcoin = \"{real}\"  # libpaywatch_plugin_bitcoin.so\n"));
    let file = plugin_lib("bitcoin");
    let (_, stdout, _) = paywatch_in(dir.path(), &["plugins", "hash", file.to_str().unwrap()]);
    assert_eq!(stdout, format!("{real}  {}\n", file.display()));
    let d = Daemon::start_with_plugins(&pin(&real), &[plugin_lib("bitcoin")]).await.unwrap();
    assert_eq!(d.health().await.unwrap()["plugins"]["bitcoin"]["status"], "ok");
}

#[test]
fn enable_names_platform_plugins_only() {
    let dir = tempfile::tempdir().unwrap();
    install_plugins(dir.path(), &[plugin_lib("bitcoin")]).unwrap();
    let config = dir.path().join("paywatch.toml");
    let text = test_config(dir.path(), 8080, BTC_ASSET).replacen("enable = [", "enable = [\"bitcoin\", ", 1);
    std::fs::write(&config, text).unwrap();
    let (code, _, stderr) = paywatch_in(dir.path(), &["config", "check", "--config", config.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("plugins.enable[0]: \"bitcoin\" is a currency plugin: an [[assets]] entry names it"),
        "{stderr}"
    );
}

#[test]
fn a_file_holding_another_plugin_is_refused_naming_both() {
    // The fixture plugin under the bitcoin plugin's file name.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::copy(plugins_dir().join("fixtures/fixture.so"), dir.path().join("plugins/libpaywatch_plugin_bitcoin.so"))
        .unwrap();
    let config = dir.path().join("paywatch.toml");
    std::fs::write(&config, test_config(dir.path(), 8080, BTC_ASSET)).unwrap();
    let (code, _, stderr) = paywatch_in(dir.path(), &["config", "check", "--config", config.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("the config names plugin \"bitcoin\", but this file is plugin \"fixture\""), "{stderr}");
}

/// A relative `plugins.dir` is the config file's, wherever the command is run from.
#[test]
fn a_relative_plugin_dir_is_found_beside_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    install_plugins(dir.path(), &[plugin_lib("bitcoin")]).unwrap();
    let absolute = format!("dir = \"{}\"", dir.path().join("plugins").display());
    let text = test_config(dir.path(), 8080, BTC_ASSET).replacen(&absolute, "dir = \"plugins\"", 1);
    assert!(text.contains("dir = \"plugins\""));
    let config = dir.path().join("paywatch.toml");
    std::fs::write(&config, text).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) =
        paywatch_in(elsewhere.path(), &["config", "check", "--config", config.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains(&absolute), "the resolved dir is printed: {stdout}");
    assert!(stderr.contains("asset BTC: currency plugin bitcoin@BTC ok"), "{stderr}");
}

#[tokio::test]
async fn endpoints_can_use_only_the_platform_plugins_loaded() {
    let loopback = "\n[dispatch]\nallow_private = [\"127.0.0.1/32\"]\n";
    let mut d = Daemon::start_with_plugins(loopback, &[plugin_lib("webhook")]).await.unwrap();
    let post = |body: Value| d.req(Method::POST, "/v1/endpoints", SHOP1_KEY).json(&body).send();
    let url = "http://127.0.0.1:9/paywatch";
    let r = post(json!({"plugin": "woocommerce", "url": url})).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let b: Value = r.json().await.unwrap();
    assert!(b["error"]["message"].as_str().unwrap().contains("platform plugin \"woocommerce\" is not loaded"), "{b}");
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let r = post(json!({"plugin": "webhook", "url": url, "secret": secret})).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let r = post(json!({"plugin": "webhook", "url": url, "secret": secret, "enabled": false})).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let disabled = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    // The config stops loading the plugin the enabled endpoint needs: the start is refused,
    // naming both, rather than the store's callbacks silently not going out.
    let enable = |d: &Daemon, list: &str| {
        let text = std::fs::read_to_string(&d.config_path).unwrap();
        let line = text.lines().find(|l| l.starts_with("enable = ")).unwrap().to_string();
        std::fs::write(&d.config_path, text.replacen(&line, &format!("enable = {list}"), 1)).unwrap();
    };
    d.stop().await.unwrap();
    enable(&d, "[]");
    let err = d.restart().await.unwrap_err().to_string();
    assert!(err.contains("endpoints created through the API use platform plugins this config does not load"), "{err}");
    assert!(err.contains(&format!("\"webhook\" by store \"shop1\" endpoint {id}")), "{err}");
    assert!(err.contains("add `enable = [\"webhook\"]` to [plugins]"), "{err}");
    assert!(!err.contains(&disabled), "a disabled endpoint does not stop the start: {err}");
    // Disabled, it does not stop the start; and a store cannot enable an endpoint whose plugin
    // is not loaded (it would deliver nothing, and stop the next start).
    enable(&d, "[\"webhook\"]");
    d.kill(); // reaps the refused process
    d.restart().await.unwrap();
    assert_eq!(patch(&d, &id, false).await.status(), StatusCode::OK);
    d.stop().await.unwrap();
    enable(&d, "[]");
    d.restart().await.unwrap();
    let r = patch(&d, &disabled, true).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let b: Value = r.json().await.unwrap();
    assert!(b["error"]["message"].as_str().unwrap().contains("platform plugin \"webhook\" is not loaded"), "{b}");
}

async fn patch(d: &Daemon, id: &str, enabled: bool) -> reqwest::Response {
    let path = format!("/v1/endpoints/{id}");
    d.req(Method::PATCH, &path, SHOP1_KEY).json(&json!({"enabled": enabled})).send().await.unwrap()
}
