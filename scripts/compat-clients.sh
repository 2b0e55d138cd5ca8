#!/usr/bin/env bash
# Installs the published client libraries of one gateway-compatible API's tests, unmodified,
# from the package registries, exactly as pinned in tests/compat/GATEWAY/ (issue 18):
#   requirements.txt    pip, --require-hashes: every package, transitive ones too, by sha256
#   package-lock.json   npm ci: every package by its integrity hash
# into $CARGO_TARGET_DIR/../compat/GATEWAY (a python venv `venv/`, `node_modules/`), once per
# content of those files. Prints that folder. Called by the tests (tests/src/compat.rs).
#
#   scripts/compat-clients.sh GATEWAY
set -euo pipefail
cd "$(dirname "$0")/.."
gateway=${1:?usage: compat-clients.sh GATEWAY}
src="tests/compat/$gateway"
[ -d "$src" ] || { echo "compat-clients: no $src" >&2; exit 1; }
PAYWATCH_KEEP_MTIMES=1 . scripts/setup.sh >/dev/null
out="$(dirname "$CARGO_TARGET_DIR")/compat/$gateway"
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
# A gateway pins with pip or npm or both: a missing file is not an error (pipefail).
pins=$( (cat "$src"/requirements.txt "$src"/package.json "$src"/package-lock.json 2>/dev/null || true) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$out/.pins" 2>/dev/null)" != "$pins" ]; then
  rm -rf "$out/venv" "$out/node_modules" "$out/.pins"
  if [ -f "$src/requirements.txt" ]; then
    python3 -m venv "$out/venv" >&2
    "$out/venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes \
      -r "$src/requirements.txt" >&2
  fi
  if [ -f "$src/package-lock.json" ]; then
    cp "$src/package.json" "$src/package-lock.json" "$out/"
    (cd "$out" && npm ci --silent --no-audit --no-fund --ignore-scripts >&2)
  fi
  echo "$pins" >"$out/.pins"
fi
echo "$out"
