#!/usr/bin/env bash
# The whole test suite, as CI runs it: the repository stands alone, formatting, lints, then
# every test (unit tests, plugins built as cdylibs, templates copied out of the repository, and
# end-to-end scenarios against real regtest nodes). Each step prints its duration.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
step() { printf '== %s  (%ss so far)\n' "$*" $((SECONDS - t0)) >&2; }

step "setup (apt packages, build cache)"
. scripts/setup.sh
step "regtest nodes (scripts/fetch-nodes.sh)"
scripts/fetch-nodes.sh >/dev/null
step "the repository reads nothing outside it"
python3 scripts/check-self-contained.py
step "cargo fmt --check"
cargo fmt --all -- --check
# --profile test: clippy then checks with the same profile as `cargo test`, so both share one
# build of every dependency's build script (RocksDB's C++ above all) instead of two.
step "cargo clippy (target: $CARGO_TARGET_DIR)"
cargo clippy --workspace --all-targets --locked --profile test -- -D warnings
# --profile test again: the docs reuse the checked dependencies instead of building their own.
step "cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --profile test --quiet
step "fuzz targets build (scripts/fuzz.sh build; CI does not run them)"
scripts/fuzz.sh build
step "cargo test"
cargo test --workspace --locked
step "done"
