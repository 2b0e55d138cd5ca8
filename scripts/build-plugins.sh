#!/usr/bin/env bash
# Builds every plugin crate as a cdylib and copies the libraries into OUT:
#   OUT/*.so            the plugins (bitcoin, ethereum, erc20, webhook, woocommerce, the gateways'
#                       bitpay, coingate, coinpayments, the templates,
#                       the rate sources kraken, coinbase, binance, coingecko, ecb)
#   OUT/fixtures/*.so   the loader's test fixtures: fixture.so (panics on demand), and refused
#                       variants bad_magic.so, bad_abi.so, panic_abort.so
# Prints OUT. Plugins build in their own target dir: they share no features with the daemon,
# so nothing of the daemon's (RocksDB!) is rebuilt.
#
#   scripts/build-plugins.sh [--release] [OUT]
#     OUT defaults to $CARGO_TARGET_DIR/plugins (plugins-release with --release)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
profile=debug
release=()
if [ "${1:-}" = --release ]; then
  profile=release
  release=(--release)
  shift
fi
suffix=""
[ $profile = release ] && suffix="-release"
out=${1:-$CARGO_TARGET_DIR/plugins$suffix}
build="$CARGO_TARGET_DIR/plugins-build"
mkdir -p "$out/fixtures"
exec 9>"$out/.lock"
flock 9

ext=so
[ "$(uname)" = Darwin ] && ext=dylib
cb() { cargo build --quiet --locked ${release[@]+"${release[@]}"} "$@"; }

plugins=(bitcoin ethereum erc20 webhook woocommerce bitpay coingate coinpayments template-currency template-platform kraken coinbase binance coingecko ecb)
cb --target-dir "$build" $(printf -- '-p paywatch-plugin-%s ' "${plugins[@]}")
for p in "${plugins[@]}"; do
  cp "$build/$profile/libpaywatch_plugin_${p//-/_}.$ext" "$out/"
done

fixture() { # name, cargo args…
  local name=$1; shift
  cb -p paywatch-plugin-fixture "$@"
  cp "$tdir/$profile/libpaywatch_plugin_fixture.$ext" "$out/fixtures/$name.$ext"
}
tdir=$build
fixture fixture --target-dir "$build"
fixture bad_magic --target-dir "$build" --features bad_magic
fixture bad_abi --target-dir "$build" --features bad_abi
# A plugin built with panic = "abort" (the daemon must refuse it): its own target dir, as
# RUSTFLAGS change every crate's build.
tdir="$CARGO_TARGET_DIR/plugins-build-abort"
RUSTFLAGS="-C panic=abort" fixture panic_abort --target-dir "$tdir"
echo "$out"
