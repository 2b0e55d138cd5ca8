//! The `webhook` platform plugin: each event as a JSON POST `{id, type, timestamp, data}`,
//! signed per the Standard Webhooks specification (<https://www.standardwebhooks.com>):
//! `webhook-id` (the event id: stable across retries, so receivers can deduplicate),
//! `webhook-timestamp` (unix seconds of the attempt) and `webhook-signature`, a space-separated
//! list of `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` per secret (several during a
//! rotation) and `v1a,<base64 Ed25519 signature>` when an Ed25519 key is configured.
//!
//! Endpoint keys: `url`; `secret` (`whsec_…`) or `secrets` (a list, newest first);
//! `ed25519_secret_key` (`whsk_…`: base64 of the 32-byte seed or the 64-byte key pair).

mod sign;

use paywatch_plugin_api::messages::*;
use paywatch_plugin_api::{export_platform_plugin, Host, PlatformPlugin, PluginError};
use serde_json::Value;
pub use sign::{hmac_v1, Signer};

#[derive(Debug)]
pub struct Webhook;

impl PlatformPlugin for Webhook {
    const NAME: &'static str = "webhook";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(_config: Value, _host: &Host<'_>) -> Result<Self, PluginError> {
        Ok(Webhook)
    }

    fn info(&self) -> PlatformInfo {
        PlatformInfo {
            description: "JSON POST signed per the Standard Webhooks specification".into(),
            secret_params: Some(["secret", "secrets", "ed25519_secret_key"].map(String::from).to_vec()),
        }
    }

    /// A URL, and a secret (or Ed25519 key) that parses: an endpoint without any would send
    /// deliveries no receiver can verify.
    fn validate_endpoint(&self, endpoint: &Value) -> Result<(), PluginError> {
        endpoint_url(endpoint)?;
        Signer::from_endpoint(endpoint).map(|_| ())
    }

    fn render(&self, req: &RenderRequest, host: &Host<'_>) -> Result<RenderReply, PluginError> {
        // A bad url or secret does not get better with retries.
        let never = |e: PluginError| PluginError::undeliverable(e.message);
        let url = endpoint_url(&req.endpoint).map_err(never)?;
        let signer = Signer::from_endpoint(&req.endpoint).map_err(never)?;
        let event = req.typed_event()?;
        // `data` goes out as it came: a type this plugin does not know is forwarded whole.
        let body = serde_json::json!({
            "id": &event.id,
            "type": &event.event_type,
            "timestamp": &event.created_at,
            "data": &event.data,
        })
        .to_string();
        let signature = signer.signature(&event.id, req.now, &body);
        host.debug(&format!("signed {} for {url} (attempt {})", event.event_type, req.attempt));
        Ok(RenderReply {
            requests: vec![HttpRequest {
                method: "POST".into(),
                url: url.to_string(),
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("webhook-id".into(), event.id.clone()),
                    ("webhook-timestamp".into(), req.now.to_string()),
                    ("webhook-signature".into(), signature),
                ],
                body,
            }],
        })
    }

    fn classify(&self, resp: &ClassifyRequest) -> Result<Verdict, PluginError> {
        Ok(classify(resp))
    }
}

fn endpoint_url(endpoint: &Value) -> Result<&str, PluginError> {
    let url =
        endpoint.get("url").and_then(Value::as_str).ok_or_else(|| PluginError::bad_config("endpoint has no url"))?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(PluginError::bad_config(format!("url {url:?} is not an http(s) URL")));
    }
    Ok(url)
}

/// 2xx delivered; 410 disables the endpoint; 3xx is a wrong URL (redirects are not followed);
/// anything else is retried, after `Retry-After` seconds when the receiver says so.
pub fn classify(resp: &ClassifyRequest) -> Verdict {
    let retry_after = resp.retry_after_secs();
    match resp.status {
        200..=299 => Verdict::Ack,
        410 => Verdict::Disable { reason: "the receiver answered 410 gone".into() },
        300..=399 => Verdict::Fail {
            reason: format!("http {}: redirects are not followed; point the endpoint at the final URL", resp.status),
        },
        s => Verdict::Retry { after_secs: retry_after, reason: format!("http {s}") },
    }
}

export_platform_plugin!(Webhook);

#[cfg(test)]
mod tests;
