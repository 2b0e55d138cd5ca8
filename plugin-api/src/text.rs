//! Small text helpers plugins share.

/// Percent-encodes everything but RFC 3986 unreserved characters (for URI query values and
/// path segments).
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_unreserved_characters_stay() {
        assert_eq!(super::percent_encode("order 1042/a~b"), "order%201042%2Fa~b");
        assert_eq!(super::percent_encode("é"), "%C3%A9");
    }
}
