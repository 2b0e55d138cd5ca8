#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test (unit tests,
# plugins built as cdylibs, and end-to-end scenarios against real regtest nodes).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
scripts/fetch-nodes.sh >/dev/null

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy (target: $CARGO_TARGET_DIR)" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test" >&2
cargo test --workspace --locked
