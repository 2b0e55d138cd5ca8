#!/usr/bin/env bash
# Every benchmark, in release builds. Prints figures; never fails on speed.
#   scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
cargo bench --workspace --locked --bench api_watches --bench plugin_abi
