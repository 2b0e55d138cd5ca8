#!/usr/bin/env bash
# Builds a release: the daemon and the shipped plugins in the release profile, stripped, with
# their debug info split off, into OUT (default $CARGO_TARGET_DIR/dist):
#   paywatch-VERSION-x86_64-linux.tar.gz        bin/paywatch, plugins/*.so (stripped, each with
#                                               a .gnu_debuglink to its debug file),
#                                               config/example.toml, systemd/paywatch.service,
#                                               docs/, packaging/ (dashboards, alert rules),
#                                               README.md
#   paywatch-VERSION-x86_64-linux-debug.tar.gz  debug/bin/paywatch.debug, debug/plugins/*.so.debug
#                                               (objcopy --only-keep-debug: for gdb and
#                                               backtraces, docs/operations.md)
#   SHA256SUMS                                  sha256sum of both archives
# and prints each file's size. Archives are reproducible for a commit: sorted, owned by 0:0,
# dated by the commit (SOURCE_DATE_EPOCH).
#
#   scripts/release.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh >/dev/null

arch=$(uname -m)
[ "$(uname -s)" = Linux ] || { echo "release: Linux only" >&2; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
name="paywatch-$version-$arch-linux"
out=${1:-$CARGO_TARGET_DIR/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd -P)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

# The plugins a release ships (not the templates, which are sources to copy, nor the test
# fixtures). Built in the target dir scripts/build-plugins.sh uses, so builds are shared.
plugins=(bitcoin ethereum erc20 webhook woocommerce bitpay coingate coinpayments kraken coinbase binance coingecko ecb)

echo "release: building paywatch $version (release profile)" >&2
cargo build --quiet --locked --release -p paywatch
build="$CARGO_TARGET_DIR/plugins-build"
cargo build --quiet --locked --release --target-dir "$build" $(printf -- '-p paywatch-plugin-%s ' "${plugins[@]}")

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/$name"
debug="$stage/$name-debug/debug"
mkdir -p "$root/bin" "$root/plugins" "$root/config" "$root/systemd" "$debug/bin" "$debug/plugins"

# One file: keep its debug info apart, strip it, and link it to the debug file by name and CRC.
split() { # source, stripped destination, debug destination, strip option
  cp "$1" "$2"
  objcopy --only-keep-debug "$2" "$3"
  chmod 0644 "$3"
  objcopy "$4" "$2"
  objcopy --add-gnu-debuglink="$3" "$2"
}
split "$CARGO_TARGET_DIR/release/paywatch" "$root/bin/paywatch" "$debug/bin/paywatch.debug" --strip-all
for p in "${plugins[@]}"; do
  f="libpaywatch_plugin_${p//-/_}.so"
  split "$build/release/$f" "$root/plugins/$f" "$debug/plugins/$f.debug" --strip-unneeded
done
chmod 0755 "$root/bin/paywatch"
chmod 0644 "$root"/plugins/*.so

cp config/example.toml "$root/config/"
cp packaging/systemd/paywatch.service "$root/systemd/"
cp README.md "$root/"
mkdir -p "$root/docs"
cp -r docs/. "$root/docs/"
if [ -d packaging ]; then
  mkdir -p "$root/packaging"
  cp -r packaging/. "$root/packaging/"
fi

pack() { # directory under $stage, archive
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$stage" -cf - "$1" | gzip -n -9 >"$2"
}
pack "$name" "$out/$name.tar.gz"
pack "$name-debug" "$out/$name-debug.tar.gz"
(cd "$out" && sha256sum "$name.tar.gz" "$name-debug.tar.gz" >SHA256SUMS)

size() { stat -c %s "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
row() { printf '  %-52s %12s bytes  %s\n' "$1" "$2" "$(mib "$2")"; }
echo "release: $out" >&2
row "bin/paywatch, as built" "$(size "$CARGO_TARGET_DIR/release/paywatch")"
row "bin/paywatch, stripped" "$(size "$root/bin/paywatch")"
row "bin/paywatch.debug" "$(size "$debug/bin/paywatch.debug")"
built=0 stripped=0 debugged=0
for p in "${plugins[@]}"; do
  f="libpaywatch_plugin_${p//-/_}.so"
  built=$((built + $(size "$build/release/$f")))
  stripped=$((stripped + $(size "$root/plugins/$f")))
  debugged=$((debugged + $(size "$debug/plugins/$f.debug")))
done
row "plugins/*.so (${#plugins[@]}), as built" "$built"
row "plugins/*.so, stripped" "$stripped"
row "plugins/*.so.debug" "$debugged"
row "$name.tar.gz" "$(size "$out/$name.tar.gz")"
row "$name-debug.tar.gz" "$(size "$out/$name-debug.tar.gz")"
cat "$out/SHA256SUMS"
