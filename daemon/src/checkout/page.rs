//! The invoice's checkout page (`GET /i/{id}`), rendered on the server from a [`PublicStatus`]
//! and kept live by `assets/checkout.js` (Server-Sent Events, else polling; a plain refresh
//! without JavaScript), and what the claim page shares with it: the document around a page,
//! the language switch and the stylesheet and script the pages link to.
//!
//! The pages obey the checkout routes' Content-Security-Policy: no inline script or style,
//! nothing from another origin. The script's strings are a JSON data block, not code. Every
//! value is escaped by maud.

use super::i18n::{self, Lang, Part};
use super::status::{PageState, PublicMethod, PublicStatus};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use std::sync::LazyLock;

/// The pages' stylesheet, served at `/checkout/checkout.css?v={css_version()}`.
pub(crate) const CSS: &str = include_str!("assets/checkout.css");

/// The invoice page's script, served at `/checkout/checkout.js?v={js_version()}`.
pub(crate) const JS: &str = include_str!("assets/checkout.js");

/// A short hash of [`CSS`]: its links change when it does, so it can be cached forever.
pub(crate) fn css_version() -> &'static str {
    static VERSION: LazyLock<String> = LazyLock::new(|| content_hash(CSS));
    &VERSION
}

/// A short hash of [`JS`], as [`css_version`].
pub(crate) fn js_version() -> &'static str {
    static VERSION: LazyLock<String> = LazyLock::new(|| content_hash(JS));
    &VERSION
}

/// The first 5 bytes of `text`'s SHA-256, in hex.
fn content_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(text.as_bytes())[..5])
}

/// The strings `checkout.js` reads from the page's `#strings` block.
const SCRIPT_STRINGS: [&str; 12] = [
    "state.awaiting",
    "state.seen",
    "state.underpaid",
    "state.paid",
    "state.expired",
    "state.expired_partial",
    "state.paid_late",
    "state.cancelled",
    "page.copied",
    "page.expires_in",
    "page.expired",
    "page.qr_alt",
];

/// The checkout page of `status`, in `lang`, with method `selected` shown (the first when out
/// of range) and `expires_in_secs` left before expiry (the countdown's start; 0 or less is
/// expired).
pub(crate) fn invoice(status: &PublicStatus, lang: Lang, selected: usize, expires_in_secs: i64) -> String {
    let selected = if selected < status.methods.len() { selected } else { 0 };
    let state = status.state;
    let is_final = state.is_final();
    let redirect = http_url(status.redirect_url.as_deref());
    let expires_in = expires_in_secs.max(0);
    let head = html! {
        @if !is_final {
            noscript { meta http-equiv="refresh" content="10"; }
        }
        @if let (PageState::Paid, Some(url)) = (state, redirect) {
            meta http-equiv="refresh" content=(format!("5;url={url}"));
        }
        script src=(format!("../checkout/checkout.js?v={}", js_version())) defer {}
        script type="application/json" id="strings" { (PreEscaped(lang.script_json(&SCRIPT_STRINGS))) }
    };
    let body = html! {
        main id="checkout" data-invoice=(status.id) data-state=(state.as_str()) data-version=(status.version)
            data-expires-in=(expires_in) data-redirect=(redirect.unwrap_or_default()) {
            header {
                (lang_nav(lang, &format!("&method={selected}")))
                p.store { (status.store_name) }
                h1.price {
                    span.label { (lang.text("page.price_label")) }
                    " "
                    strong { (status.amount) " " (status.currency) }
                }
                p.order { (lang.fill("page.order", &[("order", &status.order_id)])) }
            }
            p id="state" data-state=(state.as_str()) aria-live="polite" { (state_message(status, lang)) }
            p id="returning" hidden[!(state == PageState::Paid && redirect.is_some())] {
                (lang.text("page.returning"))
            }
            p id="countdown" role="timer" hidden[!state.takes_payment()] {
                @if expires_in > 0 {
                    (lang.fill("page.expires_in", &[("time", &clock(expires_in))]))
                } @else {
                    (lang.text("page.expired"))
                }
            }
            div id="pay" hidden[!state.takes_payment()] {
                nav id="methods" aria-label=(lang.text("page.methods_label")) {
                    @for (n, method) in status.methods.iter().enumerate() {
                        a.method href=(format!("?method={n}")) data-method=(n) data-asset=(method.asset)
                            aria-current=[(n == selected).then_some("page")] {
                            span.asset { (method.asset) }
                            // The chain is the operator's name for it: shown only to tell two
                            // methods of one asset apart.
                            @if status.methods.iter().filter(|m| m.asset == method.asset).count() > 1 {
                                " "
                                span.chain { (method.chain) }
                            }
                        }
                    }
                }
                @for (n, method) in status.methods.iter().enumerate() {
                    (panel(method, n, n == selected, lang))
                }
            }
            @if let Some(url) = redirect {
                p.back { a id="back" href=(url) { (lang.text("page.back")) } }
            }
        }
    };
    document(lang, &lang.fill("page.title", &[("store", &status.store_name)]), head, body)
}

/// One method's panel: amount, QR code, address, copy buttons, "open in wallet".
fn panel(method: &PublicMethod, n: usize, shown: bool, lang: Lang) -> Markup {
    let amount = format!("{} {}", method.amount_due, method.asset);
    html! {
        section.panel id=(format!("method-{n}")) data-method=(n) data-asset=(method.asset) hidden[!shown] {
            h2 { (lang.fill("page.method_heading", &[("asset", &method.asset), ("chain", &method.chain)])) }
            div.pay-grid {
                img.qr src=[qr_src(&method.qr)] width="256" height="256" loading=[(!shown).then_some("lazy")]
                    alt=(lang.fill("page.qr_alt", &[("amount", &method.amount_due), ("asset", &method.asset)]));
                div.details {
                    p.field {
                        span.label { (lang.text("page.amount_label")) }
                        strong.amount { (amount) }
                        button.copy.copy-amount type="button" data-copy=(method.amount_due) { (lang.text("page.copy_amount")) }
                    }
                    p.field {
                        span.label { (lang.text("page.address_label")) }
                        code.address { (method.address) }
                        button.copy.copy-address type="button" data-copy=(method.address) { (lang.text("page.copy_address")) }
                    }
                    p.hint { (lang.text("page.hint")) }
                    a.open-wallet.button href=[wallet_href(&method.payment_uri)] { (lang.text("page.open_wallet")) }
                }
            }
        }
    }
}

/// A QR code's `src`: its path (under the pages' base, `/i/…`) relative to the page (`../i/…`);
/// none while there is nothing to pay.
fn qr_src(path: &str) -> Option<String> {
    (path.starts_with("/i/")).then(|| format!("..{path}"))
}

/// The state's message, the confirmations count in `<span id="confirmations">` (the script
/// fills the same template the same way, so its text and this one compare equal).
fn state_message(status: &PublicStatus, lang: Lang) -> Markup {
    let confirmations = status.confirmations.to_string();
    let required = status.required_confirmations.to_string();
    html! {
        @for part in i18n::parts(lang.text(state_key(status.state))) {
            @match part {
                Part::Text(text) => { (text) }
                Part::Arg("confirmations") => { span id="confirmations" { (confirmations) } }
                Part::Arg(name) => {
                    (match name {
                        "required" => required.as_str(),
                        "due" => status.due.as_str(),
                        "paid" => status.paid.as_str(),
                        "amount" => status.amount.as_str(),
                        "currency" => status.currency.as_str(),
                        _ => "",
                    })
                }
            }
        }
    }
}

/// The key of `state`'s message (`state.{state.as_str()}`).
fn state_key(state: PageState) -> &'static str {
    match state {
        PageState::Awaiting => "state.awaiting",
        PageState::Seen => "state.seen",
        PageState::Underpaid => "state.underpaid",
        PageState::Paid => "state.paid",
        PageState::Expired => "state.expired",
        PageState::ExpiredPartial => "state.expired_partial",
        PageState::PaidLate => "state.paid_late",
        PageState::Cancelled => "state.cancelled",
    }
}

/// `secs` as the countdown shows it: `mm:ss`, or `h:mm:ss` from an hour (as `checkout.js`).
fn clock(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m:02}:{s:02}")
    }
}

/// `url` if it is an absolute http or https URL without spaces or control characters (what a
/// page may link or redirect to); `None` otherwise.
pub(super) fn http_url(url: Option<&str>) -> Option<&str> {
    url.filter(|url| {
        let after_scheme = ["http://", "https://"].iter().find_map(|scheme| {
            url.get(..scheme.len()).filter(|s| s.eq_ignore_ascii_case(scheme)).map(|_| &url[scheme.len()..])
        });
        after_scheme.is_some_and(|host| !host.is_empty() && !host.starts_with('/'))
            && !url.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

/// `uri` if it is a wallet URI (`bitcoin:`, `ethereum:`…) a link may open: a well-formed
/// scheme, and none that runs or embeds content (`javascript:`, `data:`…).
fn wallet_href(uri: &str) -> Option<&str> {
    let (scheme, _) = uri.split_once(':')?;
    let well_formed = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let active = ["javascript", "data", "vbscript", "file", "blob", "filesystem"]
        .iter()
        .any(|bad| scheme.eq_ignore_ascii_case(bad));
    (well_formed && !active && !uri.chars().any(char::is_control)).then_some(uri)
}

/// The language switch: a link per locale to the same page in it (`?lang={code}{extra}`).
pub(super) fn lang_nav(current: Lang, extra_query: &str) -> Markup {
    html! {
        nav id="lang" aria-label=(current.text("page.language_label")) {
            @for lang in Lang::all() {
                a hreflang=(lang.code()) lang=(lang.code()) href=(format!("?lang={}{extra_query}", lang.code()))
                    aria-current=[(lang == current).then_some("true")] { (lang.text("language")) }
            }
        }
    }
}

/// The page of an invoice that does not exist (or an id that is none): 404, in `lang`.
pub(crate) fn not_found(lang: Lang) -> String {
    let body = html! {
        main id="checkout" data-state="not_found" {
            header { (lang_nav(lang, "")) }
            h1 { (lang.text("missing.title")) }
            p id="state" data-state="not_found" { (lang.text("missing.text")) }
        }
    };
    document(lang, lang.text("missing.title"), html! {}, body)
}

/// The page a customer over the page routes' rate limit sees instead of the page: try again in
/// `retry_after_secs` (it reloads itself then), in `lang`.
pub(crate) fn busy(lang: Lang, retry_after_secs: u64) -> String {
    let wait = retry_after_secs.clamp(1, 300);
    let head = html! { meta http-equiv="refresh" content=(wait); };
    let body = html! {
        main id="checkout" data-state="busy" {
            header { (lang_nav(lang, "")) }
            h1 { (lang.text("busy.title")) }
            p id="state" data-state="busy" { (lang.fill("busy.text", &[("seconds", &wait.to_string())])) }
        }
    };
    document(lang, lang.text("busy.title"), head, body)
}

/// A whole page: `head` and `body` in the document every checkout page shares (language,
/// viewport, no referrer, not indexed, the stylesheet).
pub(super) fn document(lang: Lang, title: &str, head: Markup, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                meta name="robots" content="noindex, nofollow";
                title { (title) }
                // Relative, as every link of the pages: they work under a public_url with a path
                // (`https://shop.example/pay/i/…` behind a proxy that strips `/pay`).
                link rel="stylesheet" href=(format!("../checkout/checkout.css?v={}", css_version()));
                (head)
            }
            body { (body) }
        }
    }
    .into_string()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use paywatch_plugin_api::events::{Exception, InvoiceStatus};

    /// Values that break out of text, attributes or a script element if not escaped.
    pub(in crate::checkout) const HOSTILE: [&str; 3] =
        ["<script>alert(1)</script>", r#""><img src=x onerror=alert(1)>"#, "</script><!--"];

    /// Panics if `html` has a `style` attribute, an inline script (a `<script>` without `src`
    /// other than the JSON data block) or an event handler attribute. Text is escaped, so every
    /// `<` in `html` starts a tag.
    pub(in crate::checkout) fn assert_csp_clean(html: &str) {
        for tag in html.split('<').skip(1).map(|rest| rest.split('>').next().unwrap_or_default()) {
            // The tag without its attributes' values (escaped, and free to say anything).
            let bare: String = tag.split('"').step_by(2).collect::<Vec<_>>().join("\"\"").to_ascii_lowercase();
            assert!(!bare.contains(" style="), "style attribute in <{tag}>");
            assert!(!bare.contains(" on"), "event handler or unescaped text in <{tag}>");
            if bare.starts_with("script") {
                assert!(
                    tag.contains(" src=\"../checkout/") || tag.contains(r#"type="application/json""#),
                    "inline script <{tag}>"
                );
            }
        }
    }

    fn method(n: usize, asset: &str, chain: &str) -> PublicMethod {
        PublicMethod {
            asset: asset.into(),
            chain: chain.into(),
            address: format!("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt08{n}"),
            amount_due: "0.00123456".into(),
            amount_paid: "0".into(),
            payment_uri: format!("bitcoin:bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt08{n}?amount=0.00123456"),
            qr: format!("/i/0190e0c4-7c1a-7d3e-9a58-3f2f5d6b7c8d/qr/{n}.svg?v=0a1b2c3d4e5f"),
        }
    }

    /// An invoice in `state` with 3 methods.
    pub(in crate::checkout) fn status(state: PageState) -> PublicStatus {
        PublicStatus {
            id: "0190e0c4-7c1a-7d3e-9a58-3f2f5d6b7c8d".into(),
            store_name: "Corner Shop".into(),
            order_id: "A-1042".into(),
            state,
            status: InvoiceStatus::New,
            exception: Exception::None,
            currency: "USD".into(),
            amount: "25.00".into(),
            paid: "0".into(),
            due: "12.50".into(),
            confirmations: 1,
            required_confirmations: 3,
            expires_at: "2030-01-01T00:00:00Z".into(),
            redirect_url: Some("https://shop.example/order/1042?x=1&y=2".into()),
            methods: vec![method(0, "BTC", "bitcoin"), method(1, "ETH", "ethereum"), method(2, "USDT", "ethereum")],
            sequence: 4,
            version: 17,
        }
    }

    /// The text of the element whose start tag contains `marker`, tags removed.
    pub(in crate::checkout) fn text_of(html: &str, marker: &str) -> String {
        let start = html.find(marker).unwrap_or_else(|| panic!("no {marker} in {html}"));
        let open = start + html[start..].find('>').expect("tag end") + 1;
        let close = open + html[open..].find("</p>").expect("</p>");
        let mut text = String::new();
        for (i, piece) in html[open..close].split(['<', '>']).enumerate() {
            if i % 2 == 0 {
                text.push_str(piece);
            }
        }
        text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"")
    }

    fn zh() -> Lang {
        Lang::from_code("zh").expect("zh")
    }

    #[test]
    fn every_state_renders_its_message_in_every_language() {
        for lang in Lang::all() {
            for state in PageState::ALL {
                let s = status(state);
                let html = invoice(&s, lang, 0, 600);
                assert_csp_clean(&html);
                assert!(
                    html.starts_with("<!DOCTYPE html><html lang=\"")
                        && html.contains(&format!(r#"<html lang="{}">"#, lang.code()))
                );
                let marker = format!(r#"<p id="state" data-state="{}" aria-live="polite">"#, state.as_str());
                assert!(html.contains(&marker), "{state:?} {lang:?}: {html}");
                assert!(html.contains(&format!(r#"<main id="checkout" data-invoice="{}" data-state="{}" data-version="17" data-expires-in="600" data-redirect="https://shop.example/order/1042?x=1&amp;y=2">"#, s.id, state.as_str())), "{html}");
                let want = lang.fill(
                    state_key(state),
                    &[
                        ("confirmations", "1"),
                        ("required", "3"),
                        ("due", "12.50"),
                        ("currency", "USD"),
                        ("paid", "0"),
                        ("amount", "25.00"),
                    ],
                );
                assert_eq!(text_of(&html, &marker), want, "{state:?} {lang:?}");
                assert_eq!(
                    html.contains(r#"<noscript><meta http-equiv="refresh" content="10"></noscript>"#),
                    !state.is_final()
                );
                // Nothing to pay (paid in full, waiting for confirmations, or final): no code to
                // scan, no amount, no countdown.
                assert_eq!(html.contains(r#"<div id="pay" hidden>"#), !state.takes_payment(), "{state:?}");
                assert_eq!(
                    html.contains(r#"<p id="countdown" role="timer" hidden>"#),
                    !state.takes_payment(),
                    "{state:?}"
                );
                let redirects = html.contains(
                    r#"<meta http-equiv="refresh" content="5;url=https://shop.example/order/1042?x=1&amp;y=2">"#,
                );
                assert_eq!(redirects, state == PageState::Paid, "{state:?}");
                assert_eq!(html.contains(r#"<p id="returning">"#), state == PageState::Paid);
                assert!(html.contains(r#"<a id="back" href="https://shop.example/order/1042?x=1&amp;y=2">"#));
            }
        }
        let seen = invoice(&status(PageState::Seen), Lang::EN, 0, 600);
        assert!(
            seen.contains(r#"Payment seen, waiting for confirmations: <span id="confirmations">1</span> of 3."#),
            "{seen}"
        );
        let underpaid = invoice(&status(PageState::Underpaid), zh(), 0, 600);
        assert!(underpaid.contains("付款不足：请再支付剩余的 12.50 USD。"), "{underpaid}");
    }

    #[test]
    fn a_customer_over_the_rate_limit_gets_a_page_that_reloads_itself() {
        for lang in Lang::all() {
            let html = busy(lang, 7);
            assert!(html.contains(r#"<meta http-equiv="refresh" content="7">"#), "{html}");
            assert!(html.contains(&lang.fill("busy.text", &[("seconds", "7")])), "{html}");
            assert_csp_clean(&html);
        }
        assert!(busy(Lang::EN, 0).contains(r#"content="1""#), "never a reload loop without a pause");
    }

    #[test]
    fn methods_switch_by_links_and_panels() {
        let html = invoice(&status(PageState::Awaiting), Lang::EN, 1, 75);
        assert!(html.contains(r#"<a class="method" href="?method=0" data-method="0" data-asset="BTC">"#), "{html}");
        assert!(html
            .contains(r#"<a class="method" href="?method=1" data-method="1" data-asset="ETH" aria-current="page">"#));
        assert!(html.contains(r#"<section class="panel" id="method-0" data-method="0" data-asset="BTC" hidden>"#));
        assert!(html.contains(r#"<section class="panel" id="method-1" data-method="1" data-asset="ETH">"#));
        assert!(html.contains(r#"<section class="panel" id="method-2" data-method="2" data-asset="USDT" hidden>"#));
        assert!(html.contains(r#"<img class="qr" src="../i/0190e0c4-7c1a-7d3e-9a58-3f2f5d6b7c8d/qr/1.svg?v=0a1b2c3d4e5f" width="256" height="256" alt="QR code to pay 0.00123456 ETH">"#), "{html}");
        assert!(html.contains(r#"<strong class="amount">0.00123456 ETH</strong>"#));
        assert!(html.contains(r#"<code class="address">bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt081</code>"#));
        assert!(html.contains(r#"<button class="copy copy-address" type="button" data-copy="bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt081">Copy address</button>"#));
        assert!(html.contains(r#"<a class="open-wallet button" href="bitcoin:bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt081?amount=0.00123456">"#));
        assert!(html.contains(r#"<a hreflang="zh" lang="zh" href="?lang=zh&amp;method=1">中文</a>"#), "{html}");
        assert!(
            html.contains(r#"<a hreflang="en" lang="en" href="?lang=en&amp;method=1" aria-current="true">English</a>"#)
        );
        assert!(html.contains(">Expires in 01:15<"));
        // Out of range: the first.
        let html = invoice(&status(PageState::Awaiting), Lang::EN, 9, 0);
        assert!(html.contains(r#"data-method="0" data-asset="BTC" aria-current="page">"#));
        assert!(html.contains(r#"<p id="countdown" role="timer">Expired</p>"#), "{html}");
        assert!(invoice(&status(PageState::Awaiting), Lang::EN, 0, 3_723).contains(">Expires in 1:02:03<"));
        assert!(invoice(&status(PageState::Awaiting), zh(), 0, 59).contains(">剩余时间 00:59<"));
    }

    #[test]
    fn hostile_values_are_escaped_everywhere() {
        for evil in HOSTILE {
            let mut s = status(PageState::Seen);
            s.store_name = evil.into();
            s.order_id = evil.into();
            s.id = evil.into();
            s.currency = evil.into();
            s.amount = evil.into();
            s.due = evil.into();
            s.redirect_url = Some(format!("https://shop.example/{evil}"));
            for m in &mut s.methods {
                m.asset = evil.into();
                m.chain = evil.into();
                m.address = evil.into();
                m.amount_due = evil.into();
                m.payment_uri = format!("bitcoin:{evil}");
                m.qr = evil.into();
            }
            for state in [PageState::Seen, PageState::Underpaid, PageState::Paid] {
                s.state = state;
                let html = invoice(&s, Lang::EN, 0, 10);
                assert_csp_clean(&html);
                assert!(!html.contains(evil), "{evil} unescaped in {html}");
                assert!(!html.contains("<img src") && !html.contains("<script>alert"), "{html}");
                assert_eq!(html.matches("<script").count(), 2, "{html}");
                assert_eq!(html.matches("</script").count(), 2, "{html}");
            }
        }
    }

    #[test]
    fn only_http_redirects_are_followed_or_linked() {
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "//evil.example",
            "/relative",
            "https://a b",
            "http://",
            "ftp://x",
        ] {
            let mut s = status(PageState::Paid);
            s.redirect_url = Some(bad.into());
            let html = invoice(&s, Lang::EN, 0, 0);
            assert!(
                !html.contains("id=\"back\"") && !html.contains("url=") && html.contains(r#"data-redirect="""#),
                "{bad}: {html}"
            );
            assert!(html.contains(r#"<p id="returning" hidden>"#));
        }
        assert_eq!(http_url(Some("HTTPS://shop.example/")), Some("HTTPS://shop.example/"));
        assert_eq!(wallet_href("ethereum:0xabc@1?value=1e15"), Some("ethereum:0xabc@1?value=1e15"));
        assert_eq!(wallet_href("JavaScript:alert(1)"), None);
        assert_eq!(wallet_href("java\tscript:alert(1)"), None);
        assert_eq!(wallet_href("no scheme"), None);
    }

    #[test]
    fn first_load_is_at_most_60_kb() {
        let html = invoice(&status(PageState::Awaiting), Lang::EN, 0, 900);
        let zh_html = invoice(&status(PageState::Awaiting), zh(), 0, 900);
        let total = html.len().max(zh_html.len()) + CSS.len() + JS.len();
        assert!(total <= 60_000, "html {} / {}, css {}, js {}", html.len(), zh_html.len(), CSS.len(), JS.len());
        // The measure the report quotes.
        eprintln!(
            "page sizes: html {} (zh {}), css {}, js {}, total {total}",
            html.len(),
            zh_html.len(),
            CSS.len(),
            JS.len()
        );
    }

    #[test]
    fn assets_are_linked_by_content_hash_and_the_script_is_valid() {
        let html = invoice(&status(PageState::Awaiting), Lang::EN, 0, 900);
        assert!(
            html.contains(&format!(r#"<link rel="stylesheet" href="../checkout/checkout.css?v={}">"#, css_version()))
        );
        assert!(html.contains(&format!(r#"<script src="../checkout/checkout.js?v={}" defer></script>"#, js_version())));
        assert_eq!(css_version().len(), 10);
        assert_ne!(css_version(), js_version());
        let strings = html.split(r#"<script type="application/json" id="strings">"#).nth(1).expect("strings block");
        let strings: serde_json::Value =
            serde_json::from_str(strings.split("</script>").next().expect("end")).expect("JSON");
        for key in SCRIPT_STRINGS {
            assert!(strings[key].is_string(), "{key}");
        }
        // `node --check` parses the script; the setup script installs node.
        let out = std::env::temp_dir().join(format!("paywatch-checkout-{}.js", std::process::id()));
        std::fs::write(&out, JS).expect("write the script");
        let check = std::process::Command::new("node").arg("--check").arg(&out).output();
        let _ = std::fs::remove_file(&out);
        let check = check.expect("node runs (scripts/setup.sh installs nodejs)");
        assert!(check.status.success(), "node --check: {}", String::from_utf8_lossy(&check.stderr));
        assert!(JS.starts_with("// ") && JS.contains("'use strict';"));
    }
}
