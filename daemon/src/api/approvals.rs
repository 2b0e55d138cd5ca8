//! `/v1/refunds/{id}/approve` and `/reject`: the second key's decision on a large refund
//! (`invoices::approval`). Both need the `refunds:approve` scope; approving also needs another
//! key than the one that made the refund.

use super::error::{ApiError, ErrorBody};
use super::extract::Path;
use super::{blocking, AppState};
use crate::events::views::{self, Sorted};
use crate::invoices::Decision;
use crate::stores::Caller;
use axum::extract::State;
use axum::Json;
use paywatch_plugin_api::events::Refund;
use uuid::Uuid;

async fn decide(st: AppState, caller: Caller, id: Uuid, decision: Decision) -> Result<Json<Sorted<Refund>>, ApiError> {
    let svc = st.invoices().clone();
    let (r, claim) = blocking(move || svc.decide_refund(&caller.store, id, &caller.key_id, decision)).await??;
    let mut body = views::refund(&r);
    if let Some(token) = claim {
        body.claim_path = Some(format!("/v1/refunds/claim/{token}"));
        body.claim_url = Some(format!("{}/r/{token}", st.invoices().checkout_base()));
        body.claim_token = Some(token);
    }
    Ok(Json(Sorted(body)))
}

/// Approve a refund awaiting approval: with an address it is watched and can be paid
/// (`awaiting_payment`); without one it is `awaiting_address` and this answer carries its
/// one-time `claim_token` and `claim_url` (shown once: the approver sends the customer the
/// link; whoever made the refund never had it); `refund.approved`.
#[utoipa::path(post, path = "/v1/refunds/{id}/approve", tag = "refunds", security(("api_key" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Refund), (status = 403, body = ErrorBody, description = "the key lacks `refunds:approve` (`forbidden`), or made the refund (`second_key_required`)"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "not awaiting approval (`not_awaiting_approval`)")))]
pub(crate) async fn approve(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<Sorted<Refund>>, ApiError> {
    decide(st, caller, id, Decision::Approve).await
}

/// Reject a refund awaiting approval: `rejected`, never paid; its value no longer counts
/// against what the invoice can refund; `refund.rejected`.
#[utoipa::path(post, path = "/v1/refunds/{id}/reject", tag = "refunds", security(("api_key" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Refund), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not awaiting approval (`not_awaiting_approval`)")))]
pub(crate) async fn reject(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<Sorted<Refund>>, ApiError> {
    decide(st, caller, id, Decision::Reject).await
}
