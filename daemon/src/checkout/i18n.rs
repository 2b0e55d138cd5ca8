//! STUB (replaced by the frontend branch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    En,
    Zh,
}
impl Lang {
    pub(crate) fn negotiate(query: Option<&str>, cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
        let q = query.or(cookie).or(accept_language).unwrap_or("en");
        if q.starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    }
    pub(crate) fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }
}
