//! The checkout pages' languages and strings. Every string a customer reads is in a locale file
//! (`locales/{code}.toml`, listed by `build.rs`: a new language is one new file); English is
//! the fallback for a key another locale lacks. [`Lang::negotiate`] picks the language of a
//! request.

use std::collections::HashMap;
use std::sync::LazyLock;

include!(concat!(env!("OUT_DIR"), "/locales.rs"));

/// Each locale's strings by dotted key (`state.paid`), in `LOCALE_FILES` order. A file that
/// does not parse has no strings, so every key falls back to English (a test parses them all).
static TABLES: LazyLock<Vec<HashMap<String, String>>> =
    LazyLock::new(|| LOCALE_FILES.iter().map(|(_, text)| parse(text).unwrap_or_default()).collect());

/// A locale file's strings, tables flattened to dotted keys; values other than strings are
/// left out.
fn parse(text: &str) -> Result<HashMap<String, String>, toml::de::Error> {
    let table: toml::Table = toml::from_str(text)?;
    let mut strings = HashMap::new();
    flatten("", &table, &mut strings);
    Ok(strings)
}

/// Adds `table`'s strings to `out`, each key prefixed with `prefix.` (unless empty).
fn flatten(prefix: &str, table: &toml::Table, out: &mut HashMap<String, String>) {
    for (key, value) in table {
        let key = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            toml::Value::String(text) => {
                out.insert(key, text.clone());
            }
            toml::Value::Table(inner) => flatten(&key, inner, out),
            _ => {}
        }
    }
}

/// A language of the checkout pages: one of the locale files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Lang(usize);

impl Lang {
    /// English, the default and the fallback.
    pub(crate) const EN: Lang = Lang(0);

    /// Every language, English first, then by code.
    pub(crate) fn all() -> impl Iterator<Item = Lang> {
        (0..LOCALE_FILES.len()).map(Lang)
    }

    /// The language whose code is `code` (`en`, `zh`; any case), if there is a locale for it.
    pub(crate) fn from_code(code: &str) -> Option<Lang> {
        let code = code.trim();
        LOCALE_FILES.iter().position(|(c, _)| c.eq_ignore_ascii_case(code)).map(Lang)
    }

    /// The language's tag, for `<html lang>`, `hreflang` and the `pw_lang` cookie.
    pub(crate) fn code(self) -> &'static str {
        LOCALE_FILES[self.0].0
    }

    /// The language of a request: the `lang` query parameter if it names a locale, else the
    /// `pw_lang` cookie's, else the best of `Accept-Language` (highest q-value among the tags
    /// with a locale: `zh-CN`, `zh-Hans`, `zh-TW` are all `zh`), else English.
    pub(crate) fn negotiate(query: Option<&str>, cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
        query
            .and_then(Lang::from_code)
            .or_else(|| cookie.and_then(Lang::from_code))
            .or_else(|| accept_language.and_then(from_accept_language))
            .unwrap_or(Lang::EN)
    }

    /// The string `key` (`state.paid`) in this language; English's when this locale lacks it.
    pub(crate) fn text(self, key: &'static str) -> &'static str {
        let tables = &*TABLES;
        match tables[self.0].get(key).or_else(|| tables[Lang::EN.0].get(key)) {
            Some(text) => text,
            None => {
                debug_assert!(false, "en.toml has no string {key:?}");
                key
            }
        }
    }

    /// [`text`](Self::text) with each `{name}` replaced by its value in `args` (by nothing
    /// when `args` has none).
    pub(crate) fn fill(self, key: &'static str, args: &[(&str, &str)]) -> String {
        let mut out = String::new();
        for part in parts(self.text(key)) {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Arg(name) => out.push_str(args.iter().find(|(n, _)| *n == name).map_or("", |(_, v)| v)),
            }
        }
        out
    }

    /// The strings `keys` as a JSON object (`{"state.paid": "…"}`) that can stand inside a
    /// `<script type="application/json">` element: `<`, `>` and `&` are written `\u003c`…, so
    /// no value can close the element or open a comment.
    pub(crate) fn script_json(self, keys: &[&'static str]) -> String {
        let map: serde_json::Map<String, serde_json::Value> =
            keys.iter().map(|key| (key.to_string(), self.text(key).into())).collect();
        script_safe(&serde_json::Value::Object(map).to_string())
    }
}

/// `json` with `<`, `>` and `&` written as `\u003c`, `\u003e`, `\u0026`: still the same JSON
/// (outside strings JSON has none of these characters), and safe inside a `<script>` element.
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

/// The best language of an `Accept-Language` header, if any tag of it has a locale.
fn from_accept_language(header: &str) -> Option<Lang> {
    let mut best: Option<(u16, Lang)> = None;
    for item in header.split(',') {
        let mut params = item.split(';');
        let tag = params.next().unwrap_or_default().trim();
        let mut q = Some(1000);
        for param in params {
            let param = param.trim();
            if let Some(value) = param.strip_prefix("q=").or_else(|| param.strip_prefix("Q=")) {
                q = q_value(value.trim());
            }
        }
        let (Some(q), Some(lang)) = (q, matching(tag)) else { continue };
        if q > 0 && best.is_none_or(|(best_q, _)| q > best_q) {
            best = Some((q, lang));
        }
    }
    best.map(|(_, lang)| lang)
}

/// A q-value (`1`, `0.8`, `0.125`) in thousandths; `None` when malformed.
fn q_value(text: &str) -> Option<u16> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

/// The locale for a language tag: its own, else its prefixes' (`zh-Hant-TW`, `zh-Hant`, `zh`).
fn matching(tag: &str) -> Option<Lang> {
    let mut tag = tag;
    loop {
        if let Some(lang) = Lang::from_code(tag) {
            return Some(lang);
        }
        tag = &tag[..tag.rfind('-')?];
    }
}

/// A piece of a string: text as is, or a `{placeholder}`'s name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part<'a> {
    Text(&'a str),
    Arg(&'a str),
}

/// `template` cut into text and `{name}` placeholders (a name is `a-z`, `0-9` and `_`; any
/// other brace is text).
pub(crate) fn parts(template: &str) -> Vec<Part<'_>> {
    let mut parts = Vec::new();
    let rest = template;
    let mut text_start = 0;
    let mut at = 0;
    while let Some(open) = rest[at..].find('{').map(|i| at + i) {
        let name_len = rest[open + 1..]
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(rest.len() - open - 1);
        if name_len > 0 && rest[open + 1 + name_len..].starts_with('}') {
            if open > text_start {
                parts.push(Part::Text(&rest[text_start..open]));
            }
            parts.push(Part::Arg(&rest[open + 1..open + 1 + name_len]));
            text_start = open + name_len + 2;
            at = text_start;
        } else {
            at = open + 1;
        }
    }
    if text_start < rest.len() {
        parts.push(Part::Text(&rest[text_start..]));
    }
    parts
}

/// The names of `template`'s placeholders.
#[cfg(test)]
fn placeholders(template: &str) -> std::collections::BTreeSet<&str> {
    parts(template)
        .into_iter()
        .filter_map(|part| match part {
            Part::Arg(name) => Some(name),
            Part::Text(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zh() -> Lang {
        Lang::from_code("zh").expect("a zh locale")
    }

    #[test]
    fn every_locale_parses_and_has_every_english_key_with_its_placeholders() {
        let en = parse(LOCALE_FILES[0].1).expect("en.toml parses");
        assert_eq!(LOCALE_FILES[0].0, "en");
        assert!(LOCALE_FILES.len() >= 2, "{:?}", LOCALE_FILES.iter().map(|l| l.0).collect::<Vec<_>>());
        for (code, text) in LOCALE_FILES {
            let table: toml::Table = toml::from_str(text).unwrap_or_else(|e| panic!("{code}.toml: {e}"));
            for (key, value) in &table {
                assert!(value.is_str() || value.is_table(), "{code}.toml: {key} is neither a string nor a table");
                if let Some(inner) = value.as_table() {
                    assert!(inner.values().all(toml::Value::is_str), "{code}.toml: [{key}] holds a non-string");
                }
            }
            let strings = parse(text).expect("parsed above");
            for (key, english) in &en {
                let Some(value) = strings.get(key) else { panic!("{code}.toml lacks {key}") };
                assert!(!value.trim().is_empty(), "{code}.toml: {key} is empty");
                assert_eq!(placeholders(value), placeholders(english), "{code}.toml: {key}'s placeholders");
            }
            for key in strings.keys() {
                assert!(en.contains_key(key), "{code}.toml has {key}, which en.toml lacks (a typo?)");
            }
        }
    }

    #[test]
    fn the_chinese_locale_is_chinese() {
        assert_eq!(zh().code(), "zh");
        assert_eq!(zh().text("language"), "中文");
        assert_eq!(zh().text("state.paid"), "付款成功，谢谢！");
        assert_eq!(Lang::EN.text("state.paid"), "Paid, thank you!");
        assert_eq!(Lang::all().map(Lang::code).collect::<Vec<_>>(), ["en", "zh"]);
    }

    #[test]
    fn negotiate_prefers_query_then_cookie_then_accept_language() {
        let en = Lang::EN;
        let zh = zh();
        // (query, cookie, Accept-Language, the language).
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>, Lang);
        let cases: &[Case<'_>] = &[
            (None, None, None, en),
            (Some("zh"), None, None, zh),
            (Some("ZH"), Some("en"), Some("en"), zh),
            (Some("en"), Some("zh"), Some("zh-CN"), en),
            (Some("fr"), Some("zh"), None, zh),
            (Some("fr"), Some("xx"), Some("zh-CN"), zh),
            (None, Some("zh"), Some("en-US"), zh),
            (None, None, Some("zh"), zh),
            (None, None, Some("zh-CN"), zh),
            (None, None, Some("zh-Hans"), zh),
            (None, None, Some("zh-Hant-TW"), zh),
            (None, None, Some("zh-TW,zh;q=0.9,en-US;q=0.8,en;q=0.7"), zh),
            (None, None, Some("en-US,en;q=0.9,zh-CN;q=0.8"), en),
            (None, None, Some("fr-FR, zh-CN;q=0.5, en;q=0.4"), zh),
            (None, None, Some("en;q=0.4, zh-CN;q=0.5"), zh),
            (None, None, Some("zh;q=0, en;q=0.1"), en),
            (None, None, Some("zh;q=0"), en),
            (None, None, Some("zh;q=2"), en),
            (None, None, Some("zh;q=abc"), en),
            (None, None, Some("de, fr"), en),
            (None, None, Some("*"), en),
            (None, None, Some(""), en),
            (None, None, Some(";;,,=q;"), en),
            (None, None, Some("zhx, z, -zh"), en),
            (None, None, Some(" ZH-cn ; q=0.900 "), zh),
        ];
        for (query, cookie, accept, want) in cases {
            assert_eq!(Lang::negotiate(*query, *cookie, *accept), *want, "{query:?} {cookie:?} {accept:?}");
        }
    }

    #[test]
    fn fill_replaces_placeholders_and_keeps_other_braces() {
        assert_eq!(Lang::EN.fill("page.order", &[("order", "A-1")]), "Order A-1");
        assert_eq!(Lang::EN.fill("page.order", &[]), "Order ");
        assert_eq!(parts("a {x} {} {Y} {y"), [Part::Text("a "), Part::Arg("x"), Part::Text(" {} {Y} {y")]);
        assert_eq!(parts("{a}{b}"), [Part::Arg("a"), Part::Arg("b")]);
        assert_eq!(parts(""), []);
    }

    #[test]
    fn script_json_cannot_close_its_element() {
        let json = Lang::EN.script_json(&["state.paid", "page.returning"]);
        let back: HashMap<String, String> = serde_json::from_str(&json).expect("still JSON");
        assert_eq!(back["state.paid"], "Paid, thank you!");
        // A hostile value, through the same escaping.
        let escaped = script_safe(&serde_json::json!({"k": "</script><!-- & >"}).to_string());
        assert!(!escaped.contains('<') && !escaped.contains('>') && !escaped.contains('&'));
        let back: HashMap<String, String> = serde_json::from_str(&escaped).expect("still JSON");
        assert_eq!(back["k"], "</script><!-- & >");
    }
}
