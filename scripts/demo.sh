#!/usr/bin/env bash
# The demo: real regtest nodes (bitcoind + anvil), paywatch built and started with
# config/dev.toml, then a look at what it serves. Ctrl-C stops everything cleanly.
#
#   scripts/demo.sh              # runs until Ctrl-C
#   PAYWATCH_DEMO_ONESHOT=1 scripts/demo.sh   # shows everything once and exits (used by tests)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/setup.sh
bin=$(scripts/fetch-nodes.sh)

work="$root/.cache/demo"
rm -rf "$work" && mkdir -p "$work/data" "$work/plugins" "$work/btc"
# Six distinct free ports: the sockets stay open until all are chosen (one at a time, the
# kernel may hand out the same port twice).
read -r API RPC ZMQ P2P ETH SHOP < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
pids=()
cleanup() {
  trap - EXIT INT TERM
  echo; echo "demo: stopping"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting regtest bitcoind (rpc $RPC, zmq $ZMQ) and anvil ($ETH)"
"$bin/bitcoind" -regtest -datadir="$work/btc" -server=1 -rpcuser=paywatch -rpcpassword=paywatch \
  -rpcport="$RPC" -port="$P2P" -listen=0 -txindex=1 -rpcbind=127.0.0.1 -rpcallowip=127.0.0.1 \
  -zmqpubrawtx="tcp://127.0.0.1:$ZMQ" -zmqpubhashblock="tcp://127.0.0.1:$ZMQ" \
  -zmqpubrawblock="tcp://127.0.0.1:$ZMQ" -zmqpubhashtx="tcp://127.0.0.1:$ZMQ" \
  -excessiveblocksize=10000000000 -maxstackmemoryusageconsensus=0 -minminingtxfee=0.00000500 \
  -printtoconsole=0 &
pids+=($!)
"$bin/anvil" --port "$ETH" --host 127.0.0.1 --silent &
pids+=($!)
cli() { "$bin/bitcoin-cli" -regtest -rpcport="$RPC" -rpcuser=paywatch -rpcpassword=paywatch "$@"; }
for _ in $(seq 100); do cli getblockcount >/dev/null 2>&1 && break; sleep 0.2; done
miner=$(cli getnewaddress)
cli generatetoaddress 101 "$miner" >/dev/null
echo "bitcoind: $(cli getblockcount) blocks"

say "building paywatch and its plugins"
# Built through the workspace test graph: the same features, hence the same cached RocksDB,
# as scripts/test.sh.
cargo test --workspace --locked --no-run --quiet 2>/dev/null || cargo test --workspace --locked --no-run
cp "$(scripts/build-plugins.sh)"/*.so "$work/plugins/"
# The daemon refuses a plugin directory or library others may write to, whatever the umask.
chmod 700 "$work/plugins" && chmod 600 "$work/plugins"/*.so
export PAYWATCH_SERVER__LISTEN="127.0.0.1:$API"
export PAYWATCH_CHAINS__BTC__RPC_URL="http://127.0.0.1:$RPC"
export PAYWATCH_CHAINS__BTC__ZMQ="tcp://127.0.0.1:$ZMQ"
export PAYWATCH_CHAINS__ETH__WS_URL="ws://127.0.0.1:$ETH"
export PAYWATCH_CHAINS__ETH__HTTP_URL="http://127.0.0.1:$ETH"
export PAYWATCH_STORAGE__PATH="$work/data"
export PAYWATCH_PLUGINS__DIR="$work/plugins"
export PAYWATCH_STORES__DEMO__ENDPOINTS__0__URL="http://127.0.0.1:$SHOP/paywatch"
say "starting the demo shop on 127.0.0.1:$SHOP (it verifies every callback's signature)"
# Process substitution, not a pipe: $! is the shop itself, so Ctrl-C (and the end) stops it.
python3 scripts/demo_shop.py "$SHOP" "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" > >(tee "$work/shop.log") &
pids+=($!)
"$CARGO_TARGET_DIR/debug/paywatch" run --config config/dev.toml 2>"$work/paywatch.log" &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$API/health" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$API/health" >/dev/null || { echo "demo: paywatch did not start:"; cat "$work/paywatch.log"; exit 1; }

say "paywatch plugins list"
"$CARGO_TARGET_DIR/debug/paywatch" plugins list --config config/dev.toml || true

KEY="demo_shop_mLpAyjllx7HllchH6hL1dtf0TP"
api() { curl -sS -H "authorization: Bearer $KEY" -H 'content-type: application/json' "$@"; echo; }
say "GET /health"
curl -sS "http://127.0.0.1:$API/health"; echo
pay=$(cli getnewaddress)
say "POST /v1/watches  (shop 'demo' watches $pay)"
api -X POST "http://127.0.0.1:$API/v1/watches" -d "{\"chain\":\"btc\",\"address\":\"$pay\",\"label\":\"order 1042\"}"
say "GET /v1/watches"
api "http://127.0.0.1:$API/v1/watches"
txid=$(cli sendtoaddress "$pay" 0.0015)
say "the customer pays 0.0015 BTC: txid $txid"
say "GET /v1/events?after=0&wait=10  (payment.detected, from the node's mempool via ZMQ)"
api "http://127.0.0.1:$API/v1/events?after=0&wait=10"
cli generatetoaddress 1 "$miner" >/dev/null
say "a block is mined; GET /v1/events?after=1&wait=10  (payment.confirmed, final at 1 confirmation)"
api "http://127.0.0.1:$API/v1/events?after=1&wait=10"
say "GET /v1/payments/btc/$txid"
api "http://127.0.0.1:$API/v1/payments/btc/$txid"

wait_shop() { # wait until the shop printed $1
  for _ in $(seq 600); do grep -q "$1" "$work/shop.log" && return 0; sleep 0.1; done
  echo "demo: the shop never printed $1"; cat "$work/paywatch.log"; exit 1
}
say "POST /v1/invoices  (order 1042: 96.00 USD, payable in BTC or ETH at the demo's rates)"
invoice=$(api -X POST "http://127.0.0.1:$API/v1/invoices" -d "{\"currency\":\"USD\",\"amount\":\"96.00\",\"order_id\":\"1042\",\"description\":\"two books\",\"payment_methods\":[\"BTC\",\"ETH\"],\"redirect_url\":\"http://127.0.0.1:$SHOP/thanks/1042\"}")
echo "$invoice"
checkout=$(echo "$invoice" | python3 -c 'import json, sys; print(json.load(sys.stdin)["checkout_url"])')
say "the customer's checkout page: $checkout"
read -r address due < <(echo "$invoice" | python3 -c '
import json, sys
inv = json.load(sys.stdin)
btc = next(m for m in inv["payment_methods"] if m["asset"] == "BTC")
for m in inv["payment_methods"]:
    print("   %s: %s to %s at %s USD (%s)" % (m["asset"], m["amount_due"], m["address"], m["rate"], m["rate_source"]), file=sys.stderr)
print(btc["address"], btc["amount_due"])')
wait_shop "invoice.created"
say "the customer picks BTC and pays $due BTC from the node's wallet"
cli sendtoaddress "$address" "$due" >/dev/null
wait_shop "invoice.processing"
say "a block is mined"
cli generatetoaddress 1 "$miner" >/dev/null
wait_shop "invoice.settled"
state=$(curl -sS "$checkout/status" | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])')
say "the checkout page now shows: $state (a browser on it is sent back to the shop)"

if [ -n "${PAYWATCH_DEMO_ONESHOT:-}" ]; then
  echo "demo: ok"
  exit 0
fi
# One more order, left for you to pay: open its page, pay from the node, watch it change.
invoice=$(api -X POST "http://127.0.0.1:$API/v1/invoices" -d "{\"currency\":\"USD\",\"amount\":\"25.00\",\"order_id\":\"1043\",\"redirect_url\":\"http://127.0.0.1:$SHOP/thanks/1043\"}")
read -r checkout address due < <(echo "$invoice" | python3 -c '
import json, sys
inv = json.load(sys.stdin)
btc = next(m for m in inv["payment_methods"] if m["asset"] == "BTC")
print(inv["checkout_url"], btc["address"], btc["amount_due"])')
say "order 1043 waits for you: open $checkout in a browser"
echo "   pay it from the node:  $bin/bitcoin-cli -regtest -rpcport=$RPC -rpcuser=paywatch -rpcpassword=paywatch sendtoaddress $address $due"
echo "   then mine a block:     $bin/bitcoin-cli -regtest -rpcport=$RPC -rpcuser=paywatch -rpcpassword=paywatch generatetoaddress 1 $miner"
say "paywatch is running on http://127.0.0.1:$API (log: $work/paywatch.log). Ctrl-C to stop."
wait "${pids[2]}"
