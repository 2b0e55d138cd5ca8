//! Request bodies as CoinGate takes them: form-encoded (what its SDKs and shop plugins send)
//! or JSON, read into one flat map of fields. Unknown fields are ignored, as CoinGate does
//! (its WooCommerce plugin sends `shopper[…]`); a field given twice keeps its first value.

use super::error::CgError;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use serde_json::Value;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub(super) struct Fields(HashMap<String, String>);

impl Fields {
    /// The body by its `Content-Type`: JSON for `application/json`, else form-encoded.
    pub(super) fn parse(headers: &HeaderMap, body: &Bytes) -> Result<Self, CgError> {
        let ct = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mut map = HashMap::new();
        if ct.trim_start().to_ascii_lowercase().starts_with("application/json") {
            let v: Value =
                serde_json::from_slice(body).map_err(|e| CgError::bad_request(format!("the body is not JSON: {e}")))?;
            let Value::Object(obj) = v else {
                return Err(CgError::bad_request("the JSON body is not an object"));
            };
            for (k, v) in obj {
                let text = match v {
                    Value::Null => continue,
                    Value::String(s) => s,
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    // Nested objects (`shopper`) are not read.
                    Value::Array(_) | Value::Object(_) => continue,
                };
                map.insert(k, text);
            }
        } else {
            for (k, v) in url::form_urlencoded::parse(body) {
                map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
            }
        }
        Ok(Self(map))
    }

    /// A field, trimmed; an empty one is absent (form posts send empty fields).
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    /// A field that must be there: its error names it as CoinGate's do.
    pub(super) fn required(&self, name: &str, errors: &mut Vec<String>) -> Option<&str> {
        let v = self.get(name);
        if v.is_none() {
            errors.push(format!("{name} can't be blank"));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(ct: &str, body: &str) -> Result<Fields, CgError> {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, ct.parse().unwrap());
        Fields::parse(&h, &Bytes::from(body.to_string()))
    }

    #[test]
    fn form_and_json_bodies_read_alike() {
        let form =
            parse("application/x-www-form-urlencoded", "price_amount=10.5&title=A+b%26c&shopper%5Bemail%5D=x&token=")
                .unwrap();
        let json = parse(
            "application/json; charset=utf-8",
            r#"{"price_amount": 10.5, "title": "A b&c", "shopper": {"email": "x"}, "token": null}"#,
        )
        .unwrap();
        for f in [&form, &json] {
            assert_eq!((f.get("price_amount"), f.get("title"), f.get("token")), (Some("10.5"), Some("A b&c"), None));
        }
        assert!(parse("application/json", "[1]").is_err());
        assert!(parse("application/json", "{").is_err());
    }
}
