#!/usr/bin/env bash
# Coverage-guided fuzzing of what parses hostile bytes in plugins (tests/fuzz/: the bitcoin
# plugin's scan_block/scan_tx, addresses, descriptors and extended keys; the EVM plugins'
# normalized-block reading and addresses). Needs the nightly toolchain and cargo-fuzz (installed
# here if missing).
#
#   scripts/fuzz.sh build            # build every target (what CI does)
#   scripts/fuzz.sh run [SECONDS]    # run every target for SECONDS each (default 600), seeded
#                                    # from the real mainnet block and the tests' inputs; prints
#                                    # executions and crashes per target
#   scripts/fuzz.sh run 60 bitcoin_scan_block   # one target
#
# A crash leaves its input in tests/fuzz/artifacts/TARGET/; make it a unit test next to the code.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh >/dev/null
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal >&2
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked >&2
export CARGO_TARGET_DIR="$CARGO_TARGET_DIR/fuzz"
fuzz=(cargo +nightly fuzz)
dir=(--fuzz-dir tests/fuzz)

seed() {
  local corpus=tests/fuzz/corpus
  mkdir -p "$corpus"/{bitcoin_scan_block,bitcoin_scan_tx,bitcoin_sources,evm_block,erc20_block,evm_addresses}
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
for t in ("evm_block", "erc20_block"):
    (corpus / t / "empty").write_bytes(b"EVB1" + bytes(200))
PY
}

case "${1:-build}" in
  build)
    "${fuzz[@]}" build "${dir[@]}" -O >&2
    ;;
  run)
    secs=${2:-600}
    seed
    targets=("${@:3}")
    [ ${#targets[@]} -eq 0 ] && mapfile -t targets < <("${fuzz[@]}" list "${dir[@]}")
    for t in "${targets[@]}"; do
      log=$(mktemp)
      if "${fuzz[@]}" run "${dir[@]}" -O "$t" "tests/fuzz/corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        crashes=0
      else
        crashes=$(ls "tests/fuzz/artifacts/$t" 2>/dev/null | wc -l)
      fi
      execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
      echo "$t: ${secs}s, $execs executions, $crashes crashes"
      [ "$crashes" = 0 ] || tail -30 "$log" >&2
      rm -f "$log"
    done
    ;;
  *) echo "usage: scripts/fuzz.sh build | run [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac
