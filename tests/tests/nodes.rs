//! The node helpers start real regtest nodes on free ports and talk to them.

use bitcoincore_rpc::RpcApi;
use paywatch_tests::nodes::{Anvil, Bitcoind};

#[test]
fn bitcoind_starts_mines_and_restarts() {
    let mut node = Bitcoind::start().unwrap();
    let rpc = node.rpc();
    assert_eq!(rpc.get_block_count().unwrap(), 0);
    let addr: String = rpc.call("getnewaddress", &[]).unwrap();
    let hashes: Vec<String> = rpc.call("generatetoaddress", &[3.into(), addr.into()]).unwrap();
    assert_eq!(hashes.len(), 3);
    let best: String = rpc.call("getbestblockhash", &[]).unwrap();
    assert_eq!(&best, hashes.last().unwrap());
    // Large replies come chunked; the minreq transport reads them.
    let raw: String = rpc.call("getblock", &[best.clone().into(), 0.into()]).unwrap();
    assert!(raw.len() > 160);
    node.restart().unwrap();
    assert_eq!(node.rpc().get_block_count().unwrap(), 3);
}

#[tokio::test]
async fn anvil_starts_and_answers() {
    let node = Anvil::start().await.unwrap();
    assert_eq!(node.rpc("eth_chainId", serde_json::json!([])).await.unwrap(), "0x7a69");
    node.rpc("evm_mine", serde_json::json!([])).await.unwrap();
    assert_eq!(node.rpc("eth_blockNumber", serde_json::json!([])).await.unwrap(), "0x1");
    assert!(node.ws_url().starts_with("ws://127.0.0.1:"));
}
