//! HTTPS with rustls when `server.tls_cert` / `server.tls_key` are set.

use paywatch_tests::daemon::{test_config, Daemon, SHOP1_KEY};

#[tokio::test]
async fn the_api_serves_https_with_a_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let port = paywatch_tests::free_port();
    let config = test_config(dir.path(), port, "").replacen(
        "[server]\n",
        &format!("[server]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n", cert_path.display(), key_path.display()),
        1,
    );
    let config_path = dir.path().join("paywatch.toml");
    std::fs::write(&config_path, config).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
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
