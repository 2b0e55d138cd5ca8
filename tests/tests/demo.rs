//! The README's first command, `scripts/demo.sh`, run once through to the end.

#[test]
fn the_demo_runs_and_shows_the_daemon_working() {
    let root = paywatch_tests::workspace_root();
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(root.join("scripts/demo.sh")).env("PAYWATCH_DEMO_ONESHOT", "1").env_remove("RUST_LOG");
    // Run it as from an operator's shell: without the per-package variables cargo gives this
    // test (ring's build script tracks CARGO_MANIFEST_DIR, so the demo's own cargo call would
    // rebuild it, and the next test run would rebuild it back).
    for (k, _) in std::env::vars() {
        if k.starts_with("CARGO_") && k != "CARGO_TARGET_DIR" && k != "CARGO_HOME" {
            cmd.env_remove(k);
        }
    }
    // The build this test belongs to (target/debug/deps/demo-…): the demo's cargo reuses it, and
    // its setup.sh leaves the sources' mtimes alone (touching them would make the daemon binary
    // look stale to the tests running beside this one).
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).expect("target/debug/deps/test");
    cmd.env("CARGO_TARGET_DIR", target).env("PAYWATCH_KEEP_MTIMES", "1");
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for expect in [
        "bitcoind: 101 blocks",
        // `plugins list`: the plugins dev.toml names loaded, the other shipped ones only listed.
        "bitcoin              0.1.0     1.2  loaded",
        "webhook              0.1.0     1.2  loaded",
        "\"bitcoin@BTC\":{\"status\":\"ok\"",
        "\"status\":\"ok\"",
        "\"label\":\"order 1042\"",
        "\"type\":\"payment.detected\"",
        "\"type\":\"payment.confirmed\"",
        "\"amount\":\"0.0015\"",
        "\"final\":true",
        "shop: signature ok  invoice.created",
        "shop: signature ok  invoice.payment_detected",
        "shop: signature ok  invoice.processing",
        "shop: signature ok  invoice.settled",
        "order 1042: settled",
        // The invoice is priced in USD (the demo's fixed rates) and paid in BTC.
        "\"currency\":\"USD\"",
        "\"rate\":\"64000\"",
        "paid 96.00 of 96.00 USD",
        // The customer's page: linked from the invoice, and paid once the invoice settles.
        "the customer's checkout page: http://127.0.0.1:",
        "the checkout page now shows: paid",
        "demo: ok",
    ] {
        assert!(stdout.contains(expect), "{expect:?} missing from the demo's output:\n{stdout}");
    }
    let template = stdout.lines().find(|l| l.starts_with("libpaywatch_plugin_template_currency.so"));
    assert!(template.is_some_and(|l| l.ends_with("not configured, not loaded")), "{stdout}");
}
