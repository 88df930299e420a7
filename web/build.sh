#!/usr/bin/env bash
# Builds the page's wasm module into web/pkg (not committed): the library as a cdylib for
# wasm32-unknown-unknown, then wasm-bindgen's `--target web` glue. No wasm-opt/binaryen.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${PROFILE:-release}"
flag=""
if [ "$profile" = release ]; then flag="--release"; fi
cargo rustc -p flopwatt-bench --lib $flag --target wasm32-unknown-unknown --crate-type cdylib
wasm-bindgen --target web --no-typescript --out-name flopwatt --out-dir web/pkg \
    "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/$profile/flopwatt_bench.wasm"
echo "built web/pkg; serve web/ (python3 -m http.server -d web) and open index.html"
