//! The `coingate` platform plugin: CoinGate callbacks for invoices made through paywatch's coingate-compatible API
//! (`docs/compat.md`). The store's coingate endpoint is one for all its coingate invoices: each invoice
//! names its own callback URL in its `gateway` fields, so a failing URL is retried, never a
//! reason to disable the endpoint.

use paywatch_plugin_api::messages::*;
use paywatch_plugin_api::{export_platform_plugin, Host, PlatformPlugin, PluginError};
use serde_json::Value;

#[derive(Debug)]
pub struct Coingate;

impl PlatformPlugin for Coingate {
    const NAME: &'static str = "coingate";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(_config: Value, _host: &Host<'_>) -> Result<Self, PluginError> {
        Ok(Coingate)
    }

    fn info(&self) -> PlatformInfo {
        PlatformInfo { description: "CoinGate callbacks".into(), secret_params: None }
    }

    fn render(&self, _req: &RenderRequest, _host: &Host<'_>) -> Result<RenderReply, PluginError> {
        Ok(RenderReply { requests: Vec::new() })
    }

    fn classify(&self, resp: &ClassifyRequest) -> Result<Verdict, PluginError> {
        Ok(match resp.status {
            200..=299 => Verdict::Ack,
            s => Verdict::Retry { after_secs: resp.retry_after_secs(), reason: format!("http {s}") },
        })
    }
}

export_platform_plugin!(Coingate);
