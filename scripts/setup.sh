#!/usr/bin/env bash
# Installs what a fresh machine lacks to build and test paywatch, and prints the environment
# the other scripts use. Idempotent. Sourced by scripts/test.sh and scripts/demo.sh.
#
# - clang + libclang-dev: RocksDB's bindgen needs libclang.
# - php-cli, nodejs (python3 is there): docs/webhooks.md's verification snippets are run by
#   the tests against real deliveries.
# - chromium + chromium-driver: the checkout page's tests drive a real headless browser through
#   WebDriver (chromedriver).
# - zbar-tools: those tests decode the QR code of a screenshot with zbarimg.
# - fonts-noto-cjk: the Chinese checkout page renders (and is screenshotted) with real glyphs.
# - CARGO_TARGET_DIR: a build cache shared by every clone on this machine (RocksDB's C++ is
#   most of a first build; a second clone, such as CI's, reuses it).
# - CC/CXX: clang, for the C and C++ of -sys crates (RocksDB compiles in about half the time
#   gcc takes at the same optimization). An explicit CC/CXX is kept.
set -euo pipefail

need_apt=()
command -v clang >/dev/null 2>&1 || need_apt+=(clang)
dpkg -s libclang-dev >/dev/null 2>&1 || need_apt+=(libclang-dev)
command -v php >/dev/null 2>&1 || need_apt+=(php-cli)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
command -v zbarimg >/dev/null 2>&1 || need_apt+=(zbar-tools)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need_apt+=(fonts-noto-cjk)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >&2
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo not found: install Rust (rustup)" >&2; exit 1; }
export CC="${CC:-clang}" CXX="${CXX:-clang++}"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/paywatch/target}"
mkdir -p "$CARGO_TARGET_DIR"

# Cargo keys workspace crates by relative path and mtime: after another checkout built into the
# shared cache, this one's older sources would look fresh while the binaries carry the other
# checkout's paths. Make our sources newer so our crates rebuild (dependencies stay cached).
stamp="$CARGO_TARGET_DIR/.last-checkout"
here=$(pwd -P)
# PAYWATCH_KEEP_MTIMES=1 (the demo's test sets it): never touch, a test run is using the build.
if [ -z "${PAYWATCH_KEEP_MTIMES:-}" ] && [ -f Cargo.toml ] && [ "$(cat "$stamp" 2>/dev/null)" != "$here" ]; then
  find daemon plugin-api plugins tests -name '*.rs' -exec touch {} + 2>/dev/null || true
  echo "$here" >"$stamp"
fi
