//! A template platform plugin: posts each event as JSON to the endpoint's URL and reads the
//! response the way most shop platforms answer. Copy it to write a plugin for a platform.
//!
//! Endpoint keys (flat in the endpoint object, next to `url`): `url` (required),
//! `header_name` / `header_value` (optional static header, both or neither).
//!
//! Plugin-wide config (`[plugins.config.template-platform]` in the daemon's config):
//! `user_agent` (optional), sent as the `user-agent` of every request.
//!
//! The body is `{id, type, timestamp, data}` with `timestamp` the event's `created_at`
//! (RFC 3339), as the `webhook` plugin sends it.

use paywatch_plugin_api::messages::*;
use paywatch_plugin_api::{export_platform_plugin, Host, PlatformPlugin, PluginError};

#[derive(Debug, Default)]
pub struct JsonPost {
    user_agent: Option<String>,
}

impl PlatformPlugin for JsonPost {
    const NAME: &'static str = "template-platform";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(config: serde_json::Value, _host: &Host<'_>) -> Result<Self, PluginError> {
        let user_agent = match config.get("user_agent") {
            None => None,
            Some(serde_json::Value::String(s)) if !s.bytes().any(|b| b.is_ascii_control()) => Some(s.clone()),
            Some(other) => return Err(PluginError::bad_config(format!("user_agent must be a string, got {other}"))),
        };
        Ok(JsonPost { user_agent })
    }

    fn info(&self) -> PlatformInfo {
        PlatformInfo {
            description: "posts each event as JSON to the endpoint URL".into(),
            // Never shown by the daemon (an `Authorization` value, say).
            secret_params: Some(vec!["header_value".into()]),
        }
    }

    /// Called when a store creates or changes an endpoint: a `422` with this message if not.
    fn validate_endpoint(&self, endpoint: &serde_json::Value) -> Result<(), PluginError> {
        Endpoint::parse(endpoint).map(|_| ())
    }

    fn render(&self, req: &RenderRequest, host: &Host<'_>) -> Result<RenderReply, PluginError> {
        // A bad endpoint never gets better: `undeliverable` records the delivery as failed
        // instead of retrying it for days. (Any other error is retried.)
        let ep = Endpoint::parse(&req.endpoint).map_err(|e| PluginError::undeliverable(e.message))?;
        let url = ep.url;
        // The typed event: `kind()` is `None` for a type newer than this SDK (forwarded as
        // is here; skip it with an empty reply if your platform cannot take it), and
        // `invoice()` / `payment()` / `refund()` give the typed data when you need fields.
        let event = req.typed_event()?;
        let body = serde_json::json!({
            "id": &event.id,
            "type": &event.event_type,
            "timestamp": &event.created_at,
            "data": &event.data,
        });
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        if let Some((n, v)) = ep.header {
            headers.push((n.to_string(), v.to_string()));
        }
        if let Some(ua) = &self.user_agent {
            headers.push(("user-agent".to_string(), ua.clone()));
        }
        host.debug(&format!("rendering {} for {url} (attempt {})", event.event_type, req.attempt));
        Ok(RenderReply {
            requests: vec![HttpRequest {
                method: "POST".into(),
                url: url.to_string(),
                headers,
                body: body.to_string(),
            }],
        })
    }

    fn classify(&self, resp: &ClassifyRequest) -> Result<Verdict, PluginError> {
        let retry_after = resp.retry_after_secs();
        Ok(match resp.status {
            200..=299 => Verdict::Ack,
            410 => Verdict::Disable { reason: "410 gone".into() },
            408 | 425 | 429 | 500..=599 => {
                Verdict::Retry { after_secs: retry_after, reason: format!("http {}", resp.status) }
            }
            s => Verdict::Fail { reason: format!("http {s}") },
        })
    }
}

/// The endpoint params this plugin reads.
struct Endpoint<'a> {
    url: &'a str,
    header: Option<(&'a str, &'a str)>,
}

impl<'a> Endpoint<'a> {
    fn parse(endpoint: &'a serde_json::Value) -> Result<Self, PluginError> {
        let text = |key: &str| match endpoint.get(key) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(PluginError::bad_config(format!("{key} must be a string, got {other}"))),
        };
        let url = text("url")?.ok_or_else(|| PluginError::bad_config("endpoint has no url"))?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(PluginError::bad_config(format!("url {url:?} is not an http(s) URL")));
        }
        let header = match (text("header_name")?, text("header_value")?) {
            (Some(n), Some(v)) => {
                let token = !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !token || v.bytes().any(|b| b.is_ascii_control()) {
                    return Err(PluginError::bad_config(format!("header {n:?} is not a valid HTTP header")));
                }
                Some((n, v))
            }
            (None, None) => None,
            _ => return Err(PluginError::bad_config("header_name and header_value go together")),
        };
        Ok(Self { url, header })
    }
}

export_platform_plugin!(JsonPost);

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, headers: &[(&str, &str)]) -> Verdict {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        JsonPost::default().classify(&ClassifyRequest { status, headers, body: String::new() }).unwrap()
    }

    #[test]
    fn passes_the_conformance_kit() {
        use paywatch_plugin_api::testing::conformance::{check_platform, PlatformOptions};
        use paywatch_plugin_api::testing::harness::PluginLib;
        let lib = PluginLib::from_exported(&crate::PAYWATCH_PLUGIN).unwrap();
        check_platform(&lib, &PlatformOptions::default()).assert_passed();
    }

    #[test]
    fn bad_endpoints_are_refused_at_creation_and_never_retried() {
        let vt = paywatch_plugin_api::testing::noop_host_vtable();
        let event = serde_json::json!({"seq": 0, "id": "e1", "type": "ping", "store": "shop1",
            "created_at": "2026-11-27T09:00:00Z", "data": {}});
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"url": "ftp://shop.example"}),
            serde_json::json!({"url": "https://shop.example", "header_name": "x-key"}),
            serde_json::json!({"url": "https://shop.example", "header_name": "bad name", "header_value": "v"}),
        ] {
            assert_eq!(JsonPost::default().validate_endpoint(&bad).unwrap_err().code, "bad_config", "{bad}");
            let req = RenderRequest { event: event.clone(), endpoint: bad.clone(), attempt: 1, now: 0 };
            let e = JsonPost::default().render(&req, &Host::new(&vt)).unwrap_err();
            assert_eq!(e.code, PluginError::UNDELIVERABLE, "{bad}");
        }
        let ok = serde_json::json!({"url": "https://shop.example", "header_name": "x-key", "header_value": "v"});
        let req = RenderRequest { event, endpoint: ok, attempt: 1, now: 0 };
        let r = JsonPost::default().render(&req, &Host::new(&vt)).unwrap().requests;
        let body: serde_json::Value = serde_json::from_str(&r[0].body).unwrap();
        assert_eq!(body["timestamp"], "2026-11-27T09:00:00Z", "RFC 3339, as docs/webhooks.md says");
        assert!(r[0].headers.contains(&("x-key".into(), "v".into())));
    }

    #[test]
    fn responses_are_classified() {
        assert_eq!(classify(204, &[]), Verdict::Ack);
        assert_eq!(classify(410, &[]), Verdict::Disable { reason: "410 gone".into() });
        assert_eq!(
            classify(503, &[("Retry-After", "120")]),
            Verdict::Retry { after_secs: Some(120), reason: "http 503".into() }
        );
        assert_eq!(classify(400, &[]), Verdict::Fail { reason: "http 400".into() });
    }
}
