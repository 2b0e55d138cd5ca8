#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, nightly) of what parses hostile bytes:
#   tests/fuzz/          the plugins: the bitcoin plugin's scan_block/scan_tx, addresses,
#                        descriptors and extended keys; the EVM plugins' normalized-block reading
#                        and addresses
#   tests/fuzz-daemon/   the daemon: ZMQ messages (feed decoding, rawblock headers), block
#                        verification, config files, and API requests through the real router,
#                        store and plugins (any 5xx is a crash)
# Needs the nightly toolchain and cargo-fuzz (installed here if missing).
#
#   scripts/fuzz.sh build            # build every target (what CI does)
#   scripts/fuzz.sh run [SECONDS]    # run every target for SECONDS each (default 600), seeded
#                                    # from the real mainnet block, the configs and the tests'
#                                    # inputs; prints executions and crashes per target
#   scripts/fuzz.sh run 60 bitcoin_scan_block   # one target
#
# A crash leaves its input in tests/fuzz*/artifacts/TARGET/; make it a unit test next to the code.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh >/dev/null
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal >&2
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked >&2
target_root=$CARGO_TARGET_DIR
fuzz=(cargo +nightly fuzz)
packages=(tests/fuzz tests/fuzz-daemon)

# Runs cargo fuzz on one package, each in its own target dir (the daemon's links RocksDB).
in_package() { # package, cargo-fuzz args...
  local pkg=$1; shift
  local lsan=()
  [ -f "$pkg/lsan.supp" ] && lsan=(LSAN_OPTIONS="suppressions=$PWD/$pkg/lsan.supp")
  env ${lsan[@]+"${lsan[@]}"} CARGO_TARGET_DIR="$target_root/$(basename "$pkg")" "${fuzz[@]}" "$1" --fuzz-dir "$pkg" "${@:2}"
}

package_of() { # target
  local pkg
  for pkg in "${packages[@]}"; do
    [ -f "$pkg/fuzz_targets/$1.rs" ] && { echo "$pkg"; return; }
  done
  echo "no fuzz target named $1" >&2
  exit 2
}

seed() {
  local corpus=tests/fuzz/corpus
  mkdir -p "$corpus"/{bitcoin_scan_block,bitcoin_scan_tx,bitcoin_sources,evm_block,erc20_block,evm_addresses,erc20_addresses}
  seed_daemon tests/fuzz-daemon/corpus
  cp plugin-api/testdata/mainnet_block_*.raw "$corpus/bitcoin_scan_block/" 2>/dev/null || true
  python3 - "$corpus" <<'PY'
import json, sys, pathlib
corpus = pathlib.Path(sys.argv[1])
block = next(pathlib.Path("plugin-api/testdata").glob("mainnet_block_*.raw")).read_bytes()
index = json.load(open("plugin-api/testdata/mainnet_block_index.json"))
for t in index["txs"]:
    (corpus / "bitcoin_scan_tx" / t["txid"]).write_bytes(block[t["offset"]:t["offset"] + t["len"]])
sources = [
    "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
    "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "bcrt1q6rhpng9evdsfnn833a4f4vej0asu6dk5srld6x",
    "tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp",
    "wpkh(tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp/0/*)",
]
for i, s in enumerate(sources):
    (corpus / "bitcoin_sources" / f"seed{i}").write_text(s)
for i, s in enumerate(["0xdAC17F958D2ee523a2206206994597C13D831ec7", "0xdac17f958d2ee523a2206206994597c13d831ec7"]):
    (corpus / "evm_addresses" / f"seed{i}").write_text(s)
    (corpus / "erc20_addresses" / f"seed{i}").write_text(s)
for t in ("evm_block", "erc20_block"):
    (corpus / t / "empty").write_bytes(b"EVB1" + bytes(200))
PY
}

# The daemon's corpora: a real header as a ZMQ rawblock, the real block with its parent's bits,
# the shipped configs, and the API seeds in tests/fuzz-daemon/seeds/.
seed_daemon() {
  local corpus=$1
  mkdir -p "$corpus"/{zmq_messages,bitcoin_block,config_toml,api_requests}
  cp config/*.toml "$corpus/config_toml/"
  # API requests as the tests send them (also replayed by tests/tests/fuzz_replay.rs).
  cp tests/fuzz-daemon/seeds/api_requests/* "$corpus/api_requests/"
  python3 - "$corpus" <<'PY'
import pathlib, struct, sys
corpus = pathlib.Path(sys.argv[1])
block = next(pathlib.Path("plugin-api/testdata").glob("mainnet_block_*.raw")).read_bytes()
bits = block[72:76]
(corpus / "bitcoin_block" / "mainnet").write_bytes(bits + block)
(corpus / "bitcoin_block" / "header_only").write_bytes(bits + block[:81])
msg = lambda topic, body, seq: topic + b"\xff\xfe" + body + b"\xff\xfe" + struct.pack("<I", seq)
(corpus / "zmq_messages" / "rawblock").write_bytes(msg(b"rawblock", block[:80], 0) + b"\xff\xff" + msg(b"hashblock", bytes(32), 0))
(corpus / "zmq_messages" / "rawtx").write_bytes(msg(b"rawtx", block[81:400], 0) + b"\xff\xff" + msg(b"rawtx", block[400:600], 2))
(corpus / "zmq_messages" / "sequence").write_bytes(msg(b"sequence", bytes(32) + b"A" + bytes(8), 0) + b"\xff\xff" + msg(b"sequence", bytes(32) + b"C", 1))
PY
}

# The plugins the API harness loads.
plugins_for_api() {
  PAYWATCH_FUZZ_PLUGINS=$(scripts/build-plugins.sh | tail -1)
  export PAYWATCH_FUZZ_PLUGINS
}

case "${1:-build}" in
  build)
    for pkg in "${packages[@]}"; do
      in_package "$pkg" build -O >&2
    done
    ;;
  run)
    secs=${2:-600}
    seed
    targets=("${@:3}")
    if [ ${#targets[@]} -eq 0 ]; then
      for pkg in "${packages[@]}"; do
        mapfile -t -O "${#targets[@]}" targets < <("${fuzz[@]}" list --fuzz-dir "$pkg")
      done
    fi
    plugins_for_api
    for t in "${targets[@]}"; do
      pkg=$(package_of "$t")
      log=$(mktemp)
      if in_package "$pkg" run -O "$t" "$pkg/corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        crashes=0
      else
        crashes=$(ls "$pkg/artifacts/$t" 2>/dev/null | wc -l)
      fi
      execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
      echo "$t: ${secs}s, $execs executions, $crashes crashes"
      [ "$crashes" = 0 ] || tail -30 "$log" >&2
      rm -f "$log"
    done
    ;;
  *) echo "usage: scripts/fuzz.sh build | run [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac
