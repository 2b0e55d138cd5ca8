//! The public checkout routes: the payment page `/i/{id}` (its status as JSON and as a
//! Server-Sent Events stream, its QR codes, its assets) and the refund claim page `/r/{token}`.
//! No key: the invoice id (a random UUID) and the claim token are the capabilities, and what
//! they show is `checkout::PublicStatus` / `PublicRefund` only. Rate-limited per client; streams
//! counted per client and in all (`[checkout]`).

use super::connections::{PerClient, Place};
use super::error::ApiError;
use super::limits::client_of_extensions;
use super::{blocking, AppState};
use crate::checkout::{render, ClaimOutcome, Lang, PublicRefund, PublicStatus, Published, Subscribed, Subscription};
use crate::config::CheckoutConfig;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

/// Sent with every page: nothing but the daemon's own script, styles and images; no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// How long a browser waits before reconnecting a dropped stream.
const RECONNECT: Duration = Duration::from_secs(3);
/// A comment line this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// What a refused stream is told to wait.
const STREAM_RETRY_SECS: u64 = 10;

/// Status streams open at once: every client together and per client.
#[derive(Debug)]
pub(crate) struct Streams {
    all: Arc<Semaphore>,
    max: usize,
    per_client: Arc<PerClient>,
    max_per_client: u32,
    /// Streams of one invoice (its customer's tabs): the id alone must not buy more.
    pub(crate) max_per_invoice: usize,
}

/// A stream's places, given back when it ends.
#[derive(Debug)]
struct StreamSlot {
    _all: OwnedSemaphorePermit,
    _client: Place,
}

impl Streams {
    pub(crate) fn new(cfg: &CheckoutConfig) -> Self {
        Self {
            all: Arc::new(Semaphore::new(cfg.max_streams)),
            max: cfg.max_streams,
            per_client: PerClient::new(cfg.max_streams_per_client),
            max_per_client: cfg.max_streams_per_client,
            max_per_invoice: cfg.max_streams_per_invoice,
        }
    }

    fn take(&self, req: &axum::http::Extensions) -> Result<StreamSlot, ApiError> {
        let client = self.per_client.try_take(client_of_extensions(req)).ok_or_else(|| {
            let m =
                format!("this client has {} status streams open, checkout.max_streams_per_client", self.max_per_client);
            ApiError::quota_full(m, STREAM_RETRY_SECS)
        })?;
        let all = self.all.clone().try_acquire_owned().map_err(|_| {
            let m = format!("{} status streams are open, checkout.max_streams", self.max);
            ApiError::quota_full(m, STREAM_RETRY_SECS)
        })?;
        Ok(StreamSlot { _all: all, _client: client })
    }

    /// Streams open now.
    pub(crate) fn open(&self) -> usize {
        self.max - self.all.available_permits()
    }
}

/// A page's query, read leniently: a page opened with a mangled, repeated or unknown parameter
/// (a shop's tracking tags) is still the page, never an error.
#[derive(Debug, Default)]
pub(crate) struct PageQuery {
    lang: Option<String>,
    /// The method shown, by index; anything else is the first.
    method: Option<usize>,
}

impl PageQuery {
    /// `?lang=` names a language the pages have: the customer chose it (remembered).
    fn chose_language(&self) -> bool {
        self.lang.as_deref().and_then(Lang::from_code).is_some()
    }

    fn parse(raw: Option<&str>) -> Self {
        let mut q = PageQuery::default();
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            match &*k {
                "lang" => q.lang = Some(v.into_owned()),
                "method" => q.method = v.parse().ok(),
                _ => {}
            }
        }
        q
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ClaimForm {
    #[serde(default)]
    address: String,
    lang: Option<String>,
}

/// The language of this request: `?lang=`, then the `pw_lang` cookie, then `Accept-Language`.
fn lang_of(query: Option<&str>, headers: &HeaderMap) -> Lang {
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("pw_lang="));
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    Lang::negotiate(query, cookie, accept)
}

/// An HTML page with the pages' headers; `remember` sets the language cookie (an explicit
/// switch).
fn html(status: StatusCode, body: String, lang: Lang, remember: bool) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(lang.code()));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Language, Cookie"));
    if remember {
        let cookie = format!("pw_lang={}; Path=/; Max-Age=31536000; SameSite=Lax", lang.code());
        h.insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("a language code is a header value"));
    }
    page_headers(resp)
}

/// Headers every public response carries, errors included (a layer of the page routes): the
/// CSP, no caching of what changes, no referrer (the page's URL is a capability: a link out
/// must not carry it), no sniffing, no framing. A page (`/i/{id}`, `/r/{token}`) refused by the
/// rate limit is a page too, in the customer's language, reloading itself when it may.
pub(crate) async fn public_headers(req: Request, next: axum::middleware::Next) -> Response {
    let is_page = is_page(req.uri().path());
    let headers = req.headers().clone();
    let resp = next.run(req).await;
    if is_page && resp.status() == StatusCode::TOO_MANY_REQUESTS {
        let wait = resp.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(1);
        let lang = lang_of(None, &headers);
        let mut page = html(StatusCode::TOO_MANY_REQUESTS, render::busy(lang, wait), lang, false);
        if let Some(v) = resp.headers().get(header::RETRY_AFTER) {
            page.headers_mut().insert(header::RETRY_AFTER, v.clone());
        }
        return page;
    }
    page_headers(resp)
}

/// A path of an HTML page (not of a page's status, stream, QR code or asset).
fn is_page(path: &str) -> bool {
    let mut parts = path.trim_start_matches('/').split('/');
    matches!((parts.next(), parts.next(), parts.next()), (Some("i" | "r"), Some(_), None))
}

fn page_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// The page of an unknown invoice or link: 404 in the customer's language.
fn not_found(lang: Lang) -> Response {
    html(StatusCode::NOT_FOUND, render::not_found(lang), lang, false)
}

fn invoice_id(raw: &str) -> Option<Uuid> {
    // Only the lowercase hyphenated form the API hands out: one URL per page.
    let id: Uuid = raw.parse().ok()?;
    (id.hyphenated().to_string() == raw).then_some(id)
}

/// `GET /i/{id}`: the payment page.
pub(crate) async fn page(
    State(st): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let q = PageQuery::parse(query.as_deref());
    let lang = lang_of(q.lang.as_deref(), &headers);
    let Some(id) = invoice_id(&id) else { return Ok(not_found(lang)) };
    let hub = st.checkout().clone();
    let status = blocking(move || hub.status(id)).await??;
    let Some(status) = status else { return Ok(not_found(lang)) };
    let selected = q.method.filter(|m| *m < status.methods.len()).unwrap_or(0);
    let expires_in = expires_in(&status);
    let body = render::invoice(&status, lang, selected, expires_in);
    Ok(html(StatusCode::OK, body, lang, q.chose_language()))
}

/// Seconds until the invoice expires (negative once it has).
fn expires_in(status: &PublicStatus) -> i64 {
    let at = time::OffsetDateTime::parse(&status.expires_at, &time::format_description::well_known::Rfc3339);
    at.map_or(0, |at| (at - time::OffsetDateTime::now_utc()).whole_seconds())
}

/// The public status of an invoice's checkout page: what its customer may see (no metadata,
/// email, store id or payment details beyond amounts and addresses). No key: the invoice id is
/// the capability. Also streamed as Server-Sent Events by `GET /i/{id}/events`.
#[utoipa::path(get, path = "/i/{id}/status", tag = "checkout",
    params(("id" = String, Path, description = "the invoice id, lowercase hyphenated")),
    responses((status = 200, body = PublicStatus), (status = 404, body = super::error::ErrorBody)))]
pub(crate) async fn status(State(st): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = invoice_id(&id).ok_or_else(|| ApiError::not_found(format!("invoice {id:?}")))?;
    let hub = st.checkout().clone();
    let status = blocking(move || hub.status(id)).await??;
    let status = status.ok_or_else(|| ApiError::not_found(format!("invoice {id}")))?;
    Ok(page_headers(Json(status).into_response()))
}

/// `GET /i/{id}/events`: the public status now, then each change, as Server-Sent Events
/// (`event: status`, `id:` its version), until the client or the daemon goes away.
pub(crate) async fn events(
    State(st): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let id = invoice_id(&id).ok_or_else(|| ApiError::not_found(format!("invoice {id:?}")))?;
    let slot = st.streams().take(req.extensions())?;
    let (hub, max) = (st.checkout().clone(), st.streams().max_per_invoice);
    let sub = match blocking(move || hub.subscribe(id, max)).await?? {
        Subscribed::Open(sub) => sub,
        Subscribed::NotFound => return Err(ApiError::not_found(format!("invoice {id}"))),
        Subscribed::Full => {
            let m = format!("invoice {id} has {max} status streams open, checkout.max_streams_per_invoice");
            return Err(ApiError::quota_full(m, STREAM_RETRY_SECS));
        }
    };
    let stream = futures::stream::unfold(Stream::new(sub, slot, st.shutdown_signal()), Stream::next);
    let sse = Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE));
    let mut resp = page_headers(sse.into_response());
    // Through a buffering proxy (nginx), a stream must not wait for a full buffer.
    resp.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(resp)
}

/// One open status stream.
struct Stream {
    sub: Subscription,
    /// The first status, not sent yet.
    first: Option<Arc<Published>>,
    /// The version last sent: never an older one after it.
    sent: u64,
    stop: watch::Receiver<bool>,
    _slot: StreamSlot,
}

impl Stream {
    fn new(sub: Subscription, slot: StreamSlot, stop: watch::Receiver<bool>) -> Self {
        Self { first: Some(sub.first.clone()), sub, sent: 0, stop, _slot: slot }
    }

    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            let status = match self.first.take() {
                Some(first) => first,
                None => {
                    tokio::select! {
                        changed = self.sub.latest.changed() => changed.ok()?,
                        _ = self.stop.wait_for(|s| *s) => return None,
                    }
                    match self.sub.latest.borrow_and_update().clone() {
                        Some(s) if s.version > self.sent => s,
                        _ => continue,
                    }
                }
            };
            self.sent = status.version;
            return Some((Ok(event(&status)), self));
        }
    }
}

fn event(status: &Published) -> Event {
    Event::default().event("status").id(status.version.to_string()).retry(RECONNECT).data(&status.json)
}

/// `GET /i/{id}/qr/{n}.svg`: the QR code of method `n`'s payment URI now.
pub(crate) async fn qr(
    State(st): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = invoice_id(&id).ok_or_else(|| ApiError::not_found(format!("invoice {id:?}")))?;
    let n: usize = file
        .strip_suffix(".svg")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| ApiError::not_found(format!("qr code {file:?}")))?;
    let hub = st.checkout().clone();
    let status = blocking(move || hub.status(id)).await??;
    // Only while something is to pay (the status shows no URI otherwise): the address of an
    // expired invoice goes back to its pool and may be another customer's later.
    let uri = status
        .and_then(|s| s.methods.into_iter().nth(n))
        .map(|m| m.payment_uri)
        .filter(|uri| !uri.is_empty())
        .ok_or_else(|| ApiError::not_found(format!("payment method {n} of invoice {id} (nothing to pay)")))?;
    let svg = render::qr_svg(&uri).map_err(ApiError::internal)?;
    let mut resp = ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response();
    // The page asks for it with a tag of its URI (`?v=`): a changed amount is a new path.
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    Ok(page_headers(resp))
}

/// `GET /checkout/checkout.css` and `.js`: the pages' only assets, cached for good (their
/// links carry a tag of their content).
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "checkout.css" => (render::CSS, "text/css; charset=utf-8"),
        "checkout.js" => (render::JS, "text/javascript; charset=utf-8"),
        _ => return ApiError::not_found(format!("asset {file:?}")).into_response(),
    };
    let mut resp = ([(header::CONTENT_TYPE, kind)], body).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    page_headers(resp)
}

/// `GET /favicon.ico`: what every browser asks for beside a page; none (`204`), cached for a
/// day, so no page load ends in a `404`.
pub(crate) async fn favicon() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    page_headers(resp)
}

/// `GET /r/{token}`: the refund claim page.
pub(crate) async fn claim_page(
    State(st): State<AppState>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let q = PageQuery::parse(query.as_deref());
    let lang = lang_of(q.lang.as_deref(), &headers);
    let refund = public_refund(&st, token.clone()).await?;
    // The form posts to the page's own URL (no action): right under any public_url path.
    let body = render::claim(refund.as_ref(), lang, "", None, "");
    let status = if refund.is_some() { StatusCode::OK } else { StatusCode::NOT_FOUND };
    Ok(html(status, body, lang, q.chose_language()))
}

/// `POST /r/{token}` (a form: `address`, `lang`): claims the refund to the address and shows
/// the outcome; a refused address is shown with the currency plugin's reason.
pub(crate) async fn claim_submit(
    State(st): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ClaimForm>,
) -> Result<Response, ApiError> {
    let lang = lang_of(form.lang.as_deref(), &headers);
    let address = form.address.trim().to_string();
    let path = "";
    let outcome = match super::address_len("address", &address) {
        Err(e) => Err(e),
        Ok(()) => {
            let (svc, t, a) = (st.invoices().clone(), token.clone(), address.clone());
            blocking(move || {
                let r = svc.claim_refund(&t, &a)?;
                let order = svc.get_public(r.invoice_id)?.map(|i| i.order_id).unwrap_or_default();
                Ok::<_, crate::invoices::InvoiceError>((r, order))
            })
            .await?
            .map_err(ApiError::from)
        }
    };
    match outcome {
        Ok((r, order)) => {
            let shown =
                PublicRefund::new(&crate::events::views::refund(&r), &st.checkout().store_name(&r.store), &order);
            let body = render::claim(Some(&shown), lang, path, Some(&ClaimOutcome::Accepted), "");
            Ok(html(StatusCode::OK, body, lang, false))
        }
        Err(e) => {
            let refused = ClaimOutcome::Refused { code: e.code().to_string(), message: e.message().to_string() };
            let refund = public_refund(&st, token).await?;
            let shown = address.chars().take(256).collect::<String>();
            let body = render::claim(refund.as_ref(), lang, path, Some(&refused), &shown);
            // 422 while an address can still be given; 410 once the link is used up.
            let open =
                refund.as_ref().is_some_and(|r| r.status == paywatch_plugin_api::events::RefundStatus::AwaitingAddress);
            let status = if open { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::GONE };
            Ok(html(status, body, lang, false))
        }
    }
}

/// The refund a claim token can still claim, as its page shows it; `None` for an unknown,
/// used, expired or locked token (the page says the link cannot be used).
async fn public_refund(st: &AppState, token: String) -> Result<Option<PublicRefund>, ApiError> {
    let svc = st.invoices().clone();
    match blocking(move || svc.claim_view(&token)).await? {
        Ok((r, order)) => {
            Ok(Some(PublicRefund::new(&crate::events::views::refund(&r), &st.checkout().store_name(&r.store), &order)))
        }
        Err(crate::invoices::InvoiceError::Db(e)) => Err(ApiError::internal(e)),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pages_query_is_read_leniently_whatever_else_it_carries() {
        let q = PageQuery::parse(Some("utm_source=mail&method=2&lang=zh"));
        assert_eq!((q.lang.as_deref(), q.method), (Some("zh"), Some(2)));
        let q = PageQuery::parse(Some("method=abc&lang=en&lang=zh&method=1&x=%ZZ"));
        assert_eq!((q.lang.as_deref(), q.method), (Some("zh"), Some(1)), "the last of a repeated key");
        let q = PageQuery::parse(Some("method=-1&method=99999999999999999999999"));
        assert_eq!(q.method, None);
        assert!(PageQuery::parse(None).lang.is_none());
    }

    #[test]
    fn the_busy_page_is_for_pages_only() {
        for page in ["/i/01a234c7-cbf0-73b2-a28f-c3639e4b2e3a", "/r/abc"] {
            assert!(is_page(page), "{page}");
        }
        for other in [
            "/i/x/status",
            "/i/x/events",
            "/i/x/qr/0.svg",
            "/checkout/checkout.js",
            "/favicon.ico",
            "/v1/refunds/claim/x",
        ] {
            assert!(!is_page(other), "{other}");
        }
    }

    #[test]
    fn only_the_canonical_form_of_an_invoice_id_is_a_page() {
        let id = "01a234c7-cbf0-73b2-a28f-c3639e4b2e3a";
        assert!(invoice_id(id).is_some());
        for other in
            [&id.to_uppercase(), "01a234c7cbf073b2a28fc3639e4b2e3a", "{01a234c7-cbf0-73b2-a28f-c3639e4b2e3a}", "", "x"]
        {
            assert_eq!(invoice_id(other), None, "{other}");
        }
    }

    #[test]
    fn the_language_comes_from_the_query_then_the_cookie_then_accept_language() {
        let zh = Lang::from_code("zh").unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("zh-CN,zh;q=0.9,en;q=0.8"));
        assert_eq!(lang_of(None, &h), zh);
        h.insert(header::COOKIE, HeaderValue::from_static("other=1; pw_lang=en"));
        assert_eq!(lang_of(None, &h), Lang::EN);
        assert_eq!(lang_of(Some("zh"), &h), zh);
        assert_eq!(lang_of(Some("<script>"), &HeaderMap::new()), Lang::EN);
    }
}
