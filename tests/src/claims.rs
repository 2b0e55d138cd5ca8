//! Helpers of the claim scenarios (`tests/tests/claims.rs`): a store with refunds on
//! the regtest node, a settled invoice and a refund waiting for the customer's claim.

use crate::btc::{BtcRig, SHOP3_KEY};
use crate::daemon::Launch;
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A daemon on a fresh regtest node with shop3 (claims last an hour).
pub async fn rig() -> Result<BtcRig> {
    // The per-client limit on public routes (tested in front_door.rs) would answer a flood of
    // claims with 429 before they reach the claim path these tests are about.
    let mut launch = Launch::env("PAYWATCH_SERVER__PUBLIC_BURST", "100000");
    launch.env.push(("PAYWATCH_SERVER__PUBLIC_PER_SECOND".into(), "100000".into()));
    BtcRig::start_custom(1, "", &crate::btc::shop3(86_400, 3600), launch).await
}

/// A new invoice of shop3 for `btc`: its id and address.
pub async fn invoice(rig: &BtcRig, order_id: &str, btc: &str) -> Result<(String, String)> {
    let body = json!({"asset": "BTC", "amount": btc, "order_id": order_id});
    let (status, v) = rig.call(reqwest::Method::POST, "/v1/invoices", SHOP3_KEY, Some(body)).await;
    ensure!(status == 201, "invoice {order_id}: {status} {v}");
    Ok((v["id"].as_str().context("id")?.into(), v["address"].as_str().context("address")?.into()))
}

/// Waits until an invoice of shop3 has an event of `kind`; returns when it was seen.
pub async fn wait_invoice_event(rig: &BtcRig, id: &str, kind: &str) -> Result<Instant> {
    rig.wait_events(SHOP3_KEY, kind, |evs| evs.iter().any(|e| e["data"]["id"] == id && e["type"] == kind)).await?;
    Ok(Instant::now())
}

/// A refund waiting for the customer's address.
#[derive(Debug, Clone)]
pub struct Claimable {
    /// `/v1/refunds/claim/TOKEN`.
    pub path: String,
    /// The customer's claim page, `claim_url`.
    pub url: String,
    pub refund: String,
    /// The settled invoice it refunds (of 0.004, 0.001 refunded).
    pub invoice: String,
}

/// A refund waiting for the customer's address, of a settled invoice.
pub async fn claimable_refund(rig: &BtcRig, order_id: &str) -> Result<Claimable> {
    let (id, address) = invoice(rig, order_id, "0.004").await?;
    rig.send(&address, 0.004)?;
    rig.mine(1)?;
    wait_invoice_event(rig, &id, "invoice.settled").await?;
    let path = format!("/v1/invoices/{id}/refunds");
    let (status, r) = rig.call(reqwest::Method::POST, &path, SHOP3_KEY, Some(json!({"amount": "0.001"}))).await;
    ensure!(status == 201, "refund: {status} {r}");
    let path = r["claim_path"].as_str().context("claim_path")?.into();
    let url = r["claim_url"].as_str().context("claim_url")?.into();
    Ok(Claimable { path, url, refund: r["id"].as_str().context("id")?.into(), invoice: id })
}

/// A claim as the customer sends it (no API key), with a raw body: (status, JSON or null).
pub async fn claim(rig: &BtcRig, claim_path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let r = rig
        .daemon
        .http
        .post(rig.daemon.url(claim_path))
        .header("content-type", "application/json")
        .body(body)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .expect("the daemon answers");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A claim declaring a body of `declared` bytes (`{"address": "111…"}`) of which only the
/// first 4 KiB are sent before the answer is read: a daemon that reads no more than its limit
/// answers at once (an HTTP client sending the whole megabyte sees the connection closed under
/// it instead). (status, JSON or null).
pub async fn claim_declaring(rig: &BtcRig, claim_path: &str, declared: usize) -> Result<(u16, Value)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = reqwest::Url::parse(&rig.daemon.url(claim_path))?;
    let mut tcp =
        tokio::net::TcpStream::connect((url.host_str().context("host")?, url.port().context("port")?)).await?;
    let head = format!(
        "POST {claim_path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {declared}\r\nconnection: close\r\n\r\n",
        url.authority()
    );
    let sent = format!("{{\"address\": \"{}", "1".repeat(4096));
    tcp.write_all(head.as_bytes()).await?;
    tcp.write_all(sent.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), tcp.read_to_end(&mut raw)).await??;
    let text = String::from_utf8_lossy(&raw);
    let status = text.get(9..12).context("status line")?.parse()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// `{"address": ADDRESS}` as a claim body.
pub fn claim_body(address: &str) -> String {
    json!({ "address": address }).to_string()
}
