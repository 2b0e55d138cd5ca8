//! The newHeads trigger: a WebSocket subscription whose only job is to wake the follower.
//! Never trusted to be complete: alloy re-subscribes after a reconnect but does not backfill,
//! and its stream ends for good once its reconnect attempts run out; then this task rebuilds
//! the provider (with backoff) and asks for a reconcile, which fetches whatever was missed.

use super::Wake;
use crate::metrics::ChainMetrics;
use alloy::providers::{Provider, ProviderBuilder, WsConnect};
use futures::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Heads buffered by the subscription (alloy's default, 16, drops heads under load).
const CHANNEL: usize = 256;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Runs until the runtime shuts down. `up` tells the follower whether the feed is live;
/// `metrics` counts the heads and the gaps between their numbers.
pub(crate) async fn run(
    chain: String,
    ws_url: String,
    wake: crossbeam_channel::Sender<Wake>,
    up: Arc<AtomicBool>,
    metrics: ChainMetrics,
) {
    let mut backoff = Duration::from_secs(1);
    // Hosted providers put the API key in the URL: logged without it.
    let shown = crate::config::redact_url(&ws_url);
    loop {
        match subscribe(&ws_url).await {
            Ok((provider, mut heads)) => {
                tracing::info!(%chain, url = %shown, "newHeads subscribed");
                up.store(true, Ordering::Relaxed);
                metrics.feed_up(true);
                backoff = Duration::from_secs(1);
                let _ = wake.try_send(Wake::Sync("newHeads subscribed"));
                let mut last = None;
                while let Some(head) = heads.next().await {
                    metrics.feed_message();
                    let number = head_number(&head);
                    if let (Some(last), Some(n)) = (last, number) {
                        if n > last + 1 {
                            metrics.feed_gap();
                        }
                    }
                    last = number.or(last);
                    // The follower reconciles by hash and drains queued wakes: a full
                    // queue loses nothing.
                    let _ = wake.try_send(Wake::Sync("new head"));
                }
                up.store(false, Ordering::Relaxed);
                metrics.feed_up(false);
                drop(provider);
                tracing::warn!(%chain, url = %shown, "newHeads stream ended; rebuilding the WebSocket provider");
                let _ = wake.try_send(Wake::Sync("newHeads stream ended"));
            }
            Err(e) => {
                up.store(false, Ordering::Relaxed);
                metrics.feed_up(false);
                tracing::warn!(%chain, url = %shown, error = %e, retry_in = ?backoff, "cannot subscribe to newHeads; polling meanwhile");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A head's block number (`"number": "0x…"`).
fn head_number(head: &serde_json::Value) -> Option<u64> {
    let hex = head.get("number")?.as_str()?;
    u64::from_str_radix(hex.strip_prefix("0x")?, 16).ok()
}

type Heads = futures::stream::BoxStream<'static, serde_json::Value>;

async fn subscribe(ws_url: &str) -> Result<(impl Provider, Heads), String> {
    let provider = tokio::time::timeout(
        Duration::from_secs(30),
        ProviderBuilder::new().disable_recommended_fillers().connect_ws(WsConnect::new(ws_url)),
    )
    .await
    .map_err(|_| "no WebSocket handshake within 30s".to_string())?
    .map_err(|e| e.to_string())?;
    let sub = provider
        .subscribe::<_, serde_json::Value>(("newHeads",))
        .channel_size(CHANNEL)
        .await
        .map_err(|e| format!("eth_subscribe newHeads: {e}"))?;
    Ok((provider, sub.into_stream().boxed()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_head_number_is_read_from_its_hex() {
        assert_eq!(super::head_number(&serde_json::json!({"number": "0x1a"})), Some(26));
        assert_eq!(super::head_number(&serde_json::json!({"number": 26})), None);
        assert_eq!(super::head_number(&serde_json::json!({})), None);
    }
}
