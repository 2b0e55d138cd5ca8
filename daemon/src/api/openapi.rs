//! The OpenAPI document, generated from the handlers' annotations. `docs/openapi.json` is this
//! document; a test keeps them equal.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "paywatch", description = "Self-hosted, non-custodial crypto payment daemon: REST API. \
        Every route but /health and the checkout pages' needs `Authorization: Bearer <key>`: a store's API key (store routes, \
        which only ever see that store's data, each needing the scope `docs/api.md` names for it) or the admin key \
        (/metrics, /v1/admin/…; and reading a store's data with the `Paywatch-Store` header). The checkout routes (/i/{id}…, /r/{token}) are \
        public: the invoice id and the claim token are the capabilities."),
    paths(
        super::watches::create, super::watches::create_batch, super::watches::get,
        super::watches::list, super::watches::delete, super::payments::of_watch, super::payments::of_tx,
        super::invoices::create, super::invoices::get, super::invoices::list, super::invoices::cancel,
        super::invoices::payments_of,
        super::invoices::create_refund, super::invoices::refunds_of, super::invoices::refundable,
        super::invoices::get_refund, super::approvals::approve, super::approvals::reject,
        super::invoices::claim, super::endpoints::create, super::endpoints::list, super::endpoints::get,
        super::endpoints::update, super::endpoints::delete, super::endpoints::deliveries,
        super::endpoints::redeliver, super::endpoints::test, super::events::list, super::rates::list,
        super::ops::health, super::ops::metrics, super::backup::create, super::checkout::status,
        super::compat::bitpay::pairing::make_code, super::compat::bitpay::pairing::approve_code,
        super::admin::create_store, super::admin::list_stores, super::admin::get_store, super::admin::update_store,
        super::admin::retire_store, super::admin::create_key, super::admin::list_keys, super::admin::revoke_key,
    ),
    modifiers(&BearerAuth, &FrontDoor),
    tags((name = "watches"), (name = "payments"), (name = "invoices"), (name = "refunds"), (name = "endpoints"), (name = "events"),
        (name = "rates"), (name = "operations"), (name = "checkout"), (name = "bitpay"), (name = "admin")),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// What the front door may answer on any route (`docs/api.md`, "Limits"), so that generated
/// clients know them: `408` (the request or its body took too long), `429` (a per-client or
/// long-poll limit, with `Retry-After`), and `413` on routes that take a body.
struct FrontDoor;

impl Modify for FrontDoor {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Content, Ref, ResponseBuilder};
        let error = |what: &str| {
            ResponseBuilder::new()
                .description(what)
                .content("application/json", Content::new(Some(Ref::from_schema_name("ErrorBody"))))
                .build()
        };
        for item in doc.paths.paths.values_mut() {
            let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for op in ops.into_iter().flatten() {
                let responses = &mut op.responses.responses;
                let mut add = |code: &str, what: &str| {
                    responses.entry(code.to_string()).or_insert_with(|| error(what).into());
                };
                add("408", "`request_timeout` or `body_timeout`: the request or its body took too long");
                add("429", "`rate_limited`: a per-client limit or a long-poll quota; see `Retry-After`");
                if op.request_body.is_some() {
                    add("413", "`body_too_large`: the body is over `server.max_body_bytes`");
                }
            }
        }
    }
}

pub(crate) fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

#[cfg(test)]
mod tests {
    /// `docs/openapi.json` is what the code serves. Regenerate with
    /// `PAYWATCH_UPDATE_DOCS=1 cargo test -p paywatch openapi`.
    #[test]
    fn docs_openapi_json_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
        let generated = serde_json::to_string_pretty(&super::document()).unwrap() + "\n";
        if std::env::var_os("PAYWATCH_UPDATE_DOCS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "docs/openapi.json is stale: run PAYWATCH_UPDATE_DOCS=1 cargo test -p paywatch openapi"
        );
    }

    /// Every store route of the document needs a scope of its own (`stores::required_scope`):
    /// a route added without one would be refused to every scoped key, and say nothing of it.
    #[test]
    fn every_store_route_names_its_scope() {
        let doc = serde_json::to_value(super::document()).unwrap();
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            let store_route = path.starts_with("/v1/") && !path.starts_with("/v1/admin/");
            for (method, op) in item.as_object().unwrap() {
                if !store_route || op.get("security").is_none() {
                    continue;
                }
                let m = axum::http::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                assert!(crate::stores::required_scope(&m, path).is_some(), "{method} {path} has no scope");
                checked += 1;
            }
        }
        assert!(checked > 25, "{checked} routes");
    }
}
