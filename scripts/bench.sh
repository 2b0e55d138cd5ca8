#!/usr/bin/env bash
# Every benchmark, in release builds. Prints figures; never fails on speed.
#   scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
# Unfiltered on purpose: selecting single benches drops the other packages' dev-dependencies
# from feature resolution, which means another (release) RocksDB build.
cargo bench --workspace --locked
