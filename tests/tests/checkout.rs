//! The checkout page in a real browser: headless Chromium through chromedriver
//! (`paywatch_tests::browser`), screenshots decoded with zbarimg.
//!
//! First the harness on its own, against a page this test serves: a screenshot's QR code
//! decodes to exactly the text drawn, JavaScript really is off when turned off, and the
//! browser's language is what it sends as `Accept-Language`.

use paywatch_tests::browser::{decode_qr, group_alive, Browser, BrowserOptions, Site};
use std::time::Duration;

/// A page with an inline SVG QR code of `text`, a `<noscript>` marker and a marker its script sets.
fn smoke_page(text: &str) -> String {
    let svg = qrcode::QrCode::new(text.as_bytes())
        .expect("a QR code")
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    // The renderer starts with an XML declaration, which has no place inside HTML.
    let svg = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>harness</title></head>
<body style="margin:16px;font-family:sans-serif">
<h1>Browser harness</h1>
<div id="qr">{svg}</div>
<noscript><p id="noscript">JavaScript is off</p></noscript>
<p id="marker">static</p>
<script>document.getElementById("marker").setAttribute("data-js", "ran");</script>
</body></html>"#
    )
}

#[tokio::test]
async fn the_browser_harness_decodes_a_screenshot_qr_code_turns_javascript_off_and_sends_its_language() {
    let uri = "bitcoin:bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080?amount=0.00123456&label=Order%2042";
    let site = Site::start().await;
    site.page("/", &smoke_page(uri));

    // A phone with JavaScript on, in English.
    let browser = Browser::start(BrowserOptions::default()).await;
    browser.goto(&site.url("/")).await;
    assert_eq!(browser.attr("#marker", "data-js").await.as_deref(), Some("ran"), "the page's script ran");
    // With scripting on, a <noscript>'s content is text, never elements.
    assert!(!browser.exists("#noscript").await, "<noscript> is not parsed with JavaScript on");
    let size = browser.execute("return [window.innerWidth, window.innerHeight]", vec![]).await;
    assert_eq!(size, serde_json::json!([412, 915]), "a phone's viewport");
    let shot = browser.screenshot("harness-qr").await;
    assert_eq!(decode_qr(&shot), [uri], "the screenshot's QR code is exactly the text drawn");
    let pid = browser.driver_pid().expect("chromedriver runs");
    browser.close().await;
    assert!(!group_alive(pid), "chromedriver and its browser are gone after close");
    let visit = site.visits_of("/").pop().expect("the page was visited");
    let lang = visit.headers.get("accept-language").cloned().unwrap_or_default();
    assert!(lang.starts_with("en-US"), "Accept-Language of the default browser: {lang:?}");

    // No JavaScript, in Chinese.
    let browser = Browser::start(BrowserOptions::default().without_javascript().language("zh-CN")).await;
    browser.goto(&site.url("/")).await;
    assert_eq!(browser.attr("#marker", "data-js").await, None, "with JavaScript off the script never ran");
    assert!(browser.is_displayed("#noscript").await, "<noscript> is shown with JavaScript off");
    assert_eq!(browser.text("#noscript").await, "JavaScript is off");
    let shot = browser.screenshot("harness-no-js").await;
    assert_eq!(decode_qr(&shot), [uri]);
    let visit = site.visits_of("/").pop().expect("the page was visited");
    let lang = visit.headers.get("accept-language").cloned().unwrap_or_default();
    assert!(lang.starts_with("zh-CN"), "Accept-Language of a zh-CN browser: {lang:?}");
    let nav_lang = browser.execute("return navigator.language", vec![]).await;
    assert_eq!(nav_lang, "zh-CN", "navigator.language");

    // A page without a code decodes to nothing; waiting times out with the attribute named.
    site.page("/blank", "<!doctype html><title>blank</title><p id=x data-state=a>nothing</p>");
    browser.goto(&site.url("/blank")).await;
    assert!(decode_qr(&browser.screenshot("harness-blank").await).is_empty());
    let v = browser.wait_for("#x", "data-state", "x in state a", Duration::from_secs(1), |v| v == Some("a")).await;
    assert_eq!(v.as_deref(), Some("a"));
    assert_eq!(browser.current_url().await, site.url("/blank"));

    // Dropped (as when a test panics): the processes are killed all the same.
    let pid = browser.driver_pid().expect("chromedriver runs");
    drop(browser);
    assert!(!group_alive(pid), "chromedriver and its browser are gone once the Browser is dropped");
}
