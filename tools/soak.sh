#!/usr/bin/env bash
# The long soak: a compiled graph run 10,000 times and an ONNX model loaded, compiled, run
# and dropped 1,000 times, checking that the device pool and host RSS stay flat (Linux; minutes
# on lavapipe). Prints the numbers that docs/soak.md records.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test -p flopwatt --test soak -- --ignored --nocapture 2>&1 |
    grep -E "graph x|model x|test result|panicked"
