//! The refund claim page (`GET` and `POST /r/{token}`): what the customer gets back, and while
//! the refund awaits an address, a plain form for it (no script); after a `POST`, what became
//! of the address. Same look and escaping as the invoice page (`page.rs`).

use super::i18n::Lang;
use super::page::{document, lang_nav};
use super::status::{ClaimOutcome, PublicRefund};
use maud::{html, Markup};
use paywatch_plugin_api::events::RefundStatus;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// The claim page of `refund` in `lang` (`None`: the link is unknown, used or expired). The
/// form posts to `token_path` (`/r/{token}`; to the page's own URL unless it is a path);
/// `outcome` is what became of the address just submitted, `address_typed` what the customer
/// typed (kept in the field after a refusal).
pub(crate) fn render(
    refund: Option<&PublicRefund>,
    lang: Lang,
    token_path: &str,
    outcome: Option<&ClaimOutcome>,
    address_typed: &str,
) -> String {
    let Some(refund) = refund else {
        let body = html! {
            main id="claim" data-status="unknown" {
                header { (lang_nav(lang, "")) }
                h1 { (lang.text("claim.unknown_title")) }
                p id="claim-status" data-status="unknown" { (lang.text("claim.unknown")) }
            }
        };
        return document(lang, lang.text("claim.unknown_title"), html! {}, body);
    };
    let title = lang.fill("claim.title", &[("store", &refund.store_name)]);
    let status = status_code(refund.status);
    let address = refund.address.as_deref().unwrap_or(address_typed);
    let args = [("amount", refund.amount.as_str()), ("asset", refund.asset.as_str()), ("address", address)];
    let accepted = matches!(outcome, Some(ClaimOutcome::Accepted));
    let body = html! {
        main id="claim" data-status=(status) {
            header {
                (lang_nav(lang, ""))
                p.store { (refund.store_name) }
                h1.price {
                    span.label { (lang.text("claim.amount_label")) }
                    " "
                    strong { (refund.amount) " " (refund.asset) }
                }
                p.order { (lang.fill("page.order", &[("order", &refund.order_id)])) }
            }
            @if accepted {
                p id="claim-result" data-status=(status) aria-live="polite" { (lang.fill("claim.accepted", &args)) }
            } @else {
                p id="claim-status" data-status=(status) { (lang.fill(status_key(refund.status), &args)) }
            }
            @if let Some(ClaimOutcome::Refused { code, message }) = outcome {
                p id="claim-error" role="alert" {
                    strong { (lang.fill(error_key(code), &[("asset", &refund.asset)])) }
                    " "
                    span.detail lang="en" { (message) }
                }
            }
            @if refund.status == RefundStatus::AwaitingAddress && !accepted {
                (form(refund, lang, token_path, address_typed, outcome.is_some()))
                @if let Some(until) = &refund.claim_expires_at {
                    p.expiry { (lang.fill("claim.valid_until", &[("date", &readable_date(until))])) }
                }
            }
        }
    };
    document(lang, &title, html! {}, body)
}

/// The address form: a plain `POST` of `address` and `lang`.
fn form(refund: &PublicRefund, lang: Lang, token_path: &str, address_typed: &str, refused: bool) -> Markup {
    let action = (token_path.starts_with('/') && !token_path.starts_with("//")).then_some(token_path);
    html! {
        form id="claim-form" method="post" action=[action] {
            label for="address" { (lang.fill("claim.address_label", &[("asset", &refund.asset)])) }
            input id="address" name="address" type="text" autocomplete="off" spellcheck="false" autocapitalize="none"
                required maxlength="256" value=(address_typed) aria-invalid=[refused.then_some("true")]
                aria-describedby=[refused.then_some("claim-error")];
            input type="hidden" name="lang" value=(lang.code());
            button id="claim-submit" type="submit" { (lang.text("claim.submit")) }
        }
    }
}

/// The refund status as the page's `data-status` says it.
fn status_code(status: RefundStatus) -> &'static str {
    match status {
        RefundStatus::AwaitingApproval => "awaiting_approval",
        RefundStatus::Rejected => "rejected",
        RefundStatus::AwaitingAddress => "awaiting_address",
        RefundStatus::AwaitingPayment => "awaiting_payment",
        RefundStatus::Completed => "completed",
    }
}

/// The key of the message for `status`.
fn status_key(status: RefundStatus) -> &'static str {
    match status {
        RefundStatus::AwaitingApproval => "claim.status_awaiting_approval",
        RefundStatus::Rejected => "claim.status_rejected",
        RefundStatus::AwaitingAddress => "claim.status_awaiting_address",
        RefundStatus::AwaitingPayment => "claim.status_awaiting_payment",
        RefundStatus::Completed => "claim.status_completed",
    }
}

/// The heading of a refusal with error `code` (the plugin's message goes under it).
fn error_key(code: &str) -> &'static str {
    match code {
        "invalid_address" => "claim.error_invalid_address",
        "claim_locked" | "rate_limited" => "claim.error_too_many",
        _ => "claim.error_generic",
    }
}

/// An RFC 3339 time as `2030-01-31 14:05 UTC`; as is when it does not parse.
fn readable_date(rfc3339: &str) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    OffsetDateTime::parse(rfc3339, &Rfc3339)
        .ok()
        .and_then(|at| at.to_offset(UtcOffset::UTC).format(format).ok())
        .unwrap_or_else(|| rfc3339.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkout::page::tests::{assert_csp_clean, text_of, HOSTILE};

    fn refund(status: RefundStatus) -> PublicRefund {
        PublicRefund {
            store_name: "Corner Shop".into(),
            order_id: "A-1042".into(),
            amount: "0.0005".into(),
            asset: "BTC".into(),
            status,
            address: (status != RefundStatus::AwaitingAddress).then(|| "bcrt1qrefund".into()),
            claim_expires_at: (status == RefundStatus::AwaitingAddress).then(|| "2030-01-31T16:05:00+02:00".into()),
        }
    }

    fn refused(code: &str) -> ClaimOutcome {
        ClaimOutcome::Refused { code: code.into(), message: "invalid bech32 checksum".into() }
    }

    fn zh() -> Lang {
        Lang::from_code("zh").expect("zh")
    }

    #[test]
    fn an_unknown_link_says_so_in_each_language() {
        for lang in Lang::all() {
            let html = render(None, lang, "/r/tok", None, "");
            assert_csp_clean(&html);
            assert!(html.contains(&format!(r#"<html lang="{}">"#, lang.code())));
            assert!(html.contains(lang.text("claim.unknown")) && !html.contains("<form"), "{html}");
            assert!(!html.contains("<script"));
        }
        assert!(render(None, zh(), "/r/tok", None, "").contains("此退款链接无效"));
    }

    #[test]
    fn awaiting_an_address_shows_the_form() {
        let r = refund(RefundStatus::AwaitingAddress);
        let html = render(Some(&r), Lang::EN, "/r/tok", None, "");
        assert_csp_clean(&html);
        assert!(html.contains(r#"<form id="claim-form" method="post" action="/r/tok">"#), "{html}");
        assert!(html.contains(r#"<label for="address">Your BTC address</label>"#));
        assert!(html.contains(r#"<input id="address" name="address" type="text" autocomplete="off" spellcheck="false" autocapitalize="none" required maxlength="256" value="">"#), "{html}");
        assert!(html.contains(r#"<input type="hidden" name="lang" value="en">"#));
        assert!(html.contains(r#"<button id="claim-submit" type="submit">Claim the refund</button>"#));
        assert!(
            html.contains("<strong>0.0005 BTC</strong>")
                && html.contains("Order A-1042")
                && html.contains("Corner Shop")
        );
        assert_eq!(text_of(&html, r#"id="claim-status""#), "Enter your BTC address to receive the refund.");
        assert!(html.contains("This link can be used until 2030-01-31 14:05 UTC."), "{html}");
        assert!(!html.contains("claim-error") && !html.contains("claim-result"));
        let html = render(Some(&r), zh(), "not a path", None, "");
        assert!(html.contains(r#"<form id="claim-form" method="post">"#) && html.contains(r#"value="zh""#));
        assert!(html.contains("此链接有效期至 2030-01-31 14:05 UTC。"), "{html}");
        assert_eq!(readable_date("soon"), "soon");
    }

    #[test]
    fn a_refusal_shows_a_localized_heading_over_the_plugins_words() {
        let r = refund(RefundStatus::AwaitingAddress);
        let cases = [
            ("invalid_address", "This is not a valid BTC address.", "这不是有效的 BTC 地址。"),
            ("claim_locked", "Too many attempts: please try again later.", "尝试次数过多，请稍后再试。"),
            ("rate_limited", "Too many attempts: please try again later.", "尝试次数过多，请稍后再试。"),
            ("internal", "Your address could not be saved.", "无法保存您的地址。"),
        ];
        for (code, en, zh_heading) in cases {
            for (lang, heading) in [(Lang::EN, en), (zh(), zh_heading)] {
                let html = render(Some(&r), lang, "/r/tok", Some(&refused(code)), "bc1qtypo");
                assert_csp_clean(&html);
                let want = format!(
                    r#"<p id="claim-error" role="alert"><strong>{heading}</strong> <span class="detail" lang="en">invalid bech32 checksum</span></p>"#
                );
                assert!(html.contains(&want), "{code}: {html}");
                assert!(
                    html.contains(r#"value="bc1qtypo" aria-invalid="true" aria-describedby="claim-error">"#),
                    "{html}"
                );
            }
        }
    }

    #[test]
    fn accepted_and_later_statuses_say_what_happens_next() {
        let r = refund(RefundStatus::AwaitingPayment);
        let html = render(Some(&r), Lang::EN, "/r/tok", Some(&ClaimOutcome::Accepted), "bcrt1qrefund");
        assert_csp_clean(&html);
        assert_eq!(
            text_of(&html, r#"id="claim-result""#),
            "Thank you. The shop will send 0.0005 BTC to bcrt1qrefund; you will receive it once they pay."
        );
        assert!(!html.contains("<form") && !html.contains("claim-error"));
        // Accepted, even if the refund read back still awaits the address: no form again.
        let mut waiting = refund(RefundStatus::AwaitingAddress);
        waiting.address = None;
        let html = render(Some(&waiting), zh(), "/r/tok", Some(&ClaimOutcome::Accepted), "bc1qnew");
        assert!(!html.contains("<form") && html.contains("商家将向 bc1qnew 发送 0.0005 BTC"), "{html}");
        let html = render(Some(&r), Lang::EN, "/r/tok", None, "");
        assert_eq!(text_of(&html, r#"id="claim-status""#), "The shop will send 0.0005 BTC to bcrt1qrefund.");
        assert!(html.contains(r#"<main id="claim" data-status="awaiting_payment">"#) && !html.contains("<form"));
        let html = render(Some(&refund(RefundStatus::Completed)), zh(), "/r/tok", None, "");
        assert_eq!(text_of(&html, r#"id="claim-status""#), "退款已发送：0.0005 BTC 至 bcrt1qrefund。");
    }

    #[test]
    fn hostile_values_are_escaped() {
        for evil in HOSTILE {
            let mut r = refund(RefundStatus::AwaitingAddress);
            r.store_name = evil.into();
            r.order_id = evil.into();
            r.amount = evil.into();
            r.asset = evil.into();
            r.claim_expires_at = Some(evil.into());
            let outcome = ClaimOutcome::Refused { code: evil.into(), message: evil.into() };
            for lang in Lang::all() {
                let html = render(Some(&r), lang, &format!("/r/{evil}"), Some(&outcome), evil);
                assert_csp_clean(&html);
                assert!(!html.contains(evil) && !html.contains("<script") && !html.contains("<img"), "{html}");
                r.address = Some(evil.into());
                r.status = RefundStatus::AwaitingPayment;
                let html = render(Some(&r), lang, evil, Some(&ClaimOutcome::Accepted), evil);
                assert_csp_clean(&html);
                assert!(!html.contains(evil) && !html.contains("<script") && !html.contains("<img"), "{html}");
                r.status = RefundStatus::AwaitingAddress;
            }
        }
    }
}
