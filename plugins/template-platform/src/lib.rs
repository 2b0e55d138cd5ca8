//! A template platform plugin: posts each event as JSON to the endpoint's URL and reads the
//! response the way most shop platforms answer. Copy it to write a plugin for a platform.
//!
//! Endpoint keys: `url` (required), `header_name` / `header_value` (optional static header).

use paywatch_plugin_api::messages::*;
use paywatch_plugin_api::{export_platform_plugin, Host, PlatformPlugin, PluginError};

#[derive(Debug)]
pub struct JsonPost;

impl PlatformPlugin for JsonPost {
    const NAME: &'static str = "template-platform";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(_config: serde_json::Value, _host: &Host<'_>) -> Result<Self, PluginError> {
        Ok(JsonPost)
    }

    fn info(&self) -> PlatformInfo {
        PlatformInfo { description: "posts each event as JSON to the endpoint URL".into() }
    }

    fn render(&self, req: &RenderRequest, host: &Host<'_>) -> Result<RenderReply, PluginError> {
        let url = req
            .endpoint
            .get("url")
            .and_then(|u| u.as_str())
            .ok_or_else(|| PluginError::bad_config("endpoint has no url"))?;
        let body = serde_json::json!({
            "id": req.event["id"],
            "type": req.event["type"],
            "timestamp": req.now,
            "data": req.event["data"],
        });
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        if let (Some(n), Some(v)) = (
            req.endpoint.get("header_name").and_then(|v| v.as_str()),
            req.endpoint.get("header_value").and_then(|v| v.as_str()),
        ) {
            headers.push((n.to_string(), v.to_string()));
        }
        host.debug(&format!("rendering {} for {url} (attempt {})", req.event["type"], req.attempt));
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

export_platform_plugin!(JsonPost);

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, headers: &[(&str, &str)]) -> Verdict {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        JsonPost.classify(&ClassifyRequest { status, headers, body: String::new() }).unwrap()
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
