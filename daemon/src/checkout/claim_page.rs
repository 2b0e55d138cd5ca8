//! STUB (replaced by the frontend branch).
use super::i18n::Lang;
use super::status::{ClaimOutcome, PublicRefund};
pub(crate) fn render(
    refund: Option<&PublicRefund>,
    _lang: Lang,
    _token_path: &str,
    outcome: Option<&ClaimOutcome>,
    _address_typed: &str,
) -> String {
    format!("{:?} {:?}", refund.map(|r| &r.amount), outcome)
}
