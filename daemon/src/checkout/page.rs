//! STUB (replaced by the frontend branch).
use super::i18n::Lang;
use super::status::PublicStatus;
pub(crate) const CSS: &str = "";
pub(crate) const JS: &str = "";
pub(crate) fn asset_version() -> &'static str {
    "0"
}
pub(crate) fn invoice(status: &PublicStatus, _lang: Lang, _selected: usize, _expires_in_secs: i64) -> String {
    format!("<main id=\"checkout\" data-state=\"{}\"></main>", status.state.as_str())
}
pub(crate) fn not_found(_lang: Lang) -> String {
    String::from("not found")
}
