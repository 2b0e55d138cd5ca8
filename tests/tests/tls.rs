//! HTTPS with rustls when `server.tls_cert` / `server.tls_key` are set.

use paywatch_tests::daemon::{tls_test_config, Daemon, SHOP1_KEY};

#[tokio::test]
async fn the_api_serves_https_with_a_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (port, config_path, pem) = tls_test_config(dir.path(), &["localhost", "127.0.0.1"]);
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .https_only(true)
        .build()
        .unwrap();
    let d = Daemon::start_with(dir, port, config_path, client, true).await.unwrap();
    let r = d.req(reqwest::Method::GET, "/v1/watches", SHOP1_KEY).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    // Plain HTTP on the TLS port does not get an API answer.
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/health")).send().await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
    assert!(d.log().contains("api listening (https)"), "{}", d.log());
}
